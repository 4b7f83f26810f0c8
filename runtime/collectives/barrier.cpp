// Barrier by dissemination: in round k every rank signals rank+2^k and waits for rank-2^k, so
// after ceil(log2 p) rounds every rank has heard, directly or not, from every other.
#include "collectives/coll.hpp"

namespace parrun::detail::coll {

void barrier(comm_impl& c) {
  call k(c, coll_op::barrier, nullptr);
  const int p = k.size(), r = k.rank();
  for (int d = 1; d < p; d <<= 1) k.sendrecv((r + d) % p, owned_bytes{}, (r - d + p) % p);
}

}  // namespace parrun::detail::coll
