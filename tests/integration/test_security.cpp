// Nobody outside the job can touch it. Rank 0 runs an intruder (security_jobs/intruder.cpp: plain
// libzmq, the socket names, the frame and ring formats, but not the job secret) against rank 1's
// data sockets (whichever lanes this job runs: ZeroMQ's, the shared-memory lane's, or both) and
// the launcher's rendezvous, as another user (nobody) and as the same user; rank 1 must receive
// only what rank 0 really sent, and the job must go on as if nothing happened.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <parrun/parrun.hpp>

#include "rank_main.hpp"

namespace {

using namespace std::chrono_literals;

std::string socket_of(int rank) {
  const char* dir = std::getenv("PARRUN_SOCKET_DIR");
  return dir == nullptr ? std::string() : std::string(dir) + "/" + std::to_string(rank);
}

bool exists(const std::string& path) { return !path.empty() && access(path.c_str(), F_OK) == 0; }
// The lanes rank 1 listens on (PARRUN_TRANSPORT decides): its ZeroMQ socket, its shm socket.
bool zmq_lane() { return exists(socket_of(1)); }
bool shm_lane() { return exists(socket_of(1) + ".shm"); }

// The shared-memory lane refuses both attempts (a guessed secret; the real one, from a process
// that is not the rank it claims to be).
void expect_shm_refused(const std::string& out) {
  EXPECT_EQ(out.find("accepted"), std::string::npos) << out;
  EXPECT_NE(out.find("with a guessed secret: refused"), std::string::npos) << out;
  EXPECT_NE(out.find("with the job secret: refused"), std::string::npos) << out;
}

// Runs the intruder; returns what it printed.
std::string run_intruder(const std::vector<std::string>& args) {
  std::string cmd = INTRUDER;
  for (const std::string& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
    const int status = pclose(p);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd << "\n" << out;
  }
  return out;
}

bool root() { return getuid() == 0; }

// Whatever rank 1 has received meanwhile on (source 0, tag 7): nothing, if the intruders failed.
void expect_nothing_arrives_at_rank_1(parrun::communicator& world) {
  world.barrier();
  if (world.rank() == 1) {
    const auto until = std::chrono::steady_clock::now() + 300ms;
    while (std::chrono::steady_clock::now() < until)
      ASSERT_FALSE(world.iprobe(parrun::any_source, parrun::any_tag).has_value())
          << "a stranger's frame was delivered";
  }
  world.barrier();
}

TEST(security, a_stranger_cannot_deliver_a_message) {
  parrun::communicator& world = test_world();
  ASSERT_EQ(world.size(), 2);
  ASSERT_FALSE(socket_of(1).empty()) << "the launcher gave no PARRUN_SOCKET_DIR";
  ASSERT_TRUE(zmq_lane() || shm_lane()) << "rank 1 listens on no lane";
  if (world.rank() == 0 && shm_lane()) {
    const std::string hash = std::to_string(parrun::detail::type_of<std::string>().hash);
    expect_shm_refused(run_intruder({"shm-forge", socket_of(1) + ".shm", "0", hash, "7", "0", "0", "0", "forged"}));
    if (root()) {
      const std::string other = run_intruder({"--as-nobody", "shm-forge", socket_of(1) + ".shm", "0", hash, "7", "0", "0", "0", "forged"});
      EXPECT_NE(other.find("cannot connect: Permission denied"), std::string::npos)
          << "another user could even connect:\n" << other;
    }
  }
  if (world.rank() == 0 && zmq_lane()) {
    const std::string hash = std::to_string(parrun::detail::type_of<std::string>().hash);
    const std::vector<std::string> forged{"forge", "ipc://" + socket_of(1), "0", hash, "7", "0", "0", "0", "forged"};
    // Same user, without the secret: it connects, but no frame gets through.
    const std::string same = run_intruder(forged);
    EXPECT_NE(same.find("connected"), std::string::npos) << same;
    if (root()) {
      std::vector<std::string> as_nobody{"--as-nobody"};
      as_nobody.insert(as_nobody.end(), forged.begin(), forged.end());
      const std::string other = run_intruder(as_nobody);
      EXPECT_NE(other.find("Permission denied"), std::string::npos)
          << "another user could even connect:\n" << other;
    }
  }
  expect_nothing_arrives_at_rank_1(world);
  if (world.rank() == 0) world.send(1, 7, std::string("real"));
  if (world.rank() == 1) {
    EXPECT_EQ(world.recv<std::string>(0, 7), "real");
    EXPECT_FALSE(world.iprobe().has_value());
  }
}

TEST(security, a_forged_channel_close_or_value_does_not_reach_the_channel) {
  parrun::communicator& world = test_world();
  auto ch = world.channel<int>(1 - world.rank(), 5, 4);
  if (world.rank() == 0) {
    const std::string int_hash = std::to_string(parrun::detail::type_of<int>().hash);
    if (zmq_lane()) {
      run_intruder({"forge", "ipc://" + socket_of(1), "2", int_hash, "5", "0", "0", "1", "XXXX"});  // a value
      run_intruder({"forge", "ipc://" + socket_of(1), "2", "0", "5", "0", "0", "4", ""});           // a close
    }
    if (shm_lane()) {
      expect_shm_refused(run_intruder({"shm-forge", socket_of(1) + ".shm", "2", int_hash, "5", "0", "0", "1", "XXXX"}));
      expect_shm_refused(run_intruder({"shm-forge", socket_of(1) + ".shm", "2", "0", "5", "0", "0", "4", ""}));
    }
    world.barrier();
    for (int v = 1; v <= 3; ++v) ch.send(v);
    ch.close();
  } else {
    world.barrier();
    std::vector<int> got;
    for (int v : ch) got.push_back(v);
    EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));
  }
}

TEST(security, garbage_and_idle_connections_do_not_end_the_job) {
  parrun::communicator& world = test_world();
  if (world.rank() == 0) {
    // The same user can connect (and could kill the rank anyway): garbage and a few idle
    // connections. Another user cannot even connect: 1,100 attempts, more than the descriptor
    // limit of 1024 the low-fd-limit entry runs under (libzmq aborts when accept hits EMFILE).
    for (const std::string& path : {socket_of(1), socket_of(1) + ".shm"}) {
      if (!exists(path)) continue;
      const std::string out = run_intruder({"garbage", path, "100"});
      EXPECT_NE(out.find("held 100 idle connections"), std::string::npos) << path << "\n" << out;
      if (root()) {
        const std::string other = run_intruder({"--as-nobody", "garbage", path, "1100"});
        EXPECT_NE(other.find("held 0 idle connections"), std::string::npos) << path << "\n" << other;
      }
    }
  }
  expect_nothing_arrives_at_rank_1(world);
  // The job still works both ways.
  const int peer = 1 - world.rank();
  const auto v = world.sendrecv<std::vector<int>>(peer, 3, std::vector<int>(1000, world.rank()), peer, 3);
  EXPECT_EQ(v, std::vector<int>(1000, peer));
}

long launcher_peak_kib() {
  std::ifstream status("/proc/" + std::to_string(getppid()) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

TEST(security, the_launcher_allocates_nothing_a_stranger_claims) {
  parrun::communicator& world = test_world();
  if (world.rank() == 0) {
    const char* rendezvous = std::getenv("PARRUN_RENDEZVOUS");
    ASSERT_NE(rendezvous, nullptr);
    run_intruder({"hello", rendezvous});
    const long peak = launcher_peak_kib();
    EXPECT_GT(peak, 0);
    EXPECT_LT(peak, 200 * 1024) << "the launcher grew to " << peak << " KiB";
  }
  world.barrier();
  EXPECT_EQ(world.allreduce(1, std::plus<>{}), 2);
}

}  // namespace
