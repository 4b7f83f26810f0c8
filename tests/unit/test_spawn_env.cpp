// Each rank's environment (launcher/spawn.hpp, rank_environment): parrun's whole environment,
// then the -x overrides, then the contract (parrun/wire.hpp), each name exactly once.
#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <parrun/wire.hpp>

#include "spawn.hpp"

using parrun::launcher::contract;
using parrun::launcher::rank_environment;

namespace {

using strings = std::vector<std::string>;
using overrides = std::vector<std::pair<std::string, std::string>>;

contract sample_contract() {
  return contract{3, 8, 1, 4, "tcp://127.0.0.1:5555", "5ec7e7", "0b1d", "/tmp/parrun-0b1d", "", "", "", ""};
}

// The value of NAME in an environment; nullopt when absent. Fails the test when NAME appears
// more than once (execve would pass both; which one getenv sees is not ours to leave to chance).
std::optional<std::string> value_of(const strings& env, const std::string& name) {
  const std::string prefix = name + "=";
  std::optional<std::string> found;
  int count = 0;
  for (const std::string& e : env)
    if (e.compare(0, prefix.size(), prefix) == 0) {
      ++count;
      found = e.substr(prefix.size());
    }
  EXPECT_LE(count, 1) << name << " appears " << count << " times";
  return found;
}

}  // namespace

TEST(rank_environment, contract_variables_are_set) {
  const strings env = rank_environment({"PATH=/bin", "HOME=/root"}, {}, sample_contract());
  EXPECT_EQ(value_of(env, parrun::wire::env_rank), "3");
  EXPECT_EQ(value_of(env, parrun::wire::env_size), "8");
  EXPECT_EQ(value_of(env, parrun::wire::env_local_rank), "1");
  EXPECT_EQ(value_of(env, parrun::wire::env_local_size), "4");
  EXPECT_EQ(value_of(env, parrun::wire::env_rendezvous), "tcp://127.0.0.1:5555");
  EXPECT_EQ(value_of(env, parrun::wire::env_secret), "5ec7e7");
  EXPECT_EQ(value_of(env, parrun::wire::env_job_id), "0b1d");
  EXPECT_EQ(value_of(env, parrun::wire::env_socket_dir), "/tmp/parrun-0b1d");
}

TEST(rank_environment, contract_names_are_the_documented_ones) {
  // The README and every rank depend on these exact names.
  EXPECT_STREQ(parrun::wire::env_rank, "PARRUN_RANK");
  EXPECT_STREQ(parrun::wire::env_size, "PARRUN_SIZE");
  EXPECT_STREQ(parrun::wire::env_local_rank, "PARRUN_LOCAL_RANK");
  EXPECT_STREQ(parrun::wire::env_local_size, "PARRUN_LOCAL_SIZE");
  EXPECT_STREQ(parrun::wire::env_rendezvous, "PARRUN_RENDEZVOUS");
  EXPECT_STREQ(parrun::wire::env_secret, "PARRUN_SECRET");
  EXPECT_STREQ(parrun::wire::env_job_id, "PARRUN_JOB_ID");
  EXPECT_STREQ(parrun::wire::env_socket_dir, "PARRUN_SOCKET_DIR");
}

TEST(rank_environment, whole_inherited_environment_is_forwarded_in_order) {
  const strings inherited{"PATH=/usr/bin:/bin", "HOME=/root", "EMPTY=", "WITH_EQ=a=b", "LANG=C.UTF-8"};
  const strings env = rank_environment(inherited, {}, sample_contract());
  ASSERT_EQ(env.size(), inherited.size() + 8);
  EXPECT_TRUE(std::equal(inherited.begin(), inherited.end(), env.begin()));
}

TEST(rank_environment, x_overrides_an_inherited_value_in_place) {
  const strings env = rank_environment({"A=1", "HOME=/root", "B=2"}, {{"HOME", "/elsewhere"}}, sample_contract());
  EXPECT_EQ(env[0], "A=1");
  EXPECT_EQ(env[1], "HOME=/elsewhere");
  EXPECT_EQ(env[2], "B=2");
  EXPECT_EQ(value_of(env, "HOME"), "/elsewhere");
}

TEST(rank_environment, x_adds_a_new_variable) {
  const strings env = rank_environment({"A=1"}, {{"NEW", "v"}, {"EMPTY", ""}}, sample_contract());
  EXPECT_EQ(value_of(env, "A"), "1");
  EXPECT_EQ(value_of(env, "NEW"), "v");
  EXPECT_EQ(value_of(env, "EMPTY"), "");
}

TEST(rank_environment, later_x_of_the_same_name_wins) {
  const strings env = rank_environment({}, {{"A", "first"}, {"A", "second"}}, sample_contract());
  EXPECT_EQ(value_of(env, "A"), "second");
}

TEST(rank_environment, names_are_matched_whole) {
  // Setting A must not touch AB, nor PARRUN_RANK touch PARRUN_RANKS.
  const strings env = rank_environment({"AB=keep", "PARRUN_RANKS=keep", "XA=keep"}, {{"A", "new"}}, sample_contract());
  EXPECT_EQ(value_of(env, "AB"), "keep");
  EXPECT_EQ(value_of(env, "XA"), "keep");
  EXPECT_EQ(value_of(env, "A"), "new");
  EXPECT_EQ(value_of(env, "PARRUN_RANKS"), "keep");
  EXPECT_EQ(value_of(env, "PARRUN_RANK"), "3");
}

TEST(rank_environment, contract_replaces_an_enclosing_jobs_contract) {
  // parrun started from inside a rank of another job inherits that job's PARRUN_* values.
  const strings inherited{"PARRUN_RANK=0", "PARRUN_SIZE=2", "PARRUN_LOCAL_RANK=0", "PARRUN_LOCAL_SIZE=2",
                          "PARRUN_RENDEZVOUS=tcp://10.0.0.1:1", "PARRUN_SECRET=old", "PARRUN_JOB_ID=old",
                          "PARRUN_SOCKET_DIR=/tmp/parrun-old", "KEEP=1"};
  const strings env = rank_environment(inherited, {}, sample_contract());
  EXPECT_EQ(env.size(), inherited.size()) << "replaced, not appended twice";
  EXPECT_EQ(value_of(env, "PARRUN_RANK"), "3");
  EXPECT_EQ(value_of(env, "PARRUN_SIZE"), "8");
  EXPECT_EQ(value_of(env, "PARRUN_LOCAL_RANK"), "1");
  EXPECT_EQ(value_of(env, "PARRUN_LOCAL_SIZE"), "4");
  EXPECT_EQ(value_of(env, "PARRUN_RENDEZVOUS"), "tcp://127.0.0.1:5555");
  EXPECT_EQ(value_of(env, "PARRUN_SECRET"), "5ec7e7");
  EXPECT_EQ(value_of(env, "PARRUN_JOB_ID"), "0b1d");
  EXPECT_EQ(value_of(env, "PARRUN_SOCKET_DIR"), "/tmp/parrun-0b1d");
  EXPECT_EQ(value_of(env, "KEEP"), "1");
}

TEST(rank_environment, contract_wins_over_x) {
  // -x PARRUN_RANK=7 cannot make every rank claim to be rank 7.
  const strings env = rank_environment(
      {}, {{"PARRUN_RANK", "7"}, {"PARRUN_SECRET", "guess"}, {"PARRUN_SOCKET_DIR", "/tmp/shared"}}, sample_contract());
  EXPECT_EQ(value_of(env, "PARRUN_RANK"), "3");
  EXPECT_EQ(value_of(env, "PARRUN_SECRET"), "5ec7e7");
  EXPECT_EQ(value_of(env, "PARRUN_SOCKET_DIR"), "/tmp/parrun-0b1d") << "the job's own directory, always";
}

TEST(rank_environment, optional_tuning_variables_pass_through) {
  const strings env = rank_environment({"PARRUN_CONNECT_TIMEOUT=30"}, {{"PARRUN_SPIN_US", "0"}}, sample_contract());
  EXPECT_EQ(value_of(env, "PARRUN_CONNECT_TIMEOUT"), "30");
  EXPECT_EQ(value_of(env, "PARRUN_SPIN_US"), "0");
}

TEST(rank_environment, each_rank_differs_only_in_its_numbers) {
  contract c0 = sample_contract(), c1 = sample_contract();
  c0.rank = 0;
  c0.local_rank = 0;
  c1.rank = 1;
  c1.local_rank = 1;
  const strings e0 = rank_environment({"A=1"}, {{"B", "2"}}, c0);
  const strings e1 = rank_environment({"A=1"}, {{"B", "2"}}, c1);
  ASSERT_EQ(e0.size(), e1.size());
  strings differ;
  for (std::size_t i = 0; i < e0.size(); ++i)
    if (e0[i] != e1[i]) differ.push_back(e0[i] + " / " + e1[i]);
  EXPECT_EQ(differ, (strings{"PARRUN_RANK=0 / PARRUN_RANK=1", "PARRUN_LOCAL_RANK=0 / PARRUN_LOCAL_RANK=1"}));
}
