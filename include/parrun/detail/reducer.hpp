#pragma once
// Reduction operators, type-erased so that the collective algorithms (compiled once, in the
// runtime) can combine encoded values without knowing their type. Raw values and vectors of
// raw elements are combined in place, element by element, with no decoding; everything else is
// decoded, combined and encoded again.
//
// Which operation applies: op(T, T) when it is valid; otherwise, when T is a contiguous range
// (std::vector, std::array) whose elements op accepts, element by element (MPI's count > 1).
#include <array>
#include <concepts>
#include <cstddef>
#include <cstring>
#include <ranges>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <parrun/detail/bytes.hpp>
#include <parrun/detail/codec.hpp>
#include <parrun/errors.hpp>

namespace parrun::detail {

template <class Op, class T>
concept whole_value_op = requires(Op op, const T& a, const T& b) {
  { op(a, b) } -> std::convertible_to<T>;
};

template <class T>
struct is_elementwise_container : std::false_type {};
template <class E, class A>
struct is_elementwise_container<std::vector<E, A>> : std::bool_constant<!std::is_same_v<E, bool>> {};
template <class E, std::size_t N>
struct is_elementwise_container<std::array<E, N>> : std::true_type {};

template <class Op, class T>
concept elementwise_op = !whole_value_op<Op, T> && is_elementwise_container<T>::value &&
                         whole_value_op<Op, typename T::value_type>;

template <class Op, class T>
concept reduction_op = whole_value_op<Op, T> || elementwise_op<Op, T>;

class reducer {
 public:
  /// > 0: encoded values are arrays of raw elements of this size, combinable in place.
  virtual std::size_t element_size() const noexcept = 0;
  /// Combines `count` raw elements in place: inout[i] = op(inout[i], other[i]) when
  /// `inout_is_left`, else op(other[i], inout[i]).
  virtual void combine_raw(std::byte* inout, const std::byte* other, std::size_t count,
                           bool inout_is_left) const = 0;
  /// op(left, right) on encoded values, encoded.
  virtual owned_bytes combine(const std::byte* left, std::size_t left_size, const std::byte* right,
                              std::size_t right_size) const = 0;

 protected:
  ~reducer() = default;
};

/// Applies op to raw elements read and written with memcpy (message bytes need not be aligned).
template <class E, class Op>
void combine_elements(const Op& op, std::byte* inout, const std::byte* other, std::size_t count,
                      bool inout_is_left) {
  for (std::size_t i = 0; i < count; ++i) {
    E a, b;
    std::memcpy(static_cast<void*>(&a), inout + i * sizeof(E), sizeof(E));
    std::memcpy(static_cast<void*>(&b), other + i * sizeof(E), sizeof(E));
    E r = inout_is_left ? static_cast<E>(op(a, b)) : static_cast<E>(op(b, a));
    std::memcpy(inout + i * sizeof(E), static_cast<const void*>(&r), sizeof(E));
  }
}

template <class T, class Op>
class typed_reducer final : public reducer {
 public:
  explicit typed_reducer(const Op& op) : op_(op) {}

  std::size_t element_size() const noexcept override {
    if constexpr (whole_value_op<Op, T>) return is_raw_value_v<T> ? sizeof(T) : 0;
    else return is_raw_value_v<typename T::value_type> && (is_raw_value_v<T> || is_raw_vector_v<T>)
                    ? sizeof(typename T::value_type) : 0;
  }

  void combine_raw(std::byte* inout, const std::byte* other, std::size_t count,
                   bool inout_is_left) const override {
    if constexpr (whole_value_op<Op, T>) {
      if constexpr (is_raw_value_v<T>) combine_elements<T>(op_, inout, other, count, inout_is_left);
    } else if constexpr (is_raw_value_v<typename T::value_type>) {
      combine_elements<typename T::value_type>(op_, inout, other, count, inout_is_left);
    }
  }

  owned_bytes combine(const std::byte* left, std::size_t left_size, const std::byte* right,
                      std::size_t right_size) const override {
    T a{}, b{};
    decode(left, left_size, a);
    decode(right, right_size, b);
    if constexpr (whole_value_op<Op, T>) {
      return encode(static_cast<T>(op_(a, b)));
    } else {
      if (std::size(a) != std::size(b))
        throw usage_error("element-wise reduction of containers of different lengths (" +
                          std::to_string(std::size(a)) + " and " + std::to_string(std::size(b)) +
                          " elements): every rank must contribute the same length");
      auto ib = std::begin(b);
      for (auto ia = std::begin(a); ia != std::end(a); ++ia, ++ib) *ia = op_(*ia, *ib);
      return encode(a);
    }
  }

 private:
  Op op_;
};

/// Element-wise op over buffers of raw E (the buffer forms of reduce and allreduce): always in
/// place, never decoded.
template <class E, class Op>
class elementwise_reducer final : public reducer {
  static_assert(is_raw_value_v<E>, "reductions over buffers need trivially copyable elements");
  static_assert(whole_value_op<Op, E>, "the reduction op must accept two elements: op(E, E) -> E");

 public:
  explicit elementwise_reducer(const Op& op) : op_(op) {}
  std::size_t element_size() const noexcept override { return sizeof(E); }
  void combine_raw(std::byte* inout, const std::byte* other, std::size_t count, bool inout_is_left) const override {
    combine_elements<E>(op_, inout, other, count, inout_is_left);
  }
  owned_bytes combine(const std::byte* left, std::size_t left_size, const std::byte* right,
                      std::size_t right_size) const override {
    if (left_size != right_size)
      throw usage_error("element-wise reduction of buffers of different lengths (" +
                        std::to_string(left_size / sizeof(E)) + " and " + std::to_string(right_size / sizeof(E)) +
                        " elements): every rank must contribute the same length");
    owned_bytes out = owned_bytes::copy_of(left, left_size);
    combine_raw(out.data(), right, left_size / sizeof(E), true);
    return out;
  }

 private:
  Op op_;
};

}  // namespace parrun::detail
