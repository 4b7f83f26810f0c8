#pragma once
// Matching, as in MPI. An arriving frame goes to the earliest posted receive it matches, else to
// the end of the unexpected queue; a new receive takes the earliest unexpected frame it
// matches, else waits in the posted queue. Frames from one sender arrive in order, so two
// messages from one sender that both match a receive are received in the order sent
// (non-overtaking), and wildcard receives match in arrival order.
//
// The queues are indexed so that the common cases cost O(1), with no allocation once warm:
//
//   unexpected frame   in arrival order, and in three FIFO chains of its buckets (entries of
//                      one hash table): (context, source, tag)   exact receives take the head
//                                       (context, any, tag)      any_source receives (fan-in
//                                                                channels) take the head
//                                       (context, any, any)      any_tag receives scan it
//   posted receive     in the FIFO chain of the bucket of its own key (wildcards included),
//                      numbered in posting order; an arriving frame looks at the heads of the
//                      (at most four) buckets whose receives could match it and takes the
//                      earliest. Buckets with wildcard receives are looked at only while some
//                      receive of that kind is posted.
//
// A frame's bucket points at the other two, so queueing or taking a frame is one table lookup.
// Chain nodes and buckets come from free lists, and an idle bucket stays until a sweep (once as
// many buckets were made as half the table holds), so a steady message flow allocates nothing
// here, and a stream of new keys (a collective's tag changes with every call) is swept at
// amortized O(1) cost per key.
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <utility>
#include <vector>

#include <parrun/status.hpp>

#include "transport/transport.hpp"

namespace parrun::detail {

/// What a receive or probe asks for: a context, a source (or any_source), a tag (or any_tag).
struct match_key {
  std::uint64_t context;
  std::int32_t source;
  std::int32_t tag;
  friend bool operator==(const match_key&, const match_key&) = default;
};

/// Whether `env` satisfies `key`. any_tag matches user tags only (>= 0).
inline bool matches(const match_key& key, const envelope& env) noexcept {
  return key.context == env.context && (key.source == any_source || key.source == env.source) &&
         (key.tag == any_tag ? env.tag >= 0 : key.tag == env.tag);
}

class matcher;

/// Memory a receive fills itself (a contiguous buffer of raw elements): a lane may write a
/// matching frame's bytes straight there (frame_sink::landing).
struct landing_zone {
  std::byte* base = nullptr;  ///< null: the receive has none
  std::size_t capacity = 0;   ///< bytes
  std::size_t element_size = 1;
  std::uint64_t types[2] = {0, 0};  ///< the frame types it takes (an element, a vector of them)
  bool takes(const envelope& env, std::size_t size) const noexcept {
    return base != nullptr && (env.type == types[0] || env.type == types[1]) && size <= capacity &&
           size % element_size == 0;
  }
};

/// A receive waiting for its frame. It must stay put (not move, not be destroyed) while posted.
struct posted_receive {
  posted_receive(match_key k, std::optional<frame> m = std::nullopt) noexcept
      : key(k), matched(std::move(m)) {}
  posted_receive(const posted_receive&) = delete;
  posted_receive& operator=(const posted_receive&) = delete;

  match_key key;
  std::optional<frame> matched;
  landing_zone zone;

 private:
  friend class matcher;
  void* bucket_ = nullptr;  // where it waits; null when not posted
  posted_receive* prev_ = nullptr;
  posted_receive* next_ = nullptr;
  std::uint64_t order_ = 0;  // its place in posting order
};

class matcher {
  struct node;

 public:
  matcher();
  matcher(const matcher&) = delete;
  matcher& operator=(const matcher&) = delete;
  ~matcher();

  /// Hands an arrived frame to the earliest posted receive that matches it, or queues it.
  void deliver(frame&& f);
  /// Posts `r`: it takes the earliest matching unexpected frame now (returns true) or is filled
  /// by a later deliver(). `r` must stay put until matched or cancelled.
  bool post(posted_receive& r);
  /// The memory of the posted receive that deliver(a frame with `env` and `size` bytes) would
  /// fill, when that receive has a landing zone that takes it; else null.
  std::byte* landing_for(const envelope& env, std::size_t size) const noexcept {
    const posted_receive* r = earliest_posted_for(env);
    return r != nullptr && r->zone.takes(env, size) ? r->zone.base : nullptr;
  }
  /// Withdraws a posted receive that has not matched (harmless when it is not posted).
  void cancel(posted_receive& r) noexcept;
  /// The earliest unexpected frame matching `key`, left in the queue; null when none.
  const frame* find(const match_key& key) const;
  /// Removes and returns the earliest unexpected frame matching `key`.
  std::optional<frame> take(const match_key& key);
  /// Returns a frame that was matched but not consumed (its receive failed, or was abandoned):
  /// to the earliest posted receive that matches it, else to the unexpected queue in its
  /// original arrival position.
  void put_back(frame&& f);
  /// Removes the unexpected frames for which `pred(frame)` holds; returns how many.
  template <class Pred>
  std::size_t remove_if(Pred pred) {
    std::size_t removed = 0;
    for (node* n = all_.head; n != nullptr;) {
      node* next = n->all.next;
      if (pred(static_cast<const frame&>(n->f))) {
        unlink(n);
        recycle(n);
        ++removed;
      }
      n = next;
    }
    return removed;
  }

  /// The unexpected frames, in arrival order (a view: valid until the matcher changes).
  class frames_view {
   public:
    class iterator {
     public:
      using iterator_category = std::forward_iterator_tag;
      using value_type = frame;
      using difference_type = std::ptrdiff_t;
      using pointer = const frame*;
      using reference = const frame&;
      iterator() = default;
      reference operator*() const noexcept { return at_->f; }
      pointer operator->() const noexcept { return &at_->f; }
      iterator& operator++() noexcept {
        at_ = at_->all.next;
        return *this;
      }
      iterator operator++(int) noexcept {
        iterator old = *this;
        at_ = at_->all.next;
        return old;
      }
      friend bool operator==(const iterator&, const iterator&) = default;

     private:
      friend class frames_view;
      explicit iterator(const node* at) noexcept : at_(at) {}
      const node* at_ = nullptr;
    };
    iterator begin() const noexcept { return iterator(head_); }
    iterator end() const noexcept { return iterator(); }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    /// The earliest; the view must not be empty.
    const frame& front() const noexcept { return head_->f; }

   private:
    friend class matcher;
    frames_view(const node* head, std::size_t size) noexcept : head_(head), size_(size) {}
    const node* head_;
    std::size_t size_;
  };

  /// Frames that arrived and were not received yet, in arrival order.
  frames_view unexpected() const noexcept { return frames_view(all_.head, unexpected_count_); }

 private:
  struct bucket;
  template <class N>
  struct link {
    N* prev = nullptr;
    N* next = nullptr;
  };
  template <class N>
  struct chain {
    N* head = nullptr;
    N* tail = nullptr;
  };
  struct node {
    frame f;
    link<node> all;         // arrival order, every unexpected frame
    link<node> exact;       // in bucket (context, source, tag)
    link<node> by_tag;      // in bucket (context, any_source, tag)
    link<node> by_context;  // in bucket (context, any_source, any_tag)
    bucket* in = nullptr;   // its (context, source, tag) bucket, whose parents hold the others
  };
  struct bucket {
    chain<node> exact;             // frames with exactly this key
    chain<node> by_tag;            // key (c, any_source, t): frames of context c with tag t
    chain<node> by_context;        // key (c, any_source, any_tag): frames of context c
    chain<posted_receive> posted;  // receives posted with exactly this key
    // Set when a frame first comes in with this key: the buckets of (c, any_source, t) and
    // (c, any_source, any_tag), kept alive by this one, so that a frame costs one lookup.
    bucket* tag_parent = nullptr;
    bucket* context_parent = nullptr;
    std::size_t uses = 0;      // frames in `exact`, receives in `posted`
    std::size_t children = 0;  // buckets naming it a parent (they keep it)
    bucket* next_spare = nullptr;
  };
  // One open-addressing (linear probing) table from key to bucket: a lookup is a multiply and
  // a probe or two, and it allocates only when it grows.
  struct slot {
    match_key key{};
    bucket* b = nullptr;  // null: free
  };

  bucket* find_bucket(const match_key& k) const noexcept;
  bucket& bucket_for(const match_key& k);
  void set_parents(bucket& b, const match_key& k);
  static bool idle(const bucket& b) noexcept { return b.uses == 0 && b.children == 0; }
  void use(bucket& b) noexcept { ++b.uses; }
  void unuse(bucket& b) noexcept;
  void grow_table();
  void sweep() noexcept;
  void release_bucket(bucket* b) noexcept;
  node* new_node(frame&& f);
  void recycle(node* n) noexcept;
  void unlink(node* n) noexcept;
  void enqueue(node* n, bool in_arrival_order);
  posted_receive* earliest_posted_for(const envelope& env) const noexcept;
  void unpost(posted_receive& r) noexcept;
  const node* first_match(const match_key& key) const noexcept;
  std::size_t& posted_count(const match_key& k) noexcept;

  std::vector<slot> slots_;    // a power of two of them, at most half in use
  std::vector<slot> scratch_;  // the table a sweep rebuilds into (kept to reuse its memory)
  std::size_t live_buckets_ = 0;
  std::size_t made_ = 0;            // buckets made since the last sweep
  mutable bucket* last_ = nullptr;  // the bucket found last, and its key
  mutable match_key last_key_{};
  bucket* spare_buckets_ = nullptr;  // a free list through next_spare
  std::size_t spare_bucket_count_ = 0;
  chain<node> all_;
  std::size_t unexpected_count_ = 0;
  node* spare_nodes_ = nullptr;  // a free list through all.next
  std::size_t spare_node_count_ = 0;
  std::uint64_t arrivals_ = 0;
  std::uint64_t posts_ = 0;
  // Posted receives by kind of key: deliver() looks at those buckets only when nonzero.
  std::size_t posted_exact_ = 0;
  std::size_t posted_any_source_ = 0;
  std::size_t posted_any_tag_ = 0;
  std::size_t posted_any_both_ = 0;
};

}  // namespace parrun::detail
