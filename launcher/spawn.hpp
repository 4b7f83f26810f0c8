#pragma once
// Starting ranks. A backend turns "rank r of this job" into a running process whose stdout and
// stderr come back on pipes; the local backend forks and execs on this host. What each rank
// gets (argv, environment) is computed by pure functions, tested without forking.
//
// Local ranks share one new process group, so the launcher can signal them and anything they
// started as one, and a Ctrl-C at the terminal reaches only the launcher, which then ends the
// job in order. Each rank dies with the launcher (PR_SET_PDEATHSIG), and a small watchdog
// process, in a session of its own, kills the whole group when the launcher is gone, however
// it ended: so not even a SIGKILLed launcher leaves a rank, or anything a rank started, behind.
#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace parrun::launcher {

/// The environment contract's values for one rank (names in parrun/wire.hpp).
struct contract {
  int rank = 0;
  int size = 1;
  int local_rank = 0;
  int local_size = 1;
  std::string rendezvous;
  std::string secret;
  std::string job_id;
};

/// A rank's environment: `inherited` (NAME=VALUE strings) with `overrides` applied, then the
/// contract; a later entry replaces an earlier one of the same name.
std::vector<std::string> rank_environment(const std::vector<std::string>& inherited,
                                          const std::vector<std::pair<std::string, std::string>>& overrides,
                                          const contract& c);

/// A started rank, as the launcher sees it.
struct rank_process {
  pid_t pid = -1;
  int stdout_fd = -1;  ///< read end of its stdout
  int stderr_fd = -1;  ///< read end of its stderr
  int stdin_fd = -1;   ///< write end of its stdin (rank 0 only), else -1
};

/// Forks and execs ranks on this host.
class local_backend {
 public:
  local_backend() = default;
  ~local_backend();
  local_backend(const local_backend&) = delete;
  local_backend& operator=(const local_backend&) = delete;

  /// Starts `path` with `argv` and `env`. Throws std::runtime_error when it cannot.
  rank_process start(const std::string& path, const std::vector<std::string>& argv,
                     const std::vector<std::string>& env, bool gets_stdin);
  /// The ranks' process group (0 before the first start).
  pid_t group() const noexcept { return group_; }

 private:
  void start_watchdog();

  pid_t group_ = 0;
  int watchdog_fd_ = -1;  // closing it (or dying) tells the watchdog to kill the group
};

}  // namespace parrun::launcher
