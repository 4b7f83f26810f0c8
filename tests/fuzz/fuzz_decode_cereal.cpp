// Typed decode through the bounded Cereal archive (codec.hpp, bounded_archive.hpp): standard
// containers, tuples, optionals, variants, smart pointers and user structs. Input: one byte
// choosing the type (fuzz_types.hpp, archive_types), then the message's bytes.
// truncation_error is the answer to bytes that do not form the type; nothing may be allocated
// on trust (the runner sets -malloc_limit_mb), and a value that decodes must encode and decode
// again.
#include <cstddef>
#include <cstdint>

#include "fuzz_types.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  parrun::fuzz::reader in(data, size);
  const std::size_t type = in.byte() % parrun::fuzz::archive_types::size;
  const auto message = in.rest();
  parrun::fuzz::check_decode_at(parrun::fuzz::archive_types{}, type, "decode_cereal",
                                message.data(), message.size());
  return 0;
}
