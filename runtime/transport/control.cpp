#include "transport/control.hpp"

namespace parrun::detail {

zmq_control::zmq_control(std::shared_ptr<zmq_context> context, zmq::socket_t socket)
    : context_(std::move(context)), socket_(std::move(socket)) {}

zmq_control::~zmq_control() { close(); }

void zmq_control::send(const std::string& bytes) {
  if (!closed_) socket_.send(zmq::buffer(bytes), zmq::send_flags::none);
}

std::size_t zmq_control::drain(frame_sink& sink) {
  if (closed_) return 0;
  std::size_t n = 0;
  zmq::message_t msg;
  while (socket_.recv(msg, zmq::recv_flags::dontwait)) {
    sink.on_control(msg.to_string());
    ++n;
  }
  return n;
}

void zmq_control::wait_items(std::vector<zmq::pollitem_t>& items) {
  if (!closed_) items.push_back({socket_.handle(), 0, ZMQ_POLLIN, 0});
}

void zmq_control::close() noexcept {
  if (closed_) return;
  closed_ = true;
  try {
    // Let the last control message (finalize, failing) reach the launcher.
    socket_.set(zmq::sockopt::linger, 1000);
    socket_.close();
  } catch (...) {
    // Nothing sensible to do at shutdown; never throw from here.
  }
  context_.reset();
}

}  // namespace parrun::detail
