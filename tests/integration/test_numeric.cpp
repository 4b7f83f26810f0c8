// The numeric-code API, p = 1..8, every result against a sequential reference that every rank
// computes for itself: buffers in point-to-point (spans, pointer + count, strided layouts, the
// truncation and type errors that leave a message queued, no_rank), every buffer collective at
// every root with small and large (>= 300k doubles: the large-message algorithms) payloads,
// in place and with two buffers, the v-collectives with uneven counts and gapped displacements,
// non-blocking collectives overlapping computation, blocking calls and each other, request
// completion and cancellation, cartesian grids (with a halo exchange against a sequential
// stencil), and the version and clock functions.
//
// Every check goes through helpers that take `const parrun::communicator&` (or a const
// cartesian_communicator&), so the whole API is exercised on const references; the collective
// battery also runs on communicators other than the world (a dup, a split with renumbered
// ranks, a cartesian grid). Failures use EXPECT, never ASSERT, so that a failing rank still
// takes part in the collectives that follow instead of hanging the job.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <parrun/parrun.hpp>

#include "mat2.hpp"
#include "rank_main.hpp"

namespace {

using parrun::communicator;

std::size_t sz(int n) { return static_cast<std::size_t>(n); }
std::size_t sz(long n) { return static_cast<std::size_t>(n); }
int right_of(const communicator& c) { return (c.rank() + 1) % c.size(); }
int left_of(const communicator& c) { return (c.rank() + c.size() - 1) % c.size(); }

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The what() of the E that f throws; a description of what happened instead otherwise.
template <class E, class F>
std::string what_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<another exception: ") + e.what() + ">";
  }
  return "<no exception>";
}

// Values that identify (rank, index); doubles hold small integers, so sums are exact in any order.
double dval(int r, std::size_t i) { return r * 4096.0 + static_cast<double>(i % 1021); }
int ival(int r, std::size_t i) { return r * 100000 + static_cast<int>(i % 99991); }
std::vector<double> doubles_of(int r, std::size_t n, std::size_t from = 0) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = dval(r, from + i);
  return v;
}
std::vector<int> ints_of(int r, std::size_t n, std::size_t from = 0) {
  std::vector<int> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = ival(r, from + i);
  return v;
}

std::vector<mat2> mats_of(int r, std::size_t n, std::size_t from = 0) {
  std::vector<mat2> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = mat_of(r, from + i);
  return v;
}
// m(0, i) * m(1, i) * ... * m(p-1, i): the product in rank order.
std::vector<mat2> mat_products(int p, std::size_t n, std::size_t from = 0) {
  std::vector<mat2> v = mats_of(0, n, from);
  for (int r = 1; r < p; ++r)
    for (std::size_t i = 0; i < n; ++i) v[i] = v[i] * mat_of(r, from + i);
  return v;
}
std::vector<double> double_sums(int p, std::size_t n, std::size_t from = 0) {
  std::vector<double> v(n, 0.0);
  for (int r = 0; r < p; ++r)
    for (std::size_t i = 0; i < n; ++i) v[i] += dval(r, from + i);
  return v;
}

constexpr std::size_t large = 300'001;  // doubles: past every large-message threshold, odd

// --- point to point: contiguous buffers ----------------------------------------------------------

void contiguous_p2p(const communicator& c) {
  const int me = c.rank(), to = right_of(c), from = left_of(c);
  const std::vector<double> mine = doubles_of(me, 37);
  const std::vector<int> ints = ints_of(me, 11);

  // span -> span of exactly the size
  std::vector<double> got(37, -1.0);
  c.send(to, 100, std::span<const double>(mine));
  parrun::status st = c.recv(from, 100, std::span(got));
  EXPECT_EQ(st.source(), from);
  EXPECT_EQ(st.tag(), 100);
  EXPECT_EQ(st.count<double>(), 37u);
  EXPECT_EQ(st.bytes(), 37 * sizeof(double));
  EXPECT_TRUE(st.holds<std::vector<double>>());
  EXPECT_EQ(got, doubles_of(from, 37));

  // pointer + count -> a larger buffer: count<T>() says how many, the rest is untouched
  c.send(to, 101, ints.data(), ints.size());
  std::vector<int> big(50, -5);
  st = c.recv(from, 101, big.data(), big.size());
  EXPECT_EQ(st.count<int>(), 11u);
  EXPECT_EQ(std::vector<int>(big.begin(), big.begin() + 11), ints_of(from, 11));
  EXPECT_EQ(std::count(big.begin() + 11, big.end(), -5), 39);

  // a span travels as a std::vector: sent as a span, received as a vector, and the other way
  c.send(to, 102, std::span<const double>(mine).subspan(5, 10));
  EXPECT_EQ(c.recv<std::vector<double>>(from, 102), doubles_of(from, 10, 5));
  c.send(to, 103, ints);
  std::array<int, 20> arr;
  arr.fill(-3);
  st = c.recv(from, 103, std::span(arr));
  EXPECT_EQ(st.count<int>(), 11u);
  EXPECT_EQ(std::vector<int>(arr.begin(), arr.begin() + 11), ints_of(from, 11));
  EXPECT_EQ(arr[11], -3);
  c.send(to, 104, ints.data() + 3, 4);
  EXPECT_EQ(c.recv<std::vector<int>>(from, 104), ints_of(from, 4, 3));
  std::vector<int> as_vector;
  c.send(to, 105, std::span<const int>(ints));
  st = c.recv(from, 105, as_vector);
  EXPECT_EQ(as_vector, ints_of(from, 11));
  EXPECT_EQ(st.count<int>(), 11u);

  // empty buffers
  std::vector<double> none(3, -1.0);
  c.send(to, 106, std::span<const double>());
  st = c.recv(from, 106, std::span(none));
  EXPECT_EQ(st.count<double>(), 0u);
  EXPECT_EQ(none, std::vector<double>(3, -1.0));
  c.send(to, 107, std::vector<double>{});
  EXPECT_TRUE(c.recv<std::vector<double>>(from, 107).empty());

  // a single value fills one element
  c.send(to, 108, 2.5 * me);
  double one[3] = {-1, -1, -1};
  st = c.recv(from, 108, std::span(one));
  EXPECT_EQ(st.count<double>(), 1u);
  EXPECT_EQ(one[0], 2.5 * from);
  EXPECT_EQ(one[1], -1.0);

  // with a timeout, and any_source
  c.send(to, 109, std::span<const int>(ints));
  std::vector<int> timed(11);
  st = c.recv(from, 109, std::span(timed), std::chrono::seconds(60));
  EXPECT_EQ(timed, ints_of(from, 11));
  std::vector<int> nothing(2, 9);
  EXPECT_THROW(c.recv(from, 110, std::span(nothing), std::chrono::milliseconds(20)), parrun::timeout_error);
  EXPECT_EQ(nothing, std::vector<int>(2, 9));
  c.send(to, 111, std::span<const int>(ints).first(6));
  st = c.recv(parrun::any_source, 111, std::span(big));
  EXPECT_EQ(st.source(), from);
  EXPECT_EQ(st.count<int>(), 6u);
  EXPECT_EQ(std::vector<int>(big.begin(), big.begin() + 6), ints_of(from, 6));

  // large: posted before the message (it may land straight in the buffer) and after it arrived
  const std::vector<double> huge = doubles_of(me, 2 * large);
  std::vector<double> in(2 * large + 10, -1.0);
  parrun::request pending = c.irecv(from, 112, std::span(in));
  c.send(from, 113, 0);  // tell the sender my receive is posted
  (void)c.recv<int>(to, 113);
  c.send(to, 112, std::span<const double>(huge));
  st = pending.wait();
  EXPECT_EQ(st.count<double>(), 2 * large);
  EXPECT_EQ(std::vector<double>(in.begin(), in.begin() + static_cast<long>(2 * large)), doubles_of(from, 2 * large));
  EXPECT_EQ(in[2 * large], -1.0);
  c.send(to, 114, huge.data(), huge.size());
  c.barrier();  // it has arrived (or is arriving) before the receive is posted
  std::fill(in.begin(), in.end(), -2.0);
  st = c.recv(from, 114, in.data(), in.size());
  EXPECT_EQ(st.count<double>(), 2 * large);
  EXPECT_EQ(std::vector<double>(in.begin(), in.begin() + static_cast<long>(2 * large)), doubles_of(from, 2 * large));
  EXPECT_EQ(in.back(), -2.0);
}

// Buffers of a user struct (16 bytes, trivially copyable) in point-to-point, contiguous and strided.
void struct_p2p(const communicator& c) {
  const int me = c.rank(), to = right_of(c), from = left_of(c);
  const std::vector<mat2> mine = mats_of(me, 9);
  c.send(to, 120, std::span<const mat2>(mine));
  std::vector<mat2> got(12, mat2{0, 0, 0, 0});
  EXPECT_EQ(c.recv(from, 120, std::span(got)).count<mat2>(), 9u);
  EXPECT_TRUE(std::vector<mat2>(got.begin(), got.begin() + 9) == mats_of(from, 9));
  EXPECT_TRUE(got[9] == (mat2{0, 0, 0, 0}));
  c.send(to, 121, parrun::strided(mine.data(), parrun::vector_layout{.count = 3, .block = 1, .stride = 4}));
  const std::vector<mat2> every_fourth = c.recv<std::vector<mat2>>(from, 121);
  EXPECT_EQ(every_fourth.size(), 3u);
  if (every_fourth.size() == 3) {
    EXPECT_TRUE(every_fourth[2] == mat_of(from, 8));
  }
  c.send(to, 122, mat_of(me, 0));  // one struct into a span of them
  mat2 one[2] = {};
  EXPECT_EQ(c.recv(from, 122, std::span(one)).count<mat2>(), 1u);
  EXPECT_TRUE(one[0] == mat_of(from, 0));
}

// An irecv whose large message landed in its buffer and was then abandoned gives it back whole.
void abandoned_landing(const communicator& c) {
  const int me = c.rank(), to = right_of(c), from = left_of(c);
  const std::vector<double> huge = doubles_of(me, 2 * large);
  {
    std::vector<double> scratch(2 * large, -1.0);
    parrun::request r = c.irecv(from, 130, std::span(scratch));
    c.send(from, 131, 0);  // posted: now the left neighbour sends
    (void)c.recv<int>(to, 131);
    c.send(to, 130, std::span<const double>(huge));
    while (!r.ready()) std::this_thread::yield();
  }  // the request goes first, then its (untouched) buffer
  std::vector<double> again(2 * large);
  EXPECT_EQ(c.recv(from, 130, std::span(again)).count<double>(), 2 * large);
  EXPECT_EQ(again, doubles_of(from, 2 * large));
  c.barrier();
}

TEST(NumericP2P, StructBuffersAndAbandonedLandings) {
  struct_p2p(test_world());
  abandoned_landing(test_world());
}
TEST(NumericP2P, SpansAndPointersSendAndReceiveContiguousBuffers) { contiguous_p2p(test_world()); }
TEST(NumericP2P, ContiguousBuffersOnASplitCommunicator) {
  const communicator& w = test_world();
  // ranks renumbered backwards: the peers are communicator ranks, not world ranks
  const communicator back = w.split(0, w.size() - w.rank());
  EXPECT_EQ(back.rank(), w.size() - 1 - w.rank());
  contiguous_p2p(back);
}

// --- point to point: strided layouts -------------------------------------------------------------

void strided_p2p(const communicator& c) {
  const int me = c.rank(), to = right_of(c), from = left_of(c);
  constexpr std::size_t rows = 7, cols = 5;
  auto matrix_of = [](int r) {
    std::vector<int> m(rows * cols);
    for (std::size_t i = 0; i < m.size(); ++i) m[i] = r * 1000 + static_cast<int>(i);
    return m;
  };
  const std::vector<int> m = matrix_of(me), theirs = matrix_of(from);
  const parrun::vector_layout column{.count = rows, .block = 1, .stride = cols};
  EXPECT_EQ(column.size(), rows);
  EXPECT_EQ(column.extent(), (rows - 1) * cols + 1);
  EXPECT_FALSE(column.contiguous());

  // column 2 of mine into column 4 of theirs, strided on both sides; the other columns untouched
  std::vector<int> into(rows * cols, -1);
  c.send(to, 200, parrun::strided(std::span<const int>(m), column, 2));
  parrun::status st = c.recv(from, 200, parrun::strided(std::span(into), column, 4));
  EXPECT_EQ(st.count<int>(), rows);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t k = 0; k < cols; ++k)
      EXPECT_EQ(into[r * cols + k], k == 4 ? theirs[r * cols + 2] : -1) << "row " << r << " col " << k;

  // a column is received as a vector and into a contiguous span; a vector lands in a column
  c.send(to, 201, parrun::strided(m.data(), column));
  std::vector<int> col0(rows);
  for (std::size_t r = 0; r < rows; ++r) col0[r] = theirs[r * cols];
  EXPECT_EQ(c.recv<std::vector<int>>(from, 201), col0);
  c.send(to, 202, parrun::strided(std::span<const int>(m), column, 3));
  std::vector<int> flat(rows + 2, -1);
  EXPECT_EQ(c.recv(from, 202, std::span(flat)).count<int>(), rows);
  for (std::size_t r = 0; r < rows; ++r) EXPECT_EQ(flat[r], theirs[r * cols + 3]);
  EXPECT_EQ(flat[rows], -1);
  std::vector<int> colv(rows);
  for (std::size_t r = 0; r < rows; ++r) colv[r] = me * 10 + static_cast<int>(r);
  c.send(to, 203, colv);
  std::vector<int> into2(rows * cols, -1);
  EXPECT_EQ(c.recv(from, 203, parrun::strided(std::span(into2), column, 1)).count<int>(), rows);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t k = 0; k < cols; ++k)
      EXPECT_EQ(into2[r * cols + k], k == 1 ? from * 10 + static_cast<int>(r) : -1);

  // blocks > 1: a 3x3 sub-matrix at (1,1) of a 7x5 matrix into one at (2,2) of a 5x6 matrix
  const parrun::vector_layout sub_from{.count = 3, .block = 3, .stride = cols};
  const parrun::vector_layout sub_into{.count = 3, .block = 3, .stride = 6};
  std::vector<int> wide(5 * 6, -1);
  c.send(to, 204, parrun::strided(std::span<const int>(m), sub_from, 1 * cols + 1));
  EXPECT_EQ(c.recv(from, 204, parrun::strided(std::span(wide), sub_into, 2 * 6 + 2)).count<int>(), 9u);
  for (std::size_t r = 0; r < 5; ++r)
    for (std::size_t k = 0; k < 6; ++k) {
      const bool inside = r >= 2 && r < 5 && k >= 2 && k < 5;
      EXPECT_EQ(wide[r * 6 + k], inside ? theirs[(r - 1) * cols + (k - 1)] : -1) << r << "," << k;
    }

  // a message shorter than the layout fills its first places, in layout order
  const parrun::vector_layout pairs{.count = 3, .block = 2, .stride = 4};
  std::vector<int> holes(12, -1);
  c.send(to, 205, std::vector<int>{me, me + 1, me + 2, me + 3});
  EXPECT_EQ(c.recv(from, 205, parrun::strided(holes.data(), pairs)).count<int>(), 4u);
  EXPECT_EQ(holes, (std::vector<int>{from, from + 1, -1, -1, from + 2, from + 3, -1, -1, -1, -1, -1, -1}));

  // irecv and isend of strided buffers, and a strided sendrecv around the ring
  std::vector<int> ring(rows * cols, -1);
  parrun::request in = c.irecv(from, 206, parrun::strided(std::span(ring), column, 0));
  parrun::request out = c.isend(to, 206, parrun::strided(std::span<const int>(m), column, cols - 1));
  EXPECT_EQ(in.wait().count<int>(), rows);
  out.wait();
  for (std::size_t r = 0; r < rows; ++r) EXPECT_EQ(ring[r * cols], theirs[r * cols + cols - 1]);
  std::vector<int> ring2(rows * cols, -1);
  st = c.sendrecv(to, 207, parrun::strided(std::span<const int>(m), column, 0), from, 207,
                  parrun::strided(std::span(ring2), column, cols - 1));
  EXPECT_EQ(st.count<int>(), rows);
  for (std::size_t r = 0; r < rows; ++r) {
    EXPECT_EQ(ring2[r * cols + cols - 1], theirs[r * cols]);
    EXPECT_EQ(ring2[r * cols], -1);
  }

  // large: 800 blocks of 400 doubles out of an 800 x 500 matrix, into 800 blocks with stride 450
  const parrun::vector_layout lsend{.count = 800, .block = 400, .stride = 500};
  const parrun::vector_layout lrecv{.count = 800, .block = 400, .stride = 450};
  const std::vector<double> bigm = doubles_of(me, 800 * 500);
  std::vector<double> bigin(800 * 450, -1.0);
  parrun::request lin = c.irecv(from, 208, parrun::strided(std::span(bigin), lrecv, 25));
  c.send(to, 208, parrun::strided(std::span<const double>(bigm), lsend, 50));
  EXPECT_EQ(lin.wait().count<double>(), 800u * 400u);
  std::size_t wrong = 0;
  for (std::size_t r = 0; r < 800; ++r)
    for (std::size_t k = 0; k < 450; ++k) {
      const bool inside = k >= 25 && k < 425;
      const double want = inside ? dval(from, r * 500 + 50 + (k - 25)) : -1.0;
      if (bigin[r * 450 + k] != want) ++wrong;
    }
  EXPECT_EQ(wrong, 0u);

  // layouts that leave their span, or whose blocks overlap, are usage errors naming the sizes
  EXPECT_TRUE(has(what_of<parrun::usage_error>([&] { (void)parrun::strided(std::span<const int>(m), column, 5); }),
                  "spans 31 elements from offset 5, but the buffer has 35"));
  EXPECT_TRUE(has(what_of<parrun::usage_error>([&] {
                    (void)parrun::strided(m.data(), parrun::vector_layout{.count = 2, .block = 3, .stride = 2});
                  }),
                  "blocks overlap"));
  c.barrier();
}

TEST(NumericP2P, StridedLayoutsTravelBothWays) { strided_p2p(test_world()); }

// --- point to point: errors that leave the message queued ----------------------------------------

void truncation_and_types(const communicator& c) {
  const int me = c.rank(), to = right_of(c), from = left_of(c);
  // two messages with one tag: the first too long for the buffer
  c.send(to, 300, doubles_of(me, 8));
  c.send(to, 300, doubles_of(me, 2, 100));
  std::vector<double> small(5, -1.0);
  for (int attempt = 0; attempt < 2; ++attempt) {  // the same (first) message both times
    const std::string what = what_of<parrun::truncation_error>([&] { c.recv(from, 300, std::span(small)); });
    EXPECT_TRUE(has(what, "has 8 elements of double")) << what;
    EXPECT_TRUE(has(what, "holds only 5")) << what;
    EXPECT_TRUE(has(what, "tag 300")) << what;
  }
  EXPECT_EQ(small, std::vector<double>(5, -1.0)) << "a truncated receive wrote into the buffer";
  EXPECT_EQ(c.probe(from, 300).count<double>(), 8u);  // still first in line
  std::vector<double> enough(8);
  EXPECT_EQ(c.recv(from, 300, std::span(enough)).count<double>(), 8u);
  EXPECT_EQ(enough, doubles_of(from, 8));
  EXPECT_EQ(c.recv(from, 300, std::span(small)).count<double>(), 2u);  // then the second
  EXPECT_EQ(small[1], dval(from, 101));

  // an irecv into too small a span, posted before the message: the wait throws, the message stays
  std::vector<int> tiny(3, -1);
  parrun::request r = c.irecv(from, 301, std::span(tiny));
  c.send(from, 302, 0);
  (void)c.recv<int>(to, 302);
  c.send(to, 301, ints_of(me, 4));
  std::string what = what_of<parrun::truncation_error>([&] { r.wait(); });
  EXPECT_TRUE(has(what, "has 4 elements")) << what;
  EXPECT_TRUE(has(what, "holds only 3")) << what;
  EXPECT_EQ(tiny, std::vector<int>(3, -1));
  EXPECT_THROW(r.wait(), parrun::truncation_error);  // the same failure again
  std::vector<int> four(4);
  EXPECT_EQ(c.recv(from, 301, std::span(four)).count<int>(), 4u);
  EXPECT_EQ(four, ints_of(from, 4));

  // large: 400k doubles offered to a 300k buffer (posted first, so the lane may try to land it)
  constexpr std::size_t n = 400'000, cap = 300'000;
  std::vector<double> part(cap, -1.0);
  parrun::request lr = c.irecv(from, 303, std::span(part));
  c.send(from, 304, 0);
  (void)c.recv<int>(to, 304);
  c.send(to, 303, doubles_of(me, n));
  what = what_of<parrun::truncation_error>([&] { lr.wait(); });
  EXPECT_TRUE(has(what, "has 400000 elements of double")) << what;
  EXPECT_TRUE(has(what, "holds only 300000")) << what;
  EXPECT_EQ(std::count(part.begin(), part.end(), -1.0), static_cast<long>(cap)) << "the buffer was written";
  what = what_of<parrun::truncation_error>([&] { c.recv(from, 303, part.data(), part.size()); });
  EXPECT_TRUE(has(what, "holds only 300000")) << what;
  std::vector<double> whole(n);
  EXPECT_EQ(c.recv(from, 303, std::span(whole)).count<double>(), n);
  EXPECT_EQ(whole, doubles_of(from, n));

  // strided receive too small
  std::vector<int> grid(12, -1);
  c.send(to, 305, ints_of(me, 5));
  what = what_of<parrun::truncation_error>(
      [&] { c.recv(from, 305, parrun::strided(grid.data(), parrun::vector_layout{.count = 4, .block = 1, .stride = 3})); });
  EXPECT_TRUE(has(what, "has 5 elements")) << what;
  EXPECT_TRUE(has(what, "holds only 4")) << what;
  EXPECT_EQ(grid, std::vector<int>(12, -1));
  EXPECT_EQ(c.recv<std::vector<int>>(from, 305), ints_of(from, 5));

  // a message of another element type is a type_mismatch, and also stays queued
  c.send(to, 306, std::vector<int>{1, 2, 3});
  std::vector<double> dbl(8, -1.0);
  what = what_of<parrun::type_mismatch>([&] { c.recv(from, 306, std::span(dbl)); });
  EXPECT_TRUE(has(what, "received into a buffer of double")) << what;
  EXPECT_TRUE(has(what, "int")) << what;
  std::vector<unsigned> same_size(8);
  EXPECT_THROW(c.recv(from, 306, std::span(same_size)), parrun::type_mismatch);  // same size, other type
  parrun::request fr = c.irecv(from, 306, std::span(dbl));
  EXPECT_THROW(fr.wait(), parrun::type_mismatch);
  EXPECT_EQ(dbl, std::vector<double>(8, -1.0));
  std::vector<int> right_type(8, -1);
  parrun::status st = c.recv(from, 306, std::span(right_type));
  EXPECT_EQ(st.count<int>(), 3u);
  EXPECT_THROW((void)st.count<double>(), parrun::type_mismatch);
  EXPECT_EQ(right_type[2], 3);
  // a string is not a buffer of char
  c.send(to, 307, std::string("abc"));
  std::vector<float> floats(4);
  EXPECT_THROW(c.recv(from, 307, std::span(floats)), parrun::type_mismatch);
  EXPECT_EQ(c.recv<std::string>(from, 307), "abc");
  c.barrier();
}

TEST(NumericP2P, TruncationAndTypeErrorsNameTheSizesAndKeepTheMessage) { truncation_and_types(test_world()); }

// --- point to point: no_rank ---------------------------------------------------------------------

void no_rank_calls(const communicator& c) {
  const int to = right_of(c), from = left_of(c);
  std::vector<int> buf{7, 8, 9};
  const std::vector<int> same = buf;
  const parrun::vector_layout every_other{.count = 2, .block = 1, .stride = 2};
  c.send(parrun::no_rank, 400, std::span(buf));
  c.send(parrun::no_rank, 400, buf.data(), buf.size());
  c.send(parrun::no_rank, 400, parrun::strided(buf.data(), every_other));
  c.send(parrun::no_rank, 400, 42);
  c.send(parrun::no_rank, 400, buf);
  for (const parrun::status& st : {c.recv(parrun::no_rank, 400, std::span(buf)),
                                   c.recv(parrun::no_rank, parrun::any_tag, buf.data(), buf.size()),
                                   c.recv(parrun::no_rank, 400, parrun::strided(buf.data(), every_other)),
                                   c.recv(parrun::no_rank, 400, std::span(buf), std::chrono::milliseconds(1))}) {
    EXPECT_EQ(st.source(), parrun::no_rank);
    EXPECT_EQ(st.count<int>(), 0u);
    EXPECT_EQ(st.bytes(), 0u);
    EXPECT_FALSE(st.cancelled());
  }
  int v = 5;
  c.recv(parrun::no_rank, 400, v);
  EXPECT_EQ(v, 5);
  std::vector<int> vec{1};
  c.recv(parrun::no_rank, 400, vec);
  EXPECT_EQ(vec, std::vector<int>{1});
  EXPECT_EQ(buf, same);

  for (parrun::request r : {c.isend(parrun::no_rank, 400, std::span(buf)), c.isend(parrun::no_rank, 400, buf.data(), 2),
                            c.isend(parrun::no_rank, 400, parrun::strided(buf.data(), every_other)),
                            c.isend(parrun::no_rank, 400, v), c.irecv(parrun::no_rank, 400, std::span(buf)),
                            c.irecv(parrun::no_rank, 400, buf.data(), 2),
                            c.irecv(parrun::no_rank, 400, parrun::strided(buf.data(), every_other)),
                            c.irecv(parrun::no_rank, 400, v)}) {
    EXPECT_FALSE(r.pending());
    EXPECT_TRUE(r.ready());
    EXPECT_EQ(r.wait().count<int>(), 0u);
  }
  c.sendrecv(parrun::no_rank, 400, std::span(buf), parrun::no_rank, 400, std::span(buf));
  c.sendrecv(parrun::no_rank, 400, 3, parrun::no_rank, 400, v);
  EXPECT_EQ(buf, same);
  EXPECT_EQ(v, 5);
  // half a sendrecv: a real send with no receive, then a real receive with no send
  std::vector<int> got(3, -1);
  parrun::status st = c.sendrecv(to, 401, std::span<const int>(same), parrun::no_rank, 401, std::span(got));
  EXPECT_EQ(st.source(), parrun::no_rank);
  EXPECT_EQ(got, std::vector<int>(3, -1));
  st = c.sendrecv(parrun::no_rank, 401, std::span<const int>(same), from, 401, std::span(got));
  EXPECT_EQ(st.source(), from);
  EXPECT_EQ(got, same);
  c.barrier();
}

TEST(NumericP2P, NoRankMakesSendsAndReceivesNoOps) { no_rank_calls(test_world()); }

// --- point to point: non-blocking buffers ------------------------------------------------------

void nonblocking_p2p(const communicator& c) {
  const int me = c.rank(), to = right_of(c), from = left_of(c);
  // several irecvs into spans, posted first; the messages go out in reverse order of tags
  std::vector<std::vector<double>> in(4, std::vector<double>(64, -1.0));
  std::vector<parrun::request> reqs;
  for (int t = 0; t < 4; ++t) reqs.push_back(c.irecv(from, 500 + t, std::span(in[sz(t)])));
  c.send(from, 510, 0);
  (void)c.recv<int>(to, 510);
  std::vector<double> out = doubles_of(me, 64);
  std::vector<parrun::request> sends;
  for (int t = 3; t >= 0; --t) {
    sends.push_back(c.isend(to, 500 + t, std::span<const double>(out).first(sz(10 + 10 * t))));
    std::fill(out.begin(), out.end(), -7.0);  // isend copied: the buffer is free at once
    out = doubles_of(me, 64);
  }
  const std::vector<parrun::status> sts = parrun::wait_all(reqs);
  parrun::wait_all(sends);
  for (int t = 0; t < 4; ++t) {
    const std::size_t n = sz(10 + 10 * t);
    EXPECT_EQ(sts[sz(t)].tag(), 500 + t);
    EXPECT_EQ(sts[sz(t)].count<double>(), n);
    EXPECT_EQ(std::vector<double>(in[sz(t)].begin(), in[sz(t)].begin() + static_cast<long>(n)), doubles_of(from, n));
    EXPECT_EQ(in[sz(t)][n], -1.0);
  }
  // an isend span received by a plain recv, and a pointer irecv from any source
  std::vector<int> ints = ints_of(me, 33);
  parrun::request s = c.isend(to, 511, std::span<const int>(ints));
  ints.assign(33, 0);
  std::vector<int> land(40, -1);
  parrun::request r = c.irecv(parrun::any_source, 511, land.data(), land.size());
  EXPECT_EQ(r.wait().count<int>(), 33u);
  EXPECT_EQ(r.wait().source(), from);  // a completed request answers the same again
  s.wait();
  EXPECT_EQ(std::vector<int>(land.begin(), land.begin() + 33), ints_of(from, 33));
  // large, both non-blocking
  const std::vector<double> huge = doubles_of(me, large);
  std::vector<double> hin(large);
  parrun::request hr = c.irecv(from, 512, std::span(hin));
  parrun::request hs = c.isend(to, 512, std::span<const double>(huge));
  while (!hr.test()) {
  }
  hs.wait();
  EXPECT_EQ(hin, doubles_of(from, large));
  c.barrier();
}

TEST(NumericP2P, IrecvIntoSpansAndIsendSpans) { nonblocking_p2p(test_world()); }

// --- requests --------------------------------------------------------------------------------------

void request_semantics(const communicator& c) {
  const int me = c.rank(), to = right_of(c), from = left_of(c);
  // `late` is sent only after this rank says so: until then it cannot complete
  int early = -1;
  std::vector<double> late(4, -1.0);
  std::vector<parrun::request> reqs{c.irecv(from, 601, std::span(late)), c.irecv(from, 600, early)};
  c.send(to, 600, me);
  while (!reqs[1].ready()) std::this_thread::yield();
  EXPECT_FALSE(parrun::test_all(reqs));
  EXPECT_TRUE(reqs[0].pending());
  EXPECT_TRUE(reqs[1].pending()) << "test_all completed a request although not all could complete";
  EXPECT_EQ(early, -1) << "test_all decoded a receive although it returned false";
  std::swap(reqs[0], reqs[1]);  // the ready one first: still nothing completes
  EXPECT_FALSE(parrun::test_all(reqs));
  EXPECT_TRUE(reqs[0].pending());
  EXPECT_EQ(early, -1);
  // test_any completes the one that can; then nothing more can
  std::optional<std::pair<std::size_t, parrun::status>> any = parrun::test_any(reqs);
  EXPECT_TRUE(any.has_value());
  if (any) {
    EXPECT_EQ(any->first, 0u);
    EXPECT_EQ(any->second.tag(), 600);
  }
  EXPECT_EQ(early, from);
  EXPECT_FALSE(reqs[0].pending());
  EXPECT_FALSE(parrun::test_any(reqs).has_value());
  EXPECT_TRUE(parrun::test_some(reqs).empty());
  EXPECT_FALSE(parrun::test_all(reqs));
  EXPECT_TRUE(reqs[1].pending());
  // now let the left neighbour send `late`
  c.send(from, 602, 0);
  (void)c.recv<int>(to, 602);
  c.send(to, 601, std::vector<double>{1.0 * me, 2.0});
  auto done = parrun::wait_some(reqs);
  EXPECT_EQ(done.size(), 1u);
  if (!done.empty()) {
    EXPECT_EQ(done[0].first, 1u);
    EXPECT_EQ(done[0].second.count<double>(), 2u);
  }
  EXPECT_EQ(late, (std::vector<double>{1.0 * from, 2.0, -1.0, -1.0}));
  EXPECT_TRUE(parrun::test_all(reqs));  // nothing pending: all complete
  EXPECT_THROW(parrun::wait_some(reqs), parrun::usage_error);
  EXPECT_THROW(parrun::wait_any(reqs), parrun::usage_error);
  EXPECT_TRUE(parrun::test_some(reqs).empty());
  EXPECT_FALSE(parrun::test_any(reqs).has_value());

  // wait_some completes every one that can, in index order; test_some too
  auto go_ahead = [&](int tag) {  // the left neighbour may send its next messages from now on
    c.send(from, tag, 0);
    (void)c.recv<int>(to, tag);
  };
  std::vector<int> vals(5, -1);
  std::vector<parrun::request> five;
  for (int t = 0; t < 5; ++t) five.push_back(c.irecv(from, 610 + t, vals[sz(t)]));
  for (int t : {4, 1, 3}) c.send(to, 610 + t, 100 * me + t);
  for (int t : {1, 3, 4}) {
    while (!five[sz(t)].ready()) std::this_thread::yield();
  }
  done = parrun::wait_some(five);
  EXPECT_EQ(done.size(), 3u);
  if (done.size() == 3) {
    EXPECT_EQ(done[0].first, 1u);
    EXPECT_EQ(done[1].first, 3u);
    EXPECT_EQ(done[2].first, 4u);
  }
  for (const auto& [i, st] : done) EXPECT_EQ(st.tag(), 610 + static_cast<int>(i));
  EXPECT_TRUE(parrun::test_some(five).empty());
  go_ahead(615);
  c.send(to, 612, 100 * me + 2);
  c.send(to, 610, 100 * me);
  std::vector<std::size_t> seen;
  for (const double deadline = parrun::wtime() + 60; seen.size() < 2 && parrun::wtime() < deadline;)
    for (const auto& [i, st] : parrun::test_some(five)) {
      EXPECT_EQ(st.source(), from);
      seen.push_back(i);
    }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::size_t>{0, 2}));
  for (int t = 0; t < 5; ++t) EXPECT_EQ(vals[sz(t)], 100 * from + t);
  // wait_any returns the one that completed
  int a = -1, b = -1;
  std::vector<parrun::request> two{c.irecv(from, 620, a), c.irecv(from, 621, b)};
  c.send(to, 621, me);
  auto [which, wst] = parrun::wait_any(two);
  EXPECT_EQ(which, 1u);
  EXPECT_EQ(wst.tag(), 621);
  EXPECT_EQ(b, from);
  go_ahead(622);
  c.send(to, 620, me);
  EXPECT_EQ(parrun::wait_any(two).first, 0u);
  EXPECT_EQ(a, from);
  c.barrier();
}

TEST(NumericRequests, TestAllIsAllOrNothingAndWaitSomeTestSomeTestAnyComplete) { request_semantics(test_world()); }

void cancellation(const communicator& c) {
  const int me = c.rank(), to = right_of(c), from = left_of(c);
  // unmatched receives, into a span and into a value: withdrawn
  std::vector<double> buf(4, -1.0);
  int x = -1;
  parrun::request r = c.irecv(from, 700, std::span(buf));
  parrun::request rv = c.irecv(from, 701, x);
  std::vector<double> huge_buf(large, -1.0);
  parrun::request rl = c.irecv(from, 702, std::span(huge_buf));
  EXPECT_TRUE(r.pending());
  EXPECT_TRUE(r.cancel());
  EXPECT_TRUE(rv.cancel());
  EXPECT_TRUE(rl.cancel());
  for (parrun::request* q : {&r, &rv, &rl}) {
    EXPECT_TRUE(q->ready());
    const parrun::status st = q->wait();
    EXPECT_TRUE(st.cancelled());
    EXPECT_EQ(st.count<double>(), 0u);
    EXPECT_FALSE(q->pending());
    EXPECT_FALSE(q->cancel());  // once
  }
  c.barrier();  // nobody sends these tags before every rank withdrew its receives
  c.send(to, 700, std::vector<double>{1.0 * me, 2.0});
  c.send(to, 701, me + 50);
  c.send(to, 702, std::span<const double>(doubles_of(me, large)));
  std::vector<double> other(4, -2.0);
  EXPECT_EQ(c.recv(from, 700, std::span(other)).count<double>(), 2u);
  EXPECT_EQ(other[0], 1.0 * from);
  EXPECT_EQ(c.recv<int>(from, 701), from + 50);
  std::vector<double> huge_in(large);
  EXPECT_EQ(c.recv(from, 702, std::span(huge_in)).count<double>(), large);
  EXPECT_EQ(huge_in, doubles_of(from, large));
  // the withdrawn receives' memory is never written
  EXPECT_EQ(buf, std::vector<double>(4, -1.0));
  EXPECT_EQ(x, -1);
  EXPECT_EQ(std::count(huge_buf.begin(), huge_buf.end(), -1.0), static_cast<long>(large));

  // matched receives cannot be cancelled, and receive as usual
  c.send(to, 703, me + 7);
  std::vector<int> span_in(2, -1);
  c.send(to, 704, std::vector<int>{me, me});
  int y = -1;
  parrun::request m1 = c.irecv(from, 703, y);
  parrun::request m2 = c.irecv(from, 704, std::span(span_in));
  while (!m1.ready() || !m2.ready()) std::this_thread::yield();
  EXPECT_FALSE(m1.cancel());
  EXPECT_FALSE(m2.cancel());
  EXPECT_FALSE(m1.wait().cancelled());
  EXPECT_EQ(m2.wait().count<int>(), 2u);
  EXPECT_EQ(y, from + 7);
  EXPECT_EQ(span_in, (std::vector<int>{from, from}));

  // sends, collectives and completed requests cannot be withdrawn
  parrun::request s = c.isend(to, 705, me);
  EXPECT_FALSE(s.cancel());
  parrun::request bar = c.ibarrier();
  EXPECT_FALSE(bar.cancel());
  bar.wait();
  EXPECT_FALSE(s.wait().cancelled());
  EXPECT_EQ(c.recv<int>(from, 705), from);
  EXPECT_FALSE(parrun::request{}.cancel());

  // an irecv abandoned after its message matched gives the message back
  c.send(to, 706, std::vector<double>{3.0 * me, 4.0, 5.0});
  {
    std::vector<double> scratch(3, -1.0);
    parrun::request abandoned = c.irecv(from, 706, std::span(scratch));
    while (!abandoned.ready()) std::this_thread::yield();
  }
  std::vector<double> again(3, -1.0);
  EXPECT_EQ(c.recv(from, 706, std::span(again)).count<double>(), 3u);
  EXPECT_EQ(again, (std::vector<double>{3.0 * from, 4.0, 5.0}));
  c.barrier();
}

TEST(NumericRequests, CancelWithdrawsOnlyUnmatchedReceives) { cancellation(test_world()); }

// --- buffer collectives -----------------------------------------------------------------------------

void broadcasts(const communicator& c, std::size_t n, bool doubles_only = false) {
  const int p = c.size(), me = c.rank();
  for (int root = 0; root < p; ++root) {
    std::vector<double> d = me == root ? doubles_of(root, n) : std::vector<double>(n, -1.0);
    c.broadcast(std::span(d), root);
    EXPECT_EQ(d, doubles_of(root, n)) << "root " << root << ", " << n << " doubles";
    if (doubles_only) continue;
    // ints, into the middle of a larger buffer: the elements around it untouched
    std::vector<int> i(n + 4, -9);
    if (me == root) std::copy_n(ints_of(root, n).begin(), n, i.begin() + 2);
    c.broadcast(std::span(i).subspan(2, n), root);
    EXPECT_EQ(std::vector<int>(i.begin() + 2, i.begin() + 2 + static_cast<long>(n)), ints_of(root, n));
    EXPECT_EQ(i[0], -9);
    EXPECT_EQ(i[1], -9);
    EXPECT_EQ(i[n + 2], -9);
    EXPECT_EQ(i[n + 3], -9);
  }
}

void allreduces(const communicator& c, std::size_t n, std::size_t nm) {
  const int p = c.size(), me = c.rank();
  const std::vector<double> sums = double_sums(p, n);
  // in place
  std::vector<double> d = doubles_of(me, n);
  c.allreduce(std::span(d), std::plus<>{});
  EXPECT_EQ(d, sums) << n << " doubles in place";
  // two buffers: the input stays as it was
  const std::vector<double> in = doubles_of(me, n);
  std::vector<double> out(n, -1.0);
  c.allreduce(in, out, std::plus<>{});
  EXPECT_EQ(out, sums) << n << " doubles, two buffers";
  EXPECT_EQ(in, doubles_of(me, n));
  // ints: max and min into spans
  std::vector<int> imax(n, 0), imin(n, 0);
  c.allreduce(ints_of(me, n), std::span(imax), parrun::max{});
  c.allreduce(std::span<const int>(ints_of(me, n)), std::span(imin), parrun::min{});
  EXPECT_EQ(imax, ints_of(p - 1, n));
  EXPECT_EQ(imin, ints_of(0, n));
  std::vector<int> isum = ints_of(me, n);
  c.allreduce(std::span(isum), std::plus<>{});
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < n; ++i) {
    int want = 0;
    for (int r = 0; r < p; ++r) want += ival(r, i);
    if (isum[i] != want) ++wrong;
  }
  EXPECT_EQ(wrong, 0u) << n << " ints in place";
  // a non-commutative op: rank order, in place and with two buffers
  const std::vector<mat2> prod = mat_products(p, nm);
  std::vector<mat2> m = mats_of(me, nm);
  c.allreduce(std::span(m), mat_mul);
  EXPECT_TRUE(m == prod) << nm << " matrices in place";
  std::vector<mat2> mout(nm);
  c.allreduce(mats_of(me, nm), mout, mat_mul);
  EXPECT_TRUE(mout == prod) << nm << " matrices, two buffers";
}

void reduces(const communicator& c, std::size_t n, std::size_t nm) {
  const int p = c.size(), me = c.rank();
  const std::vector<double> sums = double_sums(p, n);
  const std::vector<mat2> prod = mat_products(p, nm);
  for (int root = 0; root < p; ++root) {
    // in place: the root gets the result, the others keep their data
    std::vector<double> d = doubles_of(me, n);
    c.reduce(std::span(d), std::plus<>{}, root);
    if (me == root) {
      EXPECT_EQ(d, sums) << "root " << root;
    } else {
      EXPECT_EQ(d, doubles_of(me, n)) << "root " << root << ": a non-root's data changed";
    }
    // two buffers: the others' output is left alone
    std::vector<double> out(n, -1.0);
    c.reduce(doubles_of(me, n), out, std::plus<>{}, root);
    if (me == root) {
      EXPECT_EQ(out, sums) << "root " << root;
    } else {
      EXPECT_EQ(out, std::vector<double>(n, -1.0)) << "root " << root << ": a non-root's output was written";
    }
    // the output matters at the root only: elsewhere it may be empty
    std::vector<int> iout(me == root ? n : 0, 0);
    c.reduce(ints_of(me, n), std::span(iout), parrun::max{}, root);
    if (me == root) {
      EXPECT_EQ(iout, ints_of(p - 1, n));
    }
    // rank order
    std::vector<mat2> m = mats_of(me, nm), mout(nm);
    c.reduce(m, mout, mat_mul, root);
    if (me == root) {
      EXPECT_TRUE(mout == prod) << "root " << root << ", " << nm << " matrices";
    }
    c.reduce(std::span(m), mat_mul, root);
    if (me == root) {
      EXPECT_TRUE(m == prod) << "root " << root << ", in place";
    } else {
      EXPECT_TRUE(m == mats_of(me, nm));
    }
  }
}

void reduce_scatters(const communicator& c, std::size_t base) {
  const int p = c.size(), me = c.rank();
  // uneven counts, some zero
  std::vector<int> counts;
  for (int r = 0; r < p; ++r) counts.push_back(r % 3 == 1 ? 0 : static_cast<int>(base) + r);
  const auto total = sz(std::accumulate(counts.begin(), counts.end(), 0));
  std::size_t first = 0;
  for (int r = 0; r < me; ++r) first += sz(counts[sz(r)]);
  const std::size_t mine = sz(counts[sz(me)]);
  // doubles
  std::vector<double> out(mine + 2, -1.0);
  c.reduce_scatter(doubles_of(me, total), out, counts, std::plus<>{});
  EXPECT_EQ(std::vector<double>(out.begin(), out.begin() + static_cast<long>(mine)), double_sums(p, mine, first));
  EXPECT_EQ(out[mine], -1.0);
  EXPECT_EQ(out[mine + 1], -1.0);
  // a non-commutative op in rank order
  std::vector<mat2> mout(mine);
  c.reduce_scatter(mats_of(me, total), mout, counts, mat_mul);
  EXPECT_TRUE(mout == mat_products(p, mine, first)) << "reduce_scatter of matrices, block at " << first;
  // the block form
  const std::size_t block = base + 1;
  std::vector<double> bout(block, -1.0);
  c.reduce_scatter_block(doubles_of(me, block * sz(p)), bout, std::plus<>{});
  EXPECT_EQ(bout, double_sums(p, block, block * sz(me)));
  std::vector<mat2> bm(block);
  c.reduce_scatter_block(mats_of(me, block * sz(p)), std::span(bm), mat_mul);
  EXPECT_TRUE(bm == mat_products(p, block, block * sz(me)));
  std::vector<int> bi(block);
  c.reduce_scatter_block(ints_of(me, block * sz(p)), bi, parrun::min{});
  EXPECT_EQ(bi, ints_of(0, block, block * sz(me)));
}

void scatter_gather_blocks(const communicator& c, std::size_t block) {
  const int p = c.size(), me = c.rank();
  const std::size_t all = block * sz(p);
  // what root `root` scatters: element k of rank r's block is dval(root, r * block + k)
  for (int root = 0; root < p; ++root) {
    const std::vector<double> send = me == root ? doubles_of(root, all) : std::vector<double>{};
    std::vector<double> got(block, -1.0);
    c.scatter(send, got, root);
    EXPECT_EQ(got, doubles_of(root, block, block * sz(me))) << "scatter from " << root;
    // gather back: the root's buffer is the scattered one again; elsewhere ignored
    std::vector<double> back(me == root ? all + 3 : 1, -5.0);
    c.gather(got, back, root);
    if (me == root) {
      EXPECT_EQ(std::vector<double>(back.begin(), back.begin() + static_cast<long>(all)), send) << "gather at " << root;
      EXPECT_EQ(back[all], -5.0);
      EXPECT_EQ(back[all + 2], -5.0);
    } else {
      EXPECT_EQ(back, std::vector<double>(1, -5.0));
    }
    std::vector<int> ig(me == root ? all : 0);
    c.gather(ints_of(me, block), std::span(ig), root);
    if (me == root) {
      for (int r = 0; r < p; ++r)
        EXPECT_EQ(std::vector<int>(ig.begin() + static_cast<long>(sz(r) * block),
                                   ig.begin() + static_cast<long>(sz(r + 1) * block)),
                  ints_of(r, block));
    }
  }
  std::vector<int> everyone(all + 1, -1);
  c.allgather(ints_of(me, block), std::span(everyone).first(all));
  for (int r = 0; r < p; ++r)
    EXPECT_EQ(std::vector<int>(everyone.begin() + static_cast<long>(sz(r) * block),
                               everyone.begin() + static_cast<long>(sz(r + 1) * block)),
              ints_of(r, block));
  EXPECT_EQ(everyone[all], -1);
  std::vector<double> dall(all);
  c.allgather(doubles_of(me, block), dall);
  for (int r = 0; r < p; ++r) EXPECT_EQ(dall[sz(r) * block + block - 1], dval(r, block - 1));
}

// Uneven counts (some zero) placed in reverse rank order with a two-element gap before every
// block: positions no block covers must keep their sentinel.
struct layout {
  std::vector<int> counts, displs;
  std::size_t extent = 0;
  std::vector<bool> covered;
  layout(int p, std::size_t base, int salt) : displs(sz(p)) {
    for (int r = 0; r < p; ++r) counts.push_back((r + salt) % 3 == 0 ? 0 : static_cast<int>(base) + (r * 5 + salt) % 7);
    std::size_t at = 0;
    for (int r = p - 1; r >= 0; --r) {
      at += 2;
      displs[sz(r)] = static_cast<int>(at);
      at += sz(counts[sz(r)]);
    }
    extent = at + 1;
    covered.assign(extent, false);
    for (int r = 0; r < p; ++r)
      for (int k = 0; k < counts[sz(r)]; ++k) covered[sz(displs[sz(r)] + k)] = true;
  }
  std::size_t count(int r) const { return sz(counts[sz(r)]); }
  std::size_t displ(int r) const { return sz(displs[sz(r)]); }
  std::size_t total() const { return sz(std::accumulate(counts.begin(), counts.end(), 0)); }
};

// How many places of `all` differ from what the layout says: rank r's block at displs[r] holds
// value(r, k), every other place `sentinel`.
template <class T, class V>
std::size_t layout_errors(const std::vector<T>& all, const layout& l, V value, T sentinel) {
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < l.extent; ++i)
    if (!l.covered[i] && !(all[i] == sentinel)) ++wrong;
  for (int r = 0; r < static_cast<int>(l.counts.size()); ++r)
    for (std::size_t k = 0; k < l.count(r); ++k)
      if (!(all[l.displ(r) + k] == value(r, k))) ++wrong;
  return wrong;
}

void v_collectives(const communicator& c, std::size_t base) {
  const int p = c.size(), me = c.rank();
  const layout l(p, base, 1);
  const std::size_t mine = l.count(me);
  for (int root = 0; root < p; ++root) {
    // gatherv into the gapped layout; counts and displs matter at the root only
    std::vector<double> all(me == root ? l.extent : 0, -7.0);
    const std::vector<int> none;
    c.gatherv(doubles_of(me, mine), all, me == root ? l.counts : none, me == root ? l.displs : none, root);
    if (me == root) {
      EXPECT_EQ(layout_errors(all, l, [](int r, std::size_t k) { return dval(r, k); }, -7.0), 0u)
          << "gatherv at root " << root;
    }
    // scatterv from it: every rank gets its block; past it, its buffer is untouched
    std::vector<double> back(mine + 2, -1.0);
    c.scatterv(all, me == root ? l.counts : none, me == root ? l.displs : none, back, root);
    EXPECT_EQ(std::vector<double>(back.begin(), back.begin() + static_cast<long>(mine)), doubles_of(me, mine))
        << "scatterv from root " << root;
    EXPECT_EQ(back[mine], -1.0);
    EXPECT_EQ(back[mine + 1], -1.0);
    // packed (no displacements), ints
    std::vector<int> packed(me == root ? l.total() : 0, -1);
    c.gatherv(ints_of(me, mine), packed, l.counts, {}, root);
    if (me == root) {
      std::vector<int> want;
      for (int r = 0; r < p; ++r) {
        const auto b = ints_of(r, l.count(r));
        want.insert(want.end(), b.begin(), b.end());
      }
      EXPECT_EQ(packed, want) << "packed gatherv at root " << root;
    }
    std::vector<int> iback(mine);
    c.scatterv(packed, l.counts, std::span<const int>(), iback, root);
    EXPECT_EQ(iback, ints_of(me, mine)) << "packed scatterv from root " << root;
  }
  // allgatherv, gapped and packed
  std::vector<int> everywhere(l.extent, -7);
  c.allgatherv(ints_of(me, mine), everywhere, l.counts, l.displs);
  EXPECT_EQ(layout_errors(everywhere, l, [](int r, std::size_t k) { return ival(r, k); }, -7), 0u) << "allgatherv";
  std::vector<double> packed(l.total());
  c.allgatherv(doubles_of(me, mine), packed, l.counts);
  std::vector<double> want;
  for (int r = 0; r < p; ++r) {
    const auto b = doubles_of(r, l.count(r));
    want.insert(want.end(), b.begin(), b.end());
  }
  EXPECT_EQ(packed, want);
}

void alltoalls(const communicator& c, std::size_t base) {
  const int p = c.size(), me = c.rank();
  // block form: block q of rank r is ival(r, q * block + k)
  const std::size_t block = base + 2;
  std::vector<int> recv(block * sz(p), -1);
  c.alltoall(ints_of(me, block * sz(p)), recv);
  std::size_t wrong = 0;
  for (int q = 0; q < p; ++q)
    for (std::size_t k = 0; k < block; ++k)
      if (recv[sz(q) * block + k] != ival(q, sz(me) * block + k)) ++wrong;
  EXPECT_EQ(wrong, 0u) << "alltoall of " << block << " per rank";
  // v form: rank r sends n(r, q) elements to q, value(r, q, k); both sides gapped, in different orders
  auto n = [&](int r, int q) { return (r + 2 * q) % 4 == 0 ? std::size_t{0} : base + sz((r * 3 + q) % 5); };
  auto value = [](int r, int q, std::size_t k) { return r * 1.0e6 + q * 1.0e4 + static_cast<double>(k % 9999); };
  std::vector<int> sc(sz(p)), sd(sz(p)), rc(sz(p)), rd(sz(p));
  std::size_t at = 1;
  for (int q = p - 1; q >= 0; --q) {  // send blocks in reverse order, gaps of 3
    sd[sz(q)] = static_cast<int>(at);
    sc[sz(q)] = static_cast<int>(n(me, q));
    at += n(me, q) + 3;
  }
  std::vector<double> send(at, -3.0);
  for (int q = 0; q < p; ++q)
    for (std::size_t k = 0; k < n(me, q); ++k) send[sz(sd[sz(q)]) + k] = value(me, q, k);
  at = 0;
  std::vector<int> order;  // receive blocks in order 1, 3, 5, ..., 0, 2, 4, ...: gaps of 1
  for (int q = 1; q < p; q += 2) order.push_back(q);
  for (int q = 0; q < p; q += 2) order.push_back(q);
  for (int q : order) {
    at += 1;
    rd[sz(q)] = static_cast<int>(at);
    rc[sz(q)] = static_cast<int>(n(q, me));
    at += n(q, me);
  }
  const std::size_t extent = at + 1;
  std::vector<double> got(extent, -1.0);
  c.alltoallv(send, sc, sd, got, rc, rd);
  std::vector<bool> covered(extent, false);
  wrong = 0;
  for (int q = 0; q < p; ++q)
    for (std::size_t k = 0; k < n(q, me); ++k) {
      covered[sz(rd[sz(q)]) + k] = true;
      if (got[sz(rd[sz(q)]) + k] != value(q, me, k)) ++wrong;
    }
  for (std::size_t i = 0; i < extent; ++i)
    if (!covered[i] && got[i] != -1.0) ++wrong;
  EXPECT_EQ(wrong, 0u) << "alltoallv with base " << base;
  // packed (no displacements)
  std::vector<double> psend, pgot;
  std::vector<int> pc(sz(p)), prc(sz(p));
  for (int q = 0; q < p; ++q) {
    pc[sz(q)] = static_cast<int>(n(me, q));
    prc[sz(q)] = static_cast<int>(n(q, me));
    for (std::size_t k = 0; k < n(me, q); ++k) psend.push_back(value(me, q, k));
  }
  pgot.assign(sz(std::accumulate(prc.begin(), prc.end(), 0)), -1.0);
  c.alltoallv(psend, pc, {}, pgot, prc, {});
  std::vector<double> pwant;
  for (int q = 0; q < p; ++q)
    for (std::size_t k = 0; k < n(q, me); ++k) pwant.push_back(value(q, me, k));
  EXPECT_EQ(pgot, pwant);
}

// Every buffer collective on `c`, small sizes.
void small_collectives(const communicator& c) {
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}}) broadcasts(c, n);
  allreduces(c, 1, 1);
  allreduces(c, 13, 5);
  reduces(c, 1, 1);
  reduces(c, 9, 4);
  reduce_scatters(c, 2);
  scatter_gather_blocks(c, 1);
  scatter_gather_blocks(c, 5);
  v_collectives(c, 1);
  v_collectives(c, 4);
  alltoalls(c, 0);
  alltoalls(c, 3);
}

TEST(NumericCollectives, BroadcastEveryRootSmallAndLarge) {
  const communicator& w = test_world();
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, large}) broadcasts(w, n);
  // 16 MiB and a few bytes: the scatter + ring-allgather broadcast (p >= 3)
  broadcasts(w, (std::size_t{16} << 20) / sizeof(double) + 3, true);
}
TEST(NumericCollectives, AllreduceInPlaceAndTwoBuffersSmallAndLarge) {
  const communicator& w = test_world();
  allreduces(w, 1, 1);
  allreduces(w, 13, 5);
  allreduces(w, large, 25'003);  // 400 KB of matrices: Rabenseifner with a non-commutative op
}
TEST(NumericCollectives, ReduceEveryRootSmallAndLarge) {
  const communicator& w = test_world();
  reduces(w, 1, 1);
  reduces(w, 9, 4);
  reduces(w, large, 20'001);
}
TEST(NumericCollectives, ReduceScatterInRankOrderSmallAndLarge) {
  const communicator& w = test_world();
  reduce_scatters(w, 0);
  reduce_scatters(w, 3);
  reduce_scatters(w, 2 * large / sz(w.size()));
}
TEST(NumericCollectives, ScatterGatherAllgatherEveryRootSmallAndLarge) {
  const communicator& w = test_world();
  scatter_gather_blocks(w, 1);
  scatter_gather_blocks(w, 6);
  scatter_gather_blocks(w, large / sz(w.size()) + 1);
}
TEST(NumericCollectives, VCollectivesWithUnevenCountsAndGappedDisplacements) {
  const communicator& w = test_world();
  v_collectives(w, 1);
  v_collectives(w, 5);
  v_collectives(w, 2 * large / sz(w.size()));
}
TEST(NumericCollectives, AlltoallAndAlltoallvSmallAndLarge) {
  const communicator& w = test_world();
  alltoalls(w, 0);
  alltoalls(w, 4);
  alltoalls(w, large / sz(w.size()));
}
TEST(NumericCollectives, EveryCollectiveOnDerivedCommunicators) {
  const communicator& w = test_world();
  small_collectives(w.dup());
  // two groups (p >= 2), numbered backwards: ranks and roots are the group's, not the world's
  const communicator half = w.split(w.rank() % 2, -w.rank());
  EXPECT_EQ(half.size(), (w.size() - w.rank() % 2 + 1) / 2);
  small_collectives(half);
}

// A mistake in a buffer collective is a usage_error on the rank that made it, raised before that
// rank takes part, so that a rank that catches it and calls again stays in step with the others
// (which called once).
TEST(NumericCollectives, UsageErrorsLeaveTheRanksInStep) {
  const communicator& w = test_world();
  const int p = w.size(), me = w.rank(), last = p - 1;
  const std::vector<int> ones(sz(p), 1), none;
  // gatherv: only the root's displacements matter, and only the root errs
  {
    std::vector<int> all(sz(p), -1), displs(sz(p));
    std::iota(displs.begin(), displs.end(), 0);
    if (me == 0) {
      std::vector<int> past = displs;
      past.back() = p;  // one element at p: past the end
      const std::string what =
          what_of<parrun::usage_error>([&] { w.gatherv(std::vector<int>{me}, all, ones, past, 0); });
      EXPECT_TRUE(has(what, "gatherv on rank 0: rank " + std::to_string(last) + "'s block (1 elements at " +
                                std::to_string(p) + ") does not fit in the receive buffer of " + std::to_string(p) +
                                " elements"))
          << what;
      EXPECT_EQ(all, std::vector<int>(sz(p), -1));
    }
    w.gatherv(std::vector<int>{10 * me}, all, me == 0 ? ones : none, me == 0 ? displs : none, 0);
    if (me == 0) {
      for (int r = 0; r < p; ++r) EXPECT_EQ(all[sz(r)], 10 * r);
    }
  }
  // scatterv: a negative count at the root
  {
    std::vector<int> send(sz(p));
    std::iota(send.begin(), send.end(), 100);
    std::vector<int> got(1, -1);
    if (me == last) {
      std::vector<int> bad = ones;
      bad[0] = -3;
      const std::string what = what_of<parrun::usage_error>([&] { w.scatterv(send, bad, {}, got, last); });
      EXPECT_TRUE(has(what, "counts[0] = -3 is negative")) << what;
    }
    w.scatterv(send, ones, {}, got, last);
    EXPECT_EQ(got[0], 100 + me);
  }
  // alltoallv: counts of the wrong length on every rank, then the right ones
  {
    const std::vector<int> wrong(sz(p) + 1, 1);
    std::vector<double> send(sz(p) + 1, 1.0 * me), recv(sz(p) + 1, -1.0);
    const std::string what =
        what_of<parrun::usage_error>([&] { w.alltoallv(send, wrong, {}, recv, wrong, {}); });
    EXPECT_TRUE(has(what, "counts has " + std::to_string(p + 1) + " entries, but the communicator has " +
                              std::to_string(p) + " ranks"))
        << what;
    EXPECT_EQ(recv, std::vector<double>(sz(p) + 1, -1.0));
    w.alltoallv(send, ones, {}, recv, ones, {});
    for (int q = 0; q < p; ++q) EXPECT_EQ(recv[sz(q)], 1.0 * q);
  }
  // allreduce with in and out of different sizes on one rank
  {
    std::vector<double> in(4, 1.0 + me), out(4, -1.0), short_out(3, -1.0);
    if (me == last) {
      const std::string what = what_of<parrun::usage_error>([&] { w.allreduce(in, short_out, std::plus<>{}); });
      EXPECT_TRUE(has(what, "allreduce on rank " + std::to_string(last) + ": the input has 4 elements, the output 3"))
          << what;
      EXPECT_EQ(short_out, std::vector<double>(3, -1.0));
    }
    w.allreduce(in, out, std::plus<>{});
    EXPECT_EQ(out, std::vector<double>(4, p * (p + 1) / 2.0));
  }
  // reduce_scatter with too small an output, on one rank
  {
    const std::vector<int> twos(sz(p), 2);
    std::vector<int> in(2 * sz(p), me), out(2, -1), tiny(1, -1);
    if (me == 0) {
      const std::string what = what_of<parrun::usage_error>([&] { w.reduce_scatter(in, tiny, twos, std::plus<>{}); });
      EXPECT_TRUE(has(what, "the output holds 1 elements, but counts[0] = 2")) << what;
    }
    w.reduce_scatter(in, out, twos, std::plus<>{});
    EXPECT_EQ(out, std::vector<int>(2, p * (p - 1) / 2));
  }
  // scatter whose send buffer is not a multiple of the ranks, at the root; a bad root everywhere
  {
    std::vector<long> send(sz(p) * 2 + (p > 1 ? 1 : 0)), got(2, -1);
    std::iota(send.begin(), send.end(), 0L);
    if (me == 0 && p > 1) {
      const std::string what = what_of<parrun::usage_error>([&] { w.scatter(send, got, 0); });
      EXPECT_TRUE(has(what, "not a multiple of the " + std::to_string(p) + " ranks")) << what;
    }
    send.resize(sz(p) * 2);
    w.scatter(send, got, 0);
    EXPECT_EQ(got, (std::vector<long>{2L * me, 2L * me + 1}));
    std::vector<double> buf(3, 1.0);
    EXPECT_THROW(w.broadcast(std::span(buf), p), parrun::usage_error);
    EXPECT_THROW(w.reduce(std::span(buf), std::plus<>{}, -1), parrun::usage_error);
    EXPECT_EQ(buf, std::vector<double>(3, 1.0));
  }
  EXPECT_EQ(w.allreduce(1, std::plus<>{}), p);  // still in step
}

// --- non-blocking collectives -------------------------------------------------------------------

double busy_work(int rounds) {
  double x = 0;
  for (int i = 0; i < rounds; ++i) x += static_cast<double>(i % 7) * 0.5;
  return x;
}

void nonblocking_collectives(const communicator& c, std::size_t n) {
  const int p = c.size(), me = c.rank(), to = right_of(c), from = left_of(c);
  for (int round = 0; round < 4; ++round) {
    const int root = (round * 3 + 1) % p;
    // started in this order on every rank...
    std::vector<double> in = doubles_of(me + round, n);
    std::vector<double> sum(n, -1.0);
    parrun::request r_sum = c.iallreduce(in, std::span(sum), std::plus<>{});
    in.assign(n, -100.0);  // copied at the start
    std::vector<int> inplace = ints_of(me + round, 50);
    parrun::request r_max = c.iallreduce(std::span(inplace), parrun::max{});
    std::vector<double> bc = me == root ? doubles_of(root + round, n) : std::vector<double>(n, -1.0);
    parrun::request r_bc = c.ibroadcast(std::span(bc), root);
    long value = me == root ? 1000L + round : -1L;
    parrun::request r_val = c.ibroadcast(value, root);
    std::vector<int> a2a_in = ints_of(me, 3 * sz(p), sz(round)), a2a_out(3 * sz(p), -1);
    parrun::request r_a2a = c.ialltoall(a2a_in, std::span(a2a_out));
    std::vector<double> gathered(2 * sz(p), -1.0);
    parrun::request r_ag = c.iallgather(doubles_of(me, 2, sz(round)), std::span(gathered));
    std::vector<double> reduced(me == root ? n : 0, -1.0);
    parrun::request r_red = c.ireduce(doubles_of(me, n), std::span(reduced), std::plus<>{}, root);
    std::vector<mat2> mats = mats_of(me, 5, sz(round));
    parrun::request r_mat = c.iallreduce(std::span(mats), mat_mul);
    parrun::request r_bar = c.ibarrier();
    long total = -1;
    parrun::request r_total = c.iallreduce(static_cast<long>(me + round), total, std::plus<>{});
    std::vector<std::string> words(sz(p)), words_back;
    for (int q = 0; q < p; ++q) words[sz(q)] = std::to_string(me) + ">" + std::to_string(q);
    parrun::request r_words = c.ialltoall(words, words_back);

    // ...overlapping computation, blocking collectives and point-to-point traffic
    EXPECT_GT(busy_work(20000 + 1000 * me), 0.0);
    (void)r_bar.test();
    EXPECT_EQ(c.allreduce(1, std::plus<>{}), p);
    std::vector<int> blocking(4, me == 0 ? 77 : 0);
    c.broadcast(std::span(blocking), 0);
    EXPECT_EQ(blocking, std::vector<int>(4, 77));
    c.send(to, 800 + round, std::span<const double>(doubles_of(me, 16)));
    std::vector<double> p2p(16);
    c.recv(from, 800 + round, std::span(p2p));
    EXPECT_EQ(p2p, doubles_of(from, 16));
    EXPECT_GT(busy_work(10000), 0.0);

    // ...and waited for in an order that differs between rounds and between ranks
    std::vector<parrun::request*> all{&r_sum, &r_max, &r_bc, &r_val, &r_a2a, &r_ag, &r_red, &r_mat, &r_bar, &r_total, &r_words};
    std::rotate(all.begin(), all.begin() + (me + round) % static_cast<int>(all.size()), all.end());
    if ((me + round) % 2 == 1) std::reverse(all.begin(), all.end());
    for (parrun::request* r : all) {
      if (round == 3) {
        while (!r->test()) EXPECT_GT(busy_work(100), 0.0);  // completion by test alone
      } else {
        r->wait();
      }
    }

    // the results equal the sequential references and the blocking collectives
    const std::vector<double> sums = double_sums(p, n, 0);
    std::vector<double> want_sum(n, 0.0);
    for (int r = 0; r < p; ++r)
      for (std::size_t i = 0; i < n; ++i) want_sum[i] += dval(r + round, i);
    EXPECT_EQ(sum, want_sum) << "iallreduce, round " << round;
    std::vector<double> blocking_sum(n);
    c.allreduce(doubles_of(me + round, n), blocking_sum, std::plus<>{});
    EXPECT_EQ(sum, blocking_sum);
    EXPECT_EQ(inplace, ints_of(p - 1 + round, 50));
    EXPECT_EQ(bc, doubles_of(root + round, n)) << "ibroadcast, round " << round;
    EXPECT_EQ(value, 1000L + round);
    std::size_t wrong = 0;
    for (int q = 0; q < p; ++q)
      for (std::size_t k = 0; k < 3; ++k)
        if (a2a_out[sz(q) * 3 + k] != ival(q, sz(round) + sz(me) * 3 + k)) ++wrong;
    EXPECT_EQ(wrong, 0u) << "ialltoall, round " << round;
    for (int q = 0; q < p; ++q) EXPECT_EQ(gathered[2 * sz(q) + 1], dval(q, sz(round) + 1));
    if (me == root) {
      EXPECT_EQ(reduced, sums) << "ireduce, round " << round;
    }
    EXPECT_TRUE(mats == mat_products(p, 5, sz(round)));
    EXPECT_EQ(total, static_cast<long>(p) * (p - 1) / 2 + static_cast<long>(p) * round);
    ASSERT_EQ(words_back.size(), sz(p));
    for (int q = 0; q < p; ++q) EXPECT_EQ(words_back[sz(q)], std::to_string(q) + ">" + std::to_string(me));
  }
}

TEST(NumericNonBlocking, CollectivesOverlapEachOtherBlockingCallsAndPointToPoint) {
  nonblocking_collectives(test_world(), 1000);
}
TEST(NumericNonBlocking, LargeCollectivesOverlap) { nonblocking_collectives(test_world(), large); }

TEST(NumericNonBlocking, EveryRootAtOnceAndTwoCommunicatorsInterleaved) {
  const communicator& w = test_world();
  const int p = w.size(), me = w.rank();
  const communicator d = w.dup();
  // one ibroadcast and one ireduce per root, all in flight together, on two communicators
  std::vector<std::vector<int>> bcs(sz(p)), reds(sz(p));
  std::vector<parrun::request> reqs;
  for (int root = 0; root < p; ++root) {
    bcs[sz(root)] = me == root ? ints_of(root, 100) : std::vector<int>(100, -1);
    reqs.push_back(w.ibroadcast(std::span(bcs[sz(root)]), root));
    reds[sz(root)].assign(me == root ? 100 : 0, -1);
    reqs.push_back(d.ireduce(ints_of(me, 100), std::span(reds[sz(root)]), parrun::max{}, root));
  }
  long on_w = -1, on_d = -1;
  reqs.push_back(d.iallreduce(static_cast<long>(me), on_d, std::plus<>{}));
  reqs.push_back(w.iallreduce(static_cast<long>(2 * me), on_w, std::plus<>{}));
  EXPECT_EQ(d.allreduce(me, parrun::max{}), p - 1);  // blocking, on the dup, meanwhile
  // completed through wait_some, test_any and wait_any in turns
  std::size_t completed = 0;
  for (int turn = 0; completed < reqs.size(); ++turn) {
    if (turn % 3 == 0) {
      completed += parrun::wait_some(reqs).size();
    } else if (turn % 3 == 1) {
      if (parrun::test_any(reqs)) ++completed;
    } else {
      (void)parrun::wait_any(reqs);
      ++completed;
    }
  }
  for (const parrun::request& r : reqs) EXPECT_FALSE(r.pending());
  for (int root = 0; root < p; ++root) {
    EXPECT_EQ(bcs[sz(root)], ints_of(root, 100));
    if (me == root) {
      EXPECT_EQ(reds[sz(root)], ints_of(p - 1, 100));
    }
  }
  EXPECT_EQ(on_d, static_cast<long>(p) * (p - 1) / 2);
  EXPECT_EQ(on_w, static_cast<long>(p) * (p - 1));
}

TEST(NumericNonBlocking, CommunicatorsMayBeStartedInDifferentOrdersOnDifferentRanks) {
  const communicator& w = test_world();
  const int p = w.size(), me = w.rank();
  const communicator a = w.dup(), b = w.dup();
  // even ranks start on a first, odd ranks on b first: each communicator's own order is the same
  std::vector<int> on_a(4), on_b(4);
  parrun::request ra, rb;
  if (me % 2 == 0) {
    ra = a.iallreduce(std::vector<int>(4, me), std::span(on_a), std::plus<>{});
    rb = b.iallreduce(std::vector<int>(4, 2 * me), std::span(on_b), std::plus<>{});
  } else {
    rb = b.iallreduce(std::vector<int>(4, 2 * me), std::span(on_b), std::plus<>{});
    ra = a.iallreduce(std::vector<int>(4, me), std::span(on_a), std::plus<>{});
  }
  // a blocking collective on a third communicator while both are in flight, waited in either order
  EXPECT_EQ(w.allreduce(1, std::plus<>{}), p);
  if (me % 3 == 0) {
    ra.wait();
    rb.wait();
  } else {
    rb.wait();
    ra.wait();
  }
  EXPECT_EQ(on_a, std::vector<int>(4, p * (p - 1) / 2));
  EXPECT_EQ(on_b, std::vector<int>(4, p * (p - 1)));
  // one rank blocks on b before it starts its ibarrier on a; the others start the ibarrier first
  parrun::request bar;
  if (me == 0) {
    b.barrier();
    bar = a.ibarrier();
  } else {
    bar = a.ibarrier();
    b.barrier();
  }
  bar.wait();
}

TEST(NumericNonBlocking, TheRootsInputIsReadWhenTheBroadcastStarts) {
  const communicator& w = test_world();
  const int p = w.size(), me = w.rank();
  for (std::size_t n : {std::size_t{10}, large, (std::size_t{16} << 20) / sizeof(double) + 3}) {
    const int root = p - 1;
    std::vector<double> buf = me == root ? doubles_of(root, n) : std::vector<double>(n, -1.0);
    parrun::request r = w.ibroadcast(std::span(buf), root);
    if (me == root) std::fill(buf.begin(), buf.end(), -2.0);  // the root's buffer is free at once
    r.wait();
    if (me == root) {
      EXPECT_EQ(std::count(buf.begin(), buf.end(), -2.0), static_cast<long>(n)) << "the root's buffer was written";
    } else {
      EXPECT_EQ(buf, doubles_of(root, n)) << n << " doubles";
    }
  }
}

TEST(NumericNonBlocking, HundredsInFlightAtOnce) {
  const communicator& w = test_world();
  const int p = w.size(), me = w.rank();
  constexpr int n = 300;
  std::vector<long> results(n, -1);
  std::vector<parrun::request> reqs;
  for (int i = 0; i < n; ++i) reqs.push_back(w.iallreduce(static_cast<long>(me * i), results[sz(i)], std::plus<>{}));
  std::reverse(reqs.begin(), reqs.end());
  parrun::wait_all(reqs);
  std::size_t wrong = 0;
  for (int i = 0; i < n; ++i)
    if (results[sz(i)] != static_cast<long>(i) * p * (p - 1) / 2) ++wrong;
  EXPECT_EQ(wrong, 0u);
}

// Values far larger than a small stack (320 KB each) reduced and broadcast without blocking: the
// collective runs on a fiber's stack, with its op and its temporaries.
TEST(NumericNonBlocking, LargeValuesOnTheCollectivesStack) {
  const communicator& w = test_world();
  const int p = w.size(), me = w.rank();
  using block = std::array<double, 40'000>;
  auto in = std::make_unique<block>(), out = std::make_unique<block>(), want = std::make_unique<block>();
  for (std::size_t i = 0; i < in->size(); ++i) (*in)[i] = dval(me, i);
  parrun::request r = w.iallreduce(*in, *out, [](const block& x, const block& y) {
    block z;  // the op's own temporaries, on the same stack
    for (std::size_t i = 0; i < z.size(); ++i) z[i] = x[i] + y[i];
    return z;
  });
  r.wait();
  const std::vector<double> sums = double_sums(p, in->size());
  EXPECT_TRUE(std::equal(out->begin(), out->end(), sums.begin())) << "iallreduce of a 320 KB value";
  auto bc = std::make_unique<block>();
  if (me == 0) *bc = *in;
  parrun::request rb = w.ibroadcast(*bc, 0);
  rb.wait();
  EXPECT_EQ((*bc)[39'999], dval(0, 39'999));
  *want = w.allreduce(*in, [](const block& x, const block& y) {
    block z;
    for (std::size_t i = 0; i < z.size(); ++i) z[i] = x[i] + y[i];
    return z;
  });
  EXPECT_TRUE(*want == *out) << "the blocking allreduce disagrees";
}

// --- cartesian topologies -----------------------------------------------------------------------------

TEST(NumericCartesian, DimsCreate) {
  EXPECT_EQ(parrun::dims_create(12, 2), (std::vector<int>{4, 3}));
  EXPECT_EQ(parrun::dims_create(8, 3), (std::vector<int>{2, 2, 2}));
  EXPECT_EQ(parrun::dims_create(7, 2), (std::vector<int>{7, 1}));
  EXPECT_EQ(parrun::dims_create(1, 2), (std::vector<int>{1, 1}));
  EXPECT_EQ(parrun::dims_create(6, 1), (std::vector<int>{6}));
  EXPECT_EQ(parrun::dims_create(16, 2), (std::vector<int>{4, 4}));
  EXPECT_EQ(parrun::dims_create(30, 3), (std::vector<int>{5, 3, 2}));
  EXPECT_EQ(parrun::dims_create(72, 2), (std::vector<int>{9, 8}));  // as even as it gets, not 12 x 6
  EXPECT_EQ(parrun::dims_create(48, 2), (std::vector<int>{8, 6}));
  EXPECT_EQ(parrun::dims_create(36, 3), (std::vector<int>{4, 3, 3}));
  // fixed entries are kept, the zeros filled
  EXPECT_EQ(parrun::dims_create(24, {0, 2, 0}), (std::vector<int>{4, 2, 3}));
  EXPECT_EQ(parrun::dims_create(12, {3, 0}), (std::vector<int>{3, 4}));
  EXPECT_EQ(parrun::dims_create(12, {0, 0, 3}), (std::vector<int>{2, 2, 3}));
  EXPECT_EQ(parrun::dims_create(6, {2, 3}), (std::vector<int>{2, 3}));
  EXPECT_EQ(parrun::dims_create(5, {0, 1}), (std::vector<int>{5, 1}));
  // fixed entries that do not divide
  EXPECT_TRUE(has(what_of<parrun::usage_error>([] { (void)parrun::dims_create(10, {3, 0}); }), "does not divide 10"));
  EXPECT_THROW((void)parrun::dims_create(12, {5, 0}), parrun::usage_error);
  EXPECT_THROW((void)parrun::dims_create(12, {2, 3}), parrun::usage_error);  // all fixed, 6 places
  EXPECT_THROW((void)parrun::dims_create(6, 0), parrun::usage_error);
  EXPECT_THROW((void)parrun::dims_create(0, 2), parrun::usage_error);
  EXPECT_THROW((void)parrun::dims_create(6, {-1, 0}), parrun::usage_error);
  // fixed entries whose product overflows a 64-bit integer (2^64): an error, not a crash
  EXPECT_THROW((void)parrun::dims_create(1, {65536, 65536, 65536, 65536}), parrun::usage_error);
  EXPECT_THROW((void)parrun::dims_create(4, {65536, 65536, 65536, 65536, 0}), parrun::usage_error);
}

// Coordinates, rank_of and shift against the row-major arithmetic, on any grid.
void grid_geometry(const parrun::cartesian_communicator& g) {
  const std::vector<int>& dims = g.dims();
  const auto nd = dims.size();
  EXPECT_EQ(g.ndims(), static_cast<int>(nd));
  EXPECT_EQ(g.periodic().size(), nd);
  int places = 1;
  for (int d : dims) places *= d;
  EXPECT_EQ(g.size(), places);
  for (int r = 0; r < g.size(); ++r) {
    const std::vector<int> c = g.coords(r);
    int rest = r;
    for (std::size_t d = nd; d-- > 0;) {  // row-major: the last dimension varies fastest
      EXPECT_EQ(c[d], rest % dims[d]);
      rest /= dims[d];
    }
    EXPECT_EQ(g.rank_of(c), r);
  }
  EXPECT_EQ(g.coords(), g.coords(g.rank()));
  EXPECT_THROW((void)g.coords(g.size()), parrun::usage_error);
  EXPECT_THROW((void)g.coords(-1), parrun::usage_error);
  const std::vector<int> me = g.coords();
  for (std::size_t d = 0; d < nd; ++d) {
    for (int disp : {1, -1, 2, 0}) {
      std::vector<int> ahead = me, behind = me;
      ahead[d] += disp;
      behind[d] -= disp;
      auto wrap = [&](std::vector<int> c) {
        if (g.periodic()[d]) c[d] = ((c[d] % dims[d]) + dims[d]) % dims[d];
        else if (c[d] < 0 || c[d] >= dims[d]) return parrun::no_rank;
        int r = 0;
        for (std::size_t k = 0; k < nd; ++k) r = r * dims[k] + c[k];
        return r;
      };
      const auto nb = g.shift(static_cast<int>(d), disp);
      EXPECT_EQ(nb.dest, wrap(ahead)) << "dim " << d << " disp " << disp;
      EXPECT_EQ(nb.source, wrap(behind)) << "dim " << d << " disp " << disp;
      EXPECT_EQ(g.rank_of(ahead), wrap(ahead));
    }
  }
  EXPECT_THROW((void)g.shift(static_cast<int>(nd), 1), parrun::usage_error);
  EXPECT_THROW((void)g.rank_of(std::vector<int>(nd + 1, 0)), parrun::usage_error);
  // one message along every dimension in both directions: sources and destinations pair up
  for (std::size_t d = 0; d < nd; ++d)
    for (int disp : {1, -1}) {
      const auto [source, dest] = g.shift(static_cast<int>(d), disp);
      std::vector<int> got(nd, -1);
      parrun::status st = g.sendrecv(dest, 900, std::span<const int>(me), source, 900, std::span(got));
      if (source == parrun::no_rank) {
        EXPECT_EQ(got, std::vector<int>(nd, -1));
        EXPECT_EQ(st.source(), parrun::no_rank);
      } else {
        EXPECT_EQ(got, g.coords(source));
      }
    }
}

TEST(NumericCartesian, CoordinatesAndShiftsPeriodicAndNot) {
  const communicator& w = test_world();
  const int p = w.size();
  const parrun::cartesian_communicator g2 = w.cartesian(parrun::dims_create(p, 2), {true, false});
  EXPECT_TRUE(g2.valid());
  grid_geometry(g2);
  const parrun::cartesian_communicator g3 = w.cartesian(parrun::dims_create(p, 3), {false, true, false});
  grid_geometry(g3);
  const parrun::cartesian_communicator line = w.cartesian({p}, false);
  grid_geometry(line);
  EXPECT_EQ(line.shift(0, 1).dest, w.rank() + 1 < p ? w.rank() + 1 : parrun::no_rank);
  EXPECT_EQ(line.shift(0, 1).source, w.rank() > 0 ? w.rank() - 1 : parrun::no_rank);
  const parrun::cartesian_communicator ring = w.cartesian({p}, true);
  grid_geometry(ring);
  EXPECT_EQ(ring.shift(0, 1).dest, (w.rank() + 1) % p);
  EXPECT_EQ(ring.rank_of({-1}), p - 1);
  EXPECT_EQ(ring.rank_of({p}), 0);
  EXPECT_EQ(line.rank_of({p}), parrun::no_rank);
  EXPECT_EQ(line.rank_of({-1}), parrun::no_rank);
  // the collective battery on the grid, as a communicator
  small_collectives(g2);
}

// A 5-point stencil on an R x C global grid of ints, split into lr x lc blocks over the process
// grid: every rank's interior after `steps` steps matches the sequential computation.
void halo_exchange(const parrun::cartesian_communicator& g, std::size_t steps) {
  const std::vector<int> dims = g.dims();
  const std::vector<bool> wrap = g.periodic();
  constexpr std::size_t lr = 3, lc = 4;
  const std::size_t R = lr * sz(dims[0]), C = lc * sz(dims[1]);
  auto init = [](std::size_t i, std::size_t j) { return static_cast<int>((i * 31 + j * 17) % 23) - 11; };
  // sequential, on the global grid
  std::vector<int> u(R * C);
  for (std::size_t i = 0; i < R; ++i)
    for (std::size_t j = 0; j < C; ++j) u[i * C + j] = init(i, j);
  auto at = [&](const std::vector<int>& v, long i, long j) {
    if (i < 0 || i >= static_cast<long>(R)) {
      if (!wrap[0]) return 0;
      i = (i + static_cast<long>(R)) % static_cast<long>(R);
    }
    if (j < 0 || j >= static_cast<long>(C)) {
      if (!wrap[1]) return 0;
      j = (j + static_cast<long>(C)) % static_cast<long>(C);
    }
    return v[sz(i) * C + sz(j)];
  };
  for (std::size_t s = 0; s < steps; ++s) {
    std::vector<int> next(R * C);
    for (long i = 0; i < static_cast<long>(R); ++i)
      for (long j = 0; j < static_cast<long>(C); ++j)
        next[sz(i) * C + sz(j)] =
            (at(u, i, j) * 2 + at(u, i - 1, j) + at(u, i + 1, j) - at(u, i, j - 1) + 3 * at(u, i, j + 1)) % 1000;
    u = std::move(next);
  }
  // distributed, with one-element halos (zero past a non-periodic edge: no_rank leaves them)
  const std::vector<int> me = g.coords();
  constexpr std::size_t W = lc + 2;
  std::vector<int> a((lr + 2) * W, 0);
  const std::size_t i0 = sz(me[0]) * lr, j0 = sz(me[1]) * lc;
  for (std::size_t i = 0; i < lr; ++i)
    for (std::size_t j = 0; j < lc; ++j) a[(i + 1) * W + j + 1] = init(i0 + i, j0 + j);
  const auto [up, down] = g.shift(0, 1);
  const auto [left, right] = g.shift(1, 1);
  const parrun::vector_layout column{.count = lr, .block = 1, .stride = W};
  std::span<int> all(a);
  std::vector<long> seq_sums;  // the global sum before every step, sequentially
  {
    std::vector<int> s0(R * C);
    for (std::size_t i = 0; i < R; ++i)
      for (std::size_t j = 0; j < C; ++j) s0[i * C + j] = init(i, j);
    for (std::size_t s = 0; s < steps; ++s) {
      seq_sums.push_back(std::accumulate(s0.begin(), s0.end(), 0L));
      std::vector<int> next(R * C);
      for (long i = 0; i < static_cast<long>(R); ++i)
        for (long j = 0; j < static_cast<long>(C); ++j)
          next[sz(i) * C + sz(j)] = (at(s0, i, j) * 2 + at(s0, i - 1, j) + at(s0, i + 1, j) - at(s0, i, j - 1) +
                                     3 * at(s0, i, j + 1)) %
                                    1000;
      s0 = std::move(next);
    }
  }
  for (std::size_t s = 0; s < steps; ++s) {
    // the sum of the grid before this step, reduced while the halos travel
    long local = 0;
    for (std::size_t i = 1; i <= lr; ++i)
      for (std::size_t j = 1; j <= lc; ++j) local += a[i * W + j];
    long total = -1;
    parrun::request sum = g.iallreduce(local, total, std::plus<>{});
    // rows are contiguous, columns strided
    g.sendrecv(down, 910, std::span<const int>(all.subspan(lr * W + 1, lc)), up, 910, all.subspan(1, lc));
    g.sendrecv(up, 911, std::span<const int>(all.subspan(W + 1, lc)), down, 911, all.subspan((lr + 1) * W + 1, lc));
    g.sendrecv(right, 912, parrun::strided(std::span<const int>(a), column, W + lc), left, 912,
               parrun::strided(all, column, W));
    g.sendrecv(left, 913, parrun::strided(std::span<const int>(a), column, W + 1), right, 913,
               parrun::strided(all, column, W + lc + 1));
    sum.wait();
    EXPECT_EQ(total, seq_sums[s]) << "step " << s;
    std::vector<int> b = a;
    for (std::size_t i = 1; i <= lr; ++i)
      for (std::size_t j = 1; j <= lc; ++j)
        b[i * W + j] =
            (a[i * W + j] * 2 + a[(i - 1) * W + j] + a[(i + 1) * W + j] - a[i * W + j - 1] + 3 * a[i * W + j + 1]) %
            1000;
    a = std::move(b);
    all = std::span<int>(a);
  }
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < lr; ++i)
    for (std::size_t j = 0; j < lc; ++j)
      if (a[(i + 1) * W + j + 1] != u[(i0 + i) * C + j0 + j]) ++wrong;
  EXPECT_EQ(wrong, 0u) << "halo exchange on a " << dims[0] << " x " << dims[1] << " grid, periodic " << wrap[0]
                       << wrap[1];
  // the halos past non-periodic edges were never written
  if (up == parrun::no_rank) {
    for (std::size_t j = 1; j <= lc; ++j) EXPECT_EQ(a[j], 0);
  }
  if (right == parrun::no_rank) {
    for (std::size_t i = 1; i <= lr; ++i) EXPECT_EQ(a[i * W + lc + 1], 0);
  }
}

TEST(NumericCartesian, HaloExchangeMatchesTheSequentialStencil) {
  const communicator& w = test_world();
  const std::vector<int> dims = parrun::dims_create(w.size(), 2);
  for (const std::vector<bool>& periodic : {std::vector<bool>{false, false}, std::vector<bool>{true, false},
                                            std::vector<bool>{false, true}, std::vector<bool>{true, true}})
    halo_exchange(w.cartesian(dims, periodic), 4);
  // the other way round: more rows of ranks than columns
  halo_exchange(w.cartesian({dims[1], dims[0]}, {true, false}), 3);
}

TEST(NumericCartesian, SubGridsAreRowsAndColumns) {
  const communicator& w = test_world();
  const std::vector<int> dims = parrun::dims_create(w.size(), 2);
  const parrun::cartesian_communicator g = w.cartesian(dims, {false, true});
  const std::vector<int> c = g.coords();
  const parrun::cartesian_communicator row = g.sub({false, true});
  EXPECT_TRUE(row.valid());
  EXPECT_EQ(row.size(), dims[1]);
  EXPECT_EQ(row.rank(), c[1]);
  EXPECT_EQ(row.dims(), std::vector<int>{dims[1]});
  EXPECT_EQ(row.periodic(), std::vector<bool>{true});
  std::vector<int> members(sz(dims[1]), -1);
  row.allgather(std::vector<int>{g.rank()}, members);
  for (int j = 0; j < dims[1]; ++j) EXPECT_EQ(members[sz(j)], c[0] * dims[1] + j);
  EXPECT_EQ(row.shift(0, 1).dest, (c[1] + 1) % dims[1]);  // periodic, as the grid's dimension 1
  const parrun::cartesian_communicator col = g.sub({true, false});
  EXPECT_EQ(col.size(), dims[0]);
  EXPECT_EQ(col.rank(), c[0]);
  EXPECT_EQ(col.periodic(), std::vector<bool>{false});
  std::vector<int> column(sz(dims[0]), -1);
  col.allgather(std::vector<int>{g.rank()}, column);
  for (int i = 0; i < dims[0]; ++i) EXPECT_EQ(column[sz(i)], i * dims[1] + c[1]);
  EXPECT_EQ(col.shift(0, 1).dest, c[0] + 1 < dims[0] ? c[0] + 1 : parrun::no_rank);
  // row sums by buffer allreduce, against the sequential sums
  std::vector<double> mine = doubles_of(g.rank(), 10), sum(10);
  row.allreduce(mine, sum, std::plus<>{});
  std::vector<double> want(10, 0.0);
  for (int j = 0; j < dims[1]; ++j)
    for (std::size_t i = 0; i < 10; ++i) want[i] += dval(c[0] * dims[1] + j, i);
  EXPECT_EQ(sum, want);
  const parrun::cartesian_communicator alone = g.sub({false, false});
  EXPECT_EQ(alone.size(), 1);
  EXPECT_EQ(alone.dims(), std::vector<int>{1});
  const parrun::cartesian_communicator same = g.sub({true, true});
  EXPECT_EQ(same.size(), g.size());
  EXPECT_EQ(same.rank(), g.rank());
  EXPECT_EQ(same.dims(), dims);
  // a 3-D grid's planes
  const parrun::cartesian_communicator g3 = w.cartesian(parrun::dims_create(w.size(), 3), true);
  const std::vector<int> c3 = g3.coords();
  const parrun::cartesian_communicator plane = g3.sub({true, false, true});
  EXPECT_EQ(plane.size(), g3.dims()[0] * g3.dims()[2]);
  EXPECT_EQ(plane.coords(), (std::vector<int>{c3[0], c3[2]}));
  grid_geometry(plane);
  EXPECT_THROW((void)g.sub({true}), parrun::usage_error);
}

TEST(NumericCartesian, RanksBeyondTheGridGetAnInvalidCommunicator) {
  const communicator& w = test_world();
  const int p = w.size(), me = w.rank();
  const int places = std::max(1, p - 1);
  const parrun::cartesian_communicator line = w.cartesian({places}, true);
  EXPECT_EQ(line.valid(), me < places);
  if (line.valid()) {
    EXPECT_EQ(line.size(), places);
    EXPECT_EQ(line.rank(), me);
    EXPECT_EQ(line.allreduce(1, std::plus<>{}), places);
  } else {
    EXPECT_EQ(line.ndims(), 0);
    EXPECT_THROW((void)line.dims(), parrun::usage_error);
    EXPECT_THROW((void)line.rank(), parrun::usage_error);
    EXPECT_THROW((void)line.shift(0, 1), parrun::usage_error);
  }
  // half the ranks (rounded up) on a 2-D grid
  const int half = (p + 1) / 2;
  const parrun::cartesian_communicator g = w.cartesian(parrun::dims_create(half, 2), false);
  EXPECT_EQ(g.valid(), me < half);
  if (g.valid()) grid_geometry(g);
  // more places than ranks: an error before anything moves
  const std::string what = what_of<parrun::usage_error>([&] { (void)w.cartesian({p + 1, 1}, false); });
  EXPECT_TRUE(has(what, "more places than the communicator's " + std::to_string(p) + " ranks")) << what;
  EXPECT_THROW((void)w.cartesian({0, p}, false), parrun::usage_error);
  EXPECT_THROW((void)w.cartesian({p}, std::vector<bool>{true, false}), parrun::usage_error);
  EXPECT_THROW((void)parrun::cartesian_communicator{}.coords(), parrun::usage_error);
  w.barrier();
}

// --- versions and time --------------------------------------------------------------------------------

TEST(NumericVersion, MacrosMatchTheLibraryAndWtimeIsMonotonic) {
  const std::string v = std::to_string(PARRUN_VERSION_MAJOR) + "." + std::to_string(PARRUN_VERSION_MINOR) + "." +
                        std::to_string(PARRUN_VERSION_PATCH);
  EXPECT_EQ(v, std::string(parrun::version()));
  EXPECT_EQ(PARRUN_VERSION, PARRUN_VERSION_MAJOR * 10000 + PARRUN_VERSION_MINOR * 100 + PARRUN_VERSION_PATCH);
  double last = parrun::wtime();
  for (int i = 0; i < 10000; ++i) {
    const double now = parrun::wtime();
    EXPECT_GE(now, last);
    last = now;
  }
  const double a = parrun::wtime();
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const double b = parrun::wtime();
  EXPECT_GE(b - a, 0.009);
  EXPECT_LT(b - a, 5.0);
  EXPECT_GT(parrun::wtick(), 0.0);
  EXPECT_LE(parrun::wtick(), 1e-3);
}

}  // namespace
