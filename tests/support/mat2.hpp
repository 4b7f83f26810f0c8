#pragma once
// 2x2 matrices with wrapping arithmetic: associative, not commutative, trivially copyable. The
// tests of reductions use them to check that values are combined in rank order.
#include <cstddef>
#include <cstdint>

struct mat2 {
  std::uint32_t a, b, c, d;
  friend mat2 operator*(const mat2& x, const mat2& y) {
    return {x.a * y.a + x.b * y.c, x.a * y.b + x.b * y.d, x.c * y.a + x.d * y.c, x.c * y.b + x.d * y.d};
  }
  bool operator==(const mat2&) const = default;
};

/// A different matrix for every rank and index.
inline mat2 mat_of(int r, std::size_t i) {
  const auto u = static_cast<std::uint32_t>(r) * 7u + static_cast<std::uint32_t>(i) * 13u + 1u;
  return {u, u + 1, 2 * u + 3, u ^ 5u};
}

inline const auto mat_mul = [](const mat2& x, const mat2& y) { return x * y; };
