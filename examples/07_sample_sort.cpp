// 07_sample_sort: sorts N random integers spread over the ranks (10 million by default), by
// regular sampling: sort locally, pick p-1 evenly spaced samples per rank, gather them, choose
// p-1 splitters at rank 0 and broadcast them, send every rank the keys between its splitters
// (alltoall), and merge. Rank 0 then checks the result against std::sort of the same input.
//   parrun -n 4 ./07_sample_sort [N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

#include <parrun/parrun.hpp>

namespace {

// Rank r's share of the input: the same numbers whatever the number of ranks.
std::vector<int> input_of(long n, int r, int p) {
  const long first = n * r / p, last = n * (r + 1) / p;
  std::vector<int> keys;
  keys.reserve(static_cast<std::size_t>(last - first));
  std::mt19937_64 rng;
  for (long i = first; i < last; ++i) {
    rng.seed(static_cast<std::uint64_t>(i) * 0x9e3779b97f4a7c15ull + 1);
    keys.push_back(static_cast<int>(rng() % 1'000'000'000));
  }
  return keys;
}

}  // namespace

int main(int argc, char** argv) {
  parrun::environment env(argc, argv);
  parrun::communicator& world = env.world();
  const long n = argc > 1 ? std::atol(argv[1]) : 10'000'000L;
  const int me = world.rank(), p = world.size();

  std::vector<int> keys = input_of(n, me, p);
  world.barrier();
  const auto start = std::chrono::steady_clock::now();

  std::sort(keys.begin(), keys.end());
  std::vector<int> samples;
  for (int i = 1; i < p; ++i)
    if (!keys.empty()) samples.push_back(keys[keys.size() * static_cast<std::size_t>(i) / static_cast<std::size_t>(p)]);
  std::vector<int> all_samples = world.gatherv(samples, 0);
  std::vector<int> splitters;
  if (me == 0) {
    std::sort(all_samples.begin(), all_samples.end());
    for (int i = 1; i < p; ++i)
      if (!all_samples.empty())
        splitters.push_back(all_samples[all_samples.size() * static_cast<std::size_t>(i) / static_cast<std::size_t>(p)]);
  }
  world.broadcast(splitters, 0);

  std::vector<std::vector<int>> buckets(static_cast<std::size_t>(p));
  auto from = keys.begin();
  for (int q = 0; q < p; ++q) {
    auto to = q < static_cast<int>(splitters.size()) ? std::upper_bound(from, keys.end(), splitters[static_cast<std::size_t>(q)]) : keys.end();
    buckets[static_cast<std::size_t>(q)].assign(from, to);
    from = to;
  }
  std::vector<std::vector<int>> received = world.alltoall(buckets);
  std::vector<int> mine;
  for (auto& b : received) {
    const auto middle = static_cast<std::ptrdiff_t>(mine.size());
    mine.insert(mine.end(), b.begin(), b.end());
    std::inplace_merge(mine.begin(), mine.begin() + middle, mine.end());
  }
  world.barrier();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const long total = world.reduce(static_cast<long>(mine.size()), std::plus<>{}, 0);
  const int largest_bucket = world.reduce(static_cast<int>(mine.size()), parrun::max{}, 0);
  std::vector<int> sorted = world.gatherv(mine, 0);
  if (me != 0) return 0;

  std::vector<int> reference;
  for (int r = 0; r < p; ++r) {
    std::vector<int> part = input_of(n, r, p);
    reference.insert(reference.end(), part.begin(), part.end());
  }
  const auto seq_start = std::chrono::steady_clock::now();
  std::sort(reference.begin(), reference.end());
  const double seq_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - seq_start).count();
  const bool ok = total == n && sorted == reference;
  std::printf("sample sort of %ld integers on %d ranks: %s (largest bucket %d keys)\n", n, p,
              ok ? "matches std::sort" : "DIFFERS FROM std::sort", largest_bucket);
  std::printf("parallel %.3f s, std::sort %.3f s\n", seconds, seq_seconds);
  return ok ? 0 : 1;
}
