#pragma once
// The state behind a parrun::communicator: which engine, which message contexts, and how its
// ranks map to world ranks.
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "contexts.hpp"
#include "engine.hpp"

namespace parrun::detail {

class comm_impl {
 public:
  comm_impl(std::shared_ptr<engine> e, std::uint64_t base, int rank, std::vector<int> world_ranks)
      : engine_(std::move(e)), base_(base), rank_(rank), world_ranks_(std::move(world_ranks)) {
    engine_->register_comm(base_, world_ranks_);
  }
  ~comm_impl() { engine_->unregister_comm(base_); }
  comm_impl(const comm_impl&) = delete;
  comm_impl& operator=(const comm_impl&) = delete;

  engine& eng() const noexcept { return *engine_; }
  const std::shared_ptr<engine>& shared_engine() const noexcept { return engine_; }
  std::uint64_t context(space s = space::user) const noexcept { return base_ + static_cast<std::uint64_t>(s); }
  int rank() const noexcept { return rank_; }
  int size() const noexcept { return static_cast<int>(world_ranks_.size()); }
  /// The world rank of this communicator's rank `r`.
  int world_of(int r) const { return world_ranks_[static_cast<std::size_t>(r)]; }
  const std::vector<int>& world_ranks() const noexcept { return world_ranks_; }
  /// The base of the next communicator derived from this one (dup, split): every member
  /// derives in the same order, so all agree without talking.
  std::uint64_t next_base() noexcept;
  /// Records an open channel end; false if (peer, id) is open already.
  bool open_channel(int peer, int id) { return channels_.insert({peer, id}).second; }
  void close_channel(int peer, int id) noexcept { channels_.erase({peer, id}); }

  /// The sequence number of the next collective call on this communicator.
  std::uint64_t next_collective() noexcept { return ++collectives_; }

  /// Whether a receive from rank `r` (or any_source) can never be satisfied by new arrivals:
  /// `r` died or finished with everything it sent here arrived; for any_source, some rank
  /// died or every other rank is silent.
  bool source_silent(int r) const;
  /// Whether a message to rank `r` can no longer be received (it died or finished).
  bool dest_unreachable(int r) const;
  /// For errors: the rank that makes a receive from `r` hopeless (r itself, or for
  /// any_source, a dead rank or else the first silent one).
  int culprit(int r) const;
  /// "rank 3" or "rank 3 (world rank 5)": how errors name this communicator's ranks.
  std::string name_rank(int r) const;

  /// Throws usage_error unless 0 <= r < size(); `role` names the argument ("dest", "root").
  void check_rank(int r, const char* op, const char* role) const;
  /// As check_rank, also accepting any_source.
  void check_source(int r, const char* op) const;
  /// Throws usage_error unless 0 <= tag <= max_tag (or any_tag where `wildcard`).
  void check_tag(int tag, const char* op, bool wildcard) const;
  /// Throws peer_lost naming rank `r` of this communicator and why it is gone.
  [[noreturn]] void throw_gone(int r, const std::string& op) const;

 private:
  std::shared_ptr<engine> engine_;
  std::uint64_t base_;
  int rank_;
  std::vector<int> world_ranks_;
  std::uint64_t derived_ = 0;
  std::uint64_t collectives_ = 0;
  std::set<std::pair<int, int>> channels_;
};

}  // namespace parrun::detail
