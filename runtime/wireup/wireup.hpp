#pragma once
// Joining a job. Reads the launcher's environment contract (parrun/wire.hpp), binds this rank's
// data endpoint, says hello to the launcher's control service and waits for the table of every
// rank's endpoint; then the ranks talk directly. Without the contract the program is a
// singleton, rank 0 of 1. With the contract but no launcher answering, joining fails loudly.
#include <memory>
#include <string>
#include <vector>

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
};

struct joined_job {
  job_info info;
  std::unique_ptr<transport> link;
};

/// Joins the job described by the environment. Throws usage_error for a malformed contract,
/// transport_error when the launcher does not answer.
joined_job join_job();

}  // namespace parrun::detail
