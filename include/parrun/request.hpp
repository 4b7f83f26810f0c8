#pragma once
// Handles for non-blocking operations. An isend completes when the runtime has taken the
// message (the value may be reused as soon as isend returns: it was encoded already); an irecv
// completes when a message has matched, and its value is decoded on wait/test; a non-blocking
// collective completes when this rank's part of it is done. All of them progress inside any
// parrun call, not only inside their own wait.
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
  /// Whether wait() would return (or throw) without blocking, after making progress once.
  bool ready();
  /// Withdraws a receive that no message has matched yet (MPI_Cancel): true when it was
  /// withdrawn, and wait() then returns a status whose cancelled() is true; false when it had
  /// matched already (wait() receives as usual), or for a send or a collective, which cannot be
  /// withdrawn once started.
  bool cancel();

 private:
  friend std::pair<std::size_t, status> wait_any(std::span<request> requests);
  friend std::vector<std::pair<std::size_t, status>> wait_some(std::span<request> requests);
  friend bool test_all(std::span<request> requests);
  friend std::optional<std::pair<std::size_t, status>> test_any(std::span<request> requests);
  friend std::vector<std::pair<std::size_t, status>> test_some(std::span<request> requests);
  bool ready_now() const;  // ready() without polling
  /// Blocks until some pending request is ready; its index. usage_error (naming `op`) when
  /// none is pending.
  static std::size_t wait_for_one(std::span<request> requests, const char* op);
  /// Completes every pending request that is ready now, in index order (no polling).
  static std::vector<std::pair<std::size_t, status>> complete_ready(std::span<request> requests);
  std::shared_ptr<detail::request_state> state_;
};

/// Waits for every request; returns their statuses in order. Throws the first failure.
std::vector<status> wait_all(std::span<request> requests);
/// Waits until one pending request completes; returns its index and status. Throws usage_error
/// when no request is pending.
std::pair<std::size_t, status> wait_any(std::span<request> requests);
/// Waits until at least one pending request completes, then completes every one that can
/// without blocking (MPI_Waitsome); returns their indices and statuses in index order. Throws
/// usage_error when no request is pending, and the first failure among those completed.
std::vector<std::pair<std::size_t, status>> wait_some(std::span<request> requests);
/// As wait_some without blocking: empty when none could complete (MPI_Testsome).
std::vector<std::pair<std::size_t, status>> test_some(std::span<request> requests);
/// Makes progress once and completes one pending request that can complete; its index and
/// status, or nothing (MPI_Testany).
std::optional<std::pair<std::size_t, status>> test_any(std::span<request> requests);
/// All or nothing (MPI_Testall): makes progress once; when every request can complete, completes
/// them all and returns true; otherwise completes none of them and returns false.
bool test_all(std::span<request> requests);

}  // namespace parrun
