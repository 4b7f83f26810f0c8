// mpi_bench: parrun_bench.cpp's measurements written for MPI, for comparison only (compiled by
// compare.sh with mpicxx.openmpi and mpicxx.mpich; MPI is never a dependency of parrun or of its
// tests). Same modes, options, sizes, windows, keys and timing method (bench_harness.hpp:
// calibrated warm-up, 5 timed batches, median per-iteration time, each batch its slowest rank's).
//   mpirun -n 2 mpi_bench latency|bandwidth|bibw|p2p [--quick]
//   mpirun -n P mpi_bench collectives [--quick]
//   mpirun -n P mpi_bench hello          one line per rank (the job start-up benchmark)
// Payloads are MPI_BYTE buffers used in place (MPI's zero-copy API: no copy into a message, the
// library moves the bytes straight from and to the user's buffer); allreduce is MPI_SUM on
// MPI_DOUBLE, out of place. The bandwidth receiver pre-posts its window of MPI_Irecv as OSU's
// osu_bw does; the sender reuses one buffer for the window's MPI_Isend (legal since MPI-3).
#include <mpi.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "bench_harness.hpp"

namespace {

using bench::clock_type;
using bench::seconds_since;

constexpr int data_tag = 1, ack_tag = 2, sync_tag = 3;

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int world_size() {
  int s = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

double pair_max(double mine) {
  const int peer = 1 - world_rank();
  double theirs = 0;
  MPI_Sendrecv(&mine, 1, MPI_DOUBLE, peer, sync_tag, &theirs, 1, MPI_DOUBLE, peer, sync_tag,
               MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  return std::max(mine, theirs);
}

double world_max(double mine) {
  double slowest = 0;
  MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return slowest;
}

int count(std::size_t bytes) { return static_cast<int>(bytes); }

void latency(const bench::options& o) {
  const int rank = world_rank(), peer = 1 - rank;
  for (std::size_t size : o.p2p_sizes()) {
    std::vector<char> buf = bench::payload(size);
    const bench::timing r = bench::measure(o, pair_max, [&](long n) {
      const auto t = clock_type::now();
      for (long i = 0; i < n; ++i) {
        if (rank == 0) {
          MPI_Send(buf.data(), count(size), MPI_BYTE, peer, data_tag, MPI_COMM_WORLD);
          MPI_Recv(buf.data(), count(size), MPI_BYTE, peer, data_tag, MPI_COMM_WORLD,
                   MPI_STATUS_IGNORE);
        } else {
          MPI_Recv(buf.data(), count(size), MPI_BYTE, peer, data_tag, MPI_COMM_WORLD,
                   MPI_STATUS_IGNORE);
          MPI_Send(buf.data(), count(size), MPI_BYTE, peer, data_tag, MPI_COMM_WORLD);
        }
      }
      return seconds_since(t);
    });
    if (rank == 0)
      bench::report("latency_" + bench::size_label(size), r, "us",
                    [](double s) { return s / 2 * 1e6; });
  }
}

void bandwidth(const bench::options& o) {
  const int rank = world_rank();
  for (std::size_t size : o.p2p_sizes()) {
    const int window = bench::window_for(size);
    std::vector<char> buf = bench::payload(size);
    std::vector<std::vector<char>> in(static_cast<std::size_t>(window), std::vector<char>(size));
    std::vector<MPI_Request> reqs(static_cast<std::size_t>(window));
    std::int32_t ack = 0;
    const bench::timing r = bench::measure(o, pair_max, [&](long n) {
      const auto t = clock_type::now();
      for (long i = 0; i < n; ++i) {
        if (rank == 0) {
          for (int j = 0; j < window; ++j)
            MPI_Isend(buf.data(), count(size), MPI_BYTE, 1, data_tag, MPI_COMM_WORLD,
                      &reqs[static_cast<std::size_t>(j)]);
          MPI_Waitall(window, reqs.data(), MPI_STATUSES_IGNORE);
          MPI_Recv(&ack, 1, MPI_INT32_T, 1, ack_tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else {
          for (int j = 0; j < window; ++j)
            MPI_Irecv(in[static_cast<std::size_t>(j)].data(), count(size), MPI_BYTE, 0, data_tag,
                      MPI_COMM_WORLD, &reqs[static_cast<std::size_t>(j)]);
          MPI_Waitall(window, reqs.data(), MPI_STATUSES_IGNORE);
          MPI_Send(&ack, 1, MPI_INT32_T, 0, ack_tag, MPI_COMM_WORLD);
        }
      }
      return seconds_since(t);
    });
    if (rank == 0)
      bench::report("bandwidth_" + bench::size_label(size), r, "MB/s",
                    [&](double s) { return static_cast<double>(size) * window / s / 1e6; });
  }
}

void bibw(const bench::options& o) {
  const int rank = world_rank(), peer = 1 - rank;
  for (std::size_t size : o.p2p_sizes()) {
    const int window = bench::window_for(size);
    std::vector<char> buf = bench::payload(size);
    std::vector<std::vector<char>> in(static_cast<std::size_t>(window), std::vector<char>(size));
    std::vector<MPI_Request> reqs(2 * static_cast<std::size_t>(window));
    const bench::timing r = bench::measure(o, pair_max, [&](long n) {
      const auto t = clock_type::now();
      for (long i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < in.size(); ++j)
          MPI_Irecv(in[j].data(), count(size), MPI_BYTE, peer, data_tag, MPI_COMM_WORLD, &reqs[j]);
        for (std::size_t j = 0; j < in.size(); ++j)
          MPI_Isend(buf.data(), count(size), MPI_BYTE, peer, data_tag, MPI_COMM_WORLD,
                    &reqs[in.size() + j]);
        MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE);
      }
      return seconds_since(t);
    });
    if (rank == 0)
      bench::report("bibw_" + bench::size_label(size), r, "MB/s",
                    [&](double s) { return 2.0 * static_cast<double>(size) * window / s / 1e6; });
  }
}

void collectives(const bench::options& o) {
  const int rank = world_rank(), size_of_world = world_size();
  // As parrun_bench.cpp: back to back from a barrier, broadcast's root moving at every call.
  auto timed = [&](auto&& call) {
    return bench::measure(o, world_max, [&](long n) {
      MPI_Barrier(MPI_COMM_WORLD);
      const auto t = clock_type::now();
      for (long i = 0; i < n; ++i) call(static_cast<int>(i % size_of_world));
      return seconds_since(t);
    });
  };
  auto say = [&](const std::string& key, const bench::timing& t) {
    if (rank == 0) bench::report(key, t, "us", [](double s) { return s * 1e6; });
  };
  for (std::size_t size : bench::options::reduce_sizes()) {
    const std::vector<double> x(size / sizeof(double), rank + 1.0);
    std::vector<double> sum(x.size());
    say("allreduce_" + bench::size_label(size), timed([&](int) {
          MPI_Allreduce(x.data(), sum.data(), static_cast<int>(x.size()), MPI_DOUBLE, MPI_SUM,
                        MPI_COMM_WORLD);
        }));
  }
  for (std::size_t size : bench::options::reduce_sizes()) {
    std::vector<char> block = bench::payload(size);
    say("broadcast_" + bench::size_label(size), timed([&](int root) {
          MPI_Bcast(block.data(), count(size), MPI_BYTE, root, MPI_COMM_WORLD);
        }));
  }
  for (std::size_t size : bench::options::alltoall_sizes()) {
    const std::vector<char> out = bench::payload(size * static_cast<std::size_t>(size_of_world));
    std::vector<char> got(out.size());
    say("alltoall_" + bench::size_label(size), timed([&](int) {
          MPI_Alltoall(out.data(), count(size), MPI_BYTE, got.data(), count(size), MPI_BYTE,
                       MPI_COMM_WORLD);
        }));
  }
  say("barrier", timed([&](int) { MPI_Barrier(MPI_COMM_WORLD); }));
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const bench::options o = bench::options::parse(argc, argv);
  const int rank = world_rank();
  if (o.mode == "collectives") {
    collectives(o);
  } else if (o.mode == "hello") {
    char host[MPI_MAX_PROCESSOR_NAME];
    int len = 0;
    MPI_Get_processor_name(host, &len);
    std::printf("hello from rank %d of %d on %s\n", rank, world_size(), host);
  } else if (o.mode == "latency" || o.mode == "bandwidth" || o.mode == "bibw" || o.mode == "p2p") {
    if (world_size() < 2) {
      std::fprintf(stderr, "mpi_bench %s needs two ranks: mpirun -n 2 ...\n", o.mode.c_str());
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
    if (rank <= 1) {
      if (o.mode == "latency" || o.mode == "p2p") latency(o);
      if (o.mode == "bandwidth" || o.mode == "p2p") bandwidth(o);
      if (o.mode == "bibw" || o.mode == "p2p") bibw(o);
    }
  } else if (rank == 0) {
    std::fprintf(stderr,
                 "usage: mpirun -n 2 mpi_bench latency|bandwidth|bibw|p2p [--quick] [--time S] "
                 "[--max-size BYTES]\n       mpirun -n P mpi_bench collectives|hello [--quick]\n");
  }
  MPI_Finalize();
}
