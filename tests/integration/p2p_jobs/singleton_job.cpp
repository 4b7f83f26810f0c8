// A program that joins "its job" and talks to itself, for tests/integration/test_singleton.cpp.
//   singleton_job plain   joins as a user program would (no try/catch), sends itself a message,
//                         prints "singleton ok: rank R of N, launched L" and exits 0
//   singleton_job catch   the same, but catches parrun's errors: prints
//                         "caught <kind>: <what>" on stderr and exits 3 (transport_error),
//                         4 (usage_error) or 5 (any other parrun::error)
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <parrun/parrun.hpp>

namespace {

int talk_to_myself() {
  parrun::environment env;
  parrun::communicator& world = env.world();
  world.send(world.rank(), 1, std::vector<int>{1, 2, 3});
  const auto v = world.recv<std::vector<int>>(world.rank(), 1);
  if (v != std::vector<int>{1, 2, 3}) {
    std::fprintf(stderr, "singleton_job: the message to myself came back wrong\n");
    return 1;
  }
  std::printf("singleton ok: rank %d of %d, launched %d\n", world.rank(), world.size(),
              env.launched() ? 1 : 0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const bool catching = argc > 1 && std::strcmp(argv[1], "catch") == 0;
  if (!catching) return talk_to_myself();
  try {
    return talk_to_myself();
  } catch (const parrun::transport_error& e) {
    std::fprintf(stderr, "caught transport_error: %s\n", e.what());
    return 3;
  } catch (const parrun::usage_error& e) {
    std::fprintf(stderr, "caught usage_error: %s\n", e.what());
    return 4;
  } catch (const parrun::error& e) {
    std::fprintf(stderr, "caught parrun::error: %s\n", e.what());
    return 5;
  }
}
