#pragma once
// What a parrun::request points at: a pending send (done when the transport took the frame) or
// a posted receive (done when a frame matched; decoded when the request is finished).
#include <chrono>
#include <exception>
#include <functional>
#include <optional>
#include <memory>
#include <string>

#include <parrun/communicator.hpp>
#include <parrun/request.hpp>

#include "comm_impl.hpp"

namespace parrun::detail {

class request_state {
 public:
  explicit request_state(std::shared_ptr<comm_impl> comm) : comm_(std::move(comm)) {}
  virtual ~request_state() = default;
  request_state(const request_state&) = delete;
  request_state& operator=(const request_state&) = delete;

  /// Whether finish() can run without waiting (complete, or failed).
  virtual bool ready() const = 0;
  /// Withdraws the operation if it can still be withdrawn (a receive nothing matched yet).
  virtual bool cancel() { return false; }
  /// Completes the operation: its status, or the exception it failed with.
  virtual status finish() = 0;
  /// What the rank is blocked in while waiting for it.
  virtual activity what() const = 0;
  engine& eng() const { return comm_->eng(); }

  /// Waits for the operation and completes it, once: later calls return the same status or
  /// rethrow the same failure (requests are copyable handles to one operation).
  status complete();
  /// Whether complete() has run (successfully or not).
  bool completed() const noexcept { return done_.has_value() || failed_ != nullptr; }

 protected:
  std::shared_ptr<comm_impl> comm_;

 private:
  std::optional<status> done_;
  std::exception_ptr failed_;
};

class send_request final : public request_state {
 public:
  send_request(std::shared_ptr<comm_impl> comm, int dest, int tag, std::uint64_t ticket,
               status st)
      : request_state(std::move(comm)), dest_(dest), tag_(tag), ticket_(ticket), status_(st) {}
  bool ready() const override;
  status finish() override;
  activity what() const override { return {"wait for isend", "dest", dest_, "tag", tag_}; }

 private:
  int dest_;
  int tag_;
  std::uint64_t ticket_;
  status status_;
};

/// Checks a matched frame's type against the receiver's and takes its bytes; on a mismatch the
/// frame goes back to the matcher (a receive of the right type can still have it) and
/// type_mismatch names both types.
received accept(const comm_impl& comm, frame&& f, const type_id& want, const char* op, int source,
                int tag);
/// Checks a matched frame against a buffer (a message of its element type or of a vector of
/// them, with no more elements than it holds) and copies the elements into it. On a mismatch or
/// truncation the frame goes back to the matcher and the error names both sides.
status accept_into(const comm_impl& comm, frame&& f, const raw_buffer& into, const char* op, int source, int tag);
/// Posts a receive and waits for its frame (timeout_error, peer_lost otherwise).
frame wait_frame(const comm_impl& c, int source, int tag, const std::chrono::nanoseconds* timeout, const char* op,
                 const landing_zone& zone = {});
/// Where a lane may write a message for a receive into `b` directly: a contiguous buffer only.
landing_zone zone_of(const raw_buffer& b) noexcept;
std::string op_name(const char* op, const char* key1, int v1, const char* key2, int v2);
status status_of(const frame& f);

/// A posted receive: of a value (decoded by `complete` on finish) or into a buffer.
class recv_request final : public request_state {
 public:
  recv_request(std::shared_ptr<comm_impl> comm, int source, int tag, const type_id& type,
               std::function<status(received&&)> complete);
  recv_request(std::shared_ptr<comm_impl> comm, int source, int tag, const raw_buffer& into);
  ~recv_request() override;
  bool ready() const override;
  status finish() override;
  bool cancel() override;
  activity what() const override { return {"wait for irecv", "source", source_, "tag", tag_}; }

 private:
  posted_receive posted_;
  bool finished_ = false;
  bool cancelled_ = false;
  int source_;
  int tag_;
  const type_id* type_ = nullptr;
  std::function<status(received&&)> complete_;
  raw_buffer into_{};
};

}  // namespace parrun::detail
