// The shared-memory lane reading a ring that a peer filled with anything at all. The peer is
// this process, playing rank 0 through the real handshake (runtime/transport/shm/handshake.hpp)
// against a fresh lane of rank 1; the input is the ring's published head index (u32) and its data
// area. Whatever the bytes say (records of impossible lengths, unknown kinds, frames that
// announce more than they send, chunks of no frame, direct frames pointing anywhere in this
// process), reading must neither crash, nor allocate beyond -malloc_limit_mb, nor deliver a frame
// with a payload other than what the records hold.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include <parrun/wire.hpp>

#include "fuzz_support.hpp"
#include "shm_hello.hpp"
#include "transport/shm/handshake.hpp"
#include "transport/shm/ring.hpp"
#include "transport/shm/shm_lane.hpp"

namespace {

using namespace parrun::detail;
using parrun::fuzz::bug;

constexpr std::uint64_t ring_bytes = 64 * 1024;

struct counting_sink final : frame_sink {
  std::size_t frames = 0;
  void on_frame(frame&& f) override {
    ++frames;
    if (f.env.world_source != 0) bug("shm_ring", "delivered a frame that claims another sender");
    if (f.body.size() != 0 && f.body.data() == nullptr) bug("shm_ring", "a payload without bytes");
    volatile std::byte sink{};
    for (std::size_t i = 0; i < f.body.size(); i += 4096) sink = f.body.data()[i];  // readable
    (void)sink;
  }
  void on_control(std::string&&) override {}
};

const std::string& socket_dir() {
  static const std::string dir = [] {
    std::string t = "/tmp/parrun-fuzz-shm-XXXXXX";
    if (mkdtemp(t.data()) == nullptr) bug("shm_ring", "cannot make a directory");
    return t;
  }();
  return dir;
}

// Opens a ring holding `data` (head published at `head`) to `path`, as rank 0.
// Returns the connection, to be closed once the lane has answered.
int open_ring(const std::string& path, std::uint64_t head, std::span<const std::byte> data) {
  const int ring = memfd_create("fuzz-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  const std::size_t bytes = shm::header_bytes + ring_bytes;
  if (ring < 0 || ftruncate(ring, static_cast<off_t>(bytes)) != 0) bug("shm_ring", "memfd");
  fcntl(ring, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, ring, 0);
  shm::ring_writer w(mem, ring_bytes);
  std::memcpy(static_cast<std::byte*>(mem) + shm::header_bytes, data.data(), std::min<std::size_t>(data.size(), ring_bytes));
  w.header()->head.store(head);

  shm::hello_msg h{};
  h.magic = shm::hello_magic;
  h.version = shm::handshake_version;
  h.rank = 0;
  h.secret_length = 1;
  h.secret[0] = 's';
  h.ring_bytes = ring_bytes;
  const int bell = eventfd(0, EFD_CLOEXEC);
  const int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) bug("shm_ring", "connect");
  if (!parrun::test::send_shm_hello(s, h, ring, bell)) bug("shm_ring", "sendmsg");
  close(bell);
  close(ring);
  munmap(mem, bytes);  // the lane maps its own view
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  parrun::fuzz::reader in(data, size);
  const std::uint64_t head = in.take<std::uint32_t>();
  const std::span<const std::byte> ring = in.rest();
  shm_lane lane(socket_dir(), 1);
  shm_options o;
  o.dir = socket_dir();
  o.secret = "s";
  o.pids = {getpid(), getpid()};
  o.peers = {true, false};
  o.my_rank = 1;
  o.ring_bytes = ring_bytes;
  o.allow_direct = false;
  lane.start(std::move(o));
  const int connection = open_ring(parrun::wire::shm_socket_path(socket_dir(), 1), head, ring);
  counting_sink sink;
  for (int i = 0; i < 8; ++i) {
    lane.tend();
    lane.drain(sink);
  }
  lane.close();
  close(connection);
  return 0;
}
