#pragma once
// Where the ranks of a job run and how each host is reached, decided once before anything
// starts, from the command line (--host, --hostfile, --map-by, --oversubscribe,
// --launch-agent) and the environment (a Slurm allocation: SLURM_JOB_NODELIST and
// SLURM_TASKS_PER_NODE; PARRUN_SSH). Pure but for asking the resolver whether a host name is one
// of this machine's addresses, so it is unit-tested. With no hosts given, the job
// runs on this host alone, as many ranks as -n says.
#include <string>
#include <vector>

#include "backends.hpp"
#include "hosts.hpp"
#include "options.hpp"

namespace parrun::launcher {

struct job_plan {
  int np = 0;
  std::vector<host_slots> hosts;
  std::vector<bool> local;        ///< by host: this machine (its ranks are forked directly)
  std::vector<int> host_of_rank;  ///< index into hosts
  launch_method how;
  bool from_slurm = false;        ///< the hosts are a Slurm allocation's

  /// Whether any rank runs on another host (then TCP and CURVE are on).
  bool spans_hosts() const;
  /// The ranks host `h` runs, in rank order.
  std::vector<int> ranks_of(int h) const;
};

/// Throws usage_failure for a bad host list, hostfile or Slurm environment, or too few slots.
job_plan make_plan(const launch_options& options, const env_lookup& getenv, const std::string& this_host);

}  // namespace parrun::launcher
