#include "agent_protocol.hpp"

#include <stdexcept>

namespace parrun::launcher::agent_wire {

std::string bootstrap_line(const bootstrap& b) {
  const std::string bytes = wire::encode(wire::kind::hello, b);  // the kind byte is unused here
  static const char digits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    hex.push_back(digits[c >> 4]);
    hex.push_back(digits[c & 15]);
  }
  return hex;
}

bootstrap parse_bootstrap_line(const std::string& line) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (line.empty() || line.size() % 2 != 0 || line.size() > 64 * 1024)
    throw std::runtime_error("the agent's bootstrap is missing or malformed (parrun --agent is started by parrun itself)");
  std::string bytes;
  for (std::size_t i = 0; i < line.size(); i += 2) {
    const int hi = nibble(line[i]), lo = nibble(line[i + 1]);
    if (hi < 0 || lo < 0) throw std::runtime_error("the agent's bootstrap is not hex");
    bytes.push_back(static_cast<char>(hi * 16 + lo));
  }
  // The one encoding of a bootstrap: the hello kind byte, then the body.
  if (bytes[0] != static_cast<char>(wire::kind::hello)) throw std::runtime_error("the agent's bootstrap is malformed");
  bootstrap b;
  try {
    b = wire::decode<bootstrap>(bytes);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("the agent's bootstrap is malformed: ") + e.what());
  }
  if (b.version != version)
    throw std::runtime_error("agent protocol " + std::to_string(b.version) + " does not match this parrun's " +
                             std::to_string(version) + " (mixed parrun installations?)");
  return b;
}

}  // namespace parrun::launcher::agent_wire
