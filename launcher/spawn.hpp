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
// The watchdog also removes the job's socket directory then (socket_dir.hpp), and the
// launcher reaps it at the end of the job.
#include <sys/resource.h>
#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include <parrun/wire.hpp>

namespace parrun::launcher {

/// The environment contract's values for one rank (defined once, in parrun/wire.hpp).
using contract = wire::contract;

/// A rank's environment: `inherited` (NAME=VALUE strings) with `overrides` applied, then the
/// contract; a later entry replaces an earlier one of the same name.
std::vector<std::string> rank_environment(const std::vector<std::string>& inherited,
                                          const std::vector<std::pair<std::string, std::string>>& overrides,
                                          const contract& c);

/// Blocks SIGCHLD, SIGINT, SIGTERM and SIGHUP (before any thread exists, ZeroMQ's included: a
/// thread with them unblocked would let a Ctrl-C kill the process outright), ignores SIGPIPE (a
/// closed stdout or rank pipe is an error code, not our death), and returns a signalfd that
/// reads them. The launcher and an agent watch their ranks this way.
int blocked_signal_fd();

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
  /// Ranks start with `rank_open_files` as their RLIMIT_NOFILE (the launcher may have raised
  /// its own).
  explicit local_backend(rlimit rank_open_files);
  ~local_backend();  // stops the watchdog (which kills the group) and reaps it
  local_backend(const local_backend&) = delete;
  local_backend& operator=(const local_backend&) = delete;

  /// What the watchdog removes should the launcher die: `files` (unlinked), then the
  /// directory `dir` (rmdir). Must be called before the first start, which forks the watchdog.
  void remove_on_launcher_death(std::vector<std::string> files, std::string dir);
  /// Starts `path` with `argv` and `env`. Throws start_failure (report.hpp) when execve
  /// fails, std::runtime_error when it cannot fork or make pipes.
  rank_process start(const std::string& path, const std::vector<std::string>& argv,
                     const std::vector<std::string>& env, bool gets_stdin);
  /// The ranks' process group (0 before the first start).
  pid_t group() const noexcept { return group_; }
  /// The job monitor reaped `pid` with waitpid(-1): when it was the watchdog, it is not waited
  /// for again.
  void reaped(pid_t pid) noexcept;
  /// Tells the watchdog the job is over (it kills the group and removes the files it was given)
  /// and waits for it to exit. Idempotent.
  void stop_watchdog() noexcept;

 private:
  void start_watchdog();

  rlimit rank_open_files_;
  pid_t group_ = 0;
  int watchdog_fd_ = -1;  // closing it (or dying) tells the watchdog to kill the group
  pid_t watchdog_pid_ = -1;
  std::vector<std::string> doomed_files_;
  std::string doomed_dir_;
};

}  // namespace parrun::launcher
