// launcher_job: the ranks that tests/integration/test_launcher.cpp starts under the real
// `parrun`. Each mode is one way for a job to behave or to end; output goes through write(2) so
// that nothing is left in a stdio buffer when a rank dies.
//
//   launcher_job MODE [ARGS...]
//     ok                       join, print "rank R of S", leave
//     env NAME...              join, print "rank R NAME=VALUE" (or "rank R NAME unset") per name
//     fail KIND RANK [CODE]    join, print "rank R pid P"; once every other rank has told it
//                              so, rank RANK fails as KIND (exit, exit0, segv, throw, abort);
//                              the others block in recv(RANK, 7)
//     unjoined RANK DELAY_MS   rank RANK exits 0 after DELAY_MS without joining; the others join
//     block                    join, print "ready R P", block in recv((R+1)%S, 7) forever
//     stubborn                 as block, but SIGTERM is ignored
//     hang                     join; rank 0 sleeps outside parrun, rank 1 blocks in recv(0, 7),
//                              ranks >= 2 leave at once
//     stop RANK                join, print "ready R P"; rank RANK then stops itself (SIGSTOP),
//                              the others block in recv(RANK, 7)
//     late RANK                rank RANK sleeps 60 s before joining; the others join
//     late_fail RANK           the others leave at once; rank RANK exits 3 after 500 ms
//     lost RANK                --continue-on-failure: rank RANK exits 3 after joining, every
//                              other rank receives from it and reports the peer_lost it gets
//     flood LINES              every rank writes LINES numbered lines to stdout and to stderr,
//                              each line in three separate writes
//     longline BYTES           every rank writes one line of BYTES copies of 'a'+R
//     tail                     print a last line without newline on stdout and stderr, leave
//     stdin                    rank 0 reports what it read from stdin; the others report where
//                              their stdin points and what reading it gives
//     mark DIR                 create DIR/rank-R and leave (proves a rank was started)
//     grandchild               fork a child that sleeps forever, print "grandchild R P", leave
//     plain                    never join: print "plain R" from PARRUN_RANK and exit 0
//
// With LT_STUBBORN=1 in the environment, every rank that joins ignores SIGTERM from then on.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <string>
#include <thread>

#include <parrun/parrun.hpp>

namespace {

void write_all(int fd, const std::string& s) {
  std::size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

void say(const std::string& line) { write_all(1, line + "\n"); }

[[noreturn]] void usage(const char* why) {
  write_all(2, std::string("launcher_job: ") + why + "\n");
  std::_Exit(64);
}

int arg_int(int argc, char** argv, int i) {
  if (i >= argc) usage("missing argument");
  return std::atoi(argv[i]);
}

int env_rank() {
  const char* r = std::getenv("PARRUN_RANK");
  return r != nullptr ? std::atoi(r) : 0;
}

void sleep_forever() {
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

std::string me(parrun::communicator& world) { return "rank " + std::to_string(world.rank()); }

// Joins the job; with LT_STUBBORN=1, SIGTERM is ignored from then on.
struct joined {
  parrun::environment env;
  joined(int argc, char** argv) : env(argc, argv) {
    if (const char* s = std::getenv("LT_STUBBORN"); s != nullptr && std::string(s) == "1") signal(SIGTERM, SIG_IGN);
  }
};

int mode_fail(int argc, char** argv) {
  const std::string kind = argc > 2 ? argv[2] : "";
  const int victim = arg_int(argc, argv, 3);
  const int code = argc > 4 ? std::atoi(argv[4]) : 3;
  joined j(argc, argv);
  auto& world = j.env.world();
  say(me(world) + " pid " + std::to_string(getpid()));
  if (world.rank() != victim) {
    world.send(victim, 5, world.rank());  // "I am set up": the victim fails only after this
    (void)world.recv<int>(victim, 7);      // never sent: the launcher ends this rank
    say(me(world) + " was not terminated");
    return 0;
  }
  for (int r = 0; r < world.size() - 1; ++r) (void)world.recv<int>(parrun::any_source, 5);
  if (kind == "exit") std::exit(code);
  if (kind == "exit0") std::exit(0);  // leaves without destroying env
  if (kind == "segv") {
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
  }
  if (kind == "throw") throw std::runtime_error("boom from rank " + std::to_string(world.rank()));
  if (kind == "abort") parrun::abort(code, "checksum mismatch on rank " + std::to_string(world.rank()));
  usage("unknown fail kind");
}

int mode_unjoined(int argc, char** argv) {
  const int victim = arg_int(argc, argv, 2);
  const int delay_ms = arg_int(argc, argv, 3);
  if (env_rank() == victim) {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    say("rank " + std::to_string(victim) + " leaves without joining");
    return 0;
  }
  parrun::environment env(argc, argv);
  (void)env.world().recv<int>(victim, 7);
  return 0;
}

int mode_block(int argc, char** argv, bool stubborn) {
  parrun::environment env(argc, argv);
  auto& world = env.world();
  if (stubborn) signal(SIGTERM, SIG_IGN);
  world.barrier();  // the ranks have talked: their lanes (shared-memory rings) exist
  say("ready " + std::to_string(world.rank()) + " " + std::to_string(getpid()));
  (void)world.recv<int>((world.rank() + 1) % world.size(), 7);
  say(me(world) + " was not terminated");
  return 0;
}

int mode_hang(int argc, char** argv) {
  joined j(argc, argv);
  auto& world = j.env.world();
  say("ready " + std::to_string(world.rank()) + " " + std::to_string(getpid()));
  if (world.rank() == 0) sleep_forever();
  if (world.rank() == 1) (void)world.recv<int>(0, 7);
  return 0;
}

int mode_stop(int argc, char** argv) {
  const int victim = arg_int(argc, argv, 2);
  parrun::environment env(argc, argv);
  auto& world = env.world();
  say("ready " + std::to_string(world.rank()) + " " + std::to_string(getpid()));
  if (world.rank() == victim) {
    raise(SIGSTOP);
    sleep_forever();  // continued: still not answering, until the launcher ends it
  }
  (void)world.recv<int>(victim, 7);
  return 0;
}

int mode_late(int argc, char** argv) {
  const int victim = arg_int(argc, argv, 2);
  if (env_rank() == victim) std::this_thread::sleep_for(std::chrono::seconds(60));
  parrun::environment env(argc, argv);
  (void)env.world().recv<int>(victim, 7);
  return 0;
}

int mode_late_fail(int argc, char** argv) {
  const int victim = arg_int(argc, argv, 2);
  parrun::environment env(argc, argv);
  if (env.world().rank() == victim) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    std::exit(3);
  }
  return 0;
}

int mode_lost(int argc, char** argv) {
  const int victim = arg_int(argc, argv, 2);
  parrun::environment env(argc, argv);
  auto& world = env.world();
  if (world.rank() == victim) std::exit(3);
  try {
    (void)world.recv<int>(victim, 7);
    say(me(world) + " received something");
  } catch (const parrun::peer_lost& e) {
    say(me(world) + " caught peer_lost for rank " + std::to_string(e.rank()));
  }
  return 0;
}

int mode_flood(int argc, char** argv) {
  const int lines = arg_int(argc, argv, 2);
  parrun::environment env(argc, argv);
  const std::string r = std::to_string(env.world().rank());
  for (int i = 0; i < lines; ++i) {
    const std::string body = "flood rank " + r + " line " + std::to_string(i) + " ";
    for (int fd : {1, 2}) {
      // One line in three writes: the launcher must join them, whatever the others write.
      write_all(fd, body);
      write_all(fd, std::string(static_cast<std::size_t>(40 + i % 50), static_cast<char>('a' + env.world().rank() % 26)));
      write_all(fd, " end\n");
    }
  }
  return 0;
}

int mode_longline(int argc, char** argv) {
  const int bytes = arg_int(argc, argv, 2);
  parrun::environment env(argc, argv);
  const char c = static_cast<char>('a' + env.world().rank() % 26);
  std::string line(static_cast<std::size_t>(bytes), c);
  // In pieces smaller than a pipe buffer, so the launcher sees many partial reads.
  for (std::size_t i = 0; i < line.size(); i += 10000) write_all(1, line.substr(i, 10000));
  write_all(1, "\n");
  return 0;
}

int mode_tail(int argc, char** argv) {
  parrun::environment env(argc, argv);
  const std::string r = std::to_string(env.world().rank());
  write_all(1, "first line from " + r + "\nlast words from " + r);
  write_all(2, "stderr tail from " + r);
  return 0;
}

int mode_stdin(int argc, char** argv) {
  parrun::environment env(argc, argv);
  auto& world = env.world();
  char target[256] = {};
  ssize_t len = readlink("/proc/self/fd/0", target, sizeof target - 1);
  if (len > 0) target[len] = '\0';
  std::uint64_t bytes = 0, hash = 1469598103934665603ull;  // FNV-1a
  std::string head;
  char buf[65536];
  for (;;) {
    ssize_t n = read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      hash = (hash ^ static_cast<unsigned char>(buf[i])) * 1099511628211ull;
      if (head.size() < 64) head.push_back(buf[i] == '\n' ? '|' : buf[i]);
    }
    bytes += static_cast<std::uint64_t>(n);
  }
  say(me(world) + " stdin=" + std::string(len > 0 ? target : "?") +
      " bytes=" + std::to_string(bytes) + " fnv=" + std::to_string(hash) + " head=" + head);
  return 0;
}

int mode_mark(int argc, char** argv) {
  if (argc < 3) usage("mark DIR");
  const std::string path = std::string(argv[2]) + "/rank-" + std::to_string(env_rank());
  int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  if (fd >= 0) close(fd);
  parrun::environment env(argc, argv);
  return 0;
}

int mode_grandchild(int argc, char** argv) {
  parrun::environment env(argc, argv);
  pid_t child = fork();
  if (child == 0) {
    signal(SIGTERM, SIG_IGN);  // only SIGKILL ends it
    sleep_forever();
  }
  say("grandchild " + std::to_string(env.world().rank()) + " " + std::to_string(child));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage("no mode given");
  const std::string mode = argv[1];
  if (mode == "ok") {
    parrun::environment env(argc, argv);
    say("rank " + std::to_string(env.world().rank()) + " of " + std::to_string(env.world().size()));
    return 0;
  }
  if (mode == "env") {
    parrun::environment env(argc, argv);
    const std::string r = std::to_string(env.world().rank());
    say("rank " + r + " world " + r + "/" + std::to_string(env.world().size()) + " local " +
        std::to_string(env.local_rank()) + "/" + std::to_string(env.local_size()));
    for (int i = 2; i < argc; ++i) {
      const char* v = std::getenv(argv[i]);
      say("rank " + r + " " + argv[i] + (v != nullptr ? "=" + std::string(v) : std::string(" unset")));
    }
    return 0;
  }
  if (mode == "fail") return mode_fail(argc, argv);
  if (mode == "unjoined") return mode_unjoined(argc, argv);
  if (mode == "block") return mode_block(argc, argv, false);
  if (mode == "stubborn") return mode_block(argc, argv, true);
  if (mode == "hang") return mode_hang(argc, argv);
  if (mode == "stop") return mode_stop(argc, argv);
  if (mode == "late") return mode_late(argc, argv);
  if (mode == "late_fail") return mode_late_fail(argc, argv);
  if (mode == "lost") return mode_lost(argc, argv);
  if (mode == "flood") return mode_flood(argc, argv);
  if (mode == "longline") return mode_longline(argc, argv);
  if (mode == "tail") return mode_tail(argc, argv);
  if (mode == "stdin") return mode_stdin(argc, argv);
  if (mode == "mark") return mode_mark(argc, argv);
  if (mode == "grandchild") return mode_grandchild(argc, argv);
  if (mode == "plain") {
    say("plain " + std::to_string(env_rank()));
    return 0;
  }
  usage("unknown mode");
}
