// Built against the installed package: the public headers, libparrun and its Cereal dependency
// must all come from the install. Rank 1 sends rank 0 a vector and a string; rank 0 checks them.
#include <cstdio>
#include <string>
#include <vector>

#include <parrun/parrun.hpp>

int main(int argc, char** argv) {
  parrun::environment env(argc, argv);
  auto& world = env.world();
  if (world.size() != 2) parrun::abort(1, "run me with parrun -n 2");
  if (world.rank() == 1) {
    world.send(0, 7, std::vector<int>{1, 2, 3});
    world.send(0, 8, std::string("from the installed parrun"));
  } else {
    auto v = world.recv<std::vector<int>>(1, 7);
    auto s = world.recv<std::string>(1, 8);
    if (v != std::vector<int>{1, 2, 3}) parrun::abort(2, "wrong vector");
    std::printf("installed app: rank 0 of %d got %zu ints and '%s' (parrun %s)\n", world.size(), v.size(),
                s.c_str(), parrun::version());
  }
}
