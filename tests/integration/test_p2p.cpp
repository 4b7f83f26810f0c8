// Point-to-point messaging under the real launcher (parrun -n 1, 2, 4, 8): every rank runs every
// test. Most tests pass values around the ring (to `right`, from `left`; with one rank, to
// itself), so the same code covers every rank count. After each test the ranks meet (every rank
// hears from every other, so everything sent before has arrived) and check that no message was
// left unreceived. Because a rank that is done with a test may already send the meeting's
// tokens, a receive with any_source AND any_tag only happens while the other ranks wait for the
// receiving rank's release (released_by), and pairs that must not send early wait for a
// handshake.
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include <parrun/parrun.hpp>

#include "rank_main.hpp"

namespace {

using namespace std::chrono_literals;
using parrun::any_source;
using parrun::any_tag;
using parrun::communicator;
using parrun::request;
using parrun::status;
using steady = std::chrono::steady_clock;

// --- types that travel --------------------------------------------------------------------

struct particle {  // raw bytes
  int id;
  double mass;
  char kind;
  friend bool operator==(const particle& a, const particle& b) {
    return a.id == b.id && a.mass == b.mass && a.kind == b.kind;
  }
};

enum class colour : std::uint8_t { red = 1, green, blue };

struct record {  // through Cereal
  std::string name;
  std::vector<int> values;
  std::map<std::string, double> extras;
  template <class Archive>
  void serialize(Archive& a) {
    a(name, values, extras);
  }
  friend bool operator==(const record&, const record&) = default;
};

// Values that depend on the sending rank, with sizes that differ by rank (0 included).
auto values_of(int r) {
  const auto n = static_cast<std::size_t>((r * 37) % 11);  // 0 for rank 0
  std::vector<double> doubles(n);
  std::iota(doubles.begin(), doubles.end(), r + 0.5);
  std::vector<int> ints(n * 3 + 1);
  std::iota(ints.begin(), ints.end(), -r);
  std::vector<char> chars(n, static_cast<char>('a' + r));
  std::string text = "rank " + std::to_string(r) + std::string(n * 100, '#');
  text += '\0';
  text += "after nul";
  std::vector<bool> bits(n * 5 + 3);
  for (std::size_t i = 0; i < bits.size(); ++i)
    bits[i] = (i + static_cast<std::size_t>(r)) % 3 == 0;
  std::map<std::string, std::vector<int>> groups{
      {"empty", {}}, {"rank", {r, r, r}}, {std::string(n, 'k'), ints}};
  std::vector<std::vector<double>> matrix(n, doubles);
  if (!matrix.empty()) matrix.back().clear();
  std::optional<std::string> maybe_text;
  if (r % 2 == 1) maybe_text = text;
  std::optional<int> maybe_int;
  if (r % 2 == 0) maybe_int = r * 11;
  std::variant<int, std::string, std::vector<double>> var;
  if (r % 3 == 0)
    var = r;
  else if (r % 3 == 1)
    var = text;
  else
    var = doubles;
  std::set<int> set(ints.begin(), ints.end());
  std::unordered_map<std::string, int> counts;
  for (std::size_t i = 0; i < n; ++i) counts["key" + std::to_string(i)] = static_cast<int>(i) * r;
  record rec{"record from " + std::to_string(r), ints, {{"pi", 3.14159}, {"r", r}}};
  std::vector<record> records(n % 4, rec);
  std::deque<int> dq(ints.begin(), ints.end());
  std::list<std::string> words{"alpha", text, ""};
  return std::make_tuple(
      r * 7 - 3, r + 0.25, static_cast<char>('A' + r), std::array<int, 4>{r, r + 1, r + 2, r + 3},
      particle{r, r * 1.5, 'p'}, colour::green, r % 2 == 0, doubles, ints, chars, text, bits,
      groups, matrix, maybe_text, maybe_int, var, std::make_tuple(r, text, r * 0.125), set, counts,
      rec, records, std::make_pair(text, r), dq, words, std::array<std::string, 2>{text, "x"});
}
using all_values = decltype(values_of(0));
constexpr int values_tag = 1000;

// --- ranks --------------------------------------------------------------------------------

communicator& world() { return test_world(); }
int me() { return world().rank(); }
int ranks() { return world().size(); }
int right() { return (me() + 1) % ranks(); }
int left() { return (me() + ranks() - 1) % ranks(); }
// My partner in pairs (0,1), (2,3), ...; a rank without one is its own partner.
int partner() {
  const int p = me() ^ 1;
  return p < ranks() ? p : me();
}

constexpr int sync_tag = parrun::max_tag;

// Every rank hears from every other rank (and from itself), so whatever any rank sent before has
// arrived; then nothing but the next round of tokens may wait in the queue. A second round keeps
// every rank from starting the next test (and sending) before all have checked.
void all_to_all_tokens() {
  communicator& w = world();
  for (int r = 0; r < ranks(); ++r) w.send(r, sync_tag, me());
  for (int r = 0; r < ranks(); ++r) EXPECT_EQ(w.recv<int>(r, sync_tag), r);
}

void meet_and_check_nothing_left(const char* test) {
  all_to_all_tokens();
  for (int r = 0; r < ranks(); ++r) {
    // Per sender, the queue keeps order: anything left from this test precedes r's next token.
    const auto st = world().iprobe(r, any_tag);
    if (st && st->tag() != sync_tag)
      ADD_FAILURE() << test << ": rank " << me() << " has an unreceived message from rank " << r
                    << " with tag " << st->tag() << " (" << st->type_name() << ")";
  }
  all_to_all_tokens();
}

class p2p : public testing::Test {
 protected:
  void TearDown() override {
    meet_and_check_nothing_left(testing::UnitTest::GetInstance()->current_test_info()->name());
  }
};

// Polls `ready` until it holds; fails after 60 s (a hang, not a speed target).
template <class F>
bool eventually(F&& ready) {
  const auto give_up = steady::now() + 60s;
  while (!ready()) {
    if (steady::now() > give_up) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// "I am ready for you to send": I tell my left neighbour, and wait for my right one to tell me.
void handshake(int tag) {
  world().send(left(), tag, 0);
  (void)world().recv<int>(right(), tag);
}

// A rank that receives with any_source AND any_tag would also take the next test's messages from
// ranks that are already done; so while `root` does, the others wait here for its release.
void released_by(int root, int tag) {
  if (me() == root) {
    for (int r = 0; r < ranks(); ++r)
      if (r != root) world().send(r, tag, root);
  } else {
    EXPECT_EQ(world().recv<int>(root, tag), root);
  }
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// --- types --------------------------------------------------------------------------------

TEST_F(p2p, every_kind_of_type_travels_around_the_ring) {
  communicator& w = world();
  const all_values mine = values_of(me());
  const all_values expected = values_of(left());
  constexpr std::size_t count = std::tuple_size_v<all_values>;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (w.send(right(), values_tag + static_cast<int>(I), std::get<I>(mine)), ...);
  }
  (std::make_index_sequence<count>{});
  // Receive in reverse order, so that all but the last wait in the unexpected queue.
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&] {
          constexpr std::size_t k = count - 1 - I;
          using T = std::tuple_element_t<k, all_values>;
          T got = w.recv<T>(left(), values_tag + static_cast<int>(k));
          EXPECT_TRUE(got == std::get<k>(expected))
              << "element " << k << " (" << parrun::detail::type_name(parrun::detail::type_of<T>())
              << ")";
        }(),
        ...);
  }
  (std::make_index_sequence<count>{});
}

TEST_F(p2p, recv_into_a_value_returns_the_status) {
  communicator& w = world();
  w.send(right(), 11, std::vector<double>(static_cast<std::size_t>(me() + 1), 1.0 * me()));
  w.send(right(), 12, std::map<std::string, int>{{"r", me()}});
  w.send(right(), 13, "hello");
  w.send(right(), 14, record{"x", {me()}, {}});

  std::vector<double> v{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
  const status st = w.recv(left(), 11, v);
  EXPECT_EQ(st.source(), left());
  EXPECT_EQ(st.tag(), 11);
  EXPECT_EQ(st.bytes(), static_cast<std::size_t>(left() + 1) * sizeof(double));
  EXPECT_TRUE(st.holds<std::vector<double>>());
  EXPECT_FALSE(st.holds<std::vector<float>>());
  EXPECT_FALSE(st.holds<std::vector<int>>());
  EXPECT_EQ(st.type_name(), "std::vector<double>");
  EXPECT_EQ(v, std::vector<double>(static_cast<std::size_t>(left() + 1), 1.0 * left()));

  std::map<std::string, int> m{{"stale", 1}};
  const status sm = w.recv(left(), 12, m);
  EXPECT_EQ(m, (std::map<std::string, int>{{"r", left()}}));
  EXPECT_EQ(sm.type_name(), "std::map<std::string, int>");
  EXPECT_EQ(sm.bytes(), parrun::detail::encode(m).size());
  EXPECT_TRUE((sm.holds<std::map<std::string, int>>()));

  std::string s;
  const status ss = w.recv(any_source, 13, s);  // a string literal arrives as std::string
  EXPECT_EQ(s, "hello");
  EXPECT_EQ(ss.tag(), 13);
  EXPECT_EQ(ss.bytes(), 5u);
  EXPECT_EQ(ss.type_name(), "std::string");

  record rec;
  const status sr = w.recv(left(), any_tag, rec);
  EXPECT_EQ(rec, (record{"x", {left()}, {}}));
  EXPECT_EQ(sr.tag(), 14);
  EXPECT_TRUE(contains(sr.type_name(), "record")) << sr.type_name();
}

TEST_F(p2p, any_source_and_any_tag_receive_from_everyone) {
  communicator& w = world();
  constexpr int per_rank = 5;
  for (int j = 0; j < per_rank; ++j)
    w.send(0, 100 + me() * per_rank + j, std::array<int, 2>{me(), j});
  if (me() == 0) {
    std::vector<int> next(static_cast<std::size_t>(ranks()), 0);
    for (int k = 0; k < ranks() * per_rank; ++k) {
      std::array<int, 2> v{};
      status st;
      if (k % 3 == 0) {
        st = w.recv(any_source, any_tag, v);
      } else if (k % 3 == 1) {
        const status probed = w.probe();  // defaults: any source, any tag
        st = w.recv(probed.source(), probed.tag(), v);
        EXPECT_EQ(st.tag(), probed.tag());
      } else {
        request r = w.irecv(any_source, any_tag, v);
        st = r.wait();
      }
      ASSERT_GE(v[0], 0);
      ASSERT_LT(v[0], ranks());
      EXPECT_EQ(st.source(), v[0]);
      EXPECT_EQ(st.tag(), 100 + v[0] * per_rank + v[1]);
      // Wildcards still keep each sender's order.
      EXPECT_EQ(v[1], next[static_cast<std::size_t>(v[0])]++) << "from rank " << v[0];
    }
    for (int n : next) EXPECT_EQ(n, per_rank);
    EXPECT_FALSE(w.iprobe());
  }
  released_by(0, 99);
  // One wildcard at a time: any source with a given tag, a given source with any tag.
  w.send(right(), 7, me());
  w.send(right(), 8, me() + 1000);
  const status s8 = w.probe(any_source, 8);
  EXPECT_EQ(s8.source(), left());
  EXPECT_EQ(w.recv<int>(any_source, 8), left() + 1000);
  int v7 = -1;
  const status s7 = w.recv(left(), any_tag, v7);
  EXPECT_EQ(v7, left());
  EXPECT_EQ(s7.tag(), 7);
}

TEST_F(p2p, communicators_are_isolated) {
  communicator& w = world();
  communicator other = w.dup();
  ASSERT_TRUE(other.valid());
  EXPECT_EQ(other.rank(), me());
  EXPECT_EQ(other.size(), ranks());
  // Same peer, same tag, the duplicate's message first: a receive on world skips it, even with
  // a wildcard tag, and a receive on the duplicate skips world's.
  other.send(right(), 9, std::string("on the duplicate"));
  w.send(right(), 9, me());
  w.send(right(), 10, me() + 1);
  int v = -1;
  const status st = w.recv(left(), any_tag, v);
  EXPECT_EQ(v, left());
  EXPECT_EQ(st.tag(), 9);
  EXPECT_EQ(other.recv<std::string>(left(), any_tag), "on the duplicate");
  EXPECT_FALSE(other.iprobe(left(), any_tag));
  EXPECT_EQ(w.recv<int>(left(), 10), left() + 1);
}

// --- order --------------------------------------------------------------------------------

struct numbered {
  int seq;
  int tag;
  int sender;
};

TEST_F(p2p, messages_do_not_overtake_per_sender_and_tag) {
  communicator& w = world();
  constexpr int total = 3000;
  for (int seq = 0; seq < total; ++seq) w.send(right(), seq % 3, numbered{seq, seq % 3, me()});
  // Tag 2 first: the tag-0 and tag-1 messages sent before each one wait in the queue.
  for (int seq = 2; seq < total; seq += 3) {
    const auto m = w.recv<numbered>(left(), 2);
    ASSERT_EQ(m.seq, seq);
    ASSERT_EQ(m.sender, left());
  }
  // Then the rest with any_tag: exactly in send order, tags interleaved.
  for (int seq = 0; seq < total; ++seq) {
    if (seq % 3 == 2) continue;
    numbered m{};
    const status st = w.recv(left(), any_tag, m);
    ASSERT_EQ(m.seq, seq);
    ASSERT_EQ(st.tag(), seq % 3);
  }
}

TEST_F(p2p, many_senders_keep_their_own_order_under_wildcards) {
  communicator& w = world();
  constexpr int per_peer = 300;
  // Each rank in turn receives from everyone (itself too); the senders alternate blocking and
  // non-blocking sends and four tags.
  for (int root = 0; root < ranks(); ++root) {
    std::vector<request> sends;
    for (int seq = 0; seq < per_peer; ++seq) {
      const int tag = 20 + seq % 4;
      if (seq % 2 == 0)
        w.send(root, tag, numbered{seq, tag, me()});
      else
        sends.push_back(w.isend(root, tag, numbered{seq, tag, me()}));
    }
    if (me() == root) {
      std::vector<int> next(static_cast<std::size_t>(ranks()), 0);
      for (int k = 0; k < per_peer * ranks(); ++k) {
        numbered m{};
        const status st = w.recv(any_source, any_tag, m);
        ASSERT_EQ(st.source(), m.sender);
        ASSERT_EQ(st.tag(), m.tag);
        ASSERT_EQ(m.seq, next[static_cast<std::size_t>(m.sender)]++) << "from rank " << m.sender;
      }
    }
    parrun::wait_all(sends);
    released_by(root, 24);
  }
}

// --- non-blocking -------------------------------------------------------------------------

TEST_F(p2p, irecv_completes_on_wait_and_decodes_then) {
  communicator& w = world();
  int v = -1;
  request req = w.irecv(left(), 30, v);
  EXPECT_TRUE(req.pending());
  EXPECT_FALSE(req.test());  // nobody sent yet: left waits for my handshake
  handshake(31);
  w.send(right(), 30, 1000 + me());
  const status st = req.wait();
  EXPECT_EQ(v, 1000 + left());
  EXPECT_EQ(st.source(), left());
  EXPECT_EQ(st.tag(), 30);
  EXPECT_EQ(st.bytes(), sizeof(int));
  EXPECT_TRUE(st.holds<int>());
  EXPECT_FALSE(req.pending());
  // Waiting again is harmless and gives the same status.
  const status again = req.wait();
  EXPECT_EQ(again.source(), st.source());
  EXPECT_EQ(again.tag(), st.tag());
  ASSERT_TRUE(req.test());
}

TEST_F(p2p, test_makes_progress_until_the_message_is_there) {
  communicator& w = world();
  std::string s;
  request req = w.irecv(left(), 32, s);
  handshake(33);
  w.send(right(), 32, std::string(5000, static_cast<char>('a' + me() % 26)));
  std::optional<status> st;
  EXPECT_TRUE(eventually([&] { return (st = req.test()).has_value(); }));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->source(), left());
  EXPECT_EQ(s, std::string(5000, static_cast<char>('a' + left() % 26)));
}

TEST_F(p2p, wait_all_and_test_all_over_sends_and_receives) {
  communicator& w = world();
  constexpr int n = 10;
  std::vector<std::vector<double>> got(n);
  std::vector<request> reqs;
  // Receives posted in reverse tag order.
  for (int k = n - 1; k >= 0; --k)
    reqs.push_back(w.irecv(left(), 40 + k, got[static_cast<std::size_t>(k)]));
  EXPECT_FALSE(parrun::test_all(reqs));  // left sends only after my handshake
  handshake(39);
  for (int k = 0; k < n; ++k)
    reqs.push_back(
        w.isend(right(), 40 + k, std::vector<double>(static_cast<std::size_t>(k * 100), me() + k)));
  const std::vector<status> sts = parrun::wait_all(reqs);
  ASSERT_EQ(sts.size(), reqs.size());
  for (int i = 0; i < n; ++i) {
    const int k = n - 1 - i;
    EXPECT_EQ(sts[static_cast<std::size_t>(i)].source(), left());
    EXPECT_EQ(sts[static_cast<std::size_t>(i)].tag(), 40 + k);
    EXPECT_EQ(got[static_cast<std::size_t>(k)],
              std::vector<double>(static_cast<std::size_t>(k * 100), left() + k));
  }
  for (const request& r : reqs) EXPECT_FALSE(r.pending());
  EXPECT_TRUE(parrun::test_all(reqs));
  std::vector<request> none;
  EXPECT_TRUE(parrun::wait_all(none).empty());
  EXPECT_TRUE(parrun::test_all(none));
}

TEST_F(p2p, wait_any_returns_the_request_that_completed) {
  communicator& w = world();
  int a = -1, b = -1;
  std::vector<request> reqs;
  reqs.push_back(w.irecv(left(), 50, a));
  reqs.push_back(w.irecv(left(), 51, b));
  // Only tag 51 is sent until I acknowledge it.
  w.send(right(), 51, me() + 510);
  auto [first, st1] = parrun::wait_any(reqs);
  EXPECT_EQ(first, 1u);
  EXPECT_EQ(st1.tag(), 51);
  EXPECT_EQ(b, left() + 510);
  EXPECT_EQ(a, -1);
  EXPECT_TRUE(reqs[0].pending());
  EXPECT_FALSE(reqs[1].pending());
  handshake(52);
  w.send(right(), 50, me() + 500);
  auto [second, st2] = parrun::wait_any(reqs);
  EXPECT_EQ(second, 0u);
  EXPECT_EQ(st2.tag(), 50);
  EXPECT_EQ(a, left() + 500);
  try {
    (void)parrun::wait_any(reqs);
    ADD_FAILURE() << "wait_any with nothing pending returned";
  } catch (const parrun::usage_error& e) {
    EXPECT_TRUE(contains(e.what(), "wait_any")) << e.what();
  }
}

TEST_F(p2p, default_request_is_already_complete) {
  request r;
  EXPECT_FALSE(r.pending());
  EXPECT_TRUE(r.test());
  const status st = r.wait();
  EXPECT_EQ(st.source(), -1);
  EXPECT_EQ(r.wait_for(1ms).bytes(), 0u);
}

// --- probe --------------------------------------------------------------------------------

TEST_F(p2p, probe_then_receive_by_the_probed_type) {
  communicator& w = world();
  if (me() % 2 == 0)
    w.send(right(), 60, std::vector<int>(static_cast<std::size_t>(me() + 3), me()));
  else
    w.send(right(), 60, std::string(static_cast<std::size_t>(me() + 3), 'o'));
  w.send(right(), 61, record{"probed", {me()}, {}});

  const status st = w.probe(left(), any_tag);
  EXPECT_EQ(st.tag(), 60);  // the earlier message
  EXPECT_EQ(st.source(), left());
  if (st.holds<std::vector<int>>()) {
    EXPECT_EQ(left() % 2, 0);
    EXPECT_EQ(st.type_name(), "std::vector<int>");
    const auto v = w.recv<std::vector<int>>(st.source(), st.tag());
    EXPECT_EQ(v, std::vector<int>(static_cast<std::size_t>(left() + 3), left()));
    EXPECT_EQ(st.bytes(), v.size() * sizeof(int));
  } else if (st.holds<std::string>()) {
    EXPECT_EQ(left() % 2, 1);
    EXPECT_EQ(st.type_name(), "std::string");
    const auto s = w.recv<std::string>(st.source(), st.tag());
    EXPECT_EQ(s, std::string(static_cast<std::size_t>(left() + 3), 'o'));
    EXPECT_EQ(st.bytes(), s.size());
  } else {
    ADD_FAILURE() << "probed a " << st.type_name();
  }
  const status sr = w.probe(any_source, 61);
  EXPECT_TRUE(sr.holds<record>());
  EXPECT_EQ(sr.tag(), 61);
  EXPECT_EQ(w.recv<record>(sr.source(), sr.tag()).values, std::vector<int>{left()});
}

TEST_F(p2p, iprobe_sees_a_message_without_receiving_it) {
  communicator& w = world();
  EXPECT_FALSE(w.iprobe(any_source, 62));  // nobody sends tag 62 before the handshake
  EXPECT_FALSE(w.iprobe(left(), 62));
  handshake(63);
  w.send(right(), 62, 6.5 * me());
  std::optional<status> st;
  EXPECT_TRUE(eventually([&] { return (st = w.iprobe(left(), 62)).has_value(); }));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->source(), left());
  EXPECT_TRUE(st->holds<double>());
  EXPECT_EQ(st->bytes(), sizeof(double));
  const auto again = w.iprobe(any_source, 62);  // still there
  ASSERT_TRUE(again);
  EXPECT_EQ(again->tag(), 62);
  EXPECT_EQ(w.recv<double>(left(), 62), 6.5 * left());
  EXPECT_FALSE(w.iprobe(left(), 62));
}

// --- sendrecv -----------------------------------------------------------------------------

TEST_F(p2p, sendrecv_shifts_around_the_ring) {
  communicator& w = world();
  EXPECT_EQ(w.sendrecv<int>(right(), 70, me(), left(), 70), left());
  // Pass a growing list all the way round: it comes back holding every rank.
  std::vector<int> trail{me()};
  for (int step = 1; step < ranks(); ++step) {
    std::vector<int> in;
    const status st = w.sendrecv(right(), 71, trail, left(), 71, in);
    EXPECT_EQ(st.source(), left());
    EXPECT_EQ(st.tag(), 71);
    trail = std::move(in);
    trail.push_back(me());
  }
  ASSERT_EQ(trail.size(), static_cast<std::size_t>(ranks()));
  for (int i = 0; i < ranks(); ++i)
    EXPECT_EQ(trail[static_cast<std::size_t>(i)], (me() + 1 + i) % ranks());
  // Everyone shifts 4 MiB at once: no deadlock.
  const std::vector<std::uint32_t> big(1 << 20, static_cast<std::uint32_t>(me()));
  const auto back = w.sendrecv<std::vector<std::uint32_t>>(right(), 72, big, left(), 72);
  EXPECT_EQ(back, std::vector<std::uint32_t>(1 << 20, static_cast<std::uint32_t>(left())));
}

// --- timeouts -----------------------------------------------------------------------------

TEST_F(p2p, recv_with_a_timeout_throws_timeout_error_and_takes_nothing) {
  communicator& w = world();
  const auto t0 = steady::now();
  try {
    (void)w.recv<int>(any_source, 80, 200ms);
    ADD_FAILURE() << "received a message nobody sent";
  } catch (const parrun::timeout_error& e) {
    EXPECT_GE(steady::now() - t0, 200ms);
    EXPECT_TRUE(contains(e.what(), "recv(source=any, tag=80)")) << e.what();
    EXPECT_TRUE(contains(e.what(), "rank " + std::to_string(me()))) << e.what();
  }
  int v = -1;
  try {
    (void)w.recv(left(), 80, v, 50ms);
    ADD_FAILURE() << "received a message nobody sent";
  } catch (const parrun::timeout_error& e) {
    EXPECT_TRUE(contains(e.what(), "source=" + std::to_string(left()))) << e.what();
  }
  // The timed-out receives were withdrawn: the message sent now goes to the next receive.
  handshake(81);
  w.send(right(), 80, me());
  EXPECT_EQ(w.recv<int>(left(), 80, 60s), left());
  // A message already there is received at once, whatever the timeout.
  w.send(me(), 82, 42);
  EXPECT_EQ(w.recv<int>(me(), 82, 0ms), 42);
}

TEST_F(p2p, recv_with_a_zero_timeout_receives_a_message_that_has_arrived) {
  // A polling loop of zero-timeout receives must see a message once it has arrived.
  communicator& w = world();
  handshake(85);
  w.send(right(), 86, me());
  std::optional<int> got;
  int tries = 0;
  const auto give_up = steady::now() + 3s;  // it arrives within milliseconds
  while (!got && steady::now() < give_up) {
    try {
      got = w.recv<int>(left(), 86, 0ms);
    } catch (const parrun::timeout_error&) {
      ++tries;
      std::this_thread::sleep_for(1ms);
    }
  }
  if (!got) {
    EXPECT_EQ(w.recv<int>(left(), 86), left());  // it was there all along: keep in step
  }
  ASSERT_TRUE(got) << tries << " zero-timeout receives in 3 s saw nothing";
  EXPECT_EQ(*got, left());
}

TEST_F(p2p, request_wait_for_zero_completes_once_the_message_has_arrived) {
  communicator& w = world();
  int v = -1;
  request req = w.irecv(left(), 87, v);
  handshake(88);
  w.send(right(), 87, me());
  bool done = false;
  int tries = 0;
  const auto give_up = steady::now() + 3s;
  while (!done && steady::now() < give_up) {
    try {
      (void)req.wait_for(0ms);
      done = true;
    } catch (const parrun::timeout_error&) {
      ++tries;
      std::this_thread::sleep_for(1ms);
    }
  }
  if (!done) (void)req.wait();  // keep in step with the sender
  ASSERT_TRUE(done) << tries << " zero-timeout waits in 3 s saw nothing";
  EXPECT_EQ(v, left());
}

TEST_F(p2p, request_wait_for_throws_timeout_error_while_pending) {
  communicator& w = world();
  std::vector<int> v;
  request req = w.irecv(left(), 83, v);
  const auto t0 = steady::now();
  try {
    (void)req.wait_for(100ms);
    ADD_FAILURE() << "wait_for completed before anything was sent";
  } catch (const parrun::timeout_error& e) {
    EXPECT_GE(steady::now() - t0, 100ms);
    EXPECT_TRUE(contains(e.what(), "irecv")) << e.what();
  }
  EXPECT_TRUE(req.pending());
  EXPECT_TRUE(v.empty());
  handshake(84);
  w.send(right(), 83, std::vector<int>{me(), me()});
  const status st = req.wait_for(60s);
  EXPECT_EQ(st.source(), left());
  EXPECT_EQ(v, (std::vector<int>{left(), left()}));
  EXPECT_FALSE(req.pending());
}

// --- errors -------------------------------------------------------------------------------

TEST_F(p2p, receiving_as_another_type_throws_type_mismatch_naming_both_types_source_and_tag) {
  communicator& w = world();
  w.send(right(), 90, std::vector<double>{1.0, 2.0});
  try {
    (void)w.recv<std::vector<int>>(left(), 90);
    ADD_FAILURE() << "a vector<double> was received as a vector<int>";
  } catch (const parrun::type_mismatch& e) {
    const std::string what = e.what();
    EXPECT_TRUE(contains(what, "std::vector<double>")) << what;
    EXPECT_TRUE(contains(what, "std::vector<int>")) << what;
    EXPECT_TRUE(contains(what, "from rank " + std::to_string(left()))) << what;
    EXPECT_TRUE(contains(what, "tag 90")) << what;
    EXPECT_TRUE(contains(what, "on rank " + std::to_string(me()))) << what;
  }
  // The refused message stays queued, in its place: probe sees it, the right type gets it.
  ASSERT_TRUE(w.iprobe(left(), 90).has_value());
  EXPECT_TRUE(w.iprobe(left(), 90)->holds<std::vector<double>>());
  EXPECT_EQ(w.recv<std::vector<double>>(left(), 90), (std::vector<double>{1.0, 2.0}));
  // Same size, different type: still refused (no reinterpretation of the bytes).
  w.send(right(), 91, 1.0f);
  EXPECT_THROW((void)w.recv<int>(left(), 91), parrun::type_mismatch);
  EXPECT_EQ(w.recv<float>(left(), 91), 1.0f);
  // A struct received as a string, through irecv: thrown by wait.
  w.send(right(), 92, record{"r", {}, {}});
  std::string s;
  request req = w.irecv(left(), 92, s);
  try {
    (void)req.wait();
    ADD_FAILURE() << "a record was received as a std::string";
  } catch (const parrun::type_mismatch& e) {
    EXPECT_TRUE(contains(e.what(), "record")) << e.what();
    EXPECT_TRUE(contains(e.what(), "std::string")) << e.what();
    EXPECT_TRUE(contains(e.what(), "tag 92")) << e.what();
  }
  EXPECT_FALSE(req.pending());
  EXPECT_EQ(w.recv<record>(left(), 92).name, "r");
  // A matched irecv that is abandoned (destroyed unfinished) gives its message back.
  w.send(right(), 94, 41);
  w.send(right(), 96, 0);
  {
    int lost = 0;
    request abandoned = w.irecv(left(), 94, lost);
    // Tag 94 was sent before tag 96 by the same rank: once 96 is here, 94 matched the irecv.
    EXPECT_EQ(w.recv<int>(left(), 96), 0);
  }
  EXPECT_EQ(w.recv<int>(left(), 94), 41);
  // The pair still talks afterwards.
  w.send(right(), 93, me());
  EXPECT_EQ(w.recv<int>(left(), 93), left());
}

template <class F>
void expect_usage_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no usage_error";
  } catch (const parrun::usage_error& e) {
    for (const std::string& p : parts)
      EXPECT_TRUE(contains(e.what(), p)) << "'" << p << "' missing from: " << e.what();
  }
}

TEST_F(p2p, bad_ranks_and_tags_are_usage_errors_that_name_them) {
  communicator& w = world();
  const std::string n = std::to_string(ranks());
  const std::string mine = "rank " + std::to_string(me());
  expect_usage_error([&] { w.send(ranks(), 0, 1); }, {"dest=" + n, mine, "size " + n});
  expect_usage_error([&] { w.send(-1, 0, 1); }, {"dest=-1"});  // any_source is no destination
  expect_usage_error([&] { w.send(1 << 20, 0, 1); }, {"dest=1048576"});
  expect_usage_error([&] { (void)w.isend(ranks() + 3, 0, 1); },
                     {"isend", "dest=" + std::to_string(ranks() + 3)});
  expect_usage_error([&] { (void)w.recv<int>(ranks(), 0); }, {"recv", "source=" + n});
  expect_usage_error([&] { (void)w.recv<int>(-3, 0); }, {"source=-3"});  // -2 is parrun::no_rank
  int v = 0;
  expect_usage_error([&] { (void)w.irecv(ranks(), 0, v); }, {"irecv", "source=" + n});
  expect_usage_error([&] { (void)w.probe(ranks(), 0); }, {"probe", "source=" + n});
  expect_usage_error([&] { (void)w.iprobe(-7, 0); }, {"iprobe", "source=-7"});
  expect_usage_error([&] { w.send(right(), -1, 1); },
                     {"tag=-1", mine});  // any_tag is no tag to send
  expect_usage_error([&] { w.send(right(), -5, 1); }, {"tag=-5"});
  expect_usage_error([&] { w.send(right(), parrun::max_tag + 1, 1); },
                     {"tag=" + std::to_string(parrun::max_tag + 1)});
  expect_usage_error([&] { (void)w.isend(right(), -3, 1); }, {"isend", "tag=-3"});
  expect_usage_error([&] { (void)w.recv<int>(left(), -4); }, {"recv", "tag=-4"});
  expect_usage_error([&] { (void)w.irecv(left(), parrun::max_tag + 1, v); }, {"irecv", "tag="});
  expect_usage_error([&] { (void)w.iprobe(any_source, -9); }, {"iprobe", "tag=-9"});
  expect_usage_error([&] { (void)w.sendrecv<int>(ranks(), 0, 1, left(), 0); }, {"dest=" + n});
  // The edges are fine.
  w.send(me(), parrun::max_tag - 1, 5);
  w.send(me(), 0, 6);
  EXPECT_EQ(w.recv<int>(me(), parrun::max_tag - 1), 5);
  EXPECT_EQ(w.recv<int>(me(), 0), 6);
  w.send(ranks() - 1, 0, 7);
  if (me() == ranks() - 1) {
    for (int r = 0; r < ranks(); ++r) EXPECT_EQ(w.recv<int>(r, 0), 7);
  }
}

TEST_F(p2p, an_invalid_communicator_is_a_usage_error) {
  communicator none;
  EXPECT_FALSE(none.valid());
  EXPECT_TRUE(world().valid());
  EXPECT_THROW((void)none.rank(), parrun::usage_error);
  EXPECT_THROW((void)none.size(), parrun::usage_error);
  EXPECT_THROW(none.send(0, 0, 1), parrun::usage_error);
  EXPECT_THROW((void)none.recv<int>(0, 0), parrun::usage_error);
  EXPECT_THROW((void)none.iprobe(), parrun::usage_error);
}

// --- special messages ---------------------------------------------------------------------

TEST_F(p2p, a_rank_sends_to_itself) {
  communicator& w = world();
  w.send(me(), 100, std::string("to myself"));
  EXPECT_EQ(w.recv<std::string>(me(), 100), "to myself");
  // Before the receive or after it, blocking or not, in order.
  int x = -1;
  request r = w.irecv(me(), 101, x);
  for (int i = 0; i < 100; ++i) w.send(me(), 102, i);
  request s = w.isend(me(), 101, 77);
  EXPECT_EQ(r.wait().source(), me());
  EXPECT_EQ(x, 77);
  (void)s.wait();
  for (int i = 0; i < 100; ++i) EXPECT_EQ(w.recv<int>(any_source, 102), i);
  std::vector<double> big(1 << 20, 2.5);
  w.send(me(), 103, big);
  EXPECT_EQ(w.recv<std::vector<double>>(me(), 103), big);
  w.send(me(), 104, std::move(big));
  EXPECT_EQ(w.recv<std::vector<double>>(me(), 104).size(), std::size_t{1} << 20);
}

TEST_F(p2p, zero_size_messages) {
  communicator& w = world();
  w.send(right(), 110, std::vector<double>{});
  w.send(right(), 111, std::string());
  w.send(right(), 112, std::vector<int>{});
  w.send(right(), 113, std::map<int, int>{});
  w.send(right(), 114, std::vector<bool>{});
  w.send(right(), 115, "");

  std::vector<double> d{1, 2, 3};
  const status sd = w.recv(left(), 110, d);
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(sd.bytes(), 0u);
  EXPECT_TRUE(sd.holds<std::vector<double>>());
  std::string s = "stale";
  EXPECT_EQ(w.recv(left(), 111, s).bytes(), 0u);
  EXPECT_TRUE(s.empty());
  std::vector<int> i{4};
  request r = w.irecv(left(), 112, i);
  EXPECT_EQ(r.wait().bytes(), 0u);
  EXPECT_TRUE(i.empty());
  EXPECT_TRUE((w.recv<std::map<int, int>>(left(), 113).empty()));
  EXPECT_TRUE(w.recv<std::vector<bool>>(left(), 114).empty());
  EXPECT_EQ(w.recv<std::string>(left(), 115), "");
}

constexpr std::uint64_t golden = 0x9e3779b97f4a7c15;

TEST_F(p2p, a_64_mib_message) {
  // Ranks 0 and 1 exchange 64 MiB (rank 0 alone sends it to itself); the rest sit this one out,
  // which keeps 8 ranks on a small machine from paging in gigabytes.
  if (me() > 1) return;
  communicator& w = world();
  const int peer = partner();
  constexpr std::size_t words = (64u << 20) / sizeof(std::uint64_t);
  std::vector<std::uint64_t> out(words);
  for (std::size_t i = 0; i < words; ++i) out[i] = i * golden + static_cast<std::uint64_t>(me());
  w.send(peer, 120, out);
  std::vector<std::uint64_t> in;
  const status st = w.recv(peer, 120, in);
  EXPECT_EQ(st.bytes(), std::size_t{64} << 20);
  ASSERT_EQ(in.size(), words);
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < words; ++i)
    if (in[i] != i * golden + static_cast<std::uint64_t>(peer)) ++wrong;
  EXPECT_EQ(wrong, 0u);
  // The sent vector was not touched.
  EXPECT_EQ(out[words - 1], (words - 1) * golden + static_cast<std::uint64_t>(me()));
}

TEST_F(p2p, an_rvalue_vector_is_handed_over_not_copied) {
  communicator& w = world();
  std::vector<std::int32_t> v(1 << 20);
  std::iota(v.begin(), v.end(), me());
  w.send(right(), 130, std::move(v));
  EXPECT_TRUE(v.empty())
      << "the vector's storage was copied, not taken";  // NOLINT(bugprone-use-after-move)
  std::vector<std::int32_t> w2(1 << 18, me());
  request r = w.isend(right(), 131, std::move(w2));
  EXPECT_TRUE(w2.empty());  // NOLINT(bugprone-use-after-move)
  std::vector<std::int32_t> small{me(), 1, 2};
  w.send(right(), 132, std::move(small));

  const auto got = w.recv<std::vector<std::int32_t>>(left(), 130);
  ASSERT_EQ(got.size(), std::size_t{1} << 20);
  std::vector<std::int32_t> expect(1 << 20);
  std::iota(expect.begin(), expect.end(), left());
  EXPECT_EQ(got, expect);
  EXPECT_EQ(w.recv<std::vector<std::int32_t>>(left(), 131),
            std::vector<std::int32_t>(1 << 18, left()));
  EXPECT_EQ(w.recv<std::vector<std::int32_t>>(left(), 132),
            (std::vector<std::int32_t>{left(), 1, 2}));
  (void)r.wait();
}

// --- flow control -------------------------------------------------------------------------

TEST_F(p2p, two_ranks_send_each_other_10000_messages_before_receiving_any) {
  communicator& w = world();
  constexpr int count = 10000;
  for (int i = 0; i < count; ++i) w.send(partner(), 140, i);
  for (int i = 0; i < count; ++i) ASSERT_EQ(w.recv<int>(partner(), 140), i);
}

TEST_F(p2p, two_ranks_send_each_other_10000_2_kib_messages_before_receiving_any) {
  communicator& w = world();
  constexpr int count = 10000;
  std::vector<std::uint32_t> msg(512);
  for (int i = 0; i < count; ++i) {
    std::fill(msg.begin(), msg.end(), static_cast<std::uint32_t>(i));
    w.send(partner(), 141, msg);
  }
  for (int i = 0; i < count; ++i) {
    const auto got = w.recv<std::vector<std::uint32_t>>(partner(), 141);
    ASSERT_EQ(got.size(), 512u);
    ASSERT_EQ(got.front(), static_cast<std::uint32_t>(i));
    ASSERT_EQ(got.back(), static_cast<std::uint32_t>(i));
  }
}

TEST_F(p2p, everyone_isends_to_everyone_then_waits) {
  communicator& w = world();
  constexpr int per_peer = 2000;
  std::vector<request> sends;
  sends.reserve(static_cast<std::size_t>(per_peer * ranks()));
  for (int i = 0; i < per_peer; ++i)
    for (int d = 0; d < ranks(); ++d) sends.push_back(w.isend(d, 150, std::array<int, 2>{me(), i}));
  std::vector<int> next(static_cast<std::size_t>(ranks()), 0);
  for (int k = 0; k < per_peer * ranks(); ++k) {
    const auto m = w.recv<std::array<int, 2>>(any_source, 150);
    ASSERT_EQ(m[1], next[static_cast<std::size_t>(m[0])]++);
  }
  const auto sts = parrun::wait_all(sends);
  EXPECT_EQ(sts.size(), sends.size());
}

}  // namespace
