#pragma once
// One check the control and agent targets share: a message decoded as `Body` must encode back to
// exactly its bytes (no body type has two encodings of one value); cereal::Exception is the
// answer to bytes that are not such a body.
#include <string>

#include <cereal/details/helpers.hpp>

#include <parrun/wire.hpp>

#include "fuzz_support.hpp"

namespace parrun::fuzz {

template <class Body>
void wire_round_trip(const char* target, const std::string& message) {
  Body body;
  try {
    body = wire::decode<Body>(message);
  } catch (const cereal::Exception&) {
    return;
  }
  if (wire::encode(wire::kind_of(message), body) != message)
    bug(target, "a decoded message does not encode back to its bytes");
}

}  // namespace parrun::fuzz
