// Scan and exscan by recursive doubling (as MPICH): in step k rank r swaps its block's partial
// result with r xor 2^k; a partner below r contributes to r's prefix. Every partial covers a
// contiguous block of ranks and lower blocks are always the left operand, so the result is
// v0 op ... op v(r) in rank order, for any associative op.
#include "collectives/coll.hpp"

namespace parrun::detail::coll {

owned_bytes scan(comm_impl& c, owned_bytes&& mine, const reducer& op, const type_id& type,
                 bool exclusive, bool& has_value) {
  call k(c, exclusive ? coll_op::exscan : coll_op::scan, &type);
  const int p = k.size(), r = k.rank();
  owned_bytes partial = std::move(mine);  // op over this rank's current block
  owned_bytes result;                      // op over the ranks before (and with scan, at) r
  has_value = !exclusive;
  if (!exclusive) result = partial.clone();
  for (int mask = 1; mask < p; mask <<= 1) {
    const int partner = r ^ mask;
    if (partner >= p) continue;
    payload in = k.sendrecv(partner, partial.clone(), partner);
    if (partner < r) {
      k.accumulate(op, partial, in, false);
      if (has_value) {
        k.accumulate(op, result, in, false);
      } else {
        result = in.copy();
        has_value = true;
      }
    } else {
      k.accumulate(op, partial, in, true);
    }
  }
  return result;
}

}  // namespace parrun::detail::coll
