#include "collectives/coll.hpp"

#include <cstring>
#include <string>

#include <parrun/errors.hpp>

namespace parrun::detail::coll {

const char* name_of(coll_op op) noexcept {
  switch (op) {
    case coll_op::barrier: return "barrier";
    case coll_op::broadcast: return "broadcast";
    case coll_op::gather: return "gather";
    case coll_op::allgather: return "allgather";
    case coll_op::scatter: return "scatter";
    case coll_op::alltoall: return "alltoall";
    case coll_op::reduce: return "reduce";
    case coll_op::allreduce: return "allreduce";
    case coll_op::scan: return "scan";
    case coll_op::exscan: return "exscan";
    case coll_op::split: return "split";
  }
  return "collective";
}

namespace {
// Validates the call, then takes its sequence number: a call rejected for its arguments uses
// none, so a rank that catches the usage_error and calls again stays in step with the others.
std::int32_t checked_tag(comm_impl& c, coll_op op, int root, bool has_root) {
  c.eng().check_open(name_of(op));
  if (has_root) c.check_rank(root, name_of(op), "root");
  return static_cast<std::int32_t>(c.next_collective() & static_cast<std::uint64_t>(max_tag));
}
}  // namespace

call::call(comm_impl& c, coll_op op, const type_id* type, int root, bool has_root)
    : c_(c),
      op_(op),
      type_(type != nullptr ? type->hash : 0),
      type_id_(type),
      tag_(checked_tag(c, op, root, has_root || root >= 0)),
      what_{name_of(op)} {
  if (has_root || root >= 0) {
    what_.key1 = "root";
    what_.value1 = root;
  }
  what_.key2 = "call";
  what_.value2 = tag_;
}

std::uint64_t call::post(int dest, owned_bytes&& bytes) {
  envelope env{c_.context(space::collective), type_, tag_, c_.rank(),
               static_cast<std::uint32_t>(op_) | (std::uint32_t{variant_} << 8), 0};
  return c_.eng().post(c_.world_of(dest), env, std::move(bytes));
}

void call::wait_sent(int dest, std::uint64_t ticket) {
  engine& e = c_.eng();
  const int world = c_.world_of(dest);
  if (e.taken(world, ticket)) return;
  e.wait_until([&] { return e.taken(world, ticket) || c_.dest_unreachable(dest); }, what_);
  if (!e.taken(world, ticket)) c_.throw_gone(dest, what_.describe());
}

payload call::recv(int source) { return take(source, false); }

payload call::recv_any_variant(int source) { return take(source, true); }

payload call::take(int source, bool any_variant) {
  engine& e = c_.eng();
  posted_receive posted{{c_.context(space::collective), source, tag_}, std::nullopt};
  if (!e.matching().post(posted)) {
    e.wait_until([&] { return posted.matched.has_value() || c_.source_silent(source); }, what_);
    if (!posted.matched) {
      e.matching().cancel(posted);
      c_.throw_gone(source, what_.describe());
    }
  }
  const envelope& env = posted.matched->env;
  const auto their_op = static_cast<coll_op>(env.flags & 0xff);
  const auto their_variant = static_cast<std::uint8_t>(env.flags >> 8);
  if (their_op != op_)
    throw usage_error(what_.describe() + " on rank " + std::to_string(c_.rank()) + ": " +
                      c_.name_rank(source) + " is in " + name_of(their_op) +
                      " instead: the ranks called different collectives, or in a different order");
  if (env.type != type_)
    throw type_mismatch(what_.describe() + " on rank " + std::to_string(c_.rank()) + ": " +
                        c_.name_rank(source) + " passed a value of type " + type_name_of(env.type) +
                        ", but this rank one of type " +
                        (type_id_ != nullptr ? type_name(*type_id_) : "(none)"));
  if (any_variant) variant_ = their_variant;
  else if (their_variant != variant_)
    throw usage_error(what_.describe() + " on rank " + std::to_string(c_.rank()) + ": " +
                      c_.name_rank(source) + " contributed a value of a different size than this "
                      "rank's (it ran another algorithm); every rank must contribute the same size");
  return std::move(posted.matched->body);
}

payload call::sendrecv(int dest, owned_bytes&& bytes, int source) {
  const std::uint64_t ticket = post(dest, std::move(bytes));
  payload in = recv(source);
  wait_sent(dest, ticket);
  return in;
}

void call::accumulate(const reducer& op, owned_bytes& acc, const payload& other, bool acc_is_left) const {
  if (const std::size_t es = op.element_size(); es > 0) {
    if (acc.size() != other.size())
      throw usage_error(what_.describe() + " on rank " + std::to_string(c_.rank()) +
                        ": element-wise reduction of different lengths (" +
                        std::to_string(acc.size() / es) + " elements here, " +
                        std::to_string(other.size() / es) +
                        " from another rank): every rank must contribute the same length");
    op.combine_raw(acc.data(), other.data(), acc.size() / es, acc_is_left);
    return;
  }
  try {
    acc = acc_is_left ? op.combine(acc.data(), acc.size(), other.data(), other.size())
                      : op.combine(other.data(), other.size(), acc.data(), acc.size());
  } catch (const usage_error& e) {
    throw usage_error(what_.describe() + " on rank " + std::to_string(c_.rank()) + ": " + e.what());
  }
}

void append_record(owned_bytes& bundle, const std::byte* data, std::size_t size) {
  const std::uint64_t n = size;
  bundle.append(&n, sizeof n);
  bundle.append(data, size);
}

// Record lengths come off the wire: compared by subtraction, so no sum can wrap around.
std::size_t record_offset(const payload& bundle, std::size_t index) {
  std::size_t at = 0;
  for (std::size_t i = 0; i < index; ++i) {
    std::uint64_t n = 0;
    if (bundle.size() - at < sizeof n) throw truncation_error("collective bundle is truncated");
    std::memcpy(&n, bundle.data() + at, sizeof n);
    at += sizeof n;
    if (n > bundle.size() - at) throw truncation_error("collective bundle is truncated");
    at += n;
  }
  return at;
}

std::vector<payload> records_of(const payload& bundle, std::size_t expected) {
  std::vector<payload> out;
  std::size_t at = 0;
  while (at < bundle.size()) {
    std::uint64_t n = 0;
    if (bundle.size() - at < sizeof n || out.size() == expected)
      throw truncation_error("collective bundle is truncated or has more than " + std::to_string(expected) + " records");
    std::memcpy(&n, bundle.data() + at, sizeof n);
    at += sizeof n;
    if (n > bundle.size() - at) throw truncation_error("collective bundle is truncated");
    out.push_back(bundle.slice(at, n));
    at += n;
  }
  if (out.size() != expected)
    throw truncation_error("collective bundle has " + std::to_string(out.size()) + " records, expected " +
                           std::to_string(expected));
  return out;
}

int binomial::parent() const noexcept { return vrank == 0 ? -1 : vrank - (vrank & -vrank); }

int binomial::subtree() const noexcept {
  if (vrank == 0) return size;
  const int low = vrank & -vrank;
  return low < size - vrank ? low : size - vrank;
}

binomial::child_list binomial::children() const {
  child_list out;
  const int limit = vrank == 0 ? size : (vrank & -vrank);
  for (int mask = 1; mask < limit && vrank + mask < size; mask <<= 1) out.rank[out.count++] = vrank + mask;
  return out;
}

}  // namespace parrun::detail::coll
