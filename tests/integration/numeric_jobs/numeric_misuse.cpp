// Misuse of the numeric-code API that must end the job with an error naming the mistake and the
// sizes involved, never hang or write past a buffer:
//   alltoallv_counts  alltoallv with one count per rank plus one
//   gatherv_displs    gatherv whose root places rank 1's block past the end of its buffer
//   allreduce_sizes   allreduce(in, out) with an input of 4 and an output of 3 elements
//   cartesian_places  a grid with more places than the communicator has ranks
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <parrun/parrun.hpp>

int main(int argc, char** argv) {
  parrun::environment env(argc, argv);
  const parrun::communicator& world = env.world();
  const std::string mode = argc > 1 ? argv[1] : "";
  const int me = world.rank(), p = world.size();
  const auto n = static_cast<std::size_t>(p);
  if (mode == "alltoallv_counts") {
    std::vector<double> send(n + 1, 1.0), recv(n + 1);
    const std::vector<int> counts(n + 1, 1);
    world.alltoallv(send, counts, {}, recv, counts, {});
  } else if (mode == "gatherv_displs") {
    std::vector<int> all(10, -1);
    std::vector<int> counts(n, 2), displs(n);
    for (std::size_t r = 0; r < n; ++r) displs[r] = static_cast<int>(2 * r);
    displs[1] = 9;  // 2 elements at 9: past the 10-element buffer
    world.gatherv(std::vector<int>(2, me), all, counts, displs, 0);
  } else if (mode == "allreduce_sizes") {
    std::vector<double> in(4, 1.0), out(3);
    world.allreduce(in, out, std::plus<>{});
  } else if (mode == "cartesian_places") {
    (void)world.cartesian({p, 2}, false);
  }
  world.barrier();
}
