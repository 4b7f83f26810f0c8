// 06_heat_equation: steady-state heat in a square plate by Jacobi iteration. The top edge is held
// at 100 degrees, the other edges at 0. The plate is cut into blocks on a 2-D cartesian grid of
// ranks (parrun::dims_create picks it: 4 ranks make 2x2, 6 make 3x2). Every iteration each rank
// swaps its edge rows (contiguous) and edge columns (strided, no packing by hand) with its four
// neighbours straight from and into its own grid; at the plate's edges shift() says no_rank and
// the exchange does nothing there. Every 20 iterations an in-place allreduce of the largest change
// decides whether to stop. Once warm the loop allocates nothing: run it with tools/bench's
// malloc_census preloaded and it counts (LD_PRELOAD=build/bench/libmalloc_census.so parrun ...).
//
// Each new value is the same sum in the same order whatever the blocks, the maximum is exact, and
// rank 0 adds the final checksum in row order, so every -n prints the same answer.
//   parrun -n 4 ./06_heat_equation [size] [tolerance] [max iterations]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include <parrun/parrun.hpp>

// The number of heap allocations so far, when malloc_census is preloaded (else null).
extern "C" unsigned long malloc_census_count() __attribute__((weak));

namespace {

// One rank's block of the plate: rows x cols interior points and a halo ring around them.
struct block {
  int row0, rows;  // global interior row of the first row, and how many
  int col0, cols;
  std::size_t width() const { return static_cast<std::size_t>(cols) + 2; }
  std::size_t at(int r, int c) const { return static_cast<std::size_t>(r) * width() + static_cast<std::size_t>(c); }
};

// [first, first + count) of n points split into `parts`, part `i`.
std::pair<int, int> share(int n, int parts, int i) {
  const int first = i * n / parts;
  return {first, (i + 1) * n / parts - first};
}

}  // namespace

int main(int argc, char** argv) {
  parrun::environment env(argc, argv);
  const parrun::communicator& world = env.world();
  const int n = argc > 1 ? std::atoi(argv[1]) : 200;  // interior points per side
  const double tolerance = argc > 2 ? std::atof(argv[2]) : 1e-3;
  const int max_iterations = argc > 3 ? std::atoi(argv[3]) : 100'000;
  const double start = parrun::wtime();

  // Rows of blocks along dimension 0, columns along dimension 1; the plate does not wrap.
  const parrun::cartesian_communicator grid = world.cartesian(parrun::dims_create(world.size(), 2), false);
  const std::vector<int> me = grid.coords();
  block b{};
  std::tie(b.row0, b.rows) = share(n, grid.dims()[0], me[0]);
  std::tie(b.col0, b.cols) = share(n, grid.dims()[1], me[1]);
  std::vector<double> u((static_cast<std::size_t>(b.rows) + 2) * b.width(), 0.0), next = u;
  if (me[0] == 0)  // the hot edge is the halo row above the plate's first row
    for (int c = 0; c <= b.cols + 1; ++c) u[b.at(0, c)] = next[b.at(0, c)] = 100.0;

  // The four exchanges: neighbours by direction, and views of this rank's own memory.
  const auto [above, below] = grid.shift(0, 1);  // along dim 0: from above, to below
  const auto [left, right] = grid.shift(1, 1);
  auto row = [&](std::vector<double>& g, int r) { return std::span(g).subspan(b.at(r, 1), static_cast<std::size_t>(b.cols)); };
  auto column = [&](std::vector<double>& g, int c) {
    return parrun::strided(std::span(g), {.count = static_cast<std::size_t>(b.rows), .block = 1, .stride = b.width()}, b.at(1, c));
  };
  auto exchange_halos = [&](std::vector<double>& g) {
    grid.sendrecv(below, 0, row(g, b.rows), above, 0, row(g, 0));         // down
    grid.sendrecv(above, 1, row(g, 1), below, 1, row(g, b.rows + 1));      // up
    grid.sendrecv(right, 2, column(g, b.cols), left, 2, column(g, 0));     // right
    grid.sendrecv(left, 3, column(g, 1), right, 3, column(g, b.cols + 1));  // left
  };

  // Allocations are counted once the loop is warm: the first messages to each neighbour make
  // the shared-memory rings, and the first few dozen collectives fill the runtime's free lists
  // (buffers, queue entries); from then on everything is reused.
  constexpr int warm_up = 1000;
  unsigned long allocations_before = 0, allocations_after = 0;
  int iterations = 0;
  double change = 0;
  for (;;) {
    if (iterations == warm_up && malloc_census_count != nullptr) allocations_before = malloc_census_count();
    exchange_halos(u);
    double local = 0;
    for (int r = 1; r <= b.rows; ++r)
      for (int c = 1; c <= b.cols; ++c) {
        const double v = 0.25 * (u[b.at(r - 1, c)] + u[b.at(r + 1, c)] + u[b.at(r, c - 1)] + u[b.at(r, c + 1)]);
        local = std::max(local, std::abs(v - u[b.at(r, c)]));
        next[b.at(r, c)] = v;
      }
    std::swap(u, next);
    ++iterations;
    if (iterations % 20 == 0 || iterations >= max_iterations) {
      grid.allreduce(std::span(&local, 1), parrun::max{});  // in place: no allocation
      change = local;
      if (change < tolerance || iterations >= max_iterations) break;
    }
  }
  if (malloc_census_count != nullptr && iterations > warm_up) allocations_after = malloc_census_count();
  const auto counted = static_cast<long>(allocations_after - allocations_before);
  const long allocated = grid.allreduce(counted, std::plus<>{});

  // Every block's interior to rank 0, which lays them out on the whole plate and sums it in
  // row order.
  std::vector<double> mine;
  mine.reserve(static_cast<std::size_t>(b.rows) * static_cast<std::size_t>(b.cols));
  for (int r = 1; r <= b.rows; ++r) {
    const auto part = row(u, r);
    mine.insert(mine.end(), part.begin(), part.end());
  }
  const std::vector<int> counts = grid.allgather(static_cast<int>(mine.size()));
  std::vector<double> all(grid.rank() == 0 ? static_cast<std::size_t>(n) * static_cast<std::size_t>(n) : 0);
  grid.gatherv(mine, all, counts, {}, 0);
  if (grid.rank() != 0) return 0;
  std::vector<double> plate(all.size());
  std::size_t from = 0;
  for (int q = 0; q < grid.size(); ++q) {
    const std::vector<int> at = grid.coords(q);
    const auto [r0, rs] = share(n, grid.dims()[0], at[0]);
    const auto [c0, cs] = share(n, grid.dims()[1], at[1]);
    for (int r = 0; r < rs; ++r)
      for (int c = 0; c < cs; ++c)
        plate[static_cast<std::size_t>(r0 + r) * static_cast<std::size_t>(n) + static_cast<std::size_t>(c0 + c)] = all[from++];
  }
  double checksum = 0;
  for (const double v : plate) checksum += v;
  const double center = plate[static_cast<std::size_t>(n / 2) * static_cast<std::size_t>(n) + static_cast<std::size_t>(n / 2)];
  std::printf("heat %dx%d: %d iterations, last change %.6e, center %.6f, checksum %.6f\n", n, n, iterations, change,
              center, checksum);
  std::printf("(%d ranks on a %dx%d grid, %.3f s)\n", grid.size(), grid.dims()[0], grid.dims()[1], parrun::wtime() - start);
  if (malloc_census_count != nullptr && iterations > warm_up)
    std::printf("heap allocations in iterations %d..%d, all ranks: %ld (%.3f per rank and iteration)\n", warm_up + 1,
                iterations, allocated, static_cast<double>(allocated) / grid.size() / (iterations - warm_up));
}
