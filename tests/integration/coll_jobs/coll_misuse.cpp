// Collective misuse that must end the job with an error naming the mistake, never hang:
//   lengths   element-wise allreduce with a different vector length on the last rank
//   parts     scatter whose root gives the wrong number of parts
//   mismatch  rank 0 calls broadcast while the others call allreduce
//   types     broadcast of an int at the root, of a double elsewhere
#include <functional>
#include <string>
#include <vector>

#include <parrun/parrun.hpp>

int main(int argc, char** argv) {
  parrun::environment env(argc, argv);
  auto& world = env.world();
  const std::string mode = argc > 1 ? argv[1] : "";
  const int me = world.rank(), p = world.size();
  if (mode == "lengths") {
    std::vector<double> v(me == p - 1 ? 5 : 6, 1.0);
    world.allreduce(v, std::plus<>{});
  } else if (mode == "parts") {
    std::vector<int> parts(me == 0 ? static_cast<std::size_t>(p + 2) : 0);
    world.scatter(parts, 0);
  } else if (mode == "mismatch") {
    int x = 1;
    if (me == 0) world.broadcast(x, 0);
    else world.allreduce(x, std::plus<>{});
  } else if (mode == "types") {
    if (me == 0) {
      int x = 1;
      world.broadcast(x, 0);
    } else {
      double y = 0;
      world.broadcast(y, 0);
    }
  }
  world.barrier();
}
