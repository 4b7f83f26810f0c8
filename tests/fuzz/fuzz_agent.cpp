// The launcher <-> agent protocol (launcher/agent_protocol.hpp): every body an agent or a
// launcher decodes from the network, and the bootstrap line an agent reads from its stdin or
// environment. Input: one encoded message (tried as every body type), and the same bytes as a
// bootstrap line. cereal::Exception and std::runtime_error are the answers to bad bytes; a body
// that decodes must encode back to exactly the message it came from.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include <cereal/details/helpers.hpp>

#include "agent_protocol.hpp"
#include "fuzz_support.hpp"

namespace {

namespace aw = parrun::launcher::agent_wire;
namespace wire = parrun::wire;

template <class Body>
void try_body(const std::string& message) {
  Body body;
  try {
    body = wire::decode<Body>(message);
  } catch (const cereal::Exception&) {
    return;
  }
  if (wire::encode(wire::kind_of(message), body) != message)
    parrun::fuzz::bug("agent", "a decoded agent message does not encode back to its bytes");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string message(reinterpret_cast<const char*>(data), size);
  try_body<aw::agent_hello>(message);
  try_body<aw::agent_start>(message);
  try_body<aw::agent_events>(message);
  try_body<aw::agent_signal>(message);
  try_body<aw::agent_stdin>(message);
  try {
    const aw::bootstrap b = aw::parse_bootstrap_line(message);
    if (aw::bootstrap_line(b) != message) parrun::fuzz::bug("agent", "a bootstrap line does not encode back to itself");
  } catch (const std::runtime_error&) {
  }
  return 0;
}
