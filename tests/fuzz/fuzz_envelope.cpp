// The envelope checks (runtime/frame_check.hpp) on envelopes as they come off the wire (32
// bytes, memcpy'd). Input: the envelope's 32 bytes, the job's size and this rank (u16 each),
// then a communicator's members (a count byte, then u16 world ranks). Besides not crashing, an
// envelope the checks let through must have what the engine then relies on: a world source it
// can index its peers with, a tag and flags its message space uses, a source that is the
// sender's rank in the communicator.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <parrun/status.hpp>

#include "contexts.hpp"
#include "frame_check.hpp"
#include "fuzz_support.hpp"

namespace {

using namespace parrun::detail;
using parrun::fuzz::bug;

void check_accepted(const envelope& env, int world_size, int my_rank) {
  if (env.world_source >= static_cast<std::uint32_t>(world_size))
    bug("envelope", "accepted a world source outside the job");
  if (env.world_source == static_cast<std::uint32_t>(my_rank))
    bug("envelope", "accepted a frame from this rank itself");
  if (env.context == engine_context) {
    if (env.tag != fin_tag && env.tag != fin_ack_tag) bug("envelope", "accepted an unknown engine tag");
    return;
  }
  if (env.source < 0) bug("envelope", "accepted a negative source");
  if (env.tag < 0 || env.tag > parrun::max_tag) bug("envelope", "accepted a tag outside 0..max_tag");
  const auto s = static_cast<space>(env.context & space_mask);
  if (s != space::user && s != space::collective && s != space::channel)
    bug("envelope", "accepted a context in no message space");
  if (s == space::user && env.flags != 0) bug("envelope", "accepted a user message with flags");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  parrun::fuzz::reader in(data, size);
  const auto env = in.take<envelope>();
  const int world_size = 1 + in.take<std::uint16_t>();
  const int my_rank = in.take<std::uint16_t>() % world_size;
  std::vector<int> members(in.byte());
  for (int& m : members) m = in.take<std::uint16_t>() % world_size;

  if (envelope_problem(env, world_size, my_rank) == nullptr) check_accepted(env, world_size, my_rank);
  if (source_problem(env, members) == nullptr && env.context != engine_context) {
    if (env.source < 0 || static_cast<std::size_t>(env.source) >= members.size())
      bug("envelope", "accepted a source outside the communicator");
    if (static_cast<std::uint32_t>(members[static_cast<std::size_t>(env.source)]) != env.world_source)
      bug("envelope", "accepted a source that is not the sender's rank in the communicator");
  }
  return 0;
}
