#include "engine.hpp"

#include <algorithm>
#include <cstdio>
#include <thread>

#include <parrun/errors.hpp>

#include "contexts.hpp"
#include "frame_check.hpp"
#include "warn_first.hpp"

namespace parrun::detail {
namespace {

// How long a blocked rank polls before it sleeps in zmq_poll.
// - ZeroMQ only: spinning pays only when every rank and its ZeroMQ I/O thread have a core each;
//   measured on 2 cores with 2 ranks, a 50 us spin more than doubled ping-pong latency (188 us
//   against 71 us without), because the spinning thread starves the I/O threads that carry the
//   message.
// - Shared memory: the message is in memory the moment it is written, so polling is the fast
//   path and a wake-up from sleep (eventfd + scheduler, ~10-30 us here) the slow one. When
//   oversubscribed, each poll yields the core (sched_yield) so that the rank being waited for
//   can run. The budget is measured (tools/bench, README "Performance"): long enough to cover a
//   collective's round trips on a loaded machine, short enough that a rank blocked for seconds
//   costs well under 1% of a core.
std::chrono::microseconds spin_budget(const job_info& info, bool polling_pays) {
  if (info.spin_us >= 0) return std::chrono::microseconds(info.spin_us);
  const unsigned cores = std::thread::hardware_concurrency();
  const bool oversubscribed = cores == 0 || static_cast<unsigned>(info.local_size) > cores;
  if (polling_pays) return std::chrono::microseconds(oversubscribed ? 1000 : 200);
  if (cores == 0 || 2 * static_cast<unsigned>(info.local_size) > cores) return std::chrono::microseconds(0);
  return std::chrono::microseconds(20);
}

// "from rank 3 with tag 7", "from rank 3 on channel id 2 of another communicator": where an
// unreceived frame was addressed, in the user's terms.
std::string addressed(const envelope& env) {
  const std::string other = base_of(env.context) == 0 ? "" : " of another communicator";
  const std::string from = "from rank " + std::to_string(env.source);
  switch (static_cast<space>(env.context & space_mask)) {
    case space::channel:
      return from + " on channel id " + std::to_string(env.tag) + other;
    case space::collective:
      return from + " for a collective call" + other + " that this rank never made";
    default:
      return from + other + " with tag " + std::to_string(env.tag);
  }
}

}  // namespace

std::string activity::describe() const {
  auto field = [](const char* key, long v) {
    const std::string k = key;
    if (v == -1 && (k == "source" || k == "tag")) return k + "=any";
    return k + "=" + std::to_string(v);
  };
  std::string args;
  if (key1 != nullptr) args = field(key1, value1);
  if (key2 != nullptr) args += (args.empty() ? "" : ", ") + field(key2, value2);
  return args.empty() ? std::string(op) : std::string(op) + "(" + args + ")";
}

engine::engine(job_info info, std::unique_ptr<transport> link, std::unique_ptr<control_channel> control)
    : info_(std::move(info)),
      control_(std::move(control)),
      link_(std::move(link)),
      peers_(static_cast<std::size_t>(info_.size)),
      spin_(spin_budget(info_, link_->polling_pays())) {
  const unsigned cores = std::thread::hardware_concurrency();
  yield_ = cores == 0 || static_cast<unsigned>(info_.local_size) > cores;
}

engine::~engine() {
  link_->close();
  if (control_) control_->close();
}

void engine::send_control(const std::string& bytes) {
  if (control_) control_->send(bytes);
}

engine::entry::entry(engine& e, const char* op) : e_(e) {
  const std::thread::id me = std::this_thread::get_id();
  if (e.owner_.load(std::memory_order_relaxed) == me) {
    ++e.depth_;
    return;
  }
  std::thread::id none{};
  if (!e.owner_.compare_exchange_strong(none, me, std::memory_order_acquire))
    throw usage_error(std::string(op) + " on rank " + std::to_string(e.info_.rank) +
                      ": another thread of this rank is inside a parrun call right now. A rank's "
                      "communicators, channels and requests may be used by one thread at a time "
                      "(like MPI_THREAD_SERIALIZED): leave communication to one thread, or "
                      "serialize the calls with a mutex");
  e.depth_ = 1;
}

engine::entry::~entry() {
  if (--e_.depth_ == 0) e_.owner_.store(std::thread::id{}, std::memory_order_release);
}

void engine::register_comm(std::uint64_t base, const std::vector<int>& world_ranks) {
  comms_[base] = &world_ranks;
  matcher_.remove_if([&](const frame& f) {
    if (base_of(f.env.context) != base || f.env.context == engine_context) return false;
    const char* why = source_problem(f.env, world_ranks);
    if (why != nullptr) drop(f.env, why);
    return why != nullptr;
  });
}

void engine::unregister_comm(std::uint64_t base) noexcept { comms_.erase(base); }

void engine::drop(const envelope& env, const char* why) {
  if (const char* tail = warning_tail(++dropped_))
    std::fprintf(stderr,
                 "parrun: rank %d: warning: dropped a frame that claims to come from world rank "
                 "%u (rank %d, tag %d): %s%s\n",
                 info_.rank, env.world_source, env.source, env.tag, why, tail);
}

std::uint64_t engine::post(int world_dest, envelope env, owned_bytes&& body) {
  entry inside(*this, "send");
  env.world_source = static_cast<std::uint32_t>(info_.rank);
  if (world_dest != info_.rank) {
    if (env.context != engine_context) {
      peer& to = peers_[static_cast<std::size_t>(world_dest)];
      ++to.sent;
      to.values_sent += env.type != 0;
    }
    return link_->post(world_dest, env, std::move(body));
  }
  matcher_.deliver(frame{env, payload::adopt(std::move(body))});
  return 0;
}

bool engine::taken(int world_dest, std::uint64_t ticket) const {
  return world_dest == info_.rank || link_->taken(world_dest, ticket);
}

void engine::poll() {
  entry inside(*this, "poll");
  link_->progress(std::chrono::milliseconds(0), *this);
  run_fibers();
}

void engine::start(std::shared_ptr<fiber> f) {
  fibers_.push_back(f);
  if (fiber::current() == nullptr) f->resume();
  std::erase_if(fibers_, [](const std::shared_ptr<fiber>& g) { return g->finished(); });
}

void engine::run_fibers() {
  if (fibers_.empty() || fiber::current() != nullptr) return;
  // A fiber's progress (a frame to this rank itself, say) can let another go on: a few passes.
  for (int pass = 0; pass < 8; ++pass) {
    bool resumed = false;
    for (std::size_t i = 0; i < fibers_.size(); ++i) {
      std::shared_ptr<fiber> f = fibers_[i];  // resuming may start more fibers
      if (f->runnable()) {
        f->resume();
        resumed = true;
      }
    }
    std::erase_if(fibers_, [](const std::shared_ptr<fiber>& g) { return g->finished(); });
    if (!resumed) break;
  }
}

// On a fiber, blocking means handing the thread back: whoever resumed it keeps polling, and
// resumes it once `done` (or the deadline) holds.
bool engine::wait_on_fiber(fiber& f, function_ref<bool()> done, const clock::time_point* deadline) {
  if (done()) return true;
  if (deadline == nullptr) {
    f.suspend_until(done);
  } else {
    auto ready = [&] { return done() || clock::now() >= *deadline; };
    f.suspend_until(ready);
  }
  return done();
}

bool engine::wait_until(function_ref<bool()> done, const activity& what,
                        const clock::time_point* deadline) {
  if (fiber* f = fiber::current()) return wait_on_fiber(*f, done, deadline);
  entry inside(*this, what.op);
  if (done()) return true;
  const activity* outer = current_;
  current_ = &what;
  current_since_ = clock::now();
  struct restore {
    engine& e;
    const activity* outer;
    ~restore() { e.current_ = outer; }
  } restore_on_exit{*this, outer};

  const clock::time_point spin_until = current_since_ + spin_;
  clock::time_point now = current_since_;
  bool spinning = spin_.count() > 0;
  for (unsigned polls = 0;; ++polls) {
    // While spinning, the clock is read every 8th poll only (reading it every time was a fifth
    // of a spinning rank's time), and the core is offered to others every 64th: ranks that do
    // not outnumber the cores may still share one with each other or with other work, and a
    // spin that never yields would then hold off the very rank it waits for for a whole slice
    // (seen: 222 us instead of 0.3 us per 8-byte round trip in one run of the ping-pong).
    if (!spinning || polls % 8 == 0) {
      now = clock::now();
      spinning = now < spin_until;
    }
    std::chrono::milliseconds timeout(-1);
    if (deadline != nullptr) {
      if (now >= *deadline) {
        link_->progress(std::chrono::milliseconds(0), *this);  // even a zero timeout looks once
        return done();
      }
      timeout = std::chrono::ceil<std::chrono::milliseconds>(*deadline - now);
    }
    if (spinning) timeout = std::chrono::milliseconds(0);
    const std::size_t got = link_->progress(timeout, *this);
    run_fibers();
    if (done()) return true;
    if (spinning && got == 0 && (yield_ || polls % 64 == 63)) std::this_thread::yield();
  }
}

std::byte* engine::landing(const envelope& env, std::size_t size) {
  // The checks on_frame makes, first: nothing is written into a user's buffer for a frame that
  // would be dropped.
  if (env.context == engine_context || envelope_problem(env, info_.size, info_.rank) != nullptr) return nullptr;
  const auto comm = comms_.find(base_of(env.context));
  if (comm != comms_.end() && source_problem(env, *comm->second) != nullptr) return nullptr;
  return matcher_.landing_for(env, size);
}

void engine::on_frame(frame&& f) {
  // Nothing from the wire is trusted: check before counting, indexing or delivering.
  if (const char* why = envelope_problem(f.env, info_.size, info_.rank)) return drop(f.env, why);
  peer& from = peers_[f.env.world_source];
  if (f.env.context != engine_context) {
    const auto comm = comms_.find(base_of(f.env.context));
    if (comm != comms_.end())
      if (const char* why = source_problem(f.env, *comm->second)) return drop(f.env, why);
    ++from.arrived;
    from.values_arrived += f.env.type != 0;
    matcher_.deliver(std::move(f));
  } else if (f.env.tag == fin_tag) {
    link_->post(static_cast<int>(f.env.world_source),
                envelope{engine_context, 0, fin_ack_tag, 0, 0, static_cast<std::uint32_t>(info_.rank)},
                owned_bytes{});
  } else if (f.env.tag == fin_ack_tag) {
    from.fin_acked = true;
  }
}

bool engine::silent(int world_rank) const {
  const peer& p = peers_[static_cast<std::size_t>(world_rank)];
  return p.lost.has_value() || (p.finished && p.arrived >= p.finished->sent_to_you);
}

bool engine::unreachable(int world_rank) const {
  const peer& p = peers_[static_cast<std::size_t>(world_rank)];
  return p.lost.has_value() || p.finished.has_value();
}

std::string engine::gone_reason(int world_rank) const {
  const peer& p = peers_[static_cast<std::size_t>(world_rank)];
  if (p.lost) return *p.lost;
  if (p.finished)
    return "it has finished (its parrun::environment was destroyed), so nothing more can come "
           "from it or reach it";
  return "it is still running";
}

void engine::peer_finished(const wire::peer_finished& done) {
  if (done.rank < 0 || done.rank >= info_.size || done.rank == info_.rank) return;
  peers_[static_cast<std::size_t>(done.rank)].finished = done;
  any_gone_ = true;
}

void engine::on_control(std::string&& bytes) {
  // The launcher is trusted, but a message that does not decode must not end the rank.
  try {
    switch (wire::kind_of(bytes)) {
      case wire::kind::query:
        answer_query();
        break;
      case wire::kind::peer_lost: {
        auto lost = wire::decode<wire::peer_lost>(bytes);
        if (lost.rank < 0 || lost.rank >= info_.size) break;
        peers_[static_cast<std::size_t>(lost.rank)].lost = lost.why;
        any_gone_ = true;
        break;
      }
      case wire::kind::peers_finished:
        for (const wire::peer_finished& done : wire::decode<wire::peers_finished>(bytes).peers)
          peer_finished(done);
        break;
      case wire::kind::ack:
        acked_ = true;
        break;
      case wire::kind::finalized:
        finalized_ = true;
        break;
      default:
        break;  // nothing else is addressed to a running rank
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parrun: rank %d: warning: ignored a control message that does not decode: %s\n",
                 info_.rank, e.what());
  }
}

void engine::answer_query() {
  wire::state st;
  if (current_ != nullptr) {
    st.operation = current_->describe();
    const std::string stuck = link_->stuck();
    if (!stuck.empty()) st.operation += " [" + stuck + "]";
    st.seconds = std::chrono::duration<double>(clock::now() - current_since_).count();
  }
  send_control(wire::encode(wire::kind::state, st));
}

bool engine::report_failure(wire::failure_kind what, int code, const std::string& reason) noexcept {
  if (!info_.launched || closed_) return false;
  try {
    send_control(wire::encode(wire::kind::failing, wire::failing{what, code, reason}));
    const clock::time_point deadline = clock::now() + std::chrono::seconds(2);
    return wait_until([this] { return acked_; }, activity{"reporting its failure to the launcher"},
                      &deadline);
  } catch (...) {
    return false;  // the launcher still sees the exit status; only the reason is lost
  }
}

void engine::check_open(const char* op) const {
  if (closed_)
    throw usage_error(std::string(op) + " on rank " + std::to_string(info_.rank) +
                      ": the parrun::environment has been destroyed; communicators cannot be used "
                      "after it");
}

void engine::finalize() {
  // 0. Non-blocking collectives nobody waited for still finish: the other ranks need this
  //    rank's part of them.
  wait_until([this] { return fibers_.empty(); },
             activity{"finalize (finishing non-blocking collectives that were never waited for)"});
  if (info_.launched) {
    // 1. Every data frame sent has reached its destination's process (or it is gone).
    std::vector<int> flushing;
    for (int r = 0; r < info_.size; ++r)
      if (r != info_.rank && peers_[static_cast<std::size_t>(r)].sent > 0 && !unreachable(r)) {
        link_->post(r, envelope{engine_context, 0, fin_tag, 0, 0, static_cast<std::uint32_t>(info_.rank)},
                    owned_bytes{});
        flushing.push_back(r);
      }
    if (!flushing.empty()) {
      wire::leaving news_wanted;
      news_wanted.waiting_for.assign(flushing.begin(), flushing.end());
      send_control(wire::encode(wire::kind::leaving, news_wanted));
    }
    wait_until(
        [&] {
          return std::all_of(flushing.begin(), flushing.end(), [&](int r) {
            return peers_[static_cast<std::size_t>(r)].fin_acked || unreachable(r);
          });
        },
        activity{"finalize (waiting for its peers to take the messages it sent them)"});
    // 2. The launcher records the counts (and tells the others), then lets this rank go.
    wire::finalize counts;
    for (const peer& p : peers_) {
      counts.sent.push_back(p.sent);
      counts.arrived.push_back(p.arrived);
      counts.values_arrived.push_back(p.values_arrived);
    }
    send_control(wire::encode(wire::kind::finalize, counts));
    wait_until([this] { return finalized_; }, activity{"finalize (waiting for the launcher)"});
    warn_about_lost_messages();
  }
  // Typed values only: protocol frames (channel acks, a closed channel's leftovers) carry no
  // type and are nobody's lost message.
  std::size_t unreceived = 0;
  const envelope* first = nullptr;
  for (const frame& f : matcher_.unexpected())
    if (f.env.type != 0 && ++unreceived == 1) first = &f.env;
  if (first != nullptr)
    std::fprintf(stderr,
                 "parrun: rank %d: warning: %zu message(s) arrived but were never received; the "
                 "first came %s, a value of type %s\n",
                 info_.rank, unreceived, addressed(*first).c_str(), type_name_of(first->type).c_str());
  closed_ = true;
  link_->close();
  if (control_) control_->close();
}

void engine::warn_about_lost_messages() const {
  for (int r = 0; r < info_.size; ++r) {
    const peer& p = peers_[static_cast<std::size_t>(r)];
    if (p.finished && p.values_sent > p.finished->values_arrived_from_you)
      std::fprintf(stderr,
                   "parrun: rank %d: warning: %llu message(s) sent to rank %d were never "
                   "received: it finished first\n",
                   info_.rank,
                   static_cast<unsigned long long>(p.values_sent - p.finished->values_arrived_from_you), r);
  }
}

}  // namespace parrun::detail
