#pragma once
// How the launcher words a rank's ending, and the exit codes it documents.
#include <stdexcept>
#include <string>

namespace parrun::launcher {

/// parrun's own exit codes (the README documents them). They follow coreutils (env, nohup,
/// timeout), so that none of them is a status a rank commonly exits with: a rank's 1 or 2
/// passes through as itself.
inline constexpr int exit_timeout = 124;         ///< --timeout expired
inline constexpr int exit_cannot_start = 125;    ///< bad command line, or the job could not start
inline constexpr int exit_cannot_invoke = 126;   ///< the program exists but cannot be executed
inline constexpr int exit_not_found = 127;       ///< the program does not exist
inline constexpr int exit_host_lost = 255;       ///< a host of the job was lost (as ssh says it)

/// Why the job could not start, with the exit code that says so (exit_cannot_start,
/// exit_cannot_invoke or exit_not_found); its message is one line for the user.
class start_failure : public std::runtime_error {
 public:
  start_failure(const std::string& what, int exit_code)
      : std::runtime_error(what), exit_code_(exit_code) {}
  int exit_code() const noexcept { return exit_code_; }

 private:
  int exit_code_;
};

/// A rank's ending as waitpid reported it.
struct rank_exit {
  bool signaled = false;
  int value = 0;  ///< exit status, or signal number when signaled
};

rank_exit from_wait_status(int wait_status);
/// The shell's convention: the status, or 128 + signal.
int exit_code_of(const rank_exit& e);
/// "exited with status 3", "was killed by signal 11 (Segmentation fault)".
std::string describe(const rank_exit& e);
/// "SIGSEGV"-style name with its description: "signal 11 (Segmentation fault)".
std::string describe_signal(int signo);
/// Why a running rank did not answer a --timeout query, from the state letter of its
/// /proc/PID/stat: "stopped (SIGSTOP/SIGTSTP): not answering" for 'T', "stopped by a debugger
/// (traced)" for 't', else "did not answer: busy outside parrun calls".
std::string describe_silent_rank(char proc_state);
/// "1 other rank", "7 other ranks".
std::string count_ranks(int n, const char* adjective);

}  // namespace parrun::launcher
