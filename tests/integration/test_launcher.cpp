// The real `parrun` as a user runs it: its options, the environment every rank gets, output and
// input forwarding, how each kind of failure ends the job (report line, exit code), signals,
// --timeout, and that no process of a job outlives it, however it ended.
//
// Each test starts parrun as a child in its own process group (killed as a whole if the test's
// own time limit passes) with a unique marker variable in its environment; every rank inherits
// it, so after the job ends the test can scan /proc for anything of that job still alive. The
// ranks are tests/integration/jobs/launcher_job.cpp (see its modes).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#ifndef PARRUN_EXE
#error "PARRUN_EXE (the parrun launcher under test) must be defined"
#endif
#ifndef LAUNCHER_JOB_EXE
#error "LAUNCHER_JOB_EXE (tests/integration/jobs/launcher_job.cpp) must be defined"
#endif


namespace fs = std::filesystem;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

const std::string parrun = PARRUN_EXE;
const std::string job = LAUNCHER_JOB_EXE;
constexpr const char* marker_name = "PARRUN_LAUNCHER_TEST_MARKER";

// parrun's own exit codes when it cannot run the job (the README's, which are coreutils').
constexpr int exit_usage_error = 125;    // bad command line, or the job could not start
constexpr int exit_cannot_invoke = 126;  // the program exists but cannot be executed
constexpr int exit_not_found = 127;      // the program is not there

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) {
      out.push_back(text.substr(start));
      break;
    }
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Text for a failure message: long outputs are cut, so a failure never prints megabytes.
std::string shown(const std::string& text) {
  if (text.size() <= 4000) return text;
  return text.substr(0, 2000) + "\n[... " + std::to_string(text.size() - 4000) + " bytes ...]\n" +
         text.substr(text.size() - 2000);
}

std::string this_host() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

// How a parrun run ended.
struct outcome {
  bool exited = false;    // false: killed by a signal (or still running at the limit)
  int code = -1;          // exit code when exited
  int signal = 0;         // signal number when killed
  bool timed_out = false; // the test's own limit passed and the group was killed
  std::string out, err;
  double seconds = 0;     // from start to exit

  std::string describe() const {
    std::ostringstream s;
    if (timed_out) s << "TIMED OUT (killed by the test)\n";
    if (exited) s << "exit code " << code;
    else s << "killed by signal " << signal;
    s << " after " << seconds << " s\n--- stdout ---\n" << shown(out) << "--- stderr ---\n" << shown(err);
    return s.str();
  }
};

// parrun (or anything) running as a child in its own process group, with pipes for stdin,
// stdout and stderr that the test pumps itself.
class child {
 public:
  struct options {
    std::string input;                 // written to its stdin, which is then closed
    std::vector<std::string> env;      // "NAME=VALUE" to set, "-NAME" to unset
    bool close_stdout_at_once = false; // the reader of its stdout goes away at once
    bool read_stdout = true;           // false: its stdout is never read (a stalled consumer)
  };

  child(const std::vector<std::string>& argv, options opt, std::string marker)
      : input_(std::move(opt.input)), marker_(std::move(marker)), read_stdout_(opt.read_stdout) {
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe failed");
    started_ = clock_type::now();
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      setpgid(0, 0);
      dup2(in[0], 0);
      dup2(out[1], 1);
      dup2(err[1], 2);
      signal(SIGPIPE, SIG_DFL);
      setenv(marker_name, marker_.c_str(), 1);
      for (const std::string& e : opt.env) {
        if (!e.empty() && e[0] == '-') {
          unsetenv(e.c_str() + 1);
        } else {
          const auto eq = e.find('=');
          setenv(e.substr(0, eq).c_str(), e.substr(eq + 1).c_str(), 1);
        }
      }
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
      _exit(127);
    }
    setpgid(pid_, pid_);  // also here: the group must exist before we might signal it
    close(in[0]);
    close(out[1]);
    close(err[1]);
    stdin_ = in[1];
    out_ = out[0];
    err_ = err[0];
    for (int fd : {stdin_, out_, err_}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (opt.close_stdout_at_once) close_fd(out_);
    if (input_.empty()) close_fd(stdin_);
  }

  ~child() {
    if (!reaped_) {
      kill(-pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
    for (int* fd : {&stdin_, &out_, &err_}) close_fd(*fd);
  }

  child(const child&) = delete;
  child& operator=(const child&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& out() const { return result_.out; }
  const std::string& err() const { return result_.err; }
  bool running() const { return !reaped_; }

  // Pumps the pipes until `ready()` holds; false when the child ended first or `limit` passed.
  bool wait_until(const std::function<bool()>& ready, std::chrono::duration<double> limit) {
    const auto deadline = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(limit);
    for (;;) {
      if (ready()) return true;
      if (reaped_ || clock_type::now() >= deadline) return false;
      pump(20ms);
    }
  }

  // Waits for the child to end and its output to close; kills its group when `limit` passes.
  outcome finish(std::chrono::duration<double> limit = 45s) {
    const auto deadline = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(limit);
    while (!reaped_ && clock_type::now() < deadline) pump(20ms);
    if (!reaped_) {
      result_.timed_out = true;
      kill(-pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
      record(status);
    }
    // What it wrote just before it ended; nothing else holds these pipes, so EOF comes soon.
    const auto drain_until = clock_type::now() + 5s;
    while (((read_stdout_ && out_ >= 0) || err_ >= 0) && clock_type::now() < drain_until) pump(20ms);
    close_fd(stdin_);
    return result_;
  }

 private:
  static void close_fd(int& fd) {
    if (fd >= 0) close(fd);
    fd = -1;
  }

  void record(int status) {
    reaped_ = true;
    result_.seconds = seconds_since(started_);
    if (WIFEXITED(status)) {
      result_.exited = true;
      result_.code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      result_.signal = WTERMSIG(status);
    }
  }

  void pump(std::chrono::milliseconds wait) {
    std::vector<pollfd> fds;
    if (out_ >= 0 && read_stdout_) fds.push_back({out_, POLLIN, 0});
    if (err_ >= 0) fds.push_back({err_, POLLIN, 0});
    if (stdin_ >= 0) fds.push_back({stdin_, POLLOUT, 0});
    if (!fds.empty()) poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
    else std::this_thread::sleep_for(wait);
    if (read_stdout_) read_from(out_, result_.out);
    read_from(err_, result_.err);
    if (stdin_ >= 0) {
      ssize_t n = write(stdin_, input_.data() + written_, input_.size() - written_);
      if (n > 0) written_ += static_cast<std::size_t>(n);
      if (written_ == input_.size() || (n < 0 && errno != EAGAIN && errno != EINTR)) close_fd(stdin_);
    }
    if (!reaped_) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        record(status);
        close_fd(stdin_);  // nobody will read the rest
      }
    }
  }

  static void read_from(int& fd, std::string& into) {
    if (fd < 0) return;
    char buf[65536];
    for (;;) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n > 0) {
        into.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      close_fd(fd);  // EOF
      return;
    }
  }

  std::string input_;
  std::size_t written_ = 0;
  std::string marker_;
  bool read_stdout_ = true;
  pid_t pid_ = -1;
  int stdin_ = -1, out_ = -1, err_ = -1;
  bool reaped_ = false;
  clock_type::time_point started_;
  outcome result_;
};

// --- processes left behind --------------------------------------------------------------

// The state letter of /proc/PID/stat (after the command name, which may hold spaces and parens).
char process_state(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return '?';
  return stat[paren + 2];
}

std::string command_line(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/cmdline");
  std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(cmd.begin(), cmd.end(), '\0', ' ');
  return cmd;
}

// Live processes whose environment carries `marker`. A zombie counts as gone: it runs nothing,
// and on this machine PID 1 reaps orphaned zombies only after a while.
std::vector<pid_t> live_with_marker(const std::string& marker) {
  const std::string entry = std::string(marker_name) + "=" + marker;
  std::vector<pid_t> found;
  std::error_code ec;
  for (const auto& d : fs::directory_iterator("/proc", ec)) {
    const std::string name = d.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) continue;
    std::ifstream in("/proc/" + name + "/environ");
    std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    bool has = false;
    for (std::size_t start = 0; start < env.size();) {
      std::size_t end = env.find('\0', start);
      if (end == std::string::npos) end = env.size();
      if (env.compare(start, end - start, entry) == 0) has = true;
      start = end + 1;
    }
    if (!has) continue;
    const char state = process_state(name);
    if (state == 'Z' || state == 'X' || state == '?') continue;
    found.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return found;
}

// The launcher's own lines ("parrun: ...") on stderr.
std::vector<std::string> parrun_lines(const std::string& err) {
  std::vector<std::string> out;
  for (const std::string& l : lines_of(err))
    if (l.rfind("parrun:", 0) == 0) out.push_back(l);
  return out;
}

// --- the fixture ------------------------------------------------------------------------------

class launcher : public testing::Test {
 protected:
  // A parrun that stops reading its stdin must not kill the test with SIGPIPE.
  void SetUp() override { signal(SIGPIPE, SIG_IGN); }

  // Starts `parrun args...`.
  std::unique_ptr<child> start(const std::vector<std::string>& args, child::options opt = {}) {
    std::vector<std::string> argv{parrun};
    argv.insert(argv.end(), args.begin(), args.end());
    std::random_device rd;
    const std::string marker = std::to_string(getpid()) + "-" + std::to_string(markers_.size()) + "-" +
                               std::to_string(rd());
    markers_.push_back(marker);
    return std::make_unique<child>(argv, std::move(opt), marker);
  }

  // Runs `parrun args...` to its end.
  outcome run(const std::vector<std::string>& args, child::options opt = {},
              std::chrono::duration<double> limit = 45s) {
    return start(args, std::move(opt))->finish(limit);
  }

  // After every test: nothing started by any of its jobs is still alive (a process that is
  // being killed gets a few seconds to die). Leftovers are killed so they cannot disturb
  // the next test.
  void TearDown() override {
    for (const std::string& marker : markers_) {
      const auto deadline = clock_type::now() + 5s;
      std::vector<pid_t> left = live_with_marker(marker);
      while (!left.empty() && clock_type::now() < deadline) {
        std::this_thread::sleep_for(50ms);
        left = live_with_marker(marker);
      }
      for (pid_t p : left) {
        ADD_FAILURE() << "orphan: pid " << p << " (" << command_line(std::to_string(p))
                      << ") is still alive 5 s after its job ended";
        kill(p, SIGKILL);
      }
    }
  }

  // The "ready R PID" lines of the `block`, `stubborn` and `hang` modes.
  static std::map<int, pid_t> ready_ranks(const std::string& out) {
    std::map<int, pid_t> ranks;
    static const std::regex ready(R"(^ready (\d+) (\d+)$)");
    for (const std::string& l : lines_of(out)) {
      std::smatch m;
      if (std::regex_match(l, m, ready)) ranks[std::stoi(m[1])] = static_cast<pid_t>(std::stol(m[2]));
    }
    return ranks;
  }

  // Starts `parrun -n np [extra...] command...` and waits until every rank said "ready R PID".
  std::unique_ptr<child> start_ready_command(int np, const std::vector<std::string>& extra,
                                             const std::vector<std::string>& command,
                                             std::map<int, pid_t>& ranks, child::options opt = {}) {
    std::vector<std::string> args{"-n", std::to_string(np)};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), command.begin(), command.end());
    auto c = start(args, std::move(opt));
    const bool ready = c->wait_until([&] { return static_cast<int>(ready_ranks(c->out()).size()) == np; }, 30s);
    EXPECT_TRUE(ready) << "not every rank became ready\n--- stdout ---\n" << shown(c->out())
                       << "--- stderr ---\n" << shown(c->err());
    ranks = ready_ranks(c->out());
    return c;
  }

  // The same with launcher_job in `mode`.
  std::unique_ptr<child> start_ready(int np, const std::vector<std::string>& extra,
                                     const std::vector<std::string>& mode, std::map<int, pid_t>& ranks,
                                     child::options opt = {}) {
    std::vector<std::string> command{job};
    command.insert(command.end(), mode.begin(), mode.end());
    return start_ready_command(np, extra, command, ranks, std::move(opt));
  }

  // Runs `sh -c script` (which execs parrun, say, under a lower ulimit) to its end; "$PARRUN"
  // and "$JOB" in the script are parrun and launcher_job.
  outcome run_shell(const std::string& script, std::chrono::duration<double> limit = 45s) {
    std::random_device rd;
    const std::string marker = std::to_string(getpid()) + "-" + std::to_string(markers_.size()) + "-" +
                               std::to_string(rd());
    markers_.push_back(marker);
    child::options opt;
    opt.env = {"PARRUN=" + parrun, "JOB=" + job};
    return child({"/bin/sh", "-c", script}, std::move(opt), marker).finish(limit);
  }

  std::vector<std::string> markers_;
};

// A temporary directory, removed with everything in it.
struct temp_dir {
  fs::path path;
  temp_dir() {
    char pattern[] = "/tmp/parrun-launcher-test-XXXXXX";
    if (mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::size_t entries() const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(path), fs::directory_iterator()));
  }
};

// The report line of a failing rank: `parrun: rank R (pid P on HOST) WHAT; TAIL`. Checks that it
// is the launcher's only line, that P is the pid rank R printed, and HOST this machine.
void expect_report(const outcome& o, int rank, const std::string& what, const std::string& tail,
                   const std::map<int, pid_t>& pids = {}) {
  const std::vector<std::string> lines = parrun_lines(o.err);
  ASSERT_EQ(lines.size(), 1u) << "exactly one report line\n" << o.describe();
  static const std::regex report(R"(^parrun: rank (\d+) \(pid (\d+) on ([^)]+)\) (.*)$)");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(lines[0], m, report)) << lines[0];
  EXPECT_EQ(std::stoi(m[1]), rank) << lines[0];
  if (auto it = pids.find(rank); it != pids.end()) {
    EXPECT_EQ(std::stol(m[2]), it->second) << lines[0];
  }
  EXPECT_EQ(m[3].str(), this_host()) << lines[0];
  EXPECT_EQ(m[4].str(), what + "; " + tail) << lines[0];
}

// "rank R pid P" lines of the `fail` mode.
std::map<int, pid_t> fail_mode_pids(const std::string& out) {
  std::map<int, pid_t> pids;
  static const std::regex line(R"(^rank (\d+) pid (\d+)$)");
  for (const std::string& l : lines_of(out)) {
    std::smatch m;
    if (std::regex_match(l, m, line)) pids[std::stoi(m[1])] = static_cast<pid_t>(std::stol(m[2]));
  }
  return pids;
}

}  // namespace


// --- options -------------------------------------------------------------------------------------

TEST_F(launcher, version) {
  const outcome o = run({"--version"});
  ASSERT_TRUE(o.exited && o.code == 0) << o.describe();
  EXPECT_EQ(o.out, std::string("parrun ") + PARRUN_PROJECT_VERSION + "\n");
  EXPECT_EQ(o.err, "");
}

TEST_F(launcher, help) {
  for (const char* flag : {"--help", "-h"}) {
    const outcome o = run({flag});
    ASSERT_TRUE(o.exited && o.code == 0) << flag << "\n" << o.describe();
    EXPECT_EQ(o.out.rfind("Usage: parrun [options] program [args...]\n", 0), 0u) << o.describe();
    for (const char* option : {"--np", "--tag-output", "--timeout", "--env", "--continue-on-failure",
                               "--version", "--help"})
      EXPECT_TRUE(contains(o.out, option)) << "--help does not mention " << option << "\n" << o.out;
    EXPECT_EQ(o.err, "");
  }
}

TEST_F(launcher, np_spellings) {
  for (const std::vector<std::string>& np : {std::vector<std::string>{"-n", "3"}, {"--np", "3"}, {"--np=3"}, {"-n3"}}) {
    std::vector<std::string> args = np;
    args.insert(args.end(), {job, "ok"});
    const outcome o = run(args);
    ASSERT_TRUE(o.exited && o.code == 0) << np[0] << "\n" << o.describe();
    for (int r = 0; r < 3; ++r) EXPECT_TRUE(contains(o.out, "rank " + std::to_string(r) + " of 3\n")) << o.out;
  }
}

TEST_F(launcher, program_arguments_that_look_like_options_are_the_programs) {
  const outcome o = run({"-n", "1", job, "env", "--timeout", "-n", "--help"});
  ASSERT_TRUE(o.exited && o.code == 0) << o.describe();
  EXPECT_TRUE(contains(o.out, "rank 0 --timeout unset\n")) << o.out;
  EXPECT_TRUE(contains(o.out, "rank 0 -n unset\n")) << o.out;
  EXPECT_TRUE(contains(o.out, "rank 0 --help unset\n")) << o.out;
}

// Bad input: one clear line (plus the --help hint), parrun's own exit code — coreutils' 125
// for the command line, 126 for a program that cannot be executed, 127 for one that is not
// there — and nothing started: the `mark` mode would leave a file per rank that started.
struct bad_input_case {
  const char* name;
  std::vector<std::string> args;  // {JOB}, {DIR}, {FILE} and {SUBDIR} are replaced
  const char* message;            // must appear in the error line
  int code;                       // parrun's exit code
};

class launcher_bad_input : public launcher, public testing::WithParamInterface<bad_input_case> {};

TEST_P(launcher_bad_input, one_line_exit_code_nothing_started) {
  temp_dir dir;
  const fs::path data = dir.path / "data.txt";
  std::ofstream(data) << "not a program\n";
  fs::permissions(data, fs::perms::owner_read | fs::perms::owner_write);
  fs::create_directories(dir.path / "subdir");
  std::vector<std::string> args;
  for (std::string a : GetParam().args) {
    if (a == "{JOB}") a = job;
    if (a == "{DIR}") a = dir.path.string();
    if (a == "{FILE}") a = data.string();
    if (a == "{SUBDIR}") a = (dir.path / "subdir").string();
    args.push_back(a);
  }
  const outcome o = run(args, {{}, {"-PARRUN_TEST_UNSET_VARIABLE"}, false});
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, GetParam().code) << o.describe();
  EXPECT_EQ(o.out, "");
  const std::vector<std::string> lines = lines_of(o.err);
  ASSERT_GE(lines.size(), 1u) << o.describe();
  EXPECT_LE(lines.size(), 2u) << "one error line and at most a hint\n" << o.err;
  EXPECT_EQ(lines[0].rfind("parrun: error: ", 0), 0u) << o.err;
  EXPECT_TRUE(contains(lines[0], GetParam().message)) << "expected '" << GetParam().message << "' in\n" << o.err;
  if (lines.size() == 2) {
    EXPECT_EQ(lines[1], "Try 'parrun --help' for more information.");
  }
  EXPECT_EQ(dir.entries(), 2u) << "a rank was started before the input was checked";
}

INSTANTIATE_TEST_SUITE_P(
    cases, launcher_bad_input,
    testing::Values(
        bad_input_case{"unknown_option", {"--bogus", "-n", "2", "{JOB}", "mark", "{DIR}"}, "unrecognised option '--bogus'", exit_usage_error},
        bad_input_case{"unknown_short_option", {"-n", "2", "-q", "{JOB}", "mark", "{DIR}"}, "-q", exit_usage_error},
        bad_input_case{"np_missing", {"{JOB}", "mark", "{DIR}"}, "-n/--np is required", exit_usage_error},
        bad_input_case{"np_without_value", {"-n"}, "--np", exit_usage_error},
        bad_input_case{"np_zero", {"-n", "0", "{JOB}", "mark", "{DIR}"}, "-n/--np: 0 ranks; give at least 1", exit_usage_error},
        bad_input_case{"np_negative", {"-n", "-4", "{JOB}", "mark", "{DIR}"}, "-n/--np: -4 ranks; give at least 1", exit_usage_error},
        bad_input_case{"np_not_a_number", {"-n", "two", "{JOB}", "mark", "{DIR}"}, "'two' is not a number of ranks", exit_usage_error},
        bad_input_case{"np_trailing_junk", {"-n", "2x", "{JOB}", "mark", "{DIR}"}, "'2x' is not a number of ranks", exit_usage_error},
        bad_input_case{"no_program", {"-n", "2"}, "no program given", exit_usage_error},
        bad_input_case{"program_not_found", {"-n", "2", "/nonexistent/parrun-test-program"},
                       "program '/nonexistent/parrun-test-program' not found", exit_not_found},
        bad_input_case{"program_not_on_path", {"-n", "2", "parrun-test-no-such-program"},
                       "'parrun-test-no-such-program' not found in PATH", exit_not_found},
        bad_input_case{"program_not_executable", {"-n", "2", "{FILE}"}, "is not executable", exit_cannot_invoke},
        bad_input_case{"program_is_directory", {"-n", "2", "{SUBDIR}"}, "is a directory", exit_cannot_invoke},
        bad_input_case{"x_unset", {"-n", "2", "-x", "PARRUN_TEST_UNSET_VARIABLE", "{JOB}", "mark", "{DIR}"},
                       "PARRUN_TEST_UNSET_VARIABLE is not set in parrun's environment", exit_usage_error},
        bad_input_case{"x_bad_name", {"-n", "2", "-x", "1BAD=1", "{JOB}", "mark", "{DIR}"},
                       "'1BAD' is not a valid environment variable name", exit_usage_error},
        bad_input_case{"timeout_zero", {"-n", "2", "--timeout", "0", "{JOB}", "mark", "{DIR}"}, "--timeout", exit_usage_error},
        bad_input_case{"timeout_not_a_number", {"-n", "2", "--timeout", "soon", "{JOB}", "mark", "{DIR}"},
                       "--timeout", exit_usage_error},
        bad_input_case{"timeout_too_large", {"-n", "2", "--timeout", "1e10", "{JOB}", "mark", "{DIR}"},
                       "--timeout: '1e10' is more than the largest accepted value, 1000000000 s", exit_usage_error},
        bad_input_case{"timeout_infinite", {"-n", "2", "--timeout", "inf", "{JOB}", "mark", "{DIR}"},
                       "--timeout: 'inf' is more than the largest accepted value, 1000000000 s", exit_usage_error}),
    [](const testing::TestParamInfo<bad_input_case>& p) { return std::string(p.param.name); });

TEST_F(launcher, mark_mode_proves_ranks_start) {
  // The check behind the bad-input cases: with good input, every rank leaves its file.
  temp_dir dir;
  const outcome o = run({"-n", "3", job, "mark", dir.path.string()});
  ASSERT_TRUE(o.exited && o.code == 0) << o.describe();
  for (int r = 0; r < 3; ++r) EXPECT_TRUE(fs::exists(dir.path / ("rank-" + std::to_string(r)))) << r;
}

TEST_F(launcher, program_that_cannot_be_executed) {
  // Passes every check (an executable file) but execve refuses it.
  temp_dir dir;
  const fs::path junk = dir.path / "junk";
  std::ofstream(junk) << "\x7f" << "ELF but not really";
  fs::permissions(junk, fs::perms::owner_all);
  const outcome o = run({"-n", "3", junk.string()});
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, exit_cannot_invoke) << o.describe();
  const std::vector<std::string> lines = lines_of(o.err);
  ASSERT_EQ(lines.size(), 1u) << o.describe();
  EXPECT_EQ(lines[0], "parrun: error: could not execute " + junk.string() + ": Exec format error");
}

TEST_F(launcher, script_whose_interpreter_is_missing) {
  // execve says ENOENT for the missing interpreter: "not found", as a shell says it (127).
  temp_dir dir;
  const fs::path script = dir.path / "script";
  std::ofstream(script) << "#!/nonexistent/parrun-test-interpreter\n";
  fs::permissions(script, fs::perms::owner_all);
  const outcome o = run({"-n", "2", script.string()});
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, exit_not_found) << o.describe();
  EXPECT_EQ(lines_of(o.err),
            std::vector<std::string>{"parrun: error: could not execute " + script.string() + ": No such file or directory"});
}

TEST_F(launcher, rank_exit_status_2_is_not_mistaken_for_parruns_own) {
  // 2 is what many programs exit with (grep, a failed assertion in a script); parrun's own
  // failures are 125..127, so a 2 is the rank's.
  const outcome o = run({"-n", "3", "sh", "-c", "if [ \"$PARRUN_RANK\" = 1 ]; then exit 2; fi; exec sleep 60"});
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 2) << o.describe();
  expect_report(o, 1, "exited with status 2", "terminated 2 other ranks");
}

TEST_F(launcher, rank_exit_statuses_125_to_127_pass_through_too) {
  for (int code : {125, 126, 127}) {
    const outcome o = run({"-n", "1", "sh", "-c", "exit " + std::to_string(code)});
    ASSERT_TRUE(o.exited) << o.describe();
    EXPECT_EQ(o.code, code) << o.describe();
    expect_report(o, 0, "exited with status " + std::to_string(code), "no other rank was running");
  }
}

// --- the environment contract and -x ------------------------------------------------------------

namespace {
// "rank R NAME=VALUE" lines of the env mode, by rank and name.
std::map<int, std::map<std::string, std::string>> env_values(const std::string& out) {
  std::map<int, std::map<std::string, std::string>> v;
  static const std::regex line(R"(^rank (\d+) ([A-Za-z_][A-Za-z0-9_]*)=(.*)$)");
  for (const std::string& l : lines_of(out)) {
    std::smatch m;
    if (std::regex_match(l, m, line)) v[std::stoi(m[1])][m[2]] = m[3];
  }
  return v;
}
}  // namespace

TEST_F(launcher, every_rank_gets_the_contract) {
  const std::vector<std::string> names{"PARRUN_RANK", "PARRUN_SIZE", "PARRUN_LOCAL_RANK", "PARRUN_LOCAL_SIZE",
                                       "PARRUN_RENDEZVOUS", "PARRUN_SECRET", "PARRUN_JOB_ID"};
  std::vector<std::string> args{"-n", "4", job, "env"};
  args.insert(args.end(), names.begin(), names.end());
  const outcome first = run(args);
  ASSERT_TRUE(first.exited && first.code == 0) << first.describe();
  auto v = env_values(first.out);
  ASSERT_EQ(v.size(), 4u) << first.out;
  // One host: a unix socket in the job's own directory, never a TCP port.
  static const std::regex rendezvous(R"(^ipc:///.*/parrun-[0-9a-f]+/ctl$)"), hex(R"(^[0-9a-f]{16,}$)");
  for (int r = 0; r < 4; ++r) {
    auto& e = v[r];
    for (const std::string& n : names) ASSERT_TRUE(e.count(n)) << "rank " << r << " lacks " << n << "\n" << first.out;
    EXPECT_EQ(e["PARRUN_RANK"], std::to_string(r));
    EXPECT_EQ(e["PARRUN_SIZE"], "4");
    EXPECT_EQ(e["PARRUN_LOCAL_RANK"], std::to_string(r)) << "one host: local rank is the rank";
    EXPECT_EQ(e["PARRUN_LOCAL_SIZE"], "4");
    EXPECT_TRUE(std::regex_match(e["PARRUN_RENDEZVOUS"], rendezvous)) << e["PARRUN_RENDEZVOUS"];
    EXPECT_TRUE(std::regex_match(e["PARRUN_SECRET"], hex)) << e["PARRUN_SECRET"];
    EXPECT_FALSE(e["PARRUN_JOB_ID"].empty());
    for (const char* shared : {"PARRUN_RENDEZVOUS", "PARRUN_SECRET", "PARRUN_JOB_ID"})
      EXPECT_EQ(e[shared], v[0][shared]) << shared << " differs between rank 0 and rank " << r;
    // The runtime read the same contract.
    EXPECT_TRUE(contains(first.out, "rank " + std::to_string(r) + " world " + std::to_string(r) + "/4 local " +
                                        std::to_string(r) + "/4\n"))
        << first.out;
  }
  // Another job, another secret and id.
  const outcome second = run(args);
  ASSERT_TRUE(second.exited && second.code == 0) << second.describe();
  auto w = env_values(second.out);
  EXPECT_NE(w[0]["PARRUN_SECRET"], v[0]["PARRUN_SECRET"]);
  EXPECT_NE(w[0]["PARRUN_JOB_ID"], v[0]["PARRUN_JOB_ID"]);
}

TEST_F(launcher, whole_environment_is_forwarded_and_x_adds_or_overrides) {
  const outcome o = run({"-n", "2", "-x", "LT_OVERRIDE=new", "-x", "LT_NEW=fresh", "-x", "LT_COPY", "-x", "LT_EQ=a=b",
                         "-x", "LT_BLANK", "--env", "LT_LONG=long", job, "env", "LT_INHERITED", "LT_OVERRIDE",
                         "LT_NEW", "LT_COPY", "LT_EQ", "LT_BLANK", "LT_LONG", "LT_ABSENT"},
                        {{}, {"LT_INHERITED=from parrun's environment", "LT_OVERRIDE=old", "LT_COPY=copied value",
                              "LT_BLANK=", "-LT_ABSENT", "-LT_NEW"},
                         false});
  ASSERT_TRUE(o.exited && o.code == 0) << o.describe();
  auto v = env_values(o.out);
  for (int r = 0; r < 2; ++r) {
    auto& e = v[r];
    EXPECT_EQ(e["LT_INHERITED"], "from parrun's environment") << "rank " << r;
    EXPECT_EQ(e["LT_OVERRIDE"], "new") << "rank " << r;
    EXPECT_EQ(e["LT_NEW"], "fresh") << "rank " << r;
    EXPECT_EQ(e["LT_COPY"], "copied value") << "rank " << r;
    EXPECT_EQ(e["LT_EQ"], "a=b") << "rank " << r;
    EXPECT_EQ(e["LT_BLANK"], "") << "rank " << r;
    EXPECT_EQ(e["LT_LONG"], "long") << "rank " << r;
    EXPECT_TRUE(contains(o.out, "rank " + std::to_string(r) + " LT_ABSENT unset\n")) << o.out;
  }
}

TEST_F(launcher, enclosing_jobs_contract_is_replaced) {
  // parrun started from inside a rank of another job (its PARRUN_* set) runs its own job.
  const outcome o = run({"-n", "2", job, "env", "PARRUN_RANK", "PARRUN_SIZE", "PARRUN_SECRET"},
                        {{}, {"PARRUN_RANK=7", "PARRUN_SIZE=9", "PARRUN_LOCAL_RANK=7", "PARRUN_LOCAL_SIZE=9",
                              "PARRUN_RENDEZVOUS=tcp://127.0.0.1:1", "PARRUN_SECRET=stale", "PARRUN_JOB_ID=stale"},
                         false});
  ASSERT_TRUE(o.exited && o.code == 0) << o.describe();
  auto v = env_values(o.out);
  EXPECT_EQ(v[0]["PARRUN_RANK"], "0");
  EXPECT_EQ(v[1]["PARRUN_RANK"], "1");
  EXPECT_EQ(v[1]["PARRUN_SIZE"], "2");
  EXPECT_NE(v[1]["PARRUN_SECRET"], "stale");
}

TEST_F(launcher, programs_found_on_path_and_not_using_parrun) {
  // `parrun -n 3 sh -c ...`: looked up on PATH; ranks that never join are fine when none does.
  const outcome o = run({"-n", "3", "sh", "-c", "echo plain $PARRUN_RANK of $PARRUN_SIZE"});
  ASSERT_TRUE(o.exited && o.code == 0) << o.describe();
  std::multiset<std::string> got;
  for (const std::string& l : lines_of(o.out)) got.insert(l);
  EXPECT_EQ(got, (std::multiset<std::string>{"plain 0 of 3", "plain 1 of 3", "plain 2 of 3"}));
  EXPECT_EQ(o.err, "");
}

// --- output and input ---------------------------------------------------------------------------

namespace {
// Checks the flood mode's lines (with or without --tag-output prefixes): each one whole, each
// rank's in order, none lost.
void expect_flood(const std::string& text, int np, int lines_per_rank, bool tagged, const char* stream) {
  std::vector<int> next(static_cast<std::size_t>(np), 0);
  static const std::regex tagged_line(R"(^\[(\d+)\] flood rank (\d+) line (\d+) ([a-z]+) end$)");
  static const std::regex plain_line(R"(^flood rank (\d+) line (\d+) ([a-z]+) end$)");
  int bad = 0;
  for (const std::string& l : lines_of(text)) {
    std::smatch m;
    int rank = -1, index = -1;
    std::string fill;
    if (tagged && std::regex_match(l, m, tagged_line) && m[1] == m[2]) {
      rank = std::stoi(m[2]);
      index = std::stoi(m[3]);
      fill = m[4];
    } else if (!tagged && std::regex_match(l, m, plain_line)) {
      rank = std::stoi(m[1]);
      index = std::stoi(m[2]);
      fill = m[3];
    }
    const bool ok = rank >= 0 && rank < np && index == next[static_cast<std::size_t>(rank)] &&
                    fill == std::string(static_cast<std::size_t>(40 + index % 50), static_cast<char>('a' + rank));
    if (!ok) {
      if (++bad <= 5) ADD_FAILURE() << stream << ": broken or out-of-order line: '" << l.substr(0, 200) << "'";
      continue;
    }
    ++next[static_cast<std::size_t>(rank)];
  }
  EXPECT_EQ(bad, 0) << stream;
  for (int r = 0; r < np; ++r)
    EXPECT_EQ(next[static_cast<std::size_t>(r)], lines_per_rank) << stream << ": lines of rank " << r;
}
}  // namespace

TEST_F(launcher, lines_are_never_split_and_streams_stay_apart) {
  const outcome o = run({"-n", "4", job, "flood", "500"});
  ASSERT_TRUE(o.exited && o.code == 0) << o.describe();
  expect_flood(o.out, 4, 500, false, "stdout");
  expect_flood(o.err, 4, 500, false, "stderr");
}

TEST_F(launcher, tag_output_prefixes_every_line_with_its_rank) {
  const outcome o = run({"-n", "3", "--tag-output", job, "flood", "200"});
  ASSERT_TRUE(o.exited && o.code == 0) << o.describe();
  expect_flood(o.out, 3, 200, true, "stdout");
  expect_flood(o.err, 3, 200, true, "stderr");

  const outcome wide = run({"-n", "12", "--tag-output", job, "ok"});  // two-digit ranks
  ASSERT_TRUE(wide.exited && wide.code == 0) << wide.describe();
  const std::vector<std::string> got = lines_of(wide.out);
  std::set<std::string> expected;
  for (int r = 0; r < 12; ++r) expected.insert("[" + std::to_string(r) + "] rank " + std::to_string(r) + " of 12");
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), expected) << wide.out;
  EXPECT_EQ(got.size(), 12u) << wide.out;
}

TEST_F(launcher, lines_longer_than_a_pipe_arrive_whole) {
  constexpr std::size_t length = 300000;  // several pipe buffers, written in 10 kB pieces
  const outcome o = run({"-n", "4", "--tag-output", job, "longline", std::to_string(length)});
  ASSERT_TRUE(o.exited && o.code == 0) << o.describe();
  const std::vector<std::string> lines = lines_of(o.out);
  ASSERT_EQ(lines.size(), 4u) << shown(o.out);
  std::set<int> seen;
  for (const std::string& l : lines) {
    ASSERT_GE(l.size(), 4u);
    ASSERT_EQ(l[0], '[');
    const int r = l[1] - '0';
    ASSERT_TRUE(r >= 0 && r < 4 && l.compare(2, 2, "] ") == 0) << l.substr(0, 20);
    EXPECT_EQ(l.size(), 4 + length) << "rank " << r;
    EXPECT_EQ(l.find_first_not_of(static_cast<char>('a' + r), 4), std::string::npos)
        << "rank " << r << "'s line holds someone else's bytes";
    seen.insert(r);
  }
  EXPECT_EQ(seen, (std::set<int>{0, 1, 2, 3}));
}

TEST_F(launcher, last_line_without_newline_is_delivered) {
  const outcome o = run({"-n", "2", job, "tail"});
  ASSERT_TRUE(o.exited && o.code == 0) << o.describe();
  for (const char* r : {"0", "1"}) {
    EXPECT_TRUE(contains(o.out, std::string("first line from ") + r + "\n")) << o.out;
    EXPECT_TRUE(contains(o.out, std::string("last words from ") + r + "\n")) << o.out;
    EXPECT_TRUE(contains(o.err, std::string("stderr tail from ") + r + "\n")) << o.err;
  }
  EXPECT_EQ(lines_of(o.out).size(), 4u) << o.out;
  EXPECT_EQ(lines_of(o.err).size(), 2u) << o.err;

  const outcome tagged = run({"-n", "2", "--tag-output", job, "tail"});
  ASSERT_TRUE(tagged.exited && tagged.code == 0) << tagged.describe();
  EXPECT_TRUE(contains(tagged.out, "[1] last words from 1\n")) << tagged.out;
  EXPECT_TRUE(contains(tagged.err, "[0] stderr tail from 0\n")) << tagged.err;

  const outcome plain = run({"-n", "2", "printf", "x\\ny"});  // not a parrun program at all
  ASSERT_TRUE(plain.exited && plain.code == 0) << plain.describe();
  const std::vector<std::string> got = lines_of(plain.out);
  EXPECT_EQ(std::multiset<std::string>(got.begin(), got.end()), (std::multiset<std::string>{"x", "x", "y", "y"}))
      << plain.out;
  EXPECT_EQ(plain.out.back(), '\n');
}

TEST_F(launcher, last_line_of_a_failing_rank_is_delivered) {
  const outcome o = run({"-n", "2", "sh", "-c", "printf 'dying words'; exit 4"});
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 4);
  EXPECT_TRUE(contains(o.out, "dying words\n")) << o.describe();
}

namespace {
std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}
}  // namespace

TEST_F(launcher, stdin_goes_to_rank_0_and_the_others_read_dev_null) {
  const std::string input = "alpha\nbeta\n";
  const outcome o = run({"-n", "3", job, "stdin"}, {input, {}, false});
  ASSERT_TRUE(o.exited && o.code == 0) << o.describe();
  const std::regex rank0("rank 0 stdin=pipe:\\[\\d+\\] bytes=11 fnv=" + std::to_string(fnv1a(input)) +
                         " head=alpha\\|beta\\|\n");
  EXPECT_TRUE(std::regex_search(o.out, rank0)) << o.out;
  for (const char* r : {"1", "2"})
    EXPECT_TRUE(contains(o.out, std::string("rank ") + r + " stdin=/dev/null bytes=0 fnv=" +
                                    std::to_string(fnv1a("")) + " head=\n"))
        << o.out;
}

TEST_F(launcher, large_stdin_arrives_complete) {
  std::string input;
  std::mt19937 gen(42);
  input.reserve(4 << 20);
  while (input.size() < (4u << 20)) input.push_back(static_cast<char>(gen() & 0xff));
  const outcome o = run({"-n", "2", job, "stdin"}, {input, {}, false});
  ASSERT_TRUE(o.exited && o.code == 0) << o.describe();
  EXPECT_TRUE(contains(o.out, " bytes=" + std::to_string(input.size()) + " fnv=" + std::to_string(fnv1a(input))))
      << shown(o.out);
}

TEST_F(launcher, stdin_nobody_reads_does_not_hold_up_the_job) {
  const outcome o = run({"-n", "2", job, "ok"}, {std::string(4 << 20, 'i'), {}, false});
  ASSERT_TRUE(o.exited && o.code == 0) << o.describe();
}

TEST_F(launcher, stderr_still_forwarded_when_stdout_reader_is_gone) {
  child::options opt;
  opt.close_stdout_at_once = true;
  const outcome o = start({"-n", "2", job, "flood", "100"}, opt)->finish();
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 0) << o.describe();
  expect_flood(o.err, 2, 100, false, "stderr");
}

// --- failures: one report line, the failing rank's exit code, the others terminated ---------------

TEST_F(launcher, success_is_silent_with_exit_0) {
  const outcome o = run({"-n", "4", job, "ok"});
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 0);
  EXPECT_EQ(o.err, "") << "parrun says nothing when all is well";
  for (int r = 0; r < 4; ++r) EXPECT_TRUE(contains(o.out, "rank " + std::to_string(r) + " of 4\n")) << o.out;
}

TEST_F(launcher, rank_exits_nonzero) {
  const outcome o = run({"-n", "4", job, "fail", "exit", "2", "3"});
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 3) << o.describe();
  expect_report(o, 2, "exited with status 3", "terminated 3 other ranks", fail_mode_pids(o.out));
  EXPECT_FALSE(contains(o.out, "was not terminated")) << o.out;
}

TEST_F(launcher, rank_killed_by_segfault) {
  const outcome o = run({"-n", "4", job, "fail", "segv", "2"});
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 139) << o.describe();
  expect_report(o, 2, "was killed by signal 11 (Segmentation fault)", "terminated 3 other ranks",
                fail_mode_pids(o.out));
}

TEST_F(launcher, rank_throws_uncaught_exception) {
  const outcome o = run({"-n", "4", job, "fail", "throw", "1"});
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 134) << o.describe();
  expect_report(o, 1, "ended with an uncaught exception std::runtime_error: boom from rank 1",
                "terminated 3 other ranks", fail_mode_pids(o.out));
}

TEST_F(launcher, rank_calls_abort) {
  const outcome o = run({"-n", "4", job, "fail", "abort", "3", "42"});
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 42) << o.describe();
  expect_report(o, 3, "called parrun::abort(42): checksum mismatch on rank 3", "terminated 3 other ranks",
                fail_mode_pids(o.out));
}

TEST_F(launcher, abort_with_code_0_still_fails_the_job) {
  const outcome o = run({"-n", "2", job, "fail", "abort", "1", "0"});
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 1) << o.describe();
  expect_report(o, 1, "called parrun::abort(1): checksum mismatch on rank 1", "terminated 1 other rank",
                fail_mode_pids(o.out));
}

TEST_F(launcher, rank_exits_0_in_the_middle_of_the_job) {
  const outcome o = run({"-n", "3", job, "fail", "exit0", "1"});
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 1) << o.describe();
  expect_report(o, 1,
                "exited with status 0 in the middle of the job, without destroying its "
                "parrun::environment (did it call exit()?)",
                "terminated 2 other ranks", fail_mode_pids(o.out));
}

TEST_F(launcher, rank_exits_0_without_joining_before_the_others_join) {
  const outcome o = run({"-n", "3", job, "unjoined", "1", "0"});
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 1) << o.describe();
  expect_report(o, 1,
                "exited with status 0 without joining the job, while the other ranks wait for it "
                "(does every rank create a parrun::environment?)",
                "terminated 2 other ranks");
}

TEST_F(launcher, rank_exits_0_without_joining_after_the_others_joined) {
  const outcome o = run({"-n", "3", job, "unjoined", "1", "700"});
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 1) << o.describe();
  expect_report(o, 1,
                "exited with status 0 without joining the job, while the other ranks wait for it "
                "(does every rank create a parrun::environment?)",
                "terminated 2 other ranks");
}

TEST_F(launcher, failure_after_the_others_finished) {
  const outcome o = run({"-n", "3", job, "late_fail", "2"});
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 3) << o.describe();
  expect_report(o, 2, "exited with status 3", "no other rank was running");
}

TEST_F(launcher, failure_of_a_program_not_using_parrun) {
  const outcome o = run({"-n", "3", "sh", "-c", "if [ \"$PARRUN_RANK\" = 1 ]; then exit 5; fi; exec sleep 60"});
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 5) << o.describe();
  expect_report(o, 1, "exited with status 5", "terminated 2 other ranks");
}

TEST_F(launcher, continue_on_failure_tells_the_others_and_still_fails) {
  const outcome o = run({"-n", "3", "--continue-on-failure", job, "lost", "1"});
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 3) << "the exit code still reports the failure\n" << o.describe();
  expect_report(o, 1, "exited with status 3", "the job goes on (--continue-on-failure)");
  EXPECT_TRUE(contains(o.out, "rank 0 caught peer_lost for rank 1\n")) << o.describe();
  EXPECT_TRUE(contains(o.out, "rank 2 caught peer_lost for rank 1\n")) << o.describe();
}

// --- signals and outside kills -----------------------------------------------------------------

class launcher_signal : public launcher, public testing::WithParamInterface<int> {};

TEST_P(launcher_signal, terminates_every_rank_and_exits_128_plus_signal) {
  const int sig = GetParam();
  std::map<int, pid_t> ranks;
  auto c = start_ready(3, {}, {"block"}, ranks);
  ASSERT_EQ(ranks.size(), 3u);
  kill(c->pid(), sig);
  const outcome o = c->finish();
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 128 + sig) << o.describe();
  const std::vector<std::string> lines = parrun_lines(o.err);
  ASSERT_EQ(lines.size(), 1u) << o.describe();
  EXPECT_EQ(lines[0], std::string("parrun: got SIG") + sigabbrev_np(sig) +
                          ": terminating 3 ranks (send it again to kill them at once)");
  EXPECT_FALSE(contains(o.out, "was not terminated"));
  for (const auto& [rank, pid] : ranks) EXPECT_NE(kill(pid, 0), 0) << "rank " << rank << " still exists";
}

INSTANTIATE_TEST_SUITE_P(signals, launcher_signal, testing::Values(SIGINT, SIGTERM, SIGHUP),
                         [](const testing::TestParamInfo<int>& p) {
                           return std::string("SIG") + sigabbrev_np(p.param);
                         });

TEST_F(launcher, ctrl_c_at_the_terminal_reaches_only_parrun) {
  // A terminal sends SIGINT to its whole foreground process group: parrun's. The ranks run in
  // a group of their own, so parrun ends them in order (one report line, no rank dies first).
  std::map<int, pid_t> ranks;
  auto c = start_ready(3, {}, {"block"}, ranks);
  ASSERT_EQ(ranks.size(), 3u);
  for (const auto& [rank, pid] : ranks) EXPECT_NE(getpgid(pid), c->pid()) << "rank " << rank << " is in parrun's group";
  kill(-c->pid(), SIGINT);
  const outcome o = c->finish();
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 130) << o.describe();
  EXPECT_EQ(parrun_lines(o.err),
            std::vector<std::string>{"parrun: got SIGINT: terminating 3 ranks (send it again to kill them at once)"});
}

TEST_F(launcher, signal_is_handled_while_parruns_stdout_is_stalled) {
  child::options opt;
  opt.read_stdout = false;
  auto c = start({"-n", "2", job, "flood", "1000000"}, opt);
  // Until parrun's stdout (a 64 KiB pipe nobody reads) is full and parrun blocks writing it:
  // its stderr, which is read, stops growing.
  ASSERT_TRUE(c->wait_until([&] { return c->err().size() > 10000; }, 20s)) << shown(c->err());
  for (std::size_t before = 0; before != c->err().size();) {
    before = c->err().size();
    c->wait_until([] { return false; }, 500ms);
  }
  kill(c->pid(), SIGTERM);
  const outcome o = c->finish(15s);
  ASSERT_FALSE(o.timed_out) << "parrun did not act on SIGTERM\n" << o.describe();
  EXPECT_TRUE(o.exited && o.code == 143) << o.describe();
}

TEST_F(launcher, ranks_ignoring_sigterm_are_killed_after_the_grace_period) {
  std::map<int, pid_t> ranks;
  auto c = start_ready(2, {}, {"stubborn"}, ranks);
  const auto signalled = clock_type::now();
  kill(c->pid(), SIGTERM);
  const outcome o = c->finish();
  const double waited = seconds_since(signalled);
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 143) << o.describe();
  // The ranks ignore SIGTERM, so only SIGKILL after the 2 s grace period ends them.
  EXPECT_GE(waited, 1.8) << "killed before the grace period was over";
  EXPECT_LT(waited, 10.0) << "never killed";
}

TEST_F(launcher, second_signal_kills_at_once) {
  std::map<int, pid_t> ranks;
  auto c = start_ready(2, {}, {"stubborn"}, ranks);
  const auto signalled = clock_type::now();
  kill(c->pid(), SIGINT);
  ASSERT_TRUE(c->wait_until([&] { return contains(c->err(), "parrun: got SIGINT: terminating"); }, 10s))
      << c->err();
  kill(c->pid(), SIGINT);
  const outcome o = c->finish();
  const double waited = seconds_since(signalled);
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 130) << o.describe();
  EXPECT_TRUE(contains(o.err, "parrun: got SIGINT again: killing every rank now\n")) << o.err;
  // Semantics, not speed: the stubborn ranks would otherwise live out the 2 s grace period.
  EXPECT_LT(waited, 1.9) << "the second signal did not kill at once";
}

TEST_F(launcher, launcher_killed_with_sigkill_leaves_no_rank_behind) {
  std::map<int, pid_t> ranks;
  auto c = start_ready(4, {}, {"block"}, ranks);
  ASSERT_EQ(ranks.size(), 4u);
  kill(c->pid(), SIGKILL);
  const outcome o = c->finish();
  EXPECT_FALSE(o.exited);
  EXPECT_EQ(o.signal, SIGKILL);
  // TearDown checks that no rank outlives it (they die with the launcher: PR_SET_PDEATHSIG).
}

TEST_F(launcher, launcher_killed_with_sigkill_leaves_no_grandchild_behind) {
  std::map<int, pid_t> ranks;
  auto c = start_ready_command(2, {}, {"sh", "-c", "sleep 300 & echo ready $PARRUN_RANK $$; wait"}, ranks);
  ASSERT_EQ(ranks.size(), 2u);
  kill(c->pid(), SIGKILL);
  const outcome o = c->finish();
  EXPECT_EQ(o.signal, SIGKILL) << o.describe();
  // TearDown finds the two `sleep 300` (they carry the job's marker) if they outlive it.
}

TEST_F(launcher, one_rank_of_8_killed_from_outside_ends_the_job) {
  std::map<int, pid_t> ranks;
  auto c = start_ready(8, {}, {"block"}, ranks);
  ASSERT_EQ(ranks.size(), 8u);
  const auto killed = clock_type::now();
  ASSERT_EQ(kill(ranks[3], SIGKILL), 0);
  const outcome o = c->finish();
  const double elapsed = seconds_since(killed);
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 137) << o.describe();
  expect_report(o, 3, "was killed by signal 9 (Killed)", "terminated 7 other ranks", ranks);
  EXPECT_LT(elapsed, 10.0) << "the job did not end soon after one rank died";
  RecordProperty("seconds_from_kill_to_exit", std::to_string(elapsed));
  std::printf("[ measured ] SIGKILL of rank 3 of 8 -> parrun exited after %.3f s\n", elapsed);
}

// --- orphans of ranks ----------------------------------------------------------------------------

TEST_F(launcher, processes_a_rank_left_behind_are_killed) {
  const outcome o = run({"-n", "2", job, "grandchild"});
  ASSERT_TRUE(o.exited && o.code == 0) << o.describe();
  static const std::regex line(R"(^grandchild \d+ (\d+)$)");
  int found = 0;
  for (const std::string& l : lines_of(o.out)) found += std::regex_match(l, line) ? 1 : 0;
  EXPECT_EQ(found, 2) << o.out;
  // TearDown checks that the grandchildren (which ignore SIGTERM) are gone too.
}

// --- --timeout ---------------------------------------------------------------------------------

TEST_F(launcher, timeout_reports_where_each_running_rank_is) {
  std::map<int, pid_t> ranks;
  auto c = start_ready(3, {"--timeout", "3"}, {"hang"}, ranks);  // 3 s: time to start, even slowly
  const outcome o = c->finish();
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 124) << o.describe();
  const std::vector<std::string> lines = parrun_lines(o.err);
  ASSERT_EQ(lines.size(), 3u) << o.describe();
  EXPECT_EQ(lines[0], "parrun: timed out after 3.0 s; terminating 2 running ranks:");
  const std::string host = this_host();
  EXPECT_EQ(lines[1], "parrun:   rank 0 (pid " + std::to_string(ranks[0]) + " on " + host +
                          "): did not answer: busy outside parrun calls");
  const std::regex blocked("^parrun:   rank 1 \\(pid " + std::to_string(ranks[1]) + " on " + host +
                           "\\): recv\\(source=0, tag=7\\) for (\\d+\\.\\d) s$");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(lines[2], m, blocked)) << lines[2];
  const double blocked_for = std::stod(m[1]);
  EXPECT_GE(blocked_for, 0.5) << lines[2];
  EXPECT_LE(blocked_for, 30.0) << lines[2];
  // Rank 2 had finished: not listed.
  EXPECT_FALSE(contains(o.err, "rank 2 (")) << o.err;
}

TEST_F(launcher, timeout_names_a_rank_that_never_joined) {
  const outcome o = run({"-n", "2", "--timeout", "2", job, "late", "1"});
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 124) << o.describe();
  const std::vector<std::string> lines = parrun_lines(o.err);
  ASSERT_EQ(lines.size(), 3u) << o.describe();
  EXPECT_EQ(lines[0], "parrun: timed out after 2.0 s; terminating 2 running ranks:");
  EXPECT_TRUE(std::regex_match(lines[1], std::regex(R"(^parrun:   rank 0 \(pid \d+ on [^)]+\): joining the job \(waiting for the other ranks to start\) for \d+\.\d s$)")))
      << lines[1];
  EXPECT_TRUE(std::regex_match(lines[2], std::regex(R"(^parrun:   rank 1 \(pid \d+ on [^)]+\): has not joined the job \(no parrun::environment yet, after \d+\.\d s\)$)")))
      << lines[2];
}

TEST_F(launcher, timeout_kills_ranks_that_ignore_sigterm) {
  std::map<int, pid_t> ranks;
  auto c = start_ready(2, {"--timeout", "2"}, {"stubborn"}, ranks);
  const outcome o = c->finish();
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 124) << o.describe();
  EXPECT_GE(o.seconds, 3.8) << "2 s timeout plus the 2 s grace period\n" << o.describe();
  const std::vector<std::string> lines = parrun_lines(o.err);
  ASSERT_EQ(lines.size(), 3u) << o.describe();
  EXPECT_EQ(lines[0], "parrun: timed out after 2.0 s; terminating 2 running ranks:");
  EXPECT_TRUE(contains(lines[1], "recv(source=1, tag=7) for ")) << lines[1];
  EXPECT_TRUE(contains(lines[2], "recv(source=0, tag=7) for ")) << lines[2];
}

TEST_F(launcher, failure_kills_ranks_that_ignore_sigterm) {
  const outcome o = run({"-n", "3", job, "fail", "exit", "0", "6"}, {{}, {"LT_STUBBORN=1"}, false});
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 6) << o.describe();
  EXPECT_GE(o.seconds, 1.8) << "the others ignore SIGTERM: only SIGKILL after the grace period ends them";
  expect_report(o, 0, "exited with status 6", "terminated 2 other ranks", fail_mode_pids(o.out));
}

TEST_F(launcher, timeout_not_reached) {
  const outcome o = run({"-n", "2", "--timeout", "60", job, "ok"});
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 0) << o.describe();
  EXPECT_EQ(o.err, "");
}

TEST_F(launcher, timeout_of_the_largest_accepted_value_does_not_fire) {
  // 1e9 s is kept exactly; values past ~9.2e9 s used to overflow the deadline and fire at once.
  const outcome o = run({"-n", "2", "--timeout", "1e9", job, "ok"});
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 0) << o.describe();
  EXPECT_EQ(o.err, "");
}

TEST_F(launcher, timeout_report_names_a_stopped_rank_and_still_ends_it_promptly) {
  std::map<int, pid_t> ranks;
  auto c = start_ready(3, {"--timeout", "2"}, {"stop", "1"}, ranks);
  ASSERT_EQ(ranks.size(), 3u);
  ASSERT_TRUE(c->wait_until([&] { return process_state(std::to_string(ranks[1])) == 'T'; }, 10s))
      << "rank 1 did not stop itself";
  ASSERT_TRUE(c->wait_until([&] { return contains(c->err(), "parrun: timed out after"); }, 30s)) << c->err();
  const auto reported = clock_type::now();  // the ranks get SIGTERM right after the report
  const outcome o = c->finish();
  const double ending = seconds_since(reported);
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 124) << o.describe();
  const std::vector<std::string> lines = parrun_lines(o.err);
  ASSERT_EQ(lines.size(), 4u) << o.describe();
  EXPECT_EQ(lines[0], "parrun: timed out after 2.0 s; terminating 3 running ranks:");
  EXPECT_TRUE(contains(lines[1], "rank 0 (pid " + std::to_string(ranks[0]) + " on ")) << lines[1];
  EXPECT_TRUE(contains(lines[1], "): recv(source=1, tag=7) for ")) << lines[1];
  EXPECT_EQ(lines[2], "parrun:   rank 1 (pid " + std::to_string(ranks[1]) + " on " + this_host() +
                          "): stopped (SIGSTOP/SIGTSTP): not answering");
  EXPECT_TRUE(contains(lines[3], "): recv(source=1, tag=7) for ")) << lines[3];
  // A stopped rank acts on SIGTERM only once continued; without SIGCONT only SIGKILL would end
  // it, after the 2 s grace period.
  EXPECT_LT(ending, 1.8) << "the stopped rank was not continued after SIGTERM\n" << o.describe();
  // TearDown checks that rank 1 is gone too.
}

// --- open-file limits --------------------------------------------------------------------------

namespace {
rlim_t hard_open_file_limit() {
  rlimit l{};
  getrlimit(RLIMIT_NOFILE, &l);
  return l.rlim_max;
}
}  // namespace

TEST_F(launcher, soft_open_file_limit_is_raised_for_a_large_job) {
  // parrun holds about three descriptors per rank: 120 ranks do not fit under a soft limit of
  // 256, but do under the hard limit, to which parrun raises its own.
  if (hard_open_file_limit() != RLIM_INFINITY && hard_open_file_limit() < 1024)
    GTEST_SKIP() << "the hard limit (" << hard_open_file_limit() << ") is too low for this test";
  const outcome o = run_shell("ulimit -Sn 256 && exec \"$PARRUN\" -n 120 \"$JOB\" ok", 50s);
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, 0) << o.describe();
  EXPECT_EQ(o.err, "") << o.describe();
  for (int r = 0; r < 120; ++r) EXPECT_TRUE(contains(o.out, "rank " + std::to_string(r) + " of 120\n")) << r;
}

TEST_F(launcher, job_beyond_the_hard_open_file_limit_is_refused_before_anything_starts) {
  temp_dir dir;
  const outcome o = run_shell("ulimit -n 64 && exec \"$PARRUN\" -n 60 \"$JOB\" mark " + dir.path.string());
  ASSERT_TRUE(o.exited) << o.describe();
  EXPECT_EQ(o.code, exit_usage_error) << o.describe();
  const std::vector<std::string> lines = lines_of(o.err);
  ASSERT_EQ(lines.size(), 1u) << o.describe();
  static const std::regex refused(
      R"(^parrun: error: -n 60 needs up to (\d+) open files but the open-file limit is 64 \(its hard limit\); )"
      R"(raise it with 'ulimit -n (\d+)' before starting parrun \(raising a hard limit needs root\)$)");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(lines[0], m, refused)) << lines[0];
  EXPECT_EQ(m[1].str(), m[2].str()) << lines[0];
  EXPECT_GE(std::stoi(m[1]), 180) << "at least three per rank";
  EXPECT_EQ(dir.entries(), 0u) << "a rank was started";
}

// --- nothing left for PID 1 to reap ----------------------------------------------------------------

namespace {

// Runs `parrun args...` under a subreaper (a forked helper with PR_SET_CHILD_SUBREAPER): what
// parrun leaves behind unreaped — a child that outlived it, or a zombie — is reparented to
// the helper instead of to PID 1. Returns what the helper found besides parrun ("" when
// nothing) or why it could not tell.
std::string left_for_the_reaper(const std::vector<std::string>& args, const std::string& marker) {
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return "pipe failed";
  const pid_t helper = fork();
  if (helper < 0) return "fork failed";
  if (helper == 0) {
    close(report[0]);
    auto answer = [&](const std::string& s) {
      ssize_t ignored = write(report[1], s.data(), s.size());
      (void)ignored;
      _exit(0);
    };
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) answer("PR_SET_CHILD_SUBREAPER failed");
    const pid_t p = fork();
    if (p == 0) {
      const int null = open("/dev/null", O_RDWR);
      for (int fd : {0, 1, 2}) dup2(null, fd);
      setenv(marker_name, marker.c_str(), 1);
      std::vector<char*> argv{const_cast<char*>(parrun.c_str())};
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    const auto deadline = clock_type::now() + 30s;
    int status = 0;
    while (waitpid(p, &status, WNOHANG) == 0) {
      if (clock_type::now() > deadline) {
        kill(p, SIGKILL);
        answer("parrun did not end within 30 s");
      }
      std::this_thread::sleep_for(20ms);
    }
    // Whatever parrun left is ours now: a zombie shows up at once, a live child when it ends.
    const auto patience = clock_type::now() + 3s;
    std::string found;
    for (;;) {
      siginfo_t info{};
      if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG) != 0) break;  // ECHILD: nothing left
      if (info.si_pid != 0) {
        found += "pid " + std::to_string(info.si_pid) + " exited under the subreaper; ";
        continue;
      }
      if (clock_type::now() > patience) {
        found += "a child of parrun is still alive 3 s after it exited; ";
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    answer(found);
  }
  close(report[1]);
  std::string found;
  char buf[256];
  for (ssize_t n; (n = read(report[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    found.append(buf, static_cast<std::size_t>(n));
  }
  close(report[0]);
  int status = 0;
  waitpid(helper, &status, 0);
  return found;
}

}  // namespace

TEST_F(launcher, parrun_reaps_its_watchdog_however_the_job_ends) {
  temp_dir dir;
  const fs::path junk = dir.path / "junk";
  std::ofstream(junk) << "\x7f" << "ELF but not really";
  fs::permissions(junk, fs::perms::owner_all);
  const std::vector<std::vector<std::string>> jobs{
      {"-n", "2", job, "ok"},
      {"-n", "3", "sh", "-c", "if [ \"$PARRUN_RANK\" = 1 ]; then exit 3; fi; exec sleep 60"},
      {"-n", "2", "--timeout", "1", job, "block"},
      {"-n", "2", junk.string()},  // the watchdog is forked with the first rank, before its exec fails
  };
  for (const auto& args : jobs) {
    std::random_device rd;
    markers_.push_back(std::to_string(getpid()) + "-reaper-" + std::to_string(markers_.size()) + "-" +
                       std::to_string(rd()));
    std::string all;
    for (const std::string& a : args) all += a + " ";
    EXPECT_EQ(left_for_the_reaper(args, markers_.back()), "") << "parrun " << all;
  }
}

// --- the job's socket directory --------------------------------------------------------------------

namespace {

std::vector<std::string> entries_of(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// The entries of `dir` once it is empty, or those still there when `patience` ran out.
std::vector<std::string> left_in(const fs::path& dir, std::chrono::duration<double> patience) {
  const auto deadline = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(patience);
  std::vector<std::string> names = entries_of(dir);
  while (!names.empty() && clock_type::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    names = entries_of(dir);
  }
  return names;
}

std::string environment_value(pid_t pid, const std::string& name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ");
  const std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string prefix = name + "=";
  for (std::size_t start = 0; start < env.size();) {
    std::size_t end = env.find('\0', start);
    if (end == std::string::npos) end = env.size();
    if (env.compare(start, prefix.size(), prefix) == 0) return env.substr(start + prefix.size(), end - start - prefix.size());
    start = end + 1;
  }
  return "(unset)";
}

}  // namespace

TEST_F(launcher, every_rank_gets_the_jobs_socket_dir_under_tmpdir) {
  temp_dir tmp;  // the job's TMPDIR: nothing else writes there
  const outcome o = run({"-n", "3", job, "env", "PARRUN_SOCKET_DIR", "PARRUN_JOB_ID"},
                        {{}, {"TMPDIR=" + tmp.path.string()}, false});
  ASSERT_TRUE(o.exited && o.code == 0) << o.describe();
  auto v = env_values(o.out);
  ASSERT_EQ(v.size(), 3u) << o.out;
  for (int r = 0; r < 3; ++r) {
    ASSERT_FALSE(v[r]["PARRUN_JOB_ID"].empty()) << o.out;
    EXPECT_EQ(v[r]["PARRUN_SOCKET_DIR"], (tmp.path / ("parrun-" + v[r]["PARRUN_JOB_ID"])).string()) << o.out;
  }
  EXPECT_EQ(entries_of(tmp.path), std::vector<std::string>{}) << "left behind by a job that ended well";
}

// Whether a process maps one of the shared-memory lane's rings (a memfd, never a /dev/shm name).
bool maps_a_ring(pid_t pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find("memfd:parrun-ring") != std::string::npos) return true;
  return false;
}

TEST_F(launcher, socket_dir_is_private_while_the_job_runs_and_the_watchdog_removes_it_on_sigkill) {
  temp_dir tmp;
  std::map<int, pid_t> ranks;
  const std::vector<std::string> shm_before = entries_of("/dev/shm");
  auto c = start_ready(3, {}, {"block"}, ranks, {{}, {"TMPDIR=" + tmp.path.string()}, false});
  ASSERT_EQ(ranks.size(), 3u);
  const std::vector<std::string> names = entries_of(tmp.path);
  ASSERT_EQ(names.size(), 1u) << "one directory for the job";
  const fs::path dir = tmp.path / names[0];
  EXPECT_EQ(names[0], "parrun-" + environment_value(ranks[0], "PARRUN_JOB_ID"));
  for (const auto& [rank, pid] : ranks) EXPECT_EQ(environment_value(pid, "PARRUN_SOCKET_DIR"), dir.string()) << rank;
  struct stat st {};
  ASSERT_EQ(lstat(dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u) << "only the job's user may enter it";
  EXPECT_EQ(st.st_uid, geteuid());
  const char* lane = std::getenv("PARRUN_TRANSPORT");
  if (lane == nullptr || std::string(lane) != "zmq")
    EXPECT_TRUE(maps_a_ring(ranks[0])) << "rank 0 talked to its peers through no shared-memory ring";

  kill(c->pid(), SIGKILL);  // no cleanup by parrun: the watchdog's turn
  const outcome o = c->finish();
  EXPECT_EQ(o.signal, SIGKILL) << o.describe();
  EXPECT_EQ(left_in(tmp.path, 5s), std::vector<std::string>{}) << "the watchdog did not remove " << dir;
  EXPECT_EQ(entries_of("/dev/shm"), shm_before) << "the job left something in /dev/shm";
}

TEST_F(launcher, socket_dir_is_removed_however_the_job_ends) {
  struct ending {
    const char* what;
    std::function<outcome(const child::options&)> run_it;
    int code;
  };
  const std::vector<ending> endings{
      {"a rank killed from outside",
       [&](const child::options& opt) {
         std::map<int, pid_t> ranks;
         auto c = start_ready(3, {}, {"block"}, ranks, opt);
         kill(ranks[1], SIGKILL);
         return c->finish();
       },
       137},
      {"SIGTERM to parrun",
       [&](const child::options& opt) {
         std::map<int, pid_t> ranks;
         auto c = start_ready(2, {}, {"block"}, ranks, opt);
         kill(c->pid(), SIGTERM);
         return c->finish();
       },
       143},
      {"--timeout", [&](const child::options& opt) { return run({"-n", "2", "--timeout", "1", job, "block"}, opt); },
       124},
      {"a program that cannot be executed",
       [&](const child::options& opt) {
         temp_dir bin;
         const fs::path junk = bin.path / "junk";
         std::ofstream(junk) << "\x7f" << "ELF but not really";
         fs::permissions(junk, fs::perms::owner_all);
         return run({"-n", "2", junk.string()}, opt);
       },
       exit_cannot_invoke},
  };
  for (const ending& e : endings) {
    temp_dir tmp;
    const outcome o = e.run_it({{}, {"TMPDIR=" + tmp.path.string()}, false});
    ASSERT_TRUE(o.exited) << e.what << "\n" << o.describe();
    EXPECT_EQ(o.code, e.code) << e.what << "\n" << o.describe();
    // parrun removes it itself before it exits: no waiting here.
    EXPECT_EQ(entries_of(tmp.path), std::vector<std::string>{}) << "left behind after " << e.what;
  }
}
