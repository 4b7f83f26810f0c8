#pragma once
// The untyped half of a channel (runtime/channels/ implements it); parrun::channel<T> encodes
// and decodes around it, and select drives several of them in one wait.
#include <chrono>
#include <functional>
#include <optional>

#include <parrun/communicator.hpp>

namespace parrun::detail {

class channel_core {
 public:
  virtual ~channel_core() = default;

  /// Takes in whatever has arrived, without waiting (non-blocking calls start with this).
  virtual void poll() = 0;
  virtual void send(owned_bytes&& value) = 0;
  /// Sends if that needs no waiting, judged on what has arrived: call poll() first.
  virtual bool try_send(owned_bytes&& value) = 0;
  /// Whether a send would complete (or fail) without waiting.
  virtual bool can_send() = 0;
  virtual void close() = 0;

  /// The next value; waits up to `deadline` (null: forever); empty if it passed. Throws
  /// channel_closed when closed and drained, peer_lost when the peer died first.
  virtual std::optional<received> take(const std::chrono::steady_clock::time_point* deadline) = 0;
  /// The next value if one is here; never waits, never throws for closure.
  virtual std::optional<received> try_take() = 0;
  virtual bool has_value() = 0;
  /// Closed and drained: nothing more will ever arrive.
  virtual bool drained_and_closed() = 0;
  /// Throws peer_lost when the receiving direction ended because its peer died.
  virtual void check_peer_alive() = 0;
  /// Capacity 0: tells the sender(s) this rank is waiting to receive (a grant), until
  /// end_receive(). `also_sends`: the same wait may instead send on this channel (a select
  /// with both cases), which the peer needs to know so that exactly one side sends.
  virtual void begin_receive(bool also_sends) = 0;
  /// Capacity 0: this rank no longer waits to receive; withdraws its grants.
  virtual void end_receive() noexcept = 0;

  virtual int peer() const noexcept = 0;
  virtual int id() const noexcept = 0;
  virtual int capacity() const noexcept = 0;
};

/// Waits (making progress, sleeping in the kernel) until `ready()` or the deadline; `on` gives
/// the engine to wait in. Returns ready().
bool wait_on_channels(channel_core& on, const std::function<bool()>& ready,
                      const std::chrono::steady_clock::time_point* deadline);

}  // namespace parrun::detail
