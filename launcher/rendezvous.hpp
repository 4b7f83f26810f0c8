#pragma once
// The control service every rank joins (the wire contract is parrun/wire.hpp). A ZeroMQ ROUTER
// on TCP: ranks say hello with the job's secret and their data endpoint; once all have, each
// gets the table and the ranks talk directly. Afterwards it carries only what the job monitor
// needs: failure reasons, answers to --timeout queries, the finalize barrier and news of lost
// peers. It never relays data.
#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include <parrun/wire.hpp>

namespace parrun::launcher {

class rendezvous {
 public:
  struct member {
    bool joined = false;
    std::string routing_id;
    std::string host;
    wire::member self;                          ///< what the table says about it
    bool finalizing = false;                    ///< it finished and may exit
    std::optional<wire::failing> failure;       ///< why it said it is dying
    std::optional<wire::state> state;           ///< its answer to the last query
  };

  /// Where it listens: on one host a unix socket in the job's directory; across hosts `address` (the interface
  /// that reaches the other hosts), a port from `ports`, and CURVE with the job's key, so that
  /// nothing crosses the network in clear and nobody without the key gets a message in.
  struct listen_on {
    std::string ipc_path;  ///< set: a unix socket there (one host), and the rest is unused
    std::string address = "127.0.0.1";
    std::string ports;
    std::string curve_secret;  ///< Z85; set: CURVE server
  };
  /// Messages of the launcher's agents (agent_protocol.hpp) go to this handler, unread here.
  using agent_handler = std::function<void(const std::string& routing_id, const std::string& body)>;

  /// Binds for a job of `np` ranks.
  rendezvous(int np, std::string secret, const listen_on& where);

  void on_agent_message(agent_handler handler) { agent_handler_ = std::move(handler); }
  /// Sends `body` to whoever has `routing_id` (a rank or an agent); dropped when it is gone.
  void send(const std::string& routing_id, const std::string& body) noexcept;

  /// The address ranks connect to.
  const std::string& address() const noexcept { return address_; }
  void* socket_handle() noexcept { return socket_.handle(); }

  /// Handles every message waiting on the socket. Returns the ranks that joined in this call.
  std::vector<int> handle_incoming();

  bool all_joined() const noexcept { return joined_ == static_cast<int>(members_.size()); }
  bool any_joined() const noexcept { return joined_ > 0; }
  const member& at(int rank) const { return members_[static_cast<std::size_t>(rank)]; }
  int size() const noexcept { return static_cast<int>(members_.size()); }

  /// Sends the endpoint table to every rank (once all joined).
  void send_table();
  /// Asks every joined rank what it is doing; answers arrive as member::state.
  void query_all();
  /// Tells every joined rank but `rank` that `rank` is lost.
  void announce_lost(int rank, const std::string& why);

  /// News of finished ranks is batched: at most one message per rank per flush interval,
  /// which grows with the job (5 ms, or 50 us per rank), because leaving takes time in
  /// proportion to the rank count: so each rank hears a bounded number of messages and N ranks
  /// leaving cost O(N) messages, not N^2. A rank blocked on a finished peer learns it that much
  /// later.
  std::chrono::microseconds flush_interval() const noexcept {
    return std::max(std::chrono::microseconds(5000), std::chrono::microseconds(50) * size());
  }
  /// Sends every rank the news gathered since the last flush.
  void flush_finished();
  /// When flush_finished() is due; nothing when there is no news.
  std::optional<std::chrono::steady_clock::time_point> next_flush() const;

 private:
  /// Handles one message; the rank when it was a successful hello.
  std::optional<int> handle(const std::string& routing_id, const std::string& body);
  void send_to(int rank, const std::string& body) noexcept;
  void flush_finished_to(int rank);

  zmq::context_t context_{1};
  zmq::socket_t socket_;
  std::string address_;
  std::string secret_;
  std::vector<member> members_;
  int joined_ = 0;
  bool table_sent_ = false;
  std::vector<std::vector<wire::peer_finished>> pending_finished_;  // by recipient
  std::unordered_map<std::string, int> by_routing_id_;  // joined ranks
  std::vector<std::vector<int>> waiters_;  // by rank: leaving ranks that wait for its news
  std::chrono::steady_clock::time_point last_flush_{};
  agent_handler agent_handler_;
};

}  // namespace parrun::launcher
