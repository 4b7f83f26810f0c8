// parrun_bench: the measurements the closing notes quote, in the same shape as mpi_bench.cpp so
// that `tools/bench/compare.sh` can put them side by side.
//   parrun -n 2 parrun_bench latency      8-byte ping-pong: one-way latency (µs, mean)
//   parrun -n 2 parrun_bench bandwidth    16 MiB messages streamed rank 0 -> 1 (MB/s)
//   parrun -n P parrun_bench collectives  allreduce 8 B and 8 MiB, broadcast 1 MiB (µs per call)
//   parrun -n 2 parrun_bench channels     8-byte round trip over a channel, capacity 0 and 64 (µs)
// Times are the slowest rank's, after warm-up. Every line is "name value unit".
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <parrun/parrun.hpp>

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

void latency(parrun::communicator& w) {
  if (w.rank() > 1) return;
  const int peer = 1 - w.rank();
  std::uint64_t x = 42;
  auto round = [&] {
    if (w.rank() == 0) {
      w.send(peer, 0, x);
      w.recv(peer, 0, x);
    } else {
      w.recv(peer, 0, x);
      w.send(peer, 0, x);
    }
  };
  for (int i = 0; i < 200; ++i) round();
  const int n = 5000;
  const auto t = clock_type::now();
  for (int i = 0; i < n; ++i) round();
  const double one_way = seconds_since(t) / (2.0 * n) * 1e6;
  if (w.rank() == 0) std::printf("latency_8B %.2f us\n", one_way);
}

void bandwidth(parrun::communicator& w) {
  if (w.rank() > 1) return;
  const std::size_t size = 16u << 20;
  const int window = 8, repeats = 8;
  std::vector<char> buf(size, 'x');
  auto burst = [&] {
    if (w.rank() == 0) {
      std::vector<parrun::request> sent;
      for (int i = 0; i < window; ++i) sent.push_back(w.isend(1, 1, buf));
      parrun::wait_all(sent);
      w.recv<int>(1, 2);
    } else {
      for (int i = 0; i < window; ++i) w.recv(0, 1, buf);
      w.send(0, 2, 0);
    }
  };
  burst();
  const auto t = clock_type::now();
  for (int r = 0; r < repeats; ++r) burst();
  const double s = seconds_since(t);
  if (w.rank() == 0)
    std::printf("bandwidth_16MiB %.0f MB/s\n", static_cast<double>(size) * window * repeats / s / 1e6);
}

template <class F>
double time_per_call(parrun::communicator& w, int iterations, F&& f) {
  for (int i = 0; i < std::max(2, iterations / 10); ++i) f();
  w.barrier();
  const auto t = clock_type::now();
  for (int i = 0; i < iterations; ++i) f();
  const double mine = seconds_since(t) / iterations * 1e6;
  return w.allreduce(mine, parrun::max{});
}

void collectives(parrun::communicator& w) {
  double small = w.rank();
  const double t_small = time_per_call(w, 2000, [&] { small = w.allreduce(small, std::plus<>{}) * 1e-9; });
  std::vector<double> big(1u << 20, 1.0);
  const double t_big = time_per_call(w, 20, [&] { big = w.allreduce(big, std::plus<>{}); });
  std::vector<char> block(1u << 20, 'b');
  const double t_bcast = time_per_call(w, 100, [&] { w.broadcast(block, 0); });
  if (w.rank() == 0) {
    std::printf("allreduce_8B %.1f us\n", t_small);
    std::printf("allreduce_8MiB %.0f us\n", t_big);
    std::printf("broadcast_1MiB %.0f us\n", t_bcast);
  }
}

void channels(parrun::communicator& w) {
  if (w.rank() > 1) return;
  const int peer = 1 - w.rank();
  for (int capacity : {0, 64}) {
    auto ch = w.channel<std::uint64_t>(peer, capacity, capacity);
    std::uint64_t x = 7;
    auto round = [&] {
      if (w.rank() == 0) {
        ch.send(x);
        x = ch.recv();
      } else {
        x = ch.recv();
        ch.send(x);
      }
    };
    for (int i = 0; i < 200; ++i) round();
    const int n = 3000;
    const auto t = clock_type::now();
    for (int i = 0; i < n; ++i) round();
    if (w.rank() == 0) std::printf("channel_rtt_cap%d %.1f us\n", capacity, seconds_since(t) / n * 1e6);
  }
}

}  // namespace

int main(int argc, char** argv) {
  parrun::environment env(argc, argv);
  parrun::communicator& world = env.world();
  const std::string what = argc > 1 ? argv[1] : "";
  if (what == "latency") latency(world);
  else if (what == "bandwidth") bandwidth(world);
  else if (what == "collectives") collectives(world);
  else if (what == "channels") channels(world);
  else if (world.rank() == 0) std::fprintf(stderr, "usage: parrun_bench latency|bandwidth|collectives|channels\n");
}
