#include "report.hpp"

#include <sys/wait.h>

#include <cstring>

namespace parrun::launcher {

rank_exit from_wait_status(int wait_status) {
  if (WIFSIGNALED(wait_status)) return {true, WTERMSIG(wait_status)};
  return {false, WEXITSTATUS(wait_status)};
}

int exit_code_of(const rank_exit& e) { return e.signaled ? 128 + e.value : e.value; }

std::string describe_signal(int signo) {
  const char* text = strsignal(signo);
  return "signal " + std::to_string(signo) + (text != nullptr ? std::string(" (") + text + ")" : "");
}

std::string describe(const rank_exit& e) {
  if (e.signaled) return "was killed by " + describe_signal(e.value);
  return "exited with status " + std::to_string(e.value);
}

std::string describe_silent_rank(char proc_state) {
  // A stopped rank cannot answer, however idle it is: saying "busy" would send the user
  // looking for a hot loop that does not exist.
  if (proc_state == 'T') return "stopped (SIGSTOP/SIGTSTP): not answering";
  if (proc_state == 't') return "stopped by a debugger (traced)";
  return "did not answer: busy outside parrun calls";
}

std::string count_ranks(int n, const char* adjective) {
  std::string s = std::to_string(n) + " ";
  if (*adjective != '\0') s += std::string(adjective) + " ";
  return s + (n == 1 ? "rank" : "ranks");
}

}  // namespace parrun::launcher
