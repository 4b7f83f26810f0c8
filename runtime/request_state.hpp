#pragma once
// What a parrun::request points at: a pending send (done when the transport took the frame) or
// a posted receive (done when a frame matched; decoded when the request is finished).
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

class recv_request final : public request_state {
 public:
  recv_request(std::shared_ptr<comm_impl> comm, int source, int tag, const type_id& type,
               std::function<status(received&&)> complete);
  ~recv_request() override;
  bool ready() const override;
  status finish() override;
  activity what() const override { return {"wait for irecv", "source", source_, "tag", tag_}; }

 private:
  posted_receive posted_;
  bool finished_ = false;
  int source_;
  int tag_;
  const type_id& type_;
  std::function<status(received&&)> complete_;
};

}  // namespace parrun::detail
