#include "spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include <parrun/wire.hpp>

#include "report.hpp"

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
                              const rlimit& open_files, const char* path, char* const* argv,
                              char* const* envp) {
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
  // The limit the user gave parrun, not the one it raised for itself: a program that uses
  // select() breaks on descriptors above 1024.
  setrlimit(RLIMIT_NOFILE, &open_files);
  execve(path, argv, envp);
  int e = errno;
  ssize_t ignored = write(report, &e, sizeof e);
  (void)ignored;
  _exit(127);
}

// Unlinks `files`, then removes `dir`. A rank killed in the middle of bind() may still add its
// socket just after we unlinked it: then the directory is not empty yet, and we try again.
void remove_doomed(const char* const* files, const char* dir) {
  if (dir == nullptr) return;
  for (int attempt = 0; attempt < 10; ++attempt) {
    for (const char* const* f = files; *f != nullptr; ++f) unlink(*f);
    if (rmdir(dir) == 0 || errno != ENOTEMPTY) return;
    const timespec pause{0, 20'000'000};
    nanosleep(&pause, nullptr);
  }
}

// The watchdog, between fork and _exit: async-signal-safe calls only. It waits for the end of
// the pipe (the launcher closed it or died) and then kills the ranks' process group and
// removes the files it was given (prepared before the fork: no allocation here).
[[noreturn]] void watch_over(int pipe_fd, pid_t group, const char* const* files, const char* dir) {
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
  remove_doomed(files, dir);
  _exit(0);
}

}  // namespace

int blocked_signal_fd() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  const int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) throw std::runtime_error(std::string("signalfd: ") + std::strerror(errno));
  return fd;
}

local_backend::local_backend(rlimit rank_open_files) : rank_open_files_(rank_open_files) {}

local_backend::~local_backend() { stop_watchdog(); }

void local_backend::remove_on_launcher_death(std::vector<std::string> files, std::string dir) {
  doomed_files_ = std::move(files);
  doomed_dir_ = std::move(dir);
}

void local_backend::start_watchdog() {
  // Everything the watchdog will need, laid out now: after fork it may not allocate.
  std::vector<const char*> files;
  files.reserve(doomed_files_.size() + 1);
  for (const std::string& f : doomed_files_) files.push_back(f.c_str());
  files.push_back(nullptr);
  const char* dir = doomed_dir_.empty() ? nullptr : doomed_dir_.c_str();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    close(fds[1]);
    watch_over(fds[0], group_, files.data(), dir);
  }
  close(fds[0]);
  watchdog_fd_ = fds[1];
  watchdog_pid_ = pid;
}

void local_backend::reaped(pid_t pid) noexcept {
  if (pid == watchdog_pid_) watchdog_pid_ = -1;
}

void local_backend::stop_watchdog() noexcept {
  if (watchdog_fd_ >= 0) close(watchdog_fd_);
  watchdog_fd_ = -1;
  // It exits as soon as it has killed the group and unlinked a few files: wait for it, or it
  // stays a zombie once we are gone, for whoever inherits it to reap.
  while (watchdog_pid_ > 0) {
    if (waitpid(watchdog_pid_, nullptr, 0) >= 0 || errno != EINTR) watchdog_pid_ = -1;
  }
}

std::vector<std::string> rank_environment(const std::vector<std::string>& inherited,
                                          const std::vector<std::pair<std::string, std::string>>& overrides,
                                          const contract& c) {
  std::vector<std::string> env = inherited;
  for (const auto& [name, value] : overrides) set_var(env, name, value);
  for (const auto& [name, value] : c.variables()) set_var(env, name, value);
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
    become_rank(launcher, group_, in.read, out.write, err.write, report.write, rank_open_files_,
                path.c_str(), args.data(), envp.data());
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
    // It _exits right after the report: reap it here, for nobody else knows its pid.
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    // As a shell says it: 127 when something it needs is missing (a script's interpreter, or
    // the program gone since we looked), 126 when it exists but cannot run.
    throw start_failure("could not execute " + path + ": " + std::strerror(exec_errno),
                        exec_errno == ENOENT ? exit_not_found : exit_cannot_invoke);
  }
  for (int fd : {out.read, err.read}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  if (in.write >= 0) fcntl(in.write, F_SETFL, fcntl(in.write, F_GETFL) | O_NONBLOCK);
  return {pid, out.read, err.read, in.write};
}

}  // namespace parrun::launcher
