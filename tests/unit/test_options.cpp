// The command line (launcher/options.hpp): `parrun [options] program [args...]`, checked before
// anything is started, and the program's lookup on PATH.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "options.hpp"
#include "report.hpp"

namespace fs = std::filesystem;

using parrun::launcher::action;
using parrun::launcher::launch_options;
using parrun::launcher::parse_options;
using parrun::launcher::resolve_program;
using parrun::launcher::exit_cannot_invoke;
using parrun::launcher::exit_not_found;
using parrun::launcher::start_failure;
using parrun::launcher::usage_failure;

namespace {

using env_map = std::map<std::string, std::string>;

// Parses `parrun args...` with `env` as parrun's own environment.
launch_options parse(const std::vector<std::string>& args, const env_map& env = {}) {
  std::vector<const char*> argv{"parrun"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  return parse_options(static_cast<int>(args.size() + 1), argv.data(),
                       [&env](const std::string& name) -> std::optional<std::string> {
                         auto it = env.find(name);
                         if (it == env.end()) return std::nullopt;
                         return it->second;
                       });
}

// The usage_failure's message for `parrun args...`; fails the test when parsing succeeds.
std::string usage_error_of(const std::vector<std::string>& args, const env_map& env = {}) {
  try {
    parse(args, env);
  } catch (const usage_failure& e) {
    return e.what();
  }
  ADD_FAILURE() << "parsing was expected to fail";
  return {};
}

using strings = std::vector<std::string>;

}  // namespace

TEST(options, short_np_program_and_args) {
  launch_options o = parse({"-n", "4", "./prog", "a", "b"});
  EXPECT_EQ(o.what, action::run);
  EXPECT_EQ(o.np, 4);
  EXPECT_EQ(o.program, "./prog");
  EXPECT_EQ(o.args, (strings{"a", "b"}));
  EXPECT_FALSE(o.tag_output);
  EXPECT_FALSE(o.continue_on_failure);
  EXPECT_FALSE(o.timeout_seconds.has_value());
  EXPECT_TRUE(o.env.empty());
}

TEST(options, np_spellings) {
  EXPECT_EQ(parse({"--np", "3", "prog"}).np, 3);
  EXPECT_EQ(parse({"--np=5", "prog"}).np, 5);
  EXPECT_EQ(parse({"-n7", "prog"}).np, 7);
  EXPECT_EQ(parse({"-n", "1", "prog"}).np, 1);
}

TEST(options, every_option_is_read) {
  launch_options o = parse({"--tag-output", "--timeout", "2.5", "--continue-on-failure", "-n", "2",
                            "-x", "A=1", "prog"});
  EXPECT_EQ(o.np, 2);
  EXPECT_TRUE(o.tag_output);
  EXPECT_TRUE(o.continue_on_failure);
  ASSERT_TRUE(o.timeout_seconds.has_value());
  EXPECT_DOUBLE_EQ(*o.timeout_seconds, 2.5);
  EXPECT_EQ(o.env, (std::vector<std::pair<std::string, std::string>>{{"A", "1"}}));
  EXPECT_EQ(o.program, "prog");
  EXPECT_TRUE(o.args.empty());
}

TEST(options, transport_sets_the_environment_contract) {
  EXPECT_EQ(parse({"--transport", "zmq", "-n", "2", "prog"}).env,
            (std::vector<std::pair<std::string, std::string>>{{"PARRUN_TRANSPORT", "zmq"}}));
  EXPECT_EQ(parse({"--transport=shm", "-n", "2", "prog"}).env,
            (std::vector<std::pair<std::string, std::string>>{{"PARRUN_TRANSPORT", "shm"}}));
  const std::string why = usage_error_of({"--transport", "tcp", "-n", "2", "prog"});
  EXPECT_NE(why.find("--transport: 'tcp' is not one of auto, shm, zmq"), std::string::npos) << why;
  const std::string inherited = usage_error_of({"-n", "2", "prog"}, {{"PARRUN_TRANSPORT", "bogus"}});
  EXPECT_NE(inherited.find("PARRUN_TRANSPORT='bogus' (from the environment) is not one of"), std::string::npos) << inherited;
  EXPECT_TRUE(parse({"-n", "2", "prog"}, {{"PARRUN_TRANSPORT", "zmq"}}).env.empty()) << "a valid one is simply inherited";
}

TEST(options, everything_after_the_program_belongs_to_it) {
  launch_options o = parse({"-n", "2", "prog", "-n", "5", "--help", "--timeout", "x", "-x", "--bogus"});
  EXPECT_EQ(o.what, action::run);
  EXPECT_EQ(o.np, 2);
  EXPECT_FALSE(o.timeout_seconds.has_value());
  EXPECT_TRUE(o.env.empty());
  EXPECT_EQ(o.program, "prog");
  EXPECT_EQ(o.args, (strings{"-n", "5", "--help", "--timeout", "x", "-x", "--bogus"}));
}

TEST(options, double_dash_ends_parrun_options) {
  launch_options o = parse({"-n", "2", "--", "prog", "--version"});
  EXPECT_EQ(o.what, action::run);
  EXPECT_EQ(o.program, "prog");
  EXPECT_EQ(o.args, (strings{"--version"}));
}

TEST(options, help_and_version_need_nothing_else) {
  EXPECT_EQ(parse({"--help"}).what, action::help);
  EXPECT_EQ(parse({"-h"}).what, action::help);
  EXPECT_EQ(parse({"--version"}).what, action::version);
  // They win over a run, even a complete one.
  EXPECT_EQ(parse({"-n", "2", "--help", "prog"}).what, action::help);
  EXPECT_EQ(parse({"-n", "2", "--version", "prog"}).what, action::version);
}

TEST(options, help_text_lists_every_option) {
  const std::string help = parrun::launcher::help_text();
  EXPECT_NE(help.find("Usage: parrun [options] program [args...]"), std::string::npos) << help;
  for (const char* option : {"-n [ --np ] N", "--tag-output", "--timeout SECONDS", "-x [ --env ] NAME[=VALUE]",
                             "--continue-on-failure", "--version", "-h [ --help ]", "-H [ --host ] HOST[:N],...",
                             "--hostfile FILE", "--map-by slot|node", "--oversubscribe", "--launch-agent CMD",
                             "--iface NAME|CIDR", "--ports A-B", "--check-hosts"})
    EXPECT_NE(help.find(option), std::string::npos) << "missing " << option << " in\n" << help;
  for (const char* code : {"124 on --timeout", "125 for a usage error", "126 when the", "127 when it is not found",
                           "255 when a host was lost"})
    EXPECT_NE(help.find(code), std::string::npos) << "the exit codes are documented: " << code << "\n" << help;
}

TEST(options, np_is_required) {
  EXPECT_NE(usage_error_of({"prog"}).find("-n/--np is required"), std::string::npos);
  EXPECT_NE(usage_error_of({}).find("-n/--np is required"), std::string::npos);
}

TEST(options, np_without_value) {
  EXPECT_NE(usage_error_of({"-n"}).find("np"), std::string::npos);
  EXPECT_NE(usage_error_of({"--np"}).find("np"), std::string::npos);
}

TEST(options, np_must_be_a_positive_number) {
  EXPECT_EQ(usage_error_of({"-n", "0", "prog"}), "-n/--np: 0 ranks; give at least 1");
  EXPECT_EQ(usage_error_of({"-n", "-3", "prog"}), "-n/--np: -3 ranks; give at least 1");
  EXPECT_EQ(usage_error_of({"-n", "abc", "prog"}), "-n/--np: 'abc' is not a number of ranks");
  EXPECT_EQ(usage_error_of({"-n", "4x", "prog"}), "-n/--np: '4x' is not a number of ranks");
  EXPECT_EQ(usage_error_of({"-n", "2.5", "prog"}), "-n/--np: '2.5' is not a number of ranks");
  EXPECT_NE(usage_error_of({"-n", "99999999999999999999999", "prog"}).find("-n/--np"), std::string::npos);
  EXPECT_NE(usage_error_of({"-n", "65537", "prog"}).find("more than parrun supports"), std::string::npos);
  EXPECT_EQ(parse({"-n", "65536", "prog"}).np, 65536);
}

TEST(options, np_given_twice) {
  EXPECT_NE(usage_error_of({"-n", "1", "-n", "2", "prog"}).find("more than once"), std::string::npos);
}

TEST(options, unknown_option_is_named) {
  EXPECT_NE(usage_error_of({"--bogus", "-n", "2", "prog"}).find("--bogus"), std::string::npos);
  EXPECT_NE(usage_error_of({"-n", "2", "-q", "prog"}).find("-q"), std::string::npos);
}

TEST(options, no_abbreviated_long_options) {
  // --tag would be a guess at --tag-output; a typo must not silently mean something.
  EXPECT_NE(usage_error_of({"--tag", "-n", "1", "prog"}).find("--tag"), std::string::npos);
  EXPECT_NE(usage_error_of({"--time", "3", "-n", "1", "prog"}).find("--time"), std::string::npos);
}

TEST(options, switches_take_no_value) {
  EXPECT_NE(usage_error_of({"-n", "1", "--tag-output=1", "prog"}).find("--tag-output"), std::string::npos);
}

TEST(options, program_is_required) {
  EXPECT_EQ(usage_error_of({"-n", "2"}), "no program given: parrun [options] program [args...]");
  EXPECT_EQ(usage_error_of({"-n", "2", "--tag-output"}), "no program given: parrun [options] program [args...]");
}

TEST(options, empty_program_name_is_kept_for_resolve_program_to_refuse) {
  EXPECT_EQ(parse({"-n", "2", ""}).program, "");
}

TEST(options, double_dash_without_program_says_no_program) {
  EXPECT_EQ(usage_error_of({"-n", "2", "--"}), "no program given: parrun [options] program [args...]");
}

TEST(options, empty_option_value_is_reported_plainly) {
  for (const char* option : {"-n", "--timeout", "-x"}) {
    std::vector<std::string> args{"-n", "1", option, "", "prog"};
    if (std::string(option) == "-n") args = {"-n", "", "prog"};
    const std::string msg = usage_error_of(args);
    EXPECT_EQ(msg.find("--command"), std::string::npos) << option << " '': " << msg;
    EXPECT_EQ(msg.find("ambiguous"), std::string::npos) << option << " '': " << msg;
  }
  EXPECT_EQ(usage_error_of({"-n", "", "prog"}), "-n/--np: '' is not a number of ranks");
}

TEST(options, timeout_must_be_positive_seconds) {
  EXPECT_DOUBLE_EQ(*parse({"-n", "1", "--timeout", "30", "prog"}).timeout_seconds, 30.0);
  EXPECT_DOUBLE_EQ(*parse({"-n", "1", "--timeout=0.25", "prog"}).timeout_seconds, 0.25);
  for (const char* bad : {"0", "-1", "abc", "3s", "inf", "nan", "", "-inf", "1e-400"})
    EXPECT_NE(usage_error_of({"-n", "1", "--timeout", bad, "prog"}).find("--timeout"), std::string::npos)
        << "--timeout " << bad;
}

TEST(options, timeout_up_to_1e9_seconds) {
  // The deadline is int64 nanoseconds on the steady clock: 1e10 s (or anything past ~9.2e9)
  // used to overflow it, and the job "timed out" at once.
  EXPECT_DOUBLE_EQ(*parse({"-n", "1", "--timeout", "1e9", "prog"}).timeout_seconds, 1e9);
  EXPECT_DOUBLE_EQ(parrun::launcher::max_timeout_seconds, 1e9);
  for (const char* big : {"1e10", "1000000000.5", "9.3e9", "1e300", "1e400", "inf", "infinity", "INF"}) {
    const std::string msg = usage_error_of({"-n", "1", "--timeout", big, "prog"});
    EXPECT_EQ(msg, std::string("--timeout: '") + big +
                       "' is more than the largest accepted value, 1000000000 s (about 31 years)")
        << "--timeout " << big;
  }
  EXPECT_EQ(usage_error_of({"-n", "1", "--timeout", "nan", "prog"}), "--timeout: 'nan' is not a number of seconds");
  EXPECT_EQ(usage_error_of({"-n", "1", "--timeout", "-inf", "prog"}),
            "--timeout: '-inf' is not a positive number of seconds");
}

TEST(options, x_with_value) {
  launch_options o = parse({"-n", "1", "-x", "A=1", "-x", "B=x=y", "-x", "EMPTY=", "prog"});
  EXPECT_EQ(o.env, (std::vector<std::pair<std::string, std::string>>{{"A", "1"}, {"B", "x=y"}, {"EMPTY", ""}}));
  EXPECT_EQ(parse({"-n", "1", "--env", "C=3", "prog"}).env,
            (std::vector<std::pair<std::string, std::string>>{{"C", "3"}}));
}

TEST(options, x_name_alone_copies_parrun_value) {
  launch_options o = parse({"-n", "1", "-x", "HOME", "-x", "BLANK", "prog"}, {{"HOME", "/home/u"}, {"BLANK", ""}});
  EXPECT_EQ(o.env, (std::vector<std::pair<std::string, std::string>>{{"HOME", "/home/u"}, {"BLANK", ""}}));
}

TEST(options, x_name_alone_unset_is_an_error) {
  const std::string msg = usage_error_of({"-n", "1", "-x", "NOT_SET_ANYWHERE", "prog"}, {{"OTHER", "1"}});
  EXPECT_NE(msg.find("NOT_SET_ANYWHERE is not set"), std::string::npos) << msg;
  EXPECT_NE(msg.find("-x NOT_SET_ANYWHERE=VALUE"), std::string::npos) << "says how to fix it: " << msg;
}

TEST(options, x_rejects_bad_names) {
  for (const char* bad : {"1A=2", "=3", "A-B=1", "A B=1", "-=1"})
    EXPECT_NE(usage_error_of({"-n", "1", "-x", bad, "prog"}).find("not a valid environment variable name"),
              std::string::npos)
        << "-x '" << bad << "'";
  EXPECT_EQ(parse({"-n", "1", "-x", "_A9=1", "prog"}).env.front().first, "_A9");
}

TEST(options, x_keeps_command_line_order) {
  // A later -x of the same name must win when the list is applied in order.
  launch_options o = parse({"-n", "1", "-x", "A=first", "-x", "A=second", "prog"});
  EXPECT_EQ(o.env, (std::vector<std::pair<std::string, std::string>>{{"A", "first"}, {"A", "second"}}));
}

// --- resolve_program -----------------------------------------------------------------------

namespace {

class program_lookup : public testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/parrun-options-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    root_ = pattern;
    fs::create_directories(root_ / "a");
    fs::create_directories(root_ / "b");
    fs::create_directories(root_ / "a" / "subdir");
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path file(const fs::path& p, fs::perms mode) {
    std::ofstream(root_ / p) << "#!/bin/sh\nexit 0\n";
    fs::permissions(root_ / p, mode);
    return root_ / p;
  }
  std::string dir(const char* d) const { return (root_ / d).string(); }
  // The message resolve_program fails with; `code` is the exit code it must carry.
  std::string error_of(const std::string& program, const std::string& path, int code) {
    try {
      resolve_program(program, path);
    } catch (const start_failure& e) {
      EXPECT_EQ(e.exit_code(), code) << e.what();
      return e.what();
    }
    ADD_FAILURE() << "resolve_program(" << program << ") was expected to fail";
    return {};
  }

  fs::path root_;
};

constexpr fs::perms exec_mode = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec;
constexpr fs::perms plain_mode = fs::perms::owner_read | fs::perms::owner_write;

}  // namespace

TEST_F(program_lookup, path_with_slash_is_taken_as_given) {
  const fs::path p = file("a/tool", exec_mode);
  EXPECT_EQ(resolve_program(p.string(), ""), p.string());
  EXPECT_EQ(resolve_program(p.string(), dir("b")), p.string());
}

TEST_F(program_lookup, first_match_on_path_wins) {
  file("a/tool", exec_mode);
  file("b/tool", exec_mode);
  EXPECT_EQ(resolve_program("tool", dir("a") + ":" + dir("b")), dir("a") + "/tool");
  EXPECT_EQ(resolve_program("tool", dir("b") + ":" + dir("a")), dir("b") + "/tool");
}

TEST_F(program_lookup, non_executable_and_directories_on_path_are_skipped) {
  file("a/tool", plain_mode);
  file("b/tool", exec_mode);
  fs::create_directories(root_ / "a" / "both");
  file("b/both", exec_mode);
  EXPECT_EQ(resolve_program("tool", dir("a") + ":" + dir("b")), dir("b") + "/tool");
  EXPECT_EQ(resolve_program("both", dir("a") + ":" + dir("b")), dir("b") + "/both");
}

TEST_F(program_lookup, empty_path_entry_means_current_directory) {
  file("a/tool", exec_mode);
  const fs::path before = fs::current_path();
  fs::current_path(root_ / "a");
  std::string found;
  EXPECT_NO_THROW(found = resolve_program("tool", dir("b") + "::/nonexistent"));
  fs::current_path(before);
  EXPECT_EQ(found, "./tool");
}

TEST_F(program_lookup, missing_program_on_path) {
  const std::string msg = error_of("no-such-tool", dir("a") + ":" + dir("b"), exit_not_found);
  EXPECT_NE(msg.find("'no-such-tool' not found in PATH"), std::string::npos) << msg;
  EXPECT_NE(msg.find("./no-such-tool"), std::string::npos) << "suggests ./: " << msg;
}

TEST_F(program_lookup, missing_program_with_slash) {
  const std::string p = dir("a") + "/missing";
  EXPECT_EQ(error_of(p, "/usr/bin", exit_not_found), "program '" + p + "' not found");
}

TEST_F(program_lookup, not_executable_with_slash) {
  const fs::path p = file("a/data", plain_mode);
  const std::string msg = error_of(p.string(), "", exit_cannot_invoke);
  EXPECT_NE(msg.find("program '" + p.string() + "' is not executable"), std::string::npos) << msg;
}

TEST_F(program_lookup, directory_with_slash) {
  EXPECT_EQ(error_of(dir("a/subdir"), "", exit_cannot_invoke), "program '" + dir("a/subdir") + "' is a directory");
}

TEST_F(program_lookup, empty_name) {
  EXPECT_EQ(error_of("", dir("a"), exit_not_found), "the program name is empty");
}
