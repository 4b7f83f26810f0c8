// zmq_bench: the point-to-point measurements of parrun_bench.cpp on raw ZeroMQ (cppzmq), the
// baseline for parrun's ZeroMQ lane ("within 20% of raw ZeroMQ", issue 8). No launcher: the
// program forks itself into two processes, rank 0 and rank 1, each with its own context.
//   zmq_bench latency|bandwidth|bibw|p2p [--quick] [--time S] [--max-size BYTES]
// The sockets mirror parrun's ZeroMQ lane (runtime/transport/zmq_transport.hpp): each process
// binds one PULL socket on ipc:// (a file in a fresh directory under $TMPDIR) and connects one
// PUSH socket to the other's, so there is one ordered pipe per direction and nothing is dropped.
// Bytes cross the API the way a plain user's would: send(zmq::buffer) copies the user's buffer
// into a message, recv(zmq::mutable_buffer) copies it out (parrun also copies once on each side).
// No envelope, matching, type check or authentication: that is what parrun adds on top.
// The same sizes, windows, keys and timing method as parrun_bench (bench_harness.hpp); the
// slowest-rank exchange travels on the same sockets, outside the timed loops. Rank 0 prints.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "bench_harness.hpp"

namespace {

using bench::clock_type;
using bench::seconds_since;

struct pair_link {
  zmq::context_t context{1};
  zmq::socket_t in{context, zmq::socket_type::pull};
  zmq::socket_t out{context, zmq::socket_type::push};
  int rank;

  pair_link(int my_rank, const std::string& dir) : rank(my_rank) {
    in.set(zmq::sockopt::linger, 0);
    out.set(zmq::sockopt::linger, 1000);
    in.bind("ipc://" + dir + "/" + std::to_string(rank));
    out.connect("ipc://" + dir + "/" + std::to_string(1 - rank));
  }
  void send(const std::vector<char>& buf) { out.send(zmq::buffer(buf), zmq::send_flags::none); }
  void recv(std::vector<char>& buf) {
    const auto got = in.recv(zmq::buffer(buf), zmq::recv_flags::none);
    if (!got || got->truncated() || got->size != buf.size()) {
      std::fprintf(stderr, "zmq_bench: rank %d received a message of the wrong size\n", rank);
      std::exit(1);
    }
  }
  double slowest(double mine) {
    out.send(zmq::buffer(&mine, sizeof mine), zmq::send_flags::none);
    double theirs = 0;
    (void)in.recv(zmq::buffer(&theirs, sizeof theirs), zmq::recv_flags::none);
    return std::max(mine, theirs);
  }
};

void latency(pair_link& z, const bench::options& o) {
  for (std::size_t size : o.p2p_sizes()) {
    std::vector<char> buf = bench::payload(size);
    const bench::timing r = bench::measure(
        o, [&](double t) { return z.slowest(t); },
        [&](long n) {
          const auto t = clock_type::now();
          for (long i = 0; i < n; ++i) {
            if (z.rank == 0) {
              z.send(buf);
              z.recv(buf);
            } else {
              z.recv(buf);
              z.send(buf);
            }
          }
          return seconds_since(t);
        });
    if (z.rank == 0)
      bench::report("latency_" + bench::size_label(size), r, "us",
                    [](double s) { return s / 2 * 1e6; });
  }
}

void bandwidth(pair_link& z, const bench::options& o) {
  for (std::size_t size : o.p2p_sizes()) {
    const int window = bench::window_for(size);
    std::vector<char> buf = bench::payload(size);
    std::vector<std::vector<char>> in(static_cast<std::size_t>(window), std::vector<char>(size));
    std::vector<char> ack(4);
    const bench::timing r = bench::measure(
        o, [&](double t) { return z.slowest(t); },
        [&](long n) {
          const auto t = clock_type::now();
          for (long i = 0; i < n; ++i) {
            if (z.rank == 0) {
              for (int j = 0; j < window; ++j) z.send(buf);
              z.recv(ack);
            } else {
              for (auto& b : in) z.recv(b);
              z.send(ack);
            }
          }
          return seconds_since(t);
        });
    if (z.rank == 0)
      bench::report("bandwidth_" + bench::size_label(size), r, "MB/s",
                    [&](double s) { return static_cast<double>(size) * window / s / 1e6; });
  }
}

void bibw(pair_link& z, const bench::options& o) {
  for (std::size_t size : o.p2p_sizes()) {
    const int window = bench::window_for(size);
    std::vector<char> buf = bench::payload(size);
    std::vector<std::vector<char>> in(static_cast<std::size_t>(window), std::vector<char>(size));
    const bench::timing r = bench::measure(
        o, [&](double t) { return z.slowest(t); },
        [&](long n) {
          const auto t = clock_type::now();
          for (long i = 0; i < n; ++i) {
            // ZeroMQ queues the sends (the window is far below the high-water mark), then both
            // sides drain what the other sent.
            for (int j = 0; j < window; ++j) z.send(buf);
            for (auto& b : in) z.recv(b);
          }
          return seconds_since(t);
        });
    if (z.rank == 0)
      bench::report("bibw_" + bench::size_label(size), r, "MB/s",
                    [&](double s) { return 2.0 * static_cast<double>(size) * window / s / 1e6; });
  }
}

int run(int rank, const std::string& dir, const bench::options& o) {
  pair_link z(rank, dir);
  if (o.mode == "latency" || o.mode == "p2p") latency(z, o);
  if (o.mode == "bandwidth" || o.mode == "p2p") bandwidth(z, o);
  if (o.mode == "bibw" || o.mode == "p2p") bibw(z, o);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::options o = bench::options::parse(argc, argv);
  if (o.mode != "latency" && o.mode != "bandwidth" && o.mode != "bibw" && o.mode != "p2p") {
    std::fprintf(
        stderr,
        "usage: zmq_bench latency|bandwidth|bibw|p2p [--quick] [--time S] [--max-size BYTES]\n");
    return 2;
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/zmq_bench.XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) {
    std::perror("zmq_bench: mkdtemp");
    return 1;
  }
  std::fflush(stdout);
  const pid_t child = fork();
  if (child < 0) {
    std::perror("zmq_bench: fork");
    return 1;
  }
  if (child == 0) _exit(run(1, dir, o));
  const int rc = run(0, dir, o);
  int status = 0;
  waitpid(child, &status, 0);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return rc != 0 ? rc : (WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}
