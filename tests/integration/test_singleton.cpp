// Programs started without the launcher. Without the environment contract a program is rank 0 of
// 1 and can talk to itself; with PARRUN_RENDEZVOUS set but no launcher answering it fails loudly
// (nonzero exit, a message naming the rendezvous) instead of hanging. The failing cases run
// tests/integration/p2p_jobs/singleton_job.cpp as a child process under a watchdog.
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <parrun/parrun.hpp>

extern char** environ;

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

const char* const contract_vars[] = {
    "PARRUN_RANK",       "PARRUN_SIZE",   "PARRUN_LOCAL_RANK", "PARRUN_LOCAL_SIZE",
    "PARRUN_RENDEZVOUS", "PARRUN_SECRET", "PARRUN_JOB_ID",     "PARRUN_CONNECT_TIMEOUT"};

bool is_contract_var(const std::string& entry) {
  for (const char* v : contract_vars)
    if (entry.rfind(std::string(v) + "=", 0) == 0) return true;
  return false;
}

struct outcome {
  bool exited = false;  // exited normally (else killed by a signal)
  int code = -1;        // exit status, or the signal
  bool hung = false;    // the watchdog killed it
  double seconds = 0;
  std::string output;  // stdout and stderr together
};

// Runs singleton_job with `args`, this process's environment minus the parrun contract, plus
// `vars`; kills it after `limit`.
outcome run_job(const std::vector<std::string>& args,
                const std::map<std::string, std::string>& vars, std::chrono::seconds limit = 30s) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e)
    if (!is_contract_var(*e)) env_strings.emplace_back(*e);
  for (const auto& [k, v] : vars) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings{SINGLETON_JOB};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int fds[2];
  if (pipe(fds) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return {};
  }
  const auto t0 = steady::now();
  const pid_t pid = fork();
  if (pid == 0) {
    rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);  // an abort() must not leave a core file behind
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(fds[1]);
  outcome out;
  const auto deadline = t0 + limit;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    if (left.count() <= 0) {
      out.hung = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;  // EOF: the job closed its output
    out.output.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  out.seconds = std::chrono::duration<double>(steady::now() - t0).count();
  out.exited = WIFEXITED(status);
  out.code = out.exited ? WEXITSTATUS(status) : WTERMSIG(status);
  return out;
}

// A directory like the launcher's socket directory (mode 0700), removed when the tests end.
class private_dir {
 public:
  explicit private_dir(mode_t mode) {
    char tmpl[] = "/tmp/parrun-singleton-XXXXXX";
    path_ = mkdtemp(tmpl) != nullptr ? tmpl : "";
    if (!path_.empty()) chmod(path_.c_str(), mode);
  }
  ~private_dir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const std::string& socket_dir() {
  static const private_dir dir(0700);
  return dir.path();
}

std::map<std::string, std::string> unreachable_launcher() {
  return {{"PARRUN_RENDEZVOUS", "tcp://127.0.0.1:1"},
          {"PARRUN_SOCKET_DIR", socket_dir()},
          {"PARRUN_RANK", "0"},
          {"PARRUN_SIZE", "1"},
          {"PARRUN_LOCAL_RANK", "0"},
          {"PARRUN_LOCAL_SIZE", "1"},
          {"PARRUN_JOB_ID", "p2p-singleton-" + std::to_string(getpid())},
          {"PARRUN_SECRET", "not-a-real-secret"},
          {"PARRUN_CONNECT_TIMEOUT", "1"}};
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(singleton, a_program_without_parrun_is_rank_0_of_1_and_talks_to_itself) {
  for (const char* v : contract_vars) unsetenv(v);
  parrun::environment env;
  parrun::communicator& w = env.world();
  EXPECT_FALSE(env.launched());
  EXPECT_EQ(w.rank(), 0);
  EXPECT_EQ(w.size(), 1);
  EXPECT_EQ(env.local_rank(), 0);
  EXPECT_EQ(env.local_size(), 1);

  w.send(0, 5, std::string("hello me"));
  const parrun::status st = w.probe();
  EXPECT_EQ(st.source(), 0);
  EXPECT_EQ(st.tag(), 5);
  EXPECT_TRUE(st.holds<std::string>());
  EXPECT_EQ(w.recv<std::string>(0, 5), "hello me");

  std::vector<double> in;
  parrun::request r = w.irecv(parrun::any_source, 6, in);
  EXPECT_FALSE(r.test());
  parrun::request s = w.isend(0, 6, std::vector<double>(100000, 1.5));
  (void)s.wait();
  EXPECT_EQ(r.wait().bytes(), 100000 * sizeof(double));
  EXPECT_EQ(in, std::vector<double>(100000, 1.5));
  EXPECT_EQ(w.sendrecv<int>(0, 7, 42, 0, 7), 42);

  // Nobody else exists: rank 1 is no rank, and waiting for a message nobody sent fails at once
  // instead of hanging (with a timeout, it times out).
  EXPECT_THROW(w.send(1, 0, 1), parrun::usage_error);
  try {
    (void)w.recv<int>(0, 8);
    ADD_FAILURE() << "received a message nobody sent";
  } catch (const parrun::usage_error& e) {
    EXPECT_TRUE(contains(e.what(), "rank 0 of 1")) << e.what();
  }
  const auto t0 = steady::now();
  EXPECT_THROW((void)w.recv<int>(0, 8, 100ms), parrun::timeout_error);
  EXPECT_GE(steady::now() - t0, 100ms);
  // The failed receives took nothing: a message sent now is received.
  w.send(0, 8, 9);
  EXPECT_EQ(w.recv<int>(0, 8), 9);
  EXPECT_FALSE(w.iprobe());
}

TEST(singleton, a_separate_program_without_parrun_runs_alone) {
  const outcome o = run_job({"plain"}, {});
  EXPECT_FALSE(o.hung);
  EXPECT_TRUE(o.exited) << "killed by signal " << o.code << "\n" << o.output;
  EXPECT_EQ(o.code, 0) << o.output;
  EXPECT_TRUE(contains(o.output, "singleton ok: rank 0 of 1, launched 0")) << o.output;
}

TEST(singleton, an_unreachable_rendezvous_fails_loudly_naming_it) {
  const outcome o = run_job({"plain"}, unreachable_launcher());
  ASSERT_FALSE(o.hung) << "the program hung instead of failing:\n" << o.output;
  EXPECT_FALSE(o.exited && o.code == 0) << "the program succeeded without its launcher:\n"
                                        << o.output;
  EXPECT_TRUE(contains(o.output, "tcp://127.0.0.1:1")) << o.output;
  EXPECT_FALSE(contains(o.output, "singleton ok")) << o.output;
}

TEST(singleton, an_unreachable_rendezvous_is_a_transport_error_that_explains_itself) {
  const outcome o = run_job({"catch"}, unreachable_launcher());
  ASSERT_FALSE(o.hung) << o.output;
  EXPECT_TRUE(o.exited && o.code == 3) << "exit " << o.code << " (exited: " << o.exited << ")\n"
                                       << o.output;
  EXPECT_TRUE(contains(o.output, "caught transport_error")) << o.output;
  EXPECT_TRUE(contains(o.output, "tcp://127.0.0.1:1")) << o.output;
  EXPECT_TRUE(contains(o.output, "PARRUN_RENDEZVOUS")) << o.output;
  EXPECT_TRUE(contains(o.output, "rank 0")) << o.output;
  // PARRUN_CONNECT_TIMEOUT=1 is honoured: it gave up after about a second, not the default 10 s.
  EXPECT_LT(o.seconds, 9.0) << o.output;
}

TEST(singleton, an_incomplete_contract_is_a_usage_error_naming_the_missing_variable) {
  auto vars = unreachable_launcher();
  vars.erase("PARRUN_RANK");
  const outcome o = run_job({"catch"}, vars);
  ASSERT_FALSE(o.hung) << o.output;
  EXPECT_TRUE(o.exited && o.code == 4) << "exit " << o.code << "\n" << o.output;
  EXPECT_TRUE(contains(o.output, "PARRUN_RANK")) << o.output;
}

TEST(singleton, a_socket_directory_others_can_enter_is_refused) {
  // Only the job's own ranks may talk to a rank: never a socket another user can reach.
  const private_dir open_dir(0755);
  auto vars = unreachable_launcher();
  vars["PARRUN_SOCKET_DIR"] = open_dir.path();
  const outcome o = run_job({"catch"}, vars);
  ASSERT_FALSE(o.hung) << o.output;
  EXPECT_TRUE(o.exited && o.code == 4) << "exit " << o.code << "\n" << o.output;
  EXPECT_TRUE(contains(o.output, "PARRUN_SOCKET_DIR")) << o.output;
  EXPECT_TRUE(contains(o.output, "0700")) << o.output;
  vars.erase("PARRUN_SOCKET_DIR");
  const outcome missing = run_job({"catch"}, vars);
  EXPECT_TRUE(missing.exited && missing.code == 4) << missing.output;
  EXPECT_TRUE(contains(missing.output, "PARRUN_SOCKET_DIR")) << missing.output;
}

TEST(singleton, a_malformed_contract_is_a_usage_error_naming_the_bad_value) {
  auto vars = unreachable_launcher();
  vars["PARRUN_SIZE"] = "two";
  const outcome o = run_job({"catch"}, vars);
  ASSERT_FALSE(o.hung) << o.output;
  EXPECT_TRUE(o.exited && o.code == 4) << "exit " << o.code << "\n" << o.output;
  EXPECT_TRUE(contains(o.output, "PARRUN_SIZE")) << o.output;
  EXPECT_TRUE(contains(o.output, "two")) << o.output;
}

}  // namespace
