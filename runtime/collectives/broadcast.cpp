// Broadcast. Root encodes once; the bytes travel unchanged and are forwarded without copying.
// Small messages go down a binomial tree (log2 p steps). Large ones are scattered in p chunks
// down the same tree and then all-gathered around a ring (van de Geijn), so no rank sends the
// whole message more than about twice, instead of log2 p times at the root.
#include <cstring>
#include <string>

#include <parrun/errors.hpp>

#include "collectives/coll.hpp"

namespace parrun::detail::coll {
namespace {

// Above this size (and with 3 or more ranks) the scatter + allgather broadcast is used. Retuned
// on the shared-memory lane (-n 4 and -n 8 on 2 cores, tools/bench collectives): the binomial
// tree forwards without copying and won at every size measured (1 MiB at -n 8: 0.96 ms against
// 2.3 ms; 8 MiB at -n 4: 5.9 ms against 8.4 ms), so only bigger messages are split. With a core
// per rank the split may pay earlier; measure before lowering it.
constexpr std::size_t large_broadcast = 16 * 1024 * 1024;

// `data`: the root's bytes, already received from the parent (or the root's own).
payload binomial_broadcast(call& k, int root, payload data) {
  const int p = k.size();
  const binomial tree{(k.rank() - root + p) % p, p};
  auto real = [&](int v) { return (v + root) % p; };
  const binomial::child_list kids = tree.children();
  std::uint64_t tickets[32];  // in place: a small broadcast allocates nothing
  for (int i = kids.count - 1; i >= 0; --i)  // biggest subtree first
    tickets[i] = k.post(real(kids.rank[i]), data.share());
  for (int i = kids.count - 1; i >= 0; --i) k.wait_sent(real(kids.rank[i]), tickets[i]);
  return data;
}

// Chunk i of n bytes split p ways: [i*n/p, (i+1)*n/p).
std::size_t chunk_begin(std::size_t n, int p, int i) {
  const auto up = static_cast<std::size_t>(p), ui = static_cast<std::size_t>(i);
  return ui * (n / up) + ui * (n % up) / up;  // floor(i*n/p) without overflow
}

payload scatter_allgather_broadcast(call& k, int root, owned_bytes&& value, std::size_t n) {
  const int p = k.size();
  const binomial tree{(k.rank() - root + p) % p, p};
  auto real = [&](int v) { return (v + root) % p; };

  // Scatter: each subtree receives the total size (already read by the caller), then its
  // chunks' bytes, one contiguous range.
  payload mine = tree.vrank == 0 ? payload::adopt(std::move(value)) : k.recv(real(tree.parent()));
  const std::size_t base = chunk_begin(n, p, tree.vrank);
  // The size came off the wire: the chunks must be exactly what it says before anything is
  // sized by it (a claim of n bytes costs the claimant about n/p real ones).
  if (mine.size() != chunk_begin(n, p, tree.vrank + tree.subtree()) - base)
    throw truncation_error("broadcast: the chunks of this subtree are " + std::to_string(mine.size()) +
                           " bytes, but the message's size says " +
                           std::to_string(chunk_begin(n, p, tree.vrank + tree.subtree()) - base));
  std::vector<std::pair<int, std::uint64_t>> sent;
  for (int child : tree.children()) {
    const int end = child + binomial{child, p}.subtree();
    owned_bytes header;
    header.append(&n, sizeof n);
    k.send(real(child), std::move(header));
    const std::size_t from = chunk_begin(n, p, child) - base, to = chunk_begin(n, p, end) - base;
    sent.emplace_back(real(child), k.post(real(child), mine.slice(from, to - from).share()));
  }

  // Allgather around the ring of relative ranks: in step s pass on chunk vrank-s, receive
  // chunk vrank-s-1 from the left, forwarding what arrived without copying.
  const bool at_root = tree.vrank == 0;  // the root has the whole message already
  owned_bytes whole;
  std::byte* out = at_root ? nullptr : whole.grow(n);
  auto place = [&](int chunk, const payload& bytes) {
    const std::size_t want = chunk_begin(n, p, chunk + 1) - chunk_begin(n, p, chunk);
    if (bytes.size() != want)
      throw truncation_error("broadcast: chunk " + std::to_string(chunk) + " is " + std::to_string(bytes.size()) +
                             " bytes, expected " + std::to_string(want));
    if (!at_root && want != 0) std::memcpy(out + chunk_begin(n, p, chunk), bytes.data(), want);
  };
  payload passing = mine.slice(0, chunk_begin(n, p, tree.vrank + 1) - base);
  place(tree.vrank, passing);
  const int right = real((tree.vrank + 1) % p), left = real((tree.vrank - 1 + p) % p);
  for (int s = 0; s < p - 1; ++s) {
    passing = k.sendrecv(right, passing.share(), left);
    place((tree.vrank - s - 1 + p) % p, passing);
  }
  for (auto [dest, ticket] : sent) k.wait_sent(dest, ticket);
  return at_root ? mine : payload::adopt(std::move(whole));
}

}  // namespace

payload broadcast(comm_impl& c, int root, owned_bytes&& value, const type_id& type) {
  call k(c, coll_op::broadcast, &type, root, true);
  const int p = k.size();
  if (p == 1) return payload::adopt(std::move(value));
  // Only the root knows the size, so it picks the algorithm; the others learn which from the
  // variant of the first frame they get (the data itself, or the size before the chunks).
  const binomial tree{(k.rank() - root + p) % p, p};
  const bool at_root = tree.vrank == 0;
  payload first;
  if (at_root) k.set_variant(p >= 3 && value.size() >= large_broadcast ? 1 : 0);
  else first = k.recv_any_variant((tree.parent() + root) % p);
  if (k.variant() == 0) {
    return binomial_broadcast(k, root, at_root ? payload::adopt(std::move(value)) : std::move(first));
  }
  std::size_t n = value.size();
  if (!at_root) {
    if (first.size() != sizeof n)
      throw truncation_error("broadcast: the size frame is " + std::to_string(first.size()) + " bytes, not " +
                             std::to_string(sizeof n));
    std::memcpy(&n, first.data(), sizeof n);
  }
  return scatter_allgather_broadcast(k, root, std::move(value), n);
}

}  // namespace parrun::detail::coll
