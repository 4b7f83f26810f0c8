#pragma once
// Type fingerprints. Every message carries the 64-bit fingerprint of its C++ type (a hash of the
// mangled name, the same in every process of one program). Each type that is ever sent or
// received registers its name at start-up, so a receiver can name the sender's type in a
// type_mismatch error without any name travelling on the wire.
#include <cstdint>
#include <string>
#include <type_traits>
#include <typeinfo>

namespace parrun::detail {

struct type_id {
  std::uint64_t hash;
  const char* mangled;
};

/// FNV-1a, 64 bit.
constexpr std::uint64_t fingerprint_of(const char* s) noexcept {
  std::uint64_t h = 14695981039346656037ull;  // the offset basis
  for (; *s != '\0'; ++s) {
    h ^= static_cast<unsigned char>(*s);
    h *= 1099511628211ull;
  }
  return h;
}

/// Records `id` so that its name can be found from its hash (runtime/type_registry.cpp).
bool register_type(const type_id& id) noexcept;
/// The readable name of the type with fingerprint `hash`, or a description of an unknown one.
std::string type_name_of(std::uint64_t hash);
/// The readable (demangled) name of `id`.
std::string type_name(const type_id& id);

template <class T>
struct type_registration {
  static inline const bool done = register_type({fingerprint_of(typeid(T).name()), typeid(T).name()});
};

/// The fingerprint of T (cv and references removed).
template <class T>
const type_id& type_of() {
  using U = std::remove_cvref_t<T>;
  static const type_id id{fingerprint_of(typeid(U).name()), typeid(U).name()};
  (void)type_registration<U>::done;
  return id;
}

}  // namespace parrun::detail
