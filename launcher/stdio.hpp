#pragma once
// Output forwarding. Each rank's stdout and stderr arrive on their own pipes; the launcher cuts
// them into lines and writes each whole line (prefixed "[rank] " with --tag-output) to its own
// stdout or stderr with one write, so a line from one rank is never split by another's. A last
// line without a newline is delivered (with one) when the rank closes the pipe. A line longer
// than `max_line` is delivered in pieces of that size. stdin goes to rank 0 only, through a
// pipe the launcher feeds; the other ranks read /dev/null.
#include <cstddef>
#include <string>
#include <string_view>

namespace parrun::launcher {

class line_buffer {
 public:
  static constexpr std::size_t max_line = 1 << 20;

  /// Appends bytes and calls emit(line) for every complete line (without its newline).
  template <class Emit>
  void feed(std::string_view bytes, Emit&& emit) {
    pending_.append(bytes);
    std::size_t start = 0;
    for (;;) {
      std::size_t nl = pending_.find('\n', start);
      if (nl == std::string::npos) break;
      emit(std::string_view(pending_).substr(start, nl - start));
      start = nl + 1;
    }
    while (pending_.size() - start >= max_line) {
      emit(std::string_view(pending_).substr(start, max_line));
      start += max_line;
    }
    pending_.erase(0, start);
  }
  /// Emits what is left (a last line without a newline), if anything.
  template <class Emit>
  void finish(Emit&& emit) {
    if (!pending_.empty()) emit(std::string_view(pending_));
    pending_.clear();
  }

 private:
  std::string pending_;
};

/// Writes one line to `fd` with one write where the kernel allows, retrying short writes.
/// Returns false when the reader is gone (EPIPE).
bool write_line(int fd, std::string_view prefix, std::string_view line);

}  // namespace parrun::launcher
