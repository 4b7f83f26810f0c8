// 00_hello: every rank says who and where it is.
//   parrun -n 4 ./00_hello
#include <cstdio>

#include <parrun/parrun.hpp>

int main(int argc, char** argv) {
  parrun::environment env(argc, argv);
  parrun::communicator& world = env.world();
  std::printf("hello from rank %d of %d on %s\n", world.rank(), world.size(), env.host().c_str());
}
