#pragma once
// What every fuzz target shares: a reader that cuts the fuzz input into fields (never failing:
// past the end it yields zeros and empty ranges, so every input is a valid program run), and
// the one way a target says "this is a bug" (an abort, which libFuzzer records as a crash and
// saves the input for).
//
// A target treats the exceptions the code under test documents as the normal answer to bad
// bytes, and anything else (another exception, a sanitizer report, an allocation beyond
// -malloc_limit_mb, a hang beyond -timeout) as a bug.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>

namespace parrun::fuzz {

/// Stops the run: libFuzzer reports the abort as a crash and keeps the input.
[[noreturn]] inline void bug(const char* target, const std::string& what) {
  std::fprintf(stderr, "parrun fuzz %s: BUG: %s\n", target, what.c_str());
  std::fflush(stderr);
  std::abort();
}

/// Reads fields from the front of the fuzz input.
class reader {
 public:
  reader(const std::uint8_t* data, std::size_t size) : at_(data), left_(size) {}

  std::size_t left() const noexcept { return left_; }
  bool empty() const noexcept { return left_ == 0; }

  /// The next byte (0 past the end).
  std::uint8_t byte() {
    if (left_ == 0) return 0;
    --left_;
    return *at_++;
  }
  /// The next sizeof(T) bytes as a T (zero-filled past the end).
  template <class T>
  T take() {
    static_assert(std::is_trivially_copyable_v<T>);
    T v{};
    const std::size_t n = sizeof(T) < left_ ? sizeof(T) : left_;
    if (n != 0) std::memcpy(static_cast<void*>(&v), at_, n);
    at_ += n;
    left_ -= n;
    return v;
  }
  /// The next `n` bytes, or as many as are left.
  std::span<const std::byte> bytes(std::size_t n) {
    if (n > left_) n = left_;
    std::span<const std::byte> out(reinterpret_cast<const std::byte*>(at_), n);
    at_ += n;
    left_ -= n;
    return out;
  }
  /// Everything left.
  std::span<const std::byte> rest() { return bytes(left_); }

 private:
  const std::uint8_t* at_;
  std::size_t left_;
};

/// Appends fields in the layout `reader` takes them (for the seed generator).
class writer {
 public:
  std::string out;
  void byte(std::uint8_t b) { out.push_back(static_cast<char>(b)); }
  template <class T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void bytes(const void* data, std::size_t n) { out.append(static_cast<const char*>(data), n); }
};

}  // namespace parrun::fuzz
