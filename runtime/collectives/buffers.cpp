// The buffer forms of the collectives: the caller's elements are packed into one message, the
// byte-level algorithms (this folder) move them, and what arrives is copied straight into the
// caller's buffer at its place. Counts and displacements are checked first, on every rank, so a
// mistake is a usage_error naming the rank and the sizes, never a write past a buffer.
#include <parrun/communicator.hpp>

#include <string>
#include <vector>

#include "collectives/coll.hpp"

namespace parrun {

using detail::owned_bytes;
using detail::payload;
using detail::raw_buffer;

namespace {

struct block_place {
  std::size_t offset;  // in elements
  std::size_t count;
};

std::string on_rank(const char* op, int rank) { return std::string(op) + " on rank " + std::to_string(rank) + ": "; }

// Where each rank's block lies in a buffer of `size` elements: given counts and displacements
// (empty: packed in rank order), checked against the buffer.
std::vector<block_place> places_of(std::span<const int> counts, std::span<const int> displs, int p,
                                   std::size_t size, const char* op, int me, const char* buffer) {
  if (counts.size() != static_cast<std::size_t>(p))
    throw usage_error(on_rank(op, me) + "counts has " + std::to_string(counts.size()) +
                      " entries, but the communicator has " + std::to_string(p) + " ranks: give one per rank");
  if (!displs.empty() && displs.size() != counts.size())
    throw usage_error(on_rank(op, me) + "displs has " + std::to_string(displs.size()) + " entries, counts " +
                      std::to_string(counts.size()) + ": give one per rank, or none for blocks packed in rank order");
  std::vector<block_place> out;
  out.reserve(counts.size());
  std::size_t next = 0;
  for (std::size_t r = 0; r < counts.size(); ++r) {
    if (counts[r] < 0 || (!displs.empty() && displs[r] < 0))
      throw usage_error(on_rank(op, me) + (counts[r] < 0 ? "counts[" : "displs[") + std::to_string(r) + "] = " +
                        std::to_string(counts[r] < 0 ? counts[r] : displs[r]) + " is negative");
    const std::size_t at = displs.empty() ? next : static_cast<std::size_t>(displs[r]);
    const auto n = static_cast<std::size_t>(counts[r]);
    if (at > size || n > size - at)
      throw usage_error(on_rank(op, me) + "rank " + std::to_string(r) + "'s block (" + std::to_string(n) +
                        " elements at " + std::to_string(at) + ") does not fit in the " + buffer + " buffer of " +
                        std::to_string(size) + " elements");
    out.push_back({at, n});
    next = at + n;
  }
  return out;
}

// Every rank the same block of `block` elements, packed in rank order.
std::vector<block_place> blocks_of(std::size_t block, int p) {
  std::vector<block_place> out;
  for (int r = 0; r < p; ++r) out.push_back({static_cast<std::size_t>(r) * block, block});
  return out;
}

raw_buffer slice(const raw_buffer& b, const block_place& at) {
  raw_buffer s = b;
  s.base = b.base + at.offset * b.element_size;  // buffers with counts are contiguous
  s.layout = vector_layout{1, at.count, at.count};
  return s;
}

// The block that arrived from `from` into its place, which it must fill exactly.
void land(const payload& in, const raw_buffer& into, const block_place& at, const char* op, int me, int from) {
  const std::size_t es = into.element_size;
  if (in.size() != at.count * es)
    throw usage_error(on_rank(op, me) + "rank " + std::to_string(from) + " sent " + std::to_string(in.size() / es) +
                      " elements, but this rank expects " + std::to_string(at.count) + " from it");
  detail::unpack(slice(into, at), in.data(), at.count);
}

std::size_t even_block(const raw_buffer& b, int p, const char* op, int me, const char* buffer) {
  if (b.size() % static_cast<std::size_t>(p) != 0)
    throw usage_error(on_rank(op, me) + "the " + buffer + " buffer has " + std::to_string(b.size()) +
                      " elements, not a multiple of the " + std::to_string(p) + " ranks");
  return b.size() / static_cast<std::size_t>(p);
}

void check_same_size(const raw_buffer& in, const raw_buffer& out, const char* op, int me) {
  if (in.size() != out.size())
    throw usage_error(on_rank(op, me) + "the input has " + std::to_string(in.size()) + " elements, the output " +
                      std::to_string(out.size()) + ": give both the same size");
}

}  // namespace

void communicator::broadcast_buffer(const raw_buffer& data, int root) const {
  detail::comm_impl& c = impl();
  const bool at_root = rank_at_root(root, "broadcast");
  payload p = detail::coll::broadcast(c, root, at_root ? detail::packed(data) : owned_bytes{}, *data.vector_type);
  if (!at_root) land(p, data, {0, data.size()}, "broadcast", c.rank(), root);
}

void communicator::allreduce_buffer(const raw_buffer& in, const raw_buffer& out, const detail::reducer& op) const {
  detail::comm_impl& c = impl();
  check_same_size(in, out, "allreduce", c.rank());
  owned_bytes acc = detail::coll::allreduce(c, detail::packed(in), op, *in.vector_type);
  detail::unpack(out, acc.data(), out.size());
}

void communicator::reduce_buffer(const raw_buffer& in, const raw_buffer& out, const detail::reducer& op,
                                 int root) const {
  detail::comm_impl& c = impl();
  if (rank_at_root(root, "reduce")) check_same_size(in, out, "reduce", c.rank());
  owned_bytes acc = detail::coll::reduce(c, root, detail::packed(in), op, *in.vector_type);
  if (c.rank() == root) detail::unpack(out, acc.data(), out.size());
}

void communicator::reduce_scatter_buffer(const raw_buffer& in, const raw_buffer& out, std::span<const int> counts,
                                         const detail::reducer& op) const {
  detail::comm_impl& c = impl();
  const auto places = places_of(counts, {}, c.size(), in.size(), "reduce_scatter", c.rank(), "input");
  const std::size_t total = places.back().offset + places.back().count;
  if (total != in.size())
    throw usage_error(on_rank("reduce_scatter", c.rank()) + "the counts add up to " + std::to_string(total) +
                      " elements, but the input has " + std::to_string(in.size()));
  const block_place mine = places[static_cast<std::size_t>(c.rank())];
  if (out.size() < mine.count)
    throw usage_error(on_rank("reduce_scatter", c.rank()) + "the output holds " + std::to_string(out.size()) +
                      " elements, but counts[" + std::to_string(c.rank()) + "] = " + std::to_string(mine.count));
  // The whole reduction in rank order at rank 0, then its blocks to their ranks.
  owned_bytes whole = detail::coll::reduce(c, 0, detail::packed(in), op, *in.vector_type);
  std::vector<owned_bytes> parts;
  if (c.rank() == 0)
    for (const block_place& at : places)
      parts.push_back(owned_bytes::copy_of(whole.data() + at.offset * in.element_size, at.count * in.element_size));
  payload got = detail::coll::scatter(c, 0, std::move(parts), *in.vector_type);
  land(got, out, {0, mine.count}, "reduce_scatter", c.rank(), 0);
}

void communicator::scatterv_buffer(const raw_buffer& send, std::span<const int> counts, std::span<const int> displs,
                                   const raw_buffer& recv, int root, bool block) const {
  detail::comm_impl& c = impl();
  const char* op = block ? "scatter" : "scatterv";
  std::vector<owned_bytes> parts;
  if (rank_at_root(root, op)) {
    const auto places = block ? blocks_of(even_block(send, c.size(), op, c.rank(), "send"), c.size())
                              : places_of(counts, displs, c.size(), send.size(), op, c.rank(), "send");
    for (const block_place& at : places) parts.push_back(detail::packed(slice(send, at)));
  }
  payload got = detail::coll::scatter(c, root, std::move(parts), *recv.vector_type);
  const std::size_t n = got.size() / recv.element_size;
  if (block ? n != recv.size() : n > recv.size())
    throw usage_error(on_rank(op, c.rank()) + "the root sent " + std::to_string(n) + " elements, but the receive buffer " +
                      (block ? "has " : "holds only ") + std::to_string(recv.size()));
  land(got, recv, {0, n}, op, c.rank(), root);
}

void communicator::gatherv_buffer(const raw_buffer& send, const raw_buffer& recv, std::span<const int> counts,
                                  std::span<const int> displs, int root, bool block) const {
  detail::comm_impl& c = impl();
  const char* op = block ? "gather" : "gatherv";
  std::vector<block_place> places;
  if (rank_at_root(root, op)) {
    places = block ? blocks_of(send.size(), c.size()) : places_of(counts, displs, c.size(), recv.size(), op, c.rank(), "receive");
    if (block && recv.size() < send.size() * static_cast<std::size_t>(c.size()))
      throw usage_error(on_rank(op, c.rank()) + "the receive buffer holds " + std::to_string(recv.size()) +
                        " elements, but " + std::to_string(c.size()) + " blocks of " + std::to_string(send.size()) +
                        " arrive");
  }
  const std::vector<payload> got = detail::coll::gather(c, root, detail::packed(send), *send.vector_type);
  for (std::size_t r = 0; r < got.size(); ++r) land(got[r], recv, places[r], op, c.rank(), static_cast<int>(r));
}

void communicator::allgatherv_buffer(const raw_buffer& send, const raw_buffer& recv, std::span<const int> counts,
                                     std::span<const int> displs, bool block) const {
  detail::comm_impl& c = impl();
  const char* op = block ? "allgather" : "allgatherv";
  const auto places =
      block ? blocks_of(send.size(), c.size()) : places_of(counts, displs, c.size(), recv.size(), op, c.rank(), "receive");
  if (block && recv.size() < send.size() * static_cast<std::size_t>(c.size()))
    throw usage_error(on_rank(op, c.rank()) + "the receive buffer holds " + std::to_string(recv.size()) +
                      " elements, but " + std::to_string(c.size()) + " blocks of " + std::to_string(send.size()) +
                      " arrive");
  const std::vector<payload> got = detail::coll::allgather(c, detail::packed(send), *send.vector_type);
  for (std::size_t r = 0; r < got.size(); ++r) land(got[r], recv, places[r], op, c.rank(), static_cast<int>(r));
}

void communicator::alltoallv_buffer(const raw_buffer& send, std::span<const int> send_counts,
                                    std::span<const int> send_displs, const raw_buffer& recv,
                                    std::span<const int> recv_counts, std::span<const int> recv_displs,
                                    bool block) const {
  detail::comm_impl& c = impl();
  const char* op = block ? "alltoall" : "alltoallv";
  const auto out = block ? blocks_of(even_block(send, c.size(), op, c.rank(), "send"), c.size())
                         : places_of(send_counts, send_displs, c.size(), send.size(), op, c.rank(), "send");
  const auto in = block ? blocks_of(even_block(recv, c.size(), op, c.rank(), "receive"), c.size())
                        : places_of(recv_counts, recv_displs, c.size(), recv.size(), op, c.rank(), "receive");
  std::vector<owned_bytes> parts;
  parts.reserve(out.size());
  for (const block_place& at : out) parts.push_back(detail::packed(slice(send, at)));
  const std::vector<payload> got = detail::coll::alltoall(c, std::move(parts), *send.vector_type);
  for (std::size_t q = 0; q < got.size(); ++q) land(got[q], recv, in[q], op, c.rank(), static_cast<int>(q));
}

}  // namespace parrun
