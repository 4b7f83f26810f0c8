#pragma once
// Encoding values into message bytes and back. Trivially copyable values and contiguous ranges of
// them (std::vector, std::basic_string, std::array of such elements) travel as their raw bytes;
// every other type goes through Cereal's binary format, written straight into the message
// buffer (output_archive.hpp: no stream, no intermediate string), sized first so that the
// buffer is allocated once. Decoding builds containers from the bytes in one pass
// (raw_range.hpp), with no zero-fill before the copy.
#include <array>
#include <cstddef>
#include <cstring>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <cereal/archives/binary.hpp>
#include <cereal/types/array.hpp>
#include <cereal/types/deque.hpp>
#include <cereal/types/list.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/memory.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/set.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/unordered_set.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/variant.hpp>
#include <cereal/types/vector.hpp>

#include <parrun/detail/bounded_archive.hpp>
#include <parrun/detail/bytes.hpp>
#include <parrun/detail/output_archive.hpp>
#include <parrun/detail/raw_range.hpp>
#include <parrun/errors.hpp>

namespace parrun::detail {

/// A value whose object bytes are its whole meaning.
template <class T>
inline constexpr bool is_raw_value_v =
    std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> && !std::is_member_pointer_v<T>;

/// A resizable contiguous container of raw values: its elements travel as raw bytes.
template <class T>
struct is_raw_vector : std::false_type {};
template <class E, class A>
struct is_raw_vector<std::vector<E, A>>
    : std::bool_constant<is_raw_value_v<E> && !std::is_same_v<E, bool>> {};
template <class C, class Tr, class A>
struct is_raw_vector<std::basic_string<C, Tr, A>> : std::bool_constant<is_raw_value_v<C>> {};
template <class T>
inline constexpr bool is_raw_vector_v = is_raw_vector<T>::value;

template <class T>
struct is_span : std::false_type {};
template <class E, std::size_t N>
struct is_span<std::span<E, N>> : std::true_type {};

/// How a type travels.
enum class encoding { raw_value, raw_vector, archive };
template <class T>
constexpr encoding encoding_of() {
  if constexpr (is_raw_value_v<T>) return encoding::raw_value;
  else if constexpr (is_raw_vector_v<T>) return encoding::raw_vector;
  else return encoding::archive;
}

/// Makes room for `n` more bytes: exactly, for a new buffer; by doubling when appending to one
/// (so that many appends stay amortized O(1)).
inline void reserve_for(owned_bytes& out, std::size_t n) {
  if (out.size() == 0)
    out.reserve(n);
  else
    out.reserve_more(n);
}

/// Appends the encoding of `value` to `out`. A new buffer is allocated once, at the exact size:
/// an archive is sized by a first pass that writes nothing (output_archive.hpp). Growing by
/// doubling instead left a 16 MiB map in 32 MiB of capacity, after moving it once on the way.
template <class T>
void encode_into(owned_bytes& out, const T& value) {
  static_assert(!std::is_pointer_v<T>, "parrun cannot send a pointer: send the value it points to");
  static_assert(!is_span<T>::value, "parrun cannot send a std::span (its bytes point into this "
                                    "process): send a std::vector of the elements");
  if constexpr (encoding_of<T>() == encoding::raw_value) {
    reserve_for(out, sizeof(T));
    out.append(&value, sizeof(T));
  } else if constexpr (encoding_of<T>() == encoding::raw_vector) {
    const std::size_t n = value.size() * sizeof(typename T::value_type);
    reserve_for(out, n);
    out.append(value.data(), n);
  } else {
    reserve_for(out, archived_size(value));
    bytes_output_archive archive(out);
    archive(value);
  }
}

/// The encoding of `value` as a new message buffer.
template <class T>
owned_bytes encode(const T& value) {
  owned_bytes out;
  encode_into(out, value);
  return out;
}

/// Takes over an rvalue raw vector's storage instead of copying it.
template <class T>
owned_bytes encode_moved(T&& value) {
  using U = std::remove_cvref_t<T>;
  if constexpr (is_raw_vector_v<U> && !std::is_lvalue_reference_v<T>) {
    if (value.size() * sizeof(typename U::value_type) < 4096) return encode(value);
    auto* holder = new U(std::move(value));
    return owned_bytes(reinterpret_cast<std::byte*>(holder->data()),
                       holder->size() * sizeof(typename U::value_type),
                       [](void*, void* hint) { delete static_cast<U*>(hint); }, holder);
  } else {
    return encode(value);
  }
}

/// Decodes `size` bytes into `out`. Throws truncation_error when they do not
/// form a T.
template <class T>
void decode(const std::byte* data, std::size_t size, T& out) {
  if constexpr (encoding_of<T>() == encoding::raw_value) {
    if (size != sizeof(T))
      throw truncation_error("expected " + std::to_string(sizeof(T)) +
                             " bytes, the message has " + std::to_string(size));
    if constexpr (std::is_same_v<T, bool>) {
      if (std::to_integer<unsigned>(data[0]) > 1)
        throw truncation_error("a bool's byte is " + std::to_string(std::to_integer<unsigned>(data[0])) +
                               ", not 0 or 1");
    }
    std::memcpy(static_cast<void*>(&out), data, sizeof(T));
  } else if constexpr (encoding_of<T>() == encoding::raw_vector) {
    using E = typename T::value_type;
    if (size % sizeof(E) != 0)
      throw truncation_error(std::to_string(size) +
                             " bytes is not a whole number of " + std::to_string(sizeof(E)) +
                             "-byte elements");
    assign_raw(out, data, size / sizeof(E));
  } else {
    bounded_input_archive archive(data, size);
    try {
      archive(out);
    } catch (const cereal::Exception& e) {
      throw truncation_error("the message's " + std::to_string(size) +
                             " bytes do not decode: " + e.what());
    } catch (const std::length_error& e) {  // a length a user type's own load() trusted
      throw truncation_error("the message's " + std::to_string(size) +
                             " bytes do not decode: a length in them is impossible (" + e.what() + ")");
    } catch (const std::bad_alloc&) {
      throw truncation_error("the message's " + std::to_string(size) +
                             " bytes do not decode: a length in them asks for more memory than exists");
    }
    if (archive.remaining() != 0)
      throw truncation_error(std::to_string(archive.remaining()) + " of the message's " +
                             std::to_string(size) + " bytes were left over after decoding");
  }
}

}  // namespace parrun::detail
