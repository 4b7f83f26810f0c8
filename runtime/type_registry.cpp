// Names of the types this program sends and receives, registered at start-up (detail/type_id.hpp).
#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>
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

// A demangled type name as a tree: "std::map<int, std::less<int> >" is map with two arguments.
struct type_node {
  std::string name;  // text before '<' (or the whole argument), trimmed
  std::vector<type_node> args;
  bool templated = false;
  std::string suffix;  // what follows '>' ("const", "*", ...)
};

std::string trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return std::string(s);
}

type_node parse(std::string_view s, std::size_t& at) {
  type_node n;
  const std::size_t from = at;
  while (at < s.size() && s[at] != '<' && s[at] != ',' && s[at] != '>') ++at;
  n.name = trim(s.substr(from, at - from));
  if (at < s.size() && s[at] == '<') {
    n.templated = true;
    ++at;
    for (;;) {
      n.args.push_back(parse(s, at));
      if (at >= s.size()) break;
      if (s[at] == ',') {
        ++at;
        continue;
      }
      ++at;  // '>'
      break;
    }
    const std::size_t tail = at;
    while (at < s.size() && s[at] != ',' && s[at] != '>') ++at;
    n.suffix = trim(s.substr(tail, at - tail));
  }
  return n;
}

std::string print(const type_node& n) {
  std::string out = n.name;
  if (n.templated) {
    out += "<";
    for (std::size_t i = 0; i < n.args.size(); ++i) out += (i ? ", " : "") + print(n.args[i]);
    out += ">";
    if (!n.suffix.empty()) out += " " + n.suffix;
  }
  return out;
}

// Whether `arg` is the standard library's default for a trailing template argument of a
// container whose first argument is `first`: std::allocator<...>, std::char_traits<first>,
// std::less<first>, std::hash<first>, std::equal_to<first>. Others (std::less<void>, a custom
// allocator) stay: two different types must never print the same.
bool is_default_argument(const type_node& arg, const std::string& first) {
  if (!arg.templated || arg.args.size() != 1) return false;
  if (arg.name == "std::allocator") return true;
  const bool of_first = print(arg.args[0]) == first;
  return of_first && (arg.name == "std::char_traits" || arg.name == "std::less" ||
                      arg.name == "std::hash" || arg.name == "std::equal_to");
}

void simplify(type_node& n) {
  for (type_node& a : n.args) simplify(a);
  const std::string_view inline_ns = "std::__cxx11::";
  if (n.name.compare(0, inline_ns.size(), inline_ns) == 0) n.name = "std::" + n.name.substr(inline_ns.size());
  if (n.args.size() >= 2) {
    const std::string first = print(n.args[0]);
    while (n.args.size() > 1 && is_default_argument(n.args.back(), first)) n.args.pop_back();
    // std::map's allocator is of pair<const K, V>, after a comparator that may have gone.
  }
  if (n.name == "std::basic_string" && n.args.size() == 1 && print(n.args[0]) == "char") {
    n = type_node{"std::string", {}, false, n.suffix};
  }
}

// Demangles and shortens to what a user wrote: std::vector<double>, not its allocator too.
std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> readable(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  if (status != 0 || !readable) return mangled;
  std::string_view text = readable.get();
  if (text.find('(') != std::string_view::npos) return std::string(text);  // functions: as they are
  std::size_t at = 0;
  type_node root = parse(text, at);
  if (at != text.size()) return std::string(text);  // not a plain type name: keep it whole
  simplify(root);
  return print(root);
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
