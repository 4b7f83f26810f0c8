#include "transport/zmq_transport.hpp"

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include <parrun/errors.hpp>

namespace parrun::detail {
namespace {

// Payloads up to this size are copied into ZeroMQ's own message (small ones even live inside
// it); bigger ones are handed over and freed by ZeroMQ when written.
constexpr std::size_t copy_limit = 1024;
// Frames read per progress() call before the caller gets to check its condition again.
constexpr int drain_batch = 128;

}  // namespace

void configure_socket(zmq::socket_t& s, int linger_ms) { s.set(zmq::sockopt::linger, linger_ms); }

zmq_transport::zmq_transport(zmq::context_t context, zmq::socket_t data_in, zmq::socket_t control,
                             std::vector<std::string> endpoints, int my_rank, int hwm)
    : context_(std::move(context)),
      data_in_(std::move(data_in)),
      control_(std::move(control)),
      peers_(endpoints.size()),
      my_rank_(my_rank),
      hwm_(hwm) {
  for (std::size_t r = 0; r < endpoints.size(); ++r) peers_[r].endpoint = std::move(endpoints[r]);
}

zmq_transport::~zmq_transport() { close(); }

bool zmq_transport::try_send(peer& p, const envelope& env, owned_bytes& body) {
  if (!p.out) {
    p.out.emplace(context_, zmq::socket_type::push);
    configure_socket(*p.out, 2000);
    p.out->set(zmq::sockopt::sndhwm, hwm_);
    p.out->connect(p.endpoint);
  }
  zmq::message_t head(&env, sizeof env);
  if (!p.out->send(head, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return false;
  // The first frame was taken, so the pipe has room for the rest of this message.
  zmq::message_t data;  // empty bodies stay empty (cppzmq would memcpy from their null pointer)
  if (body.size() == 0) {
  } else if (body.size() <= copy_limit) {
    data.rebuild(body.data(), body.size());
  } else {
    std::byte* bytes = body.data();
    std::size_t size = body.size();
    auto [release, hint] = body.release();
    data.rebuild(bytes, size, release, hint);
  }
  p.out->send(data, zmq::send_flags::none);
  return true;
}

std::uint64_t zmq_transport::post(int rank, const envelope& env, owned_bytes&& body) {
  peer& p = peers_.at(static_cast<std::size_t>(rank));
  std::uint64_t ticket = ++p.posted;
  if (p.backlog.empty() && try_send(p, env, body)) {
    p.taken = ticket;
    return ticket;
  }
  if (p.backlog.empty()) backlogged_.push_back(rank);
  p.backlog.push_back({env, std::move(body)});
  return ticket;
}

bool zmq_transport::taken(int rank, std::uint64_t ticket) const {
  return peers_[static_cast<std::size_t>(rank)].taken >= ticket;
}

void zmq_transport::flush(peer& p) {
  while (!p.backlog.empty() && try_send(p, p.backlog.front().env, p.backlog.front().body)) {
    p.backlog.pop_front();
    ++p.taken;
  }
}

std::size_t zmq_transport::drain(frame_sink& sink) {
  std::size_t n = 0;
  for (; n < drain_batch; ++n) {
    zmq::message_t head;
    if (!data_in_.recv(head, zmq::recv_flags::dontwait)) break;
    if (head.size() != sizeof(envelope) || !head.more())
      throw transport_error("rank " + std::to_string(my_rank_) +
                            ": received a malformed frame (" + std::to_string(head.size()) +
                            "-byte header); is something else connecting to parrun's sockets?");
    auto body = std::make_shared<zmq::message_t>();
    (void)data_in_.recv(*body, zmq::recv_flags::none);  // the rest of a multipart message is here
    frame f;
    std::memcpy(&f.env, head.data(), sizeof(envelope));
    const auto* bytes = static_cast<const std::byte*>(body->data());
    std::size_t size = body->size();
    f.body = payload(bytes, size, std::move(body));
    sink.on_frame(std::move(f));
  }
  if (control_) {
    zmq::message_t msg;
    while (control_.recv(msg, zmq::recv_flags::dontwait)) {
      sink.on_control(msg.to_string());
      ++n;
    }
  }
  return n;
}

std::size_t zmq_transport::progress(std::chrono::milliseconds timeout, frame_sink& sink) {
  if (closed_) return 0;
  for (int rank : backlogged_) flush(peers_[static_cast<std::size_t>(rank)]);
  std::erase_if(backlogged_, [&](int r) { return peers_[static_cast<std::size_t>(r)].backlog.empty(); });
  std::size_t n = drain(sink);
  if (n > 0 || timeout.count() == 0) return n;

  items_.clear();
  items_.push_back({data_in_.handle(), 0, ZMQ_POLLIN, 0});
  if (control_) items_.push_back({control_.handle(), 0, ZMQ_POLLIN, 0});
  for (int rank : backlogged_)
    items_.push_back({peers_[static_cast<std::size_t>(rank)].out->handle(), 0, ZMQ_POLLOUT, 0});
  try {
    zmq::poll(items_, timeout);
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) throw;
  }
  for (int rank : backlogged_) flush(peers_[static_cast<std::size_t>(rank)]);
  std::erase_if(backlogged_, [&](int r) { return peers_[static_cast<std::size_t>(r)].backlog.empty(); });
  return drain(sink);
}

void zmq_transport::send_control(const std::string& bytes) {
  if (control_) control_.send(zmq::buffer(bytes), zmq::send_flags::none);
}

void zmq_transport::close() noexcept {
  if (closed_) return;
  closed_ = true;
  try {
    for (peer& p : peers_) {
      p.backlog.clear();
      if (p.out) {
        p.out->set(zmq::sockopt::linger, 0);
        p.out->close();
      }
    }
    data_in_.close();
    if (control_) {
      // Let the last control message (finalize, failing) reach the launcher.
      control_.set(zmq::sockopt::linger, 1000);
      control_.close();
    }
    context_.close();
  } catch (...) {
    // Nothing sensible to do at shutdown; never throw from here.
  }
}

}  // namespace parrun::detail
