#pragma once
// A communicator is a group of ranks with its own message space: a message sent on one never
// matches a receive on another. Point-to-point calls encode the value (detail/codec.hpp), tag it
// with its type's fingerprint and hand the bytes to the runtime; receives match by source and
// tag in MPI's non-overtaking order, check the fingerprint, then decode.
//
// One thread per rank calls into parrun (as MPI_THREAD_FUNNELED): communicators are not
// thread-safe.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <parrun/detail/bytes.hpp>
#include <parrun/detail/codec.hpp>
#include <parrun/detail/type_id.hpp>
#include <parrun/errors.hpp>
#include <parrun/request.hpp>
#include <parrun/status.hpp>

namespace parrun {

namespace detail {
class comm_impl;

/// A matched message whose bytes await decoding.
struct received {
  status st;
  payload body;
};

/// The type a value is sent as: C strings travel as std::string, everything else as itself.
template <class T>
struct message_type {
  using type = std::remove_cvref_t<T>;
};
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
  if constexpr (std::is_same_v<M, std::string> && !std::is_same_v<std::remove_cvref_t<T>, std::string>) {
    const char* s = value;
    owned_bytes out;
    out.append(s, std::char_traits<char>::length(s));
    return out;
  } else {
    return encode_moved(std::forward<T>(value));
  }
}
}  // namespace detail

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

 private:
  friend class environment;
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
