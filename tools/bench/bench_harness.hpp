#pragma once
// The measuring loop every benchmark program here shares (parrun_bench.cpp, mpi_bench.cpp,
// zmq_bench.cpp), so that parrun, Open MPI, MPICH and raw ZeroMQ are timed by one method and
// differ only in how they move the bytes. Plain C++20, no parrun, MPI or ZeroMQ in here.
//
// Method (also in README.md):
//   - A measurement is a body `double(long n)` that runs n iterations of one operation and
//     returns this rank's elapsed seconds (steady_clock around the loop, nothing else inside).
//   - Warm-up and calibration: n = 1, 2, 4, ... (at most x16 per step) until one run takes at
//     least a tenth of the budget; those runs are discarded (they take the first-touch, the
//     connection set-up and the cache misses).
//   - Then `batches` (5) timed runs of `iters` iterations each, iters chosen so the batches
//     together take about `budget` seconds. Each batch's time is the slowest rank's (a max over
//     the ranks that take part, through the runtime itself, outside the timed loop).
//   - The result is the median over batches of (batch time / iters): robust to the one batch
//     a noisy 2-core VM spoils, where a mean is not and a minimum flatters. The batches are
//     printed too, on a "# key ..." line after the "key value unit" line.
//   Every rank takes every decision from the same max-reduced numbers, so all ranks run the
//   same iteration counts without further messages.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace bench {

using clock_type = std::chrono::steady_clock;

inline double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

/// "8B", "4KiB", "16MiB": the size part of every measurement key (compare.sh reads it back).
inline std::string size_label(std::size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + "MiB";
  if (bytes >= (1u << 10) && bytes % (1u << 10) == 0) return std::to_string(bytes >> 10) + "KiB";
  return std::to_string(bytes) + "B";
}

/// Command-line options shared by the programs: MODE [--quick] [--time S] [--max-size BYTES].
struct options {
  std::string mode;
  bool quick = false;
  double budget = 0.1;               // seconds of timed batches per measurement
  std::size_t max_size = 16u << 20;  // largest point-to-point message
  int batches = 5;

  static options parse(int argc, char** argv) {
    options o;
    bool budget_given = false;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--quick")
        o.quick = true;
      else if (a == "--time" && i + 1 < argc)
        o.budget = std::atof(argv[++i]), budget_given = true;
      else if (a == "--max-size" && i + 1 < argc)
        o.max_size = std::strtoull(argv[++i], nullptr, 10);
      else if (o.mode.empty())
        o.mode = a;
    }
    if (o.quick && !budget_given) o.budget = 0.025;
    return o;
  }

  /// Point-to-point sizes: every power of two from 8 B to max_size; with --quick, x8 steps to
  /// 256 KiB, then 1, 4, 16 MiB (the sizes the targets name are always in).
  std::vector<std::size_t> p2p_sizes() const {
    std::vector<std::size_t> s;
    if (quick) {
      for (std::size_t b :
           {8ul, 64ul, 512ul, 4ul << 10, 32ul << 10, 256ul << 10, 1ul << 20, 4ul << 20, 16ul << 20})
        if (b <= max_size) s.push_back(b);
    } else {
      for (std::size_t b = 8; b <= max_size; b *= 2) s.push_back(b);
    }
    return s;
  }
  /// Collective sizes (allreduce and broadcast: the whole buffer; alltoall: each block).
  static std::vector<std::size_t> reduce_sizes() {
    return {8, 1u << 10, 64u << 10, 1u << 20, 8u << 20};
  }
  static std::vector<std::size_t> alltoall_sizes() { return {8, 1u << 10, 64u << 10, 1u << 20}; }
};

/// Messages in flight per bandwidth iteration: 64 as in OSU's osu_bw, fewer for large messages
/// so that a window never holds more than 64 MiB (16 MiB: 4), the same for every runtime.
inline int window_for(std::size_t bytes) {
  const std::size_t cap = (64u << 20) / std::max<std::size_t>(bytes, 1);
  return static_cast<int>(std::clamp<std::size_t>(cap, 1, 64));
}

/// The batches of one measurement: seconds per iteration, in the order they ran.
struct timing {
  std::vector<double> per_iteration;
  double median() const {
    std::vector<double> v = per_iteration;
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
  }
};

/// Times `body` as described at the top of this file. `slowest(x)` returns the max of x over
/// every rank taking part (every one of them calls measure with the same arguments).
template <class Slowest, class Body>
timing measure(const options& o, Slowest&& slowest, Body&& body) {
  long n = 1;
  const double warm = o.budget / 10;
  for (;;) {
    const double t = slowest(body(n));
    if (t >= warm || n >= (1l << 30)) break;
    const double grow = t > 0 ? warm / t * 1.2 : 16.0;
    n = static_cast<long>(static_cast<double>(n) * std::clamp(grow, 2.0, 16.0));
  }
  // One more run at the calibrated size gives the per-iteration estimate the batches use.
  const double per = slowest(body(n)) / static_cast<double>(n);
  const long iters = std::max(1l, static_cast<long>(o.budget / o.batches / std::max(per, 1e-9)));
  timing t;
  for (int b = 0; b < o.batches; ++b)
    t.per_iteration.push_back(slowest(body(iters)) / static_cast<double>(iters));
  return t;
}

/// Prints the measurement as one "key value unit" line (value = convert(median seconds per
/// iteration)), then "# key b1 b2 ..." with every batch converted the same way (compare.sh keeps
/// those in its JSON). Flushed at once: a runtime that dies later still leaves its lines.
template <class Convert>
void report(const std::string& key, const timing& t, const char* unit, Convert&& convert) {
  auto number = [](double v) { return v >= 100 ? "%.1f" : v >= 1 ? "%.3f" : "%.4f"; };
  const double value = convert(t.median());
  std::printf("%s ", key.c_str());
  std::printf(number(value), value);
  std::printf(" %s\n# %s", unit, key.c_str());
  for (double b : t.per_iteration) {
    std::printf(" ");
    std::printf(number(convert(b)), convert(b));
  }
  std::printf("\n");
  std::fflush(stdout);
}

/// A buffer of `bytes` bytes with content that is not all zero pages.
inline std::vector<char> payload(std::size_t bytes) {
  std::vector<char> v(bytes);
  for (std::size_t i = 0; i < bytes; ++i) v[i] = static_cast<char>(i * 31 + 7);
  return v;
}

}  // namespace bench
