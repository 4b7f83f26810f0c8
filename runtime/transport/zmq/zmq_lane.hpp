#pragma once
// The ZeroMQ lane: for peers on other hosts, and for every peer when PARRUN_TRANSPORT=zmq. Each
// rank binds one PULL socket for its data and, on first use, one PUSH socket per peer it sends
// to, so frames from one sender arrive in order. Nothing is ever dropped: PUSH blocks at the
// high-water mark instead of dropping, and a frame the socket will not take yet waits in our own
// per-peer FIFO until poll reports the socket writable. Large payloads are handed to ZeroMQ
// without copying.
//
// On the wire a frame is one ZeroMQ multipart message: the 32-byte envelope, then the payload
// in parts of at most `max_part` bytes (the PULL socket refuses longer parts, so a peer that is
// not yet authenticated cannot make this rank allocate more; see zap_handler.hpp for who may
// connect at all). A payload of several parts is reassembled with one copy. Anything that is
// not such a message is dropped with a warning: a bad frame never ends the job.
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "transport/transport.hpp"
#include "transport/zmq/zap_handler.hpp"
#include "transport/zmq/zmq_context.hpp"

namespace parrun::detail {

class zmq_lane final : public lane {
 public:
  /// `data_in` is this rank's bound PULL socket (its context's ZAP handler judges every peer
  /// that connects), `endpoints` every rank's data endpoint by world rank (empty for peers on
  /// other lanes), `hwm` the high-water mark of each PUSH socket (messages queued per peer
  /// before it pushes back), `credentials` what this rank presents to its peers, `max_part` the
  /// largest payload part.
  zmq_lane(std::shared_ptr<zmq_context> context, zmq::socket_t data_in, std::vector<std::string> endpoints,
           int my_rank, int hwm, data_credentials credentials, std::size_t max_part);
  ~zmq_lane() override;

  const char* name() const noexcept override { return credentials_.curve() ? "tcp" : "zmq"; }
  std::uint64_t post(int peer, const envelope& env, owned_bytes&& body) override;
  bool taken(int peer, std::uint64_t ticket) const override;
  std::size_t drain(frame_sink& sink) override;
  void wait_items(std::vector<zmq::pollitem_t>& items) override;
  void close() noexcept override;

 private:
  struct queued {
    envelope env;
    owned_bytes body;
  };
  struct peer {
    std::string endpoint;
    std::optional<zmq::socket_t> out;  // connected on first send
    std::deque<queued> backlog;        // frames the socket did not take yet, in order
    std::uint64_t posted = 0;          // tickets handed out
    std::uint64_t taken = 0;           // every ticket up to this one is on the wire
  };

  bool try_send(peer& p, const envelope& env, owned_bytes& body);
  void send_parts(zmq::socket_t& out, owned_bytes& body);
  void flush(peer& p);
  std::size_t flush_backlogs();  // frames that left the queue
  std::optional<frame> read_frame(zmq::message_t& head);
  void warn_malformed(const std::string& why);

  std::shared_ptr<zmq_context> context_;
  zmq::socket_t data_in_;
  std::vector<peer> peers_;
  std::vector<int> backlogged_;  // peers with a non-empty backlog
  int my_rank_;
  int hwm_;
  data_credentials credentials_;
  std::size_t max_part_;
  unsigned long malformed_ = 0;
  bool closed_ = false;
};

}  // namespace parrun::detail
