#pragma once
// Joining a job. Reads the launcher's environment contract (parrun/wire.hpp), opens this rank's
// lanes (shared memory for peers on this host, ZeroMQ for the others), says hello to the
// launcher's control service with one endpoint per lane and this host's identity, and waits for
// the table of every rank's; then it gives each peer exactly one lane and the ranks talk
// directly. Without the contract the program is a singleton, rank 0 of 1. With the contract but
// no launcher answering, joining fails loudly.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <parrun/wire.hpp>

#include "transport/transport.hpp"

namespace parrun::detail {

struct job_info {
  bool launched = false;
  int rank = 0;
  int size = 1;
  int local_rank = 0;
  int local_size = 1;
  std::string host;
  std::string job_id;
  std::vector<std::string> hosts;  ///< by rank
  // Tunables (README, "The environment contract"), read and checked once, here.
  int hwm = 1000;    ///< PARRUN_HWM: ZeroMQ high-water mark, messages per peer pipe
  int spin_us = -1;  ///< PARRUN_SPIN_US: µs a blocked rank polls before sleeping; -1: decide
  /// PARRUN_PART_BYTES: the largest part of a frame on the wire (bigger payloads travel in
  /// several parts); also the most a peer not yet authenticated can make this rank allocate.
  std::size_t max_part = std::size_t{64} << 20;
  /// PARRUN_TRANSPORT: "auto" (shared memory on one host, ZeroMQ across hosts), "shm", "zmq".
  std::string transport = "auto";
  // Shared-memory lane defaults, measured at -n 2 here (tools/bench, README "Performance"):
  // pipelining through a 512 KiB ring beats cross-memory attach below 1 MiB (256 KiB messages:
  // 5.1 GB/s against 2.7), cross-memory attach wins above it (the ring's two copies cost more).
  /// PARRUN_SHM_RING_BYTES: data bytes of each shared-memory ring (a power of two).
  std::uint64_t ring_bytes = 512 * 1024;
  /// PARRUN_SHM_DIRECT_BYTES: payloads from this size go by cross-memory attach (one copy).
  std::size_t direct_bytes = 1024 * 1024;
  /// PARRUN_SHM_DIRECT=0 turns cross-memory attach off (payloads pipeline through the ring).
  bool allow_direct = true;
};

struct joined_job {
  job_info info;
  std::unique_ptr<control_channel> control;  ///< null when not launched
  std::unique_ptr<transport> link;           ///< polls `control` too
};

/// The lane for a peer, from what the table says about both ranks and PARRUN_TRANSPORT; pure,
/// so it is unit-tested. Throws usage_error when `forced` cannot be honoured.
std::string choose_lane(const std::string& forced, const std::string& my_host_id, int peer,
                        const std::string& peer_host, const std::string& peer_host_id,
                        bool peer_has_shm, bool peer_has_zmq);

/// This machine and network namespace, so that ranks that can share memory recognise each other.
std::string this_host_id();

/// What a way of starting the job tells a rank once it presented itself (`hello`): every rank's
/// endpoints, and the channel to whatever watches over the job.
struct exchanged {
  wire::table table;
  std::unique_ptr<control_channel> control;
};
struct zmq_context;
/// The launcher (hello on its control socket) or PMIx (put, commit, fence). It may fill in
/// `info`'s local rank and size from the table.
using membership_exchange =
    std::function<exchanged(job_info& info, const wire::hello& hello, std::shared_ptr<zmq_context> zmq)>;

/// Binds this rank's lanes, presents it through `exchange`, and gives each peer its lane.
/// `may_span_hosts`: some rank may be on another host (then ZeroMQ, over TCP with CURVE when
/// the contract has keys, is bound too).
joined_job join_members(job_info info, const wire::contract& contract, bool may_span_hosts,
                        const membership_exchange& exchange);

/// Whether a PMIx server started this process (srun --mpi=pmix): PMIX_RANK and PMIX_NAMESPACE.
bool started_by_pmix();
/// Joins the job through PMIx (pmix_join.cpp); a usage_error naming the missing feature when
/// parrun was built without PMIx.
joined_job join_through_pmix(job_info info);

/// Joins the job described by the environment. Throws usage_error for a malformed contract,
/// transport_error when the launcher does not answer.
joined_job join_job();

}  // namespace parrun::detail
