#include "spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <parrun/wire.hpp>

namespace parrun::launcher {
namespace {

void set_var(std::vector<std::string>& env, const std::string& name, const std::string& value) {
  const std::string prefix = name + "=";
  for (std::string& entry : env)
    if (entry.compare(0, prefix.size(), prefix) == 0) {
      entry = prefix + value;
      return;
    }
  env.push_back(prefix + value);
}

struct pipe_pair {
  int read = -1;
  int write = -1;
};

pipe_pair make_pipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  return {fds[0], fds[1]};
}

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const std::string& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// In the child, between fork and exec: async-signal-safe calls only (the launcher has ZeroMQ
// threads).
[[noreturn]] void become_rank(pid_t launcher, pid_t group, int in, int out, int err, int report,
                              const char* path, char* const* argv, char* const* envp) {
  setpgid(0, group);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != launcher) _exit(127);  // the launcher died before prctl took effect
  dup2(in, STDIN_FILENO);
  dup2(out, STDOUT_FILENO);
  dup2(err, STDERR_FILENO);
  // The launcher blocks and ignores signals for its own loop; a rank starts with the defaults.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaction(s, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execve(path, argv, envp);
  int e = errno;
  ssize_t ignored = write(report, &e, sizeof e);
  (void)ignored;
  _exit(127);
}

// The watchdog, between fork and _exit: async-signal-safe calls only. It waits for the end of
// the pipe (the launcher closed it or died) and then kills the ranks' process group.
[[noreturn]] void watch_over(int pipe_fd, pid_t group) {
  setsid();  // not in the launcher's process group: a kill of that group does not reach it
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) sigaction(s, &ignore, nullptr);
  // Hold nothing of the job's open: the ranks' output pipes must see their end without us.
  if (pipe_fd != 3) {
    dup2(pipe_fd, 3);
    pipe_fd = 3;
  }
  close_range(4, ~0U, 0);
  for (int fd = 0; fd < 3; ++fd) close(fd);
  char byte;
  while (read(pipe_fd, &byte, 1) != 0) {
  }
  killpg(group, SIGKILL);
  _exit(0);
}

}  // namespace

local_backend::~local_backend() {
  if (watchdog_fd_ >= 0) close(watchdog_fd_);
}

void local_backend::start_watchdog() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    close(fds[1]);
    watch_over(fds[0], group_);
  }
  close(fds[0]);
  watchdog_fd_ = fds[1];
}

std::vector<std::string> rank_environment(const std::vector<std::string>& inherited,
                                          const std::vector<std::pair<std::string, std::string>>& overrides,
                                          const contract& c) {
  std::vector<std::string> env = inherited;
  for (const auto& [name, value] : overrides) set_var(env, name, value);
  set_var(env, wire::env_rank, std::to_string(c.rank));
  set_var(env, wire::env_size, std::to_string(c.size));
  set_var(env, wire::env_local_rank, std::to_string(c.local_rank));
  set_var(env, wire::env_local_size, std::to_string(c.local_size));
  set_var(env, wire::env_rendezvous, c.rendezvous);
  set_var(env, wire::env_secret, c.secret);
  set_var(env, wire::env_job_id, c.job_id);
  return env;
}

rank_process local_backend::start(const std::string& path, const std::vector<std::string>& argv,
                                  const std::vector<std::string>& env, bool gets_stdin) {
  pipe_pair out = make_pipe(), err = make_pipe(), report = make_pipe();
  pipe_pair in{-1, -1};
  if (gets_stdin) in = make_pipe();
  else in.read = open("/dev/null", O_RDONLY | O_CLOEXEC);
  std::vector<char*> args = c_strings(argv), envp = c_strings(env);
  const pid_t launcher = getpid();

  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0)
    become_rank(launcher, group_, in.read, out.write, err.write, report.write, path.c_str(),
                args.data(), envp.data());
  const bool first = group_ == 0;
  if (first) group_ = pid;
  setpgid(pid, group_);  // also here, so that the group exists before we signal it
  if (first) start_watchdog();
  close(out.write);
  close(err.write);
  close(report.write);
  close(in.read);

  int exec_errno = 0;
  ssize_t n = read(report.read, &exec_errno, sizeof exec_errno);  // EOF: exec succeeded
  close(report.read);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    close(out.read);
    close(err.read);
    if (in.write >= 0) close(in.write);
    throw std::runtime_error("could not execute " + path + ": " + std::strerror(exec_errno));
  }
  for (int fd : {out.read, err.read}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  if (in.write >= 0) fcntl(in.write, F_SETFL, fcntl(in.write, F_GETFL) | O_NONBLOCK);
  return {pid, out.read, err.read, in.write};
}

}  // namespace parrun::launcher
