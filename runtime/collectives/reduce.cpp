// Reduce: a binomial tree rooted at rank 0, so that every rank combines its own value with its
// children's subtrees in increasing rank order (acc op child) and any associative op, commutative
// or not, yields v0 op v1 op ... op v(p-1). A root other than 0 gets the result in one more hop.
#include "collectives/coll.hpp"

namespace parrun::detail::coll {

owned_bytes reduce(comm_impl& c, int root, owned_bytes&& mine, const reducer& op, const type_id& type) {
  call k(c, coll_op::reduce, &type, root, true);
  const int r = k.rank();
  const binomial tree{r, k.size()};
  owned_bytes acc = std::move(mine);
  for (int child : tree.children()) k.accumulate(op, acc, k.recv(child), true);
  if (r != 0) {
    k.send(tree.parent(), std::move(acc));
    if (r != root) return {};
    return k.recv(0).copy();
  }
  if (root == 0) return acc;
  k.send(root, std::move(acc));
  return {};
}

}  // namespace parrun::detail::coll
