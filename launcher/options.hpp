#pragma once
// The command line: `parrun [options] program [args...]`, parsed with Boost.Program_options.
// Everything after the first non-option word (or after `--`) belongs to the program.
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace parrun::launcher {

/// A mistake on the command line; its message is one line for the user.
class usage_failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class action { run, help, version };

/// The largest --timeout, in seconds (1e9, about 31 years).
inline constexpr double max_timeout_seconds = 1e9;

struct launch_options {
  action what = action::run;
  int np = 0;
  bool tag_output = false;
  std::optional<double> timeout_seconds;
  bool continue_on_failure = false;
  std::vector<std::pair<std::string, std::string>> env;  ///< from -x, values resolved
  // Several hosts (plan.hpp places the ranks).
  bool np_given = false;
  std::string host_list;     ///< --host a:4,b:4
  std::string hostfile;      ///< --hostfile F
  std::string map_by = "slot";
  bool oversubscribe = false;
  std::string launch_agent;  ///< --launch-agent "CMD"
  std::string iface;         ///< --iface NAME|CIDR
  std::string ports;         ///< --ports A-B
  bool check_hosts = false;  ///< --check-hosts: probe the hosts, start nothing
  std::string program;
  std::vector<std::string> args;
};

/// Reads a variable of parrun's own environment (injectable for tests).
using env_lookup = std::function<std::optional<std::string>(const std::string&)>;

/// Parses argv. Throws usage_failure naming what was wrong.
launch_options parse_options(int argc, const char* const argv[], const env_lookup& getenv);

/// The full path of `program`: as given when it contains a '/', else the first match on
/// `path` (a PATH value). Throws start_failure (report.hpp) with exit_not_found when it is
/// missing, exit_cannot_invoke when it is a directory or not executable.
std::string resolve_program(const std::string& program, const std::string& path);

/// The --help text.
std::string help_text();

}  // namespace parrun::launcher
