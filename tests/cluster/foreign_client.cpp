// foreign_client ADDRS PORTS: a process that does not hold the job's key, knocking on every
// listening port of a running job (ADDRS comma-separated IPv4 addresses, PORTS a range A-B).
// On each open port it tries what an intruder could: a ZeroMQ peer without any mechanism
// (sending a fake hello and data frames), and a CURVE client with keys of its own. It watches
// each socket's handshake through libzmq's socket monitor and prints how many ports were open
// and how many handshakes the job accepted (a correct job accepts none), then exits 0.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <zmq.hpp>

namespace {

bool port_open(const std::string& addr, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, addr.c_str(), &a.sin_addr);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

// Connects `s` to the endpoint, sends junk, and says whether the handshake succeeded within 1 s.
bool handshake_accepted(zmq::context_t& ctx, zmq::socket_t& s, const std::string& endpoint, int n) {
  const std::string monitor = "inproc://monitor-" + std::to_string(n);
  zmq_socket_monitor(s.handle(), monitor.c_str(), ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
  zmq::socket_t events(ctx, zmq::socket_type::pair);
  events.connect(monitor);
  s.set(zmq::sockopt::linger, 0);
  s.connect(endpoint);
  for (int i = 0; i < 3; ++i) (void)s.send(zmq::str_buffer("\x01junk"), zmq::send_flags::dontwait);
  zmq::pollitem_t item{events.handle(), 0, ZMQ_POLLIN, 0};
  const bool got = zmq::poll(&item, 1, std::chrono::milliseconds(1000)) > 0;
  zmq_socket_monitor(s.handle(), nullptr, 0);
  return got;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: foreign_client ADDR[,ADDR...] FIRST-LAST\n");
    return 2;
  }
  std::vector<std::string> addrs;
  std::stringstream list(argv[1]);
  for (std::string a; std::getline(list, a, ',');) addrs.push_back(a);
  int first = 0, last = 0;
  if (std::sscanf(argv[2], "%d-%d", &first, &last) != 2) return 2;
  zmq::context_t ctx(1);
  int open = 0, accepted = 0, n = 0;
  for (const std::string& addr : addrs)
    for (int port = first; port <= last; ++port) {
      if (!port_open(addr, port)) continue;
      ++open;
      const std::string endpoint = "tcp://" + addr + ":" + std::to_string(port);
      zmq::socket_t plain(ctx, zmq::socket_type::dealer);
      if (handshake_accepted(ctx, plain, endpoint, n++)) {
        ++accepted;
        std::printf("accepted without a mechanism: %s\n", endpoint.c_str());
      }
      char pub[41], sec[41];
      zmq_curve_keypair(pub, sec);
      zmq::socket_t curve(ctx, zmq::socket_type::push);
      curve.set(zmq::sockopt::curve_serverkey, std::string(pub));  // a guess: not the job's key
      curve.set(zmq::sockopt::curve_publickey, std::string(pub));
      curve.set(zmq::sockopt::curve_secretkey, std::string(sec));
      if (handshake_accepted(ctx, curve, endpoint, n++)) {
        ++accepted;
        std::printf("accepted with a foreign CURVE key: %s\n", endpoint.c_str());
      }
    }
  std::printf("open ports: %d\nhandshakes accepted: %d\n", open, accepted);
  return 0;
}
