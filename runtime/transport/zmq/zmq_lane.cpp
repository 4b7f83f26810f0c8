#include "transport/zmq/zmq_lane.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include <parrun/errors.hpp>

#include "warn_first.hpp"

namespace parrun::detail {
namespace {

// Payloads up to this size are copied into ZeroMQ's own message (small ones even live inside
// it); bigger ones are handed over and freed by ZeroMQ when written.
constexpr std::size_t copy_limit = 1024;
// Frames read per progress() call before the caller gets to check its condition again.
constexpr int drain_batch = 128;

}  // namespace

zmq_lane::zmq_lane(std::shared_ptr<zmq_context> context, zmq::socket_t data_in,
                   std::vector<std::string> endpoints, int my_rank, int hwm, data_credentials credentials,
                   std::size_t max_part)
    : context_(std::move(context)),
      data_in_(std::move(data_in)),
      peers_(endpoints.size()),
      my_rank_(my_rank),
      hwm_(hwm),
      credentials_(std::move(credentials)),
      max_part_(max_part) {
  for (std::size_t r = 0; r < endpoints.size(); ++r) peers_[r].endpoint = std::move(endpoints[r]);
}

zmq_lane::~zmq_lane() { close(); }

namespace {

// A payload sent in several parts: ZeroMQ frees each part when written; the last one frees it.
struct shared_body {
  owned_bytes bytes;
  std::atomic<std::size_t> parts_left;
};

void release_part(void*, void* hint) {
  auto* shared = static_cast<shared_body*>(hint);
  if (shared->parts_left.fetch_sub(1) == 1) delete shared;
}

}  // namespace

void zmq_lane::send_parts(zmq::socket_t& out, owned_bytes& body) {
  const std::size_t size = body.size();
  zmq::message_t data;  // empty bodies stay empty (cppzmq would memcpy from their null pointer)
  if (size == 0) {
  } else if (size <= copy_limit) {
    data.rebuild(body.data(), size);
  } else if (size <= max_part_) {
    std::byte* bytes = body.data();
    auto [release, hint] = body.release();
    data.rebuild(bytes, size, release, hint);
  } else {
    const std::size_t parts = (size + max_part_ - 1) / max_part_;
    auto* shared = new shared_body{std::move(body), {parts}};
    std::byte* bytes = shared->bytes.data();
    for (std::size_t i = 0; i + 1 < parts; ++i) {
      zmq::message_t part(bytes + i * max_part_, max_part_, release_part, shared);
      out.send(part, zmq::send_flags::sndmore);
    }
    const std::size_t last = size - (parts - 1) * max_part_;
    data.rebuild(bytes + (parts - 1) * max_part_, last, release_part, shared);
  }
  out.send(data, zmq::send_flags::none);
}

bool zmq_lane::try_send(peer& p, const envelope& env, owned_bytes& body) {
  if (!p.out) {
    p.out.emplace(context_->context, zmq::socket_type::push);
    configure_socket(*p.out, 2000);
    configure_data_client(*p.out, credentials_);
    p.out->set(zmq::sockopt::sndhwm, hwm_);
    p.out->connect(p.endpoint);
  }
  zmq::message_t head(&env, sizeof env);
  if (!p.out->send(head, zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return false;
  // The first part was taken, so ZeroMQ takes the rest of this message too (it is atomic).
  send_parts(*p.out, body);
  return true;
}

std::uint64_t zmq_lane::post(int rank, const envelope& env, owned_bytes&& body) {
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

bool zmq_lane::taken(int rank, std::uint64_t ticket) const {
  return peers_[static_cast<std::size_t>(rank)].taken >= ticket;
}

void zmq_lane::flush(peer& p) {
  while (!p.backlog.empty() && try_send(p, p.backlog.front().env, p.backlog.front().body)) {
    p.backlog.pop_front();
    ++p.taken;
  }
}

void zmq_lane::warn_malformed(const std::string& why) {
  if (const char* tail = warning_tail(++malformed_))
    std::fprintf(stderr, "parrun: rank %d: warning: dropped a malformed frame (%s)%s\n", my_rank_,
                 why.c_str(), tail);
}

std::optional<frame> zmq_lane::read_frame(zmq::message_t& head) {
  // Read every part of the message first: whatever it is, none of it may stay behind. The
  // common message (envelope + one part) allocates nothing here; only a payload sent in
  // several parts gathers them.
  zmq::message_t body;
  std::vector<zmq::message_t> more_parts;
  std::size_t parts = 0;
  if (head.more()) {
    (void)data_in_.recv(body, zmq::recv_flags::none);  // a message arrives whole
    parts = 1;
    for (bool more = body.more(); more; more = more_parts.back().more()) {
      more_parts.emplace_back();
      (void)data_in_.recv(more_parts.back(), zmq::recv_flags::none);
      ++parts;
    }
  }
  if (head.size() != sizeof(envelope) || parts == 0) {
    warn_malformed(std::to_string(head.size()) + "-byte header, " + std::to_string(parts) + " more parts");
    return std::nullopt;
  }
  frame f;
  std::memcpy(&f.env, head.data(), sizeof(envelope));
  if (more_parts.empty()) {  // the payload stays in ZeroMQ's buffer
    auto owner = std::make_shared<zmq::message_t>(std::move(body));
    const auto* bytes = static_cast<const std::byte*>(owner->data());
    const std::size_t size = owner->size();
    f.body = payload(bytes, size, std::move(owner));
    return f;
  }
  std::size_t total = body.size();
  for (const zmq::message_t& part : more_parts) total += part.size();
  owned_bytes joined;
  std::byte* at = joined.grow(total);
  auto append = [&](const zmq::message_t& part) {
    if (part.size() != 0) std::memcpy(at, part.data(), part.size());
    at += part.size();
  };
  append(body);
  for (const zmq::message_t& part : more_parts) append(part);
  f.body = payload::adopt(std::move(joined));
  return f;
}

std::size_t zmq_lane::flush_backlogs() {
  std::size_t left = 0;
  for (int rank : backlogged_) {
    peer& p = peers_[static_cast<std::size_t>(rank)];
    const std::uint64_t before = p.taken;
    flush(p);
    left += static_cast<std::size_t>(p.taken - before);
  }
  std::erase_if(backlogged_, [&](int r) { return peers_[static_cast<std::size_t>(r)].backlog.empty(); });
  return left;
}

std::size_t zmq_lane::drain(frame_sink& sink) {
  if (closed_) return 0;
  // Frames that left the queue count as progress: a send waiting for them is done.
  std::size_t n = flush_backlogs();
  for (int i = 0; i < drain_batch; ++i, ++n) {
    zmq::message_t head;
    if (!data_in_.recv(head, zmq::recv_flags::dontwait)) break;
    if (std::optional<frame> f = read_frame(head)) sink.on_frame(std::move(*f));
  }
  return n;
}

void zmq_lane::wait_items(std::vector<zmq::pollitem_t>& items) {
  if (closed_) return;
  items.push_back({data_in_.handle(), 0, ZMQ_POLLIN, 0});
  for (int rank : backlogged_)
    items.push_back({peers_[static_cast<std::size_t>(rank)].out->handle(), 0, ZMQ_POLLOUT, 0});
}

void zmq_lane::close() noexcept {
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
  } catch (...) {
    // Nothing sensible to do at shutdown; never throw from here.
  }
  context_.reset();  // the last user of the context (lane or control channel) terminates it
}

}  // namespace parrun::detail
