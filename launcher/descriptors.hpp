#pragma once
// Open-file limits. The launcher holds a few descriptors per rank for the whole job (the read
// ends of its stdout and stderr pipes, its control connection), so a job of a few hundred
// ranks runs out under the common soft limit of 1024. At start the launcher raises its soft
// limit to the hard one; a job that does not fit even then is refused before anything starts,
// with the numbers and the fix. The ranks start with the limits parrun itself was given
// (the runtime raises its own when a large job needs it).
#include <sys/resource.h>

#include <optional>
#include <string>

namespace parrun::launcher {

/// RLIMIT_NOFILE as parrun found it and as it is after raising the soft limit.
struct descriptor_limits {
  rlimit original{};  ///< what parrun was started with (and what the ranks get)
  rlimit raised{};    ///< soft limit raised to the hard one, where that worked
};

/// Raises RLIMIT_NOFILE's soft limit to its hard limit (best effort: on failure, as it was).
descriptor_limits raise_descriptor_limit() noexcept;

/// How many descriptors the launcher may hold at once for a job of `np` ranks: what it keeps
/// per rank, what one rank's start holds for a moment, and its own fixed set, with a margin.
rlim_t descriptors_needed(int np) noexcept;

/// Empty when a job of `np` ranks fits under `limit` (the raised RLIMIT_NOFILE), else the
/// one-line reason, naming the limit, the number needed and how to raise it.
std::optional<std::string> descriptor_shortage(int np, const rlimit& limit);

}  // namespace parrun::launcher
