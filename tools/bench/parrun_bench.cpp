// parrun_bench: OSU-style micro-benchmarks on parrun's public API, the same measurements as
// mpi_bench.cpp (MPI) and zmq_bench.cpp (raw ZeroMQ) so that tools/bench/compare.sh can put
// them side by side. Timing method: bench_harness.hpp (calibrated warm-up, 5 timed batches,
// median of the per-iteration times, each batch timed as its slowest rank).
//   parrun -n 2 parrun_bench latency     ping-pong, one-way latency = round trip / 2 (us)
//   parrun -n 2 parrun_bench bandwidth   rank 0 -> 1: a window of isends, wait_all, 4-byte
//                                        ack; MB/s = window * size / time (1 MB = 1e6 B)
//   parrun -n 2 parrun_bench bibw        both ranks post the window of irecvs and isends at
//                                        once, wait_all; MB/s counts both directions
//   parrun -n 2 parrun_bench p2p         the three above
//   parrun -n P parrun_bench collectives allreduce (sum of doubles), broadcast (root moves),
//                                        alltoall (size = each block), barrier; us per call
//   parrun -n 2 parrun_bench channels    8-byte round trip over a channel, capacity 0 and 64
//   parrun -n P parrun_bench buffers     the buffer forms (issue 10): ping-pong and bandwidth
//                                        from and into std::spans (latency_span_*,
//                                        bandwidth_span_*, ranks 0 and 1), and in-place
//                                        allreduce of a span of doubles (allreduce_inplace_*)
// Options: --quick (fewer sizes, 25 ms per measurement), --time S, --max-size BYTES.
// Sizes: 8 B .. 16 MiB in powers of two (point to point); 8 B, 1 KiB, 64 KiB, 1 MiB, 8 MiB
// (allreduce, broadcast); 8 B .. 1 MiB (alltoall). Window: 64, at most 64 MiB in flight.
// Every line is "key value unit", e.g. "latency_1KiB 14.2 us". Ranks beyond 1 idle in the
// point-to-point modes.
//
// Payloads are std::vector<char>, which parrun sends as raw bytes (detail/codec.hpp); a send of
// an lvalue copies it into the message once (parrun's value semantics: the buffer is free again
// when isend returns), a receive copies it out once. That is what a user's code pays, so it is
// what is measured. An 8-byte allreduce reduces a plain double, larger ones a vector<double>.
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <parrun/parrun.hpp>

#include "bench_harness.hpp"

namespace {

using bench::clock_type;
using bench::seconds_since;

constexpr int data_tag = 1, ack_tag = 2, sync_tag = 3;

// The slowest of ranks 0 and 1 (point-to-point modes), by one exchange outside the timed loop.
auto pair_max(parrun::communicator& w) {
  return [&w](double mine) {
    const int peer = 1 - w.rank();
    const double theirs = w.sendrecv<double>(peer, sync_tag, mine, peer, sync_tag);
    return std::max(mine, theirs);
  };
}

auto world_max(parrun::communicator& w) {
  return [&w](double mine) { return w.allreduce(mine, parrun::max{}); };
}

// `spans`: the buffer forms (send from and receive into a std::span) instead of the vector.
void latency(parrun::communicator& w, const bench::options& o, bool spans = false) {
  const int peer = 1 - w.rank();
  for (std::size_t size : o.p2p_sizes()) {
    std::vector<char> buf = bench::payload(size);
    const std::span<char> view(buf);
    const bench::timing r = bench::measure(o, pair_max(w), [&](long n) {
      const auto t = clock_type::now();
      for (long i = 0; i < n; ++i) {
        if (w.rank() == 0) {
          if (spans) w.send(peer, data_tag, view), w.recv(peer, data_tag, view);
          else w.send(peer, data_tag, buf), w.recv(peer, data_tag, buf);
        } else {
          if (spans) w.recv(peer, data_tag, view), w.send(peer, data_tag, view);
          else w.recv(peer, data_tag, buf), w.send(peer, data_tag, buf);
        }
      }
      return seconds_since(t);
    });
    if (w.rank() == 0)
      bench::report(std::string(spans ? "latency_span_" : "latency_") + bench::size_label(size), r, "us",
                    [](double s) { return s / 2 * 1e6; });
  }
}

void bandwidth(parrun::communicator& w, const bench::options& o, bool spans = false) {
  for (std::size_t size : o.p2p_sizes()) {
    const int window = bench::window_for(size);
    std::vector<char> buf = bench::payload(size);
    std::vector<std::vector<char>> in(static_cast<std::size_t>(window), std::vector<char>(size));
    std::vector<parrun::request> reqs(static_cast<std::size_t>(window));
    const bench::timing r = bench::measure(o, pair_max(w), [&](long n) {
      const auto t = clock_type::now();
      for (long i = 0; i < n; ++i) {
        if (w.rank() == 0) {
          for (std::size_t j = 0; j < reqs.size(); ++j)
            reqs[j] = spans ? w.isend(1, data_tag, std::span(buf)) : w.isend(1, data_tag, buf);
          parrun::wait_all(reqs);
          w.recv<std::int32_t>(1, ack_tag);
        } else {
          for (std::size_t j = 0; j < reqs.size(); ++j)
            reqs[j] = spans ? w.irecv(0, data_tag, std::span(in[j])) : w.irecv(0, data_tag, in[j]);
          parrun::wait_all(reqs);
          w.send(0, ack_tag, std::int32_t{0});
        }
      }
      return seconds_since(t);
    });
    if (w.rank() == 0)
      bench::report(std::string(spans ? "bandwidth_span_" : "bandwidth_") + bench::size_label(size), r, "MB/s",
                    [&](double s) { return static_cast<double>(size) * window / s / 1e6; });
  }
}

void bibw(parrun::communicator& w, const bench::options& o) {
  const int peer = 1 - w.rank();
  for (std::size_t size : o.p2p_sizes()) {
    const int window = bench::window_for(size);
    std::vector<char> buf = bench::payload(size);
    std::vector<std::vector<char>> in(static_cast<std::size_t>(window), std::vector<char>(size));
    std::vector<parrun::request> reqs(2 * static_cast<std::size_t>(window));
    const bench::timing r = bench::measure(o, pair_max(w), [&](long n) {
      const auto t = clock_type::now();
      for (long i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < in.size(); ++j) reqs[j] = w.irecv(peer, data_tag, in[j]);
        for (std::size_t j = 0; j < in.size(); ++j)
          reqs[in.size() + j] = w.isend(peer, data_tag, buf);
        parrun::wait_all(reqs);
      }
      return seconds_since(t);
    });
    if (w.rank() == 0)
      bench::report("bibw_" + bench::size_label(size), r, "MB/s",
                    [&](double s) { return 2.0 * static_cast<double>(size) * window / s / 1e6; });
  }
}

void collectives(parrun::communicator& w, const bench::options& o) {
  // Each timed run starts from a barrier, calls follow back to back, and a run's time is its
  // slowest rank's. allreduce, alltoall and barrier cannot finish anywhere before every rank has
  // entered them, so back-to-back calls cannot overlap; broadcast can (the root would run ahead
  // and only the pipeline would be timed), so its root moves to the next rank at every call, as
  // in the Intel MPI Benchmarks: each root must have received the previous broadcast first.
  const int size_of_world = w.size();
  auto timed = [&](auto&& call) {
    return bench::measure(o, world_max(w), [&](long n) {
      w.barrier();
      const auto t = clock_type::now();
      for (long i = 0; i < n; ++i) call(static_cast<int>(i % size_of_world));
      return seconds_since(t);
    });
  };
  auto say = [&](const std::string& key, const bench::timing& t) {
    if (w.rank() == 0) bench::report(key, t, "us", [](double s) { return s * 1e6; });
  };
  for (std::size_t size : bench::options::reduce_sizes()) {
    bench::timing t;
    if (size == sizeof(double)) {
      const double x = w.rank() + 1.0;
      double sum = 0;
      t = timed([&](int) { sum = w.allreduce(x, std::plus<>{}); });
    } else {
      const std::vector<double> x(size / sizeof(double), w.rank() + 1.0);
      std::vector<double> sum;
      t = timed([&](int) { sum = w.allreduce(x, std::plus<>{}); });
    }
    say("allreduce_" + bench::size_label(size), t);
  }
  for (std::size_t size : bench::options::reduce_sizes()) {
    std::vector<char> block = bench::payload(size);
    say("broadcast_" + bench::size_label(size), timed([&](int root) { w.broadcast(block, root); }));
  }
  for (std::size_t size : bench::options::alltoall_sizes()) {
    const std::vector<std::vector<char>> parts(static_cast<std::size_t>(w.size()),
                                               bench::payload(size));
    std::vector<std::vector<char>> got;
    say("alltoall_" + bench::size_label(size), timed([&](int) { got = w.alltoall(parts); }));
  }
  say("barrier", timed([&](int) { w.barrier(); }));
}

// The same measurements as latency, bandwidth and allreduce, with the buffer forms: nothing is
// allocated per message and a receive that is waiting gets the bytes straight into its span.
void buffers(parrun::communicator& w, const bench::options& o) {
  if (w.rank() < 2 && w.size() >= 2) {
    latency(w, o, true);
    bandwidth(w, o, true);
  }
  w.barrier();
  for (std::size_t size : bench::options::reduce_sizes()) {
    std::vector<double> x(size / sizeof(double), w.rank() + 1.0);
    const bench::timing t = bench::measure(o, world_max(w), [&](long n) {
      w.barrier();
      const auto t0 = clock_type::now();
      for (long i = 0; i < n; ++i) w.allreduce(std::span(x), std::plus<>{});
      return seconds_since(t0);
    });
    if (w.rank() == 0) bench::report("allreduce_inplace_" + bench::size_label(size), t, "us", [](double s) { return s * 1e6; });
  }
}

void channels(parrun::communicator& w, const bench::options& o) {
  const int peer = 1 - w.rank();
  for (int capacity : {0, 64}) {
    auto ch = w.channel<std::uint64_t>(peer, capacity, capacity);
    std::uint64_t x = 7;
    const bench::timing r = bench::measure(o, pair_max(w), [&](long n) {
      const auto t = clock_type::now();
      for (long i = 0; i < n; ++i) {
        if (w.rank() == 0) {
          ch.send(x);
          x = ch.recv();
        } else {
          x = ch.recv();
          ch.send(x);
        }
      }
      return seconds_since(t);
    });
    if (w.rank() == 0)
      bench::report("channel_rtt_cap" + std::to_string(capacity), r, "us",
                    [](double s) { return s * 1e6; });
  }
}

}  // namespace

int main(int argc, char** argv) {
  parrun::environment env(argc, argv);
  parrun::communicator& world = env.world();
  const bench::options o = bench::options::parse(argc, argv);
  const bool p2p = o.mode == "latency" || o.mode == "bandwidth" || o.mode == "bibw" ||
                   o.mode == "p2p" || o.mode == "channels";
  if (o.mode == "buffers") {
    buffers(world, o);
    return 0;
  }
  if (o.mode == "collectives") {
    collectives(world, o);
    return 0;
  }
  if (!p2p) {
    if (world.rank() == 0)
      std::fprintf(
          stderr,
          "usage: parrun -n 2 parrun_bench latency|bandwidth|bibw|p2p|channels [--quick] "
          "[--time S] [--max-size BYTES]\n       parrun -n P parrun_bench collectives [--quick]\n");
    return 2;
  }
  if (world.size() < 2) {
    std::fprintf(stderr, "parrun_bench %s needs two ranks: parrun -n 2 ...\n", o.mode.c_str());
    return 2;
  }
  if (world.rank() > 1) return 0;
  if (o.mode == "latency" || o.mode == "p2p") latency(world, o);
  if (o.mode == "bandwidth" || o.mode == "p2p") bandwidth(world, o);
  if (o.mode == "bibw" || o.mode == "p2p") bibw(world, o);
  if (o.mode == "channels") channels(world, o);
}
