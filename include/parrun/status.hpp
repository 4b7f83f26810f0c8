#pragma once
// What a receive or a probe learned about a message: who sent it, with which tag, how many
// bytes, and of which C++ type.
#include <cstddef>
#include <cstdint>
#include <string>

#include <parrun/detail/type_id.hpp>

namespace parrun {

/// Wildcard source for receives and probes: a message from any rank matches.
inline constexpr int any_source = -1;
/// Wildcard tag for receives and probes: a message with any (non-negative) tag matches.
inline constexpr int any_tag = -1;
/// The largest tag a user message may carry.
inline constexpr int max_tag = 0x3fffffff;

/// Describes one matched or probed message.
class status {
 public:
  status() = default;
  status(int source, int tag, std::size_t bytes, std::uint64_t type) noexcept
      : source_(source), tag_(tag), bytes_(bytes), type_(type) {}

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

 private:
  int source_ = -1;
  int tag_ = -1;
  std::size_t bytes_ = 0;
  std::uint64_t type_ = 0;
};

}  // namespace parrun
