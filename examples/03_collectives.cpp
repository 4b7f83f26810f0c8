// 03_collectives: a tour. Every rank calls each collective, in the same order.
//   parrun -n 4 ./03_collectives
#include <cstdio>
#include <functional>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include <parrun/parrun.hpp>

struct settings {  // any Cereal-serializable type can be broadcast
  std::string name;
  std::map<std::string, double> parameters;
  template <class Archive>
  void serialize(Archive& a) {
    a(name, parameters);
  }
};

int main(int argc, char** argv) {
  parrun::environment env(argc, argv);
  parrun::communicator& world = env.world();
  const int me = world.rank(), p = world.size();

  // broadcast: rank 0's settings reach everyone.
  settings s;
  if (me == 0) s = {"tour", {{"scale", 2.5}, {"offset", 1.0}}};
  world.broadcast(s, 0);

  // scatter: one work item per rank; gather: the results back at rank 0, in rank order.
  std::vector<int> items;
  if (me == 0) {
    items.resize(static_cast<std::size_t>(p));
    std::iota(items.begin(), items.end(), 10);
  }
  const int item = world.scatter(items, 0);
  const double result = item * s.parameters.at("scale") + s.parameters.at("offset");
  const std::vector<double> results = world.gather(result, 0);

  // allreduce: everyone learns the total; element-wise on vectors, like MPI's count > 1.
  const double total = world.allreduce(result, std::plus<>{});
  const std::vector<int> histogram = world.allreduce(std::vector<int>{me % 2 == 0, me % 2 == 1}, std::plus<>{});
  const int lowest = world.allreduce(item, parrun::min{});

  // scan: where each rank's block starts in a global array (exclusive prefix sum of sizes).
  const int my_size = me + 1;
  const int offset = world.exscan(my_size, std::plus<>{});

  // reduce with a non-commutative op: strings concatenate in rank order.
  const std::string word = world.reduce(std::string(1, static_cast<char>('a' + me % 26)), std::plus<>{}, 0);

  // alltoall: rank r sends "r->q" to every q.
  std::vector<std::string> out;
  for (int q = 0; q < p; ++q) out.push_back(std::to_string(me) + "->" + std::to_string(q));
  const std::vector<std::string> in = world.alltoall(out);

  // split: even and odd ranks get communicators of their own.
  parrun::communicator half = world.split(me % 2);
  const int half_sum = half.allreduce(me, std::plus<>{});

  world.barrier();
  std::printf("rank %d: item %d, offset %d, from rank 0: \"%s\", half sum %d\n", me, item, offset,
              in.front().c_str(), half_sum);
  if (me == 0) {
    std::printf("settings \"%s\"; results:", s.name.c_str());
    for (double r : results) std::printf(" %.1f", r);
    std::printf("\ntotal %.1f, even/odd ranks %d/%d, lowest item %d, word \"%s\"\n", total,
                histogram[0], histogram[1], lowest, word.c_str());
  }
}
