#pragma once
// A rank's ZeroMQ context and its ZAP handler, shared by everything that has sockets in it (the
// ZeroMQ lane, the control channel). The last of them to let go terminates the context, so
// neither can be cut off by the other closing first.
#include <cerrno>
#include <memory>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "transport/zmq/zap_handler.hpp"

namespace parrun::detail {

struct zmq_context {
  zmq::context_t context;
  std::unique_ptr<zap_handler> zap;  ///< set before any data socket binds

  explicit zmq_context(int max_sockets) : context(1) { context.set(zmq::ctxopt::max_sockets, max_sockets); }
  ~zmq_context() {
    zap.reset();  // shuts the context down: its thread closes its socket and returns
    context.close();
  }
  zmq_context(const zmq_context&) = delete;
  zmq_context& operator=(const zmq_context&) = delete;
};

/// Sets the options every parrun socket gets: a bounded linger, so that exit never hangs on a
/// peer that is gone.
inline void configure_socket(zmq::socket_t& s, int linger_ms) { s.set(zmq::sockopt::linger, linger_ms); }

/// Binds `s` to `endpoint`: the endpoint bound (with its port when it asked for "*"), or nothing
/// when the port is taken (net::bind_tcp then tries the next one).
inline std::optional<std::string> bind_unless_taken(zmq::socket_t& s, const std::string& endpoint) {
  try {
    s.bind(endpoint);
  } catch (const zmq::error_t& e) {
    if (e.num() == EADDRINUSE) return std::nullopt;
    throw;
  }
  return s.get(zmq::sockopt::last_endpoint);
}

}  // namespace parrun::detail
