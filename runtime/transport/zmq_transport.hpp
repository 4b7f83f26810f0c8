#pragma once
// The ZeroMQ transport. Each rank binds one PULL socket for its data and, on first use, one
// PUSH socket per peer it sends to, so frames from one sender arrive in order. Nothing is ever
// dropped: PUSH blocks at the high-water mark instead of dropping, and a frame the socket will
// not take yet waits in our own per-peer FIFO until poll reports the socket writable. Large
// payloads are handed to ZeroMQ without copying. The launcher's control socket (a DEALER) is
// polled in the same zmq_poll, so a rank blocked in a receive still answers the launcher.
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
#include "transport/zap_handler.hpp"

namespace parrun::detail {

class zmq_transport final : public transport {
 public:
  /// `data_in` is this rank's bound PULL socket, `control` its connected DEALER to the launcher,
  /// `endpoints` every rank's data endpoint by world rank, `hwm` the high-water mark of each
  /// PUSH socket (messages queued per peer before it pushes back).
  /// `zap` judges every peer that connects to `data_in` (it must exist before data_in binds),
  /// `secret` is what this rank presents to its peers, `max_part` the largest payload part.
  zmq_transport(zmq::context_t context, std::unique_ptr<zap_handler> zap, zmq::socket_t data_in,
                zmq::socket_t control, std::vector<std::string> endpoints, int my_rank, int hwm,
                std::string secret, std::size_t max_part);
  ~zmq_transport() override;

  std::uint64_t post(int peer, const envelope& env, owned_bytes&& body) override;
  bool taken(int peer, std::uint64_t ticket) const override;
  std::size_t progress(std::chrono::milliseconds timeout, frame_sink& sink) override;
  void send_control(const std::string& bytes) override;
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
  std::size_t drain(frame_sink& sink);
  std::optional<frame> read_frame(zmq::message_t& head);
  void warn_malformed(const std::string& why);

  zmq::context_t context_;
  std::unique_ptr<zap_handler> zap_;
  zmq::socket_t data_in_;
  zmq::socket_t control_;
  std::vector<peer> peers_;
  std::vector<int> backlogged_;  // peers with a non-empty backlog
  std::vector<zmq::pollitem_t> items_;
  int my_rank_;
  int hwm_;
  std::string secret_;
  std::size_t max_part_;
  unsigned long malformed_ = 0;
  bool closed_ = false;
};

/// Sets the options every parrun socket gets: a bounded linger, so that exit never hangs on a
/// peer that is gone.
void configure_socket(zmq::socket_t& s, int linger_ms);

}  // namespace parrun::detail
