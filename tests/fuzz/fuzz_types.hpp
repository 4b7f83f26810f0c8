#pragma once
// The value types the typed-decode targets decode untrusted bytes as, one list per encoding
// (codec.hpp): raw values and raw vectors, whose bytes are copied; and everything else, which
// goes through the bounded Cereal archive. The engine target uses both lists too, picking the
// type a frame's fingerprint names.
//
// check_decode<T> is the property every target checks: decoding either throws
// truncation_error or yields a value that encodes again, and decodes again from that encoding
// to the same encoding (for types whose encoding is canonical). Anything else is a bug.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include <parrun/detail/codec.hpp>
#include <parrun/detail/type_id.hpp>
#include <parrun/errors.hpp>

#include "fuzz_support.hpp"

namespace parrun::fuzz {

// --- user types, as a program would write them -----------------------------------------------

/// Trivially copyable with padding: travels raw.
struct particle {
  int id;
  double x, y, z;
  char kind;
};

enum class colour : std::uint8_t { red = 1, green = 2, blue = 3 };

/// A struct with a member serialize().
struct record {
  std::string name;
  std::vector<int> values;
  std::optional<double> weight;
  std::map<std::string, std::vector<int>> groups;
  template <class A>
  void serialize(A& a) {
    a(name, values, weight, groups);
  }
};

/// A struct with non-member save/load.
struct interval {
  double lo = 0, hi = 0;
  std::string label;
};
template <class A>
void save(A& a, const interval& v) {
  a(v.label, v.lo, v.hi);
}
template <class A>
void load(A& a, interval& v) {
  a(v.label, v.lo, v.hi);
}

/// Encodes to nothing (the bounded archive's allowance for such elements).
struct empty_thing {
  template <class A>
  void serialize(A&) {}
};

// --- the lists -----------------------------------------------------------------------------

template <class... T>
struct type_list {
  static constexpr std::size_t size = sizeof...(T);
};

using raw_types = type_list<int, double, std::uint8_t, std::int64_t, bool, particle, colour,
                            std::array<int, 3>, std::vector<double>, std::vector<int>,
                            std::vector<particle>, std::string, std::u32string,
                            std::vector<std::array<std::uint16_t, 3>>>;

using archive_types = type_list<
    std::vector<std::string>,                                          //  0
    std::map<std::string, std::vector<int>>,                           //  1
    std::tuple<int, std::string, double>,                              //  2
    std::optional<std::string>,                                        //  3
    std::variant<int, std::string, std::vector<double>>,               //  4
    record,                                                            //  5
    interval,                                                          //  6
    std::set<std::string>,                                             //  7
    std::unordered_map<std::string, int>,                              //  8 (order not canonical)
    std::list<std::deque<int>>,                                        //  9
    std::vector<bool>,                                                 // 10
    std::pair<int, std::string>,                                       // 11
    std::vector<empty_thing>,                                          // 12
    std::unique_ptr<std::string>,                                      // 13
    std::shared_ptr<std::vector<int>>,                                 // 14
    std::vector<std::vector<std::string>>,                             // 15
    std::map<int, std::vector<std::array<double, 8>>>,                 // 16
    std::vector<std::optional<std::array<double, 64>>>,                // 17
    std::unordered_set<int>,                                           // 18 (order not canonical)
    std::tuple<std::optional<int>, std::variant<std::monostate, std::string>, colour>,  // 19
    std::array<std::string, 3>,                                        // 20
    std::deque<record>,                                                // 21
    std::vector<std::pair<std::string, std::array<double, 512>>>>;     // 22 (4 KB elements)

template <class T>
inline constexpr bool canonical_encoding_v = true;
template <class K, class V, class H, class E, class A>
inline constexpr bool canonical_encoding_v<std::unordered_map<K, V, H, E, A>> = false;
template <class K, class H, class E, class A>
inline constexpr bool canonical_encoding_v<std::unordered_set<K, H, E, A>> = false;

/// Reads a value the way a program would after receiving it (a raw bool is only ever
/// memcpy'd by the codec, so only using it shows what was stored in it).
template <class T>
void use(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    volatile bool b = v;
    (void)b;
  }
}

/// Decodes `size` bytes as a T and checks the property above; false when they did not decode.
template <class T>
bool check_decode(const char* target, const std::byte* data, std::size_t size) {
  T v{};
  try {
    detail::decode(data, size, v);
  } catch (const truncation_error&) {
    return false;
  }
  use(v);
  const detail::owned_bytes once = detail::encode(v);
  if constexpr (detail::encoding_of<T>() != detail::encoding::archive) {
    if (once.size() != size || (size != 0 && std::memcmp(once.data(), data, size) != 0))
      bug(target, "a raw value does not encode back to its own bytes");
  } else {
    T again{};
    try {
      detail::decode(once.data(), once.size(), again);
    } catch (const truncation_error& e) {
      bug(target, std::string("a decoded value's own encoding does not decode: ") + e.what());
    }
    if constexpr (canonical_encoding_v<T>) {
      const detail::owned_bytes twice = detail::encode(again);
      if (twice.size() != once.size() ||
          (once.size() != 0 && std::memcmp(twice.data(), once.data(), once.size()) != 0))
        bug(target, "decode(encode(v)) encodes differently from v");
    }
  }
  return true;
}

/// check_decode with the `index`-th type of `L` (index < L::size).
template <class... T>
bool check_decode_at(type_list<T...>, std::size_t index, const char* target, const std::byte* data,
                     std::size_t size) {
  bool decoded = false;
  std::size_t i = 0;
  ((i++ == index ? (decoded = check_decode<T>(target, data, size), 0) : 0), ...);
  return decoded;
}

/// The fingerprint of the `index`-th type of `L` (0 when out of range).
template <class... T>
std::uint64_t fingerprint_at(type_list<T...>, std::size_t index) {
  std::uint64_t h = 0;
  std::size_t i = 0;
  ((i++ == index ? (h = detail::type_of<T>().hash, 0) : 0), ...);
  return h;
}

/// Every fuzzed type, raw ones first: index < all_types_count.
inline constexpr std::size_t all_types_count = raw_types::size + archive_types::size;

inline std::uint64_t fingerprint_of_type(std::size_t index) {
  return index < raw_types::size ? fingerprint_at(raw_types{}, index)
                                 : fingerprint_at(archive_types{}, index - raw_types::size);
}

inline bool check_decode_type(std::size_t index, const char* target, const std::byte* data,
                              std::size_t size) {
  return index < raw_types::size
             ? check_decode_at(raw_types{}, index, target, data, size)
             : check_decode_at(archive_types{}, index - raw_types::size, target, data, size);
}

/// The index of the type whose fingerprint is `hash`, or all_types_count when none is.
inline std::size_t type_index_of(std::uint64_t hash) {
  for (std::size_t i = 0; i < all_types_count; ++i)
    if (fingerprint_of_type(i) == hash) return i;
  return all_types_count;
}

}  // namespace parrun::fuzz
