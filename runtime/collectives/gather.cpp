// Gather and allgather. Gather runs a binomial tree toward the root: each rank appends its
// children's bundles (whole subtrees, already in rank order) to its own record and passes one
// message up. Allgather runs Bruck's algorithm: ceil(log2 p) rounds for any p, in which each
// rank passes on the records it holds to rank-2^k and receives rank+2^k's.
#include "collectives/coll.hpp"

namespace parrun::detail::coll {

std::vector<payload> gather(comm_impl& c, int root, owned_bytes&& mine, const type_id& type) {
  call k(c, coll_op::gather, &type, root, true);
  const int p = k.size();
  const binomial tree{(k.rank() - root + p) % p, p};
  auto real = [&](int v) { return (v + root) % p; };
  owned_bytes bundle;
  append_record(bundle, mine.data(), mine.size());
  for (int child : tree.children()) {  // nearest first: the records stay in relative-rank order
    payload sub = k.recv(real(child));
    bundle.append(sub.data(), sub.size());
  }
  if (tree.vrank != 0) {
    k.send(real(tree.parent()), std::move(bundle));
    return {};
  }
  std::vector<payload> records = records_of(payload::adopt(std::move(bundle)), static_cast<std::size_t>(p));
  std::vector<payload> out(static_cast<std::size_t>(p));
  for (int v = 0; v < p; ++v) out[static_cast<std::size_t>(real(v))] = std::move(records[static_cast<std::size_t>(v)]);
  return out;
}

std::vector<payload> allgather(comm_impl& c, owned_bytes&& mine, const type_id& type) {
  call k(c, coll_op::allgather, &type);
  const int p = k.size(), r = k.rank();
  // `held`: records of ranks r, r+1, ... (mod p).
  owned_bytes first;
  append_record(first, mine.data(), mine.size());
  payload held = payload::adopt(std::move(first));
  for (int d = 1; d < p; d <<= 1) {
    const int n = d < p - d ? d : p - d;
    const payload out = held.slice(0, record_offset(held, static_cast<std::size_t>(n)));
    payload in = k.sendrecv((r - d + p) % p, out.share(), (r + d) % p);
    owned_bytes grown;
    grown.append(held.data(), held.size());
    grown.append(in.data(), in.size());
    held = payload::adopt(std::move(grown));
  }
  std::vector<payload> records = records_of(held, static_cast<std::size_t>(p));
  std::vector<payload> result(static_cast<std::size_t>(p));
  for (int i = 0; i < p; ++i) result[static_cast<std::size_t>((r + i) % p)] = std::move(records[static_cast<std::size_t>(i)]);
  return result;
}

}  // namespace parrun::detail::coll
