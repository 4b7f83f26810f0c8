#include "transport/zmq/zap_handler.hpp"

#include "transport/same_secret.hpp"

#include <unistd.h>

#include <cstdio>
#include <optional>
#include <vector>

#include "warn_first.hpp"

namespace parrun::detail {
namespace {

constexpr const char* zap_endpoint = "inproc://zeromq.zap.01";  // fixed by RFC 27
constexpr const char* zap_domain = "parrun";
// A connection that has not finished its handshake by then is dropped: idle strangers do not
// hold descriptors for long.
constexpr int handshake_ms = 10'000;

// "<name>:uid:gid:pid" (libzmq's rendering of SO_PEERCRED for unix sockets; the name part is
// empty or "localhost") -> uid.
std::optional<unsigned long> peer_uid(const std::string& address) {
  const std::size_t pid_colon = address.rfind(':');
  if (pid_colon == std::string::npos || pid_colon == 0) return std::nullopt;
  const std::size_t gid_colon = address.rfind(':', pid_colon - 1);
  if (gid_colon == std::string::npos || gid_colon == 0) return std::nullopt;
  const std::size_t uid_colon = address.rfind(':', gid_colon - 1);
  if (uid_colon == std::string::npos || uid_colon + 1 >= gid_colon) return std::nullopt;
  unsigned long uid = 0;
  for (std::size_t i = uid_colon + 1; i < gid_colon; ++i) {
    if (address[i] < '0' || address[i] > '9' || uid > 1'000'000'000ul) return std::nullopt;
    uid = uid * 10 + static_cast<unsigned long>(address[i] - '0');
  }
  return uid;
}

std::string peer_pid(const std::string& address) {
  const std::size_t last = address.rfind(':');
  return last == std::string::npos || last == 0 ? std::string("?") : address.substr(last + 1);
}

}  // namespace

zap_verdict judge_zap_request(const std::string& address, const std::string& mechanism,
                              const std::string& password, const std::string& secret, unsigned my_uid) {
  if (mechanism != "PLAIN") return {false, "it did not authenticate (mechanism " + mechanism + ")"};
  const std::optional<unsigned long> uid = peer_uid(address);
  if (!uid) return {false, "the kernel did not say who it is (address '" + address + "')"};
  if (*uid != my_uid)
    return {false, "it runs as uid " + std::to_string(*uid) + ", not as the job's uid " + std::to_string(my_uid)};
  if (!same_secret(password, secret)) return {false, "it does not know the job secret"};
  return {true, ""};
}

zap_verdict judge_curve_request(const std::string& mechanism, const std::string& client_key,
                                const std::string& job_public) {
  if (mechanism != "CURVE") return {false, "it did not authenticate (mechanism " + mechanism + ")"};
  std::string expected(32, '\0');
  if (job_public.size() != 40 ||
      zmq_z85_decode(reinterpret_cast<std::uint8_t*>(expected.data()), job_public.c_str()) == nullptr)
    return {false, "this rank has no valid job key"};
  if (client_key.size() != 32 || !same_secret(client_key, expected)) return {false, "it does not hold the job's key"};
  return {true, ""};
}

void configure_curve_client(zmq::socket_t& s, const std::string& curve_public, const std::string& curve_secret) {
  s.set(zmq::sockopt::curve_serverkey, curve_public);
  s.set(zmq::sockopt::curve_publickey, curve_public);
  s.set(zmq::sockopt::curve_secretkey, curve_secret);
}

void configure_data_server(zmq::socket_t& s, std::size_t max_part, const data_credentials& c) {
  if (c.curve()) {
    s.set(zmq::sockopt::curve_server, 1);
    s.set(zmq::sockopt::curve_secretkey, c.curve_secret);
  } else {
    s.set(zmq::sockopt::plain_server, 1);
  }
  s.set(zmq::sockopt::zap_domain, zap_domain);
  s.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(max_part));
  s.set(zmq::sockopt::handshake_ivl, handshake_ms);
}

void configure_data_client(zmq::socket_t& s, const data_credentials& c) {
  if (c.curve()) {
    configure_curve_client(s, c.curve_public, c.curve_secret);
  } else {
    s.set(zmq::sockopt::plain_username, "parrun");
    s.set(zmq::sockopt::plain_password, c.secret);
  }
  s.set(zmq::sockopt::handshake_ivl, handshake_ms);
}

zap_handler::zap_handler(zmq::context_t& context, data_credentials credentials, int my_rank)
    : context_(context.handle()), credentials_(std::move(credentials)), my_rank_(my_rank), my_uid_(static_cast<unsigned>(getuid())) {
  zmq::socket_t socket(context, zmq::socket_type::rep);
  socket.set(zmq::sockopt::linger, 0);
  socket.bind(zap_endpoint);  // bound before the thread starts: no data socket is ever unguarded
  thread_ = std::thread([this, s = std::move(socket)]() mutable { serve(std::move(s)); });
}

zap_handler::~zap_handler() {
  (void)zmq_ctx_shutdown(context_);  // EFAULT when already terminated: the thread returned
  if (thread_.joinable()) thread_.join();
}

void zap_handler::warn(const std::string& address, const std::string& why) {
  if (const char* tail = warning_tail(++refused_))
    std::fprintf(stderr,
                 "parrun: rank %d: warning: refused a connection from %s: %s; only the job's "
                 "own ranks may send to it%s\n",
                 my_rank_, (credentials_.curve() ? address : "pid " + peer_pid(address)).c_str(), why.c_str(), tail);
}

void zap_handler::serve(zmq::socket_t socket) {
  for (;;) {
    std::vector<zmq::message_t> request;
    try {
      // A request is one multipart message; read every part.
      do {
        request.emplace_back();
        if (!socket.recv(request.back(), zmq::recv_flags::none)) return;
      } while (request.back().more());
    } catch (const zmq::error_t&) {
      return;  // ETERM: the context is shutting down
    }
    // RFC 27: version, request id, domain, address, identity, mechanism, credentials...
    auto part = [&](std::size_t i) { return i < request.size() ? request[i].to_string() : std::string(); };
    const std::string mechanism = part(5);
    // PLAIN's credentials are username, password; CURVE's the client's public key.
    const zap_verdict v =
        credentials_.curve()
            ? judge_curve_request(mechanism, part(6), credentials_.curve_public)
            : judge_zap_request(part(3), mechanism, mechanism == "PLAIN" ? part(7) : "", credentials_.secret, my_uid_);
    if (!v.accepted) warn(part(3), v.why);
    const std::string replies[] = {"1.0", part(1), v.accepted ? "200" : "400",
                                   v.accepted ? "OK" : v.why, v.accepted ? "parrun" : "", ""};
    try {
      for (std::size_t i = 0; i < 6; ++i)
        socket.send(zmq::buffer(replies[i]), i + 1 < 6 ? zmq::send_flags::sndmore : zmq::send_flags::none);
    } catch (const zmq::error_t&) {
      return;
    }
  }
}

}  // namespace parrun::detail
