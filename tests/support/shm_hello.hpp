#pragma once
// For tests that play a peer of the shared-memory lane from outside it (the intruder, the ring
// fuzzer): sends the handshake's hello with a ring memfd and a doorbell eventfd attached, the
// way runtime/transport/shm/shm_lane.cpp does (runtime/transport/shm/handshake.hpp).
#include <sys/socket.h>

#include <cstring>

#include "transport/shm/handshake.hpp"

namespace parrun::test {

/// Sends `hello` on the connected packet socket `socket`, passing `ring` and `bell`; false
/// (with errno) when the kernel refused.
inline bool send_shm_hello(int socket, const detail::shm::hello_msg& hello, int ring, int bell) {
  iovec iov{const_cast<detail::shm::hello_msg*>(&hello), sizeof hello};
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  cmsghdr* cm = CMSG_FIRSTHDR(&m);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(2 * sizeof(int));
  const int fds[2] = {ring, bell};
  std::memcpy(CMSG_DATA(cm), fds, sizeof fds);
  return ::sendmsg(socket, &m, MSG_NOSIGNAL) >= 0;
}

}  // namespace parrun::test
