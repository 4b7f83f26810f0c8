// 01_ping_pong: rank 0 and rank 1 bounce a growing message; each side checks what it got.
//   parrun -n 2 ./01_ping_pong
#include <cstdio>
#include <string>
#include <vector>

#include <parrun/parrun.hpp>

// A struct that travels through Cereal (it holds a string, so it is not raw bytes).
struct score {
  std::string player;
  int points = 0;
  template <class Archive>
  void serialize(Archive& a) {
    a(player, points);
  }
};

int main(int argc, char** argv) {
  parrun::environment env(argc, argv);
  parrun::communicator& world = env.world();
  if (world.size() < 2) {
    if (world.rank() == 0) std::printf("ping-pong needs 2 ranks: parrun -n 2 %s\n", argv[0]);
    return 0;
  }
  const int peer = 1 - world.rank();
  if (world.rank() > 1) return 0;  // ranks beyond the pair sit this one out

  std::vector<int> ball;
  for (int round = 0; round < 10; ++round) {
    if (world.rank() == round % 2) {
      ball.push_back(round);
      world.send(peer, /*tag=*/round, ball);
    } else {
      ball = world.recv<std::vector<int>>(peer, round);
      if (ball.size() != static_cast<std::size_t>(round + 1)) parrun::abort(1, "ball lost its history");
    }
  }
  if (world.rank() == 0) world.send(1, 99, score{"rank 0", static_cast<int>(ball.size())});
  if (world.rank() == 1) {
    score s = world.recv<score>(0, 99);
    std::printf("rank 1 got the ball back %zu times; final score from %s: %d\n", ball.size(),
                s.player.c_str(), s.points);
  }
}
