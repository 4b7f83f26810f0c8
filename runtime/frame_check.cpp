#include "frame_check.hpp"

#include <parrun/status.hpp>

#include "contexts.hpp"

namespace parrun::detail {

const char* envelope_problem(const envelope& env, int world_size, int my_rank) noexcept {
  if (env.world_source >= static_cast<std::uint32_t>(world_size)) return "its world source is not a rank of the job";
  if (env.world_source == static_cast<std::uint32_t>(my_rank)) return "it claims to come from this rank itself";
  if (env.context == engine_context) {
    if (env.tag != fin_tag && env.tag != fin_ack_tag) return "an engine frame with an unknown tag";
    if (env.type != 0 || env.flags != 0) return "an engine frame with a type or flags";
    return nullptr;
  }
  if (env.source < 0) return "its source rank is negative";
  if (env.tag < 0 || env.tag > max_tag) return "its tag is outside 0..max_tag";
  switch (static_cast<space>(env.context & space_mask)) {
    case space::user:
      if (env.flags != 0) return "a message with flags";
      return nullptr;
    case space::collective:
      return nullptr;  // op and variant in flags: each collective call checks them on receipt
    case space::channel:
      if ((env.flags & 0xf) == 0) return "a channel frame of no kind";
      return nullptr;
  }
  return "its context is in no message space";
}

const char* source_problem(const envelope& env, const std::vector<int>& world_ranks) noexcept {
  if (env.context == engine_context) return nullptr;
  if (env.source < 0 || static_cast<std::size_t>(env.source) >= world_ranks.size())
    return "its source is not a rank of its communicator";
  if (static_cast<std::uint32_t>(world_ranks[static_cast<std::size_t>(env.source)]) != env.world_source)
    return "its source rank is not the rank it came from";
  return nullptr;
}

}  // namespace parrun::detail
