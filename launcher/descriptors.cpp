#include "descriptors.hpp"

namespace parrun::launcher {
namespace {

// Held for the whole job, per rank: the read ends of its stdout and stderr pipes, and its
// ZeroMQ connection to the control service (rank 0's stdin pipe is in the fixed part).
constexpr rlim_t per_rank = 3;
// Held once: stdin/stdout/stderr, the signalfd, the watchdog's pipe, rank 0's stdin, the
// control service's listening socket and ZeroMQ's own (mailboxes, epoll): 14 measured with
// -n 100 (314 in all), plus the six more a rank's start holds for a moment (its pipes and the
// exec report). The rest is room for what the next change adds.
constexpr rlim_t fixed = 48;

}  // namespace

descriptor_limits raise_descriptor_limit() noexcept {
  descriptor_limits l;
  if (getrlimit(RLIMIT_NOFILE, &l.original) != 0) {
    l.original.rlim_cur = l.original.rlim_max = RLIM_INFINITY;  // unknown: assume enough
    l.raised = l.original;
    return l;
  }
  l.raised = l.original;
  if (l.original.rlim_cur != l.original.rlim_max) {
    rlimit want = l.original;
    want.rlim_cur = want.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) l.raised = want;
  }
  return l;
}

rlim_t descriptors_needed(int np) noexcept {
  return fixed + per_rank * static_cast<rlim_t>(np > 0 ? np : 0);
}

std::optional<std::string> descriptor_shortage(int np, const rlimit& limit) {
  const rlim_t needed = descriptors_needed(np);
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= needed) return std::nullopt;
  const std::string have = std::to_string(limit.rlim_cur), want = std::to_string(needed);
  // The soft limit was raised as far as it goes, so normally it is the hard limit that stops us.
  const bool at_hard = limit.rlim_max != RLIM_INFINITY && limit.rlim_cur >= limit.rlim_max;
  return "-n " + std::to_string(np) + " needs up to " + want +
         " open files but the open-file limit is " + have + (at_hard ? " (its hard limit)" : "") +
         "; raise it with 'ulimit -n " + want + "' before starting parrun" +
         (at_hard ? " (raising a hard limit needs root)" : "");
}

}  // namespace parrun::launcher
