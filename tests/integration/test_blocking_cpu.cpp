// A rank blocked in parrun sleeps in the kernel instead of polling: while the last rank waits
// before sending, every other rank blocks (in recv, in request::wait, in probe, and in a send
// that the destination is not taking) and must use under 5% of a core meanwhile, measured with
// getrusage(RUSAGE_SELF) — user plus system time of the whole process, ZeroMQ's threads included.
// Run with -n 2 and with -n 8 on a machine with fewer cores than ranks.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <parrun/parrun.hpp>

#include "rank_main.hpp"

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return s(u.ru_utime) + s(u.ru_stime);
}

struct usage {
  double wall = 0;
  double cpu = 0;
};

// Runs `blocking_call` and reports the wall and CPU time it took.
template <class F>
usage measure(F&& blocking_call) {
  const double cpu0 = cpu_seconds();
  const auto t0 = steady::now();
  blocking_call();
  usage u;
  u.wall = std::chrono::duration<double>(steady::now() - t0).count();
  u.cpu = cpu_seconds() - cpu0;
  return u;
}

int me() { return test_world().rank(); }
int last() { return test_world().size() - 1; }

// Every rank but the last tells the last it is about to block; the last waits for all of them,
// then sleeps `pause` before it acts, so the others are blocked for about `pause`.
void the_others_block_while_the_last_sleeps(std::chrono::milliseconds pause, int tag) {
  parrun::communicator& w = test_world();
  if (me() == last()) {
    for (int r = 0; r < last(); ++r) (void)w.recv<int>(r, tag);
    std::this_thread::sleep_for(pause);
  } else {
    w.send(last(), tag, me());
  }
}

void expect_asleep(const char* what, const usage& u, double expected_wall) {
  std::printf("rank %d of %d blocked in %s for %.2f s using %.3f s of CPU (%.2f%% of a core)\n",
              me(), test_world().size(), what, u.wall, u.cpu, 100.0 * u.cpu / u.wall);
  std::fflush(stdout);
  // The rank was really blocked (otherwise the measurement says nothing)...
  EXPECT_GE(u.wall, expected_wall * 0.9) << what;
  // ...and used under 5% of a core meanwhile.
  EXPECT_LT(u.cpu, 0.05 * u.wall) << what << ": rank " << me() << " used " << u.cpu
                                  << " s of CPU in " << u.wall << " s";
}

class p2p_blocking : public testing::Test {
 protected:
  void SetUp() override {
    if (test_world().size() < 2) GTEST_SKIP() << "needs at least 2 ranks";
  }
};

TEST_F(p2p_blocking, a_rank_blocked_in_recv_uses_no_cpu) {
  parrun::communicator& w = test_world();
  the_others_block_while_the_last_sleeps(5000ms, 1);
  if (me() == last()) {
    for (int r = 0; r < last(); ++r) w.send(r, 2, r * 10);
  } else {
    int got = -1;
    const usage u = measure([&] { got = w.recv<int>(last(), 2); });
    EXPECT_EQ(got, me() * 10);
    expect_asleep("recv", u, 5.0);
  }
}

TEST_F(p2p_blocking, a_rank_blocked_in_request_wait_or_probe_uses_no_cpu) {
  parrun::communicator& w = test_world();
  std::vector<double> got;
  parrun::request req;
  if (me() != last()) req = w.irecv(last(), 3, got);
  the_others_block_while_the_last_sleeps(2000ms, 4);
  if (me() == last()) {
    for (int r = 0; r < last(); ++r) w.send(r, 3, std::vector<double>(1000, r));
  } else {
    const usage u = measure([&] { (void)req.wait(); });
    EXPECT_EQ(got, std::vector<double>(1000, me()));
    expect_asleep("request::wait", u, 2.0);
  }

  the_others_block_while_the_last_sleeps(2000ms, 5);
  if (me() == last()) {
    for (int r = 0; r < last(); ++r) w.send(r, 6, r);
  } else {
    parrun::status st;
    const usage u = measure([&] { st = w.probe(parrun::any_source, 6); });
    EXPECT_EQ(st.source(), last());
    EXPECT_EQ(w.recv<int>(last(), 6), me());
    expect_asleep("probe", u, 2.0);
  }
}

TEST_F(p2p_blocking, a_rank_blocked_in_send_uses_no_cpu) {
  // The last rank stops receiving for 3 s; the others send it more than its pipes hold, so a send
  // blocks until it comes back. Only the sends that blocked (took over 10 ms) are counted: the
  // sending itself may cost CPU, the waiting must not.
  parrun::communicator& w = test_world();
  constexpr int count = 5000;
  const std::vector<char> msg(4096, 'x');
  if (me() == last()) {
    for (int r = 0; r < last(); ++r) (void)w.recv<int>(r, 7);
    std::this_thread::sleep_for(3000ms);
    for (int k = 0; k < count * last(); ++k) (void)w.recv<std::vector<char>>(parrun::any_source, 8);
  } else {
    w.send(last(), 7, me());
    usage blocked;
    for (int k = 0; k < count; ++k) {
      const usage u = measure([&] { w.send(last(), 8, msg); });
      if (u.wall > 0.010) {
        blocked.wall += u.wall;
        blocked.cpu += u.cpu;
      }
    }
    expect_asleep("send", blocked, 2.0);
  }
}

}  // namespace
