#pragma once
// The shared-memory lane's handshake (shm_lane.hpp), one SOCK_SEQPACKET message each way over
// the receiver's unix socket in the job's 0700 directory:
//
//   sender -> receiver: hello_msg + SCM_RIGHTS [ring memfd (sealed), sender's eventfd]
//   receiver -> sender: reply_msg + SCM_RIGHTS [receiver's eventfd, receiver's doorbell page]
//
// The receiver believes nothing in the hello until the kernel's SO_PEERCRED says the sender is
// this user and has the pid the endpoint table gives for the rank it claims, and the secret
// matches; then it checks the segment's seals and size before it maps it.
#include <cstdint>

namespace parrun::detail::shm {

inline constexpr std::uint32_t hello_magic = 0x70726e68;  // "prnh"
inline constexpr std::uint32_t reply_magic = 0x70726e72;  // "prnr"
inline constexpr std::uint32_t handshake_version = 1;

struct hello_msg {
  std::uint32_t magic;
  std::uint32_t version;
  std::int32_t rank;
  std::uint32_t secret_length;
  std::uint64_t ring_bytes;
  std::uint64_t probe_address;  ///< cross-memory attach test: the receiver reads 8 bytes here
  std::uint64_t probe_value;    ///< and expects these
  char secret[256];
};

struct reply_msg {
  std::uint32_t magic;
  std::uint32_t accepted;
  std::uint32_t direct;  ///< the receiver can read the sender's memory
  std::uint32_t unused;
};

}  // namespace parrun::detail::shm
