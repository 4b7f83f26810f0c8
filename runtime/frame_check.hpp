#pragma once
// Nothing read from the wire is trusted. Before an arrived frame is counted, indexed by any of
// its fields or delivered, the engine checks its envelope here; a frame that fails is dropped
// with a warning and never reaches the program or ends the job.
//
//   envelope_problem: what needs no communicator (the world source, the context's message
//                     space, the tags and flags that space uses) - checked on arrival;
//   source_problem:   the communicator rank against the communicator's members - checked on
//                     arrival when the communicator exists here, else when it is created.
#include <vector>

#include "transport/transport.hpp"

namespace parrun::detail {

/// Why `env` cannot come from another rank of a job of `world_size` ranks (I am `my_rank`);
/// nullptr when it can.
const char* envelope_problem(const envelope& env, int world_size, int my_rank) noexcept;

/// Why `env`'s communicator rank does not fit the communicator whose members (world ranks, by
/// communicator rank) are `world_ranks`; nullptr when it does.
const char* source_problem(const envelope& env, const std::vector<int>& world_ranks) noexcept;

}  // namespace parrun::detail
