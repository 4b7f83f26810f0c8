#pragma once
// The transport interface: everything above it (matching, collectives, channels) sees ranks,
// envelopes and byte buffers, never ZeroMQ.
//
//   post(peer, envelope, bytes) -> [per-peer FIFO, never dropped] -> wire -> peer's progress()
//   progress(timeout, sink): every arrived frame goes to sink.on_frame, every control message
//   to sink.on_control, in arrival order; sleeps in the kernel up to `timeout` when none came.
//
// Frames from one sender arrive in the order they were posted. A shared-memory lane for ranks
// on one host can implement the same interface.
#include <chrono>
#include <cstdint>
#include <string>

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
};

/// Receives what a transport's progress() brings in.
class frame_sink {
 public:
  virtual void on_frame(frame&& f) = 0;
  virtual void on_control(std::string&& bytes) = 0;

 protected:
  ~frame_sink() = default;
};

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
  /// Sends a control message to the launcher (no-op when there is none).
  virtual void send_control(const std::string& bytes) = 0;
  /// Stops sending: frames still queued are discarded, sockets close without lingering.
  virtual void close() noexcept = 0;
};

}  // namespace parrun::detail
