// How the launcher words a rank's ending and which exit code it turns into (launcher/report.hpp).
#include <signal.h>
#include <sys/wait.h>

#include <string>

#include <gtest/gtest.h>

#include "report.hpp"

using namespace parrun::launcher;

// Wait statuses as the kernel encodes them (W_EXITCODE is glibc's encoder for what
// WEXITSTATUS / WTERMSIG decode).
static_assert(WIFEXITED(W_EXITCODE(3, 0)) && WEXITSTATUS(W_EXITCODE(3, 0)) == 3);
static_assert(WIFSIGNALED(W_EXITCODE(0, SIGKILL)) && WTERMSIG(W_EXITCODE(0, SIGKILL)) == SIGKILL);

TEST(report, documented_exit_codes) {
  // coreutils' (timeout, env, nohup): none of them is a status ranks commonly exit with.
  EXPECT_EQ(exit_timeout, 124);
  EXPECT_EQ(exit_cannot_start, 125);
  EXPECT_EQ(exit_cannot_invoke, 126);
  EXPECT_EQ(exit_not_found, 127);
}

TEST(report, start_failure_keeps_its_exit_code) {
  const start_failure f("program 'x' not found", exit_not_found);
  EXPECT_STREQ(f.what(), "program 'x' not found");
  EXPECT_EQ(f.exit_code(), 127);
}

TEST(report, silent_rank_stopped_by_a_signal) {
  EXPECT_EQ(describe_silent_rank('T'), "stopped (SIGSTOP/SIGTSTP): not answering");
}

TEST(report, silent_rank_stopped_by_a_debugger) {
  EXPECT_EQ(describe_silent_rank('t'), "stopped by a debugger (traced)");
}

TEST(report, silent_rank_that_runs_or_sleeps_is_busy) {
  for (char state : {'R', 'S', 'D', '?'})
    EXPECT_EQ(describe_silent_rank(state), "did not answer: busy outside parrun calls") << state;
}

TEST(report, normal_exit) {
  const rank_exit e = from_wait_status(W_EXITCODE(3, 0));
  EXPECT_FALSE(e.signaled);
  EXPECT_EQ(e.value, 3);
  EXPECT_EQ(exit_code_of(e), 3);
  EXPECT_EQ(describe(e), "exited with status 3");
}

TEST(report, exit_zero) {
  const rank_exit e = from_wait_status(W_EXITCODE(0, 0));
  EXPECT_FALSE(e.signaled);
  EXPECT_EQ(exit_code_of(e), 0);
  EXPECT_EQ(describe(e), "exited with status 0");
}

TEST(report, exit_255) {
  const rank_exit e = from_wait_status(W_EXITCODE(255, 0));
  EXPECT_EQ(exit_code_of(e), 255);
  EXPECT_EQ(describe(e), "exited with status 255");
}

TEST(report, killed_by_signal) {
  const rank_exit e = from_wait_status(W_EXITCODE(0, SIGKILL));
  EXPECT_TRUE(e.signaled);
  EXPECT_EQ(e.value, SIGKILL);
  EXPECT_EQ(exit_code_of(e), 137);
  EXPECT_EQ(describe(e), "was killed by signal 9 (Killed)");
}

TEST(report, segfault_with_core_flag) {
  // The core-dump bit in the status must not change the signal number.
  const int status = W_EXITCODE(0, SIGSEGV) | WCOREFLAG;
  const rank_exit e = from_wait_status(status);
  EXPECT_TRUE(e.signaled);
  EXPECT_EQ(e.value, SIGSEGV);
  EXPECT_EQ(exit_code_of(e), 139);
  EXPECT_EQ(describe(e), "was killed by signal 11 (Segmentation fault)");
}

TEST(report, abort_signal) {
  const rank_exit e = from_wait_status(W_EXITCODE(0, SIGABRT));
  EXPECT_TRUE(e.signaled);
  EXPECT_EQ(exit_code_of(e), 134);
  EXPECT_EQ(describe(e), "was killed by signal 6 (Aborted)");
}

TEST(report, describe_signal_names) {
  EXPECT_EQ(describe_signal(SIGTERM), "signal 15 (Terminated)");
  EXPECT_EQ(describe_signal(SIGINT), "signal 2 (Interrupt)");
  EXPECT_EQ(describe_signal(SIGHUP), "signal 1 (Hangup)");
  EXPECT_EQ(describe_signal(SIGBUS), "signal 7 (Bus error)");
  // Not every number has a name; the number must still be there.
  EXPECT_EQ(describe_signal(SIGRTMIN + 1).rfind("signal " + std::to_string(SIGRTMIN + 1), 0), 0u);
}

TEST(report, count_ranks) {
  EXPECT_EQ(count_ranks(1, "other"), "1 other rank");
  EXPECT_EQ(count_ranks(7, "other"), "7 other ranks");
  EXPECT_EQ(count_ranks(0, "other"), "0 other ranks");
  EXPECT_EQ(count_ranks(2, "running"), "2 running ranks");
  EXPECT_EQ(count_ranks(1, ""), "1 rank");
  EXPECT_EQ(count_ranks(3, ""), "3 ranks");
}
