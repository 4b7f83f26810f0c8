#pragma once
// `parrun --agent`: the launcher's hands on a remote host (protocol in agent_protocol.hpp). It
// reads its bootstrap, connects back to the launcher, forks that host's ranks exactly as the
// launcher does on its own host (spawn.hpp: one process group, death with the agent, a watchdog
// that kills the group however the agent ends), and relays what happens to them: each whole
// output line, each exit status. It forwards the launcher's signals and stdin for rank 0, and
// exits when its ranks are done. When it loses the launcher (no heartbeat for lost_after_ms, or
// the end of its stdin: the ssh connection is gone) it kills its ranks and exits: no orphans.
//
// `parrun --agent --check PROGRAM` is the --check-hosts probe: it says hello, reports whether
// PROGRAM can be executed here, and exits without starting anything.
#include <sys/resource.h>

#include <string>

namespace parrun::launcher {

/// Runs the agent until its ranks are done; returns its exit code. `check_program` non-empty:
/// the --check-hosts probe.
int run_agent(const rlimit& rank_open_files, const std::string& check_program);

}  // namespace parrun::launcher
