// Small jobs judged by their output (tests/integration/channels.cmake):
//   lost-channel-value  rank 0 sends a value on a channel that rank 1 never receives: rank 1's
//                       lost-message warning names the channel
//   two-threads         rank 0 calls parrun from a second thread while its first is blocked
//                       inside parrun: a usage_error that says what is supported
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <parrun/parrun.hpp>

int main(int argc, char** argv) {
  parrun::environment env(argc, argv);
  parrun::communicator& world = env.world();
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "lost-channel-value") {
    auto ch = world.channel<int>(1 - world.rank(), 3, 4);
    if (world.rank() == 0) ch.send(5);
    world.barrier();
    return 0;
  }
  if (mode == "two-threads") {
    if (world.rank() == 0) {
      std::thread blocked([&] { (void)world.recv<int>(1, 1); });
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      try {
        world.send(1, 2, 7);
        std::printf("no error\n");
      } catch (const parrun::usage_error& e) {
        std::printf("caught usage_error: %s\n", e.what());
      }
      std::fflush(stdout);
      blocked.join();
      world.send(1, 2, 7);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(400));
      world.send(0, 1, 1);
      (void)world.recv<int>(0, 2);
    }
    return 0;
  }
  std::fprintf(stderr, "unknown mode\n");
  return 2;
}
