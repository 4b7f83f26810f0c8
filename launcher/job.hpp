#pragma once
// The job monitor: starts the ranks, runs the rendezvous, forwards their output, and decides how
// the job ends. One poll loop watches signals (signalfd), the control socket, every rank's
// output pipes and parrun's stdin. Any rank that fails (exits nonzero, dies by a signal, throws,
// calls parrun::abort, exits without finalizing) ends the job: the launcher reports it in one
// line, terminates the rest (SIGTERM, then SIGKILL after a grace period) and exits with that
// rank's status. --timeout asks every rank where it is blocked before ending the job.
// run() makes the job's socket directory (socket_dir.hpp) before the first rank starts; the
// destructor removes it, whichever way the job ended, and reaps the watchdog.
#include <sys/resource.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "options.hpp"
#include "rendezvous.hpp"
#include "socket_dir.hpp"
#include "spawn.hpp"
#include "stdio.hpp"

namespace parrun::launcher {

class job {
 public:
  /// The ranks start with `rank_open_files` as their RLIMIT_NOFILE.
  job(launch_options options, std::string program_path, rlimit rank_open_files);
  ~job();
  job(const job&) = delete;
  job& operator=(const job&) = delete;

  /// Runs the job to its end; returns parrun's exit code.
  int run();

 private:
  using clock = std::chrono::steady_clock;

  struct output {
    int fd = -1;
    line_buffer lines;
  };
  struct rank_state {
    pid_t pid = -1;
    bool running = false;
    bool exited_unjoined = false;
    output out;
    output err;
  };
  struct failure {
    int rank;
    std::string what;
    int code;
  };

  void make_socket_dir();
  void start_ranks();
  void loop();
  void on_signal();
  void on_rank_exit(int rank, int wait_status);
  void on_control();
  void fail(int rank, const std::string& what, int code);
  void terminate_all();
  void kill_all();
  void start_timeout_report();
  void finish_timeout_report();
  void forward(int rank, bool is_stderr);
  void watch_output(int rank, bool is_stderr);
  void forward_ready_outputs();
  void close_output(int rank, bool is_stderr);
  void pump_stdin();
  void note(const std::string& line);
  void flush_outputs_blocking();
  std::string who(int rank) const;
  int running_count() const;
  bool outputs_open() const;

  launch_options options_;
  std::string path_;
  std::string secret_;
  std::string job_id_;
  // Signals are blocked (and read from this fd) before any thread exists, ZeroMQ's included:
  // a thread with them unblocked would let a Ctrl-C kill the launcher outright.
  int signal_fd_;
  int outputs_fd_;  // epoll set of every rank's open stdout and stderr pipe
  rendezvous rendezvous_;
  std::optional<socket_dir> socket_dir_;
  local_backend backend_;
  std::vector<rank_state> ranks_;
  output_queue out_{1};  // parrun's stdout and stderr
  output_queue err_{2};

  // stdin -> rank 0
  int stdin_to_rank0_ = -1;
  bool stdin_open_ = true;
  std::string stdin_pending_;

  clock::time_point started_{};
  std::optional<clock::time_point> timeout_at_;
  std::optional<clock::time_point> query_until_;
  std::optional<clock::time_point> kill_at_;
  std::optional<clock::time_point> output_drain_until_;
  std::optional<failure> failure_;
  bool terminating_ = false;
  bool timed_out_ = false;
  int got_signal_ = 0;
};

}  // namespace parrun::launcher
