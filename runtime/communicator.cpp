// Point-to-point messaging: the non-template halves of parrun::communicator and its requests.
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
namespace {

std::string op_name(const char* op, const char* key1, int v1, const char* key2, int v2) {
  return activity{op, key1, v1, key2, v2}.describe();
}

status status_of(const frame& f) {
  return status(f.env.source, f.env.tag, f.body.size(), f.env.type);
}

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

bool send_request::ready() const {
  return eng().taken(comm_->world_of(dest_), ticket_) || comm_->dest_unreachable(dest_);
}

status send_request::finish() {
  if (!eng().taken(comm_->world_of(dest_), ticket_))
    comm_->throw_gone(dest_, op_name("isend", "dest", dest_, "tag", tag_));
  return status_;
}

recv_request::recv_request(std::shared_ptr<comm_impl> comm, int source, int tag, const type_id& type,
                           std::function<status(received&&)> complete)
    : request_state(std::move(comm)),
      posted_{{comm_->context(), source, tag}, std::nullopt},
      source_(source),
      tag_(tag),
      type_(type),
      complete_(std::move(complete)) {
  eng().matching().post(posted_);
}

recv_request::~recv_request() {
  // Abandoned: a pending receive withdraws; a matched message nobody took goes back.
  if (!posted_.matched) eng().matching().cancel(posted_);
  else if (!finished_) eng().matching().put_back(std::move(*posted_.matched));
}

bool recv_request::ready() const { return posted_.matched.has_value() || comm_->source_silent(source_); }

status recv_request::finish() {
  if (!posted_.matched) {
    eng().matching().cancel(posted_);
    comm_->throw_gone(comm_->culprit(source_), op_name("irecv", "source", source_, "tag", tag_));
  }
  finished_ = true;
  frame f = std::move(*posted_.matched);
  return complete_(accept(*comm_, std::move(f), type_, "irecv", source_, tag_));
}

}  // namespace detail

comm_impl& communicator::impl() const {
  if (!impl_) throw usage_error("use of an invalid (default-constructed) parrun::communicator");
  return *impl_;
}

int communicator::rank() const { return impl().rank(); }
int communicator::size() const { return impl().size(); }

void communicator::send_bytes(int dest, int tag, const detail::type_id& type,
                              detail::owned_bytes&& bytes) {
  comm_impl& c = impl();
  c.check_rank(dest, "send", "dest");
  c.check_tag(tag, "send", false);
  const int world = c.world_of(dest);
  if (c.dest_unreachable(dest)) c.throw_gone(dest, detail::op_name("send", "dest", dest, "tag", tag));
  detail::envelope env{c.context(), type.hash, tag, c.rank(), 0, 0};
  detail::engine& e = c.eng();
  const std::uint64_t ticket = e.post(world, env, std::move(bytes));
  if (e.taken(world, ticket)) return;
  e.wait_until([&] { return e.taken(world, ticket) || c.dest_unreachable(dest); },
               activity{"send", "dest", dest, "tag", tag});
  if (!e.taken(world, ticket)) c.throw_gone(dest, detail::op_name("send", "dest", dest, "tag", tag));
}

request communicator::isend_bytes(int dest, int tag, const detail::type_id& type,
                                  detail::owned_bytes&& bytes) {
  comm_impl& c = impl();
  c.check_rank(dest, "isend", "dest");
  c.check_tag(tag, "isend", false);
  if (c.dest_unreachable(dest)) c.throw_gone(dest, detail::op_name("isend", "dest", dest, "tag", tag));
  detail::envelope env{c.context(), type.hash, tag, c.rank(), 0, 0};
  status st(dest, tag, bytes.size(), type.hash);
  const std::uint64_t ticket = c.eng().post(c.world_of(dest), env, std::move(bytes));
  return request(std::make_shared<detail::send_request>(impl_, dest, tag, ticket, st));
}

detail::received communicator::recv_bytes(int source, int tag, const detail::type_id& type,
                                          const std::chrono::nanoseconds* timeout) {
  comm_impl& c = impl();
  c.check_source(source, "recv");
  c.check_tag(tag, "recv", true);
  detail::engine& e = c.eng();
  detail::posted_receive posted{{c.context(), source, tag}, std::nullopt};
  if (!e.matching().post(posted)) {
    detail::posted_guard guard{e.matching(), posted};
    clock::time_point deadline{};
    if (timeout != nullptr) deadline = clock::now() + *timeout;
    e.wait_until([&] { return posted.matched.has_value() || c.source_silent(source); },
                 activity{"recv", "source", source, "tag", tag},
                 timeout != nullptr ? &deadline : nullptr);
    if (!posted.matched) {
      const std::string op = detail::op_name("recv", "source", source, "tag", tag);
      if (c.source_silent(source)) c.throw_gone(c.culprit(source), op);
      throw timeout_error(op + " on rank " + std::to_string(c.rank()) + ": no matching message in " +
                          std::to_string(std::chrono::duration<double>(*timeout).count()) + " s");
    }
  }
  return detail::accept(c, std::move(*posted.matched), type, "recv", source, tag);
}

request communicator::irecv_bytes(int source, int tag, const detail::type_id& type,
                                  std::function<status(detail::received&&)> complete) {
  comm_impl& c = impl();
  c.check_source(source, "irecv");
  c.check_tag(tag, "irecv", true);
  return request(std::make_shared<detail::recv_request>(impl_, source, tag, type, std::move(complete)));
}

status communicator::probe(int source, int tag) {
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

std::optional<status> communicator::iprobe(int source, int tag) {
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

void communicator::barrier() { detail::coll::barrier(impl()); }

communicator communicator::split(int color, int key) {
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
                                                                const detail::type_id& type) {
  impl();  // throws for an invalid communicator
  return std::make_shared<detail::channel_impl>(impl_, peer, id, capacity, type);
}

communicator communicator::dup() {
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

// --- requests --------------------------------------------------------------------------------

namespace detail {

status request_state::complete() {
  if (done_) return *done_;
  if (failed_) std::rethrow_exception(failed_);
  eng().wait_until([this] { return ready(); }, what());
  try {
    done_ = finish();
  } catch (...) {
    failed_ = std::current_exception();
    throw;
  }
  return *done_;
}

}  // namespace detail

status request::wait() {
  if (!state_) return status{};
  return state_->complete();
}

status request::wait_for(std::chrono::nanoseconds timeout) {
  if (!pending()) return wait();
  detail::request_state& s = *state_;
  const clock::time_point deadline = clock::now() + timeout;
  if (!s.eng().wait_until([&] { return s.ready(); }, s.what(), &deadline))
    throw timeout_error(s.what().describe() + " on rank " + std::to_string(s.eng().rank()) +
                        ": not complete after " +
                        std::to_string(std::chrono::duration<double>(timeout).count()) + " s");
  return wait();
}

std::optional<status> request::test() {
  if (!pending()) return wait();
  state_->eng().poll();
  if (!state_->ready()) return std::nullopt;
  return wait();
}

bool request::pending() const noexcept { return state_ != nullptr && !state_->completed(); }

std::vector<status> wait_all(std::span<request> requests) {
  std::vector<status> out;
  out.reserve(requests.size());
  for (request& r : requests) out.push_back(r.wait());
  return out;
}

std::pair<std::size_t, status> wait_any(std::span<request> requests) {
  detail::request_state* first = nullptr;
  for (request& r : requests)
    if (r.pending()) first = r.state_.get();
  if (first == nullptr) throw usage_error("wait_any: none of the " + std::to_string(requests.size()) +
                                          " requests is pending");
  std::size_t which = 0;
  auto any_ready = [&] {
    for (std::size_t i = 0; i < requests.size(); ++i)
      if (requests[i].pending() && requests[i].state_->ready()) {
        which = i;
        return true;
      }
    return false;
  };
  first->eng().wait_until(any_ready, activity{"wait_any", "requests", static_cast<long>(requests.size())});
  return {which, requests[which].wait()};
}

bool test_all(std::span<request> requests) {
  bool all = true;
  for (request& r : requests)
    if (r.pending() && !r.test()) all = false;
  return all;
}

}  // namespace parrun
