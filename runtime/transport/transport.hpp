#pragma once
// The transport seam: everything above it (matching, collectives, channels) sees ranks,
// envelopes and byte buffers, never a lane.
//
//   engine ──► transport (router.hpp) ──┬─► lane "shm" (peers on this host)
//                                       ├─► lane "zmq" (other hosts, or when forced)
//                                       └─► control channel (the launcher; never a data lane)
//
//   post(peer, envelope, bytes) -> the peer's one lane [FIFO, never dropped] -> peer's progress()
//   progress(timeout, sink): every arrived frame goes to sink.on_frame, every control message
//   to sink.on_control; when none came, sleeps on every lane and the control channel at once,
//   up to `timeout`.
//
// Each peer is served by exactly one lane for the whole job, so frames from one sender arrive
// in the order they were posted, and finalize's FIN/FIN_ACK counting needs no sequence numbers.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <zmq.hpp>

#include <parrun/detail/bytes.hpp>

namespace parrun::detail {

/// The fixed header of every data frame.
struct envelope {
  std::uint64_t context = 0;  ///< communicator (and collective/channel space) it belongs to
  std::uint64_t type = 0;     ///< fingerprint of the payload's C++ type
  std::int32_t tag = 0;
  std::int32_t source = 0;    ///< sender's rank in the communicator
  std::uint32_t flags = 0;
  std::uint32_t world_source = 0;  ///< sender's rank in the world, for per-peer accounting
};
static_assert(sizeof(envelope) == 32, "the envelope is part of the wire format");

/// A data frame that arrived.
struct frame {
  envelope env;
  payload body;
  std::uint64_t arrival = 0;  ///< its place in arrival order (set by the matcher)
  /// Bytes the lane wrote straight into the memory of the receive that takes it (see
  /// frame_sink::landing); `body` is then empty. -1: the bytes are in `body`.
  std::int64_t landed = -1;
  std::size_t size() const noexcept { return landed >= 0 ? static_cast<std::size_t>(landed) : body.size(); }
};

/// Receives what a transport's progress() brings in.
class frame_sink {
 public:
  virtual void on_frame(frame&& f) = 0;
  /// Where a lane may write the `size` payload bytes of a frame with `env` that it is about to
  /// hand to on_frame: the caller's own buffer of the posted receive that will take it, when
  /// there is one that fits (a receive into a span), else null. A lane that writes there passes
  /// the frame to on_frame next, with nothing in between, and `landed` set: the single copy
  /// from the sender's bytes to the user's.
  virtual std::byte* landing(const envelope& env, std::size_t size) {
    (void)env;
    (void)size;
    return nullptr;
  }
  virtual void on_control(std::string&& bytes) = 0;

 protected:
  ~frame_sink() = default;
};

/// What the engine talks to.
class transport {
 public:
  virtual ~transport() = default;

  /// Queues a frame for `peer` (a world rank other than this one) and returns its ticket.
  /// Never blocks and never drops: a frame the wire cannot take yet waits in a FIFO.
  virtual std::uint64_t post(int peer, const envelope& env, owned_bytes&& body) = 0;
  /// Whether the frame with `ticket` has been handed to the wire.
  virtual bool taken(int peer, std::uint64_t ticket) const = 0;
  /// Moves arrived frames and control messages to `sink`; when nothing arrived, sleeps up to
  /// `timeout` (negative: until something arrives). Returns the number delivered.
  virtual std::size_t progress(std::chrono::milliseconds timeout, frame_sink& sink) = 0;
  /// Whether a blocked rank should poll (progress with a zero timeout) a while before it
  /// sleeps: true when some lane delivers without a helper thread (shared memory), so that
  /// polling, not the kernel, is the fast path.
  virtual bool polling_pays() const { return false; }
  /// What is stuck right now (frames queued for a peer that takes none, ...), for the
  /// launcher's --timeout report; empty when nothing is.
  virtual std::string stuck() const { return {}; }
  /// Stops sending: frames still queued are discarded, lanes close without lingering.
  virtual void close() noexcept = 0;
};

/// Something a rank sleeps on: a lane or the control channel. The router asks each source for
/// what to poll (ZeroMQ sockets and plain descriptors, in one zmq_poll), so a rank blocked in a
/// receive sleeps on all of them at once and wakes for whichever speaks first.
class wait_source {
 public:
  virtual ~wait_source() = default;
  /// Moves what arrived to `sink` without blocking, and sends what waited for room. Returns
  /// what changed for the caller: frames delivered plus queued frames that left (a blocked
  /// send may be done), so that the router never sleeps over progress it made.
  virtual std::size_t drain(frame_sink& sink) = 0;
  /// Appends what to poll while asleep.
  virtual void wait_items(std::vector<zmq::pollitem_t>& items) = 0;
  /// About to sleep: announce it (a peer that sees the announcement rings the doorbell).
  /// Returns false when something is pending already, so sleeping would miss it.
  virtual bool prepare_sleep() { return true; }
  /// Awake again: withdraw the announcement, consume the doorbell.
  virtual void end_sleep() {}
  /// The occasional work that costs system calls (a lane's new connections and handshakes):
  /// the router calls it with every full drain, i.e. before a sleep, after one, and every so
  /// often while polling, so that drain() itself can stay a few memory reads.
  virtual void tend() {}
  /// Whether drain() only reads memory (a shared-memory ring). Draining a ZeroMQ socket that
  /// has nothing costs two system calls (libzmq polls its command pipe), so a rank that polls
  /// in a loop drains such sources less often (router.cpp).
  virtual bool polled() const { return false; }
};

/// One way of moving frames to some of the peers (shared memory, ZeroMQ, later TCP).
class lane : public wait_source {
 public:
  /// Its name in the endpoint table and in messages ("shm", "zmq").
  virtual const char* name() const noexcept = 0;
  virtual std::uint64_t post(int peer, const envelope& env, owned_bytes&& body) = 0;
  virtual bool taken(int peer, std::uint64_t ticket) const = 0;
  /// See transport::stuck.
  virtual std::string stuck() const { return {}; }
  virtual void close() noexcept = 0;
};

/// The channel to the launcher (or, across hosts, this host's agent): never a data lane.
class control_channel : public wait_source {
 public:
  virtual void send(const std::string& bytes) = 0;
  virtual void close() noexcept = 0;
};

}  // namespace parrun::detail
