// A process that is not part of the job and tries to get in, with nothing but libzmq and the
// socket names (tests/integration/test_security.cpp runs it). It knows the frame format (the
// 32-byte envelope of runtime/transport/transport.hpp) but not the job secret.
//
//   intruder [--as-nobody] forge ENDPOINT CONTEXT TYPE TAG SOURCE WORLD_SOURCE FLAGS PAYLOAD
//       sends one forged frame three ways: without authentication, with a guessed secret, and
//       (raw) as a plain unix-socket client; prints what the kernel said to a raw connect
//   intruder [--as-nobody] garbage SOCKET_PATH N 64 KiB of random bytes, then N idle connections
//   intruder shm-forge SHM_PATH CONTEXT TYPE TAG SOURCE WORLD_SOURCE FLAGS PAYLOAD
//       opens a shared-memory ring to the rank (runtime/transport/shm/handshake.hpp) holding the
//       forged frame, twice: with a guessed secret, and with the job's real secret (a process
//       of the same user can read it from a rank's environment) while claiming to be
//       WORLD_SOURCE; prints "shm handshake ...: accepted|refused|closed"
//   intruder hello RENDEZVOUS                   malformed and oversized hellos to the launcher
// Exit status: 0 when it ran; what got through is judged by the job, not here.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "shm_hello.hpp"
#include "transport/shm/handshake.hpp"
#include "transport/shm/ring.hpp"

namespace {

struct envelope {
  std::uint64_t context, type;
  std::int32_t tag, source;
  std::uint32_t flags, world_source;
};
static_assert(sizeof(envelope) == 32);

void become_nobody() {
  if (getuid() != 0) return;
  if (setgid(65534) != 0 || setuid(65534) != 0) {
    std::perror("intruder: setuid nobody");
    std::exit(3);
  }
}

// A raw connect, to see what the kernel says (EACCES for a stranger, in a 0700 directory).
// A stream socket for ZeroMQ's, a packet socket for the shared-memory lane's.
int raw_connect(const std::string& path) {
  for (int type : {SOCK_STREAM, SOCK_SEQPACKET}) {
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
    const int e = errno;
    close(fd);
    errno = e;
    if (e != EPROTOTYPE) return -1;
  }
  return -1;
}

// One attempt to open a ring holding `env` + `payload` to the rank listening at `path`.
void shm_attempt(const char* what, const std::string& path, const envelope& env, const std::string& payload,
                 const std::string& secret, int claimed_rank) {
  namespace shm = parrun::detail::shm;
  const std::uint64_t ring_bytes = 64 * 1024;
  const int ring = memfd_create("forged", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (ring < 0 || ftruncate(ring, static_cast<off_t>(shm::header_bytes + ring_bytes)) != 0) return;
  fcntl(ring, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
  void* mem = mmap(nullptr, shm::header_bytes + ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, ring, 0);
  shm::ring_writer w(mem, ring_bytes);
  const std::uint64_t total = payload.size();
  std::byte* at = w.reserve(sizeof env + 8 + payload.size());
  std::memcpy(at, &env, sizeof env);
  std::memcpy(at + sizeof env, &total, 8);
  std::memcpy(at + sizeof env + 8, payload.data(), payload.size());
  w.commit(sizeof env + 8 + payload.size(), shm::record_kind::frame);

  shm::hello_msg h{};
  h.magic = shm::hello_magic;
  h.version = shm::handshake_version;
  h.rank = claimed_rank;
  h.secret_length = static_cast<std::uint32_t>(std::min(secret.size(), sizeof h.secret));
  std::memcpy(h.secret, secret.data(), h.secret_length);
  h.ring_bytes = ring_bytes;
  const int bell = eventfd(0, EFD_CLOEXEC);
  const int s = raw_connect(path);
  if (s < 0) {
    std::printf("intruder: shm handshake %s: cannot connect: %s\n", what, std::strerror(errno));
    return;
  }
  if (!parrun::test::send_shm_hello(s, h, ring, bell))
    std::printf("intruder: shm handshake %s: send: %s\n", what, std::strerror(errno));
  shm::reply_msg r{};
  timeval tv{3, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const ssize_t n = recv(s, &r, sizeof r, 0);
  if (n == static_cast<ssize_t>(sizeof r) && r.magic == shm::reply_magic)
    std::printf("intruder: shm handshake %s: %s\n", what, r.accepted == 1 ? "accepted" : "refused");
  else
    std::printf("intruder: shm handshake %s: closed\n", what);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  close(s);
  close(bell);
  close(ring);
  munmap(mem, shm::header_bytes + ring_bytes);
}

int shm_forge(char** a) {
  const std::string path = a[0];
  envelope env{std::stoull(a[1]), std::stoull(a[2]), std::stoi(a[3]), std::stoi(a[4]),
               static_cast<std::uint32_t>(std::stoul(a[6])), static_cast<std::uint32_t>(std::stoul(a[5]))};
  const char* secret = std::getenv("PARRUN_SECRET");
  shm_attempt("with a guessed secret", path, env, a[7], "0123456789abcdef0123456789abcdef",
              static_cast<int>(env.world_source));
  if (secret != nullptr)
    shm_attempt("with the job secret", path, env, a[7], secret, static_cast<int>(env.world_source));
  std::fflush(stdout);
  return 0;
}

void send_forged(zmq::context_t& ctx, const std::string& endpoint, const envelope& env,
                 const std::string& payload, const char* secret) {
  zmq::socket_t s(ctx, zmq::socket_type::push);
  s.set(zmq::sockopt::linger, 500);
  if (secret != nullptr) {
    s.set(zmq::sockopt::plain_username, "parrun");
    s.set(zmq::sockopt::plain_password, secret);
  }
  s.connect(endpoint);
  s.send(zmq::buffer(&env, sizeof env), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  s.send(zmq::buffer(payload), zmq::send_flags::dontwait);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
}

int forge(char** a) {
  const std::string endpoint = a[0];
  envelope env{std::stoull(a[1]), std::stoull(a[2]), std::stoi(a[3]), std::stoi(a[4]),
               static_cast<std::uint32_t>(std::stoul(a[6])), static_cast<std::uint32_t>(std::stoul(a[5]))};
  const std::string payload = a[7];
  const std::string path = endpoint.substr(endpoint.find("://") + 3);
  const int fd = raw_connect(path);
  if (fd < 0) std::printf("intruder: raw connect to %s: %s\n", path.c_str(), std::strerror(errno));
  else {
    std::printf("intruder: raw connect to %s: connected\n", path.c_str());
    close(fd);
  }
  zmq::context_t ctx(1);
  send_forged(ctx, endpoint, env, payload, nullptr);
  send_forged(ctx, endpoint, env, payload, "0123456789abcdef0123456789abcdef");
  std::fflush(stdout);
  return 0;
}

int garbage(const char* path, int idle_count) {
  std::mt19937 rng(7);
  std::vector<char> junk(64 * 1024);
  for (char& c : junk) c = static_cast<char>(rng());
  int fd = raw_connect(path);
  if (fd >= 0) {
    ssize_t ignored = write(fd, junk.data(), junk.size());
    (void)ignored;
    close(fd);
  }
  // A ZeroMQ peer that sends a 1-byte message (it cannot authenticate).
  {
    zmq::context_t ctx(1);
    zmq::socket_t s(ctx, zmq::socket_type::push);
    s.set(zmq::sockopt::linger, 300);
    s.connect(std::string("ipc://") + path);
    s.send(zmq::buffer("x", 1), zmq::send_flags::dontwait);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  std::vector<int> idle;
  for (int i = 0; i < idle_count; ++i) {
    const int c = raw_connect(path);
    if (c >= 0) idle.push_back(c);
  }
  std::printf("intruder: held %zu idle connections\n", idle.size());
  std::this_thread::sleep_for(std::chrono::seconds(1));
  for (int c : idle) close(c);
  std::fflush(stdout);
  return 0;
}

int hello(const char* rendezvous) {
  zmq::context_t ctx(1);
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 300);
  s.connect(rendezvous);
  // kind=hello, version, then a length claiming a 3 GiB secret: 13 bytes.
  std::string claim(1, '\x01');
  const std::uint32_t version = 2;
  claim.append(reinterpret_cast<const char*>(&version), 4);
  const std::uint64_t huge = std::uint64_t{3} << 30;
  claim.append(reinterpret_cast<const char*>(&huge), 8);
  s.send(zmq::buffer(claim), zmq::send_flags::none);
  s.send(zmq::buffer("\x01", 1), zmq::send_flags::none);
  s.send(zmq::buffer(std::string(1, '\x09') + std::string(40, '\0')), zmq::send_flags::none);  // a finalize
  std::string big(4u << 20, 'z');  // longer than any control message
  s.send(zmq::buffer(big), zmq::send_flags::none);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int i = 1;
  if (i < argc && std::string(argv[i]) == "--as-nobody") {
    become_nobody();
    ++i;
  }
  const std::string mode = i < argc ? argv[i] : "";
  if (mode == "forge" && argc - i >= 9) return forge(argv + i + 1);
  if (mode == "garbage" && argc - i >= 3) return garbage(argv[i + 1], std::atoi(argv[i + 2]));
  if (mode == "hello" && argc - i >= 2) return hello(argv[i + 1]);
  if (mode == "shm-forge" && argc - i >= 9) return shm_forge(argv + i + 1);
  std::fprintf(stderr, "usage: intruder [--as-nobody] forge|garbage|hello ...\n");
  return 2;
}
