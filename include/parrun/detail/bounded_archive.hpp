#pragma once
// A Cereal input archive that reads Cereal's binary format from a fixed byte range and never
// trusts a count it reads. Cereal's own BinaryInputArchive resizes a container to whatever
// length prefix arrives before reading a single element, so eight bytes claiming 2^26 strings
// allocate gigabytes before the decode fails. Here every count (container sizes, string
// lengths: Cereal's SizeTag) is checked against the bytes actually left: an element takes at
// least one byte, so a count beyond what is left is impossible, except for a small allowance of
// elements that encode to nothing (empty structs), shared by the whole decode so that nesting
// cannot multiply it. Byte-for-byte the format is cereal::BinaryOutputArchive's, so what it
// wrote, this reads.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include <cereal/archives/binary.hpp>
#include <cereal/cereal.hpp>

#include <parrun/detail/raw_range.hpp>

namespace parrun::detail {

class bounded_input_archive
    : public cereal::InputArchive<bounded_input_archive, cereal::AllowEmptyClassElision> {
 public:
  /// Elements, over the whole decode, that may take no bytes of their own.
  /// (Counted in elements, and Cereal sizes a container before reading any: so it is small, at
  /// most this many default-constructed elements are ever made on trust.)
  static constexpr std::uint64_t empty_element_allowance = 1024;

  bounded_input_archive(const std::byte* data, std::size_t size)
      : cereal::InputArchive<bounded_input_archive, cereal::AllowEmptyClassElision>(this),
        at_(data),
        end_(data + size),
        size_(size) {}

  /// Copies the next `n` bytes out; throws cereal::Exception when fewer are left.
  void loadBinary(void* out, std::streamsize n) {
    const auto want = static_cast<std::size_t>(n);
    const std::byte* from = take_bytes(want);
    if (want != 0) std::memcpy(out, from, want);
  }

  /// The next `n` bytes, in place; throws cereal::Exception when fewer are left.
  const std::byte* take_bytes(std::size_t n) {
    if (n > remaining())
      throw cereal::Exception("failed to read " + std::to_string(n) + " bytes at offset " +
                              std::to_string(size_ - remaining()) + ": only " +
                              std::to_string(remaining()) + " are left");
    const std::byte* at = at_;
    at_ += n;
    return at;
  }

  /// Bytes not read yet.
  std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - at_); }

  /// Throws cereal::Exception unless `count` elements can follow in the bytes left.
  void check_count(std::uint64_t count) {
    const std::uint64_t left = remaining();
    if (count <= left) return;
    const std::uint64_t beyond = count - left;
    if (beyond <= allowance_) {
      allowance_ -= beyond;
      return;
    }
    throw cereal::Exception("a length of " + std::to_string(count) + " elements at offset " +
                            std::to_string(size_ - remaining()) + " is impossible: only " +
                            std::to_string(left) + " bytes are left");
  }

 private:
  const std::byte* at_;
  const std::byte* end_;
  std::size_t size_;
  std::uint64_t allowance_ = empty_element_allowance;
};

}  // namespace parrun::detail

namespace cereal {

template <class T>
inline std::enable_if_t<std::is_arithmetic_v<T> && !std::is_same_v<T, bool>> CEREAL_LOAD_FUNCTION_NAME(
    parrun::detail::bounded_input_archive& ar, T& t) {
  ar.loadBinary(std::addressof(t), sizeof(t));
}

// A bool is one byte, 0 or 1: any other byte would be undefined behaviour as a bool.
inline void CEREAL_LOAD_FUNCTION_NAME(parrun::detail::bounded_input_archive& ar, bool& t) {
  unsigned char byte = 0;
  ar.loadBinary(&byte, 1);
  if (byte > 1) throw Exception("a bool's byte is " + std::to_string(byte) + ", not 0 or 1");
  t = byte == 1;
}

template <class T>
inline void CEREAL_LOAD_FUNCTION_NAME(parrun::detail::bounded_input_archive& ar, NameValuePair<T>& t) {
  ar(t.value);
}

// Every container and string length Cereal reads arrives through here.
template <class T>
inline void CEREAL_LOAD_FUNCTION_NAME(parrun::detail::bounded_input_archive& ar, SizeTag<T>& t) {
  ar(t.size);
  ar.check_count(static_cast<std::uint64_t>(t.size));
}

template <class T>
inline void CEREAL_LOAD_FUNCTION_NAME(parrun::detail::bounded_input_archive& ar, BinaryData<T>& bd) {
  ar.loadBinary(bd.data, static_cast<std::streamsize>(bd.size));
}

// Strings and vectors of arithmetic elements, in Cereal's binary format (a size tag, then the
// elements' bytes), built from the bytes in one pass. Cereal's own load resizes first, which
// zero-fills what the copy then overwrites. More specialized than Cereal's templates (the
// archive type is fixed), so overload resolution picks these.
template <class C, class Tr, class A>
inline void CEREAL_LOAD_FUNCTION_NAME(parrun::detail::bounded_input_archive& ar,
                                      std::basic_string<C, Tr, A>& str) {
  typename std::basic_string<C, Tr, A>::size_type size = 0;
  ar(make_size_tag(size));
  const auto count =
      static_cast<std::size_t>(size);  // checked: at most what is left, plus a little
  parrun::detail::assign_raw(str, ar.take_bytes(count * sizeof(C)), count);
}

template <class T, class A>
requires(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) inline void CEREAL_LOAD_FUNCTION_NAME(
    parrun::detail::bounded_input_archive& ar, std::vector<T, A>& vec) {
  typename std::vector<T, A>::size_type size = 0;
  ar(make_size_tag(size));
  const auto count = static_cast<std::size_t>(size);
  parrun::detail::assign_raw(vec, ar.take_bytes(count * sizeof(T)), count);
}

namespace traits::detail {
// Types saved with save_minimal (enums among them) load through the matching output archive's
// traits; BinaryOutputArchive keeps reading back as BinaryInputArchive.
template <>
struct get_output_from_input<parrun::detail::bounded_input_archive> {
  using type = BinaryOutputArchive;
};
}  // namespace traits::detail

}  // namespace cereal

CEREAL_REGISTER_ARCHIVE(parrun::detail::bounded_input_archive)
