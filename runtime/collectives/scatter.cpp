// Scatter and alltoall. Scatter runs a binomial tree from the root: the root bundles the parts
// in relative-rank order, so every subtree's parts are one contiguous run of records that is
// forwarded without copying. Alltoall is a pairwise exchange: in step i rank r sends to r+i and
// receives from r-i, all sends posted as the steps go.
#include "collectives/coll.hpp"

namespace parrun::detail::coll {

payload scatter(comm_impl& c, int root, std::vector<owned_bytes>&& parts, const type_id& type) {
  call k(c, coll_op::scatter, &type, root, true);
  const int p = k.size();
  const binomial tree{(k.rank() - root + p) % p, p};
  auto real = [&](int v) { return (v + root) % p; };
  payload bundle;  // records of relative ranks [vrank, vrank + subtree)
  if (tree.vrank == 0) {
    owned_bytes all;
    for (int v = 0; v < p; ++v) append_record(all, parts[static_cast<std::size_t>(real(v))].data(),
                                               parts[static_cast<std::size_t>(real(v))].size());
    bundle = payload::adopt(std::move(all));
  } else {
    bundle = k.recv(real(tree.parent()));
  }
  std::vector<std::pair<int, std::uint64_t>> sent;
  for (int child : tree.children()) {
    const auto from = record_offset(bundle, static_cast<std::size_t>(child - tree.vrank));
    const auto to = record_offset(bundle, static_cast<std::size_t>(child - tree.vrank + binomial{child, p}.subtree()));
    sent.emplace_back(real(child), k.post(real(child), bundle.slice(from, to - from).share()));
  }
  payload own = bundle.slice(sizeof(std::uint64_t), record_offset(bundle, 1) - sizeof(std::uint64_t));
  for (auto [dest, ticket] : sent) k.wait_sent(dest, ticket);
  return own;
}

std::vector<payload> alltoall(comm_impl& c, std::vector<owned_bytes>&& parts, const type_id& type) {
  call k(c, coll_op::alltoall, &type);
  const int p = k.size(), r = k.rank();
  std::vector<payload> out(static_cast<std::size_t>(p));
  out[static_cast<std::size_t>(r)] = payload::adopt(std::move(parts[static_cast<std::size_t>(r)]));
  std::vector<std::pair<int, std::uint64_t>> sent;
  for (int i = 1; i < p; ++i) {
    const int dest = (r + i) % p, source = (r - i + p) % p;
    sent.emplace_back(dest, k.post(dest, std::move(parts[static_cast<std::size_t>(dest)])));
    out[static_cast<std::size_t>(source)] = k.recv(source);
  }
  for (auto [dest, ticket] : sent) k.wait_sent(dest, ticket);
  return out;
}

}  // namespace parrun::detail::coll
