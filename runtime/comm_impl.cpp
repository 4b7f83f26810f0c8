#include "comm_impl.hpp"

#include <parrun/errors.hpp>

namespace parrun::detail {

std::uint64_t comm_impl::next_base() noexcept {
  // splitmix64 of (parent, sequence): distinct communicators get distinct bases with
  // overwhelming probability, and the low two bits stay free for the message spaces (contexts.hpp).
  std::uint64_t z = base_ ^ (++derived_ * 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (z & ~std::uint64_t{3}) | 4;  // never 0, the world's base
}

bool comm_impl::source_silent(int r) const {
  if (!engine_->any_gone()) return false;
  if (r != any_source) return engine_->silent(world_of(r));
  bool all_silent = true;
  for (int q = 0; q < size(); ++q) {
    if (q == rank_) continue;
    if (engine_->died(world_of(q))) return true;  // it may have been the sender awaited
    all_silent = all_silent && engine_->silent(world_of(q));
  }
  return all_silent && size() > 1;
}

bool comm_impl::dest_unreachable(int r) const {
  return engine_->any_gone() && engine_->unreachable(world_of(r));
}

int comm_impl::culprit(int r) const {
  if (r != any_source) return r;
  int first_silent = -1;
  for (int q = 0; q < size(); ++q) {
    if (q == rank_ || !engine_->silent(world_of(q))) continue;
    if (engine_->died(world_of(q))) return q;
    if (first_silent < 0) first_silent = q;
  }
  return first_silent;
}

std::string comm_impl::name_rank(int r) const {
  std::string s = "rank " + std::to_string(r);
  if (base_ != 0 && r >= 0 && r < size() && world_of(r) != r)
    s += " (world rank " + std::to_string(world_of(r)) + ")";
  return s;
}

void comm_impl::check_rank(int r, const char* op, const char* role) const {
  engine_->check_open(op);
  if (r < 0 || r >= size())
    throw usage_error(std::string(op) + " on rank " + std::to_string(rank_) + ": " + role + "=" +
                      std::to_string(r) + " is not a rank of this communicator (size " +
                      std::to_string(size()) + ", ranks 0.." + std::to_string(size() - 1) + ")");
}

void comm_impl::check_source(int r, const char* op) const {
  if (r != any_source) check_rank(r, op, "source");
  else engine_->check_open(op);
}

void comm_impl::check_tag(int tag, const char* op, bool wildcard) const {
  if ((tag >= 0 && tag <= max_tag) || (wildcard && tag == any_tag)) return;
  throw usage_error(std::string(op) + " on rank " + std::to_string(rank_) + ": tag=" +
                    std::to_string(tag) + " is invalid; tags are 0.." + std::to_string(max_tag) +
                    (wildcard ? " or parrun::any_tag" : ""));
}

void comm_impl::throw_gone(int r, const std::string& op) const {
  const int world = world_of(r);
  throw peer_lost(op + " on rank " + std::to_string(rank_) + ": " + name_rank(r) + " is gone: " +
                      engine_->gone_reason(world),
                  world);
}

}  // namespace parrun::detail
