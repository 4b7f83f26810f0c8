#include "stdio.hpp"

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

namespace parrun::launcher {

bool write_line(int fd, std::string_view prefix, std::string_view line) {
  std::string joined;
  joined.reserve(prefix.size() + line.size() + 1);
  joined.append(prefix).append(line).push_back('\n');
  std::size_t done = 0;
  while (done < joined.size()) {
    ssize_t n = ::write(fd, joined.data() + done, joined.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;  // EPIPE or worse: nobody reads our output any more
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace parrun::launcher
