#pragma once
// Building a contiguous container from the raw bytes of its elements in one pass: no zero-fill
// by resize() before the bytes overwrite it. Message bytes need not be aligned for the element
// type (they may sit at any offset of a transport buffer), so an unaligned range is read through
// an iterator that copies each element out with memcpy; an aligned one is copied whole.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>
#include <type_traits>
#include <vector>

namespace parrun::detail {

/// Reads elements of type E from possibly unaligned bytes.
template <class E>
class unaligned_reader {
 public:
  using iterator_category = std::random_access_iterator_tag;
  using value_type = E;
  using difference_type = std::ptrdiff_t;
  using pointer = const E*;
  using reference = E;  // a copy: the bytes are not an E in place

  unaligned_reader() = default;
  explicit unaligned_reader(const std::byte* at) noexcept : at_(at) {}

  E operator*() const noexcept {
    E e;
    std::memcpy(static_cast<void*>(&e), at_, sizeof(E));
    return e;
  }
  E operator[](difference_type i) const noexcept { return *(*this + i); }
  unaligned_reader& operator++() noexcept {
    at_ += sizeof(E);
    return *this;
  }
  unaligned_reader operator++(int) noexcept {
    unaligned_reader old = *this;
    ++*this;
    return old;
  }
  unaligned_reader& operator--() noexcept {
    at_ -= sizeof(E);
    return *this;
  }
  unaligned_reader operator--(int) noexcept {
    unaligned_reader old = *this;
    --*this;
    return old;
  }
  unaligned_reader& operator+=(difference_type n) noexcept {
    at_ += n * static_cast<difference_type>(sizeof(E));
    return *this;
  }
  unaligned_reader& operator-=(difference_type n) noexcept { return *this += -n; }
  friend unaligned_reader operator+(unaligned_reader r, difference_type n) noexcept {
    return r += n;
  }
  friend unaligned_reader operator+(difference_type n, unaligned_reader r) noexcept {
    return r += n;
  }
  friend unaligned_reader operator-(unaligned_reader r, difference_type n) noexcept {
    return r -= n;
  }
  friend difference_type operator-(const unaligned_reader& a, const unaligned_reader& b) noexcept {
    return (a.at_ - b.at_) / static_cast<difference_type>(sizeof(E));
  }
  friend bool operator==(const unaligned_reader& a, const unaligned_reader& b) noexcept {
    return a.at_ == b.at_;
  }
  friend auto operator<=>(const unaligned_reader& a, const unaligned_reader& b) noexcept {
    return a.at_ <=> b.at_;
  }

 private:
  const std::byte* at_ = nullptr;
};

/// Whether `data` is aligned for E.
template <class E>
bool aligned_for(const std::byte* data) noexcept {
  return alignof(E) == 1 || reinterpret_cast<std::uintptr_t>(data) % alignof(E) == 0;
}

/// Replaces the contents of `out` with the `count` elements whose raw bytes start at `data`:
/// at most one allocation (none when `out` already has the capacity), one copy, no zero-fill.
template <class E, class A>
void assign_raw(std::vector<E, A>& out, const std::byte* data, std::size_t count) {
  static_assert(std::is_trivially_copyable_v<E>);
  if (count == 0) {
    out.clear();
  } else if constexpr (!std::is_copy_constructible_v<E> || !std::is_copy_assignable_v<E>) {
    // assign() needs both (a struct with a const member has no assignment): fill, then copy.
    out.resize(count);
    std::memcpy(static_cast<void*>(out.data()), data, count * sizeof(E));
  } else if (aligned_for<E>(data)) {
    const E* first = reinterpret_cast<const E*>(data);
    out.assign(first, first + count);
  } else {
    out.assign(unaligned_reader<E>(data), unaligned_reader<E>(data + count * sizeof(E)));
  }
}

template <class C, class Tr, class A>
void assign_raw(std::basic_string<C, Tr, A>& out, const std::byte* data, std::size_t count) {
  static_assert(std::is_trivially_copyable_v<C>);
  if (count == 0) {
    out.clear();
  } else if (aligned_for<C>(data)) {
    out.assign(reinterpret_cast<const C*>(data), count);
  } else {
    // basic_string builds a temporary from a non-pointer range, so for the rare unaligned wide
    // string the zero-fill is the cheaper way.
    out.resize(count);
    std::memcpy(static_cast<void*>(out.data()), data, count * sizeof(C));
  }
}

}  // namespace parrun::detail
