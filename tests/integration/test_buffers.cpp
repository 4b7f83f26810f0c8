// The numeric-code API against sequential references computed on every rank, p = 1..8: buffers
// (spans, pointer + count, strided layouts) in point-to-point, the buffer and in-place
// collectives, non-blocking collectives, request completion, cartesian topologies. Everything
// goes through `const parrun::communicator&`, as Boost.MPI users pass it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <numeric>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <parrun/parrun.hpp>

#include "mat2.hpp"
#include "rank_main.hpp"

namespace {

const parrun::communicator& W() { return test_world(); }
int me() { return W().rank(); }
int ranks() { return W().size(); }
int right() { return (me() + 1) % ranks(); }
int left() { return (me() + ranks() - 1) % ranks(); }

double value_of(int r, std::size_t i) { return r * 1000.0 + static_cast<double>(i % 977) * 0.5; }
std::vector<double> doubles_of(int r, std::size_t n) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = value_of(r, i);
  return v;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// --- point to point --------------------------------------------------------------------------

TEST(Buffers, SpanAndPointerSendsLandInSpansWithTheirCount) {
  const auto& w = W();
  const std::vector<double> mine = doubles_of(me(), 37);
  std::vector<double> got(100, -1.0);
  // span -> span, with room to spare: the count says how many arrived, the rest is untouched
  parrun::status st = w.sendrecv(right(), 1, std::span<const double>(mine), left(), 1, std::span(got));
  EXPECT_EQ(st.count<double>(), 37u);
  EXPECT_EQ(st.source(), left());
  EXPECT_EQ(std::vector<double>(got.begin(), got.begin() + 37), doubles_of(left(), 37));
  EXPECT_EQ(got[37], -1.0);
  // pointer + count -> pointer + capacity
  std::vector<int> ints(11);
  std::iota(ints.begin(), ints.end(), me() * 100);
  std::vector<int> into(11, 0);
  parrun::request r = w.irecv(left(), 2, into.data(), into.size());
  w.send(right(), 2, ints.data(), ints.size());
  EXPECT_EQ(r.wait().count<int>(), 11u);
  EXPECT_EQ(into[10], left() * 100 + 10);
  // a span is received as a vector, and a vector into a span
  w.send(right(), 3, std::span<const double>(mine));
  EXPECT_EQ(w.recv<std::vector<double>>(left(), 3), doubles_of(left(), 37));
  w.send(right(), 4, mine);
  std::vector<double> exact(37);
  EXPECT_EQ(w.recv(left(), 4, std::span(exact)).count<double>(), 37u);
  EXPECT_EQ(exact, doubles_of(left(), 37));
  // a single value fills one element
  w.send(right(), 5, 2.5 * me());
  double one[4] = {0, 0, 0, 0};
  EXPECT_EQ(w.recv(left(), 5, std::span(one)).count<double>(), 1u);
  EXPECT_EQ(one[0], 2.5 * left());
}

TEST(Buffers, LargeSpansArriveWhole) {
  const auto& w = W();
  const std::vector<double> mine = doubles_of(me(), 600'000);  // the direct (cross-memory) path
  std::vector<double> got(600'000);
  parrun::request in = w.irecv(left(), 6, std::span(got));
  w.send(right(), 6, std::span<const double>(mine));
  EXPECT_EQ(in.wait().count<double>(), got.size());
  EXPECT_EQ(got, doubles_of(left(), 600'000));
  // posted after the message arrived: staged, then copied
  w.send(right(), 7, std::span<const double>(mine));
  w.barrier();
  std::fill(got.begin(), got.end(), 0.0);
  w.recv(left(), 7, std::span(got));
  EXPECT_EQ(got, doubles_of(left(), 600'000));
}

TEST(Buffers, StridedColumnsTravelBothWays) {
  const auto& w = W();
  constexpr std::size_t rows = 6, cols = 5;
  std::vector<int> m(rows * cols);
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = me() * 1000 + static_cast<int>(i);
  // column 3 of my matrix into column 1 of the received one
  std::vector<int> theirs(rows * cols, -1);
  const parrun::vector_layout column{.count = rows, .block = 1, .stride = cols};
  auto st = w.sendrecv(right(), 8, parrun::strided(std::span<const int>(m), column, 3), left(), 8,
                       parrun::strided(std::span(theirs), column, 1));
  EXPECT_EQ(st.count<int>(), rows);
  for (std::size_t r = 0; r < rows; ++r) {
    EXPECT_EQ(theirs[r * cols + 1], left() * 1000 + static_cast<int>(r * cols + 3));
    EXPECT_EQ(theirs[r * cols + 0], -1);  // the gaps are untouched
    EXPECT_EQ(theirs[r * cols + 2], -1);
  }
  // blocks of two, received contiguous
  const parrun::vector_layout pairs{.count = 3, .block = 2, .stride = 10};
  std::vector<int> flat(6);
  w.send(right(), 9, parrun::strided(m.data(), pairs));
  w.recv(left(), 9, std::span(flat));
  EXPECT_EQ(flat, (std::vector<int>{left() * 1000 + 0, left() * 1000 + 1, left() * 1000 + 10, left() * 1000 + 11,
                                    left() * 1000 + 20, left() * 1000 + 21}));
  // a layout that leaves its span is a usage_error naming both
  try {
    (void)parrun::strided(std::span(m), column, 5);
    ADD_FAILURE() << "no usage_error";
  } catch (const parrun::usage_error& e) {
    EXPECT_TRUE(contains(e.what(), "spans 26 elements from offset 5, but the buffer has 30")) << e.what();
  }
}

TEST(Buffers, TooLongAMessageIsATruncationErrorAndStaysQueued) {
  const auto& w = W();
  w.send(right(), 10, std::vector<double>(8, 1.0 * me()));
  std::vector<double> small(5);
  try {
    w.recv(left(), 10, std::span(small));
    ADD_FAILURE() << "no truncation_error";
  } catch (const parrun::truncation_error& e) {
    EXPECT_TRUE(contains(e.what(), "has 8 elements of double, but the buffer holds only 5")) << e.what();
  }
  std::vector<double> big(8);
  EXPECT_EQ(w.recv(left(), 10, std::span(big)).count<double>(), 8u);
  EXPECT_EQ(big[7], 1.0 * left());
  // another type is a type_mismatch, and also stays
  w.send(right(), 11, std::vector<int>{1, 2, 3});
  try {
    w.recv(left(), 11, std::span(big));
    ADD_FAILURE() << "no type_mismatch";
  } catch (const parrun::type_mismatch& e) {
    EXPECT_TRUE(contains(e.what(), "received into a buffer of double")) << e.what();
  }
  EXPECT_EQ(w.recv<std::vector<int>>(left(), 11), (std::vector<int>{1, 2, 3}));
  EXPECT_THROW((void)parrun::status(0, 0, 8, parrun::detail::type_of<int>().hash).count<double>(), parrun::type_mismatch);
}

TEST(Buffers, SpansOfOtherElementsTravelAsVectorsAndCountOnlyRawOnes) {
  const auto& w = W();
  const std::vector<std::string> words{"a", "bc", "def"};
  parrun::request r = w.isend(right(), 12, std::span<const std::string>(words));
  w.send(right(), 13, std::span<const std::string>(words));
  r.wait();
  std::vector<std::string> got;
  const parrun::status st = w.recv(left(), 12, got);
  EXPECT_EQ(got, words);
  EXPECT_EQ(w.recv<std::vector<std::string>>(left(), 13), words);
  EXPECT_EQ(st.count<std::vector<std::string>>(), 1u);
  try {
    (void)st.count<std::string>();  // archive bytes: no element count in them
    ADD_FAILURE() << "no usage_error";
  } catch (const parrun::usage_error& e) {
    EXPECT_TRUE(contains(e.what(), "receive it and take its size()")) << e.what();
  }
}

TEST(Buffers, NoRankMakesEveryCallANoOp) {
  const auto& w = W();
  std::vector<int> buf{7, 8, 9};
  w.send(parrun::no_rank, 0, std::span(buf));
  w.send(parrun::no_rank, 0, 42);
  parrun::status st = w.recv(parrun::no_rank, 0, std::span(buf));
  EXPECT_EQ(st.source(), parrun::no_rank);
  EXPECT_EQ(st.count<int>(), 0u);
  int v = 5;
  w.recv(parrun::no_rank, parrun::any_tag, v);
  EXPECT_EQ(v, 5);
  EXPECT_FALSE(w.irecv(parrun::no_rank, 0, std::span(buf)).pending());
  EXPECT_FALSE(w.isend(parrun::no_rank, 0, v).pending());
  w.sendrecv(parrun::no_rank, 0, std::span(buf), parrun::no_rank, 0, std::span(buf));
  EXPECT_EQ(buf, (std::vector<int>{7, 8, 9}));
}

// --- requests ----------------------------------------------------------------------------------

TEST(Requests, TestAllIsAllOrNothingAndCancelWithdrawsOnlyUnmatchedReceives) {
  const auto& w = W();
  if (ranks() < 2) GTEST_SKIP() << "needs a peer";
  int early = 0, late = 0;
  std::vector<parrun::request> reqs{w.irecv(left(), 20, early), w.irecv(left(), 21, late)};
  w.send(right(), 20, me());
  // the peer sends 21 only after this rank's word, so only the first can be ready
  while (!reqs[0].ready()) std::this_thread::yield();
  EXPECT_FALSE(parrun::test_all(reqs));
  EXPECT_TRUE(reqs[0].pending()) << "test_all completed a request although not all were ready";
  w.send(left(), 22, 0);
  (void)w.recv<int>(right(), 22);
  w.send(right(), 21, -me());
  auto done = parrun::wait_some(reqs);
  ASSERT_FALSE(done.empty());
  while (!parrun::test_all(reqs)) {
  }
  EXPECT_FALSE(parrun::test_any(reqs));  // nothing left pending
  EXPECT_EQ(early, left());
  EXPECT_EQ(late, -left());

  // cancel: an unmatched receive goes, and the message meant for its tag is still received
  std::vector<double> buf(4);
  parrun::request never = w.irecv(left(), 23, std::span(buf));
  EXPECT_TRUE(never.cancel());
  EXPECT_TRUE(never.wait().cancelled());
  EXPECT_FALSE(never.cancel());
  w.barrier();  // nobody sends tag 23 before every rank cancelled its receive
  w.send(right(), 23, std::vector<double>{1, 2});
  EXPECT_EQ(w.recv(left(), 23, std::span(buf)).count<double>(), 2u);
  // a matched one cannot be cancelled
  w.send(right(), 24, 3);
  int x = 0;
  parrun::request matched = w.irecv(left(), 24, x);
  while (!matched.ready()) std::this_thread::yield();
  EXPECT_FALSE(matched.cancel());
  EXPECT_FALSE(matched.wait().cancelled());
  EXPECT_EQ(x, 3);
  // test_some reports what completed, in index order
  std::vector<int> vals(3, 0);
  std::vector<parrun::request> three;
  for (int t = 0; t < 3; ++t) three.push_back(w.irecv(left(), 30 + t, vals[static_cast<std::size_t>(t)]));
  for (int t = 2; t >= 0; --t) w.send(right(), 30 + t, t + 100);
  std::vector<std::size_t> seen;
  while (seen.size() < 3)
    for (auto& [i, st] : parrun::test_some(three)) {
      EXPECT_EQ(st.tag(), 30 + static_cast<int>(i));
      seen.push_back(i);
    }
  EXPECT_EQ(vals, (std::vector<int>{100, 101, 102}));
  EXPECT_THROW(parrun::wait_some(three), parrun::usage_error);
}

// --- buffer collectives --------------------------------------------------------------------------

TEST(BufferCollectives, BroadcastInPlaceEveryRootSmallAndLarge) {
  const auto& w = W();
  for (std::size_t n : {std::size_t{5}, std::size_t{300'000}})
    for (int root = 0; root < ranks(); ++root) {
      std::vector<double> buf = w.rank() == root ? doubles_of(root, n) : std::vector<double>(n, -1.0);
      w.broadcast(std::span(buf), root);
      EXPECT_EQ(buf, doubles_of(root, n)) << "root " << root << ", " << n << " elements";
    }
}

TEST(BufferCollectives, AllreduceAndReduceInPlaceAndTwoBuffers) {
  const auto& w = W();
  for (std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{300'000}}) {
    std::vector<double> sum(n, 0.0);
    for (int r = 0; r < ranks(); ++r)
      for (std::size_t i = 0; i < n; ++i) sum[i] += value_of(r, i);
    std::vector<double> buf = doubles_of(me(), n);
    w.allreduce(std::span(buf), std::plus<>{});
    for (std::size_t i = 0; i < n; i += 997) EXPECT_DOUBLE_EQ(buf[i], sum[i]);
    std::vector<double> out(n);
    w.allreduce(doubles_of(me(), n), out, std::plus<>{});
    EXPECT_EQ(out, buf);
    for (int root = 0; root < ranks(); ++root) {
      std::vector<double> mine = doubles_of(me(), n);
      w.reduce(std::span(mine), parrun::max{}, root);
      if (me() == root) {
        EXPECT_EQ(mine, doubles_of(ranks() - 1, n));
      }
      else EXPECT_EQ(mine, doubles_of(me(), n));  // other ranks' data is left alone
      std::vector<double> at_root(me() == root ? n : 0);
      w.reduce(doubles_of(me(), n), std::span(at_root.data(), me() == root ? n : 0), std::plus<>{}, root);
      if (me() == root) {
        EXPECT_EQ(at_root, buf);
      }
    }
  }
  // rank order: a non-commutative op over 2x2 matrices, element by element
  std::vector<mat2> mats(3);
  for (std::size_t i = 0; i < mats.size(); ++i) mats[i] = mat_of(me(), i);
  std::vector<mat2> want(3);
  for (std::size_t i = 0; i < 3; ++i) {
    want[i] = mat_of(0, i);
    for (int r = 1; r < ranks(); ++r) want[i] = want[i] * mat_of(r, i);
  }
  std::vector<mat2> all = mats;
  w.allreduce(std::span(all), mat_mul);
  EXPECT_EQ(all, want);
  std::vector<mat2> at0(3);
  w.reduce(mats, at0, mat_mul, 0);
  if (me() == 0) {
    EXPECT_EQ(at0, want);
  }
}

TEST(BufferCollectives, ReduceScatterGivesEachRankItsBlockInRankOrder) {
  const auto& w = W();
  std::vector<int> counts(static_cast<std::size_t>(ranks()));
  for (int r = 0; r < ranks(); ++r) counts[static_cast<std::size_t>(r)] = r % 3;  // some zero
  const int total = std::accumulate(counts.begin(), counts.end(), 0);
  std::vector<mat2> in(static_cast<std::size_t>(total));
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = mat_of(me(), i);
  std::vector<mat2> out(4);
  w.reduce_scatter(in, out, counts, mat_mul);
  int first = 0;
  for (int r = 0; r < me(); ++r) first += counts[static_cast<std::size_t>(r)];
  for (int k = 0; k < counts[static_cast<std::size_t>(me())]; ++k) {
    const auto i = static_cast<std::size_t>(first + k);
    mat2 want = mat_of(0, i);
    for (int r = 1; r < ranks(); ++r) want = want * mat_of(r, i);
    EXPECT_EQ(out[static_cast<std::size_t>(k)], want);
  }
  std::vector<long> block_in(static_cast<std::size_t>(3 * ranks()));
  std::iota(block_in.begin(), block_in.end(), me());
  std::vector<long> block_out(3);
  w.reduce_scatter_block(block_in, block_out, std::plus<>{});
  for (std::size_t k = 0; k < 3; ++k) {
    const long i = 3 * me() + static_cast<long>(k);
    EXPECT_EQ(block_out[k], ranks() * i + static_cast<long>(ranks()) * (ranks() - 1) / 2);
  }
}

// Uneven counts (rank r: 2r % 5 elements, some zero), placed with gaps between the blocks.
struct uneven {
  std::vector<int> counts, displs;
  int extent = 0;
  explicit uneven(int p) {
    for (int r = 0; r < p; ++r) {
      counts.push_back((2 * r) % 5);
      displs.push_back(extent + 1);  // one sentinel before every block
      extent += counts.back() + 1;
    }
    extent += 1;
  }
};
int element(int r, int k) { return r * 100 + k; }

TEST(BufferCollectives, ScattervGathervAllgathervWithCountsAndDisplacements) {
  const auto& w = W();
  const uneven u(ranks());
  const int mine_n = u.counts[static_cast<std::size_t>(me())];
  std::vector<int> mine(static_cast<std::size_t>(mine_n));
  for (int k = 0; k < mine_n; ++k) mine[static_cast<std::size_t>(k)] = element(me(), k);
  auto check_layout = [&](const std::vector<int>& all, const char* what) {
    for (int r = 0, at = 0; r < ranks(); ++r) {
      EXPECT_EQ(all[static_cast<std::size_t>(at)], -7) << what << ": a gap was written";
      for (int k = 0; k < u.counts[static_cast<std::size_t>(r)]; ++k)
        EXPECT_EQ(all[static_cast<std::size_t>(u.displs[static_cast<std::size_t>(r)] + k)], element(r, k)) << what;
      at = u.displs[static_cast<std::size_t>(r)] + u.counts[static_cast<std::size_t>(r)];
    }
    EXPECT_EQ(all.back(), -7) << what;
  };
  for (int root = 0; root < ranks(); ++root) {
    std::vector<int> all(static_cast<std::size_t>(u.extent), -7);
    w.gatherv(mine, all, u.counts, u.displs, root);
    if (me() == root) check_layout(all, "gatherv");
    // scatterv from the same layout gives every rank its block back
    std::vector<int> back(8, -1);
    w.scatterv(all, u.counts, u.displs, back, root);
    for (int k = 0; k < mine_n; ++k) EXPECT_EQ(back[static_cast<std::size_t>(k)], element(me(), k));
    EXPECT_EQ(back[static_cast<std::size_t>(mine_n)], -1);
  }
  std::vector<int> everywhere(static_cast<std::size_t>(u.extent), -7);
  w.allgatherv(mine, everywhere, u.counts, u.displs);
  check_layout(everywhere, "allgatherv");
  // packed (no displacements) is the concatenation the vector form returns
  std::vector<int> packed(static_cast<std::size_t>(std::accumulate(u.counts.begin(), u.counts.end(), 0)));
  w.allgatherv(mine, packed, u.counts);
  EXPECT_EQ(packed, w.allgatherv(mine));
  // block forms
  std::vector<double> blocks(static_cast<std::size_t>(2 * ranks()));
  w.allgather(std::vector<double>{1.0 * me(), 0.5}, blocks);
  for (int r = 0; r < ranks(); ++r) EXPECT_EQ(blocks[static_cast<std::size_t>(2 * r)], 1.0 * r);
  std::vector<double> got(2);
  w.scatter(blocks, got, ranks() - 1);
  EXPECT_EQ(got[0], 1.0 * me());
  std::vector<double> gathered(static_cast<std::size_t>(2 * ranks()));
  w.gather(got, gathered, 0);
  if (me() == 0) {
    EXPECT_EQ(gathered, blocks);
  }
}

TEST(BufferCollectives, AlltoallvMovesUnevenBlocksToTheirPlaces) {
  const auto& w = W();
  const int p = ranks();
  // rank r sends (r + q) % 3 elements to rank q: element(r, q * 10 + k)
  std::vector<int> send_counts, send_displs, recv_counts, recv_displs;
  std::vector<int> send;
  for (int q = 0; q < p; ++q) {
    send_displs.push_back(static_cast<int>(send.size()) + 2);  // gaps in the send buffer too
    send.insert(send.end(), 2, -9);
    send_counts.push_back((me() + q) % 3);
    for (int k = 0; k < send_counts.back(); ++k) send.push_back(element(me(), q * 10 + k));
  }
  int extent = 0;
  for (int q = 0; q < p; ++q) {
    recv_counts.push_back((q + me()) % 3);
    recv_displs.push_back(p == 1 ? 0 : (p - 1 - q) * 3);  // reversed order
    extent = std::max(extent, recv_displs.back() + 3);
  }
  std::vector<int> recv(static_cast<std::size_t>(extent), -1);
  w.alltoallv(send, send_counts, send_displs, recv, recv_counts, recv_displs);
  for (int q = 0; q < p; ++q)
    for (int k = 0; k < 3; ++k) {
      const int got = recv[static_cast<std::size_t>(recv_displs[static_cast<std::size_t>(q)] + k)];
      if (k < recv_counts[static_cast<std::size_t>(q)]) EXPECT_EQ(got, element(q, me() * 10 + k));
      else EXPECT_EQ(got, -1);
    }
  // the block form is the vector form's concatenation
  std::vector<long> parts(static_cast<std::size_t>(2 * p)), back(static_cast<std::size_t>(2 * p));
  for (int q = 0; q < p; ++q) parts[static_cast<std::size_t>(2 * q)] = parts[static_cast<std::size_t>(2 * q + 1)] = me() * 10 + q;
  w.alltoall(parts, back);
  for (int q = 0; q < p; ++q) EXPECT_EQ(back[static_cast<std::size_t>(2 * q + 1)], q * 10 + me());
}

TEST(BufferCollectives, MistakesAreUsageErrorsBeforeAnythingMoves) {
  const auto& w = W();
  std::vector<int> buf(4), out(3);
  const std::vector<int> wrong(static_cast<std::size_t>(ranks() + 1), 1);
  try {
    w.alltoallv(buf, wrong, {}, buf, wrong, {});
    ADD_FAILURE() << "no usage_error";
  } catch (const parrun::usage_error& e) {
    EXPECT_TRUE(contains(e.what(), "counts has " + std::to_string(ranks() + 1) + " entries")) << e.what();
  }
  try {
    w.allreduce(buf, out, std::plus<>{});
    ADD_FAILURE() << "no usage_error";
  } catch (const parrun::usage_error& e) {
    EXPECT_TRUE(contains(e.what(), "the input has 4 elements, the output 3")) << e.what();
  }
  const std::vector<int> counts(static_cast<std::size_t>(ranks()), 1), past(static_cast<std::size_t>(ranks()), 4);
  try {
    w.allgatherv(std::vector<int>{1}, buf, counts, past);
    ADD_FAILURE() << "no usage_error";
  } catch (const parrun::usage_error& e) {
    EXPECT_TRUE(contains(e.what(), "does not fit in the receive buffer of 4 elements")) << e.what();
  }
  w.barrier();  // every rank still in step
}

// --- non-blocking collectives ----------------------------------------------------------------------

TEST(NonBlocking, CollectivesOverlapComputationAndEachOtherAndMatchTheBlockingOnes) {
  const auto& w = W();
  for (int round = 0; round < 20; ++round) {
    std::vector<double> sum(1000), mine = doubles_of(me() + round, 1000);
    parrun::request r_sum = w.iallreduce(mine, std::span(sum), std::plus<>{});
    mine.assign(1000, -1.0);  // the input was copied when the call started
    long root_value = me() == round % ranks() ? 1000 + round : -1;
    parrun::request r_bcast = w.ibroadcast(root_value, round % ranks());
    std::vector<int> parts(static_cast<std::size_t>(ranks())), got(static_cast<std::size_t>(ranks()));
    for (int q = 0; q < ranks(); ++q) parts[static_cast<std::size_t>(q)] = me() * 100 + q;
    parrun::request r_a2a = w.ialltoall(parts, std::span(got));
    parrun::request r_bar = w.ibarrier();
    // computation and blocking traffic in between
    double busy = 0;
    for (int i = 0; i < 20000; ++i) busy += i * 0.5;
    EXPECT_GT(busy, 0);
    const int blocking = w.allreduce(1, std::plus<>{});
    EXPECT_EQ(blocking, ranks());
    w.send(right(), 40, round);
    EXPECT_EQ(w.recv<int>(left(), 40), round);
    // waited in another order than started
    r_bar.wait();
    r_a2a.wait();
    r_bcast.wait();
    r_sum.wait();
    std::vector<double> want(1000);
    w.allreduce(doubles_of(me() + round, 1000), want, std::plus<>{});
    EXPECT_EQ(sum, want);
    EXPECT_EQ(root_value, 1000 + round);
    for (int q = 0; q < ranks(); ++q) EXPECT_EQ(got[static_cast<std::size_t>(q)], q * 100 + me());
  }
  // more forms, completed through wait_all
  std::vector<long> inplace(5, me());
  std::vector<long> gathered(static_cast<std::size_t>(ranks()));
  std::vector<long> reduced(1);
  std::vector<std::string> words(static_cast<std::size_t>(ranks()), "w" + std::to_string(me())), words_back;
  long total = 0;
  std::vector<parrun::request> all{w.iallreduce(std::span(inplace), std::plus<>{}),
                                   w.iallgather(std::vector<long>{me()}, std::span(gathered)),
                                   w.ireduce(std::vector<long>{me()}, std::span(reduced), std::plus<>{}, 0),
                                   w.ialltoall(words, words_back), w.iallreduce(long{me()}, total, std::plus<>{})};
  parrun::wait_all(all);
  const long triangle = static_cast<long>(ranks()) * (ranks() - 1) / 2;
  EXPECT_EQ(inplace, std::vector<long>(5, triangle));
  for (int r = 0; r < ranks(); ++r) EXPECT_EQ(gathered[static_cast<std::size_t>(r)], r);
  if (me() == 0) {
    EXPECT_EQ(reduced[0], triangle);
  }
  EXPECT_EQ(total, triangle);
  for (int q = 0; q < ranks(); ++q) EXPECT_EQ(words_back[static_cast<std::size_t>(q)], "w" + std::to_string(q));
}

TEST(NonBlocking, ProgressHappensInsideOtherCallsAndFailuresReachWait) {
  const auto& w = W();
  // rank 0 enters its ibarrier last; the others' barriers complete while they test, not wait
  if (me() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  parrun::request b = w.ibarrier();
  while (!b.test()) (void)w.iprobe(parrun::any_source, 99);
  long bad = 0;
  parrun::request r = w.ibroadcast(bad, ranks() + 5);
  try {
    r.wait();
    ADD_FAILURE() << "no usage_error";
  } catch (const parrun::usage_error& e) {
    EXPECT_TRUE(contains(e.what(), "root=" + std::to_string(ranks() + 5))) << e.what();
  }
  EXPECT_THROW(r.wait(), parrun::usage_error);  // the same failure again
  EXPECT_FALSE(r.cancel());
}

// --- cartesian topologies ------------------------------------------------------------------------

TEST(Cartesian, DimsCreateFactorsEvenlyLargestFirst) {
  EXPECT_EQ(parrun::dims_create(12, 2), (std::vector<int>{4, 3}));
  EXPECT_EQ(parrun::dims_create(8, 3), (std::vector<int>{2, 2, 2}));
  EXPECT_EQ(parrun::dims_create(7, 2), (std::vector<int>{7, 1}));
  EXPECT_EQ(parrun::dims_create(16, 2), (std::vector<int>{4, 4}));
  EXPECT_EQ(parrun::dims_create(1, 3), (std::vector<int>{1, 1, 1}));
  EXPECT_EQ(parrun::dims_create(24, {0, 2, 0}), (std::vector<int>{4, 2, 3}));
  EXPECT_THROW(parrun::dims_create(10, {3, 0}), parrun::usage_error);
  EXPECT_THROW(parrun::dims_create(6, 0), parrun::usage_error);
}

TEST(Cartesian, CoordinatesShiftsAndAHaloExchangeMatchTheGrid) {
  const auto& w = W();
  const std::vector<int> dims = parrun::dims_create(ranks(), 2);
  const parrun::cartesian_communicator grid = w.cartesian(dims, {true, false});
  ASSERT_TRUE(grid.valid());
  EXPECT_EQ(grid.size(), ranks());
  EXPECT_EQ(grid.dims(), dims);
  for (int r = 0; r < ranks(); ++r) {
    const std::vector<int> c = grid.coords(r);
    EXPECT_EQ(c[0], r / dims[1]);  // row-major
    EXPECT_EQ(grid.rank_of(c), r);
  }
  const std::vector<int> c = grid.coords();
  // dim 0 wraps, dim 1 does not
  EXPECT_EQ(grid.rank_of({c[0] + dims[0], c[1]}), grid.rank());
  EXPECT_EQ(grid.rank_of({c[0], -1}), parrun::no_rank);
  const auto [up, down] = grid.shift(0, 1);
  EXPECT_EQ(down, grid.rank_of({(c[0] + 1) % dims[0], c[1]}));
  EXPECT_EQ(up, grid.rank_of({(c[0] - 1 + dims[0]) % dims[0], c[1]}));
  const auto [from_left, to_right] = grid.shift(1, 1);
  EXPECT_EQ(to_right, c[1] + 1 < dims[1] ? grid.rank() + 1 : parrun::no_rank);
  EXPECT_EQ(from_left, c[1] > 0 ? grid.rank() - 1 : parrun::no_rank);
  // every rank sends its coordinates right; the edge keeps its sentinel
  std::vector<int> got{-1, -1};
  grid.sendrecv(to_right, 0, std::span<const int>(c), from_left, 0, std::span(got));
  if (from_left == parrun::no_rank) EXPECT_EQ(got, (std::vector<int>{-1, -1}));
  else EXPECT_EQ(got, (std::vector<int>{c[0], c[1] - 1}));
  // rows and columns as sub-grids
  const parrun::cartesian_communicator row = grid.sub({false, true});
  EXPECT_EQ(row.size(), dims[1]);
  EXPECT_EQ(row.rank(), c[1]);
  EXPECT_EQ(row.allreduce(1, std::plus<>{}), dims[1]);
  const parrun::cartesian_communicator column = grid.sub({true, false});
  EXPECT_EQ(column.size(), dims[0]);
  EXPECT_EQ(column.allreduce(grid.rank(), parrun::min{}), c[1]);
  EXPECT_THROW((void)grid.shift(2, 1), parrun::usage_error);
}

TEST(Cartesian, RanksBeyondTheGridGetAnInvalidCommunicator) {
  const auto& w = W();
  const int places = std::max(1, ranks() - 1);
  const parrun::cartesian_communicator line = w.cartesian({places}, true);
  EXPECT_EQ(line.valid(), me() < places);
  if (line.valid()) {
    EXPECT_EQ(line.size(), places);
    EXPECT_EQ(line.shift(0, 1).dest, (me() + 1) % places);
  }
  try {
    (void)w.cartesian({ranks() + 1, 1}, false);
    ADD_FAILURE() << "no usage_error";
  } catch (const parrun::usage_error& e) {
    EXPECT_TRUE(contains(e.what(), "more places than the communicator's " + std::to_string(ranks()) + " ranks"))
        << e.what();
  }
}

// --- versions and time ---------------------------------------------------------------------------

TEST(Version, MacrosMatchTheLibraryAndWtimeIsMonotonic) {
  const std::string v = std::to_string(PARRUN_VERSION_MAJOR) + "." + std::to_string(PARRUN_VERSION_MINOR) + "." +
                        std::to_string(PARRUN_VERSION_PATCH);
  EXPECT_EQ(v, parrun::version());
  EXPECT_EQ(PARRUN_VERSION, PARRUN_VERSION_MAJOR * 10000 + PARRUN_VERSION_MINOR * 100 + PARRUN_VERSION_PATCH);
  const double a = parrun::wtime();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const double b = parrun::wtime();
  EXPECT_GE(b - a, 0.004);
  EXPECT_GT(parrun::wtick(), 0.0);
  EXPECT_LT(parrun::wtick(), 1e-3);
}

}  // namespace
