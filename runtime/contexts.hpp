#pragma once
// Message contexts: every frame's envelope names the context it belongs to, and a receive
// matches only frames of its own context. A communicator owns a base (low two bits zero) and
// three consecutive contexts above it, its message spaces, so that user messages, collectives
// and channels on one communicator never match each other; the engine's own frames (the
// finalize flush) use a context no communicator has.
#include <cstdint>

namespace parrun::detail {

/// A communicator's message spaces: context = base + space.
enum class space : std::uint64_t { user = 0, collective = 1, channel = 2 };
inline constexpr std::uint64_t space_mask = 3;

/// The communicator base a context belongs to.
constexpr std::uint64_t base_of(std::uint64_t context) noexcept { return context & ~space_mask; }

/// The engine's own frames, on a context no communicator uses.
inline constexpr std::uint64_t engine_context = ~std::uint64_t{0};
inline constexpr std::int32_t fin_tag = -1;      ///< "everything I sent you is before this frame"
inline constexpr std::int32_t fin_ack_tag = -2;  ///< "your FIN arrived: I have all of it"

}  // namespace parrun::detail
