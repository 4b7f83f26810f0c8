#pragma once
// The control channel to the launcher: one ZeroMQ DEALER connected to its ROUTER (wire.hpp).
// It is polled in the same sleep as the data lanes, so a rank blocked in a receive still
// answers the launcher's queries and hears at once that a peer was lost.
#include <memory>
#include <string>

#include "transport/transport.hpp"
#include "transport/zmq/zmq_context.hpp"

namespace parrun::detail {

class zmq_control final : public control_channel {
 public:
  zmq_control(std::shared_ptr<zmq_context> context, zmq::socket_t socket);
  ~zmq_control() override;

  void send(const std::string& bytes) override;
  std::size_t drain(frame_sink& sink) override;
  void wait_items(std::vector<zmq::pollitem_t>& items) override;
  void close() noexcept override;

 private:
  std::shared_ptr<zmq_context> context_;
  zmq::socket_t socket_;
  bool closed_ = false;
};

}  // namespace parrun::detail
