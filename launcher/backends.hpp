#pragma once
// How the launcher reaches a host. On its own host it forks the ranks itself (spawn.hpp); on any
// other it starts one agent (`parrun --agent`, agent.hpp) that forks that host's ranks and
// reports back. The command that starts an agent is the only thing a backend decides, and it is
// built here by pure functions (unit-tested):
//   - ssh (the default): `ssh -o BatchMode=yes ... HOST exec PARRUN --agent`; never prompts,
//     gives up on an unreachable host after a bounded time. PARRUN_SSH replaces `ssh` (a path,
//     or a command with its own options).
//   - --launch-agent "CMD": CMD's words, then the host, then the agent command (Open MPI's rsh
//     agent convention), e.g. `ip netns exec` or `docker exec`.
//   - Slurm: inside an allocation, one `srun` step starts an agent on every other node.
// The agent's bootstrap (the launcher's address, the job's keys) goes to its stdin, never on its
// command line; for srun, which gives every task the same stdin, it goes in the environment of
// the srun process, which only the job's user can read.
#include <string>
#include <vector>

namespace parrun::launcher {

enum class launch_kind { ssh, command, slurm };

struct launch_method {
  launch_kind kind = launch_kind::ssh;
  std::string command;  ///< ssh: the ssh command (default "ssh"); command: --launch-agent's CMD
};

/// Splits a command the way a shell would split plain words: spaces separate, single and double
/// quotes group, a backslash escapes the next character. Throws usage_failure for an unclosed quote.
std::vector<std::string> split_command(const std::string& text);

/// `text` quoted for a POSIX shell (for the remote command an ssh server hands to one).
std::string shell_quote(const std::string& text);

/// The argv that starts an agent on `host` for ssh and command launches; `agent` is the agent's
/// own argv (the parrun binary and its agent options).
std::vector<std::string> agent_command(const launch_method& how, const std::string& host,
                                       const std::vector<std::string>& agent);

/// The argv of one srun step that starts one agent on each of `hosts`.
std::vector<std::string> srun_agents_command(const std::vector<std::string>& hosts,
                                             const std::vector<std::string>& agent);

/// This machine's host name.
std::string this_host_name();

/// Whether `host` names the machine the launcher runs on ("localhost", its host name, or its
/// short host name, given as `this_host`).
bool is_this_host(const std::string& host, const std::string& this_host);

}  // namespace parrun::launcher
