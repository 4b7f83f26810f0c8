#pragma once
// Matching, as in MPI. An arriving frame goes to the earliest posted receive it matches, else to
// the end of the unexpected queue; a new receive takes the earliest unexpected frame it
// matches, else waits in the posted queue. Frames from one sender arrive in order, so two
// messages from one sender that both match a receive are received in the order sent
// (non-overtaking), and wildcard receives match in arrival order.
#include <cstdint>
#include <list>
#include <optional>

#include <parrun/status.hpp>

#include "transport/transport.hpp"

namespace parrun::detail {

/// What a receive or probe asks for: a context, a source (or any_source), a tag (or any_tag).
struct match_key {
  std::uint64_t context;
  std::int32_t source;
  std::int32_t tag;
};

/// Whether `env` satisfies `key`. any_tag matches user tags only (>= 0).
inline bool matches(const match_key& key, const envelope& env) noexcept {
  return key.context == env.context && (key.source == any_source || key.source == env.source) &&
         (key.tag == any_tag ? env.tag >= 0 : key.tag == env.tag);
}

/// A receive waiting for its frame.
struct posted_receive {
  match_key key;
  std::optional<frame> matched;
};

class matcher {
 public:
  /// Hands an arrived frame to the earliest posted receive that matches it, or queues it.
  void deliver(frame&& f);
  /// Posts `r`: it takes the earliest matching unexpected frame now (returns true) or is filled
  /// by a later deliver(). `r` must stay put until matched or cancelled.
  bool post(posted_receive& r);
  /// Withdraws a posted receive that has not matched.
  void cancel(posted_receive& r) noexcept;
  /// The earliest unexpected frame matching `key`, left in the queue; null when none.
  const frame* find(const match_key& key) const;
  /// Removes and returns the earliest unexpected frame matching `key`.
  std::optional<frame> take(const match_key& key);
  /// Returns a frame that was matched but not consumed (its receive failed, or was abandoned)
  /// to the unexpected queue, in its original arrival position.
  void put_back(frame&& f);
  /// Removes the unexpected frames for which `pred(frame)` holds; returns how many.
  template <class Pred>
  std::size_t remove_if(Pred pred) {
    return static_cast<std::size_t>(unexpected_.remove_if(pred));
  }
  /// Frames that arrived and were not received yet.
  const std::list<frame>& unexpected() const noexcept { return unexpected_; }

 private:
  std::list<frame> unexpected_;
  std::list<posted_receive*> posted_;
  std::uint64_t arrivals_ = 0;
};

}  // namespace parrun::detail
