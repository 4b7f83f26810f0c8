#pragma once
// What a receive or a probe learned about a message: who sent it, with which tag, how many
// bytes, and of which C++ type.
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <parrun/detail/type_id.hpp>
#include <parrun/errors.hpp>

namespace parrun {

/// Wildcard source for receives and probes: a message from any rank matches.
inline constexpr int any_source = -1;
/// Wildcard tag for receives and probes: a message with any (non-negative) tag matches.
inline constexpr int any_tag = -1;
/// The largest tag a user message may carry.
inline constexpr int max_tag = 0x3fffffff;
/// The rank that is no rank (MPI_PROC_NULL): a send to it does nothing, a receive from it
/// completes at once with an empty status (source no_rank, count 0) and leaves the buffer as it
/// was. cartesian_communicator::shift gives it past the edge of a non-periodic dimension, so a
/// halo exchange needs no special case at the boundary.
inline constexpr int no_rank = -2;

/// Describes one matched or probed message.
class status {
 public:
  status() = default;
  status(int source, int tag, std::size_t bytes, std::uint64_t type) noexcept
      : source_(source), tag_(tag), bytes_(bytes), type_(type) {}
  /// The status of a receive that request::cancel() withdrew before any message matched it.
  static status cancelled_receive(int source, int tag) noexcept {
    status s(source, tag, 0, 0);
    s.cancelled_ = true;
    return s;
  }

  /// The sender's rank in the communicator the message was received on.
  int source() const noexcept { return source_; }
  /// The message's tag.
  int tag() const noexcept { return tag_; }
  /// The size of the message's encoded payload in bytes.
  std::size_t bytes() const noexcept { return bytes_; }
  /// Whether the message was sent as a T (useful after probe, to choose how to receive).
  template <class T>
  bool holds() const {
    return detail::type_of<T>().hash == type_;
  }
  /// The readable name of the message's C++ type.
  std::string type_name() const { return detail::type_name_of(type_); }
  /// How many T the message holds (MPI_Get_count): 1 for a T, the number of elements for a
  /// buffer or std::vector of trivially copyable T (what a receive into a span filled), 0 after
  /// a receive from no_rank or a cancelled receive. Throws type_mismatch when the message holds
  /// neither, usage_error for a std::vector of other T (its bytes are an archive: receive it to
  /// count it).
  template <class T>
  std::size_t count() const {
    if (type_ == 0) return 0;
    if (holds<T>()) return 1;
    if (holds<std::vector<T>>()) {
      if constexpr (std::is_trivially_copyable_v<T> && !std::is_same_v<T, bool>) {
        return bytes_ / sizeof(T);
      } else {
        throw usage_error("status::count<" + detail::type_name(detail::type_of<T>()) + ">: the message is a " +
                          type_name() + ", encoded as an archive, so its bytes do not say how many elements "
                          "it has: receive it and take its size()");
      }
    }
    throw type_mismatch("status::count<" + detail::type_name(detail::type_of<T>()) + ">: the message from rank " +
                        std::to_string(source_) + " with tag " + std::to_string(tag_) + " is of type " +
                        type_name() + ", not " + detail::type_name(detail::type_of<T>()) + " or a buffer of them");
  }
  /// Whether this is the status of a receive that request::cancel() withdrew.
  bool cancelled() const noexcept { return cancelled_; }

 private:
  int source_ = -1;
  int tag_ = -1;
  std::size_t bytes_ = 0;
  std::uint64_t type_ = 0;
  bool cancelled_ = false;
};

}  // namespace parrun
