// Flood: every rank sends thousands of messages of random sizes (0 B to 4 MiB, mostly small) to
// every other rank, interleaving blocking sends, non-blocking sends, probes, receives and posted
// irecvs. Every rank can recompute every other rank's plan from one seed, so each receiver knows
// exactly which messages must arrive on each (sender, tag) stream, in which order, and with which
// bytes: every message is checked to arrive exactly once, intact, in order.
//
//   tag 0: std::vector<std::uint8_t>   raw bytes            (also received by posted irecvs)
//   tag 1: stamped                     through Cereal, carries its sequence number and checksum
//   tag 2: std::vector<std::uint64_t>  raw words
//   tag 3: a token: "I have sent you everything" (so the end needs no collective)
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <parrun/parrun.hpp>

#include "rank_main.hpp"

namespace {

using parrun::any_source;
using parrun::any_tag;
using parrun::communicator;
using parrun::request;
using parrun::status;

constexpr std::uint64_t job_seed = 0x5eed'f100'd000'0001;
constexpr int data_tags = 3;
constexpr int done_tag = 3;
constexpr std::size_t max_size = std::size_t{4} << 20;

std::uint64_t splitmix(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  return z ^ (z >> 31);
}

std::uint64_t mix(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t d) {
  std::uint64_t x = job_seed ^ (a << 48) ^ (b << 32) ^ (c << 24) ^ d;
  return splitmix(x);
}

// The bytes of message `seq` on stream (from -> to, tag); the first 8 carry `seq` itself.
std::vector<std::uint8_t> content(int from, int to, int tag, std::uint32_t seq, std::size_t size) {
  std::vector<std::uint8_t> bytes(size);
  std::uint64_t state = mix(static_cast<std::uint64_t>(from), static_cast<std::uint64_t>(to),
                            static_cast<std::uint64_t>(tag), seq);
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    const std::uint64_t w = splitmix(state);
    std::memcpy(bytes.data() + i, &w, 8);
  }
  for (; i < size; ++i) bytes[i] = static_cast<std::uint8_t>(splitmix(state));
  if (size >= 8) {
    const std::uint64_t s = seq;
    std::memcpy(bytes.data(), &s, 8);
  }
  return bytes;
}

std::uint64_t checksum(const std::uint8_t* p, std::size_t n) {  // FNV-1a
  std::uint64_t h = 0xcbf29ce484222325;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3;
  return h;
}

struct stamped {
  std::uint32_t seq = 0;
  std::int32_t sender = -1;
  std::uint64_t sum = 0;
  std::vector<std::uint8_t> data;
  template <class Archive>
  void serialize(Archive& a) {
    a(seq, sender, sum, data);
  }
};

struct planned {
  int dest;
  int tag;
  std::uint32_t seq;  // in the (sender, dest, tag) stream
  std::size_t size;
  int how;  // 0: send of an lvalue, 1: send of an rvalue, 2: isend
};

int per_peer(int ranks) { return ranks <= 2 ? 6000 : ranks <= 4 ? 3000 : 2000; }

// What `from` sends, in order: per_peer messages to every other rank, destinations shuffled.
std::vector<planned> plan_of(int from, int ranks) {
  std::mt19937_64 rng(mix(static_cast<std::uint64_t>(from), 0xff, 0xff, 0xffff));
  std::vector<int> dests;
  for (int d = 0; d < ranks; ++d)
    if (d != from) dests.insert(dests.end(), static_cast<std::size_t>(per_peer(ranks)), d);
  std::shuffle(dests.begin(), dests.end(), rng);
  std::vector<std::vector<std::uint32_t>> next(static_cast<std::size_t>(ranks),
                                               std::vector<std::uint32_t>(data_tags, 0));
  std::vector<int> sent_to(static_cast<std::size_t>(ranks), 0);
  std::vector<planned> out;
  out.reserve(dests.size());
  for (int d : dests) {
    const int tag = static_cast<int>(rng() % data_tags);
    const int nth = sent_to[static_cast<std::size_t>(d)]++;
    std::size_t size;
    const auto u = rng() % 1000;
    if (nth == 0)
      size = 0;  // every pair: an empty one
    else if (nth == 1 && d == (from + 1) % ranks)
      size = max_size;  // every rank: a 4 MiB one
    else if (u < 940)
      size = rng() % 257;  // mostly small
    else if (u < 996)
      size = 257 + rng() % (16 << 10);  // some up to 16 KiB
    else
      size = (64 << 10) + rng() % (max_size - (64 << 10) + 1);  // a few up to 4 MiB
    if (tag == 2) size &= ~std::size_t{7};                      // whole words
    out.push_back({d, tag, next[static_cast<std::size_t>(d)][static_cast<std::size_t>(tag)]++, size,
                   static_cast<int>(rng() % 3)});
  }
  return out;
}

class flood_receiver {
 public:
  explicit flood_receiver(communicator& w)
      : w_(w),
        expected_(static_cast<std::size_t>(w.size())),
        next_(static_cast<std::size_t>(w.size())) {
    for (int s = 0; s < w.size(); ++s) {
      auto& streams = expected_[static_cast<std::size_t>(s)];
      streams.resize(data_tags);
      next_[static_cast<std::size_t>(s)].assign(data_tags, 0);
      if (s == w.rank()) continue;
      for (const planned& p : plan_of(s, w.size()))
        if (p.dest == w.rank()) {
          streams[static_cast<std::size_t>(p.tag)].push_back(p.size);
          ++outstanding_;
        }
    }
    done_from_.assign(static_cast<std::size_t>(w.size()), false);
  }

  std::size_t outstanding() const { return outstanding_; }
  std::size_t received() const { return received_; }
  std::size_t bytes() const { return bytes_; }

  // Receives whatever has arrived; with `block`, waits for at least one message.
  void drain(bool block) {
    test_posted();
    if (block) handle(w_.probe(any_source, any_tag));
    while (auto st = w_.iprobe(any_source, any_tag)) handle(*st);
  }

  // Posts an irecv for the next unclaimed tag-0 message from `s`, if there is one.
  void post_irecv(int s) {
    if (s == w_.rank() || posted_.size() >= 4) return;
    const std::uint32_t seq = next_[static_cast<std::size_t>(s)][0];
    if (seq >= expected_[static_cast<std::size_t>(s)][0].size()) return;
    ++next_[static_cast<std::size_t>(s)][0];
    auto p = std::make_unique<posted>();
    p->source = s;
    p->seq = seq;
    p->req = w_.irecv(s, 0, p->bytes);
    posted_.push_back(std::move(p));
  }

  // Finishes every posted irecv (their messages are due).
  void finish_posted() {
    while (!posted_.empty()) {
      const status st = posted_.front()->req.wait();
      complete(*posted_.front(), st);
      posted_.pop_front();
    }
  }

  bool all_done_tokens() const {
    for (int s = 0; s < w_.size(); ++s)
      if (s != w_.rank() && !done_from_[static_cast<std::size_t>(s)]) return false;
    return true;
  }

  void verify_complete() const {
    for (int s = 0; s < w_.size(); ++s)
      for (int t = 0; t < data_tags; ++t)
        EXPECT_EQ(next_[static_cast<std::size_t>(s)][static_cast<std::size_t>(t)],
                  expected_[static_cast<std::size_t>(s)][static_cast<std::size_t>(t)].size())
            << "stream from rank " << s << " with tag " << t;
    EXPECT_EQ(outstanding_, 0u);
  }

 private:
  struct posted {
    int source;
    std::uint32_t seq;
    std::vector<std::uint8_t> bytes;
    request req;
  };

  // Claims the next sequence number of stream (s, t); fails when more arrive than were sent.
  std::optional<std::uint32_t> claim(int s, int t) {
    auto& n = next_[static_cast<std::size_t>(s)][static_cast<std::size_t>(t)];
    if (n >= expected_[static_cast<std::size_t>(s)][static_cast<std::size_t>(t)].size()) {
      ADD_FAILURE() << "rank " << w_.rank() << ": an extra message from rank " << s << " with tag "
                    << t;
      return std::nullopt;
    }
    return n++;
  }

  std::size_t size_of(int s, int t, std::uint32_t seq) const {
    return expected_[static_cast<std::size_t>(s)][static_cast<std::size_t>(t)][seq];
  }

  void check_bytes(int s, int t, std::uint32_t seq, const std::uint8_t* p, std::size_t n) {
    const std::size_t size = size_of(s, t, seq);
    ++received_;
    bytes_ += n;
    --outstanding_;
    if (n != size) {
      ADD_FAILURE() << "rank " << w_.rank() << ": message " << seq << " from rank " << s
                    << " with tag " << t << " has " << n << " bytes, expected " << size;
      return;
    }
    if (n >= 8) {
      std::uint64_t got_seq = 0;
      std::memcpy(&got_seq, p, 8);
      if (got_seq != seq) {
        ADD_FAILURE() << "rank " << w_.rank() << ": from rank " << s << " with tag " << t
                      << " expected message " << seq << ", got message " << got_seq
                      << " (out of order)";
        return;
      }
    }
    const std::vector<std::uint8_t> want = content(s, w_.rank(), t, seq, size);
    if (checksum(p, n) != checksum(want.data(), want.size()) || (n != 0 && std::memcmp(p, want.data(), n) != 0))
      ADD_FAILURE() << "rank " << w_.rank() << ": message " << seq << " from rank " << s
                    << " with tag " << t << " (" << n << " bytes) is corrupt";
  }

  void complete(posted& p, const status& st) {
    EXPECT_EQ(st.source(), p.source);
    EXPECT_EQ(st.tag(), 0);
    check_bytes(p.source, 0, p.seq, p.bytes.data(), p.bytes.size());
  }

  void test_posted() {
    while (!posted_.empty()) {
      auto st = posted_.front()->req.test();
      if (!st) break;  // they complete in posting order only if from one source; keep it simple
      complete(*posted_.front(), *st);
      posted_.pop_front();
    }
  }

  void handle(const status& st) {
    const int s = st.source();
    switch (st.tag()) {
      case 0: {
        ASSERT_TRUE(st.holds<std::vector<std::uint8_t>>()) << st.type_name();
        const auto seq = claim(s, 0);
        auto bytes = w_.recv<std::vector<std::uint8_t>>(s, 0);
        if (seq) check_bytes(s, 0, *seq, bytes.data(), bytes.size());
        break;
      }
      case 1: {
        ASSERT_TRUE(st.holds<stamped>()) << st.type_name();
        const auto seq = claim(s, 1);
        const auto m = w_.recv<stamped>(s, 1);
        if (!seq) break;
        EXPECT_EQ(m.sender, s);
        EXPECT_EQ(m.seq, *seq) << "from rank " << s << " with tag 1 (out of order)";
        EXPECT_EQ(m.sum, checksum(m.data.data(), m.data.size()))
            << "message " << m.seq << " from rank " << s;
        check_bytes(s, 1, *seq, m.data.data(), m.data.size());
        break;
      }
      case 2: {
        ASSERT_TRUE(st.holds<std::vector<std::uint64_t>>()) << st.type_name();
        const auto seq = claim(s, 2);
        const auto words = w_.recv<std::vector<std::uint64_t>>(s, 2);
        EXPECT_EQ(st.bytes(), words.size() * 8);
        if (seq)
          check_bytes(s, 2, *seq, reinterpret_cast<const std::uint8_t*>(words.data()),
                      words.size() * 8);
        break;
      }
      case done_tag: {
        (void)w_.recv<int>(s, done_tag);
        EXPECT_FALSE(done_from_[static_cast<std::size_t>(s)]) << "two end tokens from rank " << s;
        done_from_[static_cast<std::size_t>(s)] = true;
        break;
      }
      default:
        ADD_FAILURE() << "unexpected tag " << st.tag() << " from rank " << s;
        (void)w_.recv<int>(s, st.tag());  // will throw type_mismatch if it is no int
    }
  }

  communicator& w_;
  std::vector<std::vector<std::vector<std::size_t>>> expected_;  // [sender][tag][seq] = size
  std::vector<std::vector<std::uint32_t>> next_;  // [sender][tag] = next seq to claim
  std::vector<bool> done_from_;
  std::deque<std::unique_ptr<posted>> posted_;
  std::size_t outstanding_ = 0;
  std::size_t received_ = 0;
  std::size_t bytes_ = 0;
};

TEST(p2p_flood, every_message_arrives_once_intact_and_in_order) {
  communicator& w = test_world();
  const int me = w.rank();
  ASSERT_GE(w.size(), 2) << "the flood needs at least 2 ranks";
  flood_receiver in(w);
  const std::vector<planned> plan = plan_of(me, w.size());
  std::mt19937 rng(static_cast<unsigned>(me) + 17);

  std::deque<request> sends;
  std::size_t k = 0;
  for (const planned& p : plan) {
    const int tag = p.tag;
    std::vector<std::uint8_t> bytes = content(me, p.dest, tag, p.seq, p.size);
    if (tag == 1) {
      stamped m{p.seq, me, checksum(bytes.data(), bytes.size()), std::move(bytes)};
      if (p.how == 2)
        sends.push_back(w.isend(p.dest, tag, m));
      else
        w.send(p.dest, tag, m);
    } else if (tag == 2) {
      std::vector<std::uint64_t> words(p.size / 8);
      if (!words.empty()) std::memcpy(words.data(), bytes.data(), p.size);
      if (p.how == 0)
        w.send(p.dest, tag, words);
      else if (p.how == 1)
        w.send(p.dest, tag, std::move(words));
      else
        sends.push_back(w.isend(p.dest, tag, std::move(words)));
    } else {
      if (p.how == 0)
        w.send(p.dest, tag, bytes);
      else if (p.how == 1)
        w.send(p.dest, tag, std::move(bytes));
      else
        sends.push_back(w.isend(p.dest, tag, bytes));
    }
    // Interleave: receive what has come, sometimes post an irecv, retire finished isends.
    if (++k % 3 == 0) in.drain(false);
    if (k % 7 == 0) in.post_irecv(static_cast<int>(rng() % static_cast<unsigned>(w.size())));
    while (!sends.empty() && sends.front().test()) sends.pop_front();
    if (testing::Test::HasFatalFailure()) return;
  }
  std::vector<request> rest(sends.begin(), sends.end());
  parrun::wait_all(rest);
  for (int d = 0; d < w.size(); ++d)
    if (d != me) w.send(d, done_tag, me);
  in.finish_posted();
  while (in.outstanding() > 0 || !in.all_done_tokens()) {
    in.drain(true);
    if (testing::Test::HasFatalFailure()) return;
  }
  in.verify_complete();
  // The tokens came after everything each sender sent here: nothing else may be waiting.
  for (int s = 0; s < w.size(); ++s)
    if (const auto st = w.iprobe(s, any_tag))
      ADD_FAILURE() << "rank " << me << ": an extra message from rank " << s << " with tag "
                    << st->tag();
  std::printf("rank %d received %zu messages, %.1f MiB\n", me, in.received(),
              static_cast<double>(in.bytes()) / (1 << 20));
}

}  // namespace
