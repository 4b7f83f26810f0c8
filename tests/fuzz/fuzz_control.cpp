// Control messages (parrun/wire.hpp): the kind byte and every body type the launcher and the
// ranks decode. Input: one encoded control message. Every body type is tried on every input,
// as a peer may send any kind with any body. cereal::Exception (a body that does not decode,
// or bytes left over) and std::runtime_error (an empty message) are the answers to bad bytes;
// a body that decodes must encode back to exactly the message it came from (no body type has
// two encodings of one value).
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include <cereal/details/helpers.hpp>

#include <parrun/wire.hpp>

#include "fuzz_support.hpp"

namespace {

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
    parrun::fuzz::bug("control", "a decoded control message does not encode back to its bytes");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string message(reinterpret_cast<const char*>(data), size);
  try {
    (void)wire::kind_of(message);
  } catch (const std::runtime_error&) {
    if (!message.empty()) parrun::fuzz::bug("control", "kind_of refused a non-empty message");
  }
  try_body<wire::hello>(message);
  try_body<wire::table>(message);
  try_body<wire::failing>(message);
  try_body<wire::state>(message);
  try_body<wire::peer_lost>(message);
  try_body<wire::finalize>(message);
  try_body<wire::peers_finished>(message);
  try_body<wire::refused>(message);
  try_body<wire::empty>(message);
  return 0;
}
