// 04_channels_pipeline: producer -> workers -> collector, ended by closing channels instead of
// sentinel values. Rank 0 produces the numbers 1..N and deals them to the workers (ranks
// 1..p-2); each worker computes the Collatz sequence length of every number it gets and sends
// the result on; the last rank collects. The collector's channel is a fan-in channel on a
// communicator of the workers and the collector only, so it is closed exactly when every
// worker has closed its end. The answer is the same for any number of ranks.
//   parrun -n 4 ./04_channels_pipeline [N]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include <parrun/parrun.hpp>

namespace {

int collatz_steps(std::uint64_t n) {
  int steps = 0;
  for (; n != 1; ++steps) n = n % 2 == 0 ? n / 2 : 3 * n + 1;
  return steps;
}

}  // namespace

int main(int argc, char** argv) {
  parrun::environment env(argc, argv);
  parrun::communicator& world = env.world();
  const std::uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 300'000;
  const int p = world.size(), me = world.rank();
  if (p < 3) {
    if (me == 0) std::printf("the pipeline needs a producer, a worker and a collector: parrun -n 3 or more\n");
    return 0;
  }
  const int producer = 0, collector = p - 1;
  // Workers and the collector: the collector's fan-in channel receives from each of them.
  parrun::communicator back_end = world.split(me == producer ? parrun::no_color : 0);

  if (me == producer) {
    std::vector<parrun::channel<std::uint64_t>> to_workers;
    for (int w = 1; w < collector; ++w) to_workers.push_back(world.channel<std::uint64_t>(w, /*id=*/1, /*capacity=*/64));
    for (std::uint64_t i = 1; i <= n; ++i) to_workers[i % to_workers.size()].send(i);
    for (auto& ch : to_workers) ch.close();  // no sentinel: closing is the end of the stream
  } else if (me != collector) {
    auto in = world.channel<std::uint64_t>(producer, 1, 64);
    auto out = back_end.channel<std::pair<std::uint64_t, int>>(back_end.size() - 1, /*id=*/2, 64);
    for (std::uint64_t i : in) out.send({i, collatz_steps(i)});
    out.close();
  } else {
    auto in = back_end.channel<std::pair<std::uint64_t, int>>(parrun::any_source, 2, 64);
    std::uint64_t count = 0, longest_at = 0, total_steps = 0;
    int longest = -1;
    for (auto [i, steps] : in) {
      ++count;
      total_steps += static_cast<std::uint64_t>(steps);
      if (steps > longest || (steps == longest && i < longest_at)) {
        longest = steps;
        longest_at = i;
      }
    }
    std::printf("collected %llu results from %d workers: the longest Collatz sequence below %llu starts at %llu "
                "(%d steps); %llu steps in all\n",
                static_cast<unsigned long long>(count), p - 2, static_cast<unsigned long long>(n + 1),
                static_cast<unsigned long long>(longest_at), longest, static_cast<unsigned long long>(total_steps));
  }
}
