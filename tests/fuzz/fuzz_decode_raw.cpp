// Typed decode, raw encodings (codec.hpp: trivially copyable values and vectors/strings of
// them, copied as bytes). Input: one byte choosing the type (fuzz_types.hpp, raw_types), then
// the message's bytes. truncation_error is the answer to bytes of the wrong length; a value
// that decodes must encode back to exactly the bytes it came from.
#include <cstddef>
#include <cstdint>

#include "fuzz_types.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  parrun::fuzz::reader in(data, size);
  const std::size_t type = in.byte() % parrun::fuzz::raw_types::size;
  const auto message = in.rest();
  parrun::fuzz::check_decode_at(parrun::fuzz::raw_types{}, type, "decode_raw", message.data(),
                                message.size());
  return 0;
}
