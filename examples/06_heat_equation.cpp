// 06_heat_equation: steady-state heat in a square plate by Jacobi iteration. The top edge is held
// at 100 degrees, the other edges at 0. Rows are split across ranks; each iteration swaps one
// halo row with each neighbour (sendrecv), and every 20 iterations an allreduce of the largest
// change decides whether to stop. The maximum is exact in any order, and the final checksum is
// summed at rank 0 in row order, so every -n prints the same answer.
//   parrun -n 4 ./06_heat_equation [size] [tolerance]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <parrun/parrun.hpp>

int main(int argc, char** argv) {
  parrun::environment env(argc, argv);
  parrun::communicator& world = env.world();
  const int n = argc > 1 ? std::atoi(argv[1]) : 200;          // interior points per side
  const double tolerance = argc > 2 ? std::atof(argv[2]) : 1e-3;
  const int me = world.rank(), p = world.size();
  const auto start = std::chrono::steady_clock::now();

  // My rows: [first, first + rows) of the n interior rows, plus one halo row above and below.
  const int first = me * n / p, rows = (me + 1) * n / p - first;
  const auto width = static_cast<std::size_t>(n + 2);
  std::vector<double> grid((static_cast<std::size_t>(rows) + 2) * width, 0.0), next = grid;
  auto at = [&](std::vector<double>& g, int r, int c) -> double& {
    return g[static_cast<std::size_t>(r) * width + static_cast<std::size_t>(c)];
  };
  if (me == 0)
    for (int c = 0; c < n + 2; ++c) at(grid, 0, c) = at(next, 0, c) = 100.0;  // the hot edge

  const int up = me > 0 ? me - 1 : -1, down = me < p - 1 ? me + 1 : -1;
  auto exchange_halos = [&] {
    std::vector<double> row(width);
    if (up >= 0 && rows > 0) {
      std::copy_n(&at(grid, 1, 0), width, row.begin());
      row = world.sendrecv<std::vector<double>>(up, 0, row, up, 1);
      std::copy(row.begin(), row.end(), &at(grid, 0, 0));
    }
    if (down >= 0 && rows > 0) {
      std::copy_n(&at(grid, rows, 0), width, row.begin());
      row = world.sendrecv<std::vector<double>>(down, 1, row, down, 0);
      std::copy(row.begin(), row.end(), &at(grid, rows + 1, 0));
    }
  };

  int iterations = 0;
  double change = 0;
  for (;;) {
    exchange_halos();
    double local = 0;
    for (int r = 1; r <= rows; ++r)
      for (int c = 1; c <= n; ++c) {
        const double v = 0.25 * (at(grid, r - 1, c) + at(grid, r + 1, c) + at(grid, r, c - 1) + at(grid, r, c + 1));
        local = std::max(local, std::abs(v - at(grid, r, c)));
        at(next, r, c) = v;
      }
    std::swap(grid, next);
    ++iterations;
    if (iterations % 20 == 0) {
      change = world.allreduce(local, parrun::max{});
      if (change < tolerance || iterations >= 100'000) break;
    }
  }

  // Interior rows to rank 0 in order, summed there in one fixed order.
  std::vector<double> mine(grid.begin() + static_cast<std::ptrdiff_t>(width),
                           grid.begin() + static_cast<std::ptrdiff_t>((static_cast<std::size_t>(rows) + 1) * width));
  std::vector<double> all = world.gatherv(mine, 0);
  if (me != 0) return 0;
  double checksum = 0;
  for (std::size_t r = 0; r < static_cast<std::size_t>(n); ++r)
    for (std::size_t c = 1; c <= static_cast<std::size_t>(n); ++c) checksum += all[r * width + c];
  const double center = all[static_cast<std::size_t>(n / 2) * width + static_cast<std::size_t>(n / 2 + 1)];
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("heat %dx%d: %d iterations, last change %.6e, center %.6f, checksum %.6f\n", n, n,
              iterations, change, center, checksum);
  std::printf("(%d ranks, %.3f s)\n", p, seconds);
}
