#include "agent.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <vector>

#include <zmq.hpp>

#include "agent_protocol.hpp"
#include "backends.hpp"
#include "report.hpp"
#include "socket_dir.hpp"
#include "spawn.hpp"
#include "stdio.hpp"

extern char** environ;

namespace parrun::launcher {
namespace {

using clock = std::chrono::steady_clock;
namespace aw = agent_wire;

constexpr auto kill_grace = std::chrono::seconds(2);
constexpr auto output_patience = std::chrono::seconds(2);
constexpr std::size_t flush_bytes = 1u << 20;     // send the batch at once beyond this
constexpr std::size_t backlog_limit = 8u << 20;   // stop reading the ranks' pipes beyond this

std::string host_name() {
  if (const char* slurm = std::getenv("SLURMD_NODENAME"); slurm != nullptr && *slurm != '\0') return slurm;
  return this_host_name();
}

// One line from stdin, read a byte at a time so that nothing after it is taken: the rest of
// stdin is only watched for its end.
std::string read_line_from_stdin() {
  std::string line;
  char c = 0;
  while (read(STDIN_FILENO, &c, 1) == 1 && c != '\n') {
    line += c;
    if (line.size() > 64 * 1024) break;
  }
  return line;
}

class agent {
 public:
  agent(aw::bootstrap b, rlimit rank_open_files, bool stdin_is_lifeline)
      : boot_(std::move(b)),
        signal_fd_(blocked_signal_fd()),
        outputs_fd_(epoll_create1(EPOLL_CLOEXEC)),
        socket_(context_, zmq::socket_type::dealer),
        backend_(rank_open_files),
        stdin_is_lifeline_(stdin_is_lifeline) {
    // Long enough for the last events to reach the launcher after the ranks are done.
    socket_.set(zmq::sockopt::linger, 3000);
    socket_.set(zmq::sockopt::sndhwm, 0);  // our own backlog bounds it (backlog_limit)
    if (!boot_.curve_public.empty()) {
      socket_.set(zmq::sockopt::curve_serverkey, boot_.curve_public);
      socket_.set(zmq::sockopt::curve_publickey, boot_.curve_public);
      socket_.set(zmq::sockopt::curve_secretkey, boot_.curve_secret);
    }
    socket_.connect(boot_.rendezvous);
  }
  ~agent() {
    close(signal_fd_);
    close(outputs_fd_);
  }

  int run(const std::string& check_program);

 private:
  struct output {
    int fd = -1;
    line_buffer lines;
  };
  struct rank_proc {
    int rank = -1;
    pid_t pid = -1;
    bool running = false;
    output out, err;
  };

  void send(const std::string& body);
  void emit(aw::event e);
  void emit_line(int rank, bool is_stderr, std::string_view line);
  void flush_events();
  std::optional<aw::agent_start> wait_for_start();
  void start_ranks(const aw::agent_start& s);
  void loop();
  void on_signal();
  void on_launcher();
  void on_outputs();
  void close_output(rank_proc& p, bool is_stderr);
  void signal_ranks(int signo);
  void pump_stdin();
  void lost_launcher(const std::string& why);
  bool outputs_open() const;
  int running() const;
  clock::duration heartbeat() const { return std::chrono::milliseconds(boot_.heartbeat_ms); }
  clock::duration lost_after() const { return std::chrono::milliseconds(boot_.lost_after_ms); }

  aw::bootstrap boot_;
  int signal_fd_;
  int outputs_fd_;
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  std::optional<socket_dir> dir_;
  local_backend backend_;
  std::vector<rank_proc> ranks_;
  bool stdin_is_lifeline_;
  aw::agent_events batch_;
  std::size_t batch_bytes_ = 0;
  std::vector<std::string> backlog_;  // encoded messages the socket did not take yet
  std::size_t backlog_bytes_ = 0;
  clock::time_point last_heard_ = clock::now();
  clock::time_point next_heartbeat_ = clock::now();
  std::optional<clock::time_point> kill_at_;
  std::optional<clock::time_point> drain_until_;
  int stdin_to_rank0_ = -1;
  std::string stdin_pending_;
  bool stdin_eof_ = false;
  bool terminating_ = false;
  int exit_code_ = 0;
};

void agent::send(const std::string& body) {
  if (backlog_.empty()) {
    try {
      if (socket_.send(zmq::buffer(body), zmq::send_flags::dontwait)) return;
    } catch (const zmq::error_t&) {
    }
  }
  backlog_bytes_ += body.size();
  backlog_.push_back(body);
}

void agent::emit(aw::event e) {
  batch_bytes_ += e.text.size() + 32;
  batch_.events.push_back(std::move(e));
  if (batch_bytes_ >= flush_bytes) flush_events();
}

void agent::emit_line(int rank, bool is_stderr, std::string_view line) {
  aw::event ev;
  ev.what = aw::event_kind::output;
  ev.rank = rank;
  ev.stream = is_stderr ? 2 : 1;
  ev.text = std::string(line);
  emit(std::move(ev));
}

void agent::flush_events() {
  if (!batch_.events.empty()) {
    send(aw::encode(aw::kind::agent_events, batch_));
    batch_.events.clear();
    batch_bytes_ = 0;
  }
  while (!backlog_.empty()) {
    try {
      if (!socket_.send(zmq::buffer(backlog_.front()), zmq::send_flags::dontwait)) return;
    } catch (const zmq::error_t&) {
      return;
    }
    backlog_bytes_ -= backlog_.front().size();
    backlog_.erase(backlog_.begin());
  }
}

std::optional<aw::agent_start> agent::wait_for_start() {
  const clock::time_point give_up = clock::now() + lost_after();
  while (clock::now() < give_up) {
    zmq::pollitem_t items[] = {{socket_.handle(), 0, ZMQ_POLLIN, 0}, {nullptr, signal_fd_, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 2, std::chrono::milliseconds(200));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
    }
    if (items[1].revents != 0) {
      signalfd_siginfo info{};
      while (read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info))
        if (info.ssi_signo != SIGCHLD) return std::nullopt;
    }
    zmq::message_t msg;
    while (socket_.recv(msg, zmq::recv_flags::dontwait)) {
      const std::string body = msg.to_string();
      if (body.empty()) continue;
      const auto k = static_cast<aw::kind>(body[0]);
      if (k == aw::kind::agent_start) return wire::decode<aw::agent_start>(body);
      if (static_cast<wire::kind>(body[0]) == wire::kind::refused)
        throw std::runtime_error("the launcher refused this agent: " + wire::decode<wire::refused>(body).why);
    }
  }
  throw std::runtime_error("no word from the launcher at " + boot_.rendezvous + " in " +
                           std::to_string(boot_.lost_after_ms / 1000) +
                           " s: can this host reach it? (parrun --iface chooses the launcher's address)");
}

void agent::start_ranks(const aw::agent_start& s) {
  if (!s.cwd.empty() && chdir(s.cwd.c_str()) != 0)
    std::fprintf(stderr, "parrun agent on %s: cannot enter %s (%s): the ranks start in %s\n", host_name().c_str(),
                 s.cwd.c_str(), std::strerror(errno), std::getenv("HOME") != nullptr ? std::getenv("HOME") : "/");
  const char* tmpdir = std::getenv("TMPDIR");
  std::optional<std::string> base;
  if (tmpdir != nullptr) base = tmpdir;
  // Hosts may share /tmp (network namespaces, a shared home): the host index keeps the names apart.
  dir_.emplace(socket_dir_path(base, s.job_id + "-" + std::to_string(s.host_index), s.size));
  backend_.remove_on_launcher_death(socket_paths(dir_->path(), s.size), dir_->path());

  std::vector<std::string> inherited;
  for (char** e = environ; *e != nullptr; ++e) inherited.emplace_back(*e);
  std::vector<std::pair<std::string, std::string>> overrides;
  for (const std::string& entry : s.env) {
    const std::size_t eq = entry.find('=');
    if (eq != std::string::npos) overrides.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
  }
  for (std::size_t i = 0; i < s.ranks.size(); ++i) {
    contract c;
    c.rank = s.ranks[i];
    c.size = s.size;
    c.local_rank = static_cast<int>(i);
    c.local_size = static_cast<int>(s.ranks.size());
    c.rendezvous = boot_.rendezvous;
    c.secret = boot_.secret;
    c.job_id = s.job_id;
    c.socket_dir = dir_->path();
    c.curve_public = boot_.curve_public;
    c.curve_secret = boot_.curve_secret;
    c.iface = s.iface;
    c.ports = s.ports;
    const bool gets_stdin = s.rank0_stdin && c.rank == 0;
    rank_proc p;
    p.rank = c.rank;
    try {
      rank_process rp = backend_.start(s.program, s.argv, rank_environment(inherited, overrides, c), gets_stdin);
      p.pid = rp.pid;
      p.running = true;
      p.out.fd = rp.stdout_fd;
      p.err.fd = rp.stderr_fd;
      if (gets_stdin) stdin_to_rank0_ = rp.stdin_fd;
    } catch (const start_failure& e) {
      aw::event ev;
      ev.what = aw::event_kind::start_failed;
      ev.rank = c.rank;
      ev.status = e.exit_code();
      ev.text = e.what();
      emit(std::move(ev));
      ranks_.push_back(std::move(p));
      break;  // the launcher ends the job
    }
    aw::event ev;
    ev.what = aw::event_kind::started;
    ev.rank = p.rank;
    ev.pid = p.pid;
    emit(std::move(ev));
    ranks_.push_back(std::move(p));
    const auto index = ranks_.size() - 1;
    for (int stream = 0; stream < 2; ++stream) {
      epoll_event watch{};
      watch.events = EPOLLIN;
      watch.data.u64 = index * 2 + static_cast<std::uint64_t>(stream);
      const int fd = stream == 0 ? ranks_.back().out.fd : ranks_.back().err.fd;
      (void)epoll_ctl(outputs_fd_, EPOLL_CTL_ADD, fd, &watch);
    }
  }
  flush_events();
}

void agent::signal_ranks(int signo) {
  for (const rank_proc& p : ranks_)
    if (p.running) {
      kill(p.pid, signo);
      if (signo == SIGTERM) kill(p.pid, SIGCONT);
    }
  if (backend_.group() > 0) {
    killpg(backend_.group(), signo);
    if (signo == SIGTERM) killpg(backend_.group(), SIGCONT);
  }
}

void agent::lost_launcher(const std::string& why) {
  std::fprintf(stderr, "parrun agent on %s: lost the launcher (%s); killing %d rank(s)\n", host_name().c_str(),
               why.c_str(), running());
  signal_ranks(SIGKILL);
  terminating_ = true;
  exit_code_ = 1;
}

void agent::on_signal() {
  signalfd_siginfo info{};
  while (read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    if (info.ssi_signo != SIGCHLD) {
      // Whoever started us (sshd, slurmstepd) wants us gone: take the ranks with us, in order.
      if (terminating_) signal_ranks(SIGKILL);
      else {
        terminating_ = true;
        signal_ranks(SIGTERM);
        kill_at_ = clock::now() + kill_grace;
      }
      continue;
    }
    int status = 0;
    for (pid_t pid; (pid = waitpid(-1, &status, WNOHANG)) > 0;) {
      backend_.reaped(pid);
      for (rank_proc& p : ranks_)
        if (p.pid == pid && p.running) {
          p.running = false;
          if (p.rank == 0 && stdin_to_rank0_ >= 0) {
            close(stdin_to_rank0_);
            stdin_to_rank0_ = -1;
          }
          // Its last output first: the launcher judges the exit after reading what it said.
          close_output(p, false);
          close_output(p, true);
          aw::event ev;
          ev.what = aw::event_kind::exited;
          ev.rank = p.rank;
          ev.pid = pid;
          ev.status = status;
          emit(std::move(ev));
        }
    }
  }
}

void agent::on_launcher() {
  zmq::message_t msg;
  while (socket_.recv(msg, zmq::recv_flags::dontwait)) {
    last_heard_ = clock::now();
    const std::string body = msg.to_string();
    if (body.empty()) continue;
    try {
      switch (static_cast<aw::kind>(body[0])) {
        case aw::kind::agent_signal: {
          const int signo = wire::decode<aw::agent_signal>(body).signo;
          if (signo > 0 && signo < 65) signal_ranks(signo);
          break;
        }
        case aw::kind::agent_stdin: {
          auto in = wire::decode<aw::agent_stdin>(body);
          stdin_pending_ += in.bytes;
          if (in.eof) stdin_eof_ = true;
          pump_stdin();
          break;
        }
        default:
          break;  // heartbeats
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "parrun agent on %s: ignored a malformed message from the launcher: %s\n",
                   host_name().c_str(), e.what());
    }
  }
}

void agent::pump_stdin() {
  while (!stdin_pending_.empty() && stdin_to_rank0_ >= 0) {
    const ssize_t n = write(stdin_to_rank0_, stdin_pending_.data(), stdin_pending_.size());
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) {
      stdin_pending_.clear();
      close(stdin_to_rank0_);
      stdin_to_rank0_ = -1;
      return;
    }
    stdin_pending_.erase(0, static_cast<std::size_t>(n));
  }
  if (stdin_pending_.empty() && stdin_eof_ && stdin_to_rank0_ >= 0) {
    close(stdin_to_rank0_);
    stdin_to_rank0_ = -1;
  }
}

void agent::close_output(rank_proc& p, bool is_stderr) {
  output& o = is_stderr ? p.err : p.out;
  if (o.fd < 0) return;
  char buf[65536];
  // Whatever is still in the pipe belongs before its exit.
  for (ssize_t n; (n = read(o.fd, buf, sizeof buf)) > 0;)
    o.lines.feed(std::string_view(buf, static_cast<std::size_t>(n)), [&](std::string_view line) { emit_line(p.rank, is_stderr, line); });
  o.lines.finish([&](std::string_view line) { emit_line(p.rank, is_stderr, line); });
  (void)epoll_ctl(outputs_fd_, EPOLL_CTL_DEL, o.fd, nullptr);
  close(o.fd);
  o.fd = -1;
}

void agent::on_outputs() {
  epoll_event ready[64];
  const int n = epoll_wait(outputs_fd_, ready, 64, 0);
  for (int i = 0; i < n; ++i) {
    rank_proc& p = ranks_[ready[i].data.u64 / 2];
    const bool is_stderr = ready[i].data.u64 % 2 == 1;
    output& o = is_stderr ? p.err : p.out;
    if (o.fd < 0) continue;
    char buf[65536];
    const ssize_t got = read(o.fd, buf, sizeof buf);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (got <= 0) {
      close_output(p, is_stderr);
      continue;
    }
    o.lines.feed(std::string_view(buf, static_cast<std::size_t>(got)), [&](std::string_view line) { emit_line(p.rank, is_stderr, line); });
  }
}

bool agent::outputs_open() const {
  for (const rank_proc& p : ranks_)
    if (p.out.fd >= 0 || p.err.fd >= 0) return true;
  return false;
}

int agent::running() const {
  int n = 0;
  for (const rank_proc& p : ranks_) n += p.running ? 1 : 0;
  return n;
}

void agent::loop() {
  for (;;) {
    const clock::time_point now = clock::now();
    flush_events();
    if (running() == 0) {
      if (!outputs_open() && backlog_.empty()) return;
      if (!drain_until_) drain_until_ = now + output_patience;
      if (now >= *drain_until_) {
        for (rank_proc& p : ranks_) {
          close_output(p, false);
          close_output(p, true);
        }
        flush_events();
        return;  // the socket's linger delivers what is left
      }
    }
    if (!terminating_ && now - last_heard_ > lost_after())
      lost_launcher("no word from it for " + std::to_string(boot_.lost_after_ms / 1000) + " s");
    if (kill_at_ && now >= *kill_at_) {
      signal_ranks(SIGKILL);
      kill_at_.reset();
    }
    if (now >= next_heartbeat_) {
      send(aw::encode(aw::kind::heartbeat, wire::empty{}));
      next_heartbeat_ = now + heartbeat();
    }

    std::vector<zmq::pollitem_t> items{{nullptr, signal_fd_, ZMQ_POLLIN, 0},
                                       {socket_.handle(), 0, static_cast<short>(ZMQ_POLLIN | (backlog_.empty() ? 0 : ZMQ_POLLOUT)), 0}};
    if (backlog_bytes_ < backlog_limit) items.push_back({nullptr, outputs_fd_, ZMQ_POLLIN, 0});
    if (stdin_is_lifeline_) items.push_back({nullptr, STDIN_FILENO, ZMQ_POLLIN, 0});
    if (stdin_to_rank0_ >= 0 && !stdin_pending_.empty()) items.push_back({nullptr, stdin_to_rank0_, ZMQ_POLLOUT, 0});
    clock::time_point wake = std::min(next_heartbeat_, last_heard_ + lost_after());
    if (kill_at_) wake = std::min(wake, *kill_at_);
    if (drain_until_) wake = std::min(wake, *drain_until_);
    const auto wait = std::max<long>(0, std::chrono::ceil<std::chrono::milliseconds>(wake - clock::now()).count());
    try {
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(wait));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      continue;
    }
    if (items[0].revents != 0) on_signal();
    if (items[1].revents != 0) on_launcher();
    for (std::size_t i = 2; i < items.size(); ++i) {
      if (items[i].revents == 0) continue;
      if (items[i].fd == outputs_fd_) on_outputs();
      else if (items[i].fd == STDIN_FILENO && stdin_is_lifeline_) {
        char buf[256];
        const ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
          stdin_is_lifeline_ = false;
          if (!terminating_) lost_launcher("the connection that started this agent closed");
        }
      } else if (items[i].fd == stdin_to_rank0_) pump_stdin();
    }
  }
}

int agent::run(const std::string& check_program) {
  aw::agent_hello hello;
  hello.secret = boot_.secret;
  hello.host_index = boot_.host_index;
  hello.host = host_name();
  hello.pid = getpid();
  hello.parrun_version = PARRUN_VERSION_STRING;
  send(aw::encode(aw::kind::agent_hello, hello));
  if (!check_program.empty()) {
    // --check-hosts: can this host run the program? Said in one note; the launcher judges.
    aw::event ev;
    ev.what = aw::event_kind::note;
    struct stat st {};
    if (stat(check_program.c_str(), &st) != 0) ev.text = "missing " + check_program + ": " + std::strerror(errno);
    else if (S_ISDIR(st.st_mode) || access(check_program.c_str(), X_OK) != 0) ev.text = "cannot execute " + check_program;
    else ev.text = "ok";
    ev.status = ev.text == "ok" ? 0 : 1;
    emit(std::move(ev));
    flush_events();
    // Stay until the launcher has heard us (it answers with a heartbeat), so the linger is not cut short.
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(boot_.lost_after_ms));
    return ev.status;
  }
  const std::optional<aw::agent_start> start = wait_for_start();
  if (!start) return 1;
  last_heard_ = clock::now();
  start_ranks(*start);
  loop();
  flush_events();
  return exit_code_;
}

}  // namespace

int run_agent(const rlimit& rank_open_files, const std::string& check_program) {
  try {
    std::string line;
    bool from_stdin = false;
    if (const char* v = std::getenv(aw::env_bootstrap); v != nullptr && *v != '\0') {
      line = v;
      unsetenv(aw::env_bootstrap);  // the ranks do not need it
    } else {
      line = read_line_from_stdin();
      from_stdin = true;
    }
    aw::bootstrap b = aw::parse_bootstrap_line(line);
    agent a(std::move(b), rank_open_files, from_stdin);
    return a.run(check_program);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parrun agent on %s: error: %s\n", host_name().c_str(), e.what());
    return exit_cannot_start;
  }
}

}  // namespace parrun::launcher
