#include "transport/shm/shm_lane.hpp"

#include "transport/same_secret.hpp"
#include "transport/shm/handshake.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <chrono>
#include <random>

#include <parrun/errors.hpp>
#include <parrun/wire.hpp>

#include "warn_first.hpp"

namespace parrun::detail {
namespace {

using shm::hello_magic;
using shm::hello_msg;
using shm::record_kind;
using shm::reply_magic;
using shm::reply_msg;
constexpr std::uint32_t handshake_version = shm::handshake_version;

constexpr std::size_t page_bytes = 4096;
constexpr std::size_t frame_head = sizeof(envelope) + 8;   // envelope + total payload size
constexpr std::size_t direct_record = frame_head + 8;      // + the payload's address
constexpr std::size_t chunk_bytes = 64 * 1024;             // pipelined payload per record
constexpr std::size_t read_batch = 256;                    // records per ring per drain
constexpr std::size_t max_greeting = 64;                   // connections not yet introduced
constexpr std::size_t assembly_step = 4 << 20;             // a pipelined frame's first allocation
constexpr std::size_t direct_step = 64 << 20;              // a direct frame's allocation steps

void close_fd(int& fd) noexcept {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

void unmap(void*& p, std::size_t bytes) noexcept {
  if (p != nullptr) ::munmap(p, bytes);
  p = nullptr;
}

bool send_with_fds(int socket, const void* msg, std::size_t size, const int* fds, int count) {
  iovec iov{const_cast<void*>(msg), size};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
  msghdr h{};
  h.msg_iov = &iov;
  h.msg_iovlen = 1;
  h.msg_control = control;
  h.msg_controllen = CMSG_SPACE(sizeof(int) * static_cast<std::size_t>(count));
  cmsghdr* c = CMSG_FIRSTHDR(&h);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * static_cast<std::size_t>(count));
  std::memcpy(CMSG_DATA(c), fds, sizeof(int) * static_cast<std::size_t>(count));
  ssize_t n;
  do n = ::sendmsg(socket, &h, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(size);
}

// Receives one message and up to `max_fds` descriptors (all closed again when anything is off).
// Returns the message size, 0 for a closed connection, -1 with errno (EAGAIN: not yet).
ssize_t recv_with_fds(int socket, void* msg, std::size_t size, int* fds, int max_fds, int& got_fds) {
  iovec iov{msg, size};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
  msghdr h{};
  h.msg_iov = &iov;
  h.msg_iovlen = 1;
  h.msg_control = control;
  h.msg_controllen = sizeof control;
  got_fds = 0;
  ssize_t n;
  do n = ::recvmsg(socket, &h, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const int count = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + sizeof(int) * static_cast<std::size_t>(i), sizeof fd);
      if (got_fds < max_fds) fds[got_fds++] = fd;
      else ::close(fd);
    }
  }
  if ((h.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    for (int i = 0; i < got_fds; ++i) ::close(fds[i]);
    got_fds = 0;
    errno = EMSGSIZE;
    return -1;
  }
  return n;
}

// A memfd of `bytes` that nobody holding it can shrink or grow (which would let one process
// crash another with SIGBUS).
int sealed_memfd(const char* name, std::size_t bytes) {
  const int fd = ::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) throw transport_error(std::string("memfd_create failed: ") + std::strerror(errno));
  if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0 ||
      ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    const int e = errno;
    ::close(fd);
    throw transport_error(std::string("cannot size a shared-memory segment: ") + std::strerror(e));
  }
  return fd;
}

// Maps a memfd a peer passed, after checking it is sealed against resizing and has `bytes`.
void* map_peer_segment(int fd, std::size_t bytes, int prot) {
  struct stat st {};
  const int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW)) return nullptr;
  if (::fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) != bytes) return nullptr;
  void* p = ::mmap(nullptr, bytes, prot, MAP_SHARED, fd, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void set_nonblocking(int fd) { (void)::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }


}  // namespace

void shm_lane::bell::ring() const noexcept {
  if (fd < 0) return;
  const std::uint64_t one = 1;
  ssize_t n;
  do n = ::write(fd, &one, sizeof one);
  while (n < 0 && errno == EINTR);
}

void shm_lane::bell::release() noexcept {
  close_fd(fd);
  unmap(page, page_bytes);
  sleeping = nullptr;
}

shm_lane::shm_lane(const std::string& dir, int my_rank) : path_(wire::shm_socket_path(dir, my_rank)) {
  opt_.my_rank = my_rank;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof addr.sun_path)
    throw transport_error("rank " + std::to_string(my_rank) + ": the socket path " + path_ +
                          " is too long for a unix socket (at most " + std::to_string(sizeof addr.sun_path - 1) +
                          " bytes); set TMPDIR to a shorter directory");
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  listen_fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 4096) != 0) {
    const int e = errno;
    close_fd(listen_fd_);
    throw transport_error("rank " + std::to_string(my_rank) + " could not listen on " + path_ + ": " +
                          std::strerror(e));
  }
  bell_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (bell_fd_ < 0) throw transport_error(std::string("eventfd failed: ") + std::strerror(errno));
  page_fd_ = sealed_memfd("parrun-doorbell", page_bytes);
  page_ = ::mmap(nullptr, page_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, page_fd_, 0);
  if (page_ == MAP_FAILED) {
    page_ = nullptr;
    throw transport_error(std::string("cannot map the doorbell page: ") + std::strerror(errno));
  }
  sleeping_ = new (page_) std::atomic<std::uint32_t>(0);
  std::random_device rd;
  probe_ = (static_cast<std::uint64_t>(rd()) << 32) | rd() | 1;
}

shm_lane::~shm_lane() { close(); }

void shm_lane::start(shm_options options) {
  const int size = static_cast<int>(options.pids.size());
  opt_ = std::move(options);
  serves_peers_ = std::find(opt_.peers.begin(), opt_.peers.end(), true) != opt_.peers.end();
  out_.resize(static_cast<std::size_t>(size));
  in_known_.assign(static_cast<std::size_t>(size), false);
  started_ = true;
}

void shm_lane::warn(const std::string& what) {
  if (const char* tail = warning_tail(++warnings_))
    std::fprintf(stderr, "parrun: rank %d: warning: %s%s\n", opt_.my_rank, what.c_str(), tail);
}

bool shm_lane::direct_to(int peer) const { return out_.at(static_cast<std::size_t>(peer)).direct; }

// ---- sending -------------------------------------------------------------------------------

void shm_lane::connect_to(int peer, out_peer& p) {
  p.state = link_state::broken;  // until the steps below all work
  p.segment_bytes = shm::header_bytes + opt_.ring_bytes;
  int ring_fd = sealed_memfd("parrun-ring", p.segment_bytes);
  p.segment = ::mmap(nullptr, p.segment_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, ring_fd, 0);
  if (p.segment == MAP_FAILED) {
    p.segment = nullptr;
    close_fd(ring_fd);
    throw transport_error(std::string("cannot map a shared-memory ring: ") + std::strerror(errno));
  }
  p.ring = shm::ring_writer(p.segment, opt_.ring_bytes);

  const auto at = static_cast<std::size_t>(peer);
  const std::string path = at < opt_.paths.size() && !opt_.paths[at].empty() ? opt_.paths[at] : wire::shm_socket_path(opt_.dir, peer);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), std::min(path.size() + 1, sizeof addr.sun_path - 1));
  p.socket = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  hello_msg h{};
  h.magic = hello_magic;
  h.version = handshake_version;
  h.rank = opt_.my_rank;
  h.secret_length = static_cast<std::uint32_t>(std::min(opt_.secret.size(), sizeof h.secret));
  std::memcpy(h.secret, opt_.secret.data(), h.secret_length);
  h.ring_bytes = opt_.ring_bytes;
  h.probe_address = reinterpret_cast<std::uintptr_t>(&probe_);
  h.probe_value = probe_;
  const int fds[2] = {ring_fd, bell_fd_};
  // A peer that is gone (it finished, or died) has no listener any more: what is written to
  // this ring is never read, which the engine's counts report as lost, as on any lane.
  if (p.socket >= 0 && ::connect(p.socket, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 &&
      send_with_fds(p.socket, &h, sizeof h, fds, 2)) {
    set_nonblocking(p.socket);
    p.state = link_state::connecting;
    connecting_.push_back(peer);
  } else {
    close_fd(p.socket);
  }
  close_fd(ring_fd);  // the mapping and the receiver's copy keep the segment
}

void shm_lane::finish_connect(int peer, out_peer& p) {
  reply_msg r{};
  int fds[2] = {-1, -1};
  int got = 0;
  const ssize_t n = recv_with_fds(p.socket, &r, sizeof r, fds, 2, got);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  close_fd(p.socket);
  std::erase(connecting_, peer);
  void* page = nullptr;
  if (n == static_cast<ssize_t>(sizeof r) && r.magic == reply_magic && r.accepted == 1 && got == 2)
    page = map_peer_segment(fds[1], page_bytes, PROT_READ);
  if (page == nullptr) {
    for (int i = 0; i < got; ++i) ::close(fds[i]);
    p.state = link_state::broken;
    if (n != 0) warn("rank " + std::to_string(peer) + " refused the shared-memory handshake");
    return;
  }
  ::close(fds[1]);
  p.theirs.fd = fds[0];
  p.theirs.page = page;
  p.theirs.sleeping = static_cast<std::atomic<std::uint32_t>*>(page);
  p.direct = r.direct == 1 && opt_.allow_direct;
  p.state = link_state::ready;
  if (p.wrote_unrung) {
    p.wrote_unrung = false;
    p.theirs.ring();  // it may have gone to sleep before it knew of this ring's last frames
  }
}

std::size_t shm_lane::chunk_limit() const noexcept {
  return std::min(chunk_bytes, static_cast<std::size_t>(opt_.ring_bytes / 2 - shm::record_header - frame_head));
}

bool shm_lane::write_direct(int peer, out_peer& p, queued& q) {
  std::byte* at = p.ring.reserve(direct_record);
  if (at == nullptr) return false;
  const std::uint64_t size = q.body.size();
  const std::uint64_t address = reinterpret_cast<std::uintptr_t>(q.body.data());
  std::memcpy(at, &q.env, sizeof q.env);
  std::memcpy(at + sizeof q.env, &size, 8);
  std::memcpy(at + frame_head, &address, 8);
  p.ring.commit(direct_record, record_kind::direct);
  if (p.direct_in_flight.empty()) direct_peers_.push_back(peer);
  p.direct_in_flight.push_back(std::move(q.body));
  ++p.direct_sent;
  return true;
}

bool shm_lane::write(int peer, out_peer& p, queued& q) {
  if (p.state == link_state::broken) return true;  // nobody reads it: the engine counts it lost
  const std::size_t size = q.body.size();
  if (!q.started) {
    if (p.direct && size >= opt_.direct_bytes) return write_direct(peer, p, q);
    const std::size_t first = size <= p.ring.max_length() - frame_head ? size : chunk_limit();
    std::byte* at = p.ring.reserve(frame_head + first);
    if (at == nullptr) return false;
    const std::uint64_t total = size;
    std::memcpy(at, &q.env, sizeof q.env);
    std::memcpy(at + sizeof q.env, &total, 8);
    if (first != 0) std::memcpy(at + frame_head, q.body.data(), first);
    p.ring.commit(frame_head + first, record_kind::frame);
    q.sent = first;
    q.started = true;
  }
  while (q.sent < size) {
    const std::size_t n = std::min(size - q.sent, chunk_limit());
    std::byte* at = p.ring.reserve(n);
    if (at == nullptr) return false;
    std::memcpy(at, q.body.data() + q.sent, n);
    p.ring.commit(n, record_kind::chunk);
    q.sent += n;
  }
  return true;
}

void shm_lane::wake(out_peer& p) {
  if (p.state == link_state::connecting) {
    p.wrote_unrung = true;
    return;
  }
  if (p.state != link_state::ready) return;
  // Pairs with the fence in prepare_sleep: either it sees this frame, or this sees its flag.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (p.theirs.sleeping->load(std::memory_order_relaxed) != 0) p.theirs.ring();
}

std::uint64_t shm_lane::post(int peer, const envelope& env, owned_bytes&& body) {
  out_peer& p = out_[static_cast<std::size_t>(peer)];
  const std::uint64_t ticket = ++p.posted;
  if (p.state == link_state::none) connect_to(peer, p);
  if (p.backlog.empty()) {
    queued q{env, std::move(body)};
    if (write(peer, p, q)) {
      p.taken = ticket;
    } else {
      backlogged_.push_back(peer);
      p.backlog.push_back(std::move(q));
    }
    wake(p);
  } else {
    p.backlog.push_back(queued{env, std::move(body)});
  }
  // The first frames go before the receiver's answer: look for it now rather than at the next
  // progress, so its doorbell is known as soon as possible.
  if (p.state == link_state::connecting) finish_connect(peer, p);
  return ticket;
}

bool shm_lane::taken(int peer, std::uint64_t ticket) const {
  return out_[static_cast<std::size_t>(peer)].taken >= ticket;
}

std::size_t shm_lane::flush(int peer, out_peer& p) {
  bool wrote = false;
  const std::uint64_t taken_before = p.taken;
  while (!p.backlog.empty()) {
    queued& q = p.backlog.front();
    const bool started = q.started;
    const std::size_t sent = q.sent;
    const bool done = write(peer, p, q);
    wrote = wrote || done || q.started != started || q.sent != sent;
    if (!done) break;
    p.backlog.pop_front();
    ++p.taken;
  }
  if (wrote) wake(p);
  return static_cast<std::size_t>(p.taken - taken_before);
}

void shm_lane::free_direct(out_peer& p) {
  std::uint64_t done = p.ring.header()->direct_done.load(std::memory_order_acquire);
  done = std::min(done, p.direct_sent);  // the receiver is trusted only this far
  while (p.direct_freed < done && !p.direct_in_flight.empty()) {
    p.direct_in_flight.pop_front();
    ++p.direct_freed;
  }
}

// ---- receiving -----------------------------------------------------------------------------

void shm_lane::accept_new() {
  for (;;) {
    const int s = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (s < 0) break;
    if (greeting_.size() >= max_greeting) {  // someone opens connections and says nothing
      int oldest = greeting_.front();
      greeting_.erase(greeting_.begin());
      close_fd(oldest);
      warn("closed a shared-memory connection that never introduced itself");
    }
    greeting_.push_back(s);
  }
  for (std::size_t i = 0; i < greeting_.size();) {
    const int s = greeting_[i];
    char probe;
    const ssize_t n = ::recv(s, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      ++i;
      continue;
    }
    greeting_.erase(greeting_.begin() + static_cast<std::ptrdiff_t>(i));
    if (n > 0) handle_hello(s);
    int closing = s;
    close_fd(closing);
  }
}

void shm_lane::handle_hello(int socket) {
  hello_msg h{};
  int fds[2] = {-1, -1};
  int got = 0;
  const ssize_t n = recv_with_fds(socket, &h, sizeof h, fds, 2, got);
  ucred cred{};
  socklen_t len = sizeof cred;
  const bool have_cred = ::getsockopt(socket, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
  auto refuse = [&](const std::string& why) {
    for (int i = 0; i < got; ++i) ::close(fds[i]);
    warn("refused a shared-memory connection from pid " + std::to_string(have_cred ? cred.pid : 0) + ": " +
         why + "; only the job's own ranks may talk to a rank");
    const reply_msg no{reply_magic, 0, 0, 0};
    (void)::send(socket, &no, sizeof no, MSG_NOSIGNAL | MSG_DONTWAIT);
  };
  const int size = static_cast<int>(opt_.pids.size());
  if (n != static_cast<ssize_t>(sizeof h) || h.magic != hello_magic) return refuse("not a parrun handshake");
  if (h.version != handshake_version) return refuse("handshake version " + std::to_string(h.version));
  if (!have_cred || cred.uid != ::geteuid()) return refuse("it runs as another user");
  if (h.secret_length > sizeof h.secret || !same_secret(std::string_view(h.secret, h.secret_length), opt_.secret))
    return refuse("wrong job secret");
  if (h.rank < 0 || h.rank >= size || h.rank == opt_.my_rank || !opt_.peers[static_cast<std::size_t>(h.rank)])
    return refuse("rank " + std::to_string(h.rank) + " is not a peer on this host");
  if (opt_.pids[static_cast<std::size_t>(h.rank)] != cred.pid)
    return refuse("it claims to be rank " + std::to_string(h.rank) + ", whose pid is " +
                  std::to_string(opt_.pids[static_cast<std::size_t>(h.rank)]));
  if (in_known_[static_cast<std::size_t>(h.rank)]) return refuse("rank " + std::to_string(h.rank) + " is connected already");
  if (got != 2) return refuse("it passed " + std::to_string(got) + " descriptors, not 2");
  if (h.ring_bytes < 4096 || h.ring_bytes > (std::uint64_t{1} << 30) || (h.ring_bytes & (h.ring_bytes - 1)) != 0)
    return refuse("ring of " + std::to_string(h.ring_bytes) + " bytes");
  const std::size_t segment_bytes = shm::header_bytes + h.ring_bytes;
  void* segment = map_peer_segment(fds[0], segment_bytes, PROT_READ | PROT_WRITE);
  if (segment == nullptr) return refuse("its ring is not a sealed segment of the size it claims");
  const auto* header = static_cast<const shm::ring_header*>(segment);
  if (header->magic != shm::ring_magic || header->capacity != h.ring_bytes) {
    ::munmap(segment, segment_bytes);
    return refuse("its ring is not formatted");
  }

  // Cross-memory attach is allowed when this process may read the sender's memory (same user,
  // no ptrace restriction in the way): try it on the word the sender offered.
  bool direct = false;
  if (opt_.allow_direct) {
    std::uint64_t value = 0;
    iovec local{&value, sizeof value};
    iovec remote{reinterpret_cast<void*>(static_cast<std::uintptr_t>(h.probe_address)), sizeof value};
    direct = ::process_vm_readv(cred.pid, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(sizeof value) &&
             value == h.probe_value;
  }
  const reply_msg yes{reply_magic, 1, direct ? 1u : 0u, 0};
  const int mine[2] = {bell_fd_, page_fd_};
  if (!send_with_fds(socket, &yes, sizeof yes, mine, 2)) {
    ::munmap(segment, segment_bytes);
    for (int i = 0; i < got; ++i) ::close(fds[i]);
    return;  // it went away meanwhile
  }
  ::close(fds[0]);
  auto in = std::make_unique<in_peer>();
  in->rank = h.rank;
  in->pid = cred.pid;
  in->segment = segment;
  in->segment_bytes = segment_bytes;
  in->ring = shm::ring_reader(segment, h.ring_bytes);
  in->theirs.fd = fds[1];
  in->direct = direct;
  in_known_[static_cast<std::size_t>(h.rank)] = true;
  in_.push_back(std::move(in));
}

bool shm_lane::read_direct(in_peer& in, std::size_t size, std::uint64_t address, owned_bytes& out) {
  // The buffer grows with what was actually read (64 MiB at a time), so a frame that claims more
  // than its sender holds cannot make this rank allocate it.
  if (address + size < address) {
    errno = EFAULT;
    return false;
  }
  out = owned_bytes{};
  out.reserve(std::min(size, direct_step));
  std::size_t done = 0;
  while (done < size) {
    if (out.capacity() == done) out.reserve(std::min(size, done + direct_step));
    const std::size_t want = std::min(size, out.capacity()) - done;
    iovec local{out.grow(want), want};
    iovec remote{reinterpret_cast<void*>(static_cast<std::uintptr_t>(address + done)), want};
    const ssize_t n = ::process_vm_readv(in.pid, &local, 1, &remote, 1, 0);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) {
        out.truncate(done);
        continue;
      }
      return false;
    }
    done += static_cast<std::size_t>(n);
    out.truncate(done);
  }
  return true;
}

bool shm_lane::read_direct_into(in_peer& in, std::size_t size, std::uint64_t address, std::byte* to) {
  if (address + size < address) {
    errno = EFAULT;
    return false;
  }
  for (std::size_t done = 0; done < size;) {
    iovec local{to + done, size - done};
    iovec remote{reinterpret_cast<void*>(static_cast<std::uintptr_t>(address + done)), size - done};
    const ssize_t n = ::process_vm_readv(in.pid, &local, 1, &remote, 1, 0);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::size_t shm_lane::read_ring(in_peer& in, frame_sink& sink) {
  if (in.broken) return 0;
  std::size_t delivered = 0;
  bool freed = false;
  auto corrupt = [&](const char* why) {
    in.broken = true;
    warn("stopped reading the shared-memory ring from rank " + std::to_string(in.rank) + ": " + why);
  };
  auto from_peer = [&](const envelope& env) {
    if (env.world_source == static_cast<std::uint32_t>(in.rank)) return true;
    warn("dropped a frame from rank " + std::to_string(in.rank) + " that claims to come from rank " +
         std::to_string(env.world_source));
    return false;
  };
  auto deliver = [&](const envelope& env, payload&& body) {
    if (!from_peer(env)) return;
    sink.on_frame(frame{env, std::move(body)});
    ++delivered;
  };
  // A frame written straight into the receiving buffer (frame_sink::landing).
  auto deliver_landed = [&](const envelope& env, std::size_t size) {
    frame f{env, payload{}};
    f.landed = static_cast<std::int64_t>(size);
    sink.on_frame(std::move(f));
    ++delivered;
  };
  for (std::size_t i = 0; i < read_batch && !in.broken; ++i) {
    shm::ring_reader::record rec{};
    const auto st = in.ring.next(rec);
    if (st == shm::ring_reader::status::empty) break;
    if (st == shm::ring_reader::status::corrupt) {
      corrupt("its indices or record lengths are impossible");
      break;
    }
    switch (rec.kind) {
      case record_kind::frame: {
        std::uint64_t total = 0;
        if (in.assembling || rec.length < frame_head) return corrupt("a frame record out of place"), delivered;
        envelope env;
        std::memcpy(&env, rec.data, sizeof env);
        std::memcpy(&total, rec.data + sizeof env, 8);
        const std::size_t first = rec.length - frame_head;
        if (first > total || total > owned_bytes::max_size) return corrupt("a frame longer than it says"), delivered;
        if (first == total) {
          // Into the receive's own buffer when one waits for it; else a pooled buffer (bytes.hpp):
          // either way a steady exchange allocates nothing.
          if (std::byte* to = from_peer(env) ? sink.landing(env, total) : nullptr) {
            if (total != 0) std::memcpy(to, rec.data + frame_head, total);
            in.ring.pop();
            freed = true;
            deliver_landed(env, total);
            continue;
          }
          payload body = payload::adopt(owned_bytes::copy_of(rec.data + frame_head, total));
          in.ring.pop();
          freed = true;
          deliver(env, std::move(body));
          continue;
        }
        // The buffer grows with what arrives (at most 4 MiB ahead of it), so a frame that
        // announces more than it sends cannot make this rank allocate it.
        in.body = owned_bytes{};
        in.body.reserve(std::min<std::uint64_t>(total, assembly_step));
        in.body.append(rec.data + frame_head, first);
        in.env = env;
        in.expected = total;
        in.assembling = true;
        break;
      }
      case record_kind::chunk: {
        if (!in.assembling || rec.length > in.expected - in.body.size())
          return corrupt("a chunk that belongs to no frame"), delivered;
        if (in.body.capacity() - in.body.size() < rec.length)
          in.body.reserve(std::min<std::uint64_t>(in.expected, std::max(2 * in.body.capacity(), in.body.size() + rec.length)));
        in.body.append(rec.data, rec.length);
        if (in.body.size() == in.expected) {
          in.assembling = false;
          in.ring.pop();
          freed = true;
          deliver(in.env, payload::adopt(std::move(in.body)));
          continue;
        }
        break;
      }
      case record_kind::direct: {
        if (in.assembling || rec.length != direct_record || !in.direct)
          return corrupt("a direct record out of place"), delivered;
        envelope env;
        std::uint64_t total = 0;
        std::uint64_t address = 0;
        std::memcpy(&env, rec.data, sizeof env);
        std::memcpy(&total, rec.data + sizeof env, 8);
        std::memcpy(&address, rec.data + frame_head, 8);
        if (total > owned_bytes::max_size) return corrupt("a direct frame of impossible size"), delivered;
        // Straight from the sender's buffer into the receive's when one waits for it: one copy.
        std::byte* to = from_peer(env) ? sink.landing(env, total) : nullptr;
        owned_bytes body;
        const bool ok = to != nullptr ? read_direct_into(in, total, address, to) : read_direct(in, total, address, body);
        in.ring.pop();
        freed = true;
        in.ring.header()->direct_done.fetch_add(1, std::memory_order_release);
        if (!ok) {
          warn("lost a " + std::to_string(total) + "-byte frame from rank " + std::to_string(in.rank) +
               ": reading it from that process failed (" + std::strerror(errno) + ")");
          continue;
        }
        if (to != nullptr) deliver_landed(env, total);
        else deliver(env, payload::adopt(std::move(body)));
        continue;
      }
      case record_kind::pad:
        break;  // next() skips pads
    }
    in.ring.pop();
    freed = true;
  }
  if (freed) {
    // Pairs with the fence in prepare_sleep: the producer either sees the room or its flag is
    // seen here.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    std::atomic<std::uint32_t>& waiting = in.ring.header()->producer_waiting;
    if (waiting.load(std::memory_order_relaxed) != 0 && waiting.exchange(0) != 0) in.theirs.ring();
  }
  return delivered;
}

// ---- progress and sleep ----------------------------------------------------------------------

void shm_lane::tend() {
  // New connections, introductions and handshake answers cost system calls to look for.
  if (closed_ || !started_) return;
  accept_new();
  for (std::size_t i = 0; i < connecting_.size();) {
    const int peer = connecting_[i];
    finish_connect(peer, out_[static_cast<std::size_t>(peer)]);
    if (i < connecting_.size() && connecting_[i] == peer) ++i;
  }
}

std::size_t shm_lane::drain(frame_sink& sink) {
  if (closed_ || !started_) return 0;
  if (!greeting_.empty()) accept_new();  // a hello may be on its way
  // Frames that left the queue count as progress like frames that arrived: a send waiting for
  // them is done, so the caller must look before it sleeps.
  std::size_t n = 0;
  for (int peer : backlogged_) n += flush(peer, out_[static_cast<std::size_t>(peer)]);
  std::erase_if(backlogged_, [&](int r) { return out_[static_cast<std::size_t>(r)].backlog.empty(); });
  for (int peer : direct_peers_) free_direct(out_[static_cast<std::size_t>(peer)]);
  std::erase_if(direct_peers_, [&](int r) { return out_[static_cast<std::size_t>(r)].direct_in_flight.empty(); });
  for (auto& in : in_) n += read_ring(*in, sink);
  return n;
}

void shm_lane::wait_items(std::vector<zmq::pollitem_t>& items) {
  if (closed_) return;
  items.push_back({nullptr, bell_fd_, ZMQ_POLLIN, 0});
  items.push_back({nullptr, listen_fd_, ZMQ_POLLIN, 0});
  for (int s : greeting_) items.push_back({nullptr, s, ZMQ_POLLIN, 0});
  for (int peer : connecting_) items.push_back({nullptr, out_[static_cast<std::size_t>(peer)].socket, ZMQ_POLLIN, 0});
}

bool shm_lane::prepare_sleep() {
  if (closed_ || !started_) return true;
  sleeping_->store(1, std::memory_order_relaxed);
  for (int peer : backlogged_)
    out_[static_cast<std::size_t>(peer)].ring.header()->producer_waiting.store(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  bool quiet = std::none_of(in_.begin(), in_.end(), [](const auto& in) { return !in->broken && in->ring.pending(); });
  for (int peer : backlogged_) {
    out_peer& p = out_[static_cast<std::size_t>(peer)];
    quiet = quiet && (p.backlog.empty() || !p.ring.fits(next_record_length(p)));
  }
  if (!quiet) sleeping_->store(0, std::memory_order_relaxed);
  return quiet;
}

void shm_lane::end_sleep() {
  if (closed_ || !started_) return;
  sleeping_->store(0, std::memory_order_relaxed);
  std::uint64_t rung;
  (void)::read(bell_fd_, &rung, sizeof rung);
}

std::size_t shm_lane::next_record_length(const out_peer& p) const {
  const queued& q = p.backlog.front();
  if (!q.started) {
    if (p.direct && q.body.size() >= opt_.direct_bytes) return direct_record;
    const std::size_t size = q.body.size();
    return frame_head + (size <= p.ring.max_length() - frame_head ? size : chunk_limit());
  }
  return std::min(q.body.size() - q.sent, chunk_limit());
}

std::string shm_lane::stuck() const {
  static const char* const states[] = {"not connected", "waiting for its handshake answer", "connected", "gone"};
  std::string out;
  auto add = [&](const std::string& s) { out += (out.empty() ? "" : ", ") + s; };
  for (std::size_t peer = 0; peer < out_.size(); ++peer) {
    const out_peer& p = out_[peer];
    if (p.taken == p.posted) continue;
    const shm::ring_header* h = p.ring.header();
    add(std::to_string(p.posted - p.taken) + " frame(s) queued for rank " + std::to_string(peer) + " (" +
        states[static_cast<int>(p.state)] + "; ring " + std::to_string(h->head.load() - h->tail.load()) + " of " +
        std::to_string(h->capacity) + " bytes unread, it " +
        (p.theirs.sleeping != nullptr && p.theirs.sleeping->load() != 0 ? "sleeps" : "is awake") +
        (std::find(backlogged_.begin(), backlogged_.end(), static_cast<int>(peer)) == backlogged_.end() ? ", not being flushed" : "") +
        ", " + std::to_string(p.backlog.size()) + " in backlog)");
  }
  for (const auto& in : in_)
    if (in->broken || in->assembling || in->ring.pending())
      add("ring from rank " + std::to_string(in->rank) + (in->broken ? " unreadable" : in->assembling ? " mid-frame" : " has unread frames"));
  if (!greeting_.empty()) add(std::to_string(greeting_.size()) + " connection(s) not introduced yet");
  return out;
}

void shm_lane::close() noexcept {
  if (closed_) return;
  closed_ = true;
  for (out_peer& p : out_) {
    close_fd(p.socket);
    unmap(p.segment, p.segment_bytes);
    p.theirs.release();
    p.backlog.clear();
    p.direct_in_flight.clear();
  }
  for (auto& in : in_) {
    unmap(in->segment, in->segment_bytes);
    in->theirs.release();
  }
  for (int& s : greeting_) close_fd(s);
  greeting_.clear();
  close_fd(listen_fd_);
  if (!path_.empty()) ::unlink(path_.c_str());
  close_fd(bell_fd_);
  close_fd(page_fd_);
  unmap(page_, page_bytes);
}

}  // namespace parrun::detail
