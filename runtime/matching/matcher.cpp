#include "matching/matcher.hpp"

#include <algorithm>

namespace parrun::detail {
namespace {

// Intrusive FIFO chains: each node carries its links for every chain it is in.
template <class N, class L, class C>
void push_back(C& c, N* n, L N::*l) noexcept {
  (n->*l).prev = c.tail;
  (n->*l).next = nullptr;
  if (c.tail != nullptr)
    (c.tail->*l).next = n;
  else
    c.head = n;
  c.tail = n;
}

// Inserts `n` after `at` (null: at the front).
template <class N, class L, class C>
void insert_after(C& c, N* at, N* n, L N::*l) noexcept {
  N* next = at != nullptr ? (at->*l).next : c.head;
  (n->*l).prev = at;
  (n->*l).next = next;
  if (at != nullptr)
    (at->*l).next = n;
  else
    c.head = n;
  if (next != nullptr)
    (next->*l).prev = n;
  else
    c.tail = n;
}

template <class N, class L, class C>
void erase(C& c, N* n, L N::*l) noexcept {
  L& k = n->*l;
  if (k.prev != nullptr)
    (k.prev->*l).next = k.next;
  else
    c.head = k.next;
  if (k.next != nullptr)
    (k.next->*l).prev = k.prev;
  else
    c.tail = k.prev;
  k.prev = k.next = nullptr;
}

// Where a node that arrived as number `arrival` belongs: after the last one that arrived
// before it. Searched from the end, where a frame put back usually belongs.
template <class N, class L, class C>
N* arrival_position(const C& c, std::uint64_t arrival, L N::*l) noexcept {
  N* at = c.tail;
  while (at != nullptr && at->f.arrival > arrival) at = (at->*l).prev;
  return at;
}

std::size_t hash_of(const match_key& k) noexcept {
  // splitmix64's finalizer over the context and the (source, tag) pair.
  std::uint64_t h = k.context * 0x9e3779b97f4a7c15ULL ^
                    (std::uint64_t{static_cast<std::uint32_t>(k.source)} << 32 |
                     static_cast<std::uint32_t>(k.tag));
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return static_cast<std::size_t>(h);
}

template <class Slot, class Bucket>
void place(std::vector<Slot>& table, const match_key& k, Bucket* b) noexcept {
  const std::size_t mask = table.size() - 1;
  std::size_t i = hash_of(k) & mask;
  while (table[i].b != nullptr) i = (i + 1) & mask;
  table[i].key = k;
  table[i].b = b;
}

// Spare chain nodes and buckets kept for reuse: enough for any steady flow, bounded so that a
// burst of unexpected frames (or of distinct tags) does not pin its memory for ever.
constexpr std::size_t max_spare_nodes = 1024;
constexpr std::size_t max_spare_buckets = 256;
// Idle buckets are swept after this many were made (or half the table's, when more).
constexpr std::size_t sweep_after = 64;
// A sweep never shrinks the table below this many slots (6 KiB): room for the keys made between
// two sweeps, so that a steady stream of new keys (collectives) does not shrink and regrow it,
// allocating, every few calls.
constexpr std::size_t smallest_swept_table = 256;

}  // namespace

// Made ready for a steady flow at once: the table at its smallest swept size, spare buckets for
// the keys made between two sweeps (otherwise the first few dozen collectives, each with new
// keys, allocate them one by one), and queue entries for the frames a rank that runs a few
// steps ahead leaves waiting here (else each new high-water mark allocates one, well into a run).
matcher::matcher() : slots_(smallest_swept_table), scratch_(smallest_swept_table) {
  for (std::size_t i = 0; i < 2 * sweep_after; ++i) {
    auto* b = new bucket;
    b->next_spare = spare_buckets_;
    spare_buckets_ = b;
    ++spare_bucket_count_;
  }
  for (std::size_t i = 0; i < 256; ++i) recycle(new node);
}

matcher::~matcher() {
  for (node* n = all_.head; n != nullptr;) {
    node* next = n->all.next;
    delete n;
    n = next;
  }
  while (spare_nodes_ != nullptr) {
    node* next = spare_nodes_->all.next;
    delete spare_nodes_;
    spare_nodes_ = next;
  }
  for (const slot& s : slots_) delete s.b;
  while (spare_buckets_ != nullptr) {
    bucket* next = spare_buckets_->next_spare;
    delete spare_buckets_;
    spare_buckets_ = next;
  }
  // Receives still posted point at buckets that die here; nobody may use them after.
}

// --- buckets ---------------------------------------------------------------------------------

matcher::bucket* matcher::find_bucket(const match_key& k) const noexcept {
  // A flow of messages looks up one key again and again: the last bucket found is checked first.
  if (last_ != nullptr && last_key_ == k) return last_;
  if (slots_.empty()) return nullptr;
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash_of(k) & mask;; i = (i + 1) & mask) {
    const slot& s = slots_[i];
    if (s.b == nullptr) return nullptr;
    if (s.key == k) {
      last_ = s.b;
      last_key_ = k;
      return s.b;
    }
  }
}

matcher::bucket& matcher::bucket_for(const match_key& k) {
  if (bucket* b = find_bucket(k)) return *b;
  if ((live_buckets_ + 1) * 2 > slots_.size()) grow_table();
  bucket* b = spare_buckets_;
  if (b != nullptr) {
    spare_buckets_ = b->next_spare;
    --spare_bucket_count_;
    b->next_spare = nullptr;
  } else {
    b = new bucket;
  }
  place(slots_, k, b);
  ++live_buckets_;
  ++made_;
  last_ = b;
  last_key_ = k;
  return *b;
}

void matcher::set_parents(bucket& b, const match_key& k) {
  // A bucket never pins itself (a frame claiming source any_source would make it its own parent).
  const match_key by_tag{k.context, any_source, k.tag};
  const match_key by_context{k.context, any_source, any_tag};
  bucket& t = k == by_tag ? b : bucket_for(by_tag);
  bucket& c = k == by_context ? b : bucket_for(by_context);
  if (&t != &b) ++t.children;
  if (&c != &b) ++c.children;
  b.tag_parent = &t;
  b.context_parent = &c;
}

void matcher::unuse(bucket& b) noexcept {
  // An idle bucket stays for its key's next frame (a steady flow reuses it, and makes none);
  // once as many were made as half the table holds, a sweep drops the idle ones.
  if (--b.uses == 0 && b.children == 0 && made_ > std::max(sweep_after, live_buckets_ / 2)) sweep();
}

void matcher::grow_table() {
  std::vector<slot> bigger(slots_.empty() ? 16 : slots_.size() * 2);
  for (const slot& s : slots_)
    if (s.b != nullptr) place(bigger, s.key, s.b);
  slots_.swap(bigger);
  scratch_ = std::vector<slot>();  // the next sweep needs the new size
}

void matcher::release_bucket(bucket* b) noexcept {
  bucket* parents[] = {b->tag_parent, b->context_parent};
  *b = bucket{};
  for (bucket* p : parents)
    if (p != nullptr && p != b) --p->children;
  if (spare_bucket_count_ >= max_spare_buckets) {
    delete b;
    return;
  }
  b->next_spare = spare_buckets_;
  spare_buckets_ = b;
  ++spare_bucket_count_;
}

void matcher::sweep() noexcept {
  made_ = 0;
  last_ = nullptr;
  // The new table is built in memory kept from the last sweep; the first sweep after the table
  // grew allocates it, and if it cannot, nothing is dropped this time.
  try {
    if (scratch_.size() != slots_.size())
      scratch_.assign(slots_.size(), slot{});
    else
      std::fill(scratch_.begin(), scratch_.end(), slot{});
  } catch (...) {
    return;
  }
  // Drop the idle buckets; a parent falls idle when its last child goes, so a second pass takes
  // the parents the first one saw before their children (a parent has parents only when a frame
  // named any_source as its source, so two passes leave at most such a grandparent).
  for (int pass = 0; pass < 2; ++pass)
    for (slot& s : slots_)
      if (s.b != nullptr && idle(*s.b)) {
        release_bucket(s.b);
        s.b = nullptr;
        --live_buckets_;
      }
  for (const slot& s : slots_)
    if (s.b != nullptr) place(scratch_, s.key, s.b);
  slots_.swap(scratch_);
  // A table at most an eighth full after a burst of keys shrinks (when that memory is there).
  std::size_t size = slots_.size();
  while (size > smallest_swept_table && live_buckets_ * 8 < size) size /= 2;
  if (size != slots_.size()) {
    try {
      std::vector<slot> smaller(size);
      for (const slot& s : slots_)
        if (s.b != nullptr) place(smaller, s.key, s.b);
      slots_.swap(smaller);
      scratch_ = std::vector<slot>();
    } catch (...) {
      // Keep the bigger table.
    }
  }
}

// --- unexpected frames -----------------------------------------------------------------------

matcher::node* matcher::new_node(frame&& f) {
  node* n = spare_nodes_;
  if (n != nullptr) {
    spare_nodes_ = n->all.next;
    --spare_node_count_;
    n->all = {};
  } else {
    n = new node;
  }
  n->f = std::move(f);
  return n;
}

void matcher::recycle(node* n) noexcept {
  n->f.body = payload{};  // let go of the payload now (a no-op once it was moved out)
  if (spare_node_count_ >= max_spare_nodes) {
    delete n;
    return;
  }
  n->all.next = spare_nodes_;
  spare_nodes_ = n;
  ++spare_node_count_;
}

void matcher::enqueue(node* n, bool in_arrival_order) {
  const envelope& env = n->f.env;
  const match_key k{env.context, env.source, env.tag};
  bucket& exact = bucket_for(k);
  if (exact.tag_parent == nullptr) set_parents(exact, k);
  bucket& by_tag = *exact.tag_parent;
  bucket& by_context = *exact.context_parent;
  if (in_arrival_order) {
    const std::uint64_t a = n->f.arrival;
    insert_after(all_, arrival_position(all_, a, &node::all), n, &node::all);
    insert_after(exact.exact, arrival_position(exact.exact, a, &node::exact), n, &node::exact);
    insert_after(by_tag.by_tag, arrival_position(by_tag.by_tag, a, &node::by_tag), n,
                 &node::by_tag);
    insert_after(by_context.by_context,
                 arrival_position(by_context.by_context, a, &node::by_context), n,
                 &node::by_context);
  } else {
    push_back(all_, n, &node::all);
    push_back(exact.exact, n, &node::exact);
    push_back(by_tag.by_tag, n, &node::by_tag);
    push_back(by_context.by_context, n, &node::by_context);
  }
  n->in = &exact;
  use(exact);
  ++unexpected_count_;
}

void matcher::unlink(node* n) noexcept {
  bucket& exact = *n->in;
  erase(all_, n, &node::all);
  erase(exact.exact, n, &node::exact);
  erase(exact.tag_parent->by_tag, n, &node::by_tag);
  erase(exact.context_parent->by_context, n, &node::by_context);
  n->in = nullptr;
  --unexpected_count_;
  unuse(exact);
}

const matcher::node* matcher::first_match(const match_key& key) const noexcept {
  if (key.tag != any_tag) {
    const bucket* b = find_bucket(key);  // key.source may be any_source: the by_tag chain
    if (b == nullptr) return nullptr;
    const node* n = key.source == any_source ? b->by_tag.head : b->exact.head;
    return n != nullptr && matches(key, n->f.env) ? n : nullptr;
  }
  // any_tag: the context's frames in arrival order, skipping the runtime's negative tags (and,
  // for a named source, the other sources').
  const bucket* b = find_bucket({key.context, any_source, any_tag});
  if (b == nullptr) return nullptr;
  for (const node* n = b->by_context.head; n != nullptr; n = n->by_context.next)
    if (matches(key, n->f.env)) return n;
  return nullptr;
}

const frame* matcher::find(const match_key& key) const {
  const node* n = first_match(key);
  return n != nullptr ? &n->f : nullptr;
}

std::optional<frame> matcher::take(const match_key& key) {
  node* n = const_cast<node*>(first_match(key));
  if (n == nullptr) return std::nullopt;
  unlink(n);
  std::optional<frame> out(std::move(n->f));
  recycle(n);
  return out;
}

// --- posted receives -------------------------------------------------------------------------

std::size_t& matcher::posted_count(const match_key& k) noexcept {
  if (k.source == any_source) return k.tag == any_tag ? posted_any_both_ : posted_any_source_;
  return k.tag == any_tag ? posted_any_tag_ : posted_exact_;
}

posted_receive* matcher::earliest_posted_for(const envelope& env) const noexcept {
  posted_receive* best = nullptr;
  auto consider = [&](const match_key& k) {
    const bucket* b = find_bucket(k);
    if (b == nullptr) return;
    posted_receive* r = b->posted.head;  // every receive in the chain has key k
    if (r != nullptr && (best == nullptr || r->order_ < best->order_) && matches(r->key, env))
      best = r;
  };
  if (posted_exact_ != 0) consider({env.context, env.source, env.tag});
  if (posted_any_source_ != 0) consider({env.context, any_source, env.tag});
  if (env.tag >= 0) {  // any_tag matches user tags only
    if (posted_any_tag_ != 0) consider({env.context, env.source, any_tag});
    if (posted_any_both_ != 0) consider({env.context, any_source, any_tag});
  }
  return best;
}

void matcher::unpost(posted_receive& r) noexcept {
  auto* b = static_cast<bucket*>(r.bucket_);
  if (r.prev_ != nullptr)
    r.prev_->next_ = r.next_;
  else
    b->posted.head = r.next_;
  if (r.next_ != nullptr)
    r.next_->prev_ = r.prev_;
  else
    b->posted.tail = r.prev_;
  r.prev_ = r.next_ = nullptr;
  r.bucket_ = nullptr;
  --posted_count(r.key);
  unuse(*b);
}

void matcher::deliver(frame&& f) {
  f.arrival = ++arrivals_;
  if (posted_receive* r = earliest_posted_for(f.env)) {
    unpost(*r);
    r->matched.emplace(std::move(f));
    return;
  }
  enqueue(new_node(std::move(f)), false);
}

void matcher::put_back(frame&& f) {
  if (posted_receive* r = earliest_posted_for(f.env)) {
    unpost(*r);
    r->matched.emplace(std::move(f));
    return;
  }
  enqueue(new_node(std::move(f)), true);
}

bool matcher::post(posted_receive& r) {
  cancel(r);  // posting twice would link it twice
  if (auto f = take(r.key)) {
    r.matched.emplace(std::move(*f));
    return true;
  }
  bucket& b = bucket_for(r.key);
  r.order_ = ++posts_;
  r.bucket_ = &b;
  r.prev_ = b.posted.tail;
  r.next_ = nullptr;
  if (b.posted.tail != nullptr)
    b.posted.tail->next_ = &r;
  else
    b.posted.head = &r;
  b.posted.tail = &r;
  ++posted_count(r.key);
  use(b);
  return false;
}

void matcher::cancel(posted_receive& r) noexcept {
  if (r.bucket_ != nullptr) unpost(r);
}

}  // namespace parrun::detail
