#pragma once
// Warnings about frames and connections that are refused are reported one by one only at first,
// then counted: a flood of bad input must not become a flood of stderr lines.
namespace parrun::detail {

inline constexpr unsigned long warn_first = 5;

/// For the n-th occurrence (from 1): the text that ends its warning, or nullptr when it is no
/// longer reported.
inline const char* warning_tail(unsigned long n) noexcept {
  if (n > warn_first) return nullptr;
  return n == warn_first ? "; further ones are not reported" : "";
}

}  // namespace parrun::detail
