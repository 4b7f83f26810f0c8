#pragma once
// The job monitor: starts the ranks, runs the rendezvous, forwards their output, and decides how
// the job ends. Ranks on this host it forks itself (spawn.hpp); each other host of the plan
// (plan.hpp) gets one agent (agent.hpp), started by the plan's backend (backends.hpp), that
// forks that host's ranks and reports their output lines and exits over the control socket,
// so every rule below holds on every host. A host whose agent goes silent (heartbeats) or
// exits before its ranks are done is lost: one report names the host and its ranks, and the
// job ends (or goes on, with --continue-on-failure). One poll loop watches signals (signalfd), the control socket, every rank's
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
#include "plan.hpp"
#include "rendezvous.hpp"
#include "socket_dir.hpp"
#include "spawn.hpp"
#include "stdio.hpp"

namespace parrun::launcher {

class job {
 public:
  /// The ranks start with `rank_open_files` as their RLIMIT_NOFILE; `self` is this parrun
  /// binary's path, which the agents run on the other hosts.
  job(launch_options options, job_plan plan, std::string program_path, std::string self, rlimit rank_open_files);
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
    int host = 0;         ///< index into the plan's hosts
    bool remote = false;  ///< run by that host's agent
    bool running = false;
    bool exited_unjoined = false;
    output out;
    output err;
  };
  /// A process that starts agents (ssh, the --launch-agent command, or one srun for all).
  struct agent_process {
    pid_t pid = -1;
    bool running = false;
    int status = 0;
    std::vector<int> hosts;
    output out;
    output err;
    std::string last_line;  ///< of its stderr: ssh's reason, the agent's error
    int stdin_fd = -1;      ///< the agent's lifeline (ssh, command): closed when we are done
    std::optional<clock::time_point> exited_at;
  };
  struct remote_host {
    std::string routing_id;  ///< its agent's, once it said hello
    bool connected = false;
    bool lost = false;
    int process = -1;        ///< index into agent_processes_
    std::vector<int> ranks;  ///< the ranks it runs
    clock::time_point last_heard{};
    std::string agent_version;  ///< what its parrun said it is
    std::optional<std::string> check;  ///< --check-hosts: its answer ("ok" or what is wrong)
  };
  struct failure {
    int rank;
    std::string what;
    int code;
  };

  void make_socket_dir();
  void start_ranks();
  void start_agents();
  void start_agent_process(const std::vector<std::string>& argv, std::vector<int> hosts, bool slurm);
  contract contract_for(int rank) const;
  void on_agent_message(const std::string& routing_id, const std::string& body);
  void on_agent_hello(const std::string& routing_id, const std::string& body);
  void on_agent_events(int host, const std::string& body);
  void on_agent_process_exit(int index, int wait_status);
  void watch_hosts(clock::time_point now);
  rendezvous::listen_on listen_address() const;
  void lose_host(int host, const std::string& why);
  void signal_remote(int signo);
  int check_hosts();
  std::string prefix(int rank) const;
  bool agents_running() const;
  void loop();
  void on_signal();
  void on_rank_exit(int rank, int wait_status);
  void on_control();
  void fail(int rank, const std::string& what, int code);
  void terminate_all();
  void kill_all();
  void start_timeout_report();
  void finish_timeout_report();
  output& output_of(int source, bool is_stderr);
  void emit_line(int source, bool is_stderr, std::string_view line);
  void pump_stdin_to_agent();
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
  job_plan plan_;
  std::string path_;
  std::string self_;
  std::string secret_;
  std::string job_id_;
  struct key_pair {
    std::string public_key;  // Z85
    std::string secret_key;
  };
  key_pair curve_;  // the job's CURVE keys, when it spans hosts
  static key_pair new_key_pair();
  // Signals are blocked (and read from this fd) before any thread exists, ZeroMQ's included:
  // a thread with them unblocked would let a Ctrl-C kill the launcher outright.
  int signal_fd_;
  int outputs_fd_;  // epoll set of every rank's open stdout and stderr pipe
  std::optional<socket_dir> socket_dir_;  // made first: on one host the rendezvous listens in it
  rendezvous rendezvous_;
  local_backend backend_;
  local_backend agents_backend_;  // the agent processes: a group of their own, apart from the ranks
  std::vector<rank_state> ranks_;
  std::vector<agent_process> agent_processes_;
  std::vector<remote_host> remote_;  // by host index
  std::optional<clock::time_point> next_heartbeat_;
  clock::duration heartbeat_every_{};
  clock::duration host_lost_after_{};
  clock::duration agent_patience_{};
  output_queue out_{1};  // parrun's stdout and stderr
  output_queue err_{2};

  // stdin -> rank 0
  int stdin_to_rank0_ = -1;
  int stdin_host_ = -1;  // rank 0's host when its agent feeds it
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
