// The placement of ranks on hosts (plan.hpp) and the commands that start each host's agent
// (backends.hpp): pure functions, tested without starting anything.
#include <gtest/gtest.h>

#include <map>

#include "backends.hpp"
#include "options.hpp"
#include "plan.hpp"

namespace parrun::launcher {
namespace {

env_lookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

launch_options parse(std::vector<const char*> args, const env_lookup& env = env_of({})) {
  args.insert(args.begin(), "parrun");
  return parse_options(static_cast<int>(args.size()), args.data(), env);
}

TEST(plan, without_hosts_every_rank_runs_here) {
  const job_plan p = make_plan(parse({"-n", "3", "prog"}), env_of({}), "head");
  EXPECT_EQ(p.np, 3);
  ASSERT_EQ(p.hosts.size(), 1u);
  EXPECT_TRUE(p.local[0]);
  EXPECT_FALSE(p.spans_hosts());
  EXPECT_EQ(p.host_of_rank, (std::vector<int>{0, 0, 0}));
}

TEST(plan, a_host_list_fills_slots_and_knows_this_host) {
  const job_plan p = make_plan(parse({"--host", "head:2,h2:2", "-n", "4", "prog"}), env_of({}), "head");
  EXPECT_EQ(p.host_of_rank, (std::vector<int>{0, 0, 1, 1}));
  EXPECT_TRUE(p.local[0]);
  EXPECT_FALSE(p.local[1]);
  EXPECT_TRUE(p.spans_hosts());
  EXPECT_EQ(p.how.kind, launch_kind::ssh);
  EXPECT_EQ(p.how.command, "ssh");
  EXPECT_EQ(p.ranks_of(1), (std::vector<int>{2, 3}));
}

TEST(plan, an_address_of_this_machine_is_this_host) {
  const job_plan p = make_plan(parse({"--host", "127.0.0.2:1,elsewhere.invalid:1", "prog"}), env_of({}), "head");
  EXPECT_TRUE(p.local[0]);
  EXPECT_FALSE(p.local[1]);
}

TEST(plan, np_defaults_to_every_slot) {
  const job_plan p = make_plan(parse({"--host", "a:3,b", "prog"}), env_of({}), "head");
  EXPECT_EQ(p.np, 4);
}

TEST(plan, map_by_node_alternates) {
  const job_plan p = make_plan(parse({"--host", "a:2,b:2", "--map-by", "node", "-n", "4", "prog"}), env_of({}), "x");
  EXPECT_EQ(p.host_of_rank, (std::vector<int>{0, 1, 0, 1}));
}

TEST(plan, too_few_slots_is_an_error_unless_oversubscribed) {
  EXPECT_THROW(make_plan(parse({"--host", "a:1,b:1", "-n", "3", "prog"}), env_of({}), "x"), usage_failure);
  const job_plan p = make_plan(parse({"--host", "a:1,b:1", "-n", "3", "--oversubscribe", "prog"}), env_of({}), "x");
  EXPECT_EQ(p.host_of_rank.size(), 3u);
}

TEST(plan, a_slurm_allocation_gives_hosts_and_srun) {
  const auto env = env_of({{"SLURM_JOB_ID", "7"}, {"SLURM_JOB_NODELIST", "h[1-3]"}, {"SLURM_TASKS_PER_NODE", "2(x2),1"}});
  const job_plan p = make_plan(parse({"prog"}, env), env, "h1");
  EXPECT_EQ(p.np, 5);
  EXPECT_TRUE(p.from_slurm);
  EXPECT_EQ(p.how.kind, launch_kind::slurm);
  EXPECT_EQ(p.host_of_rank, (std::vector<int>{0, 0, 1, 1, 2}));
  EXPECT_TRUE(p.local[0]);  // the batch script runs on the allocation's first node
}

TEST(plan, slurm_names_this_node_as_slurmd_does) {
  const auto env = env_of({{"SLURM_JOB_ID", "7"}, {"SLURM_JOB_NODELIST", "n[1-2]"}, {"SLURM_TASKS_PER_NODE", "1(x2)"},
                           {"SLURMD_NODENAME", "n2"}});
  const job_plan p = make_plan(parse({"prog"}, env), env, "login7");
  EXPECT_FALSE(p.local[0]);
  EXPECT_TRUE(p.local[1]);
}

TEST(plan, launch_agent_and_parrun_ssh_choose_the_command) {
  const auto env = env_of({{"PARRUN_SSH", "/opt/ssh -F cfg"}});
  EXPECT_EQ(make_plan(parse({"--host", "a", "prog"}, env), env, "x").how.command, "/opt/ssh -F cfg");
  const job_plan p = make_plan(parse({"--host", "a", "--launch-agent", "ip netns exec", "prog"}), env_of({}), "x");
  EXPECT_EQ(p.how.kind, launch_kind::command);
}

TEST(options, host_options_are_checked) {
  EXPECT_THROW(parse({"--host", "a", "--hostfile", "f", "prog"}), usage_failure);
  EXPECT_THROW(parse({"--host", "a", "--map-by", "core", "prog"}), usage_failure);
  EXPECT_THROW(parse({"--host", "a", "--ports", "9-5", "prog"}), usage_failure);
  EXPECT_THROW(parse({"--host", "a", "--ports", "x", "prog"}), usage_failure);
  EXPECT_THROW(parse({"--host", "a", "--launch-agent", " ", "prog"}), usage_failure);
  EXPECT_THROW(parse({"prog"}), usage_failure) << "-n is still required without hosts";
  const launch_options o = parse({"--host", "a:2", "--iface", "10.0.0.0/8", "--ports", "5000-5010", "prog"});
  EXPECT_EQ(o.iface, "10.0.0.0/8");
  EXPECT_EQ(o.ports, "5000-5010");
  EXPECT_FALSE(o.np_given);
}

TEST(backends, ssh_never_prompts_and_quotes_the_remote_command) {
  const auto argv = agent_command({launch_kind::ssh, "ssh"}, "h2", {"/opt/par run/parrun", "--agent"});
  ASSERT_GE(argv.size(), 4u);
  EXPECT_EQ(argv.front(), "ssh");
  EXPECT_NE(std::find(argv.begin(), argv.end(), "BatchMode=yes"), argv.end());
  EXPECT_EQ(argv[argv.size() - 2], "h2");
  EXPECT_EQ(argv.back(), "exec '/opt/par run/parrun' --agent");
  for (const std::string& word : argv) EXPECT_EQ(word.find("secret"), std::string::npos);
}

TEST(backends, ssh_command_may_carry_options) {
  const auto argv = agent_command({launch_kind::ssh, "ssh -F '/tmp/my cfg'"}, "h2", {"parrun", "--agent"});
  EXPECT_EQ(argv[0], "ssh");
  EXPECT_EQ(argv[1], "-F");
  EXPECT_EQ(argv[2], "/tmp/my cfg");
}

TEST(backends, launch_agent_gets_the_host_then_the_agent) {
  const auto argv = agent_command({launch_kind::command, "ip netns exec"}, "h3", {"/bin/parrun", "--agent"});
  EXPECT_EQ(argv, (std::vector<std::string>{"ip", "netns", "exec", "h3", "/bin/parrun", "--agent"}));
}

TEST(backends, srun_starts_one_agent_per_node) {
  const auto argv = srun_agents_command({"h2", "h3"}, {"/bin/parrun", "--agent"});
  EXPECT_EQ(argv.front(), "srun");
  for (const char* want : {"--nodes=2", "--ntasks=2", "--ntasks-per-node=1", "--nodelist=h2,h3", "--kill-on-bad-exit=1"})
    EXPECT_NE(std::find(argv.begin(), argv.end(), want), argv.end()) << want;
  EXPECT_EQ(argv.back(), "--agent");
}

TEST(backends, split_command_handles_quotes_and_escapes) {
  EXPECT_EQ(split_command(R"(a "b c" 'd e' f\ g)"), (std::vector<std::string>{"a", "b c", "d e", "f g"}));
  EXPECT_EQ(split_command("  "), std::vector<std::string>{});
  EXPECT_THROW(split_command("a 'b"), usage_failure);
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_quote("/usr/bin/parrun"), "/usr/bin/parrun");
}

TEST(backends, this_host_by_name_short_name_or_localhost) {
  EXPECT_TRUE(is_this_host("localhost", "node1.cluster"));
  EXPECT_TRUE(is_this_host("node1", "node1.cluster"));
  EXPECT_TRUE(is_this_host("node1.cluster", "node1.cluster"));
  EXPECT_FALSE(is_this_host("node2", "node1.cluster"));
}

}  // namespace
}  // namespace parrun::launcher
