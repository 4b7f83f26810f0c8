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

#include <parrun/wire.hpp>

#include "fuzz_support.hpp"
#include "wire_round_trip.hpp"

namespace {

namespace wire = parrun::wire;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string message(reinterpret_cast<const char*>(data), size);
  try {
    (void)wire::kind_of(message);
  } catch (const std::runtime_error&) {
    if (!message.empty()) parrun::fuzz::bug("control", "kind_of refused a non-empty message");
  }
  parrun::fuzz::wire_round_trip<wire::hello>("control", message);
  parrun::fuzz::wire_round_trip<wire::table>("control", message);
  parrun::fuzz::wire_round_trip<wire::failing>("control", message);
  parrun::fuzz::wire_round_trip<wire::state>("control", message);
  parrun::fuzz::wire_round_trip<wire::peer_lost>("control", message);
  parrun::fuzz::wire_round_trip<wire::finalize>("control", message);
  parrun::fuzz::wire_round_trip<wire::peers_finished>("control", message);
  parrun::fuzz::wire_round_trip<wire::refused>("control", message);
  parrun::fuzz::wire_round_trip<wire::empty>("control", message);
  return 0;
}
