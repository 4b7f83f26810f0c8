#pragma once
// The shared-memory lane: ranks on one host talk through single-producer/single-consumer rings
// (ring.hpp), one per ordered pair of ranks that actually talk, made on the first send.
//
// Joining: the sender creates the ring as a sealed memfd and hands it over a unix socket in the
// job's 0700 directory, with its doorbell, to the receiver, who checks the kernel's SO_PEERCRED
// (this user, and the pid the endpoint table gives for the rank it claims) and the job secret
// before it maps anything; it answers with its own doorbell. Nothing has a name in /dev/shm, so
// nothing is left behind, whatever kills the job.
//
//   small frame:  one `frame` record, envelope + payload, copied in and out of the ring
//   large frame:  cross-memory attach allowed (probed in the handshake): one `direct` record, and
//                 the receiver copies the payload with process_vm_readv straight out of the
//                 sender's buffer (one copy); otherwise `frame` + `chunk` records, pipelined
//                 through the ring while the receiver drains it
//
// Waiting: each rank has a doorbell (an eventfd, polled beside the ZeroMQ sockets) and a flag in
// a shared page that says it sleeps. A sender rings only when the flag is up, never per message;
// a receiver that frees room for a sender waiting on a full ring rings that sender. A full ring
// never blocks a sender: its frames wait in a FIFO and go as room frees up.
#include <sys/types.h>

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "transport/shm/ring.hpp"
#include "transport/transport.hpp"

namespace parrun::detail {

struct shm_options {
  std::string dir;                     ///< the job's socket directory
  std::string secret;                  ///< the job secret
  std::vector<std::int64_t> pids;      ///< every rank's pid, by world rank (from the table)
  std::vector<bool> peers;             ///< which world ranks this lane serves
  /// Each peer's listening socket, by world rank (from the table): ranks of one machine started
  /// by different agents live in different directories.
  std::vector<std::string> paths;
  int my_rank = 0;
  std::uint64_t ring_bytes = 512 * 1024;   ///< data bytes per ring (power of two)
  std::size_t direct_bytes = 1024 * 1024;  ///< payloads from this size go by cross-memory attach
  bool allow_direct = true;               ///< false: always pipeline through the ring
};

class shm_lane final : public lane {
 public:
  /// Binds this rank's listening socket (before the rank says hello to the launcher, so that
  /// peers who read the table find it). Throws transport_error when it cannot.
  shm_lane(const std::string& dir, int my_rank);
  ~shm_lane() override;

  /// Completes the lane once the endpoint table is known.
  void start(shm_options options);

  const char* name() const noexcept override { return "shm"; }
  std::uint64_t post(int peer, const envelope& env, owned_bytes&& body) override;
  bool taken(int peer, std::uint64_t ticket) const override;
  std::size_t drain(frame_sink& sink) override;
  void tend() override;
  void wait_items(std::vector<zmq::pollitem_t>& items) override;
  bool prepare_sleep() override;
  void end_sleep() override;
  /// Polled only when some peer is on it: a rank alone on its host (every peer across the
  /// network) gains nothing from spinning on rings nobody writes, and its spin would take the
  /// core from the ZeroMQ I/O thread that carries its messages (measured across namespace
  /// hosts: 8-byte latency 100 us spinning, 80-90 us without).
  bool polled() const override { return serves_peers_; }
  std::string stuck() const override;
  void close() noexcept override;

  /// Whether frames to `peer` go by cross-memory attach (known once its handshake answered).
  bool direct_to(int peer) const;

 private:
  /// A rank's doorbell as another rank holds it.
  struct bell {
    int fd = -1;                                  // its eventfd
    std::atomic<std::uint32_t>* sleeping = nullptr;  // in its shared page
    void* page = nullptr;
    void ring() const noexcept;
    void release() noexcept;
  };
  struct queued {
    envelope env;
    owned_bytes body;
    std::size_t sent = 0;   // payload bytes in the ring already
    bool started = false;   // its first record is in the ring
  };
  enum class link_state { none, connecting, ready, broken };
  struct out_peer {
    out_peer() = default;
    out_peer(out_peer&&) = default;  // (std::deque's move may throw: say so, or vector copies)
    out_peer(const out_peer&) = delete;
    link_state state = link_state::none;
    int socket = -1;  // the handshake connection, until answered
    void* segment = nullptr;
    std::size_t segment_bytes = 0;
    shm::ring_writer ring;
    bell theirs;
    bool direct = false;
    bool wrote_unrung = false;  // wrote before its doorbell was known
    std::deque<queued> backlog;
    std::deque<owned_bytes> direct_in_flight;  // read by the receiver straight from here
    std::uint64_t direct_sent = 0;
    std::uint64_t direct_freed = 0;
    std::uint64_t posted = 0;
    std::uint64_t taken = 0;
  };
  struct in_peer {
    int rank = -1;
    pid_t pid = 0;
    void* segment = nullptr;
    std::size_t segment_bytes = 0;
    shm::ring_reader ring;
    bell theirs;  // to wake it when it waits for room
    bool broken = false;
    bool direct = false;  // we told it it may send direct records
    // the frame being assembled from `frame` + `chunk` records
    bool assembling = false;
    envelope env{};
    owned_bytes body;
    std::size_t expected = 0;  // its whole payload
  };

  void connect_to(int peer, out_peer& p);
  void finish_connect(int peer, out_peer& p);
  bool write(int peer, out_peer& p, queued& q);
  bool write_direct(int peer, out_peer& p, queued& q);
  std::size_t next_record_length(const out_peer& p) const;
  std::size_t chunk_limit() const noexcept;
  void wake(out_peer& p);
  std::size_t flush(int peer, out_peer& p);  // frames that left the queue
  void free_direct(out_peer& p);
  void accept_new();
  void handle_hello(int socket);
  std::size_t read_ring(in_peer& in, frame_sink& sink);
  bool read_direct(in_peer& in, std::size_t size, std::uint64_t address, owned_bytes& out);
  /// As read_direct, into memory of the caller's (a landing receive's buffer, size bytes).
  bool read_direct_into(in_peer& in, std::size_t size, std::uint64_t address, std::byte* to);
  void warn(const std::string& what);

  shm_options opt_;
  std::string path_;
  int listen_fd_ = -1;
  int bell_fd_ = -1;      // my eventfd
  int page_fd_ = -1;      // my shared page (passed to peers)
  void* page_ = nullptr;  // mapped
  std::atomic<std::uint32_t>* sleeping_ = nullptr;
  std::vector<out_peer> out_;
  std::vector<int> connecting_;  // peers whose handshake has not answered
  std::vector<int> backlogged_;  // peers with queued frames
  std::vector<int> greeting_;    // accepted sockets whose hello has not arrived
  std::vector<int> direct_peers_;  // peers holding buffers of ours to read directly
  std::vector<std::unique_ptr<in_peer>> in_;
  std::vector<bool> in_known_;  // by world rank: a ring from it is mapped
  std::uint64_t probe_ = 0;     // what a peer reads from here to test cross-memory attach
  unsigned long warnings_ = 0;
  std::chrono::steady_clock::time_point sockets_checked_{};  // look at the listener and handshakes at the next drain
  bool serves_peers_ = false;
  bool started_ = false;
  bool closed_ = false;
};

}  // namespace parrun::detail
