// Output forwarding (launcher/stdio.hpp): cutting a rank's byte stream into whole lines, however
// the bytes were chunked, and writing each line with its prefix in one piece.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "stdio.hpp"

using parrun::launcher::line_buffer;


namespace {

using lines = std::vector<std::string>;

// Lines in a form that is short to print: runs of one character longer than 16 are shown as
// <N x 'c'> (a failure must not print megabytes).
std::vector<std::string> summary(const lines& in) {
  std::vector<std::string> out;
  for (const std::string& l : in) {
    std::string s;
    for (std::size_t i = 0; i < l.size();) {
      std::size_t j = i;
      while (j < l.size() && l[j] == l[i]) ++j;
      if (j - i > 16) s += "<" + std::to_string(j - i) + " x '" + l[i] + "'>";
      else s.append(l, i, j - i);
      i = j;
    }
    out.push_back(s);
  }
  return out;
}

// Feeds `chunks` one by one, then finishes; returns every line emitted.
lines cut(const std::vector<std::string>& chunks, bool finish = true) {
  line_buffer b;
  lines out;
  auto emit = [&](std::string_view l) { out.emplace_back(l); };
  for (const std::string& c : chunks) b.feed(c, emit);
  if (finish) b.finish(emit);
  return out;
}

// Feeds `text` in pieces of `step` bytes.
lines cut_every(const std::string& text, std::size_t step) {
  std::vector<std::string> chunks;
  for (std::size_t i = 0; i < text.size(); i += step) chunks.push_back(text.substr(i, step));
  return cut(chunks);
}

}  // namespace

TEST(line_buffer, whole_lines_in_one_chunk) {
  EXPECT_EQ(cut({"a\nbb\nccc\n"}), (lines{"a", "bb", "ccc"}));
}

TEST(line_buffer, nothing_until_a_newline_arrives) {
  line_buffer b;
  lines out;
  auto emit = [&](std::string_view l) { out.emplace_back(l); };
  b.feed("hel", emit);
  b.feed("lo wor", emit);
  EXPECT_TRUE(out.empty());
  b.feed("ld\nne", emit);
  EXPECT_EQ(out, (lines{"hello world"}));
  b.feed("xt\n", emit);
  EXPECT_EQ(out, (lines{"hello world", "next"}));
  b.finish(emit);
  EXPECT_EQ(out, (lines{"hello world", "next"})) << "nothing pending, nothing more emitted";
}

TEST(line_buffer, any_chunking_gives_the_same_lines) {
  std::string text;
  lines expected;
  for (int i = 0; i < 200; ++i) {
    std::string l = "line " + std::to_string(i) + std::string(static_cast<std::size_t>(i % 37), 'x');
    expected.push_back(l);
    text += l + "\n";
  }
  for (std::size_t step : {1u, 2u, 3u, 7u, 64u, 4096u, 100000u})
    EXPECT_EQ(cut_every(text, step), expected) << "chunks of " << step;
}

TEST(line_buffer, empty_lines_are_kept) {
  EXPECT_EQ(cut({"\n\na\n\n"}), (lines{"", "", "a", ""}));
  EXPECT_EQ(cut({"\n", "\n"}), (lines{"", ""}));
}

TEST(line_buffer, last_line_without_newline_is_delivered_on_finish) {
  EXPECT_EQ(cut({"a\nlast words"}), (lines{"a", "last words"}));
  EXPECT_EQ(cut({"a\nlast words"}, /*finish=*/false), (lines{"a"}));
  EXPECT_EQ(cut({"only", " this"}), (lines{"only this"}));
}

TEST(line_buffer, finish_on_empty_buffer_emits_nothing) {
  EXPECT_TRUE(cut({}).empty());
  EXPECT_TRUE(cut({""}).empty());
  EXPECT_EQ(cut({"x\n"}), (lines{"x"}));
}

TEST(line_buffer, bytes_are_passed_through_untouched) {
  const std::string binary("a\0b\r\xff\t", 6);
  EXPECT_EQ(cut({binary + "\n", "crlf\r\n"}), (lines{binary, "crlf\r"}));
}

TEST(line_buffer, buffer_is_reusable_after_finish) {
  line_buffer b;
  lines out;
  auto emit = [&](std::string_view l) { out.emplace_back(l); };
  b.feed("one", emit);
  b.finish(emit);
  b.feed("two\n", emit);
  b.finish(emit);
  EXPECT_EQ(out, (lines{"one", "two"}));
}

TEST(line_buffer, line_longer_than_max_is_cut_in_pieces_of_max) {
  // As the launcher feeds it: at most 64 KiB per read.
  constexpr std::size_t max = line_buffer::max_line;
  const std::string text = std::string(2 * max + 10, 'a') + "\nnext\n";
  const lines expected{std::string(max, 'a'), std::string(max, 'a'), std::string(10, 'a'), "next"};
  EXPECT_EQ(summary(cut_every(text, 65536)), summary(expected));
  EXPECT_EQ(summary(cut_every(text, 4096)), summary(expected));
  // Without a newline at all (a rank writing binary junk): bounded memory, pieces of max.
  EXPECT_EQ(summary(cut_every(std::string(max + 1, 'b'), 65536)), summary((lines{std::string(max, 'b'), "b"})));
}

TEST(line_buffer, long_line_below_max_is_never_cut) {
  constexpr std::size_t max = line_buffer::max_line;
  const std::string line(max - 1, 'q');
  EXPECT_EQ(summary(cut_every(line + "\n", 65536)), summary((lines{line})));
  EXPECT_EQ(summary(cut_every(line, 65536)), summary((lines{line}))) << "also as the last line, without newline";
}

TEST(line_buffer, cutting_at_max_does_not_depend_on_chunking) {
  constexpr std::size_t max = line_buffer::max_line;
  const std::string line(max, 'm');
  EXPECT_EQ(summary(cut({line + "\n"})), summary((lines{line})));
  EXPECT_EQ(summary(cut({line, "\n"})), summary((lines{line}))) << "no extra empty line";
  EXPECT_EQ(summary(cut_every(line + "\nafter\n", 65536)), summary((lines{line, "after"})));
  EXPECT_EQ(summary(cut_every(std::string(2 * max, 'm') + "\n", 65536)), summary((lines{line, line})));
  const std::string longer = std::string(max + 100, 'l') + "\n";
  const lines pieces{std::string(max, 'l'), std::string(100, 'l')};
  EXPECT_EQ(summary(cut({longer})), summary(pieces));
  EXPECT_EQ(summary(cut_every(longer, 65536)), summary(pieces));
  EXPECT_EQ(summary(cut_every(longer, 1000003)), summary(pieces));
}

// --- write_line ------------------------------------------------------------------------------

namespace {

struct pipe_fds {
  int read = -1;
  int write = -1;
  pipe_fds() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) == 0) {
      read = fds[0];
      write = fds[1];
    }
  }
  ~pipe_fds() {
    if (read >= 0) close(read);
    if (write >= 0) close(write);
  }
};

std::string read_all(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace

// Writes everything queued, waiting for the reader as a caller of write_ready would.
void write_all(parrun::launcher::output_queue& q) {
  while (q.pending() && !q.broken()) {
    pollfd p{q.fd(), POLLOUT, 0};
    ::poll(&p, 1, -1);
    q.write_ready();
  }
}

TEST(output_queue, writes_prefix_line_and_newline_in_order) {
  pipe_fds p;
  ASSERT_GE(p.read, 0);
  parrun::launcher::output_queue q(p.write);
  q.push("[3] ", "hello");
  q.push("", "");
  q.push("", "plain");
  EXPECT_EQ(q.size(), 17u);
  write_all(q);
  EXPECT_FALSE(q.pending());
  close(p.write);
  p.write = -1;
  EXPECT_EQ(read_all(p.read), "[3] hello\n\nplain\n");
}

TEST(output_queue, line_larger_than_the_pipe_arrives_whole) {
  pipe_fds p;
  ASSERT_GE(p.read, 0);
  parrun::launcher::output_queue q(p.write);
  const std::string line(1 << 20, 'z');  // 16 times a default pipe buffer: many short writes
  std::string got;
  std::thread reader([&] { got = read_all(p.read); });
  q.push("[12] ", line);
  q.push("", "next");
  write_all(q);
  close(p.write);
  p.write = -1;
  reader.join();
  EXPECT_FALSE(q.broken());
  ASSERT_EQ(got.size(), 5 + line.size() + 1 + 5);
  EXPECT_TRUE(got == "[12] " + line + "\nnext\n") << "the bytes differ";
}

TEST(output_queue, reader_gone_marks_it_broken_and_drops_the_rest) {
  signal(SIGPIPE, SIG_IGN);  // as the launcher does
  pipe_fds p;
  ASSERT_GE(p.read, 0);
  close(p.read);
  p.read = -1;
  parrun::launcher::output_queue q(p.write);
  q.push("", "nobody reads this");
  q.write_ready();
  EXPECT_TRUE(q.broken());
  q.push("", "nor this");
  EXPECT_FALSE(q.pending());
}

TEST(output_queue, a_stalled_reader_never_blocks_the_writer_and_nothing_is_dropped) {
  // Blocking and non-blocking pipes alike: write_ready returns with the rest still queued.
  for (bool nonblocking : {false, true}) {
    pipe_fds p;
    ASSERT_GE(p.read, 0);
    if (nonblocking) fcntl(p.write, F_SETFL, fcntl(p.write, F_GETFL) | O_NONBLOCK);
    parrun::launcher::output_queue q(p.write);
    const std::string line(256 * 1024, 'n');  // four times what the pipe holds
    q.push("", line);
    const auto t0 = std::chrono::steady_clock::now();
    q.write_ready();  // nobody reads yet
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
    EXPECT_TRUE(q.pending());
    EXPECT_FALSE(q.broken());
    std::string got;
    std::thread reader([&] { got = read_all(p.read); });
    write_all(q);
    close(p.write);
    p.write = -1;
    reader.join();
    EXPECT_EQ(got.size(), line.size() + 1);
    EXPECT_TRUE(got == line + "\n") << "the bytes differ";
  }
}
