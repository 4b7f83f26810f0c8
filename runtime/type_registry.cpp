// Names of the types this program sends and receives, registered at start-up (detail/type_id.hpp).
#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>

#include <parrun/detail/type_id.hpp>

namespace parrun::detail {
namespace {

struct registry {
  std::mutex mutex;
  std::unordered_map<std::uint64_t, const char*> names;
};

registry& the_registry() {
  static registry r;  // constructed on first use: registrations run during static initialisation
  return r;
}

// Removes every ", <prefix>...>" template argument (balanced), e.g. default allocators.
void erase_default_arguments(std::string& s, std::string_view prefix) {
  for (std::size_t at = s.find(prefix); at != std::string::npos; at = s.find(prefix, at)) {
    std::size_t end = at + prefix.size();
    for (int depth = 1; end < s.size() && depth > 0; ++end) {
      if (s[end] == '<') ++depth;
      if (s[end] == '>') --depth;
    }
    s.erase(at, end - at);
  }
}

// Demangles and shortens to what a user wrote: std::vector<double>, not its allocator too.
std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> readable(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  if (status != 0 || !readable) return mangled;
  std::string s = readable.get();
  const std::string_view long_string =
      "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >";
  for (std::size_t at = s.find(long_string); at != std::string::npos; at = s.find(long_string))
    s.replace(at, long_string.size(), "std::string");
  for (std::string_view p : {", std::allocator<", ", std::less<", ", std::hash<", ", std::equal_to<",
                             ", std::char_traits<"})
    erase_default_arguments(s, p);
  for (std::size_t at = s.find(" >"); at != std::string::npos; at = s.find(" >")) s.erase(at, 1);
  return s;
}

}  // namespace

bool register_type(const type_id& id) noexcept {
  try {
    registry& r = the_registry();
    std::lock_guard lock(r.mutex);
    r.names.emplace(id.hash, id.mangled);
  } catch (...) {
    // Only error messages lose the name; never fail start-up over it.
  }
  return true;
}

std::string type_name(const type_id& id) { return demangle(id.mangled); }

std::string type_name_of(std::uint64_t hash) {
  registry& r = the_registry();
  std::lock_guard lock(r.mutex);
  auto it = r.names.find(hash);
  if (it != r.names.end()) return demangle(it->second);
  char buf[80];
  std::snprintf(buf, sizeof buf, "a type this rank never uses (fingerprint %016llx)",
                static_cast<unsigned long long>(hash));
  return buf;
}

}  // namespace parrun::detail
