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
#include <span>
#include <type_traits>
#include <utility>

#include <parrun/buffers.hpp>
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
class cartesian_communicator;

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

namespace detail {
/// A send that was posted and may still be on its way out (sendrecv waits for it).
struct posted_send {
  int dest = no_rank;
  int tag = 0;
  std::uint64_t ticket = 0;
};
}  // namespace detail

/// A group of ranks that exchange messages. Every operation is const: it uses the group, it
/// does not change what it is, so a `const communicator&` does everything (as in Boost.MPI).
class communicator {
 public:
  /// An invalid communicator (every call throws usage_error); obtain real ones from
  /// environment::world(), split(), dup() and cartesian().
  communicator() = default;

  /// This rank's number in the communicator, 0..size()-1.
  int rank() const;
  /// The number of ranks in the communicator.
  int size() const;
  /// Whether this object refers to a communicator.
  bool valid() const noexcept { return impl_ != nullptr; }

  // --- point to point -------------------------------------------------------------------
  //
  // Values (any type: raw, std::vector, Cereal-serializable) and buffers of trivially copyable
  // elements (std::span, pointer + count, parrun::strided) go through the same calls. A buffer of
  // E travels as a std::vector<E>, so either side may use either form. `dest` or `source` may be
  // parrun::no_rank: the call then does nothing.

  /// Sends `value` (or the elements of a span or strided_span) to `dest` with `tag`
  /// (0..max_tag). Returns once the runtime has taken the message; blocks (while still
  /// receiving) only when the destination is far behind.
  /// Throws usage_error for a bad rank or tag, peer_lost when `dest` has died.
  template <class T>
  void send(int dest, int tag, T&& value) const {
    finish_send(start_send(dest, tag, std::forward<T>(value)));
  }
  /// Sends `count` elements from `data` (trivially copyable).
  template <class E>
  void send(int dest, int tag, const E* data, std::size_t count) const {
    static_assert(detail::is_raw_value_v<E>, "send(dest, tag, pointer, count) needs trivially copyable elements");
    finish_send(post_buffer(dest, tag, detail::raw_of(data, count), "send"));
  }

  /// Starts a send and returns at once. The value (or the buffer's elements) is copied before
  /// isend returns, so it may be reused at once.
  template <class T>
  [[nodiscard]] request isend(int dest, int tag, T&& value) const {
    using U = std::remove_cvref_t<T>;
    if constexpr (detail::is_strided_v<U>) {
      return isend_buffer(dest, tag, buffer_of(value));
    } else if constexpr (detail::is_span_v<U>) {
      using E = std::remove_const_t<typename U::element_type>;
      if constexpr (detail::is_raw_value_v<E> && !std::is_same_v<E, bool>)
        return isend_buffer(dest, tag, detail::raw_of(value));
      else  // as send: a span of other elements goes as a std::vector of them
        return isend(dest, tag, std::vector<E>(value.begin(), value.end()));
    } else {
      return isend_bytes(dest, tag, detail::type_of<detail::message_type_t<T>>(),
                         detail::encode_message(std::forward<T>(value)));
    }
  }
  /// Starts a send of `count` elements from `data`.
  template <class E>
  [[nodiscard]] request isend(int dest, int tag, const E* data, std::size_t count) const {
    static_assert(detail::is_raw_value_v<E>, "isend(dest, tag, pointer, count) needs trivially copyable elements");
    return isend_buffer(dest, tag, detail::raw_of(data, count));
  }

  /// Receives a T from `source` (or any_source) with `tag` (or any_tag).
  /// Throws type_mismatch when the matched message is not a T, peer_lost when the source died.
  template <class T>
  T recv(int source = any_source, int tag = any_tag) const {
    T value{};
    recv(source, tag, value);
    return value;
  }

  /// Receives into `value` (resizing a std::vector to the message); returns the message's status.
  template <class T>
    requires(!detail::is_span_v<T> && !detail::is_strided_v<T>)
  status recv(int source, int tag, T& value) const {
    if (source == no_rank) return null_status();
    return decode_into(recv_bytes(source, tag, detail::type_of<T>(), nullptr), value, "recv");
  }

  /// Receives into the caller's memory, with no allocation: a message of E or of a buffer of E
  /// with at most into.size() elements fills the first status.count<E>() of them. A longer
  /// message throws truncation_error naming both sizes (it stays queued for a larger receive).
  template <class E, std::size_t N>
  status recv(int source, int tag, std::span<E, N> into) const {
    return recv_buffer(source, tag, buffer_of(into), nullptr);
  }
  /// Receives into the places a strided_span picks out (as the span form).
  template <class E>
  status recv(int source, int tag, strided_span<E> into) const {
    return recv_buffer(source, tag, buffer_of(into), nullptr);
  }
  /// Receives at most `count` elements into `data`.
  template <class E>
  status recv(int source, int tag, E* data, std::size_t count) const {
    return recv(source, tag, std::span<E>(data, count));
  }

  /// Receives a T, waiting at most `timeout`; throws timeout_error when none matched in time.
  template <class T, class Rep, class Period>
  T recv(int source, int tag, std::chrono::duration<Rep, Period> timeout) const {
    T value{};
    recv(source, tag, value, timeout);
    return value;
  }

  /// Receives into `value` (or a span, or a strided_span), waiting at most `timeout`; throws
  /// timeout_error when none matched.
  template <class T, class Rep, class Period>
  status recv(int source, int tag, T&& value, std::chrono::duration<Rep, Period> timeout) const {
    auto limit = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout);
    using U = std::remove_cvref_t<T>;
    if constexpr (detail::is_strided_v<U> || detail::is_span_v<U>) {
      return recv_buffer(source, tag, buffer_of(value), &limit);
    } else {
      static_assert(std::is_lvalue_reference_v<T>, "recv with a timeout fills a variable: pass an lvalue");
      if (source == no_rank) return null_status();
      return decode_into(recv_bytes(source, tag, detail::type_of<U>(), &limit), value, "recv");
    }
  }

  /// Starts a receive into `value`, which must outlive the request; it is filled on wait/test.
  template <class T>
    requires(!detail::is_span_v<T> && !detail::is_strided_v<T>)
  [[nodiscard]] request irecv(int source, int tag, T& value) const {
    if (source == no_rank) return request{};
    return irecv_bytes(source, tag, detail::type_of<T>(), [self = *this, &value](detail::received&& r) {
      return self.decode_into(std::move(r), value, "irecv");
    });
  }
  /// Starts a receive into the caller's memory (as recv into a span); the memory must outlive
  /// the request. The request's status says how many elements arrived.
  template <class E, std::size_t N>
  [[nodiscard]] request irecv(int source, int tag, std::span<E, N> into) const {
    return irecv_buffer(source, tag, buffer_of(into));
  }
  template <class E>
  [[nodiscard]] request irecv(int source, int tag, strided_span<E> into) const {
    return irecv_buffer(source, tag, buffer_of(into));
  }
  template <class E>
  [[nodiscard]] request irecv(int source, int tag, E* data, std::size_t count) const {
    return irecv(source, tag, std::span<E>(data, count));
  }

  /// Blocks until a message matching (source, tag) has arrived; does not receive it.
  status probe(int source = any_source, int tag = any_tag) const;
  /// Whether a message matching (source, tag) has arrived; does not receive it.
  std::optional<status> iprobe(int source = any_source, int tag = any_tag) const;

  /// Sends `value` to `dest` and receives an R from `source`, without deadlocking when both
  /// sides call it at once.
  template <class R, class S>
  R sendrecv(int dest, int send_tag, S&& value, int source, int recv_tag) const {
    R out{};
    sendrecv(dest, send_tag, std::forward<S>(value), source, recv_tag, out);
    return out;
  }
  /// As above, receiving into `out` (a variable, a span or a strided_span); returns the
  /// received message's status. With buffers on both sides it allocates nothing.
  template <class S, class R>
  status sendrecv(int dest, int send_tag, S&& value, int source, int recv_tag, R&& out) const {
    const detail::posted_send sent = start_send(dest, send_tag, std::forward<S>(value));
    status st = recv(source, recv_tag, out);
    finish_send(sent);
    return st;
  }

  // --- collectives: every rank of the communicator calls them, in the same order ------------
  //
  // Value forms return new values; buffer forms (std::span and other contiguous ranges of
  // trivially copyable elements) work in the caller's memory. Buffer forms are checked: a
  // buffer too small for what arrives is a usage_error naming both sizes.

  /// Returns once every rank has entered the barrier.
  void barrier() const;

  /// Root's `value` to every rank (in/out). Throws usage_error for a bad root.
  template <class T>
    requires(!detail::is_span_v<T>)
  void broadcast(T& value, int root) const {
    detail::payload p = detail::coll::broadcast(impl(), root, rank() == root ? detail::encode(value) : detail::owned_bytes{},
                                                detail::type_of<T>());
    if (rank() != root) decode_collective(p, value, "broadcast");
  }
  /// Root's elements into every rank's `data`, in place; every rank gives the same size.
  template <class E, std::size_t N>
  void broadcast(std::span<E, N> data, int root) const {
    broadcast_buffer(buffer_of(data), root);
  }

  /// Element r of root's `parts` to rank r. `parts` must have size() elements at root and is
  /// ignored elsewhere (usage_error otherwise, on the root).
  template <class T>
  T scatter(const std::vector<T>& parts, int root) const {
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
  /// Buffer form (MPI_Scatter): block r of root's `send` (recv.size() elements each) into rank
  /// r's `recv`. `send` is significant at root only.
  template <detail::contiguous_buffer In, detail::output_buffer Out>
  void scatter(const In& send, Out&& recv, int root) const {
    static_assert(std::is_same_v<detail::buffer_element_t<In>, detail::buffer_element_t<Out>>);
    scatterv_buffer(detail::raw_of(send), {}, {}, detail::raw_of(recv), root, true);
  }

  /// Consecutive blocks of root's `data` to the ranks: counts[r] elements to rank r. `counts`
  /// (size() of them, summing to data.size()) is significant at root only.
  template <class T>
  std::vector<T> scatterv(const std::vector<T>& data, const std::vector<int>& counts, int root) const {
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
  /// Buffer form (MPI_Scatterv): counts[r] elements of root's `send` from displs[r] (in
  /// elements; empty: packed in rank order) into rank r's `recv`, which must hold them.
  /// `send`, `counts` and `displs` are significant at root only.
  template <detail::contiguous_buffer In, detail::output_buffer Out>
  void scatterv(const In& send, std::span<const int> counts, std::span<const int> displs, Out&& recv,
                int root) const {
    static_assert(std::is_same_v<detail::buffer_element_t<In>, detail::buffer_element_t<Out>>);
    scatterv_buffer(detail::raw_of(send), counts, displs, detail::raw_of(recv), root, false);
  }

  /// Every rank's value, in rank order, at root; an empty vector elsewhere.
  template <class T>
  std::vector<T> gather(const T& value, int root) const {
    return decode_all<T>(detail::coll::gather(impl(), root, detail::encode(value), detail::type_of<T>()),
                         "gather");
  }
  /// Buffer form (MPI_Gather): every rank's `send` (all the same size) into consecutive blocks
  /// of root's `recv` (size() * send.size() elements; ignored elsewhere).
  template <detail::contiguous_buffer In, detail::output_buffer Out>
  void gather(const In& send, Out&& recv, int root) const {
    static_assert(std::is_same_v<detail::buffer_element_t<In>, detail::buffer_element_t<Out>>);
    gatherv_buffer(detail::raw_of(send), detail::raw_of(recv), {}, {}, root, true);
  }

  /// Every rank's block concatenated in rank order, at root (blocks may differ in length);
  /// an empty vector elsewhere.
  template <class T>
  std::vector<T> gatherv(const std::vector<T>& block, int root) const {
    return concatenate(gather(block, root));
  }
  /// Buffer form (MPI_Gatherv): rank r's `send` (counts[r] elements) into root's `recv` at
  /// displs[r] (empty: packed in rank order). `recv`, `counts`, `displs` matter at root only.
  template <detail::contiguous_buffer In, detail::output_buffer Out>
  void gatherv(const In& send, Out&& recv, std::span<const int> counts, std::span<const int> displs,
               int root) const {
    static_assert(std::is_same_v<detail::buffer_element_t<In>, detail::buffer_element_t<Out>>);
    gatherv_buffer(detail::raw_of(send), detail::raw_of(recv), counts, displs, root, false);
  }

  /// Every rank's value, in rank order, on every rank.
  template <class T>
  std::vector<T> allgather(const T& value) const {
    return decode_all<T>(detail::coll::allgather(impl(), detail::encode(value), detail::type_of<T>()),
                         "allgather");
  }
  /// Buffer form (MPI_Allgather): every rank's `send` (all the same size) into consecutive
  /// blocks of every rank's `recv` (size() * send.size() elements).
  template <detail::contiguous_buffer In, detail::output_buffer Out>
  void allgather(const In& send, Out&& recv) const {
    static_assert(std::is_same_v<detail::buffer_element_t<In>, detail::buffer_element_t<Out>>);
    allgatherv_buffer(detail::raw_of(send), detail::raw_of(recv), {}, {}, true);
  }

  /// Every rank's block concatenated in rank order, on every rank.
  template <class T>
  std::vector<T> allgatherv(const std::vector<T>& block) const {
    return concatenate(allgather(block));
  }
  /// Buffer form (MPI_Allgatherv): rank r's `send` (counts[r] elements) into every rank's
  /// `recv` at displs[r] (empty: packed in rank order).
  template <detail::contiguous_buffer In, detail::output_buffer Out>
  void allgatherv(const In& send, Out&& recv, std::span<const int> counts, std::span<const int> displs = {}) const {
    static_assert(std::is_same_v<detail::buffer_element_t<In>, detail::buffer_element_t<Out>>);
    allgatherv_buffer(detail::raw_of(send), detail::raw_of(recv), counts, displs, false);
  }

  /// v0 op v1 op ... op v(p-1), combined in rank order (so op need not be commutative, only
  /// associative), at root; T{} elsewhere. op is any callable T(T, T); when only op(e, e) is
  /// valid for T's elements, vectors and arrays are combined element by element (all ranks
  /// must then give the same length: usage_error otherwise).
  template <class T, class Op>
    requires(detail::reduction_op<Op, T> && !detail::is_span_v<T>)
  T reduce(const T& value, Op op, int root) const {
    detail::typed_reducer<T, Op> r(op);
    detail::owned_bytes out = detail::coll::reduce(impl(), root, detail::encode(value), r, detail::type_of<T>());
    T result{};
    if (rank() == root) decode_collective(out, result, "reduce");
    return result;
  }
  /// Buffer form: element-wise op over every rank's `in`, in rank order, into root's `out`
  /// (same size; ignored elsewhere).
  template <detail::contiguous_buffer In, detail::output_buffer Out, class Op>
  void reduce(const In& in, Out&& out, Op op, int root) const {
    using E = detail::buffer_element_t<In>;
    static_assert(std::is_same_v<E, detail::buffer_element_t<Out>>);
    detail::elementwise_reducer<E, Op> r(op);
    reduce_buffer(detail::raw_of(in), detail::raw_of(out), r, root);
  }
  /// In place: root's `data` becomes the element-wise op over every rank's `data`; other
  /// ranks' `data` is left as it was.
  template <class E, std::size_t N, class Op>
  void reduce(std::span<E, N> data, Op op, int root) const {
    detail::elementwise_reducer<E, Op> r(op);
    reduce_buffer(detail::raw_of(data), detail::raw_of(data), r, root);
  }

  /// As reduce, with the result on every rank.
  template <class T, class Op>
    requires(detail::reduction_op<Op, T> && !detail::is_span_v<T>)
  T allreduce(const T& value, Op op) const {
    detail::typed_reducer<T, Op> r(op);
    T result{};
    decode_collective(detail::coll::allreduce(impl(), detail::encode(value), r, detail::type_of<T>()), result,
                      "allreduce");
    return result;
  }
  /// Buffer form: element-wise op over every rank's `in` into every rank's `out` (same size).
  template <detail::contiguous_buffer In, detail::output_buffer Out, class Op>
  void allreduce(const In& in, Out&& out, Op op) const {
    using E = detail::buffer_element_t<In>;
    static_assert(std::is_same_v<E, detail::buffer_element_t<Out>>);
    detail::elementwise_reducer<E, Op> r(op);
    allreduce_buffer(detail::raw_of(in), detail::raw_of(out), r);
  }
  /// In place (MPI_IN_PLACE): every rank's `data` becomes the element-wise op over all ranks'.
  template <class E, std::size_t N, class Op>
  void allreduce(std::span<E, N> data, Op op) const {
    detail::elementwise_reducer<E, Op> r(op);
    allreduce_buffer(detail::raw_of(data), detail::raw_of(data), r);
  }

  /// MPI_Reduce_scatter: the element-wise op over every rank's `in` (sum of counts elements),
  /// in rank order; rank r gets the counts[r] elements of the result that follow the earlier
  /// ranks' blocks, in `out` (at least counts[r] elements).
  template <detail::contiguous_buffer In, detail::output_buffer Out, class Op>
  void reduce_scatter(const In& in, Out&& out, std::span<const int> counts, Op op) const {
    using E = detail::buffer_element_t<In>;
    static_assert(std::is_same_v<E, detail::buffer_element_t<Out>>);
    detail::elementwise_reducer<E, Op> r(op);
    reduce_scatter_buffer(detail::raw_of(in), detail::raw_of(out), counts, r);
  }
  /// MPI_Reduce_scatter_block: as reduce_scatter with out.size() elements for every rank
  /// (in.size() == size() * out.size()).
  template <detail::contiguous_buffer In, detail::output_buffer Out, class Op>
  void reduce_scatter_block(const In& in, Out&& out, Op op) const {
    using E = detail::buffer_element_t<In>;
    static_assert(std::is_same_v<E, detail::buffer_element_t<Out>>);
    detail::elementwise_reducer<E, Op> r(op);
    const std::vector<int> counts(static_cast<std::size_t>(size()), static_cast<int>(std::ranges::size(out)));
    reduce_scatter_buffer(detail::raw_of(in), detail::raw_of(out), counts, r);
  }

  /// Inclusive prefix: v0 op ... op v(rank()), in rank order.
  template <class T, class Op>
    requires detail::reduction_op<Op, T>
  T scan(const T& value, Op op) const {
    return prefix(value, op, false);
  }

  /// Exclusive prefix: v0 op ... op v(rank()-1); rank 0 gets T{}.
  template <class T, class Op>
    requires detail::reduction_op<Op, T>
  T exscan(const T& value, Op op) const {
    return prefix(value, op, true);
  }

  /// parts[q] goes to rank q; returns what every rank sent this one, in rank order. `parts`
  /// must have size() elements (usage_error otherwise).
  template <class T>
  std::vector<T> alltoall(const std::vector<T>& parts) const {
    check_parts(parts.size(), "alltoall", "parts");
    std::vector<detail::owned_bytes> encoded;
    for (const T& part : parts) encoded.push_back(detail::encode(part));
    return decode_all<T>(detail::coll::alltoall(impl(), std::move(encoded), detail::type_of<T>()),
                         "alltoall");
  }
  /// Buffer form (MPI_Alltoall): block q of `send` (send.size() / size() elements) to rank q;
  /// block q of `recv` (the same size) from rank q.
  template <detail::contiguous_buffer In, detail::output_buffer Out>
  void alltoall(const In& send, Out&& recv) const {
    static_assert(std::is_same_v<detail::buffer_element_t<In>, detail::buffer_element_t<Out>>);
    alltoallv_buffer(detail::raw_of(send), {}, {}, detail::raw_of(recv), {}, {}, true);
  }
  /// MPI_Alltoallv: send_counts[q] elements of `send` from send_displs[q] go to rank q, and
  /// recv_counts[q] elements from rank q land in `recv` at recv_displs[q] (displacements in
  /// elements; empty: packed in rank order). What q sends here must be what this rank expects
  /// from q (usage_error naming both otherwise).
  template <detail::contiguous_buffer In, detail::output_buffer Out>
  void alltoallv(const In& send, std::span<const int> send_counts, std::span<const int> send_displs,
                 Out&& recv, std::span<const int> recv_counts, std::span<const int> recv_displs) const {
    static_assert(std::is_same_v<detail::buffer_element_t<In>, detail::buffer_element_t<Out>>);
    alltoallv_buffer(detail::raw_of(send), send_counts, send_displs, detail::raw_of(recv), recv_counts,
                     recv_displs, false);
  }

  // --- non-blocking collectives (MPI-3) ------------------------------------------------------
  //
  // Each starts the collective and returns a request; it makes progress inside every parrun
  // call this rank makes (any wait, test, send, receive or collective), so computation between
  // the start and the wait overlaps the communication. Buffers must stay alive (and the ones
  // written to untouched) until the request completes; inputs are read when the call starts.
  // Every rank starts the same collectives in the same order, blocking or not.

  /// A barrier that completes once every rank has started it.
  [[nodiscard]] request ibarrier() const;
  /// Non-blocking broadcast(data, root).
  template <class E, std::size_t N>
  [[nodiscard]] request ibroadcast(std::span<E, N> data, int root) const {
    return start_collective("ibroadcast", [self = *this, data, root] { self.broadcast(data, root); });
  }
  /// Non-blocking broadcast(value, root); `value` must outlive the request.
  template <class T>
    requires(!detail::is_span_v<T>)
  [[nodiscard]] request ibroadcast(T& value, int root) const {
    return start_collective("ibroadcast", [self = *this, &value, root] { self.broadcast(value, root); });
  }
  /// Non-blocking allreduce(in, out, op): `in` is copied now; `out` is written by completion.
  template <detail::contiguous_buffer In, class E, std::size_t N, class Op>
  [[nodiscard]] request iallreduce(const In& in, std::span<E, N> out, Op op) const {
    std::vector<detail::buffer_element_t<In>> copy(std::ranges::begin(in), std::ranges::end(in));
    return start_collective("iallreduce", [self = *this, copy = std::move(copy), out, op] {
      self.allreduce(copy, out, op);
    });
  }
  /// Non-blocking in-place allreduce(data, op).
  template <class E, std::size_t N, class Op>
  [[nodiscard]] request iallreduce(std::span<E, N> data, Op op) const {
    return start_collective("iallreduce", [self = *this, data, op] { self.allreduce(data, op); });
  }
  /// Non-blocking value allreduce: `out` (which must outlive the request) gets the result.
  template <class T, class Op>
    requires(detail::reduction_op<Op, T> && !detail::is_span_v<T>)
  [[nodiscard]] request iallreduce(const T& value, T& out, Op op) const {
    return start_collective("iallreduce", [self = *this, value, &out, op] { out = self.allreduce(value, op); });
  }
  /// Non-blocking buffer alltoall(send, recv): `send` is copied now.
  template <detail::contiguous_buffer In, class E, std::size_t N>
  [[nodiscard]] request ialltoall(const In& send, std::span<E, N> recv) const {
    std::vector<detail::buffer_element_t<In>> copy(std::ranges::begin(send), std::ranges::end(send));
    return start_collective("ialltoall", [self = *this, copy = std::move(copy), recv] { self.alltoall(copy, recv); });
  }
  /// Non-blocking value alltoall: `out` (which must outlive the request) gets the parts.
  template <class T>
  [[nodiscard]] request ialltoall(const std::vector<T>& parts, std::vector<T>& out) const {
    return start_collective("ialltoall", [self = *this, parts, &out] { out = self.alltoall(parts); });
  }
  /// Non-blocking buffer allgather(send, recv): `send` is copied now.
  template <detail::contiguous_buffer In, class E, std::size_t N>
  [[nodiscard]] request iallgather(const In& send, std::span<E, N> recv) const {
    std::vector<detail::buffer_element_t<In>> copy(std::ranges::begin(send), std::ranges::end(send));
    return start_collective("iallgather", [self = *this, copy = std::move(copy), recv] { self.allgather(copy, recv); });
  }
  /// Non-blocking buffer reduce(in, out, op, root): `in` is copied now.
  template <detail::contiguous_buffer In, class E, std::size_t N, class Op>
  [[nodiscard]] request ireduce(const In& in, std::span<E, N> out, Op op, int root) const {
    std::vector<detail::buffer_element_t<In>> copy(std::ranges::begin(in), std::ranges::end(in));
    return start_collective("ireduce", [self = *this, copy = std::move(copy), out, op, root] {
      self.reduce(copy, out, op, root);
    });
  }

  // --- new communicators -------------------------------------------------------------------

  /// Ranks that give the same color form a new communicator, ordered by (key, rank in this
  /// one). color must be >= 0, or parrun::no_color to get an invalid communicator back.
  communicator split(int color, int key = 0) const;
  /// The same ranks in a new communicator, whose messages never match this one's.
  communicator dup() const;
  /// A cartesian grid of dims[0] x dims[1] x ... ranks (row-major: the last dimension varies
  /// fastest), periodic or not per dimension (cartesian.hpp). The product of dims must not
  /// exceed size(); ranks beyond it get an invalid communicator. Collective.
  cartesian_communicator cartesian(std::vector<int> dims, std::vector<bool> periodic) const;
  /// As above, with every dimension periodic or none.
  cartesian_communicator cartesian(std::vector<int> dims, bool periodic = false) const;

  // --- channels (channel.hpp) -------------------------------------------------------------

  /// Opens this rank's end of a typed channel with `peer` (or any_source: a fan-in channel
  /// that receives from every other rank), identified by `id` (0..max_tag); `capacity` as in
  /// Go (0: unbuffered). Both ranks open it with the same id, type and capacity.
  template <class T>
  parrun::channel<T> channel(int peer, int id, int capacity) const;

 private:
  friend class environment;
  friend class cartesian_communicator;

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
  T prefix(const T& value, Op op, bool exclusive) const {
    detail::typed_reducer<T, Op> r(op);
    bool has_value = false;
    detail::owned_bytes out =
        detail::coll::scan(impl(), detail::encode(value), r, detail::type_of<T>(), exclusive, has_value);
    T result{};
    if (has_value) decode_collective(out, result, exclusive ? "exscan" : "scan");
    return result;
  }

  /// A span or strided_span as the runtime sees it. A span of elements that are not trivially
  /// copyable cannot be received into; sending one sends a std::vector of them.
  template <class B>
  static detail::raw_buffer buffer_of(const B& b) {
    using E = std::remove_const_t<typename B::element_type>;
    static_assert(detail::is_raw_value_v<E> && !std::is_same_v<E, bool>,
                  "a buffer (std::span, strided_span, pointer + count) needs trivially copyable elements "
                  "other than bool; send a std::vector of other types");
    return detail::raw_of(b);
  }

  /// Posts a send of anything send() accepts; the message may still be leaving.
  template <class T>
  detail::posted_send start_send(int dest, int tag, T&& value) const {
    using U = std::remove_cvref_t<T>;
    if constexpr (detail::is_strided_v<U>) {
      return post_buffer(dest, tag, buffer_of(value), "send");
    } else if constexpr (detail::is_span_v<U>) {
      using E = std::remove_const_t<typename U::element_type>;
      if constexpr (detail::is_raw_value_v<E> && !std::is_same_v<E, bool>)
        return post_buffer(dest, tag, detail::raw_of(value), "send");
      else
        return start_send(dest, tag, std::vector<E>(value.begin(), value.end()));
    } else {
      return post_bytes(dest, tag, detail::type_of<detail::message_type_t<T>>(),
                        detail::encode_message(std::forward<T>(value)), "send");
    }
  }

  std::shared_ptr<detail::channel_core> open_channel(int peer, int id, int capacity,
                                                    const detail::type_id& type) const;

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
  static status null_status() noexcept { return status(no_rank, any_tag, 0, 0); }

  // The non-template halves, in runtime/communicator.cpp and runtime/buffers.cpp.
  detail::posted_send post_bytes(int dest, int tag, const detail::type_id& type, detail::owned_bytes&& bytes,
                                 const char* op) const;
  detail::posted_send post_buffer(int dest, int tag, const detail::raw_buffer& b, const char* op) const;
  void finish_send(const detail::posted_send& sent) const;
  request isend_bytes(int dest, int tag, const detail::type_id& type, detail::owned_bytes&& bytes) const;
  request isend_buffer(int dest, int tag, const detail::raw_buffer& b) const;
  detail::received recv_bytes(int source, int tag, const detail::type_id& type,
                              const std::chrono::nanoseconds* timeout) const;
  status recv_buffer(int source, int tag, const detail::raw_buffer& b, const std::chrono::nanoseconds* timeout) const;
  request irecv_bytes(int source, int tag, const detail::type_id& type,
                      std::function<status(detail::received&&)> complete) const;
  request irecv_buffer(int source, int tag, const detail::raw_buffer& b) const;
  [[noreturn]] void throw_decode_failure(const char* op, const status& st,
                                         const truncation_error& e) const;

  // Buffer collectives (runtime/collectives/buffers.cpp). `block`: counts are implied (every
  // rank the same, from the buffers' sizes) and `counts`/`displs` are empty.
  void broadcast_buffer(const detail::raw_buffer& data, int root) const;
  void allreduce_buffer(const detail::raw_buffer& in, const detail::raw_buffer& out, const detail::reducer& op) const;
  void reduce_buffer(const detail::raw_buffer& in, const detail::raw_buffer& out, const detail::reducer& op,
                     int root) const;
  void reduce_scatter_buffer(const detail::raw_buffer& in, const detail::raw_buffer& out,
                             std::span<const int> counts, const detail::reducer& op) const;
  void scatterv_buffer(const detail::raw_buffer& send, std::span<const int> counts, std::span<const int> displs,
                       const detail::raw_buffer& recv, int root, bool block) const;
  void gatherv_buffer(const detail::raw_buffer& send, const detail::raw_buffer& recv, std::span<const int> counts,
                      std::span<const int> displs, int root, bool block) const;
  void allgatherv_buffer(const detail::raw_buffer& send, const detail::raw_buffer& recv,
                         std::span<const int> counts, std::span<const int> displs, bool block) const;
  void alltoallv_buffer(const detail::raw_buffer& send, std::span<const int> send_counts,
                        std::span<const int> send_displs, const detail::raw_buffer& recv,
                        std::span<const int> recv_counts, std::span<const int> recv_displs, bool block) const;
  /// Runs `body` (a blocking collective) as a non-blocking one (runtime/nonblocking/).
  request start_collective(const char* op, std::function<void()> body) const;

  detail::comm_impl& impl() const;

  std::shared_ptr<detail::comm_impl> impl_;
};

}  // namespace parrun
