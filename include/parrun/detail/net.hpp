#pragma once
// Where a job's TCP sockets listen, part of the wire contract between the launcher and the
// ranks (PARRUN_IFACE, PARRUN_PORTS): both sides pick addresses and ports by these rules, so
// they live here, once. A socket binds one address, never all interfaces: the one --iface names
// (an interface name or a CIDR block), or else the address this host uses to reach the peer
// that matters (a rank: its launcher; the launcher: its first remote host). IPv4 only.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace parrun::detail::net {

/// A listening-port range, inclusive.
struct port_range {
  int first = 0;
  int last = 0;
};

/// "A-B" (or a single port "A") -> the range; throws std::invalid_argument naming the text.
inline port_range parse_port_range(const std::string& text) {
  auto number = [&](const std::string& part) {
    if (part.empty() || part.size() > 5 || part.find_first_not_of("0123456789") != std::string::npos)
      throw std::invalid_argument("'" + text + "' is not a port range A-B (ports 1-65535)");
    const int v = std::stoi(part);
    if (v < 1 || v > 65535) throw std::invalid_argument("'" + text + "': port " + part + " is not in 1-65535");
    return v;
  };
  const std::size_t dash = text.find('-');
  port_range r;
  r.first = number(text.substr(0, dash));
  r.last = dash == std::string::npos ? r.first : number(text.substr(dash + 1));
  if (r.last < r.first) throw std::invalid_argument("'" + text + "': the range ends before it starts");
  return r;
}

/// The host part of "tcp://HOST:PORT".
inline std::string endpoint_host(const std::string& endpoint) {
  std::string rest = endpoint.rfind("tcp://", 0) == 0 ? endpoint.substr(6) : endpoint;
  const std::size_t colon = rest.rfind(':');
  return colon == std::string::npos ? rest : rest.substr(0, colon);
}

/// The IPv4 address (dotted) of `host` (a name or an address); nothing when it does not resolve.
inline std::optional<std::string> resolve_ipv4(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) return std::nullopt;
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr, text, sizeof text);
  freeaddrinfo(found);
  return std::string(text);
}

/// The local address the kernel would send from to reach `host` (a UDP "connection" sends
/// nothing; it only asks the routing table). Throws std::runtime_error naming the host.
inline std::string source_address_towards(const std::string& host) {
  const std::optional<std::string> ip = resolve_ipv4(host);
  if (!ip) throw std::runtime_error("cannot resolve host '" + host + "' to an IPv4 address");
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9);
  inet_pton(AF_INET, ip->c_str(), &to.sin_addr);
  sockaddr_in from{};
  socklen_t len = sizeof from;
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&from), &len) == 0;
  const int err = errno;
  close(fd);
  if (!ok) throw std::runtime_error("no route from this host to " + host + " (" + *ip + "): " + std::strerror(err));
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &from.sin_addr, text, sizeof text);
  return text;
}

/// Whether `address` (dotted IPv4) lies in `cidr` ("10.77.0.0/24"); false for a malformed block.
inline bool in_cidr(const std::string& address, const std::string& cidr) {
  const std::size_t slash = cidr.find('/');
  if (slash == std::string::npos) return false;
  in_addr net{}, a{};
  const std::string bits_text = cidr.substr(slash + 1);
  if (inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &net) != 1 || inet_pton(AF_INET, address.c_str(), &a) != 1 ||
      bits_text.empty() || bits_text.size() > 2 || bits_text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  const int bits = std::stoi(bits_text);
  if (bits > 32) return false;
  const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
  return (ntohl(net.s_addr) & mask) == (ntohl(a.s_addr) & mask);
}

/// The IPv4 address of the interface `spec` names (e.g. "eth0") or of the first interface whose
/// address is in the CIDR block `spec` ("10.77.0.0/24"). Throws std::runtime_error naming the
/// spec and the interfaces there are.
inline std::string interface_address(const std::string& spec) {
  ifaddrs* all = nullptr;
  if (getifaddrs(&all) != 0) throw std::runtime_error(std::string("getifaddrs: ") + std::strerror(errno));
  std::optional<std::string> found;
  std::string seen;
  for (ifaddrs* i = all; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, text, sizeof text);
    seen += std::string(seen.empty() ? "" : ", ") + i->ifa_name + " " + text;
    if (!found && (spec == i->ifa_name || in_cidr(text, spec))) found = text;
  }
  freeifaddrs(all);
  if (!found)
    throw std::runtime_error("--iface " + spec + ": no interface of this host has that name or an address in it (" +
                             (seen.empty() ? std::string("none has an IPv4 address") : "there are: " + seen) + ")");
  return *found;
}

/// Whether `host` resolves to an address of one of this machine's interfaces.
inline bool is_local_address(const std::string& host) {
  const std::optional<std::string> ip = resolve_ipv4(host);
  if (!ip) return false;
  if (ip->rfind("127.", 0) == 0) return true;
  ifaddrs* all = nullptr;
  if (getifaddrs(&all) != 0) return false;
  bool found = false;
  for (ifaddrs* i = all; i != nullptr && !found; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, text, sizeof text);
    found = *ip == text;
  }
  freeifaddrs(all);
  return found;
}

/// The address to listen on: --iface's when given, else the one that reaches `peer_host`.
inline std::string listen_address(const std::string& iface, const std::string& peer_host) {
  return iface.empty() ? source_address_towards(peer_host) : interface_address(iface);
}

/// Binds to tcp://ADDRESS:PORT, the port from `ports` ("" or "A-B"), the first free one, through
/// `try_bind(endpoint)`: the socket library's bind, returning the endpoint it bound (the port
/// filled in for "*") or nothing when that port is taken, throwing on any other error. (The
/// caller owns the socket: ZeroMQ stays out of the public headers.) Returns the bound endpoint;
/// throws std::runtime_error when every port of the range is taken.
template <class TryBind>
std::string bind_tcp(const std::string& address, const std::string& ports, TryBind&& try_bind) {
  if (ports.empty()) {
    if (std::optional<std::string> bound = try_bind("tcp://" + address + ":*")) return *bound;
    throw std::runtime_error("no free port on " + address);
  }
  const port_range range = parse_port_range(ports);
  for (int port = range.first; port <= range.last; ++port)
    if (std::optional<std::string> bound = try_bind("tcp://" + address + ":" + std::to_string(port))) return *bound;
  throw std::runtime_error("--ports " + ports + ": every port in the range is taken on " + address);
}

}  // namespace parrun::detail::net
