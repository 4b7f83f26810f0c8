#include "rendezvous.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <stdexcept>

#include <parrun/detail/net.hpp>

#include "agent_protocol.hpp"

namespace parrun::launcher {

rendezvous::rendezvous(int np, std::string secret, const listen_on& where)
    : socket_(context_, zmq::socket_type::router),
      secret_(std::move(secret)),
      members_(static_cast<std::size_t>(np)),
      pending_finished_(static_cast<std::size_t>(np)),
      waiters_(static_cast<std::size_t>(np)) {
  socket_.set(zmq::sockopt::linger, 0);
  // Fail (and ignore) a send to a rank that is gone, rather than queueing it forever.
  socket_.set(zmq::sockopt::router_mandatory, 1);
  if (where.curve_secret.empty()) {
    // Anyone on this host can connect: refuse messages longer than any rank sends, unread.
    socket_.set(zmq::sockopt::maxmsgsize, wire::max_control_bytes(np));
  } else {
    // Only holders of the job's key get past the handshake; agents batch output lines (up to
    // 1 MiB each) into one message.
    socket_.set(zmq::sockopt::curve_server, 1);
    socket_.set(zmq::sockopt::curve_secretkey, where.curve_secret);
    socket_.set(zmq::sockopt::maxmsgsize, std::max<std::int64_t>(wire::max_control_bytes(np), 64 << 20));
  }
  try {
    if (!where.ipc_path.empty()) {
      socket_.bind("ipc://" + where.ipc_path);
      address_ = "ipc://" + where.ipc_path;
    } else {
      address_ = detail::net::bind_tcp(where.address, where.ports, [this](const std::string& endpoint) -> std::optional<std::string> {
        try {
          socket_.bind(endpoint);
        } catch (const zmq::error_t& e) {
          if (e.num() == EADDRINUSE) return std::nullopt;  // taken: the next port of the range
          throw;
        }
        return socket_.get(zmq::sockopt::last_endpoint);
      });
    }
  } catch (const std::exception& e) {
    throw std::runtime_error("the launcher cannot listen on " + (where.ipc_path.empty() ? where.address : where.ipc_path) +
                             (where.ports.empty() ? std::string() : " (--ports " + where.ports + ")") + ": " + e.what());
  }
}

std::vector<int> rendezvous::handle_incoming() {
  std::vector<int> newly_joined;
  for (;;) {
    zmq::message_t id;
    if (!socket_.recv(id, zmq::recv_flags::dontwait)) break;
    zmq::message_t body;
    (void)socket_.recv(body, zmq::recv_flags::none);
    while (body.more()) (void)socket_.recv(body, zmq::recv_flags::none);  // ignore extra frames
    std::string routing_id = id.to_string();
    try {
      if (std::optional<int> rank = handle(routing_id, body.to_string())) newly_joined.push_back(*rank);
    } catch (const std::exception& e) {
      // A malformed message from something that is not one of our ranks: refuse, go on.
      send(routing_id, wire::encode(wire::kind::refused, wire::refused{e.what()}));
    }
  }
  return newly_joined;
}

std::optional<int> rendezvous::handle(const std::string& routing_id, const std::string& body) {
  const wire::kind k = wire::kind_of(body);
  if (agent_wire::is_agent_kind(static_cast<std::uint8_t>(k))) {
    if (agent_handler_) agent_handler_(routing_id, body);
    return std::nullopt;
  }
  if (k == wire::kind::hello) {
    auto h = wire::decode<wire::hello>(body);
    auto refuse = [&](const std::string& why) -> std::optional<int> {
      send(routing_id, wire::encode(wire::kind::refused, wire::refused{why}));
      return std::nullopt;
    };
    if (h.version != wire::protocol_version)
      return refuse("protocol version " + std::to_string(h.version) + " does not match parrun's " +
                    std::to_string(wire::protocol_version) + " (mixed parrun installations?)");
    if (h.secret != secret_) return refuse("wrong job secret");
    if (h.rank < 0 || h.rank >= size()) return refuse("rank " + std::to_string(h.rank) + " is not part of this job");
    member& m = members_[static_cast<std::size_t>(h.rank)];
    if (m.joined) return refuse("rank " + std::to_string(h.rank) + " has joined already");
    m.joined = true;
    m.routing_id = routing_id;
    by_routing_id_[routing_id] = h.rank;
    m.host = h.self.host;
    m.self = std::move(h.self);
    ++joined_;
    send(routing_id, wire::encode(wire::kind::welcome, wire::empty{}));
    return h.rank;
  }
  // Everything else must come from a rank that joined.
  const auto known = by_routing_id_.find(routing_id);
  if (known == by_routing_id_.end()) return std::nullopt;
  const int rank = known->second;
  member& m = members_[static_cast<std::size_t>(rank)];
  switch (k) {
    case wire::kind::failing:
      m.failure = wire::decode<wire::failing>(body);
      send(routing_id, wire::encode(wire::kind::ack, wire::empty{}));
      break;
    case wire::kind::state:
      m.state = wire::decode<wire::state>(body);
      break;
    case wire::kind::finalize: {
      // Give every other rank its final counts (see wire.hpp), batched; then let it go, after
      // it heard of the ranks that finished before it (for its lost-message warnings).
      auto counts = wire::decode<wire::finalize>(body);
      if (m.finalizing) break;
      const auto n = static_cast<std::size_t>(size());
      if (counts.sent.size() != n || counts.arrived.size() != n || counts.values_arrived.size() != n)
        break;  // not from a rank of this job's size
      for (std::size_t q = 0; q < n; ++q)
        if (static_cast<int>(q) != rank)
          pending_finished_[q].push_back(
              wire::peer_finished{rank, counts.sent[q], counts.arrived[q], counts.values_arrived[q]});
      flush_finished_to(rank);
      m.finalizing = true;
      send(routing_id, wire::encode(wire::kind::finalized, wire::empty{}));
      // Ranks leaving the job wait for this one: they hear of it now, not at the next flush.
      for (int waiter : waiters_[static_cast<std::size_t>(rank)]) flush_finished_to(waiter);
      waiters_[static_cast<std::size_t>(rank)].clear();
      break;
    }
    case wire::kind::leaving: {
      // It waits for these peers to confirm its last frames; any that finished cannot.
      flush_finished_to(rank);
      for (std::int32_t peer : wire::decode<wire::leaving>(body).waiting_for)
        if (peer >= 0 && peer < size() && peer != rank && !members_[static_cast<std::size_t>(peer)].finalizing)
          waiters_[static_cast<std::size_t>(peer)].push_back(rank);
      break;
    }
    default:
      break;
  }
  return std::nullopt;
}

void rendezvous::flush_finished_to(int rank) {
  auto& pending = pending_finished_[static_cast<std::size_t>(rank)];
  if (pending.empty()) return;
  // A rank that finished already needs no news: it has left (or is leaving) the job.
  if (!members_[static_cast<std::size_t>(rank)].finalizing)
    send_to(rank, wire::encode(wire::kind::peers_finished, wire::peers_finished{std::move(pending)}));
  pending.clear();
}

void rendezvous::flush_finished() {
  for (int r = 0; r < size(); ++r) flush_finished_to(r);
  last_flush_ = std::chrono::steady_clock::now();
}

std::optional<std::chrono::steady_clock::time_point> rendezvous::next_flush() const {
  for (const auto& pending : pending_finished_)
    if (!pending.empty()) return last_flush_ + flush_interval();
  return std::nullopt;
}

void rendezvous::send_table() {
  if (table_sent_) return;
  table_sent_ = true;
  wire::table t;
  for (const member& m : members_) t.ranks.push_back(m.self);
  const std::string body = wire::encode(wire::kind::table, t);
  for (int r = 0; r < size(); ++r) send_to(r, body);
}

void rendezvous::query_all() {
  const std::string body = wire::encode(wire::kind::query, wire::empty{});
  for (int r = 0; r < size(); ++r) {
    members_[static_cast<std::size_t>(r)].state.reset();
    send_to(r, body);
  }
}

void rendezvous::announce_lost(int rank, const std::string& why) {
  const std::string body = wire::encode(wire::kind::peer_lost, wire::peer_lost{rank, why});
  for (int r = 0; r < size(); ++r)
    if (r != rank) send_to(r, body);
}

void rendezvous::send_to(int rank, const std::string& body) noexcept {
  const member& m = members_[static_cast<std::size_t>(rank)];
  if (m.joined) send(m.routing_id, body);
}

void rendezvous::send(const std::string& routing_id, const std::string& body) noexcept {
  try {
    zmq::message_t id(routing_id.data(), routing_id.size());
    socket_.send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    socket_.send(zmq::buffer(body), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
    // EHOSTUNREACH: that rank has gone; the job monitor learns it from waitpid.
  }
}

}  // namespace parrun::launcher
