#include "plan.hpp"

#include <stdexcept>

#include <parrun/detail/net.hpp>

namespace parrun::launcher {

bool job_plan::spans_hosts() const {
  for (std::size_t h = 0; h < hosts.size(); ++h)
    if (!local[h] && !ranks_of(static_cast<int>(h)).empty()) return true;
  return false;
}

std::vector<int> job_plan::ranks_of(int h) const {
  std::vector<int> ranks;
  for (int r = 0; r < static_cast<int>(host_of_rank.size()); ++r)
    if (host_of_rank[static_cast<std::size_t>(r)] == h) ranks.push_back(r);
  return ranks;
}

namespace {

std::vector<host_slots> slurm_allocation(const env_lookup& getenv) {
  const auto nodes = getenv("SLURM_JOB_NODELIST");
  const auto tasks = getenv("SLURM_TASKS_PER_NODE");
  if (!nodes || nodes->empty())
    throw usage_failure("SLURM_JOB_ID is set but SLURM_JOB_NODELIST is not: inside a Slurm allocation parrun takes "
                        "its hosts from it (or give --host)");
  try {
    if (tasks && !tasks->empty()) return slurm_hosts(*nodes, *tasks);
    std::vector<host_slots> hosts;
    for (const std::string& n : expand_slurm_nodelist(*nodes)) hosts.push_back({n, 1});
    return hosts;
  } catch (const std::invalid_argument& e) {
    throw usage_failure(std::string("the Slurm allocation cannot be read: ") + e.what());
  }
}

}  // namespace

job_plan make_plan(const launch_options& options, const env_lookup& getenv, const std::string& this_host) {
  job_plan plan;
  if (!options.host_list.empty()) plan.hosts = parse_host_list(options.host_list);
  else if (!options.hostfile.empty()) plan.hosts = read_hostfile(options.hostfile);
  else if (getenv("SLURM_JOB_ID")) {
    plan.hosts = slurm_allocation(getenv);
    plan.from_slurm = true;
  }
  if (plan.hosts.empty()) {  // this host alone: as many ranks as asked, however many cores
    plan.np = options.np;
    plan.hosts = {{this_host, options.np}};
    plan.local = {true};
    plan.host_of_rank.assign(static_cast<std::size_t>(options.np), 0);
    return plan;
  }
  int slots = 0;
  for (const host_slots& h : plan.hosts) slots += h.slots;
  plan.np = options.np_given ? options.np : slots;
  plan.host_of_rank = map_ranks(plan.hosts, plan.np, parse_map_by(options.map_by), options.oversubscribe);
  // Inside an allocation this node may be known to Slurm by another name than its host name.
  const auto slurm_name = plan.from_slurm ? getenv("SLURMD_NODENAME") : std::nullopt;
  for (const host_slots& h : plan.hosts)
    plan.local.push_back(is_this_host(h.name, this_host) || (slurm_name && h.name == *slurm_name) ||
                         detail::net::is_local_address(h.name));
  if (!options.launch_agent.empty()) {
    plan.how = {launch_kind::command, options.launch_agent};
  } else if (plan.from_slurm) {
    plan.how = {launch_kind::slurm, ""};
  } else {
    const auto ssh = getenv("PARRUN_SSH");
    plan.how = {launch_kind::ssh, ssh && !ssh->empty() ? *ssh : "ssh"};
  }
  return plan;
}

}  // namespace parrun::launcher
