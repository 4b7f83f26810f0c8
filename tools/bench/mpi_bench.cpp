// mpi_bench: parrun_bench.cpp's measurements written for MPI, for comparison only (compiled by
// compare.sh with mpicxx.openmpi / mpicxx.mpich; MPI is not a dependency of parrun).
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace {

void latency(int rank) {
  if (rank > 1) return;
  const int peer = 1 - rank;
  std::uint64_t x = 42;
  auto round = [&] {
    if (rank == 0) {
      MPI_Send(&x, 8, MPI_BYTE, peer, 0, MPI_COMM_WORLD);
      MPI_Recv(&x, 8, MPI_BYTE, peer, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else {
      MPI_Recv(&x, 8, MPI_BYTE, peer, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(&x, 8, MPI_BYTE, peer, 0, MPI_COMM_WORLD);
    }
  };
  for (int i = 0; i < 200; ++i) round();
  const int n = 5000;
  const double t = MPI_Wtime();
  for (int i = 0; i < n; ++i) round();
  if (rank == 0) std::printf("latency_8B %.2f us\n", (MPI_Wtime() - t) / (2.0 * n) * 1e6);
}

void bandwidth(int rank) {
  if (rank > 1) return;
  const int size = 16 << 20, window = 8, repeats = 8;
  std::vector<char> buf(static_cast<std::size_t>(size), 'x');
  int ack = 0;
  auto burst = [&] {
    if (rank == 0) {
      std::vector<MPI_Request> reqs(window);
      for (int i = 0; i < window; ++i) MPI_Isend(buf.data(), size, MPI_BYTE, 1, 1, MPI_COMM_WORLD, &reqs[static_cast<std::size_t>(i)]);
      MPI_Waitall(window, reqs.data(), MPI_STATUSES_IGNORE);
      MPI_Recv(&ack, 1, MPI_INT, 1, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else {
      for (int i = 0; i < window; ++i) MPI_Recv(buf.data(), size, MPI_BYTE, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(&ack, 1, MPI_INT, 0, 2, MPI_COMM_WORLD);
    }
  };
  burst();
  const double t = MPI_Wtime();
  for (int r = 0; r < repeats; ++r) burst();
  if (rank == 0) std::printf("bandwidth_16MiB %.0f MB/s\n", double(size) * window * repeats / (MPI_Wtime() - t) / 1e6);
}

template <class F>
double time_per_call(int iterations, F&& f) {
  for (int i = 0; i < std::max(2, iterations / 10); ++i) f();
  MPI_Barrier(MPI_COMM_WORLD);
  const double t = MPI_Wtime();
  for (int i = 0; i < iterations; ++i) f();
  double mine = (MPI_Wtime() - t) / iterations * 1e6, slowest = 0;
  MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return slowest;
}

void collectives(int rank) {
  double small = rank, out = 0;
  const double t_small = time_per_call(2000, [&] {
    MPI_Allreduce(&small, &out, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    small = out * 1e-9;
  });
  std::vector<double> big(1u << 20, 1.0), sum(big.size());
  const double t_big = time_per_call(20, [&] {
    MPI_Allreduce(big.data(), sum.data(), int(big.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  });
  std::vector<char> block(1u << 20, 'b');
  const double t_bcast = time_per_call(100, [&] { MPI_Bcast(block.data(), int(block.size()), MPI_BYTE, 0, MPI_COMM_WORLD); });
  if (rank == 0) {
    std::printf("allreduce_8B %.1f us\n", t_small);
    std::printf("allreduce_8MiB %.0f us\n", t_big);
    std::printf("broadcast_1MiB %.0f us\n", t_bcast);
  }
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const std::string what = argc > 1 ? argv[1] : "";
  if (what == "latency") latency(rank);
  else if (what == "bandwidth") bandwidth(rank);
  else if (what == "collectives") collectives(rank);
  else if (what == "hello") {
    char host[MPI_MAX_PROCESSOR_NAME];
    int len = 0, size = 0;
    MPI_Get_processor_name(host, &len);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    std::printf("hello from rank %d of %d on %s\n", rank, size, host);
  }
  MPI_Finalize();
}
