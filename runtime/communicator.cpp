// Point-to-point messaging: the non-template halves of parrun::communicator (requests are in
// requests.cpp, buffers in buffers.cpp).
#include <parrun/communicator.hpp>

#include <algorithm>
#include <array>

#include "channels/channel_impl.hpp"
#include "comm_impl.hpp"
#include "request_state.hpp"

namespace parrun {

using detail::activity;
using detail::clock;
using detail::comm_impl;

namespace detail {

std::string op_name(const char* op, const char* key1, int v1, const char* key2, int v2) {
  return activity{op, key1, v1, key2, v2}.describe();
}

status status_of(const frame& f) {
  return status(f.env.source, f.env.tag, f.size(), f.env.type);
}

namespace {
// Removes a posted receive from the matcher however the waiting ends.
struct posted_guard {
  matcher& m;
  posted_receive& r;
  ~posted_guard() {
    if (!r.matched) m.cancel(r);
  }
};
}  // namespace

received accept(const comm_impl& comm, frame&& f, const type_id& want, const char* op, int source,
                int tag) {
  if (f.env.type == want.hash) return received{status_of(f), std::move(f.body)};
  const envelope env = f.env;
  comm.eng().matching().put_back(std::move(f));
  throw type_mismatch(op_name(op, "source", source, "tag", tag) + " on rank " + std::to_string(comm.rank()) +
                      ": the message from " + comm.name_rank(env.source) + " with tag " +
                      std::to_string(env.tag) + " is of type " + type_name_of(env.type) +
                      ", but it was received as " + type_name(want) + " (the message stays queued)");
}

}  // namespace detail

comm_impl& communicator::impl() const {
  if (!impl_) throw usage_error("use of an invalid (default-constructed) parrun::communicator");
  return *impl_;
}

int communicator::rank() const { return impl().rank(); }
int communicator::size() const { return impl().size(); }

detail::posted_send communicator::post_bytes(int dest, int tag, const detail::type_id& type,
                                             detail::owned_bytes&& bytes, const char* op) const {
  comm_impl& c = impl();
  if (dest == no_rank) return {};
  c.check_rank(dest, op, "dest");
  c.check_tag(tag, op, false);
  if (c.dest_unreachable(dest)) c.throw_gone(dest, detail::op_name(op, "dest", dest, "tag", tag));
  detail::envelope env{c.context(), type.hash, tag, c.rank(), 0, 0};
  return {dest, tag, c.eng().post(c.world_of(dest), env, std::move(bytes))};
}

void communicator::finish_send(const detail::posted_send& sent) const {
  if (sent.dest == no_rank) return;
  comm_impl& c = impl();
  detail::engine& e = c.eng();
  const int world = c.world_of(sent.dest);
  if (e.taken(world, sent.ticket)) return;
  e.wait_until([&] { return e.taken(world, sent.ticket) || c.dest_unreachable(sent.dest); },
               activity{"send", "dest", sent.dest, "tag", sent.tag});
  if (!e.taken(world, sent.ticket))
    c.throw_gone(sent.dest, detail::op_name("send", "dest", sent.dest, "tag", sent.tag));
}

request communicator::isend_bytes(int dest, int tag, const detail::type_id& type,
                                  detail::owned_bytes&& bytes) const {
  if (dest == no_rank) return request{};
  const status st(dest, tag, bytes.size(), type.hash);
  const detail::posted_send sent = post_bytes(dest, tag, type, std::move(bytes), "isend");
  return request(std::make_shared<detail::send_request>(impl_, dest, tag, sent.ticket, st));
}

namespace detail {
frame wait_frame(const comm_impl& c, int source, int tag, const std::chrono::nanoseconds* timeout, const char* op,
                 const landing_zone& zone) {
  c.check_source(source, op);
  c.check_tag(tag, op, true);
  engine& e = c.eng();
  posted_receive posted{{c.context(), source, tag}, std::nullopt};
  posted.zone = zone;
  if (!e.matching().post(posted)) {
    posted_guard guard{e.matching(), posted};
    clock::time_point deadline{};
    if (timeout != nullptr) deadline = clock::now() + *timeout;
    e.wait_until([&] { return posted.matched.has_value() || c.source_silent(source); },
                 activity{op, "source", source, "tag", tag}, timeout != nullptr ? &deadline : nullptr);
    if (!posted.matched) {
      const std::string what = op_name(op, "source", source, "tag", tag);
      if (c.source_silent(source)) c.throw_gone(c.culprit(source), what);
      throw timeout_error(what + " on rank " + std::to_string(c.rank()) + ": no matching message in " +
                          std::to_string(std::chrono::duration<double>(*timeout).count()) + " s");
    }
  }
  return std::move(*posted.matched);
}
}  // namespace detail

detail::received communicator::recv_bytes(int source, int tag, const detail::type_id& type,
                                          const std::chrono::nanoseconds* timeout) const {
  const comm_impl& c = impl();
  return detail::accept(c, detail::wait_frame(c, source, tag, timeout, "recv"), type, "recv", source, tag);
}

request communicator::irecv_bytes(int source, int tag, const detail::type_id& type,
                                  std::function<status(detail::received&&)> complete) const {
  comm_impl& c = impl();
  c.check_source(source, "irecv");
  c.check_tag(tag, "irecv", true);
  return request(std::make_shared<detail::recv_request>(impl_, source, tag, type, std::move(complete)));
}

status communicator::probe(int source, int tag) const {
  comm_impl& c = impl();
  c.check_source(source, "probe");
  c.check_tag(tag, "probe", true);
  const detail::match_key key{c.context(), source, tag};
  detail::engine& e = c.eng();
  const detail::frame* found = nullptr;
  e.wait_until([&] { return (found = e.matching().find(key)) != nullptr || c.source_silent(source); },
               activity{"probe", "source", source, "tag", tag});
  if (found == nullptr)
    c.throw_gone(c.culprit(source), detail::op_name("probe", "source", source, "tag", tag));
  return detail::status_of(*found);
}

std::optional<status> communicator::iprobe(int source, int tag) const {
  comm_impl& c = impl();
  c.check_source(source, "iprobe");
  c.check_tag(tag, "iprobe", true);
  c.eng().poll();
  if (const detail::frame* f = c.eng().matching().find({c.context(), source, tag}))
    return detail::status_of(*f);
  return std::nullopt;
}

// --- collectives: validation, barrier, split, dup -----------------------------------------

bool communicator::rank_at_root(int root, const char* op) const {
  impl().check_rank(root, op, "root");
  return impl().rank() == root;
}

void communicator::check_parts(std::size_t n, const char* op, const char* what) const {
  if (n != static_cast<std::size_t>(impl().size()))
    throw usage_error(std::string(op) + " on rank " + std::to_string(impl().rank()) + ": " + what +
                      " has " + std::to_string(n) + " elements, but the communicator has " +
                      std::to_string(impl().size()) + " ranks: give exactly one per rank");
}

void communicator::check_counts(const std::vector<int>& counts, std::size_t total, const char* op) const {
  check_parts(counts.size(), op, "counts");
  std::size_t sum = 0;
  for (std::size_t r = 0; r < counts.size(); ++r) {
    if (counts[r] < 0)
      throw usage_error(std::string(op) + " on rank " + std::to_string(impl().rank()) + ": counts[" +
                        std::to_string(r) + "] = " + std::to_string(counts[r]) + " is negative");
    sum += static_cast<std::size_t>(counts[r]);
  }
  if (sum != total)
    throw usage_error(std::string(op) + " on rank " + std::to_string(impl().rank()) +
                      ": the counts add up to " + std::to_string(sum) + " elements, but the data has " +
                      std::to_string(total));
}

void communicator::barrier() const { detail::coll::barrier(impl()); }

communicator communicator::split(int color, int key) const {
  comm_impl& c = impl();
  if (color < 0 && color != no_color)
    throw usage_error("split on rank " + std::to_string(c.rank()) + ": color=" + std::to_string(color) +
                      " is invalid; colors are >= 0, or parrun::no_color");
  // Everyone learns everyone's (color, key); every member derives the same new base.
  const std::vector<std::array<int, 2>> all = allgather(std::array<int, 2>{color, key});
  const std::uint64_t base = c.next_base();
  if (color == no_color) return communicator{};
  std::vector<int> members;
  for (int r = 0; r < c.size(); ++r)
    if (all[static_cast<std::size_t>(r)][0] == color) members.push_back(r);
  std::stable_sort(members.begin(), members.end(), [&](int a, int b) {
    return all[static_cast<std::size_t>(a)][1] < all[static_cast<std::size_t>(b)][1];
  });
  std::vector<int> world;
  int my_rank = -1;
  for (int m : members) {
    if (m == c.rank()) my_rank = static_cast<int>(world.size());
    world.push_back(c.world_of(m));
  }
  return communicator(std::make_shared<comm_impl>(c.shared_engine(), base, my_rank, std::move(world)));
}

std::shared_ptr<detail::channel_core> communicator::open_channel(int peer, int id, int capacity,
                                                                const detail::type_id& type) const {
  impl();  // throws for an invalid communicator
  return std::make_shared<detail::channel_impl>(impl_, peer, id, capacity, type);
}

communicator communicator::dup() const {
  comm_impl& c = impl();
  c.eng().check_open("dup");
  return communicator(std::make_shared<comm_impl>(c.shared_engine(), c.next_base(), c.rank(), c.world_ranks()));
}

void communicator::throw_decode_failure(const char* op, const status& st,
                                        const truncation_error& e) const {
  throw truncation_error(std::string(op) + " on rank " + std::to_string(impl().rank()) +
                         ": the message from " + impl().name_rank(st.source()) + " with tag " +
                         std::to_string(st.tag()) + " (" + st.type_name() + ") is corrupt: " +
                         e.what());
}

}  // namespace parrun
