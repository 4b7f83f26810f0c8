// 05_pool_primes: Python's Pool.map, across ranks. Two jobs in the style of the multiprocessing
// examples: counting the primes below N (uneven work: larger numbers cost more), and "resizing"
// 10,000 synthetic images (box-filtering 512x512 down to 128x128). Each runs once sequentially at
// rank 0 and once with pool_map on all ranks; the speedup is printed.
//   parrun -n 4 ./05_pool_primes [N]
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <vector>

#include <parrun/parrun.hpp>

namespace {

bool is_prime(std::uint64_t n) {
  if (n < 2) return false;
  for (std::uint64_t d = 2; d * d <= n; ++d)
    if (n % d == 0) return false;
  return true;
}

// The number of primes in [from, from + 1000).
int primes_in_block(std::uint64_t from) {
  int count = 0;
  for (std::uint64_t n = from; n < from + 1000; ++n) count += is_prime(n);
  return count;
}

// Image `index` (512x512 grey, made up), box-filtered to 128x128; returns a checksum of the result.
std::uint64_t resize_image(int index) {
  constexpr int in = 512, out = 128, f = in / out;
  std::vector<std::uint8_t> pixels(in * in);
  for (int y = 0; y < in; ++y)
    for (int x = 0; x < in; ++x) pixels[static_cast<std::size_t>(y * in + x)] = static_cast<std::uint8_t>((x * 7 + y * 13 + index * 31) ^ (x * y));
  std::uint64_t checksum = 0;
  for (int y = 0; y < out; ++y)
    for (int x = 0; x < out; ++x) {
      unsigned sum = 0;
      for (int dy = 0; dy < f; ++dy)
        for (int dx = 0; dx < f; ++dx) sum += pixels[static_cast<std::size_t>((y * f + dy) * in + x * f + dx)];
      checksum = checksum * 31 + sum / (f * f);
    }
  return checksum;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

template <class In, class Fn>
void compare(parrun::communicator& world, const char* what, const std::vector<In>& inputs, Fn fn) {
  using R = decltype(fn(inputs[0]));
  std::vector<R> sequential;
  double seq_seconds = 0;
  if (world.rank() == 0) {
    const auto t = std::chrono::steady_clock::now();
    for (const In& x : inputs) sequential.push_back(fn(x));
    seq_seconds = seconds_since(t);
  }
  world.barrier();
  const auto t = std::chrono::steady_clock::now();
  std::vector<R> parallel = parrun::pool_map(world, inputs, fn);
  const double par_seconds = seconds_since(t);
  if (world.rank() != 0) return;
  const R total = std::accumulate(parallel.begin(), parallel.end(), R{});
  std::printf("%s: %s, result %llu; sequential %.3f s, pool_map on %d ranks %.3f s: speedup %.2fx\n", what,
              parallel == sequential ? "same as sequential" : "DIFFERS FROM SEQUENTIAL",
              static_cast<unsigned long long>(total), seq_seconds, world.size(), par_seconds,
              seq_seconds / par_seconds);
}

}  // namespace

int main(int argc, char** argv) {
  parrun::environment env(argc, argv);
  parrun::communicator& world = env.world();
  const std::uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 3'000'000;
  const int images = argc > 2 ? std::atoi(argv[2]) : 10'000;

  std::vector<std::uint64_t> blocks;
  if (world.rank() == 0)
    for (std::uint64_t from = 0; from < n; from += 1000) blocks.push_back(from);
  compare(world, "primes below N (blocks of 1000)", blocks, primes_in_block);

  std::vector<int> indices;
  if (world.rank() == 0) {
    indices.resize(static_cast<std::size_t>(images));
    std::iota(indices.begin(), indices.end(), 0);
  }
  compare(world, "resize 10,000 images", indices, resize_image);
}
