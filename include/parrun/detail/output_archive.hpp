#pragma once
// Cereal output archives for message buffers, byte-for-byte cereal::BinaryOutputArchive's format
// (so bounded_input_archive, and Cereal's own BinaryInputArchive, read what they write):
//
//   size_archive           writes nothing, counts the bytes: the sizing pass
//   bytes_output_archive   appends straight to an owned_bytes, with no std::ostream between
//
// An encode runs the first, allocates the buffer once at its exact size, then runs the second.
// BinaryOutputArchive writes every value through a virtual streambuf call, which costs more than
// Cereal's own traversal: sizing through it doubled the encode time of a vector of 10,000 pairs,
// while size_archive's pass inlines to additions (tools/bench/alloc_count.cpp measures the rest).
//
// Like bounded_input_archive, these need a type's serialize/save to be a template on the archive
// (Cereal's documented form), not written for cereal::BinaryOutputArchive alone.
#include <cstddef>
#include <ios>
#include <memory>
#include <type_traits>

#include <cereal/cereal.hpp>

#include <parrun/detail/bytes.hpp>

namespace parrun::detail {

/// Counts what cereal::BinaryOutputArchive would write.
class size_archive : public cereal::OutputArchive<size_archive, cereal::AllowEmptyClassElision> {
 public:
  size_archive() : cereal::OutputArchive<size_archive, cereal::AllowEmptyClassElision>(this) {}
  void saveBinary(const void*, std::streamsize n) noexcept { size_ += static_cast<std::size_t>(n); }
  /// Bytes counted so far.
  std::size_t size() const noexcept { return size_; }

 private:
  std::size_t size_ = 0;
};

/// Appends cereal::BinaryOutputArchive's bytes to an owned_bytes.
class bytes_output_archive
    : public cereal::OutputArchive<bytes_output_archive, cereal::AllowEmptyClassElision> {
 public:
  explicit bytes_output_archive(owned_bytes& out)
      : cereal::OutputArchive<bytes_output_archive, cereal::AllowEmptyClassElision>(this),
        out_(out) {}
  void saveBinary(const void* data, std::streamsize n) {
    out_.append(data, static_cast<std::size_t>(n));
  }

 private:
  owned_bytes& out_;
};

/// The number of bytes Cereal's binary archive writes for `value`.
template <class T>
std::size_t archived_size(const T& value) {
  size_archive sizer;
  sizer(value);
  return sizer.size();
}

}  // namespace parrun::detail

namespace cereal {

// The same four overloads cereal/archives/binary.hpp gives BinaryOutputArchive.
template <class T>
inline std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_SAVE_FUNCTION_NAME(
    parrun::detail::size_archive& ar, const T& t) {
  ar.saveBinary(std::addressof(t), sizeof(t));
}
template <class T>
inline void CEREAL_SAVE_FUNCTION_NAME(parrun::detail::size_archive& ar, const NameValuePair<T>& t) {
  ar(t.value);
}
template <class T>
inline void CEREAL_SAVE_FUNCTION_NAME(parrun::detail::size_archive& ar, const SizeTag<T>& t) {
  ar(t.size);
}
template <class T>
inline void CEREAL_SAVE_FUNCTION_NAME(parrun::detail::size_archive& ar, const BinaryData<T>& bd) {
  ar.saveBinary(bd.data, static_cast<std::streamsize>(bd.size));
}

template <class T>
inline std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_SAVE_FUNCTION_NAME(
    parrun::detail::bytes_output_archive& ar, const T& t) {
  ar.saveBinary(std::addressof(t), sizeof(t));
}
template <class T>
inline void CEREAL_SAVE_FUNCTION_NAME(parrun::detail::bytes_output_archive& ar,
                                      const NameValuePair<T>& t) {
  ar(t.value);
}
template <class T>
inline void CEREAL_SAVE_FUNCTION_NAME(parrun::detail::bytes_output_archive& ar,
                                      const SizeTag<T>& t) {
  ar(t.size);
}
template <class T>
inline void CEREAL_SAVE_FUNCTION_NAME(parrun::detail::bytes_output_archive& ar,
                                      const BinaryData<T>& bd) {
  ar.saveBinary(bd.data, static_cast<std::streamsize>(bd.size));
}

}  // namespace cereal

CEREAL_REGISTER_ARCHIVE(parrun::detail::size_archive)
CEREAL_REGISTER_ARCHIVE(parrun::detail::bytes_output_archive)
