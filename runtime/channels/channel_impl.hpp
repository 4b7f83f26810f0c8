#pragma once
// Go-style channels on point-to-point frames in the communicator's channel space, tagged with
// the channel's id; the frame's kind (and, for capacity 0, a grant number) travels in the
// envelope flags:
//
//   data    a value (typed: its fingerprint is checked on receipt), with the number of the
//           grant it was sent under (0: none)
//   ack     "I received one of your values": the sender may have one more outstanding
//   grant   "I am waiting to receive" (capacity 0 only), numbered; it says whether the same wait
//           could send on this channel instead (a select with both cases)
//   revoke  "I no longer wait": withdraws a grant
//   close   "I will send no more": follows all the data on the same ordered path
//
// Flow control is one rule: a sender may have at most max(capacity, 1) values sent and not yet
// received (acked). Capacity 0 is a rendezvous: a blocking send waits for its own ack, so it
// completes only when the peer has received the value; a non-blocking send (try_send, select's
// on_send) completes only under a grant, that is while the peer waits to receive. A receiver
// grants when it starts waiting and revokes when it stops, so a grant never outlives the wait it
// stands for, except in flight: a value sent under a grant whose revoke had not arrived yet is
// kept and goes to the receiver's next receive (never lost, never duplicated). When both ends
// wait in a select that may send or receive on the channel, the lower rank sends and the higher
// one receives, so exactly one value moves, as in Go. An unbuffered channel to this rank itself
// never completes a send (nobody else can receive it).
//
// A fan-in channel (peer = any_source) receives from every other rank of its communicator and is
// closed when each of them has closed its end, finished, or died.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <parrun/detail/channel_core.hpp>

#include "channels/fifo.hpp"
#include "comm_impl.hpp"

namespace parrun::detail {

class channel_impl final : public channel_core {
 public:
  enum class kind : std::uint32_t { data = 1, ack = 2, grant = 3, close = 4, revoke = 5 };

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
  void begin_receive(bool also_sends) override;
  void end_receive() noexcept override;
  int peer() const noexcept override { return peer_; }
  int id() const noexcept override { return id_; }
  int capacity() const noexcept override { return capacity_; }

  engine& eng() const { return comm_->eng(); }

 private:
  struct arrived {
    int source = 0;
    payload body;
    std::uint64_t type = 0;
  };
  void pump();
  void post(int dest, kind k, owned_bytes&& body, std::uint32_t grant = 0, bool also_sends = false);
  std::uint32_t next_grant() noexcept;
  bool grant_lets_me_send() const;
  // Values this end may have sent and not yet had acked: max(capacity, 1).
  std::uint64_t send_room() const noexcept {
    return capacity_ == 0 ? 1 : static_cast<std::uint64_t>(capacity_);
  }
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

  bool self_;  // a point-to-point channel to this rank itself

  // sending direction (point-to-point channels only)
  std::uint64_t outstanding_ = 0;    // sent, not acked
  std::uint32_t peer_grant_ = 0;     // capacity 0: the peer's standing grant (0: none)
  bool peer_grant_also_sends_ = false;
  bool send_closed_ = false;

  // receiving direction
  fifo<arrived> queue_;
  std::vector<char> closed_by_;        // per communicator rank: its close arrived
  std::vector<std::uint32_t> granted_; // capacity 0, per communicator rank: my standing grant
  std::vector<char> granted_also_sends_;
  std::uint32_t grant_counter_ = 0;
};

}  // namespace parrun::detail
