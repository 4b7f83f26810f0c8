#pragma once
// The transport the engine sees: each peer's frames go to the one lane chosen for that peer when
// the job started (same host: shared memory; otherwise ZeroMQ; or whatever PARRUN_TRANSPORT
// forces), and progress() drains every lane and the control channel, then sleeps on all of them
// in one zmq_poll. Adding a lane (TCP across hosts) means adding a `lane`, not touching this.
#include <memory>
#include <vector>

#include "transport/transport.hpp"

namespace parrun::detail {

class router final : public transport {
 public:
  /// `lane_of[peer]` indexes `lanes` (-1 for this rank itself). `control` (may be null) is
  /// polled beside the lanes; it is not owned.
  router(std::vector<std::unique_ptr<lane>> lanes, std::vector<int> lane_of, wait_source* control);
  ~router() override;

  std::uint64_t post(int peer, const envelope& env, owned_bytes&& body) override;
  bool taken(int peer, std::uint64_t ticket) const override;
  std::size_t progress(std::chrono::milliseconds timeout, frame_sink& sink) override;
  bool polling_pays() const override { return polled_; }
  std::string stuck() const override;
  void close() noexcept override;

 private:
  std::size_t drain_all(frame_sink& sink);
  std::size_t drain_polled(frame_sink& sink);
  bool prepare_sleep_all();
  void end_sleep_all();

  std::vector<std::unique_ptr<lane>> lanes_;
  std::vector<int> lane_of_;
  std::vector<wait_source*> sources_;  // the control channel, then the lanes
  std::vector<zmq::pollitem_t> items_;
  bool polled_ = false;
  std::chrono::steady_clock::time_point slow_drained_{};
  unsigned polls_ = 0;
  bool closed_ = false;
};

}  // namespace parrun::detail
