#pragma once
// What every collective algorithm needs: point-to-point on the communicator's collective
// context, tagged with the call's sequence number (all ranks call collectives in the same
// order), and checked on arrival, so that ranks calling different collectives, or passing
// different types, get an error naming both instead of corrupt data.
//
// Algorithms (one per file): barrier by dissemination; broadcast, gather, scatter and reduce by
// binomial trees (reduce rooted at 0, so that any op combines in rank order); allgather by
// Bruck; allreduce by recursive doubling, or Rabenseifner's reduce-scatter + allgather for large
// vectors of raw elements; scan by recursive doubling; alltoall by pairwise exchange.
#include <cstdint>
#include <iterator>
#include <vector>

#include <parrun/detail/bytes.hpp>
#include <parrun/detail/collectives.hpp>
#include <parrun/detail/reducer.hpp>

#include "comm_impl.hpp"

namespace parrun::detail::coll {

enum class coll_op : std::uint32_t {
  barrier = 1,
  broadcast,
  gather,
  allgather,
  scatter,
  alltoall,
  reduce,
  allreduce,
  scan,
  exscan,
  split,
};
const char* name_of(coll_op op) noexcept;

/// One collective call on one rank.
class call {
 public:
  /// Starts a call; checks `root` when the operation has one (root >= 0 or `has_root`).
  call(comm_impl& c, coll_op op, const type_id* type, int root = -1, bool has_root = false);

  int rank() const noexcept { return c_.rank(); }
  int size() const noexcept { return c_.size(); }
  comm_impl& comm() const noexcept { return c_; }

  /// Hands bytes to the transport for `dest`; returns a ticket for wait_sent.
  std::uint64_t post(int dest, owned_bytes&& bytes);
  /// Waits until the frame with `ticket` left this rank (normally at once).
  void wait_sent(int dest, std::uint64_t ticket);
  void send(int dest, owned_bytes&& bytes) { wait_sent(dest, post(dest, std::move(bytes))); }
  /// Receives this call's frame from `source`. It must carry this call's variant (see below).
  payload recv(int source);
  /// Receives this call's frame from `source` whatever its variant, and adopts that variant.
  payload recv_any_variant(int source);

  /// Which algorithm (or size class) this rank runs; travels in every frame, so that ranks that
  /// chose differently (they were given different sizes) fail with an error instead of
  /// misreading each other's frames.
  void set_variant(std::uint8_t v) noexcept { variant_ = v; }
  std::uint8_t variant() const noexcept { return variant_; }
  /// Sends to `dest` and receives from `source` at once (no deadlock when both do).
  payload sendrecv(int dest, owned_bytes&& bytes, int source);

  /// acc = acc op other (acc_is_left) or other op acc, in place where the reducer allows.
  void accumulate(const reducer& op, owned_bytes& acc, const payload& other, bool acc_is_left) const;

 private:
  comm_impl& c_;
  coll_op op_;
  std::uint64_t type_;
  const type_id* type_id_;
  std::int32_t tag_;
  activity what_;
  std::uint8_t variant_ = 0;

  payload take(int source, bool any_variant);
};

/// Bundles: records [u64 length][bytes], so that a subtree's blocks travel as one message and
/// any run of consecutive records can be forwarded without copying.
void append_record(owned_bytes& bundle, const std::byte* data, std::size_t size);
inline void append_record(owned_bytes& bundle, const payload& p) { append_record(bundle, p.data(), p.size()); }
/// The records of a bundle, as slices sharing its buffer.
std::vector<payload> records_of(const payload& bundle, std::size_t expected);
/// Byte offset of record `index` in a bundle (index == count gives the end).
std::size_t record_offset(const payload& bundle, std::size_t index);

/// Binomial-tree geometry on relative ranks (0 is the root).
struct binomial {
  int vrank;
  int size;
  /// The parent's relative rank, or -1 at the root.
  int parent() const noexcept;
  /// Number of relative ranks in this node's subtree, itself included.
  int subtree() const noexcept;
  /// At most one child per bit of an int: kept in place, so walking the tree never allocates.
  struct child_list {
    int rank[32];
    int count = 0;
    const int* begin() const noexcept { return rank; }
    const int* end() const noexcept { return rank + count; }
    std::reverse_iterator<const int*> rbegin() const noexcept { return std::reverse_iterator<const int*>(end()); }
    std::reverse_iterator<const int*> rend() const noexcept { return std::reverse_iterator<const int*>(begin()); }
  };
  /// Children's relative ranks, nearest (smallest subtree) first.
  child_list children() const;
};

}  // namespace parrun::detail::coll
