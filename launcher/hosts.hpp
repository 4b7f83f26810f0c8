#pragma once
// Where the ranks run. A job's hosts come from one of three places: `--host a:4,b:4`, a
// hostfile (`--hostfile F`, one host per line), or the Slurm allocation the launcher finds
// itself in (SLURM_JOB_NODELIST with SLURM_TASKS_PER_NODE). Each is read here into the same
// list, host names in first-appearance order with their slots (how many ranks a host takes
// before it is oversubscribed); map_ranks then turns that list, -n and --map-by into the host
// of every rank, which is all a backend needs to know to start rank r on its host. Everything
// here is pure (read_hostfile only reads the file), so it is tested without a cluster.
#include <string>
#include <vector>

namespace parrun::launcher {

/// One host and how many ranks it takes (1 to 65536).
struct host_slots {
  std::string name;
  int slots = 1;
};

/// `--host a:4,b:4,c`: a host without a count has 1 slot; the same name twice adds its slots
/// up, at its first place. Throws usage_failure naming the bad item.
std::vector<host_slots> parse_host_list(const std::string& text);

/// A hostfile's text: per line `host`, `host:N` or `host slots=N [max_slots=M]` (max_slots is
/// accepted and ignored), `#` to the end of a line is a comment, blank lines are skipped, the
/// same name twice adds its slots up. Throws usage_failure naming `file` and the line number,
/// or saying that the file names no hosts.
std::vector<host_slots> parse_hostfile(const std::string& text, const std::string& file);

/// Reads the hostfile at `path` and parses it. Throws usage_failure when it cannot be read
/// (with the system's reason) or is malformed.
std::vector<host_slots> read_hostfile(const std::string& path);

/// Slurm's compressed node list (SLURM_JOB_NODELIST), expanded in order: "node[01-03],x" is
/// node01, node02, node03, x; "a[1-2]b[3-4]" is a1b3, a1b4, a2b3, a2b4. Throws
/// std::invalid_argument naming the text and what is wrong with it.
std::vector<std::string> expand_slurm_nodelist(const std::string& text);

/// SLURM_TASKS_PER_NODE, one count per node: "4(x2),1" is 4, 4, 1. Throws
/// std::invalid_argument naming the text and the bad item.
std::vector<int> expand_slurm_tasks_per_node(const std::string& text);

/// The hosts of a Slurm allocation, each with its task count as slots. Throws
/// std::invalid_argument when either variable is malformed or their counts differ.
std::vector<host_slots> slurm_hosts(const std::string& nodelist, const std::string& tasks_per_node);

/// --map-by: `slot` fills each host before the next; `node` deals ranks round-robin.
enum class map_by { slot, node };

/// "slot" or "node". Throws usage_failure otherwise.
map_by parse_map_by(const std::string& text);

/// The host (an index into `hosts`) of each of `np` ranks. With map_by::slot the ranks of one
/// host are contiguous; with map_by::node rank r goes to the next host with a free slot. More
/// ranks than slots throws usage_failure, unless `oversubscribe`: then slot mapping spreads the
/// extra ranks evenly over the hosts (still contiguous) and node mapping keeps dealing
/// round-robin over all of them. Throws std::invalid_argument when `hosts` is empty or np < 0.
std::vector<int> map_ranks(const std::vector<host_slots>& hosts, int np, map_by how,
                           bool oversubscribe);

}  // namespace parrun::launcher
