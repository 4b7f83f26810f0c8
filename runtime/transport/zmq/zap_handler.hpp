#pragma once
// Who may deliver frames to a rank: only the job's own ranks. Every data socket is a ZeroMQ
// PLAIN server, so libzmq asks the ZAP handler below about each connecting peer before the
// peer's first frame is accepted (RFC 27, ZAP). The handler accepts a peer only when
//   - it runs as this rank's user (the kernel's SO_PEERCRED, which libzmq passes as the
//     ZAP address ":uid:gid:pid" for unix sockets), and
//   - it proves it knows the job secret (the PLAIN password; it travels only over a unix
//     socket inside the job's 0700 directory, never over a network).
// Anything else is refused with a warning on stderr and never reaches the program. The
// handler runs on its own thread so that handshakes complete while the rank computes; it
// ends when the ZeroMQ context shuts down.
#include <atomic>
#include <string>
#include <thread>

#include <zmq.hpp>

namespace parrun::detail {

/// How a rank's data sockets authenticate: PLAIN with the job secret over unix sockets (one
/// host), or CURVE with the job's key pair over TCP (the job spans hosts: the key authenticates
/// and encrypts; no uid can be checked across machines).
struct data_credentials {
  std::string secret;
  std::string curve_public;  ///< Z85; set: CURVE
  std::string curve_secret;
  bool curve() const noexcept { return !curve_public.empty(); }
};

/// What the ZAP handler decides for one request; pure, so it is unit-tested.
struct zap_verdict {
  bool accepted = false;
  std::string why;  ///< for a refusal: what was wrong
};

/// Judges a ZAP request's fields (address "<name>:uid:gid:pid", mechanism, PLAIN password).
zap_verdict judge_zap_request(const std::string& address, const std::string& mechanism,
                              const std::string& password, const std::string& secret, unsigned my_uid);

/// Judges a CURVE request: the client must hold the job's key (`client_key`: its public key,
/// 32 bytes; `job_public`: the job's, Z85).
zap_verdict judge_curve_request(const std::string& mechanism, const std::string& client_key,
                                const std::string& job_public);

class zap_handler {
 public:
  /// Binds the ZAP endpoint in `context` (before any data socket binds) and starts serving.
  zap_handler(zmq::context_t& context, data_credentials credentials, int my_rank);
  /// Shuts the context down (every blocking call on its sockets returns ETERM) and joins the
  /// thread: destroy it only when the context's sockets are done with.
  ~zap_handler();
  zap_handler(const zap_handler&) = delete;
  zap_handler& operator=(const zap_handler&) = delete;

  /// Connections refused so far.
  unsigned long refused() const noexcept { return refused_.load(); }

 private:
  void serve(zmq::socket_t socket);
  void warn(const std::string& address, const std::string& why);

  void* context_;  // the C handle: the C++ wrapper may be moved (into the transport) meanwhile
  data_credentials credentials_;
  int my_rank_;
  unsigned my_uid_;
  std::atomic<unsigned long> refused_{0};
  std::thread thread_;
};

/// The options every data socket that accepts peers gets: PLAIN or CURVE server (so the ZAP
/// handler judges each peer), a bounded part size, a bounded handshake.
void configure_data_server(zmq::socket_t& s, std::size_t max_part, const data_credentials& c);
/// The options every data socket that connects to a peer gets: the job's credentials.
void configure_data_client(zmq::socket_t& s, const data_credentials& c);
/// The options a CURVE client of the job gets (the job's key pair; the server holds it too).
void configure_curve_client(zmq::socket_t& s, const std::string& curve_public, const std::string& curve_secret);

}  // namespace parrun::detail
