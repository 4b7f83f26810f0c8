#pragma once
// Go-style channels on point-to-point frames in the communicator's channel lane, tagged with
// the channel's id; the frame's kind travels in the envelope flags:
//
//   data   a value (typed: its fingerprint is checked on receipt)
//   ack    "I received one of your values": the sender may have one more outstanding
//   grant  "I am waiting to receive" (capacity 0 only): makes try_send / select's send ready
//   close  "I will send no more": follows all the data on the same ordered path
//
// Flow control is one rule: a sender may have at most max(capacity, 1) values sent and not yet
// received (acked), and with capacity 0 every send also waits for its own ack, so it completes
// only when the peer has received the value; try_send then succeeds only while the peer waits
// (a grant). A fan-in channel (peer = any_source) receives from every other rank of its
// communicator and is closed when each of them has closed its end, finished, or died.
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <parrun/detail/channel_core.hpp>

#include "comm_impl.hpp"

namespace parrun::detail {

class channel_impl final : public channel_core {
 public:
  enum class kind : std::uint32_t { data = 1, ack = 2, grant = 3, close = 4 };

  channel_impl(std::shared_ptr<comm_impl> comm, int peer, int id, int capacity, const type_id& type);
  ~channel_impl() override;

  void poll() override;
  void send(owned_bytes&& value) override;
  bool try_send(owned_bytes&& value) override;
  bool can_send() override;
  void close() override;
  std::optional<received> take(const clock::time_point* deadline) override;
  std::optional<received> try_take() override;
  bool has_value() override;
  bool drained_and_closed() override;
  void check_peer_alive() override;
  void offer_grant() override;
  int peer() const noexcept override { return peer_; }
  int id() const noexcept override { return id_; }
  int capacity() const noexcept override { return capacity_; }

  engine& eng() const { return comm_->eng(); }

 private:
  struct arrived {
    int source;
    payload body;
    std::uint64_t type;
  };
  void pump();
  void post(int dest, kind k, owned_bytes&& body);
  received accept_front();
  bool producer_done(int rank) const;
  bool all_done() const;
  bool peer_gone_for_sending() const;
  std::string describe(const char* op) const;  // "send(peer=1, id=3)"
  std::string where(const char* op) const;     // the same, "on rank 0"
  void check_can_send(const char* op);

  std::shared_ptr<comm_impl> comm_;
  int peer_;
  int id_;
  int capacity_;
  const type_id& type_;

  // sending direction (point-to-point channels only)
  std::uint64_t outstanding_ = 0;  // sent, not acked
  std::uint64_t grants_ = 0;       // capacity 0: the peer is waiting
  bool send_closed_ = false;

  // receiving direction
  std::deque<arrived> queue_;
  std::vector<char> closed_by_;  // per communicator rank: its close arrived
  bool grant_offered_ = false;
};

}  // namespace parrun::detail
