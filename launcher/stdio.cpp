#include "stdio.hpp"

#include <poll.h>
#include <unistd.h>

#include <climits>
#include <cerrno>

namespace parrun::launcher {

void output_queue::push(std::string_view prefix, std::string_view line) {
  if (broken_) return;
  bytes_.append(prefix).append(line).push_back('\n');
}

void output_queue::write_ready() {
  while (pending() && !broken_) {
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, 0) <= 0 || (p.revents & (POLLOUT | POLLERR | POLLHUP)) == 0) return;
    // A pipe that polls writable takes PIPE_BUF bytes without blocking.
    const std::size_t chunk = size() < PIPE_BUF ? size() : PIPE_BUF;
    const ssize_t n = ::write(fd_, bytes_.data() + head_, chunk);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      broken_ = true;  // EPIPE: nobody reads this stream any more
      bytes_.clear();
      head_ = 0;
      return;
    }
    head_ += static_cast<std::size_t>(n);
    if (head_ == bytes_.size()) {
      bytes_.clear();
      head_ = 0;
    } else if (head_ > (1u << 20) && head_ > bytes_.size() / 2) {
      bytes_.erase(0, head_);
      head_ = 0;
    }
  }
}

}  // namespace parrun::launcher
