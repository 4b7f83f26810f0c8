#pragma once
// Output forwarding. Each rank's stdout and stderr arrive on their own pipes; the launcher cuts
// them into lines and writes each whole line (prefixed "[rank] " with --tag-output) to its own
// stdout or stderr as one unit (output_queue), so a line from one rank is never split by another's. A last
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
      std::string_view line = std::string_view(pending_).substr(start, nl - start);
      for (; line.size() > max_line; line.remove_prefix(max_line)) emit(line.substr(0, max_line));
      emit(line);
      start = nl + 1;
    }
    // Only more than max_line bytes without a newline are cut: a line of exactly max_line
    // waits for its newline rather than leaving an empty line behind.
    while (pending_.size() - start > max_line) {
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

/// Output waiting for one of parrun's own streams: whole lines, in order. The job monitor
/// writes it only when poll says the stream can take more, so a reader that stalls (`| less`,
/// a stuck log collector) never blocks the monitor's loop: signals and --timeout still work,
/// and the monitor stops reading the ranks' pipes instead (they then block, as they would
/// writing to a terminal).
class output_queue {
 public:
  explicit output_queue(int fd) : fd_(fd) {}
  int fd() const noexcept { return fd_; }
  /// Queues prefix + line + newline (dropped when the reader is gone).
  void push(std::string_view prefix, std::string_view line);
  /// Bytes waiting.
  std::size_t size() const noexcept { return bytes_.size() - head_; }
  bool pending() const noexcept { return size() > 0; }
  /// Whether the reader is gone (EPIPE): everything for this stream is dropped from then on.
  bool broken() const noexcept { return broken_; }
  /// Writes what the stream takes now without waiting.
  void write_ready();

 private:
  int fd_;
  std::string bytes_;
  std::size_t head_ = 0;
  bool broken_ = false;
};

}  // namespace parrun::launcher
