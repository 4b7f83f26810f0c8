// Allreduce. Small values, and values that are not arrays of raw elements, use recursive
// doubling: log2 p exchanges of the whole value. Large arrays of raw elements use Rabenseifner's
// algorithm: a reduce-scatter by recursive halving (each rank ends up owning 1/p of the result),
// then an allgather by recursive doubling, moving about 2n bytes per rank instead of n log2 p.
//
// Both keep rank order, so non-commutative ops work: partners are paired at distance 1 first,
// so every partial result covers a contiguous, aligned block of ranks and the lower block is
// always the left operand. A p that is not a power of two is first folded to the largest power
// of two below it (rank 2i hands its value to rank 2i+1 for i < p - 2^k), and unfolded at the
// end, as MPICH does.
#include <cstring>

#include "collectives/coll.hpp"

namespace parrun::detail::coll {
namespace {

// Retuned on the shared-memory lane (-n 2/4/8, tools/bench collectives): recursive doubling won
// at 64 KiB (169 us against 200 at -n 8), Rabenseifner at 1 MiB (2.7-4.0 ms against 5.4).
constexpr std::size_t large_allreduce = 256 * 1024;

struct folding {
  int pof2;     // largest power of two <= p
  int rem;      // p - pof2
  int newrank;  // rank among the pof2 participants, -1 if it sits out
  int real(int nr) const { return nr < rem ? 2 * nr + 1 : nr + rem; }
};

folding fold(int p, int r) {
  int pof2 = 1;
  while (pof2 * 2 <= p) pof2 *= 2;
  const int rem = p - pof2;
  int newrank = r - rem;
  if (r < 2 * rem) newrank = (r % 2 == 0) ? -1 : r / 2;
  return {pof2, rem, newrank};
}

// Byte range of block b (of pof2) of `count` elements of size `es`.
std::pair<std::size_t, std::size_t> block_bytes(std::size_t count, std::size_t es, int pof2, int b_lo, int b_hi) {
  const auto P = static_cast<std::size_t>(pof2);
  auto edge = [&](int b) {
    const auto ub = static_cast<std::size_t>(b);
    return (ub * (count / P) + ub * (count % P) / P) * es;
  };
  return {edge(b_lo), edge(b_hi)};
}

void recursive_doubling(call& k, const reducer& op, owned_bytes& acc, const folding& f) {
  for (int mask = 1; mask < f.pof2; mask <<= 1) {
    const int partner = f.real(f.newrank ^ mask);
    payload in = k.sendrecv(partner, acc.clone(), partner);
    k.accumulate(op, acc, in, partner > k.rank());
  }
}

void rabenseifner(call& k, const reducer& op, owned_bytes& acc, const folding& f) {
  const std::size_t es = op.element_size(), count = acc.size() / es;
  int lo = 0, hi = f.pof2;  // blocks this rank is responsible for
  // Reduce-scatter: halve the range each step, keep the half on this rank's side.
  for (int mask = 1; mask < f.pof2; mask <<= 1) {
    const int partner_new = f.newrank ^ mask, partner = f.real(partner_new);
    const int mid = (lo + hi) / 2;
    const bool lower = f.newrank < partner_new;
    const auto [keep_from, keep_to] = block_bytes(count, es, f.pof2, lower ? lo : mid, lower ? mid : hi);
    const auto [send_from, send_to] = block_bytes(count, es, f.pof2, lower ? mid : lo, lower ? hi : mid);
    owned_bytes out;  // a copy: the transport may read it after this rank combines into acc
    out.append(acc.data() + send_from, send_to - send_from);
    payload in = k.sendrecv(partner, std::move(out), partner);
    if (in.size() != keep_to - keep_from)
      throw usage_error("allreduce: element-wise reduction of different lengths between ranks");
    op.combine_raw(acc.data() + keep_from, in.data(), (keep_to - keep_from) / es, lower);
    if (lower) hi = mid;
    else lo = mid;
  }
  // Allgather: double the range back, receiving the partner's half.
  for (int mask = f.pof2 >> 1; mask >= 1; mask >>= 1) {
    const int partner_new = f.newrank ^ mask, partner = f.real(partner_new);
    const int width = hi - lo;
    const bool lower = f.newrank < partner_new;
    const int other_lo = lower ? hi : lo - width, other_hi = lower ? hi + width : lo;
    const auto [mine_from, mine_to] = block_bytes(count, es, f.pof2, lo, hi);
    const auto [other_from, other_to] = block_bytes(count, es, f.pof2, other_lo, other_hi);
    owned_bytes out;
    out.append(acc.data() + mine_from, mine_to - mine_from);
    payload in = k.sendrecv(partner, std::move(out), partner);
    if (in.size() != other_to - other_from)
      throw usage_error("allreduce: element-wise reduction of different lengths between ranks");
    if (in.size() != 0) std::memcpy(acc.data() + other_from, in.data(), in.size());
    lo = lower ? lo : other_lo;
    hi = lower ? other_hi : hi;
  }
}

}  // namespace

owned_bytes allreduce(comm_impl& c, owned_bytes&& mine, const reducer& op, const type_id& type) {
  call k(c, coll_op::allreduce, &type);
  const int p = k.size(), r = k.rank();
  owned_bytes acc = std::move(mine);
  if (p == 1) return acc;
  const folding f = fold(p, r);
  const std::size_t es = op.element_size();
  const bool large = es > 0 && acc.size() >= large_allreduce && acc.size() / es >= static_cast<std::size_t>(f.pof2);
  k.set_variant(large ? 1 : 0);

  // Fold: even ranks below 2*rem hand their value to the next rank and wait for the result.
  if (r < 2 * f.rem) {
    if (r % 2 == 0) {
      k.send(r + 1, std::move(acc));
      return k.recv(r + 1).copy();
    }
    k.accumulate(op, acc, k.recv(r - 1), false);
  }
  if (large) rabenseifner(k, op, acc, f);
  else recursive_doubling(k, op, acc, f);
  if (r < 2 * f.rem) k.send(r - 1, acc.clone());
  return acc;
}

}  // namespace parrun::detail::coll
