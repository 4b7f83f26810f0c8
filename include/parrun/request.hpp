#pragma once
// Handles for non-blocking operations. An isend completes when the runtime has taken the
// message (the value may be reused as soon as isend returns: it was encoded already); an irecv
// completes when a message has matched, and its value is decoded on wait/test.
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include <parrun/status.hpp>

namespace parrun {

namespace detail {
class request_state;
}

/// A handle to a non-blocking operation. Copies are handles to the same operation: it
/// completes once, and every later wait or test (on any copy) returns the same status or
/// throws the same failure. A default-constructed request is already complete.
class request {
 public:
  request() = default;
  explicit request(std::shared_ptr<detail::request_state> s) noexcept : state_(std::move(s)) {}

  /// Blocks until the operation completes; returns its status. Throws what the operation
  /// failed with (type_mismatch, peer_lost, ...). A completed request waits no more.
  status wait();
  /// Blocks for at most `timeout`; throws timeout_error when the operation is still pending.
  status wait_for(std::chrono::nanoseconds timeout);
  /// Makes progress without blocking; the status when complete, else nothing.
  std::optional<status> test();
  /// Whether the operation still has to be waited for.
  bool pending() const noexcept;

 private:
  friend std::pair<std::size_t, status> wait_any(std::span<request> requests);
  std::shared_ptr<detail::request_state> state_;
};

/// Waits for every request; returns their statuses in order. Throws the first failure.
std::vector<status> wait_all(std::span<request> requests);
/// Waits until one pending request completes; returns its index and status. Throws usage_error
/// when no request is pending.
std::pair<std::size_t, status> wait_any(std::span<request> requests);
/// Whether every request has completed (making progress once, without blocking).
bool test_all(std::span<request> requests);

}  // namespace parrun
