// Go's channel semantics in the corners other projects' test suites found (issue: hardening):
// a non-blocking select still makes progress, capacity 0 is a rendezvous on every path (no
// stale grant lets a send complete with nobody receiving, two selecting ends move exactly one
// value, a rank's unbuffered channel to itself never completes a send), and a select over many
// unbuffered channels neither hangs nor loses a value. Also: copies of a request complete once.
#include <chrono>
#include <numeric>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <parrun/parrun.hpp>

#include "rank_main.hpp"

namespace {

using namespace std::chrono_literals;

TEST(channel_semantics, a_select_with_otherwise_sees_a_value_already_sent) {
  parrun::communicator& world = test_world();
  if (world.size() != 2) GTEST_SKIP() << "two ranks";
  auto ch = world.channel<int>(1 - world.rank(), 1, 4);
  if (world.rank() == 0) {
    ch.send(42);
    world.barrier();
  } else {
    world.barrier();  // the value was sent (and has had time to arrive)
    // Before the fix, polling like this for a second never saw the value.
    int got = -1;
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (got < 0 && std::chrono::steady_clock::now() < until)
      parrun::select(parrun::on_recv(ch, [&](int v) { got = v; }), parrun::otherwise([] {}));
    EXPECT_EQ(got, 42) << "5 s of non-blocking selects never saw the value";
    // The same with after(0).
    world.send(0, 9, 1);
  }
  if (world.rank() == 0) {
    (void)world.recv<int>(1, 9);
    ch.send(43);
  } else {
    int got = -1;
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (got < 0 && std::chrono::steady_clock::now() < until)
      parrun::select(parrun::on_recv(ch, [&](int v) { got = v; }), parrun::after(0ms, [] {}));
    EXPECT_EQ(got, 43);
  }
  world.barrier();
}

TEST(channel_semantics, a_receiver_that_timed_out_leaves_no_grant_behind) {
  parrun::communicator& world = test_world();
  if (world.size() != 2) GTEST_SKIP() << "two ranks";
  auto ch = world.channel<int>(1 - world.rank(), 2, 0);
  if (world.rank() == 1) {
    bool timed_out = false;
    parrun::select(parrun::on_recv(ch, [](int) {}), parrun::after(50ms, [&] { timed_out = true; }));
    EXPECT_TRUE(timed_out);
    world.send(0, 1, 0);  // "I gave up"
    world.recv<int>(0, 2);
    std::vector<int> got;
    try {
      while (auto v = ch.recv_for(300ms)) got.push_back(*v);
    } catch (const parrun::channel_closed&) {
      // rank 0 is done with it
    }
    EXPECT_EQ(got, std::vector<int>{7}) << "a value arrived that no receive was waiting for";
  } else {
    world.recv<int>(1, 1);
    std::this_thread::sleep_for(20ms);
    EXPECT_FALSE(ch.try_send(42)) << "try_send completed while nobody was receiving";
    world.send(1, 2, 0);
    ch.send(7);  // blocks until rank 1 receives it
  }
}

TEST(channel_semantics, two_selecting_ends_move_exactly_one_value_each_time) {
  parrun::communicator& world = test_world();
  if (world.size() != 2) GTEST_SKIP() << "two ranks";
  auto ch = world.channel<int>(1 - world.rank(), 3, 0);
  constexpr int rounds = 200;
  int sent = 0, received = 0;
  for (int i = 0; i < rounds; ++i)
    parrun::select(parrun::on_send(ch, world.rank(), [&] { ++sent; }),
                   parrun::on_recv(ch, [&](int from) {
                     EXPECT_EQ(from, 1 - world.rank());
                     ++received;
                   }));
  EXPECT_EQ(sent + received, rounds);
  const std::vector<int> sends = world.allgather(sent);
  const std::vector<int> recvs = world.allgather(received);
  EXPECT_EQ(sends[0], recvs[1]) << "a value was sent that the peer did not receive";
  EXPECT_EQ(sends[1], recvs[0]);
}

TEST(channel_semantics, an_unbuffered_channel_to_oneself_never_completes_a_send) {
  parrun::communicator& world = test_world();
  auto self = world.channel<int>(world.rank(), 4, 0);
  const std::size_t which = parrun::select(parrun::on_send(self, 1, [] {}), parrun::on_recv(self, [](int) {}),
                                           parrun::after(100ms, [] {}));
  EXPECT_EQ(which, 2u) << "Go blocks here: nobody else can receive";
  EXPECT_FALSE(self.try_send(1));
  EXPECT_THROW(self.send(1), parrun::usage_error);
  // With a capacity, a rank may talk to itself.
  auto buffered = world.channel<int>(world.rank(), 5, 1);
  buffered.send(5);
  EXPECT_EQ(buffered.recv(), 5);
}

// One rank selects sends over four unbuffered channels, the other selects receives over all
// four; repeated, because the hang it guards against came in 1 of 25 runs.
TEST(channel_semantics, select_over_four_unbuffered_channels_delivers_every_value) {
  parrun::communicator& world = test_world();
  if (world.size() != 2) GTEST_SKIP() << "two ranks";
  constexpr int values = 10'000;
  for (int round = 0; round < 5; ++round) {
    const int base = 10 + 4 * round;
    auto a = world.channel<int>(1 - world.rank(), base, 0);
    auto b = world.channel<int>(1 - world.rank(), base + 1, 0);
    auto c = world.channel<int>(1 - world.rank(), base + 2, 0);
    auto d = world.channel<int>(1 - world.rank(), base + 3, 0);
    if (world.rank() == 0) {
      for (int next = 1; next <= values;) {
        auto sent = [&] { ++next; };
        parrun::select(parrun::on_send(a, next, sent), parrun::on_send(b, next, sent),
                       parrun::on_send(c, next, sent), parrun::on_send(d, next, sent));
      }
    } else {
      long long sum = 0;
      int count = 0;
      auto got = [&](int v) {
        sum += v;
        ++count;
      };
      while (count < values)
        parrun::select(parrun::on_recv(a, got), parrun::on_recv(b, got), parrun::on_recv(c, got),
                       parrun::on_recv(d, got));
      EXPECT_EQ(sum, static_cast<long long>(values) * (values + 1) / 2) << "round " << round;
      for (auto* ch : {&a, &b, &c, &d}) EXPECT_FALSE(ch->try_recv().has_value()) << "a value too many";
    }
    world.barrier();
  }
}

TEST(requests, copies_of_a_request_complete_once_and_agree) {
  parrun::communicator& world = test_world();
  if (world.size() != 2) GTEST_SKIP() << "two ranks";
  if (world.rank() == 0) {
    world.send(1, 5, std::vector<int>{1, 2, 3});
    parrun::request r = world.isend(1, 6, std::string("x"));
    parrun::request copy = r;
    copy.wait();
    EXPECT_FALSE(r.pending());
    r.wait();
  } else {
    std::vector<int> v;
    parrun::request r = world.irecv(0, 5, v);
    parrun::request copy = r;
    const parrun::status first = r.wait();
    const parrun::status second = copy.wait();  // read freed memory before
    EXPECT_EQ(first.source(), second.source());
    EXPECT_EQ(first.tag(), second.tag());
    EXPECT_EQ(v, (std::vector<int>{1, 2, 3}));
    EXPECT_FALSE(copy.pending());
    EXPECT_TRUE(copy.test().has_value());
    // A failure is kept too: both copies throw it.
    int wrong = 0;
    parrun::request bad = world.irecv(0, 6, wrong);
    parrun::request bad_copy = bad;
    EXPECT_THROW(bad.wait(), parrun::type_mismatch);
    EXPECT_THROW(bad_copy.wait(), parrun::type_mismatch);
    EXPECT_EQ(world.recv<std::string>(0, 6), "x");  // the message stayed queued
  }
}

}  // namespace
