#include "job.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <zmq.hpp>

#include <parrun/detail/net.hpp>

#include "agent_protocol.hpp"
#include "report.hpp"

extern char** environ;

namespace parrun::launcher {
namespace {

constexpr auto kill_grace = std::chrono::seconds(2);         // SIGTERM, then SIGKILL
constexpr auto query_patience = std::chrono::milliseconds(1000);  // --timeout report answers
constexpr auto output_patience = std::chrono::seconds(2);    // pipes held open after exit
constexpr std::size_t output_backlog = 4u << 20;  // beyond this, stop reading the ranks' output

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0 || read(fd, raw.data(), bytes) != static_cast<ssize_t>(bytes))
    throw std::runtime_error("cannot read /dev/urandom for the job secret");
  close(fd);
  static const char digits[] = "0123456789abcdef";
  std::string hex;
  for (char ch : raw) {
    const auto c = static_cast<unsigned char>(ch);
    hex.push_back(digits[c >> 4]);
    hex.push_back(digits[c & 15]);
  }
  return hex;
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

// The state letter of /proc/PID/stat ('R', 'S', 'T', ...), '?' when it cannot be read. It
// follows the command name, which may itself hold spaces and parentheses.
char process_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  const std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return '?';
  return stat[paren + 2];
}

// A positive number of seconds from the environment, or `fallback`.
double seconds_setting(const char* name, double fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const double s = std::strtod(v, &end);
  if (*end != '\0' || !(s > 0) || s > 1e6)
    throw start_failure(std::string(name) + "='" + v + "' is not a positive number of seconds", exit_cannot_start);
  return s;
}

std::string new_socket_dir_path(const std::string& job_id, int np) {
  const char* tmpdir = std::getenv("TMPDIR");
  std::optional<std::string> base;
  if (tmpdir != nullptr) base = tmpdir;
  return socket_dir_path(base, job_id, np);
}

}  // namespace

job::key_pair job::new_key_pair() {
  char pub[41] = {}, sec[41] = {};
  if (zmq_curve_keypair(pub, sec) != 0)
    throw start_failure("this libzmq cannot make CURVE keys (built without libsodium?): a job across hosts needs them",
                        exit_cannot_start);
  return {pub, sec};
}

job::job(launch_options options, job_plan plan, std::string program_path, std::string self, rlimit rank_open_files)
    : options_(std::move(options)),
      plan_(std::move(plan)),
      path_(std::move(program_path)),
      self_(std::move(self)),
      secret_(random_hex(16)),
      job_id_(random_hex(8)),
      curve_(plan_.spans_hosts() || options_.check_hosts ? new_key_pair() : key_pair{}),
      signal_fd_(blocked_signal_fd()),
      outputs_fd_(epoll_create1(EPOLL_CLOEXEC)),
      socket_dir_(std::in_place, new_socket_dir_path(job_id_, options_.np)),
      rendezvous_(options_.np, secret_, listen_address()),
      backend_(rank_open_files),
      agents_backend_(rank_open_files),
      ranks_(static_cast<std::size_t>(options_.np)) {
  const double lost_after = seconds_setting("PARRUN_HOST_TIMEOUT", 10.0);
  host_lost_after_ = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(lost_after));
  heartbeat_every_ = std::min<clock::duration>(std::chrono::seconds(1), host_lost_after_ / 4);
  // ssh gives up connecting after 10 s (backends.cpp); the agent then needs a moment to start.
  agent_patience_ = std::max<clock::duration>(std::chrono::seconds(20), 2 * host_lost_after_);
  rendezvous_.on_agent_message(
      [this](const std::string& routing_id, const std::string& body) { on_agent_message(routing_id, body); });
}

rendezvous::listen_on job::listen_address() const {
  rendezvous::listen_on where;
  if (curve_.public_key.empty()) {
    // One host: a unix socket in the job's 0700 directory, which no other user can even reach.
    where.ipc_path = wire::launcher_socket_path(socket_dir_->path());
    return where;
  }
  // The address the other hosts reach us on: --iface's, else the one towards the first of them
  // whose name resolves here (a launch agent may reach hosts that have no name here: then
  // loopback, which suits agents that start the "hosts" on this machine).
  std::string towards;
  for (std::size_t h = 0; h < plan_.hosts.size() && towards.empty(); ++h)
    if (!plan_.local[h] && detail::net::resolve_ipv4(plan_.hosts[h].name)) towards = plan_.hosts[h].name;
  if (towards.empty()) towards = "127.0.0.1";
  try {
    where.address = detail::net::listen_address(options_.iface, towards);
  } catch (const std::exception& e) {
    throw start_failure(e.what(), exit_cannot_start);
  }
  where.ports = options_.ports;
  where.curve_secret = curve_.secret_key;
  return where;
}

job::~job() {
  if (running_count() > 0) kill_all();
  for (rank_state& r : ranks_)
    for (output* o : {&r.out, &r.err})
      if (o->fd >= 0) close(o->fd);
  if (stdin_to_rank0_ >= 0) close(stdin_to_rank0_);
  for (agent_process& a : agent_processes_) {
    for (output* o : {&a.out, &a.err})
      if (o->fd >= 0) close(o->fd);
    if (a.stdin_fd >= 0) close(a.stdin_fd);  // an agent still there takes it as our end
  }
  agents_backend_.stop_watchdog();
  close(signal_fd_);
  if (outputs_fd_ >= 0) close(outputs_fd_);
  // The directory first, so that the watchdog, told next that the job is over, finds nothing
  // left to remove and exits at once; then it is reaped, not left for PID 1.
  socket_dir_.reset();
  backend_.stop_watchdog();
}

int job::run() {
  started_ = clock::now();
  if (options_.timeout_seconds)
    timeout_at_ = started_ + std::chrono::duration_cast<clock::duration>(
                                 std::chrono::duration<double>(*options_.timeout_seconds));
  if (options_.check_hosts) return check_hosts();
  int start_failed = 0;
  try {
    make_socket_dir();
    start_ranks();
    start_agents();
  } catch (const start_failure& e) {
    note(std::string("parrun: error: ") + e.what());
    start_failed = e.exit_code();
  } catch (const std::exception& e) {
    note(std::string("parrun: error: ") + e.what());
    start_failed = exit_cannot_start;
  }
  if (start_failed != 0) {
    terminating_ = true;
    kill_all();
    while (running_count() > 0) {
      int status = 0;
      pid_t pid = waitpid(-1, &status, 0);
      if (pid < 0) break;
      backend_.reaped(pid);
      agents_backend_.reaped(pid);
      for (rank_state& r : ranks_)
        if (r.pid == pid && !r.remote) r.running = false;
      for (rank_state& r : ranks_)
        if (r.remote) r.running = false;  // their agents die with their ssh (killed above)
    }
    flush_outputs_blocking();
    return start_failed;
  }
  loop();
  if (backend_.group() > 0) killpg(backend_.group(), SIGKILL);  // anything a rank left behind
  if (agents_backend_.group() > 0) killpg(agents_backend_.group(), SIGKILL);
  if (failure_) return failure_->code;
  if (timed_out_) return exit_timeout;
  if (got_signal_ != 0) return 128 + got_signal_;
  return 0;
}

void job::make_socket_dir() {
  const std::string& dir = socket_dir_->path();
  std::vector<std::string> doomed = socket_paths(dir, options_.np);
  doomed.push_back(wire::launcher_socket_path(dir));
  backend_.remove_on_launcher_death(std::move(doomed), dir);
}

contract job::contract_for(int rank) const {
  // Ranks of this machine count as one host, however many names the plan gave it.
  int local_rank = 0, local_size = 0;
  const bool here = plan_.local[static_cast<std::size_t>(plan_.host_of_rank[static_cast<std::size_t>(rank)])];
  for (int r = 0; r < options_.np; ++r) {
    if (plan_.local[static_cast<std::size_t>(plan_.host_of_rank[static_cast<std::size_t>(r)])] != here) continue;
    if (r < rank) ++local_rank;
    ++local_size;
  }
  contract c;
  c.rank = rank;
  c.size = options_.np;
  c.local_rank = local_rank;
  c.local_size = local_size;
  c.rendezvous = rendezvous_.address();
  c.secret = secret_;
  c.job_id = job_id_;
  c.socket_dir = socket_dir_ ? socket_dir_->path() : std::string();
  c.curve_public = curve_.public_key;
  c.curve_secret = curve_.secret_key;
  c.iface = options_.iface;
  c.ports = options_.ports;
  return c;
}

void job::start_ranks() {
  std::vector<std::string> inherited;
  for (char** e = environ; *e != nullptr; ++e) inherited.emplace_back(*e);
  std::vector<std::string> argv{options_.program};
  argv.insert(argv.end(), options_.args.begin(), options_.args.end());
  for (int r = 0; r < options_.np; ++r) {
    rank_state& s = ranks_[static_cast<std::size_t>(r)];
    s.host = plan_.host_of_rank[static_cast<std::size_t>(r)];
    if (!plan_.local[static_cast<std::size_t>(s.host)]) {  // its host's agent starts it
      s.remote = true;
      s.running = true;
      if (r == 0) stdin_host_ = s.host;
      continue;
    }
    rank_process p = backend_.start(path_, argv, rank_environment(inherited, options_.env, contract_for(r)), r == 0);
    s.pid = p.pid;
    s.running = true;
    s.out.fd = p.stdout_fd;
    s.err.fd = p.stderr_fd;
    watch_output(r, false);
    watch_output(r, true);
    if (r == 0) stdin_to_rank0_ = p.stdin_fd;
  }
}

void job::loop() {
  std::vector<zmq::pollitem_t> items;
  enum class source { signal, control, outputs, stdin_read, stdin_write, write_out };
  std::vector<std::pair<source, int>> what;
  for (;;) {
    const clock::time_point now = clock::now();
    out_.write_ready();
    err_.write_ready();
    const bool backlog = out_.pending() || err_.pending();
    if (running_count() == 0) {
      // Done when every pipe is closed and our own output is written (or nobody reads it; a
      // signal while we wait for a stalled reader ends the wait), and the agents are gone.
      if (!outputs_open() && !agents_running() && (!backlog || got_signal_ != 0)) break;
      if (!outputs_open() && agents_running() && !output_drain_until_) output_drain_until_ = now + output_patience;
      if (outputs_open() && !output_drain_until_) output_drain_until_ = now + output_patience;
    }
    if (output_drain_until_ && now >= *output_drain_until_ && (outputs_open() || agents_running())) {
      for (int r = 0; r < options_.np + static_cast<int>(agent_processes_.size()); ++r) {
        close_output(r, false);  // a rank's leftover child holds its pipes
        close_output(r, true);
      }
      for (const agent_process& a : agent_processes_)
        if (a.running) kill(a.pid, SIGKILL);  // an agent that outstays its ranks
      output_drain_until_.reset();
      continue;
    }
    if (!remote_.empty()) watch_hosts(now);
    if (timeout_at_ && now >= *timeout_at_ && !terminating_ && !timed_out_) start_timeout_report();
    if (query_until_ && now >= *query_until_) finish_timeout_report();
    if (kill_at_ && now >= *kill_at_) kill_all();
    if (const auto due = rendezvous_.next_flush(); due && now >= *due) rendezvous_.flush_finished();

    items.clear();
    what.clear();
    auto watch = [&](void* socket, int fd, short events, source s, int rank) {
      items.push_back({socket, fd, events, 0});
      what.emplace_back(s, rank);
    };
    watch(nullptr, signal_fd_, ZMQ_POLLIN, source::signal, -1);
    watch(rendezvous_.socket_handle(), 0, ZMQ_POLLIN, source::control, -1);
    if (out_.pending()) watch(nullptr, out_.fd(), ZMQ_POLLOUT, source::write_out, -1);
    if (err_.pending()) watch(nullptr, err_.fd(), ZMQ_POLLOUT, source::write_out, -1);
    // While our own output is far behind, leave the ranks' pipes unread: they wait, not us.
    // The pipes sit in one epoll set, so a wake-up costs the same for -n 2 and -n 1024.
    if (out_.size() + err_.size() < output_backlog) watch(nullptr, outputs_fd_, ZMQ_POLLIN, source::outputs, -1);
    if (stdin_to_rank0_ >= 0) {
      if (stdin_pending_.empty() && stdin_open_) watch(nullptr, STDIN_FILENO, ZMQ_POLLIN, source::stdin_read, 0);
      if (!stdin_pending_.empty()) watch(nullptr, stdin_to_rank0_, ZMQ_POLLOUT, source::stdin_write, 0);
    } else if (stdin_host_ >= 0 && stdin_open_ && ranks_[0].running && remote_[static_cast<std::size_t>(stdin_host_)].connected) {
      watch(nullptr, STDIN_FILENO, ZMQ_POLLIN, source::stdin_read, 0);
    }

    // The earliest deadline still ahead of us; the --timeout deadline counts only until it fired.
    std::optional<clock::time_point> next;
    auto consider = [&next](const std::optional<clock::time_point>& t) {
      if (t && (!next || *t < *next)) next = t;
    };
    if (!timed_out_ && !terminating_) consider(timeout_at_);
    for (const auto& t : {query_until_, kill_at_, output_drain_until_}) consider(t);
    consider(rendezvous_.next_flush());
    consider(next_heartbeat_);
    long wait_ms = -1;
    if (next) wait_ms = std::max<long>(0, std::chrono::ceil<std::chrono::milliseconds>(*next - clock::now()).count());
    try {
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(wait_ms));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      continue;
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
      if ((items[i].revents & (ZMQ_POLLIN | ZMQ_POLLOUT | ZMQ_POLLERR)) == 0) continue;
      auto [s, rank] = what[i];
      switch (s) {
        case source::signal: on_signal(); break;
        case source::control: on_control(); break;
        case source::outputs: forward_ready_outputs(); break;
        case source::stdin_read:
        case source::stdin_write: pump_stdin(); break;
        case source::write_out: break;  // written at the top of the loop
      }
    }
  }
}

void job::on_signal() {
  signalfd_siginfo info{};
  while (read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    const int signo = static_cast<int>(info.ssi_signo);
    if (signo == SIGCHLD) {
      int status = 0;
      for (pid_t pid; (pid = waitpid(-1, &status, WNOHANG)) > 0;) {
        backend_.reaped(pid);  // the watchdog, should something have killed it
        agents_backend_.reaped(pid);
        for (int r = 0; r < options_.np; ++r)
          if (ranks_[static_cast<std::size_t>(r)].pid == pid && !ranks_[static_cast<std::size_t>(r)].remote)
            on_rank_exit(r, status);
        for (std::size_t a = 0; a < agent_processes_.size(); ++a)
          if (agent_processes_[a].pid == pid) on_agent_process_exit(static_cast<int>(a), status);
      }
      continue;
    }
    if (terminating_) {
      note(std::string("parrun: got SIG") + sigabbrev_np(signo) +
           (got_signal_ != 0 ? " again" : " while ending the job") + ": killing every rank now");
      if (got_signal_ == 0) got_signal_ = signo;
      kill_all();
      continue;
    }
    got_signal_ = signo;
    note(std::string("parrun: got SIG") + sigabbrev_np(signo) + ": terminating " +
         count_ranks(running_count(), "") + " (send it again to kill them at once)");
    terminate_all();
  }
}

void job::on_rank_exit(int rank, int wait_status) {
  rank_state& s = ranks_[static_cast<std::size_t>(rank)];
  s.running = false;
  if (rank == 0 && stdin_to_rank0_ >= 0) {
    close(stdin_to_rank0_);
    stdin_to_rank0_ = -1;
    stdin_pending_.clear();
  }
  on_control();  // a failure reason sent just before dying is read before judging the exit
  if (terminating_) return;  // we are ending the job; the endings are ours

  const rank_exit e = from_wait_status(wait_status);
  const rendezvous::member& m = rendezvous_.at(rank);
  if (m.failure && m.failure->what == wire::failure_kind::aborted) {
    fail(rank, "called parrun::abort(" + std::to_string(m.failure->code) + "): " + m.failure->reason,
         exit_code_of(e));
  } else if (m.failure) {
    fail(rank, "ended with an " + m.failure->reason, exit_code_of(e));
  } else if (e.signaled || e.value != 0) {
    fail(rank, describe(e), exit_code_of(e));
  } else if (m.joined && !m.finalizing) {
    fail(rank, "exited with status 0 in the middle of the job, without destroying its "
               "parrun::environment (did it call exit()?)", 1);
  } else if (!m.joined && rendezvous_.any_joined()) {
    fail(rank, "exited with status 0 without joining the job, while the other ranks wait for it "
               "(does every rank create a parrun::environment?)", 1);
  } else if (!m.joined) {
    s.exited_unjoined = true;  // fine, unless another rank joins later
  }
}

void job::on_control() {
  std::vector<int> joined = rendezvous_.handle_incoming();
  if (!joined.empty() && !terminating_) {
    for (int r = 0; r < options_.np; ++r)
      if (ranks_[static_cast<std::size_t>(r)].exited_unjoined) {
        ranks_[static_cast<std::size_t>(r)].exited_unjoined = false;
        fail(r, "exited with status 0 without joining the job, while the other ranks wait for it "
                "(does every rank create a parrun::environment?)", 1);
      }
    if (rendezvous_.all_joined()) rendezvous_.send_table();
  }
  if (query_until_) {
    bool all_answered = true;
    for (int r = 0; r < options_.np; ++r)
      if (ranks_[static_cast<std::size_t>(r)].running && rendezvous_.at(r).joined && !rendezvous_.at(r).state)
        all_answered = false;
    if (all_answered) finish_timeout_report();
  }
}

void job::fail(int rank, const std::string& what, int code) {
  const bool first = !failure_;
  if (first) failure_ = failure{rank, what, code};
  if (options_.continue_on_failure && rendezvous_.all_joined()) {
    note("parrun: " + who(rank) + " " + what + "; the job goes on (--continue-on-failure)");
    rendezvous_.announce_lost(rank, what);
    return;
  }
  if (!first || terminating_) return;
  int others = 0;  // ranks cut short: running and not already finished
  for (int r = 0; r < options_.np; ++r)
    if (ranks_[static_cast<std::size_t>(r)].running && !rendezvous_.at(r).finalizing) ++others;
  note("parrun: " + who(rank) + " " + what + "; " +
       (others > 0 ? "terminated " + count_ranks(others, "other") : std::string("no other rank was running")));
  terminate_all();
}

void job::terminate_all() {
  terminating_ = true;
  // SIGCONT after SIGTERM, as a shell's kill does for a stopped job: a stopped rank would
  // otherwise act on the SIGTERM only when SIGKILL ends it after the grace period.
  for (const rank_state& s : ranks_)
    if (s.running && !s.remote) {
      kill(s.pid, SIGTERM);
      kill(s.pid, SIGCONT);
    }
  signal_remote(SIGTERM);
  if (backend_.group() > 0) {
    killpg(backend_.group(), SIGTERM);
    killpg(backend_.group(), SIGCONT);
  }
  kill_at_ = clock::now() + kill_grace;
}

void job::kill_all() {
  terminating_ = true;
  for (const rank_state& s : ranks_)
    if (s.running && !s.remote) kill(s.pid, SIGKILL);
  if (backend_.group() > 0) killpg(backend_.group(), SIGKILL);
  signal_remote(SIGKILL);
  kill_at_.reset();
}

void job::start_timeout_report() {
  timed_out_ = true;
  if (!rendezvous_.any_joined()) return finish_timeout_report();
  rendezvous_.query_all();
  query_until_ = clock::now() + query_patience;
}

void job::finish_timeout_report() {
  query_until_.reset();
  const double elapsed = std::chrono::duration<double>(clock::now() - started_).count();
  note("parrun: timed out after " + seconds_text(*options_.timeout_seconds) + "; terminating " +
       count_ranks(running_count(), "running") + ":");
  for (int r = 0; r < options_.np; ++r) {
    if (!ranks_[static_cast<std::size_t>(r)].running) continue;
    const rendezvous::member& m = rendezvous_.at(r);
    std::string where;
    if (!m.joined) where = "has not joined the job (no parrun::environment yet, after " + seconds_text(elapsed) + ")";
    else if (!m.state && ranks_[static_cast<std::size_t>(r)].remote)
      where = "did not answer (it runs on another host)";
    else if (!m.state)
      where = describe_silent_rank(process_state(ranks_[static_cast<std::size_t>(r)].pid));
    else if (m.state->operation.empty()) where = "running, not inside a parrun call";
    else where = m.state->operation + " for " + seconds_text(m.state->seconds);
    note("parrun:   " + who(r) + ": " + where);
  }
  terminate_all();
}

// Output sources are numbered: ranks 0..np-1, then the agent processes.
job::output& job::output_of(int source, bool is_stderr) {
  if (source < options_.np) {
    rank_state& s = ranks_[static_cast<std::size_t>(source)];
    return is_stderr ? s.err : s.out;
  }
  agent_process& a = agent_processes_[static_cast<std::size_t>(source - options_.np)];
  return is_stderr ? a.err : a.out;
}

void job::emit_line(int source, bool is_stderr, std::string_view line) {
  if (source < options_.np) return (is_stderr ? err_ : out_).push(prefix(source), line);
  // An agent's own words (ssh's complaints, its errors) are ours to report, on stderr.
  agent_process& a = agent_processes_[static_cast<std::size_t>(source - options_.np)];
  a.last_line = std::string(line);
  const std::string who = a.hosts.size() == 1 ? plan_.hosts[static_cast<std::size_t>(a.hosts.front())].name : "srun";
  err_.push("parrun: [" + who + "] ", line);
}

std::string job::prefix(int rank) const {
  return options_.tag_output ? "[" + std::to_string(rank) + "] " : "";
}

void job::forward(int source, bool is_stderr) {
  output& o = output_of(source, is_stderr);
  if (o.fd < 0) return;
  char buf[65536];
  ssize_t n = read(o.fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) return close_output(source, is_stderr);
  o.lines.feed(std::string_view(buf, static_cast<std::size_t>(n)),
               [&](std::string_view line) { emit_line(source, is_stderr, line); });
}

void job::watch_output(int rank, bool is_stderr) {
  const output& o = is_stderr ? ranks_[static_cast<std::size_t>(rank)].err : ranks_[static_cast<std::size_t>(rank)].out;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = static_cast<std::uint64_t>(rank) * 2 + (is_stderr ? 1 : 0);
  if (o.fd >= 0 && epoll_ctl(outputs_fd_, EPOLL_CTL_ADD, o.fd, &ev) != 0)
    throw std::runtime_error(std::string("epoll_ctl: ") + std::strerror(errno));
}

void job::forward_ready_outputs() {
  epoll_event ready[256];
  const int n = epoll_wait(outputs_fd_, ready, 256, 0);
  for (int i = 0; i < n; ++i) {
    const std::uint64_t which = ready[i].data.u64;
    forward(static_cast<int>(which / 2), which % 2 == 1);
  }
}

void job::close_output(int source, bool is_stderr) {
  output& o = output_of(source, is_stderr);
  if (o.fd < 0) return;
  (void)epoll_ctl(outputs_fd_, EPOLL_CTL_DEL, o.fd, nullptr);
  o.lines.finish([&](std::string_view line) { emit_line(source, is_stderr, line); });
  close(o.fd);
  o.fd = -1;
}

void job::pump_stdin() {
  if (stdin_host_ >= 0) return pump_stdin_to_agent();
  if (stdin_pending_.empty() && stdin_open_) {
    char buf[65536];
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {  // end of our stdin: rank 0 sees its end too
      stdin_open_ = false;
      close(stdin_to_rank0_);
      stdin_to_rank0_ = -1;
      return;
    }
    stdin_pending_.assign(buf, static_cast<std::size_t>(n));
  }
  while (!stdin_pending_.empty() && stdin_to_rank0_ >= 0) {
    ssize_t n = write(stdin_to_rank0_, stdin_pending_.data(), stdin_pending_.size());
    if (n < 0 && errno == EAGAIN) return;  // rank 0 is not reading; poll for POLLOUT
    if (n < 0) {  // rank 0 closed its stdin: it wants no more
      stdin_pending_.clear();
      stdin_open_ = false;
      close(stdin_to_rank0_);
      stdin_to_rank0_ = -1;
      return;
    }
    stdin_pending_.erase(0, static_cast<std::size_t>(n));
  }
}

// Rank 0 runs on another host: its agent gets our stdin in chunks as we read it.
void job::pump_stdin_to_agent() {
  const remote_host& host = remote_[static_cast<std::size_t>(stdin_host_)];
  char buf[65536];
  const ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  agent_wire::agent_stdin chunk;
  if (n > 0) chunk.bytes.assign(buf, static_cast<std::size_t>(n));
  else {
    chunk.eof = true;
    stdin_open_ = false;
  }
  rendezvous_.send(host.routing_id, agent_wire::encode(agent_wire::kind::agent_stdin, chunk));
}

void job::note(const std::string& line) { err_.push("", line); }

void job::flush_outputs_blocking() {
  for (output_queue* q : {&out_, &err_})
    while (q->pending() && !q->broken()) {
      pollfd p{q->fd(), POLLOUT, 0};
      ::poll(&p, 1, -1);
      q->write_ready();
    }
}

std::string job::who(int rank) const {
  const rendezvous::member& m = rendezvous_.at(rank);
  const rank_state& s = ranks_[static_cast<std::size_t>(rank)];
  static const std::string here = this_host_name();
  const std::string host = !m.host.empty() ? m.host : s.remote ? plan_.hosts[static_cast<std::size_t>(s.host)].name : here;
  return "rank " + std::to_string(rank) + " (" + (s.pid > 0 ? "pid " + std::to_string(s.pid) + " " : "") + "on " + host + ")";
}

int job::running_count() const {
  return static_cast<int>(std::count_if(ranks_.begin(), ranks_.end(), [](const rank_state& s) { return s.running; }));
}

bool job::outputs_open() const {
  return std::any_of(ranks_.begin(), ranks_.end(), [](const rank_state& s) { return s.out.fd >= 0 || s.err.fd >= 0; }) ||
         std::any_of(agent_processes_.begin(), agent_processes_.end(),
                     [](const agent_process& a) { return a.out.fd >= 0 || a.err.fd >= 0; });
}

}  // namespace parrun::launcher
