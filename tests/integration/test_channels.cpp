// Channels, select and the rank pool, run by every rank of a parrun job.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <map>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <parrun/parrun.hpp>

#include "rank_main.hpp"

using namespace std::chrono_literals;

namespace {

parrun::communicator& W() { return test_world(); }

double wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Pairs rank 2k with 2k+1; an odd rank out sits the test out (so these tests use no
// collective on the world, only the pair).
int partner() {
  const int me = W().rank();
  const int other = me % 2 == 0 ? me + 1 : me - 1;
  return other < W().size() ? other : -1;
}

// Both partners reach this point before either goes on.
void meet(int peer) { W().sendrecv<int>(peer, 90, 0, peer, 90); }

TEST(Channels, OrderedInBothDirections) {
  const int peer = partner();
  if (peer < 0) GTEST_SKIP() << "no partner";
  // Both ends send 8 (the capacity) at a time, then receive the other's 8: each direction is
  // its own FIFO. (Sending more than the capacity before receiving would deadlock, as in Go.)
  auto ch = W().channel<std::string>(peer, 1, 8);
  for (int round = 0; round < 25; ++round) {
    for (int i = round * 8; i < round * 8 + 8; ++i) ch.send("from " + std::to_string(W().rank()) + " #" + std::to_string(i));
    for (int i = round * 8; i < round * 8 + 8; ++i)
      EXPECT_EQ(ch.recv(), "from " + std::to_string(peer) + " #" + std::to_string(i));
  }
}

TEST(Channels, UnbufferedSendCompletesOnlyWhenReceived) {
  const int peer = partner();
  if (peer < 0) GTEST_SKIP() << "no partner";
  auto ch = W().channel<int>(peer, 2, 0);
  const bool sender = W().rank() < peer;
  if (sender) {
    ch.send(7);  // the receiver waits 300 ms before it receives
    const double returned = wall_now();
    const double receive_started = W().recv<double>(peer, 99);
    EXPECT_GE(returned, receive_started) << "send returned before the receive began";
  } else {
    std::this_thread::sleep_for(300ms);
    const double started = wall_now();
    EXPECT_EQ(ch.recv(), 7);
    W().send(peer, 99, started);
  }
}

TEST(Channels, CapacityBackpressureAndTrySend) {
  const int peer = partner();
  if (peer < 0) GTEST_SKIP() << "no partner";
  auto ch = W().channel<int>(peer, 3, 4);
  const bool sender = W().rank() < peer;
  if (sender) {
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(ch.try_send(i));
    EXPECT_FALSE(ch.try_send(4)) << "a 5th value fits into capacity 4";
    W().send(peer, 98, 0);  // "you may receive one"
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    bool sent = false;
    while (!sent && std::chrono::steady_clock::now() < give_up) sent = ch.try_send(4);
    EXPECT_TRUE(sent);
    EXPECT_FALSE(ch.try_send(5));
    W().send(peer, 98, 1);
  } else {
    W().recv<int>(peer, 98);
    EXPECT_EQ(ch.recv(), 0);
    W().recv<int>(peer, 98);
    for (int i = 1; i <= 4; ++i) EXPECT_EQ(ch.recv(), i);
    EXPECT_FALSE(ch.try_recv().has_value());
  }
}

TEST(Channels, UnbufferedTrySendNeedsAWaitingReceiver) {
  const int peer = partner();
  if (peer < 0) GTEST_SKIP() << "no partner";
  auto ch = W().channel<int>(peer, 4, 0);
  if (W().rank() < peer) {
    EXPECT_FALSE(ch.try_send(1)) << "nobody is receiving yet";
    W().send(peer, 97, 0);
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    bool sent = false;
    while (!sent && std::chrono::steady_clock::now() < give_up) sent = ch.try_send(2);
    EXPECT_TRUE(sent);
  } else {
    W().recv<int>(peer, 97);
    EXPECT_EQ(ch.recv(), 2);
  }
}

TEST(Channels, CloseDeliversEverythingInFlightThenEnds) {
  const int peer = partner();
  if (peer < 0) GTEST_SKIP() << "no partner";
  auto ch = W().channel<std::vector<double>>(peer, 5, 16);
  if (W().rank() < peer) {
    for (int i = 0; i < 100; ++i) ch.send(std::vector<double>(static_cast<std::size_t>(i), i));
    ch.close();
    EXPECT_THROW(ch.send({1.0}), parrun::channel_closed);
  } else {
    int n = 0;
    for (std::vector<double>& v : ch) {
      EXPECT_EQ(v.size(), static_cast<std::size_t>(n));
      ++n;
    }
    EXPECT_EQ(n, 100);
    EXPECT_TRUE(ch.closed());
    EXPECT_THROW(ch.recv(), parrun::channel_closed);
    EXPECT_FALSE(ch.try_recv().has_value());
  }
}

TEST(Channels, RecvForTimesOut) {
  const int peer = partner();
  if (peer < 0) GTEST_SKIP() << "no partner";
  auto ch = W().channel<int>(peer, 6, 1);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(ch.recv_for(100ms).has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 100ms);
  meet(peer);
  ch.send(W().rank());
  EXPECT_EQ(ch.recv_for(10s), std::optional<int>(peer));
}

TEST(Channels, TypeMismatchBetweenTheEnds) {
  const int peer = partner();
  if (peer < 0) GTEST_SKIP() << "no partner";
  if (W().rank() < peer) {
    auto ch = W().channel<int>(peer, 7, 2);
    ch.send(42);
    W().recv<int>(peer, 96);
  } else {
    auto ch = W().channel<double>(peer, 7, 2);
    try {
      ch.recv();
      ADD_FAILURE() << "no type_mismatch";
    } catch (const parrun::type_mismatch& e) {
      EXPECT_NE(std::string(e.what()).find("int"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("double"), std::string::npos) << e.what();
    }
    W().send(peer, 96, 0);
  }
}

TEST(Channels, OpeningTheSameChannelTwiceIsAnError) {
  const int peer = partner();
  if (peer < 0) GTEST_SKIP() << "no partner";
  auto ch = W().channel<int>(peer, 8, 1);
  EXPECT_THROW(W().channel<int>(peer, 8, 1), parrun::usage_error);
  EXPECT_THROW(W().channel<int>(peer, -1, 1), parrun::usage_error);
  EXPECT_THROW(W().channel<int>(peer, 9, -1), parrun::usage_error);
}

TEST(Channels, FanInFromEveryOtherRank) {
  auto& w = W();
  if (w.size() < 2) GTEST_SKIP();
  if (w.rank() == 0) {
    auto in = w.channel<std::pair<int, int>>(parrun::any_source, 10, 4);
    std::map<int, int> next;  // per producer: values arrive in order
    int total = 0;
    for (auto& [from, i] : in) {
      EXPECT_EQ(i, next[from]++);
      ++total;
    }
    EXPECT_EQ(total, 50 * (w.size() - 1));
  } else {
    auto out = w.channel<std::pair<int, int>>(0, 10, 4);
    for (int i = 0; i < 50; ++i) out.send({w.rank(), i});
    out.close();
  }
}

TEST(Select, PicksReadyCasesAtRandom) {
  const int peer = partner();
  if (peer < 0) GTEST_SKIP() << "no partner";
  // Each channel holds 10,000 values before the selects start, so both cases are ready in
  // every one of the 10,000 selects.
  const int rounds = 10000;
  auto a = W().channel<int>(peer, 11, rounds), b = W().channel<int>(peer, 12, rounds);
  if (W().rank() < peer) {
    for (int i = 0; i < rounds; ++i) {
      a.send(1);
      b.send(2);
    }
    W().send(peer, 95, 0);  // after all the values, on the same ordered path
    W().recv<int>(peer, 95);
  } else {
    W().recv<int>(peer, 95);
    int from_a = 0, from_b = 0;
    for (int i = 0; i < rounds; ++i)
      parrun::select(parrun::on_recv(a, [&](int v) { from_a += v == 1; }),
                     parrun::on_recv(b, [&](int v) { from_b += v == 2; }));
    EXPECT_EQ(from_a + from_b, rounds);
    const double share = static_cast<double>(from_a) / rounds;
    EXPECT_GT(share, 0.40) << from_a << " from a, " << from_b << " from b";
    EXPECT_LT(share, 0.60) << from_a << " from a, " << from_b << " from b";
    for (int i = from_a; i < rounds; ++i) a.recv();
    for (int i = from_b; i < rounds; ++i) b.recv();
    W().send(peer, 95, 0);
  }
}

TEST(Select, AfterOtherwiseAndClosure) {
  const int peer = partner();
  if (peer < 0) GTEST_SKIP() << "no partner";
  auto ch = W().channel<int>(peer, 13, 1);
  std::string what;
  // Nothing sent yet: otherwise runs at once; after runs after its time.
  parrun::select(parrun::on_recv(ch, [&](int) { what = "value"; }), parrun::otherwise([&] { what = "default"; }));
  EXPECT_EQ(what, "default");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(parrun::select(parrun::on_recv(ch, [&](int) { what = "value"; }), parrun::after(80ms, [&] { what = "timeout"; })), 1u);
  EXPECT_EQ(what, "timeout");
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 80ms);
  meet(peer);
  // A send case and a receive case: both ends send, then each receives the other's value.
  bool sent = false;
  parrun::select(parrun::on_send(ch, W().rank(), [&] { sent = true; }), parrun::after(10s, [] {}));
  EXPECT_TRUE(sent);
  int got = -1;
  parrun::select(parrun::on_recv(ch, [&](int v) { got = v; }));
  EXPECT_EQ(got, peer);
  // Closure: an optional handler sees it; with only T handlers, select throws instead of waiting.
  ch.close();
  bool saw_close = false;
  parrun::select(parrun::on_recv(ch, [&](std::optional<int> v) { saw_close = !v.has_value(); }));
  EXPECT_TRUE(saw_close);
  EXPECT_THROW(parrun::select(parrun::on_recv(ch, [](int) {})), parrun::channel_closed);
}

TEST(Pool, OrderedResultsEqualASequentialMap) {
  auto& w = W();
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{37}, std::size_t{1000}}) {
    for (std::size_t chunk : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{1000}}) {
      for (int root : {0, w.size() - 1}) {
        std::vector<int> inputs;
        if (w.rank() == root) {
          inputs.resize(n);
          std::iota(inputs.begin(), inputs.end(), 0);
        }
        auto out = parrun::pool_map(w, inputs, [](int x) { return std::to_string(x * x); },
                                    {.chunksize = chunk, .root = root});
        if (w.rank() == root) {
          ASSERT_EQ(out.size(), n);
          for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], std::to_string(i * i)) << "chunk " << chunk;
        } else {
          EXPECT_TRUE(out.empty());
        }
      }
    }
  }
  std::vector<double> xs(100, 2.0);
  auto roots = parrun::pool_map(w, xs, [](double x) { return std::sqrt(x); }, {.root_works = false});
  if (w.rank() == 0) {
    for (double r : roots) EXPECT_DOUBLE_EQ(r, std::sqrt(2.0));
  }
}

TEST(Pool, OneSlowInputDoesNotHoldUpTheOthers) {
  auto& w = W();
  if (w.size() < 3) GTEST_SKIP() << "needs a root and two workers";
  std::vector<int> inputs(40);
  std::iota(inputs.begin(), inputs.end(), 0);
  std::vector<std::size_t> order;
  parrun::pool_for_each_unordered(
      w, inputs,
      [](int x) {
        std::this_thread::sleep_for(x == 0 ? 1000ms : 10ms);  // input 0 is 100x slower
        return x;
      },
      [&](std::size_t i, int r) {
        EXPECT_EQ(static_cast<int>(i), r);
        order.push_back(i);
      },
      {.chunksize = 1, .root_works = false});
  if (w.rank() == 0) {
    ASSERT_EQ(order.size(), 40u);
    EXPECT_EQ(order.back(), 0u) << "another input waited for the slow one";
  }
}

TEST(Pool, AnExceptionNamesTheRankAndTheInput) {
  auto& w = W();
  std::vector<int> inputs(200);
  std::iota(inputs.begin(), inputs.end(), 0);
  try {
    parrun::pool_map(w, inputs,
                     [](int x) {
                       if (x == 137) throw std::invalid_argument("bad input 137");
                       return x;
                     },
                     {.chunksize = 3});
    ADD_FAILURE() << "no task_error";
  } catch (const parrun::task_error& e) {
    EXPECT_EQ(e.index(), 137u);
    EXPECT_GE(e.rank(), 0);
    EXPECT_LT(e.rank(), w.size());
    EXPECT_NE(std::string(e.what()).find("bad input 137"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("std::invalid_argument"), std::string::npos) << e.what();
  }
  // The pool is over on every rank: the next collective is in step.
  EXPECT_EQ(w.allreduce(1, std::plus<>{}), w.size());
}

}  // namespace
