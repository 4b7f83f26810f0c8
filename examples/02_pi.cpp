// 02_pi: pi by numerical integration of 4/(1+x^2) over [0,1], the intervals split across ranks;
// the partial sums are combined at rank 0 with reduce (a binomial tree, not p-1 receives).
//   parrun -n 8 ./02_pi [intervals]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numbers>

#include <parrun/parrun.hpp>

int main(int argc, char** argv) {
  parrun::environment env(argc, argv);
  parrun::communicator& world = env.world();
  const long n = argc > 1 ? std::atol(argv[1]) : 400'000'000L;
  const auto start = std::chrono::steady_clock::now();

  // Midpoint rule; rank r takes intervals r, r+p, r+2p, ...
  const double h = 1.0 / static_cast<double>(n);
  double partial = 0;
  for (long i = world.rank(); i < n; i += world.size()) {
    const double x = h * (static_cast<double>(i) + 0.5);
    partial += 4.0 / (1.0 + x * x);
  }
  partial *= h;

  const double pi = world.reduce(partial, std::plus<>{}, /*root=*/0);
  if (world.rank() != 0) return 0;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("pi = %.15f (error %.2e) from %ld intervals on %d ranks in %.3f s\n", pi,
              std::abs(pi - std::numbers::pi), n, world.size(), seconds);
}
