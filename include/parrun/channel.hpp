#pragma once
// Go-style channels between ranks: typed, ordered, with Go's capacity semantics and closing.
// Values are encoded like any message (detail/codec.hpp) and carried by the runtime's channel
// protocol (runtime/channels/channel_impl.hpp): credits bound what a fast producer can pile up
// at a slow consumer, and a peer that dies ends the channel with peer_lost, not a hang.
#include <chrono>
#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <utility>

#include <parrun/detail/channel_core.hpp>

namespace parrun {

/// A typed channel between this rank and a peer (or, for a fan-in channel, every other rank).
/// Open one with communicator::channel<T>(peer, id, capacity) on both ranks, with the same id,
/// type and capacity. Each direction is a FIFO. Destroying a channel closes its sending end.
template <class T>
class channel {
 public:
  /// An invalid channel.
  channel() = default;

  /// Sends a value. Capacity N > 0: waits only while N values are sent and not yet received;
  /// capacity 0: returns once the peer has received it. Throws channel_closed after close(),
  /// peer_lost when the peer is gone.
  void send(const T& value) { core().send(detail::encode(value)); }
  void send(T&& value) { core().send(detail::encode_moved(std::move(value))); }

  /// Sends only if that needs no waiting (capacity 0: only while the peer waits to receive).
  bool try_send(const T& value) {
    core().poll();
    if (!core().can_send()) return false;
    return core().try_send(detail::encode(value));
  }

  /// The next value. Throws channel_closed once the peer closed (or finished) and every value
  /// it sent was received; peer_lost if it died first.
  T recv() {
    T value{};
    decode(*core().take(nullptr), value);
    return value;
  }

  /// The next value if one has arrived; empty otherwise (also when closed: see closed()).
  std::optional<T> try_recv() { return decode_optional(core().try_take()); }

  /// The next value, waiting at most `timeout`; empty if none came. Throws as recv() does.
  template <class Rep, class Period>
  std::optional<T> recv_for(std::chrono::duration<Rep, Period> timeout) {
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout);
    return decode_optional(core().take(&deadline));
  }

  /// Closes this rank's sending direction: the peer receives everything sent before, then
  /// sees the channel closed.
  void close() { core().close(); }
  /// Whether the receiving direction is closed and everything sent was received.
  bool closed() { return core().drained_and_closed(); }

  /// The peer (any_source for a fan-in channel), the id and the capacity.
  int peer() const { return core_->peer(); }
  int id() const { return core_->id(); }
  int capacity() const { return core_->capacity(); }
  bool valid() const noexcept { return core_ != nullptr; }

  /// Receives until the channel is closed: `for (T& v : ch)`.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = T*;
    using reference = T&;
    iterator() = default;
    explicit iterator(channel* ch) : ch_(ch) { advance(); }
    T& operator*() { return *value_; }
    T* operator->() { return &*value_; }
    iterator& operator++() {
      advance();
      return *this;
    }
    void operator++(int) { advance(); }
    bool operator==(const iterator& o) const { return ch_ == o.ch_; }

   private:
    void advance() {
      try {
        value_ = ch_->recv();
      } catch (const channel_closed&) {
        ch_ = nullptr;
        value_.reset();
      }
    }
    channel* ch_ = nullptr;
    std::optional<T> value_;
  };
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

  detail::channel_core& core() const {
    if (!core_) throw usage_error("use of an invalid (default-constructed) parrun::channel");
    return *core_;
  }

 private:
  friend class communicator;
  explicit channel(std::shared_ptr<detail::channel_core> c) : core_(std::move(c)) {}

  void decode(const detail::received& r, T& value) {
    try {
      detail::decode(r.body.data(), r.body.size(), value);
    } catch (const truncation_error& e) {
      throw truncation_error("channel " + std::to_string(id()) + ": a value from rank " +
                             std::to_string(r.st.source()) + " is corrupt: " + e.what());
    }
  }
  std::optional<T> decode_optional(std::optional<detail::received>&& r) {
    if (!r) return std::nullopt;
    std::optional<T> value(std::in_place);
    decode(*r, *value);
    return value;
  }

  std::shared_ptr<detail::channel_core> core_;
};

template <class T>
channel<T> communicator::channel(int peer, int id, int capacity) const {
  return parrun::channel<T>(open_channel(peer, id, capacity, detail::type_of<T>()));
}

}  // namespace parrun
