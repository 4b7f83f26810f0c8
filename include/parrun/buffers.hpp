#pragma once
// Buffers for numeric codes: arrays of trivially copyable elements sent from and received into
// the caller's own memory, contiguous (std::span, pointer + count) or strided (a vector_layout,
// MPI's Type_vector: a matrix column, every other element). On the wire a buffer of E is exactly
// a std::vector<E> of its elements, so the forms mix freely: a column sent strided may be
// received as a std::vector<double> or into a contiguous span, and the other way round.
#include <cstddef>
#include <cstring>
#include <ranges>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <parrun/detail/codec.hpp>
#include <parrun/detail/type_id.hpp>
#include <parrun/errors.hpp>

namespace parrun {

/// `count` blocks of `block` consecutive elements, each block starting `stride` elements after
/// the previous one (MPI_Type_vector, MPL's vector_layout). A column of a row-major
/// rows x cols matrix is {.count = rows, .block = 1, .stride = cols}.
struct vector_layout {
  std::size_t count = 0;
  std::size_t block = 1;
  std::size_t stride = 1;

  /// The number of elements it selects.
  constexpr std::size_t size() const noexcept { return count * block; }
  /// How many elements it spans from its first to its last (inclusive).
  constexpr std::size_t extent() const noexcept { return count == 0 ? 0 : (count - 1) * stride + block; }
  /// Whether the elements it selects are consecutive.
  constexpr bool contiguous() const noexcept { return count <= 1 || stride == block; }
  friend constexpr bool operator==(const vector_layout&, const vector_layout&) = default;
};

/// Elements of memory the caller owns, picked out by a vector_layout. Sendable (`const T`) and
/// receivable (`T`); make one with parrun::strided().
template <class T>
class strided_span {
  static_assert(detail::is_raw_value_v<std::remove_const_t<T>>,
                "parrun::strided_span needs trivially copyable elements");

 public:
  using element_type = T;
  using value_type = std::remove_const_t<T>;

  strided_span(T* base, vector_layout layout) : base_(base), layout_(layout) { check(); }
  /// From a const-compatible strided span (a writable one is also a readable one).
  template <class U>
    requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>)
  strided_span(const strided_span<U>& other) noexcept : base_(other.base()), layout_(other.layout()) {}

  T* base() const noexcept { return base_; }
  const vector_layout& layout() const noexcept { return layout_; }
  std::size_t size() const noexcept { return layout_.size(); }
  /// Element `i` in layout order (block by block).
  T& operator[](std::size_t i) const noexcept {
    return base_[(i / layout_.block) * layout_.stride + i % layout_.block];
  }

 private:
  void check() const {
    if (layout_.count > 1 && layout_.stride < layout_.block)
      throw usage_error("vector_layout{count=" + std::to_string(layout_.count) + ", block=" +
                        std::to_string(layout_.block) + ", stride=" + std::to_string(layout_.stride) +
                        "}: the stride is smaller than the block, so blocks overlap");
    if (base_ == nullptr && layout_.size() != 0)
      throw usage_error("parrun::strided: a null base pointer for " + std::to_string(layout_.size()) + " elements");
  }
  T* base_;
  vector_layout layout_;
};

/// The elements of `layout` starting at `base`; the caller keeps them alive while in use.
template <class T>
strided_span<T> strided(T* base, vector_layout layout) {
  return strided_span<T>(base, layout);
}
/// As above, checked against `data`: the layout, from element `offset`, must lie inside it
/// (usage_error otherwise).
template <class T, std::size_t N>
strided_span<T> strided(std::span<T, N> data, vector_layout layout, std::size_t offset = 0) {
  if (offset > data.size() || layout.extent() > data.size() - offset)
    throw usage_error("parrun::strided: the layout spans " + std::to_string(layout.extent()) +
                      " elements from offset " + std::to_string(offset) + ", but the buffer has " +
                      std::to_string(data.size()));
  return strided_span<T>(data.data() + offset, layout);
}

namespace detail {

template <class T>
inline constexpr bool is_strided_v = false;
template <class T>
inline constexpr bool is_strided_v<strided_span<T>> = true;

template <class T>
inline constexpr bool is_span_v = is_span<std::remove_cvref_t<T>>::value;

/// A contiguous range of trivially copyable elements: a std::vector, std::array, std::span,
/// C array, std::string...
template <class R>
concept contiguous_buffer = std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
                            is_raw_value_v<std::ranges::range_value_t<R>> &&
                            !std::is_same_v<std::ranges::range_value_t<R>, bool>;
/// One whose elements can be written.
template <class R>
concept output_buffer =
    contiguous_buffer<R> && !std::is_const_v<std::remove_reference_t<std::ranges::range_reference_t<R>>>;

template <class R>
using buffer_element_t = std::ranges::range_value_t<R>;

/// A buffer as the runtime sees it: bytes at `base`, elements of `element_size` bytes, picked
/// out by `layout` (one block for a contiguous buffer), and the type its elements travel as.
struct raw_buffer {
  std::byte* base;
  std::size_t element_size;
  vector_layout layout;
  const type_id* element_type;  // E
  const type_id* vector_type;   // std::vector<E>, what the message is sent as
  std::size_t size() const noexcept { return layout.size(); }
  std::size_t bytes() const noexcept { return layout.size() * element_size; }
};

template <class E>
raw_buffer raw_of(const E* data, std::size_t count) {
  using V = std::remove_const_t<E>;
  return raw_buffer{reinterpret_cast<std::byte*>(const_cast<V*>(data)), sizeof(V),
                    vector_layout{1, count, count}, &type_of<V>(), &type_of<std::vector<V>>()};
}
template <class E>
raw_buffer raw_of(const strided_span<E>& s) {
  using V = std::remove_const_t<E>;
  return raw_buffer{reinterpret_cast<std::byte*>(const_cast<V*>(s.base())), sizeof(V), s.layout(),
                    &type_of<V>(), &type_of<std::vector<V>>()};
}
template <contiguous_buffer R>
raw_buffer raw_of(R&& r) {
  return raw_of(std::ranges::data(r), std::ranges::size(r));
}

/// b's elements packed into a new message buffer.
owned_bytes packed(const raw_buffer& b);
/// Copies `n` elements (n <= b.size()) of b, in layout order, to consecutive bytes at `out`.
void pack(const raw_buffer& b, std::byte* out, std::size_t n) noexcept;
/// Copies `n` elements from consecutive bytes at `in` into b's first n places.
void unpack(const raw_buffer& b, const std::byte* in, std::size_t n) noexcept;

}  // namespace detail
}  // namespace parrun
