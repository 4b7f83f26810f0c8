#include "channels/channel_impl.hpp"

#include <parrun/errors.hpp>

namespace parrun::detail {
namespace {

// The envelope flags of a channel frame: kind in bits 0-3, "also sends" in bit 4, the grant
// number above.
constexpr std::uint32_t kind_bits = 0xf;
constexpr std::uint32_t also_sends_bit = 0x10;
constexpr unsigned grant_shift = 5;
constexpr std::uint32_t grant_limit = (1u << (32 - grant_shift)) - 1;

}  // namespace

channel_impl::channel_impl(std::shared_ptr<comm_impl> comm, int peer, int id, int capacity,
                           const type_id& type)
    : comm_(std::move(comm)),
      peer_(peer),
      id_(id),
      capacity_(capacity),
      type_(type),
      self_(peer == comm_->rank()) {
  const std::string op = "channel(peer=" + (peer == any_source ? std::string("any") : std::to_string(peer)) +
                         ", id=" + std::to_string(id) + ")";
  comm_->check_source(peer, op.c_str());
  if (id < 0 || id > max_tag)
    throw usage_error(op + " on rank " + std::to_string(comm_->rank()) + ": the id must be 0.." +
                      std::to_string(max_tag));
  if (capacity < 0)
    throw usage_error(op + " on rank " + std::to_string(comm_->rank()) + ": capacity " +
                      std::to_string(capacity) + " is negative");
  if (!comm_->open_channel(peer, id))
    throw usage_error(op + " on rank " + std::to_string(comm_->rank()) +
                      ": a channel with this peer and id is already open on this rank");
  closed_by_.assign(static_cast<std::size_t>(comm_->size()), 0);
  granted_.assign(static_cast<std::size_t>(comm_->size()), 0);
  granted_also_sends_.assign(static_cast<std::size_t>(comm_->size()), 0);
}

channel_impl::~channel_impl() {
  end_receive();
  try {
    close();  // a producer that forgets to close must not leave its consumer waiting
  } catch (...) {
    // The peer is gone; nothing to tell it.
  }
  comm_->close_channel(peer_, id_);
}

std::string channel_impl::describe(const char* op) const {
  return std::string(op) + "(peer=" + (peer_ == any_source ? std::string("any") : std::to_string(peer_)) +
         ", id=" + std::to_string(id_) + ")";
}

std::string channel_impl::where(const char* op) const {
  return describe(op) + " on rank " + std::to_string(comm_->rank());
}

void channel_impl::post(int dest, kind k, owned_bytes&& body, std::uint32_t grant, bool also_sends) {
  const std::uint32_t flags =
      static_cast<std::uint32_t>(k) | (also_sends ? also_sends_bit : 0u) | (grant << grant_shift);
  envelope env{comm_->context(space::channel), k == kind::data ? type_.hash : 0, id_, comm_->rank(), flags, 0};
  eng().post(comm_->world_of(dest), env, std::move(body));
}

std::uint32_t channel_impl::next_grant() noexcept {
  grant_counter_ = grant_counter_ % grant_limit + 1;  // never 0, which means "no grant"
  return grant_counter_;
}

void channel_impl::pump() {
  matcher& m = eng().matching();
  const match_key key{comm_->context(space::channel), peer_, id_};
  while (std::optional<frame> f = m.take(key)) {
    const int source = f->env.source;  // checked against the communicator on arrival
    const auto r = static_cast<std::size_t>(source);
    const std::uint32_t grant = f->env.flags >> grant_shift;
    switch (static_cast<kind>(f->env.flags & kind_bits)) {
      case kind::data:
        if (grant != 0 && granted_[r] == grant) granted_[r] = 0;  // my grant was used
        queue_.push_back({source, std::move(f->body), f->env.type});
        break;
      case kind::ack:
        if (outstanding_ > 0) --outstanding_;
        break;
      case kind::grant:
        peer_grant_ = grant;
        peer_grant_also_sends_ = (f->env.flags & also_sends_bit) != 0;
        break;
      case kind::revoke:
        if (peer_grant_ == grant) peer_grant_ = 0;
        break;
      case kind::close:
        closed_by_[r] = 1;
        break;
      default:
        break;  // a kind this version does not know: nothing to do with it
    }
  }
}

void channel_impl::poll() {
  eng().poll();
  pump();
}

// --- sending ---------------------------------------------------------------------------------

bool channel_impl::peer_gone_for_sending() const { return comm_->dest_unreachable(peer_); }

void channel_impl::check_can_send(const char* op) {
  if (peer_ == any_source)
    throw usage_error(where(op) + ": a fan-in channel (peer any_source) only receives");
  if (send_closed_) throw channel_closed(where(op) + ": this end of the channel was closed");
  if (peer_gone_for_sending()) comm_->throw_gone(peer_, describe(op));
}

// Capacity 0: whether the peer's grant lets a non-blocking send go now. When both ends wait
// in a select that may send or receive here, only the lower rank sends (the higher receives).
bool channel_impl::grant_lets_me_send() const {
  if (self_ || peer_grant_ == 0 || outstanding_ != 0) return false;
  const bool both_may_send = granted_[static_cast<std::size_t>(peer_)] != 0 && peer_grant_also_sends_;
  return !both_may_send || comm_->rank() < peer_;
}

bool channel_impl::can_send() {
  pump();
  if (peer_ == any_source || send_closed_ || peer_gone_for_sending()) return true;  // fails at once
  return capacity_ == 0 ? grant_lets_me_send() : outstanding_ < static_cast<std::uint64_t>(capacity_);
}

void channel_impl::send(owned_bytes&& value) {
  pump();
  check_can_send("send");
  if (capacity_ == 0 && self_)
    throw usage_error(where("send") + ": an unbuffered channel (capacity 0) to this rank itself "
                      "can never complete a send: only this rank could receive it, and it is "
                      "busy sending. Give the channel a capacity");
  const std::uint64_t room = send_room();
  const activity waiting{"channel send", "peer", peer_, "id", id_};
  const int world = comm_->world_of(peer_);
  // (The waits' lambdas capture little enough for std::function to hold them without
  // allocating; a send with room, the common case, does not wait at all.)
  if (outstanding_ >= room) {
    eng().wait_until(
        [this, world] {
          pump();
          return outstanding_ < send_room() || eng().silent(world);
        },
        waiting);
    if (outstanding_ >= room) comm_->throw_gone(peer_, describe("send"));
  }
  if (capacity_ > 0) {
    post(peer_, kind::data, std::move(value));
    ++outstanding_;
    return;
  }
  // Unbuffered: under the peer's grant if it has one, and complete only when it has the value.
  post(peer_, kind::data, std::move(value), peer_grant_);
  peer_grant_ = 0;
  ++outstanding_;
  eng().wait_until(
      [this, world] {
        pump();
        return outstanding_ == 0 || eng().silent(world);
      },
      waiting);
  if (outstanding_ != 0) comm_->throw_gone(peer_, describe("send"));
}

bool channel_impl::try_send(owned_bytes&& value) {
  pump();  // the caller polled the transport already (channel::try_send, or select's wait)
  check_can_send("try_send");
  if (!can_send()) return false;
  if (capacity_ == 0) {
    post(peer_, kind::data, std::move(value), peer_grant_);  // the peer committed to take it
    peer_grant_ = 0;
  } else {
    post(peer_, kind::data, std::move(value));
  }
  ++outstanding_;
  return true;
}

void channel_impl::close() {
  if (send_closed_ || peer_ == any_source) return;
  send_closed_ = true;
  if (!peer_gone_for_sending()) post(peer_, kind::close, owned_bytes{});
}

// --- receiving -------------------------------------------------------------------------------

bool channel_impl::producer_done(int rank) const {
  return closed_by_[static_cast<std::size_t>(rank)] != 0 || eng().silent(comm_->world_of(rank));
}

bool channel_impl::all_done() const {
  if (peer_ != any_source) return producer_done(peer_);
  for (int r = 0; r < comm_->size(); ++r)
    if (r != comm_->rank() && !producer_done(r)) return false;
  return comm_->size() > 1;
}

bool channel_impl::has_value() {
  pump();
  return !queue_.empty();
}

bool channel_impl::drained_and_closed() {
  pump();
  return queue_.empty() && all_done();
}

void channel_impl::check_peer_alive() {
  if (peer_ != any_source && closed_by_[static_cast<std::size_t>(peer_)] == 0 &&
      eng().died(comm_->world_of(peer_)))
    comm_->throw_gone(peer_, describe("recv"));
}

void channel_impl::begin_receive(bool also_sends) {
  if (capacity_ != 0 || !queue_.empty()) return;
  for (int r = 0; r < comm_->size(); ++r) {
    const bool mine = peer_ == any_source ? r != comm_->rank() : r == peer_ && !self_;
    if (!mine || producer_done(r) || comm_->dest_unreachable(r)) continue;
    const auto i = static_cast<std::size_t>(r);
    if (granted_[i] != 0 && (granted_also_sends_[i] != 0) == also_sends) continue;  // standing
    if (granted_[i] != 0) post(r, kind::revoke, owned_bytes{}, granted_[i]);
    granted_[i] = next_grant();
    granted_also_sends_[i] = also_sends;
    post(r, kind::grant, owned_bytes{}, granted_[i], also_sends);
  }
}

void channel_impl::end_receive() noexcept {
  for (std::size_t i = 0; i < granted_.size(); ++i) {
    if (granted_[i] == 0) continue;
    const std::uint32_t grant = granted_[i];
    granted_[i] = 0;
    try {
      if (!comm_->dest_unreachable(static_cast<int>(i))) post(static_cast<int>(i), kind::revoke, owned_bytes{}, grant);
    } catch (...) {
      // The peer is gone (or the environment closed): nobody holds the grant any more.
    }
  }
}

received channel_impl::accept_front() {
  arrived a = std::move(queue_.front());
  queue_.pop_front();
  post(a.source, kind::ack, owned_bytes{});
  if (a.type != type_.hash)
    throw type_mismatch(where("recv") + ": " + comm_->name_rank(a.source) + " sent a value of type " +
                        type_name_of(a.type) + ", but this end receives " + type_name(type_));
  return received{status(a.source, id_, a.body.size(), a.type), std::move(a.body)};
}

std::optional<received> channel_impl::try_take() {
  poll();
  if (queue_.empty()) return std::nullopt;
  return accept_front();
}

std::optional<received> channel_impl::take(const clock::time_point* deadline) {
  pump();
  if (queue_.empty()) {
    begin_receive(false);
    struct stop_receiving {
      channel_impl& ch;
      ~stop_receiving() { ch.end_receive(); }
    } stop{*this};
    eng().wait_until(
        [this] {
          pump();
          return !queue_.empty() || all_done();
        },
        activity{"channel recv", "peer", peer_, "id", id_}, deadline);
  }
  if (!queue_.empty()) return accept_front();
  if (!all_done()) return std::nullopt;  // the deadline passed
  check_peer_alive();
  throw channel_closed(where("recv") + ": the channel is closed and every value sent was received");
}

bool wait_on_channels(channel_core& on, const std::function<bool()>& ready,
                      const std::chrono::steady_clock::time_point* deadline) {
  return static_cast<channel_impl&>(on).eng().wait_until(ready, activity{"select"}, deadline);
}

}  // namespace parrun::detail
