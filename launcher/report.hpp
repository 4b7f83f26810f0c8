#pragma once
// How the launcher words a rank's ending, and the exit codes it documents.
#include <string>

namespace parrun::launcher {

/// parrun's own exit codes (the README documents them).
inline constexpr int exit_usage = 2;     ///< bad command line, or the job could not start
inline constexpr int exit_timeout = 124; ///< --timeout expired

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
/// "1 other rank", "7 other ranks".
std::string count_ranks(int n, const char* adjective);

}  // namespace parrun::launcher
