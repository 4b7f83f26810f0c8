// The job monitor's side of other hosts (job.hpp): starting their agents, hearing them, and
// losing them. Kept apart from job.cpp, which is the same monitor on one host.
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
#include <filesystem>

#include "agent_protocol.hpp"
#include "job.hpp"
#include "report.hpp"

extern char** environ;

namespace parrun::launcher {
namespace {

namespace aw = agent_wire;

// What an agent process has to say for itself: its status and the last line of its stderr
// (ssh's reason, or the agent's own error).
std::string agent_ending(int wait_status, const std::string& last_line) {
  std::string why = describe(from_wait_status(wait_status));
  if (!last_line.empty()) why += ": " + last_line;
  return why;
}

std::string whole_seconds(std::chrono::steady_clock::duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count()) + " s";
}

// "ranks 2, 3 and 5" / "rank 4".
std::string rank_list(const std::vector<int>& ranks) {
  std::string out = ranks.size() == 1 ? "rank " : "ranks ";
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    if (i > 0) out += i + 1 == ranks.size() ? " and " : ", ";
    out += std::to_string(ranks[i]);
  }
  return out;
}

}  // namespace

void job::start_agents() {
  std::vector<int> hosts;
  for (int h = 0; h < static_cast<int>(plan_.hosts.size()); ++h)
    if (!plan_.local[static_cast<std::size_t>(h)] && !plan_.ranks_of(h).empty()) hosts.push_back(h);
  if (hosts.empty() && !options_.check_hosts) return;  // one host: nothing below runs
  remote_.assign(plan_.hosts.size(), remote_host{});
  if (options_.check_hosts) {
    hosts.clear();
    for (int h = 0; h < static_cast<int>(plan_.hosts.size()); ++h)
      if (!plan_.local[static_cast<std::size_t>(h)]) hosts.push_back(h);
  }
  std::vector<std::string> agent{self_, "--agent"};
  if (options_.check_hosts) {
    agent.emplace_back("--check");
    agent.push_back(path_);
  }
  if (plan_.how.kind == launch_kind::slurm) {
    std::vector<std::string> names;
    for (int h : hosts) names.push_back(plan_.hosts[static_cast<std::size_t>(h)].name);
    start_agent_process(srun_agents_command(names, agent), hosts, true);
  } else {
    for (int h : hosts)
      start_agent_process(agent_command(plan_.how, plan_.hosts[static_cast<std::size_t>(h)].name, agent), {h}, false);
  }
  next_heartbeat_ = clock::now() + heartbeat_every_;
}

void job::start_agent_process(const std::vector<std::string>& argv, std::vector<int> hosts, bool slurm) {
  aw::bootstrap b;
  b.rendezvous = rendezvous_.address();
  b.secret = secret_;
  b.curve_public = curve_.public_key;
  b.curve_secret = curve_.secret_key;
  b.host_index = slurm ? -1 : hosts.front();
  b.heartbeat_ms = static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(heartbeat_every_).count());
  b.lost_after_ms = static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(host_lost_after_).count());
  const std::string line = aw::bootstrap_line(b);

  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  // srun hands every task the same stdin: the bootstrap goes in srun's environment instead,
  // which only this user can read (and which --export=ALL passes on to the agents).
  if (slurm) env.push_back(std::string(aw::env_bootstrap) + "=" + line);
  const char* path_var = std::getenv("PATH");
  std::string path;
  try {
    path = resolve_program(argv.front(), path_var != nullptr ? path_var : "/usr/bin:/bin");
  } catch (const start_failure& e) {
    throw start_failure(std::string("cannot start the other hosts' agents: ") + e.what(), exit_cannot_start);
  }
  const rank_process p = agents_backend_.start(path, argv, env, !slurm);
  agent_process ap;
  ap.pid = p.pid;
  ap.running = true;
  ap.hosts = hosts;
  ap.out.fd = p.stdout_fd;
  ap.err.fd = p.stderr_fd;
  ap.stdin_fd = p.stdin_fd;
  if (ap.stdin_fd >= 0) {
    // A few hundred bytes into an empty pipe: it fits. The pipe then stays open: its end tells
    // the agent that we are gone.
    const std::string text = line + "\n";
    if (write(ap.stdin_fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
      throw start_failure("cannot hand the agent of " + plan_.hosts[static_cast<std::size_t>(hosts.front())].name +
                              " its bootstrap: " + std::strerror(errno),
                          exit_cannot_start);
  }
  const int index = static_cast<int>(agent_processes_.size());
  agent_processes_.push_back(std::move(ap));
  for (int stream = 0; stream < 2; ++stream) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<std::uint64_t>(options_.np + index) * 2 + static_cast<std::uint64_t>(stream);
    const int fd = stream == 0 ? agent_processes_.back().out.fd : agent_processes_.back().err.fd;
    if (epoll_ctl(outputs_fd_, EPOLL_CTL_ADD, fd, &ev) != 0)
      throw std::runtime_error(std::string("epoll_ctl: ") + std::strerror(errno));
  }
  for (int h : hosts) {
    remote_[static_cast<std::size_t>(h)].process = index;
    remote_[static_cast<std::size_t>(h)].ranks = plan_.ranks_of(h);
    remote_[static_cast<std::size_t>(h)].last_heard = clock::now();
  }
}

void job::on_agent_message(const std::string& routing_id, const std::string& body) {
  const auto k = static_cast<aw::kind>(body[0]);
  if (k == aw::kind::agent_hello) return on_agent_hello(routing_id, body);
  for (int h = 0; h < static_cast<int>(remote_.size()); ++h) {
    remote_host& host = remote_[static_cast<std::size_t>(h)];
    if (!host.connected || host.routing_id != routing_id) continue;
    host.last_heard = clock::now();
    if (k == aw::kind::agent_events) {
      try {
        on_agent_events(h, body);
      } catch (const std::exception& e) {
        note("parrun: ignored a malformed message from the agent of " + plan_.hosts[static_cast<std::size_t>(h)].name +
             ": " + e.what());
      }
    }
    return;
  }
}

void job::on_agent_hello(const std::string& routing_id, const std::string& body) {
  auto refuse = [&](const std::string& why) {
    rendezvous_.send(routing_id, wire::encode(wire::kind::refused, wire::refused{why}));
  };
  aw::agent_hello hello;
  try {
    hello = wire::decode<aw::agent_hello>(body);
  } catch (const std::exception& e) {
    return refuse(std::string("malformed hello: ") + e.what());
  }
  if (hello.version != aw::version)
    return refuse("agent protocol " + std::to_string(hello.version) + " does not match the launcher's " +
                  std::to_string(aw::version) + " (mixed parrun installations?)");
  if (hello.secret != secret_) return refuse("wrong job secret");
  // Agents started one per host know their index; one srun step's agents know their node's name.
  int h = hello.host_index;
  if (h < 0)
    for (int i = 0; i < static_cast<int>(remote_.size()) && h < 0; ++i)
      if (!remote_[static_cast<std::size_t>(i)].connected && remote_[static_cast<std::size_t>(i)].process >= 0 &&
          plan_.hosts[static_cast<std::size_t>(i)].name == hello.host)
        h = i;
  if (h < 0 || h >= static_cast<int>(remote_.size()) || remote_[static_cast<std::size_t>(h)].process < 0 ||
      remote_[static_cast<std::size_t>(h)].connected)
    return refuse("host '" + hello.host + "' is not one this job waits for");
  remote_host& host = remote_[static_cast<std::size_t>(h)];
  host.connected = true;
  host.routing_id = routing_id;
  host.last_heard = clock::now();
  host.agent_version = hello.parrun_version;
  if (options_.check_hosts) return;  // it reports and leaves; nothing to start

  aw::agent_start start;
  // As mpirun does: the same program and working directory as here (a relative path means the
  // same thing there only after the agent enters that directory).
  std::error_code ec;
  start.program = std::filesystem::absolute(path_, ec).string();
  start.cwd = std::filesystem::current_path(ec).string();
  start.argv = {options_.program};
  start.argv.insert(start.argv.end(), options_.args.begin(), options_.args.end());
  // Another host's environment is its own (ssh gives it a fresh one): it gets what -x names,
  // and parrun's own settings.
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    if (entry.rfind("PARRUN_", 0) == 0 && entry.rfind(aw::env_bootstrap, 0) != 0 && entry.rfind("PARRUN_SSH=", 0) != 0)
      start.env.push_back(entry);
  }
  for (const auto& [name, value] : options_.env) start.env.push_back(name + "=" + value);
  start.ranks.assign(host.ranks.begin(), host.ranks.end());
  start.size = options_.np;
  start.job_id = job_id_;
  start.iface = options_.iface;
  start.ports = options_.ports;
  start.rank0_stdin = stdin_host_ == h;
  start.host_index = h;
  rendezvous_.send(routing_id, aw::encode(aw::kind::agent_start, start));
}

void job::on_agent_events(int h, const std::string& body) {
  const auto events = wire::decode<aw::agent_events>(body);
  for (const aw::event& e : events.events) {
    if (e.what == aw::event_kind::note) {
      remote_[static_cast<std::size_t>(h)].check = e.text;
      continue;
    }
    if (e.rank < 0 || e.rank >= options_.np) continue;
    rank_state& r = ranks_[static_cast<std::size_t>(e.rank)];
    if (!r.remote || r.host != h) continue;  // not this agent's rank: ignore
    switch (e.what) {
      case aw::event_kind::started:
        r.pid = static_cast<pid_t>(e.pid);
        break;
      case aw::event_kind::output:
        (e.stream == 2 ? err_ : out_).push(prefix(e.rank), e.text);
        break;
      case aw::event_kind::exited:
        if (r.running) on_rank_exit(e.rank, e.status);
        break;
      case aw::event_kind::start_failed:
        if (!r.running) break;
        r.running = false;
        fail(e.rank, "could not start: " + e.text, e.status);
        break;
      default:
        break;
    }
  }
}

void job::on_agent_process_exit(int index, int wait_status) {
  agent_process& ap = agent_processes_[static_cast<std::size_t>(index)];
  ap.running = false;
  ap.status = wait_status;
  ap.exited_at = clock::now();
  if (ap.stdin_fd >= 0) close(ap.stdin_fd);
  ap.stdin_fd = -1;
}

void job::watch_hosts(clock::time_point now) {
  if (next_heartbeat_ && now >= *next_heartbeat_) {
    const std::string beat = aw::encode(aw::kind::heartbeat, wire::empty{});
    for (const remote_host& host : remote_)
      if (host.connected && !host.lost) rendezvous_.send(host.routing_id, beat);
    next_heartbeat_ = now + heartbeat_every_;
  }
  for (int h = 0; h < static_cast<int>(remote_.size()); ++h) {
    remote_host& host = remote_[static_cast<std::size_t>(h)];
    if (host.lost || host.process < 0) continue;
    const bool busy = std::any_of(host.ranks.begin(), host.ranks.end(),
                                  [&](int r) { return ranks_[static_cast<std::size_t>(r)].running; });
    if (!busy) continue;
    const agent_process& ap = agent_processes_[static_cast<std::size_t>(host.process)];
    // An agent that exited had a moment to deliver its last events (they travel apart from its
    // exit): what is still running then is lost.
    if (ap.exited_at && now >= *ap.exited_at + std::chrono::seconds(1)) {
      lose_host(h, std::string(host.connected ? "its agent" : "its agent could not start; it") + " " +
                       agent_ending(ap.status, ap.last_line));
    } else if (host.connected && now - host.last_heard > host_lost_after_) {
      lose_host(h, "no heartbeat from its agent for " + whole_seconds(now - host.last_heard) +
                       ": the host is down or the network to it is cut");
    } else if (!host.connected && now - host.last_heard > agent_patience_) {
      lose_host(h, "its agent did not connect back to this launcher at " + rendezvous_.address() + " within " +
                       whole_seconds(agent_patience_) + " (can the host reach this address? --iface chooses it)");
    }
  }
}

void job::lose_host(int h, const std::string& why) {
  remote_host& host = remote_[static_cast<std::size_t>(h)];
  host.lost = true;
  const agent_process& ap = agent_processes_[static_cast<std::size_t>(host.process)];
  if (ap.running && ap.hosts.size() == 1) kill(ap.pid, SIGKILL);  // its end tells the agent to kill its ranks
  std::vector<int> lost;
  for (int r : host.ranks) {
    rank_state& s = ranks_[static_cast<std::size_t>(r)];
    if (s.running) {
      s.running = false;
      lost.push_back(r);
    }
  }
  if (lost.empty() || terminating_) return;
  const std::string what =
      "was lost with host " + plan_.hosts[static_cast<std::size_t>(h)].name + " (" + why + "; " + rank_list(lost) + " lost)";
  if (options_.continue_on_failure && rendezvous_.all_joined())
    for (std::size_t i = 1; i < lost.size(); ++i) rendezvous_.announce_lost(lost[i], what);
  fail(lost.front(), what, exit_host_lost);
}

void job::signal_remote(int signo) {
  for (remote_host& host : remote_) {
    if (host.lost || host.process < 0) continue;
    if (host.connected) {
      rendezvous_.send(host.routing_id, aw::encode(aw::kind::agent_signal, aw::agent_signal{signo}));
    } else {
      // Not connected yet: stop whatever is starting it (ssh's end stops the agent too).
      const agent_process& ap = agent_processes_[static_cast<std::size_t>(host.process)];
      if (ap.running) kill(ap.pid, signo == SIGKILL ? SIGKILL : SIGTERM);
    }
  }
}

bool job::agents_running() const {
  return std::any_of(agent_processes_.begin(), agent_processes_.end(), [](const agent_process& a) { return a.running; });
}

int job::check_hosts() {
  // Every host of the plan: ours are checked here, the others by an agent that reports back.
  struct stat_result {
    bool ok;
    std::string what;
  };
  int failed = 0;
  std::vector<std::optional<stat_result>> results(plan_.hosts.size());
  for (std::size_t h = 0; h < plan_.hosts.size(); ++h)
    if (plan_.local[h]) results[h] = stat_result{access(path_.c_str(), X_OK) == 0, "this host"};
  try {
    start_agents();
  } catch (const std::exception& e) {
    note(std::string("parrun: error: ") + e.what());
    flush_outputs_blocking();
    return exit_cannot_start;
  }
  const clock::time_point give_up = clock::now() + agent_patience_;
  auto pending = [&] {
    for (std::size_t h = 0; h < plan_.hosts.size(); ++h) {
      if (results[h]) continue;
      const remote_host& host = remote_[h];
      const agent_process& ap = agent_processes_[static_cast<std::size_t>(host.process)];
      if (host.check) {
        results[h] = stat_result{*host.check == "ok", *host.check};
        rendezvous_.send(host.routing_id, aw::encode(aw::kind::heartbeat, wire::empty{}));  // heard: it may go
      } else if (ap.exited_at && clock::now() >= *ap.exited_at + std::chrono::milliseconds(500)) {
        results[h] = stat_result{false, std::string(host.connected ? "its agent " : "cannot start an agent there: ") +
                                            agent_ending(ap.status, ap.last_line)};
      } else if (clock::now() >= give_up) {
        results[h] = stat_result{false, host.connected ? "its agent did not report"
                                                       : "no agent connected back to " + rendezvous_.address() + " within " +
                                                             whole_seconds(agent_patience_)};
      }
    }
    return std::any_of(results.begin(), results.end(), [](const auto& r) { return !r.has_value(); });
  };
  while (pending()) {
    zmq::pollitem_t items[] = {{nullptr, signal_fd_, ZMQ_POLLIN, 0},
                               {rendezvous_.socket_handle(), 0, ZMQ_POLLIN, 0},
                               {nullptr, outputs_fd_, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 3, std::chrono::milliseconds(100));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
    }
    if (items[0].revents != 0) {
      signalfd_siginfo info{};
      while (read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        if (info.ssi_signo != SIGCHLD) return 128 + static_cast<int>(info.ssi_signo);
        int status = 0;
        for (pid_t pid; (pid = waitpid(-1, &status, WNOHANG)) > 0;) {
          agents_backend_.reaped(pid);
          for (std::size_t i = 0; i < agent_processes_.size(); ++i)
            if (agent_processes_[i].pid == pid) on_agent_process_exit(static_cast<int>(i), status);
        }
      }
    }
    if (items[1].revents != 0) (void)rendezvous_.handle_incoming();
    if (items[2].revents != 0) forward_ready_outputs();
    out_.write_ready();
    err_.write_ready();
  }
  for (std::size_t h = 0; h < plan_.hosts.size(); ++h) {
    const stat_result& r = *results[h];
    std::string line = "parrun: check-hosts: " + plan_.hosts[h].name + ": ";
    if (r.ok) {
      line += "ok (" + (plan_.local[h] ? std::string("this host") : "parrun " + remote_[h].agent_version + ", reached " + rendezvous_.address()) + ", " + path_ + " runs)";
    } else {
      ++failed;
      line += "FAILED: " + (plan_.local[h] ? "cannot execute " + path_ + " here" : r.what);
    }
    out_.push("", line);
  }
  flush_outputs_blocking();
  return failed == 0 ? 0 : 1;
}

}  // namespace parrun::launcher
