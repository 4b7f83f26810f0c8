#pragma once
// The layout of fuzz_engine's input, shared with the seed generator (make_seeds.cpp).
//
//   header (6 bytes)
//     [0] world size p = 2 + b % 4          [1] this rank = b % p
//     [2] bit 0: a second communicator (members: the world reversed) exists before the frames
//         bit 1: it is created after they arrived (queued frames are checked then)
//         bits 4-7: the collective to run afterwards (collective_op; 0: none)
//     [3] bit 7: open a channel; bits 0-1 its capacity; bits 2-4 its peer (>= p: any_source);
//         bits 5-6 its id
//     [4] the value type of the collective (collective_types) and the channel (fuzz_types.hpp)
//     [5] the collective's root (b % p)
//   then records, until the input ends; each starts with a byte whose value % 4 is:
//     0 raw frame:    the envelope's 32 bytes, u16 length, payload
//     1 shaped frame: context (b % 6: world user/collective/channel, second user/collective,
//                     engine), tag (b - 2), source (communicator rank; the world source is
//                     its world rank unless bit 7 is set, then b % 8 as is), flags (u16),
//                     type (0: none, else fingerprint of type b - 1), u16 length, payload.
//                     Mostly-valid envelopes, so that mutations reach past the checks.
//     2 control:      u16 length, the message's bytes (as if from the launcher)
//     3 poll:         the engine takes in everything queued so far
#include <cstdint>

namespace parrun::fuzz::engine_input {

inline constexpr std::size_t header_size = 6;

enum class record : std::uint8_t { raw_frame = 0, shaped_frame = 1, control = 2, poll = 3 };

enum class collective_op : std::uint8_t {
  none = 0, barrier, broadcast, gather, allgather, scatter, alltoall, reduce, allreduce, scan, exscan,
};

/// Shaped-frame contexts.
enum class context_choice : std::uint8_t {
  world_user = 0, world_collective, world_channel, second_user, second_collective, engine,
};

/// The second communicator's base (the world's is 0).
inline constexpr std::uint64_t second_base = 64;

/// Number of value types a collective may be run with (fuzz_engine.cpp).
inline constexpr std::uint8_t collective_types = 4;

}  // namespace parrun::fuzz::engine_input
