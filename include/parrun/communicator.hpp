#pragma once
// A communicator is a group of ranks with its own message space: a message sent on one never
// matches a receive on another. Point-to-point calls encode the value (detail/codec.hpp), tag it
// with its type's fingerprint and hand the bytes to the runtime; receives match by source and
// tag in MPI's non-overtaking order, check the fingerprint, then decode.
//
// Collectives (every rank of the communicator calls them, in the same order) run logarithmic or
// bandwidth-optimal algorithms on point-to-point messages in the communicator's own collective
// context, so they never mix with user messages; see runtime/collectives/.
//
// One thread per rank calls into parrun (as MPI_THREAD_FUNNELED): communicators are not
// thread-safe.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <cstring>
#include <type_traits>
#include <utility>

#include <parrun/detail/bytes.hpp>
#include <parrun/detail/codec.hpp>
#include <parrun/detail/collectives.hpp>
#include <parrun/detail/reducer.hpp>
#include <parrun/detail/type_id.hpp>
#include <parrun/errors.hpp>
#include <parrun/ops.hpp>
#include <parrun/request.hpp>
#include <parrun/status.hpp>

namespace parrun {

template <class T>
class channel;

namespace detail {
class comm_impl;
class channel_core;

/// A matched message whose bytes await decoding.
struct received {
  status st;
  payload body;
};

/// The type a value is sent as: C strings and string views travel as strings (a view's own
/// bytes are a pointer into the sender's memory), everything else as itself.
template <class T>
struct message_type {
  using type = std::remove_cvref_t<T>;
};
template <class C, class Tr>
struct message_type<std::basic_string_view<C, Tr>> {
  using type = std::basic_string<C, Tr>;
};
template <class C, class Tr>
struct message_type<const std::basic_string_view<C, Tr>> : message_type<std::basic_string_view<C, Tr>> {};
template <class C, class Tr>
struct message_type<std::basic_string_view<C, Tr>&> : message_type<std::basic_string_view<C, Tr>> {};
template <class C, class Tr>
struct message_type<const std::basic_string_view<C, Tr>&> : message_type<std::basic_string_view<C, Tr>> {};
template <class T>
inline constexpr bool is_string_view_v = false;
template <class C, class Tr>
inline constexpr bool is_string_view_v<std::basic_string_view<C, Tr>> = true;
template <class T>
  requires(std::is_same_v<std::remove_cvref_t<T>, const char*> ||
           std::is_same_v<std::remove_cvref_t<T>, char*> ||
           (std::is_array_v<std::remove_cvref_t<T>> &&
            std::is_same_v<std::remove_cv_t<std::remove_extent_t<std::remove_cvref_t<T>>>, char>))
struct message_type<T> {
  using type = std::string;
};
template <class T>
using message_type_t = typename message_type<T>::type;

/// Encodes a value as its message type, adopting an rvalue vector's storage where it can.
template <class T>
owned_bytes encode_message(T&& value) {
  using M = message_type_t<T>;
  using U = std::remove_cvref_t<T>;
  if constexpr (is_string_view_v<U>) {
    owned_bytes out;
    out.append(value.data(), value.size() * sizeof(typename U::value_type));
    return out;
  } else if constexpr (std::is_array_v<U> && std::is_same_v<M, std::string>) {
    // A char array: up to its first NUL, and never past its end.
    owned_bytes out;
    out.append(value, strnlen(value, std::extent_v<U>));
    return out;
  } else if constexpr (std::is_same_v<M, std::string> && !std::is_same_v<U, std::string>) {
    const char* s = value;
    owned_bytes out;
    out.append(s, std::char_traits<char>::length(s));
    return out;
  } else {
    return encode_moved(std::forward<T>(value));
  }
}
}  // namespace detail

/// The color that leaves a rank out of every communicator split() makes.
inline constexpr int no_color = -1;

/// A group of ranks that exchange messages.
class communicator {
 public:
  /// An invalid communicator (every call throws usage_error); obtain real ones from
  /// environment::world(), split() and dup().
  communicator() = default;

  /// This rank's number in the communicator, 0..size()-1.
  int rank() const;
  /// The number of ranks in the communicator.
  int size() const;
  /// Whether this object refers to a communicator.
  bool valid() const noexcept { return impl_ != nullptr; }

  // --- point to point -------------------------------------------------------------------

  /// Sends `value` to `dest` with `tag` (0..max_tag). Returns once the runtime has taken the
  /// message; blocks (while still receiving) only when the destination is far behind.
  /// Throws usage_error for a bad rank or tag, peer_lost when `dest` has died.
  template <class T>
  void send(int dest, int tag, T&& value) {
    send_bytes(dest, tag, detail::type_of<detail::message_type_t<T>>(),
               detail::encode_message(std::forward<T>(value)));
  }

  /// Starts a send and returns at once. The value is encoded before isend returns.
  template <class T>
  [[nodiscard]] request isend(int dest, int tag, T&& value) {
    return isend_bytes(dest, tag, detail::type_of<detail::message_type_t<T>>(),
                       detail::encode_message(std::forward<T>(value)));
  }

  /// Receives a T from `source` (or any_source) with `tag` (or any_tag).
  /// Throws type_mismatch when the matched message is not a T, peer_lost when the source died.
  template <class T>
  T recv(int source = any_source, int tag = any_tag) {
    T value{};
    recv(source, tag, value);
    return value;
  }

  /// Receives into `value`; returns the message's status.
  template <class T>
  status recv(int source, int tag, T& value) {
    return decode_into(recv_bytes(source, tag, detail::type_of<T>(), nullptr), value, "recv");
  }

  /// Receives a T, waiting at most `timeout`; throws timeout_error when none matched in time.
  template <class T, class Rep, class Period>
  T recv(int source, int tag, std::chrono::duration<Rep, Period> timeout) {
    T value{};
    recv(source, tag, value, timeout);
    return value;
  }

  /// Receives into `value`, waiting at most `timeout`; throws timeout_error when none matched.
  template <class T, class Rep, class Period>
  status recv(int source, int tag, T& value, std::chrono::duration<Rep, Period> timeout) {
    auto limit = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout);
    return decode_into(recv_bytes(source, tag, detail::type_of<T>(), &limit), value, "recv");
  }

  /// Starts a receive into `value`, which must outlive the request; it is filled on wait/test.
  template <class T>
  [[nodiscard]] request irecv(int source, int tag, T& value) {
    return irecv_bytes(source, tag, detail::type_of<T>(), [self = *this, &value](detail::received&& r) {
      return self.decode_into(std::move(r), value, "irecv");
    });
  }

  /// Blocks until a message matching (source, tag) has arrived; does not receive it.
  status probe(int source = any_source, int tag = any_tag);
  /// Whether a message matching (source, tag) has arrived; does not receive it.
  std::optional<status> iprobe(int source = any_source, int tag = any_tag);

  /// Sends `value` to `dest` and receives an R from `source`, without deadlocking when both
  /// sides call it at once.
  template <class R, class S>
  R sendrecv(int dest, int send_tag, S&& value, int source, int recv_tag) {
    R out{};
    sendrecv(dest, send_tag, std::forward<S>(value), source, recv_tag, out);
    return out;
  }
  /// As above, receiving into `out`; returns the received message's status.
  template <class S, class R>
  status sendrecv(int dest, int send_tag, S&& value, int source, int recv_tag, R& out) {
    request sent = isend(dest, send_tag, std::forward<S>(value));
    status st = recv(source, recv_tag, out);
    sent.wait();
    return st;
  }

  // --- collectives: every rank of the communicator calls them, in the same order ------------

  /// Returns once every rank has entered the barrier.
  void barrier();

  /// Root's `value` to every rank (in/out). Throws usage_error for a bad root.
  template <class T>
  void broadcast(T& value, int root) {
    detail::payload p = detail::coll::broadcast(impl(), root, rank() == root ? detail::encode(value) : detail::owned_bytes{},
                                                detail::type_of<T>());
    if (rank() != root) decode_collective(p, value, "broadcast");
  }

  /// Element r of root's `parts` to rank r. `parts` must have size() elements at root and is
  /// ignored elsewhere (usage_error otherwise, on the root).
  template <class T>
  T scatter(const std::vector<T>& parts, int root) {
    std::vector<detail::owned_bytes> encoded;
    if (rank_at_root(root, "scatter")) {
      check_parts(parts.size(), "scatter", "parts");
      for (const T& part : parts) encoded.push_back(detail::encode(part));
    }
    T out{};
    decode_collective(detail::coll::scatter(impl(), root, std::move(encoded), detail::type_of<T>()), out,
                      "scatter");
    return out;
  }

  /// Consecutive blocks of root's `data` to the ranks: counts[r] elements to rank r. `counts`
  /// (size() of them, summing to data.size()) is significant at root only.
  template <class T>
  std::vector<T> scatterv(const std::vector<T>& data, const std::vector<int>& counts, int root) {
    std::vector<std::vector<T>> blocks;
    if (rank_at_root(root, "scatterv")) {
      check_counts(counts, data.size(), "scatterv");
      auto from = data.begin();
      for (int n : counts) {
        blocks.emplace_back(from, from + n);
        from += n;
      }
    }
    return scatter(blocks, root);
  }

  /// Every rank's value, in rank order, at root; an empty vector elsewhere.
  template <class T>
  std::vector<T> gather(const T& value, int root) {
    return decode_all<T>(detail::coll::gather(impl(), root, detail::encode(value), detail::type_of<T>()),
                         "gather");
  }

  /// Every rank's block concatenated in rank order, at root (blocks may differ in length);
  /// an empty vector elsewhere.
  template <class T>
  std::vector<T> gatherv(const std::vector<T>& block, int root) {
    return concatenate(gather(block, root));
  }

  /// Every rank's value, in rank order, on every rank.
  template <class T>
  std::vector<T> allgather(const T& value) {
    return decode_all<T>(detail::coll::allgather(impl(), detail::encode(value), detail::type_of<T>()),
                         "allgather");
  }

  /// Every rank's block concatenated in rank order, on every rank.
  template <class T>
  std::vector<T> allgatherv(const std::vector<T>& block) {
    return concatenate(allgather(block));
  }

  /// v0 op v1 op ... op v(p-1), combined in rank order (so op need not be commutative, only
  /// associative), at root; T{} elsewhere. op is any callable T(T, T); when only op(e, e) is
  /// valid for T's elements, vectors and arrays are combined element by element (all ranks
  /// must then give the same length: usage_error otherwise).
  template <class T, class Op>
    requires detail::reduction_op<Op, T>
  T reduce(const T& value, Op op, int root) {
    detail::typed_reducer<T, Op> r(op);
    detail::owned_bytes out = detail::coll::reduce(impl(), root, detail::encode(value), r, detail::type_of<T>());
    T result{};
    if (rank() == root) decode_collective(out, result, "reduce");
    return result;
  }

  /// As reduce, with the result on every rank.
  template <class T, class Op>
    requires detail::reduction_op<Op, T>
  T allreduce(const T& value, Op op) {
    detail::typed_reducer<T, Op> r(op);
    T result{};
    decode_collective(detail::coll::allreduce(impl(), detail::encode(value), r, detail::type_of<T>()), result,
                      "allreduce");
    return result;
  }

  /// Inclusive prefix: v0 op ... op v(rank()), in rank order.
  template <class T, class Op>
    requires detail::reduction_op<Op, T>
  T scan(const T& value, Op op) {
    return prefix(value, op, false);
  }

  /// Exclusive prefix: v0 op ... op v(rank()-1); rank 0 gets T{}.
  template <class T, class Op>
    requires detail::reduction_op<Op, T>
  T exscan(const T& value, Op op) {
    return prefix(value, op, true);
  }

  /// parts[q] goes to rank q; returns what every rank sent this one, in rank order. `parts`
  /// must have size() elements (usage_error otherwise).
  template <class T>
  std::vector<T> alltoall(const std::vector<T>& parts) {
    check_parts(parts.size(), "alltoall", "parts");
    std::vector<detail::owned_bytes> encoded;
    for (const T& part : parts) encoded.push_back(detail::encode(part));
    return decode_all<T>(detail::coll::alltoall(impl(), std::move(encoded), detail::type_of<T>()),
                         "alltoall");
  }

  /// Ranks that give the same color form a new communicator, ordered by (key, rank in this
  /// one). color must be >= 0, or parrun::no_color to get an invalid communicator back.
  communicator split(int color, int key = 0);
  /// The same ranks in a new communicator, whose messages never match this one's.
  communicator dup();

  // --- channels (channel.hpp) -------------------------------------------------------------

  /// Opens this rank's end of a typed channel with `peer` (or any_source: a fan-in channel
  /// that receives from every other rank), identified by `id` (0..max_tag); `capacity` as in
  /// Go (0: unbuffered). Both ranks open it with the same id, type and capacity.
  template <class T>
  parrun::channel<T> channel(int peer, int id, int capacity);

 private:
  friend class environment;

  template <class T>
  void decode_collective(const detail::payload& p, T& value, const char* op) const {
    decode_collective(p.data(), p.size(), value, op);
  }
  template <class T>
  void decode_collective(const detail::owned_bytes& b, T& value, const char* op) const {
    decode_collective(b.data(), b.size(), value, op);
  }
  template <class T>
  void decode_collective(const std::byte* data, std::size_t size, T& value, const char* op) const {
    try {
      detail::decode(data, size, value);
    } catch (const truncation_error& e) {
      throw_decode_failure(op, status(-1, -1, size, detail::type_of<T>().hash), e);
    }
  }
  template <class T>
  std::vector<T> decode_all(const std::vector<detail::payload>& parts, const char* op) const {
    std::vector<T> out(parts.size());
    for (std::size_t i = 0; i < parts.size(); ++i) decode_collective(parts[i], out[i], op);
    return out;
  }
  template <class T>
  static std::vector<T> concatenate(std::vector<std::vector<T>>&& blocks) {
    std::size_t total = 0;
    for (const auto& b : blocks) total += b.size();
    std::vector<T> out;
    out.reserve(total);
    for (auto& b : blocks) out.insert(out.end(), std::make_move_iterator(b.begin()), std::make_move_iterator(b.end()));
    return out;
  }
  template <class T, class Op>
  T prefix(const T& value, Op op, bool exclusive) {
    detail::typed_reducer<T, Op> r(op);
    bool has_value = false;
    detail::owned_bytes out =
        detail::coll::scan(impl(), detail::encode(value), r, detail::type_of<T>(), exclusive, has_value);
    T result{};
    if (has_value) decode_collective(out, result, exclusive ? "exscan" : "scan");
    return result;
  }

  std::shared_ptr<detail::channel_core> open_channel(int peer, int id, int capacity,
                                                    const detail::type_id& type);

  // Validation shared by the collectives (runtime/communicator.cpp).
  bool rank_at_root(int root, const char* op) const;
  void check_parts(std::size_t n, const char* op, const char* what) const;
  void check_counts(const std::vector<int>& counts, std::size_t total, const char* op) const;
  explicit communicator(std::shared_ptr<detail::comm_impl> impl) noexcept : impl_(std::move(impl)) {}

  template <class T>
  status decode_into(detail::received&& r, T& value, const char* op) const {
    try {
      detail::decode(r.body.data(), r.body.size(), value);
    } catch (const truncation_error& e) {
      throw_decode_failure(op, r.st, e);
    }
    return r.st;
  }

  // The non-template halves, in runtime/communicator.cpp.
  void send_bytes(int dest, int tag, const detail::type_id& type, detail::owned_bytes&& bytes);
  request isend_bytes(int dest, int tag, const detail::type_id& type, detail::owned_bytes&& bytes);
  detail::received recv_bytes(int source, int tag, const detail::type_id& type,
                              const std::chrono::nanoseconds* timeout);
  request irecv_bytes(int source, int tag, const detail::type_id& type,
                      std::function<status(detail::received&&)> complete);
  [[noreturn]] void throw_decode_failure(const char* op, const status& st,
                                         const truncation_error& e) const;
  detail::comm_impl& impl() const;

  std::shared_ptr<detail::comm_impl> impl_;
};

}  // namespace parrun
