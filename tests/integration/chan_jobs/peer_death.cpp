// A rank dies (SIGKILL) while others use channels or the pool with it. Run under
// `parrun --continue-on-failure`, so that the survivors see the death as parrun::peer_lost
// (without that option the launcher ends the whole job at once).
//   channel  rank 1 sends 3 values to rank 0, then dies: rank 0 gets the 3, then peer_lost
//   fanin    every rank but 0 sends 2 values to rank 0's fan-in channel; rank 1 then dies
//            instead of closing: the channel still ends once the others close
//   pool     pool_map whose input 5 kills the rank computing it: every survivor gets peer_lost
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <parrun/parrun.hpp>

int main(int argc, char** argv) {
  parrun::environment env(argc, argv);
  auto& world = env.world();
  const std::string mode = argc > 1 ? argv[1] : "";
  const int me = world.rank();
  if (mode == "channel") {
    if (me == 1) {
      auto ch = world.channel<int>(0, 1, 8);
      for (int i = 0; i < 3; ++i) ch.send(i);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the values arrive
      raise(SIGKILL);
    }
    if (me == 0) {
      auto ch = world.channel<int>(1, 1, 8);
      int got = 0;
      try {
        for (;;) got += ch.recv() >= 0;
      } catch (const parrun::peer_lost& e) {
        std::printf("rank 0 caught peer_lost after %d values: %s\n", got, e.what());
      }
    }
  } else if (mode == "fanin") {
    if (me == 0) {
      auto in = world.channel<int>(parrun::any_source, 2, 4);
      int got = 0;
      for (int v : in) got += v >= 0;
      std::printf("rank 0's fan-in channel ended after %d values\n", got);
    } else {
      auto out = world.channel<int>(0, 2, 4);
      out.send(me);
      out.send(me);
      if (me == 1) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        raise(SIGKILL);
      }
      out.close();
    }
  } else if (mode == "pool") {
    std::vector<int> inputs(40);
    for (int i = 0; i < 40; ++i) inputs[static_cast<std::size_t>(i)] = i;
    try {
      parrun::pool_map(world, inputs, [](int x) {
        if (x == 5) raise(SIGKILL);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return x;
      }, {.chunksize = 1, .root_works = false});
      std::printf("rank %d: pool_map returned\n", me);
    } catch (const parrun::peer_lost& e) {
      std::printf("rank %d caught peer_lost: %s\n", me, e.what());
    }
  }
}
