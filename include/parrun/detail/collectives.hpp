#pragma once
// The collective algorithms' entry points, on encoded bytes (runtime/collectives/). The member
// templates of parrun::communicator encode the values, call these, and decode the results.
#include <vector>

#include <parrun/detail/bytes.hpp>
#include <parrun/detail/type_id.hpp>

namespace parrun::detail {
class comm_impl;
class reducer;
}  // namespace parrun::detail

namespace parrun::detail::coll {

void barrier(comm_impl& c);
/// Root's bytes, on every rank (`value` is significant at root only).
payload broadcast(comm_impl& c, int root, owned_bytes&& value, const type_id& type);
/// Every rank's bytes in rank order at root; empty elsewhere.
std::vector<payload> gather(comm_impl& c, int root, owned_bytes&& mine, const type_id& type);
/// Every rank's bytes in rank order, on every rank.
std::vector<payload> allgather(comm_impl& c, owned_bytes&& mine, const type_id& type);
/// Part r of root's `parts` (size() of them, significant at root), on rank r.
payload scatter(comm_impl& c, int root, std::vector<owned_bytes>&& parts, const type_id& type);
/// Part r from every rank, in rank order: out[q] is what rank q addressed to this rank.
std::vector<payload> alltoall(comm_impl& c, std::vector<owned_bytes>&& parts, const type_id& type);
/// v0 op v1 op ... op v(p-1) at root (in rank order); empty elsewhere.
owned_bytes reduce(comm_impl& c, int root, owned_bytes&& mine, const reducer& op, const type_id& type);
/// v0 op v1 op ... op v(p-1), on every rank.
owned_bytes allreduce(comm_impl& c, owned_bytes&& mine, const reducer& op, const type_id& type);
/// v0 op ... op v(rank) (inclusive) or op over ranks before this one (exclusive; rank 0 gets
/// nothing: `has_value` false).
owned_bytes scan(comm_impl& c, owned_bytes&& mine, const reducer& op, const type_id& type,
                 bool exclusive, bool& has_value);

}  // namespace parrun::detail::coll
