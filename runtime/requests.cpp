// Requests: pending sends and receives, and the calls that wait for and test many of them.
#include <parrun/request.hpp>

#include "request_state.hpp"

namespace parrun {

using detail::activity;
using detail::clock;

namespace detail {

bool send_request::ready() const {
  return eng().taken(comm_->world_of(dest_), ticket_) || comm_->dest_unreachable(dest_);
}

status send_request::finish() {
  if (!eng().taken(comm_->world_of(dest_), ticket_))
    comm_->throw_gone(dest_, op_name("isend", "dest", dest_, "tag", tag_));
  return status_;
}

recv_request::recv_request(std::shared_ptr<comm_impl> comm, int source, int tag, const type_id& type,
                           std::function<status(received&&)> complete)
    : request_state(std::move(comm)),
      posted_{{comm_->context(), source, tag}, std::nullopt},
      source_(source),
      tag_(tag),
      type_(&type),
      complete_(std::move(complete)) {
  eng().matching().post(posted_);
}

recv_request::recv_request(std::shared_ptr<comm_impl> comm, int source, int tag, const raw_buffer& into)
    : request_state(std::move(comm)),
      posted_{{comm_->context(), source, tag}, std::nullopt},
      source_(source),
      tag_(tag),
      into_(into) {
  posted_.zone = zone_of(into);
  eng().matching().post(posted_);
}

recv_request::~recv_request() {
  // Abandoned: a pending receive withdraws; a matched message nobody took goes back.
  if (!posted_.matched) {
    eng().matching().cancel(posted_);
  } else if (!finished_) {
    frame& f = *posted_.matched;
    if (f.landed >= 0) {  // its bytes are in the caller's buffer, which outlives the request
      f.body = payload::adopt(owned_bytes::copy_of(into_.base, static_cast<std::size_t>(f.landed)));
      f.landed = -1;
    }
    eng().matching().put_back(std::move(f));
  }
}

bool recv_request::ready() const {
  return cancelled_ || posted_.matched.has_value() || comm_->source_silent(source_);
}

bool recv_request::cancel() {
  if (posted_.matched || cancelled_) return false;
  eng().matching().cancel(posted_);
  cancelled_ = true;
  return true;
}

status recv_request::finish() {
  if (cancelled_) return status::cancelled_receive(source_, tag_);
  if (!posted_.matched) {
    eng().matching().cancel(posted_);
    comm_->throw_gone(comm_->culprit(source_), op_name("irecv", "source", source_, "tag", tag_));
  }
  finished_ = true;
  frame f = std::move(*posted_.matched);
  if (type_ == nullptr) return accept_into(*comm_, std::move(f), into_, "irecv", source_, tag_);
  return complete_(accept(*comm_, std::move(f), *type_, "irecv", source_, tag_));
}

status request_state::complete() {
  if (done_) return *done_;
  if (failed_) std::rethrow_exception(failed_);
  eng().wait_until([this] { return ready(); }, what());
  try {
    done_ = finish();
  } catch (...) {
    failed_ = std::current_exception();
    throw;
  }
  return *done_;
}

}  // namespace detail

status request::wait() {
  if (!state_) return status{};
  return state_->complete();
}

status request::wait_for(std::chrono::nanoseconds timeout) {
  if (!pending()) return wait();
  detail::request_state& s = *state_;
  const clock::time_point deadline = clock::now() + timeout;
  if (!s.eng().wait_until([&] { return s.ready(); }, s.what(), &deadline))
    throw timeout_error(s.what().describe() + " on rank " + std::to_string(s.eng().rank()) +
                        ": not complete after " +
                        std::to_string(std::chrono::duration<double>(timeout).count()) + " s");
  return wait();
}

std::optional<status> request::test() {
  if (!ready()) return std::nullopt;
  return wait();
}

bool request::pending() const noexcept { return state_ != nullptr && !state_->completed(); }

bool request::ready_now() const { return !pending() || state_->ready(); }

bool request::ready() {
  if (!pending()) return true;
  state_->eng().poll();
  return state_->ready();
}

bool request::cancel() { return pending() && state_->cancel(); }

std::vector<status> wait_all(std::span<request> requests) {
  std::vector<status> out;
  out.reserve(requests.size());
  for (request& r : requests) out.push_back(r.wait());
  return out;
}

std::size_t request::wait_for_one(std::span<request> requests, const char* op) {
  detail::request_state* first = nullptr;
  for (request& r : requests)
    if (r.pending()) first = r.state_.get();
  if (first == nullptr)
    throw usage_error(std::string(op) + ": none of the " + std::to_string(requests.size()) + " requests is pending");
  std::size_t which = 0;
  auto any_ready = [&] {
    for (std::size_t i = 0; i < requests.size(); ++i)
      if (requests[i].pending() && requests[i].ready_now()) {
        which = i;
        return true;
      }
    return false;
  };
  first->eng().wait_until(any_ready, activity{op, "requests", static_cast<long>(requests.size())});
  return which;
}

std::vector<std::pair<std::size_t, status>> request::complete_ready(std::span<request> requests) {
  std::vector<std::pair<std::size_t, status>> out;
  for (std::size_t i = 0; i < requests.size(); ++i)
    if (requests[i].pending() && requests[i].ready_now()) out.emplace_back(i, requests[i].wait());
  return out;
}

std::pair<std::size_t, status> wait_any(std::span<request> requests) {
  const std::size_t which = request::wait_for_one(requests, "wait_any");
  return {which, requests[which].wait()};
}

std::vector<std::pair<std::size_t, status>> wait_some(std::span<request> requests) {
  (void)request::wait_for_one(requests, "wait_some");
  return request::complete_ready(requests);
}

std::vector<std::pair<std::size_t, status>> test_some(std::span<request> requests) {
  for (request& r : requests)
    if (r.pending()) {
      (void)r.ready();  // one poll makes the progress; the rest only look
      break;
    }
  return request::complete_ready(requests);
}

std::optional<std::pair<std::size_t, status>> test_any(std::span<request> requests) {
  bool polled = false;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    request& r = requests[i];
    if (!r.pending()) continue;
    if (!polled) {
      polled = true;
      if (r.ready()) return std::pair{i, r.wait()};
    } else if (r.ready_now()) {
      return std::pair{i, r.wait()};
    }
  }
  return std::nullopt;
}

bool test_all(std::span<request> requests) {
  bool polled = false;
  for (request& r : requests) {
    if (!r.pending()) continue;
    if (!polled) {
      polled = true;
      if (!r.ready()) return false;
    } else if (!r.ready_now()) {
      return false;
    }
  }
  for (request& r : requests) r.wait();
  return true;
}

}  // namespace parrun
