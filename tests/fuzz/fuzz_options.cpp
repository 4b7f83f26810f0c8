// The launcher's command line (launcher/options.hpp). Input: argv words separated by NUL
// bytes (argv[0] "parrun" is added). usage_failure is the answer to a bad command line;
// anything else escaping parse_options is a bug, and so is an accepted command line whose
// options break what the launcher relies on (a rank count in 1..65536, a positive finite
// timeout within the documented limit, valid variable names for -x).
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "options.hpp"

namespace {

using namespace parrun::launcher;
using parrun::fuzz::bug;

// parrun's own environment, as -x NAME (without a value) reads it.
const std::map<std::string, std::string>& environment() {
  static const std::map<std::string, std::string> env{
      {"HOME", "/root"}, {"PATH", "/usr/bin:/bin"}, {"OMP_NUM_THREADS", "4"}, {"EMPTY", ""}};
  return env;
}

std::optional<std::string> lookup(const std::string& name) {
  auto it = environment().find(name);
  if (it == environment().end()) return std::nullopt;
  return it->second;
}

bool valid_name(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> words;
  const std::string input(reinterpret_cast<const char*>(data), size);
  for (std::size_t from = 0; from <= input.size();) {
    std::size_t nul = input.find('\0', from);
    if (nul == std::string::npos) nul = input.size();
    words.push_back(input.substr(from, nul - from));
    from = nul + 1;
  }
  if (size == 0) words.clear();
  std::vector<const char*> argv{"parrun"};
  for (const std::string& w : words) argv.push_back(w.c_str());
  argv.push_back(nullptr);

  launch_options o;
  try {
    o = parse_options(static_cast<int>(argv.size() - 1), argv.data(), lookup);
  } catch (const usage_failure&) {
    return 0;
  }
  if (o.what != action::run) return 0;
  // Without -n the hosts decide the rank count (every slot): only when hosts were given.
  const bool hosts_decide = !o.host_list.empty() || !o.hostfile.empty() || o.check_hosts || lookup("SLURM_JOB_ID");
  if (o.np_given ? (o.np < 1 || o.np > 65536) : !hosts_decide) bug("options", "accepted -n " + std::to_string(o.np));
  if (o.timeout_seconds &&
      (!std::isfinite(*o.timeout_seconds) || *o.timeout_seconds <= 0 || *o.timeout_seconds > max_timeout_seconds))
    bug("options", "accepted --timeout " + std::to_string(*o.timeout_seconds));
  for (const auto& [name, value] : o.env)
    if (!valid_name(name)) bug("options", "accepted -x with the variable name '" + name + "'");
  return 0;
}
