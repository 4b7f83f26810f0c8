#include "transport/router.hpp"

#include <cerrno>

namespace parrun::detail {

router::router(std::vector<std::unique_ptr<lane>> lanes, std::vector<int> lane_of, wait_source* control)
    : lanes_(std::move(lanes)), lane_of_(std::move(lane_of)) {
  items_.reserve(16);  // the first sleep of a running loop should not allocate
  // The control channel first: a --timeout query is answered with the lanes' state from before
  // this drain moved anything.
  if (control != nullptr) sources_.push_back(control);
  for (const auto& l : lanes_) {
    sources_.push_back(l.get());
    polled_ = polled_ || l->polled();
  }
}

router::~router() { close(); }

std::uint64_t router::post(int peer, const envelope& env, owned_bytes&& body) {
  return lanes_[static_cast<std::size_t>(lane_of_[static_cast<std::size_t>(peer)])]->post(peer, env, std::move(body));
}

bool router::taken(int peer, std::uint64_t ticket) const {
  return lanes_[static_cast<std::size_t>(lane_of_[static_cast<std::size_t>(peer)])]->taken(peer, ticket);
}

namespace {
// How often a rank that polls without sleeping also drains its ZeroMQ sockets (each empty look
// costs two system calls, ~2 us here, against ~50 ns for a ring). Frames and control messages
// on them wait at most this long; a rank that sleeps drains everything when it wakes.
constexpr std::chrono::microseconds slow_drain_interval(50);
}  // namespace

std::size_t router::drain_all(frame_sink& sink) {
  std::size_t n = 0;
  for (wait_source* s : sources_) {
    s->tend();
    n += s->drain(sink);
  }
  slow_drained_ = std::chrono::steady_clock::now();
  return n;
}

std::size_t router::drain_polled(frame_sink& sink) {
  // The clock is read every 16th poll only: a spinning rank read it three times per poll, 22%
  // of its time in a ping-pong profile.
  if (++polls_ % 16 == 0 && std::chrono::steady_clock::now() - slow_drained_ >= slow_drain_interval)
    return drain_all(sink);
  std::size_t n = 0;
  for (wait_source* s : sources_)
    if (s->polled()) n += s->drain(sink);
  return n;
}

bool router::prepare_sleep_all() {
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    if (!sources_[i]->prepare_sleep()) {
      for (std::size_t j = 0; j < i; ++j) sources_[j]->end_sleep();
      return false;
    }
  }
  return true;
}

void router::end_sleep_all() {
  for (wait_source* s : sources_) s->end_sleep();
}

std::size_t router::progress(std::chrono::milliseconds timeout, frame_sink& sink) {
  if (closed_) return 0;
  if (timeout.count() == 0) return polled_ ? drain_polled(sink) : drain_all(sink);
  std::size_t n = drain_all(sink);
  if (n > 0) return n;
  // Announce the sleep first, then look once more: a peer that wrote before it saw the
  // announcement is found by this look, one that wrote after it rings the doorbell.
  if (!prepare_sleep_all()) return drain_all(sink);
  items_.clear();
  for (wait_source* s : sources_) s->wait_items(items_);
  try {
    zmq::poll(items_, timeout);
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) {
      end_sleep_all();
      throw;
    }
  }
  end_sleep_all();
  return drain_all(sink);
}

std::string router::stuck() const {
  std::string all;
  for (const auto& l : lanes_) {
    const std::string s = l->stuck();
    if (!s.empty()) all += (all.empty() ? "" : "; ") + std::string(l->name()) + ": " + s;
  }
  return all;
}

void router::close() noexcept {
  if (closed_) return;
  closed_ = true;
  for (auto& l : lanes_) l->close();
}

}  // namespace parrun::detail
