// The launcher <-> agent protocol (launcher/agent_protocol.hpp): every body an agent or a
// launcher decodes from the network, and the bootstrap line an agent reads from its stdin or
// environment. Input: one encoded message (tried as every body type), and the same bytes as a
// bootstrap line. cereal::Exception and std::runtime_error are the answers to bad bytes; a body
// that decodes must encode back to exactly the message it came from.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "agent_protocol.hpp"
#include "fuzz_support.hpp"
#include "wire_round_trip.hpp"

namespace {

namespace aw = parrun::launcher::agent_wire;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string message(reinterpret_cast<const char*>(data), size);
  parrun::fuzz::wire_round_trip<aw::agent_hello>("agent", message);
  parrun::fuzz::wire_round_trip<aw::agent_start>("agent", message);
  parrun::fuzz::wire_round_trip<aw::agent_events>("agent", message);
  parrun::fuzz::wire_round_trip<aw::agent_signal>("agent", message);
  parrun::fuzz::wire_round_trip<aw::agent_stdin>("agent", message);
  try {
    const aw::bootstrap b = aw::parse_bootstrap_line(message);
    if (aw::bootstrap_line(b) != message) parrun::fuzz::bug("agent", "a bootstrap line does not encode back to itself");
  } catch (const std::runtime_error&) {
  }
  return 0;
}
