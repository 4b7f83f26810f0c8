// The matcher (runtime/matching/matcher.hpp), without processes: frames that arrive before a
// receive wait in the unexpected queue, receives posted first are filled on arrival, the earliest
// match wins on both sides, wildcards work (any_tag only for user tags), contexts never mix, and
// a cancelled receive takes nothing. Mixed exact and wildcard receives keep arrival and posting
// order, put_back restores arrival order, and random operation sequences agree with a plain
// scan of one list (what the matcher's indexes replace).
#include <cstdint>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include <parrun/status.hpp>

#include "matching/matcher.hpp"

namespace {

using parrun::any_source;
using parrun::any_tag;
using parrun::detail::envelope;
using parrun::detail::frame;
using parrun::detail::match_key;
using parrun::detail::matcher;
using parrun::detail::payload;
using parrun::detail::posted_receive;

constexpr std::uint64_t world = 0;

// A frame whose payload is one int, `seq`, so tests can tell frames apart.
frame make_frame(std::uint64_t context, int source, int tag, int seq) {
  auto owner = std::make_shared<int>(seq);
  const auto* data = reinterpret_cast<const std::byte*>(owner.get());
  return frame{envelope{context, 0, tag, source, 0, static_cast<std::uint32_t>(source)},
               payload(data, sizeof(int), owner)};
}

int seq_of(const frame& f) {
  EXPECT_EQ(f.body.size(), sizeof(int));
  return *reinterpret_cast<const int*>(f.body.data());
}

int seq_of(const std::optional<frame>& f) {
  EXPECT_TRUE(f.has_value());
  return f ? seq_of(*f) : -1;
}

int seq_of(const frame* f) {
  EXPECT_NE(f, nullptr);
  return f != nullptr ? seq_of(*f) : -1;
}

posted_receive receive(std::uint64_t context, int source, int tag) {
  return posted_receive{match_key{context, source, tag}, std::nullopt};
}

TEST(matcher, frame_without_a_receive_waits_in_the_unexpected_queue) {
  matcher m;
  m.deliver(make_frame(world, 1, 5, 100));
  ASSERT_EQ(m.unexpected().size(), 1u);
  auto r = receive(world, 1, 5);
  EXPECT_TRUE(m.post(r));  // matched at once
  EXPECT_EQ(seq_of(r.matched), 100);
  EXPECT_TRUE(m.unexpected().empty());
}

TEST(matcher, posted_receive_is_filled_when_its_frame_arrives) {
  matcher m;
  auto r = receive(world, 2, 7);
  EXPECT_FALSE(m.post(r));
  EXPECT_FALSE(r.matched);
  m.deliver(make_frame(world, 2, 8, 1));  // wrong tag: queued
  m.deliver(make_frame(world, 3, 7, 2));  // wrong source: queued
  EXPECT_FALSE(r.matched);
  EXPECT_EQ(m.unexpected().size(), 2u);
  m.deliver(make_frame(world, 2, 7, 3));
  EXPECT_EQ(seq_of(r.matched), 3);
  EXPECT_EQ(m.unexpected().size(), 2u);  // the match did not go through the queue
  // Once matched, the receive is no longer posted: the next frame is unexpected.
  m.deliver(make_frame(world, 2, 7, 4));
  EXPECT_EQ(seq_of(r.matched), 3);
  EXPECT_EQ(m.unexpected().size(), 3u);
}

TEST(matcher, new_receive_takes_the_earliest_matching_unexpected_frame) {
  matcher m;
  m.deliver(make_frame(world, 1, 0, 10));
  m.deliver(make_frame(world, 1, 1, 11));
  m.deliver(make_frame(world, 1, 0, 12));
  m.deliver(make_frame(world, 1, 1, 13));
  // A receive for tag 1 skips the earlier tag-0 frame, and takes the first tag-1 frame.
  auto r1 = receive(world, 1, 1);
  ASSERT_TRUE(m.post(r1));
  EXPECT_EQ(seq_of(r1.matched), 11);
  auto r2 = receive(world, 1, 1);
  ASSERT_TRUE(m.post(r2));
  EXPECT_EQ(seq_of(r2.matched), 13);
  auto r3 = receive(world, 1, 0);
  ASSERT_TRUE(m.post(r3));
  EXPECT_EQ(seq_of(r3.matched), 10);
  auto r4 = receive(world, 1, 0);
  ASSERT_TRUE(m.post(r4));
  EXPECT_EQ(seq_of(r4.matched), 12);
  EXPECT_TRUE(m.unexpected().empty());
}

TEST(matcher, arriving_frame_goes_to_the_earliest_matching_posted_receive) {
  matcher m;
  auto wildcard = receive(world, any_source, any_tag);
  auto specific = receive(world, 4, 9);
  auto wildcard2 = receive(world, any_source, any_tag);
  EXPECT_FALSE(m.post(wildcard));
  EXPECT_FALSE(m.post(specific));
  EXPECT_FALSE(m.post(wildcard2));
  m.deliver(make_frame(world, 4, 9, 1));
  EXPECT_EQ(seq_of(wildcard.matched), 1);  // posted first, so it wins although less specific
  EXPECT_FALSE(specific.matched);
  m.deliver(make_frame(world, 4, 9, 2));
  EXPECT_EQ(seq_of(specific.matched), 2);
  EXPECT_FALSE(wildcard2.matched);
  m.deliver(make_frame(world, 5, 3, 3));
  EXPECT_EQ(seq_of(wildcard2.matched), 3);
  EXPECT_TRUE(m.unexpected().empty());
}

TEST(matcher, frames_from_one_sender_match_in_arrival_order) {
  matcher m;
  for (int i = 0; i < 100; ++i) m.deliver(make_frame(world, 3, i % 3, i));
  for (int tag : {2, 0, 1}) {
    int last = -1;
    for (int k = 0; k < 100; ++k) {
      if (k % 3 != tag) continue;
      auto r = receive(world, 3, tag);
      ASSERT_TRUE(m.post(r));
      const int seq = seq_of(r.matched);
      EXPECT_EQ(seq % 3, tag);
      EXPECT_GT(seq, last);
      EXPECT_EQ(seq, k);
      last = seq;
    }
  }
  EXPECT_TRUE(m.unexpected().empty());
}

TEST(matcher, wildcards_match_in_arrival_order) {
  matcher m;
  m.deliver(make_frame(world, 2, 5, 0));
  m.deliver(make_frame(world, 1, 6, 1));
  m.deliver(make_frame(world, 2, 7, 2));
  m.deliver(make_frame(world, 3, 5, 3));

  auto any_from_2 = receive(world, 2, any_tag);
  ASSERT_TRUE(m.post(any_from_2));
  EXPECT_EQ(seq_of(any_from_2.matched), 0);
  auto tag5_from_anyone = receive(world, any_source, 5);
  ASSERT_TRUE(m.post(tag5_from_anyone));
  EXPECT_EQ(seq_of(tag5_from_anyone.matched), 3);
  auto anything = receive(world, any_source, any_tag);
  ASSERT_TRUE(m.post(anything));
  EXPECT_EQ(seq_of(anything.matched), 1);
  auto anything2 = receive(world, any_source, any_tag);
  ASSERT_TRUE(m.post(anything2));
  EXPECT_EQ(seq_of(anything2.matched), 2);
  EXPECT_TRUE(m.unexpected().empty());
}

TEST(matcher, any_tag_does_not_match_negative_tags) {
  // Negative tags are the runtime's own (flush, collectives); a user wildcard never sees them.
  matcher m;
  m.deliver(make_frame(world, 1, -2, 2));
  m.deliver(make_frame(world, 1, -3, 3));
  auto r = receive(world, any_source, any_tag);
  EXPECT_FALSE(m.post(r));
  auto r2 = receive(world, 1, any_tag);
  EXPECT_FALSE(m.post(r2));
  m.deliver(make_frame(world, 1, -7, 7));
  m.deliver(make_frame(world, 1, std::numeric_limits<std::int32_t>::min(), 8));
  EXPECT_FALSE(r.matched);
  EXPECT_FALSE(r2.matched);
  m.deliver(make_frame(world, 1, 0, 4));
  EXPECT_EQ(seq_of(r.matched), 4);
  m.cancel(r2);
  // A receive naming a negative tag exactly does match it.
  auto exact = receive(world, 1, -3);
  ASSERT_TRUE(m.post(exact));
  EXPECT_EQ(seq_of(exact.matched), 3);
  EXPECT_EQ(m.unexpected().size(), 3u);
  EXPECT_EQ(m.find(match_key{world, any_source, any_tag}), nullptr);
  EXPECT_EQ(m.find(match_key{world, 1, any_tag}), nullptr);
}

TEST(matcher, any_tag_does_not_match_tag_minus_one) {
  // -1 is any_tag's own value, and the engine's FIN tag.
  const envelope minus_one{world, 0, -1, 1, 0, 1};
  EXPECT_FALSE(parrun::detail::matches(match_key{world, any_source, any_tag}, minus_one));
  matcher m;
  m.deliver(make_frame(world, 1, -1, 1));
  auto r = receive(world, any_source, any_tag);
  EXPECT_FALSE(m.post(r));
  m.cancel(r);
  EXPECT_EQ(m.unexpected().size(), 1u);
}

TEST(matcher, contexts_are_isolated) {
  matcher m;
  const std::uint64_t other = 4, collective = 1;
  m.deliver(make_frame(other, 1, 3, 1));
  m.deliver(make_frame(collective, 1, 3, 2));
  auto r = receive(world, any_source, any_tag);
  EXPECT_FALSE(m.post(r));
  m.deliver(make_frame(other, 1, 3, 3));
  EXPECT_FALSE(r.matched);
  m.deliver(make_frame(world, 1, 3, 4));
  EXPECT_EQ(seq_of(r.matched), 4);

  auto in_other = receive(other, 1, 3);
  ASSERT_TRUE(m.post(in_other));
  EXPECT_EQ(seq_of(in_other.matched), 1);
  EXPECT_EQ(m.find(match_key{world, 1, 3}), nullptr);
  const frame* f = m.find(match_key{collective, any_source, any_tag});
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(seq_of(*f), 2);
}

TEST(matcher, cancelled_receive_takes_nothing) {
  matcher m;
  auto first = receive(world, 1, 2);
  auto second = receive(world, 1, 2);
  EXPECT_FALSE(m.post(first));
  EXPECT_FALSE(m.post(second));
  m.cancel(first);
  m.deliver(make_frame(world, 1, 2, 1));
  EXPECT_FALSE(first.matched);
  EXPECT_EQ(seq_of(second.matched), 1);
  auto third = receive(world, 1, 2);
  EXPECT_FALSE(m.post(third));
  m.cancel(third);
  m.deliver(make_frame(world, 1, 2, 2));
  EXPECT_FALSE(third.matched);
  ASSERT_EQ(m.unexpected().size(), 1u);
  EXPECT_EQ(seq_of(m.unexpected().front()), 2);
  // Cancelling twice, or cancelling a receive that was never posted, is harmless.
  m.cancel(third);
  auto never = receive(world, 0, 0);
  m.cancel(never);
  EXPECT_EQ(m.unexpected().size(), 1u);
}

TEST(matcher, find_leaves_the_frame_and_take_removes_the_earliest) {
  matcher m;
  EXPECT_EQ(m.find(match_key{world, any_source, any_tag}), nullptr);
  EXPECT_FALSE(m.take(match_key{world, any_source, any_tag}));
  m.deliver(make_frame(world, 1, 1, 1));
  m.deliver(make_frame(world, 2, 1, 2));
  m.deliver(make_frame(world, 1, 1, 3));
  const frame* f = m.find(match_key{world, 1, 1});
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(seq_of(*f), 1);
  EXPECT_EQ(m.unexpected().size(), 3u);
  EXPECT_EQ(seq_of(m.find(match_key{world, any_source, 1})), 1);  // same frame again
  EXPECT_EQ(seq_of(m.take(match_key{world, 1, 1})), 1);
  EXPECT_EQ(seq_of(m.take(match_key{world, 1, 1})), 3);
  EXPECT_FALSE(m.take(match_key{world, 1, 1}));
  EXPECT_EQ(seq_of(m.take(match_key{world, any_source, any_tag})), 2);
  EXPECT_TRUE(m.unexpected().empty());
}

TEST(matcher, payload_outlives_the_queue) {
  // The bytes of a taken frame stay valid after the matcher forgets it.
  std::optional<frame> kept;
  {
    matcher m;
    m.deliver(make_frame(world, 1, 1, 77));
    kept = m.take(match_key{world, 1, 1});
  }
  EXPECT_EQ(seq_of(kept), 77);
}

// --- mixed exact and wildcard receives, put_back, remove_if ------------------------------------

std::vector<int> seqs_of(const matcher& m) {
  std::vector<int> out;
  for (const frame& f : m.unexpected()) out.push_back(seq_of(f));
  return out;
}

TEST(matcher, each_frame_goes_to_the_earliest_posted_receive_of_any_kind_that_matches) {
  matcher m;
  auto exact = receive(world, 1, 5);
  auto from_anyone = receive(world, any_source, 5);
  auto any_tag_from_1 = receive(world, 1, any_tag);
  auto anything = receive(world, any_source, any_tag);
  auto exact2 = receive(world, 1, 5);
  auto other_tag = receive(world, 2, 6);
  for (posted_receive* r : {&exact, &from_anyone, &any_tag_from_1, &anything, &exact2, &other_tag})
    EXPECT_FALSE(m.post(*r));

  m.deliver(make_frame(world, 2, 5, 1));  // from 2, tag 5: from_anyone is the earliest that matches
  EXPECT_EQ(seq_of(from_anyone.matched), 1);
  m.deliver(make_frame(world, 2, 7, 2));  // only anything matches
  EXPECT_EQ(seq_of(anything.matched), 2);
  m.deliver(make_frame(world, 1, 5, 3));  // exact, posted first
  EXPECT_EQ(seq_of(exact.matched), 3);
  m.deliver(make_frame(world, 1, 5, 4));  // any_tag_from_1 was posted before exact2
  EXPECT_EQ(seq_of(any_tag_from_1.matched), 4);
  m.deliver(make_frame(world, 2, 6, 5));
  EXPECT_EQ(seq_of(other_tag.matched), 5);
  m.deliver(make_frame(world, 2, 5, 6));  // nobody left for it
  EXPECT_FALSE(exact2.matched);
  m.deliver(make_frame(world, 1, 5, 7));
  EXPECT_EQ(seq_of(exact2.matched), 7);
  EXPECT_EQ(seqs_of(m), (std::vector<int>{6}));
}

TEST(matcher, a_cancelled_wildcard_no_longer_takes_frames_from_later_receives) {
  matcher m;
  auto anything = receive(world, any_source, any_tag);
  auto exact = receive(world, 3, 1);
  EXPECT_FALSE(m.post(anything));
  EXPECT_FALSE(m.post(exact));
  m.cancel(anything);
  m.deliver(make_frame(world, 3, 1, 1));
  EXPECT_FALSE(anything.matched);
  EXPECT_EQ(seq_of(exact.matched), 1);
  // With no wildcard posted, wildcard frames wait as usual.
  m.deliver(make_frame(world, 4, 4, 2));
  EXPECT_EQ(m.unexpected().size(), 1u);
}

TEST(matcher, receives_of_every_kind_take_the_earliest_unexpected_frame_they_match) {
  matcher m;
  // Three senders, two tags, interleaved, and a frame of another context.
  int seq = 0;
  for (int round = 0; round < 20; ++round)
    for (int source : {0, 1, 2})
      for (int tag : {0, 1}) m.deliver(make_frame(world, source, tag, seq++));
  m.deliver(make_frame(world + 9, 0, 0, 1000));
  // Frames arrived in seq order, so "earliest" is the smallest seq a key matches.
  auto earliest = [&](const match_key& k) {
    int best = -1;
    for (const frame& f : m.unexpected())
      if (parrun::detail::matches(k, f.env)) {
        best = seq_of(f);
        break;
      }
    return best;
  };
  const match_key keys[] = {{world, 1, 1},          {world, 1, any_tag},
                            {world, any_source, 1}, {world, any_source, any_tag},
                            {world, 2, 0},          {world, 0, any_tag}};
  int taken = 0;
  for (int i = 0; taken < 120; ++i) {
    const match_key k = keys[i % 6];
    const int want = earliest(k);
    const frame* found = m.find(k);
    if (want < 0) {
      EXPECT_EQ(found, nullptr);
      EXPECT_FALSE(m.take(k));
      continue;
    }
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(seq_of(*found), want);
    auto r = receive(k.context, k.source, k.tag);
    ASSERT_TRUE(m.post(r));
    EXPECT_EQ(seq_of(r.matched), want) << "key (" << k.source << ", " << k.tag << ")";
    ++taken;
  }
  ASSERT_EQ(m.unexpected().size(), 1u);
  EXPECT_EQ(seq_of(m.unexpected().front()), 1000);
}

TEST(matcher, put_back_restores_the_arrival_position_for_every_kind_of_receive) {
  matcher m;
  for (int i = 0; i < 6; ++i) m.deliver(make_frame(world, i % 2, 3, i));
  // Take 2 and 4 (source 0), then 1 (source 1); put them back in another order.
  std::optional<frame> f0 = m.take(match_key{world, 0, 3});
  std::optional<frame> f2 = m.take(match_key{world, 0, 3});
  std::optional<frame> f1 = m.take(match_key{world, any_source, 3});
  ASSERT_TRUE(f0 && f1 && f2);
  EXPECT_EQ(seq_of(*f0), 0);
  EXPECT_EQ(seq_of(*f2), 2);
  EXPECT_EQ(seq_of(*f1), 1);
  EXPECT_EQ(seqs_of(m), (std::vector<int>{3, 4, 5}));
  m.put_back(std::move(*f2));
  m.put_back(std::move(*f0));
  m.put_back(std::move(*f1));
  EXPECT_EQ(seqs_of(m), (std::vector<int>{0, 1, 2, 3, 4, 5}));
  // Every index sees the restored order.
  EXPECT_EQ(seq_of(m.take(match_key{world, 1, 3})), 1);
  EXPECT_EQ(seq_of(m.take(match_key{world, any_source, 3})), 0);
  EXPECT_EQ(seq_of(m.take(match_key{world, 0, any_tag})), 2);
  EXPECT_EQ(seq_of(m.take(match_key{world, any_source, any_tag})), 3);
  EXPECT_EQ(seqs_of(m), (std::vector<int>{4, 5}));
}

TEST(matcher, a_frame_put_back_goes_to_a_receive_posted_while_it_was_away) {
  // A receive of the wrong type gave the frame back; a receive posted meanwhile gets it.
  matcher m;
  auto first = receive(world, 1, 4);
  EXPECT_FALSE(m.post(first));
  m.deliver(make_frame(world, 1, 4, 1));
  ASSERT_TRUE(first.matched);
  auto second = receive(world, any_source, 4);
  EXPECT_FALSE(m.post(second));  // the frame is held by `first`, not queued
  m.put_back(std::move(*first.matched));
  EXPECT_EQ(seq_of(second.matched), 1);
  EXPECT_TRUE(m.unexpected().empty());
}

TEST(matcher, remove_if_removes_only_what_it_says_and_the_rest_keeps_its_order) {
  matcher m;
  for (int i = 0; i < 30; ++i)
    m.deliver(make_frame(i % 3 == 0 ? world + 1 : world, i % 4, i % 2, i));
  const std::size_t removed =
      m.remove_if([](const frame& f) { return f.env.context == world + 1; });
  EXPECT_EQ(removed, 10u);
  std::vector<int> expected;
  for (int i = 0; i < 30; ++i)
    if (i % 3 != 0) expected.push_back(i);
  EXPECT_EQ(seqs_of(m), expected);
  EXPECT_EQ(m.unexpected().size(), expected.size());
  EXPECT_EQ(m.find(match_key{world + 1, any_source, any_tag}), nullptr);
  EXPECT_FALSE(m.take(match_key{world + 1, 0, 0}));
  // The indexes forgot the removed frames too: frames from source 0 with tag 0 in world were 4,
  // 8, 16, 20, 28 (those in context world + 1 are gone).
  std::vector<int> from0;
  while (auto f = m.take(match_key{world, 0, 0})) from0.push_back(seq_of(*f));
  EXPECT_EQ(from0, (std::vector<int>{4, 8, 16, 20, 28}));
  EXPECT_EQ(m.remove_if([](const frame&) { return false; }), 0u);
  EXPECT_EQ(m.remove_if([](const frame&) { return true; }), expected.size() - from0.size());
  EXPECT_TRUE(m.unexpected().empty());
  EXPECT_EQ(m.unexpected().begin(), m.unexpected().end());
}

TEST(matcher, many_distinct_tags_come_and_go) {
  // A collective's tag changes with every call: buckets are made and dropped all the time.
  matcher m;
  for (int round = 0; round < 3; ++round) {
    for (int tag = 0; tag < 5000; ++tag) m.deliver(make_frame(world, 1, tag, tag));
    for (int tag = 4999; tag >= 0; --tag) {
      auto r = receive(world, 1, tag);
      ASSERT_TRUE(m.post(r));
      ASSERT_EQ(seq_of(r.matched), tag);
    }
    EXPECT_TRUE(m.unexpected().empty());
    for (int tag = 0; tag < 5000; ++tag) {
      auto r = receive(world, any_source, tag);
      EXPECT_FALSE(m.post(r));
      m.deliver(make_frame(world, 2, tag, tag));
      ASSERT_EQ(seq_of(r.matched), tag);
    }
  }
  EXPECT_TRUE(m.unexpected().empty());
}

// The matcher's contract, written the obvious way (one list, scanned): the indexed matcher must
// give the same answers for any sequence of operations.
class reference_matcher {
 public:
  struct posted {
    int id;
    match_key key;
  };
  // Returns the id of the receive that took it, or -1 when queued.
  int deliver(frame f) {
    for (auto it = posted_.begin(); it != posted_.end(); ++it)
      if (parrun::detail::matches(it->key, f.env)) {
        const int id = it->id;
        posted_.erase(it);
        return id;
      }
    queue_.push_back(std::move(f));
    return -1;
  }
  int put_back(frame f) {
    for (auto it = posted_.begin(); it != posted_.end(); ++it)
      if (parrun::detail::matches(it->key, f.env)) {
        const int id = it->id;
        posted_.erase(it);
        return id;
      }
    auto at = queue_.begin();
    while (at != queue_.end() && at->arrival < f.arrival) ++at;
    queue_.insert(at, std::move(f));
    return -1;
  }
  std::optional<frame> take(const match_key& k) {
    for (auto it = queue_.begin(); it != queue_.end(); ++it)
      if (parrun::detail::matches(k, it->env)) {
        frame f = std::move(*it);
        queue_.erase(it);
        return f;
      }
    return std::nullopt;
  }
  const frame* find(const match_key& k) const {
    for (const frame& f : queue_)
      if (parrun::detail::matches(k, f.env)) return &f;
    return nullptr;
  }
  void post(int id, const match_key& k) { posted_.push_back({id, k}); }
  void cancel(int id) {
    for (auto it = posted_.begin(); it != posted_.end(); ++it)
      if (it->id == id) {
        posted_.erase(it);
        return;
      }
  }
  std::vector<frame> queue_;
  std::vector<posted> posted_;
};

TEST(matcher, agrees_with_a_plain_scan_over_random_operations) {
  std::mt19937 rng(20240);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int max_tag = 3;
  auto any_key = [&] {
    const int s = pick(0, 3);
    const int t = pick(-1, max_tag);  // -1 is any_tag
    return match_key{static_cast<std::uint64_t>(pick(0, 1)), s == 3 ? any_source : s, t};
  };
  for (int run = 0; run < 20; ++run) {
    max_tag = run % 2 == 0 ? 3 : 400;  // few keys, or enough that empty buckets are swept
    matcher m;
    reference_matcher ref;
    std::vector<std::unique_ptr<posted_receive>> receives;  // by id
    std::vector<bool> filled;                               // by id: it has its frame
    std::vector<frame> held;                                // taken, to put back later
    std::uint64_t arrivals = 0;
    int seq = 0;
    for (int step = 0; step < 3000; ++step) {
      const int op = pick(0, 9);
      if (op <= 3) {
        // Tags -2 (the runtime's own) and 0..3 from sources 0..2.
        const int tag = pick(0, 9) == 0 ? -2 : pick(0, max_tag);
        frame f = make_frame(static_cast<std::uint64_t>(pick(0, 1)), pick(0, 2), tag, seq++);
        frame g = make_frame(f.env.context, f.env.source, f.env.tag, seq_of(f));
        g.arrival = ++arrivals;
        const int taker = ref.deliver(std::move(g));
        m.deliver(std::move(f));
        if (taker >= 0) {
          posted_receive& r = *receives[static_cast<std::size_t>(taker)];
          ASSERT_TRUE(r.matched) << "step " << step;
          EXPECT_EQ(seq_of(*r.matched), seq - 1);
          filled[static_cast<std::size_t>(taker)] = true;
        }
      } else if (op == 4) {
        const match_key k = any_key();
        const int id = static_cast<int>(receives.size());
        receives.push_back(std::make_unique<posted_receive>(k));
        filled.push_back(false);
        std::optional<frame> expected = ref.take(k);
        const bool now = m.post(*receives.back());
        ASSERT_EQ(now, expected.has_value()) << "step " << step;
        if (now)
          EXPECT_EQ(seq_of(*receives.back()->matched), seq_of(*expected));
        else
          ref.post(id, k);
        filled.back() = now;
      } else if (op == 5 && !receives.empty()) {
        const auto id = static_cast<std::size_t>(pick(0, static_cast<int>(receives.size()) - 1));
        m.cancel(*receives[id]);
        ref.cancel(static_cast<int>(id));
      } else if (op == 6) {
        const match_key k = any_key();
        const frame* a = m.find(k);
        const frame* b = ref.find(k);
        ASSERT_EQ(a == nullptr, b == nullptr) << "step " << step;
        if (a != nullptr) {
          EXPECT_EQ(seq_of(*a), seq_of(*b));
        }
        std::optional<frame> ta = m.take(k);
        std::optional<frame> tb = ref.take(k);
        ASSERT_EQ(ta.has_value(), tb.has_value());
        if (ta) {
          EXPECT_EQ(seq_of(*ta), seq_of(*tb));
          if (pick(0, 1) == 0) held.push_back(std::move(*ta));
        }
      } else if (op == 7 && !held.empty()) {
        const auto i = static_cast<std::size_t>(pick(0, static_cast<int>(held.size()) - 1));
        frame f = std::move(held[i]);
        held.erase(held.begin() + static_cast<std::ptrdiff_t>(i));
        frame g = make_frame(f.env.context, f.env.source, f.env.tag, seq_of(f));
        g.arrival = f.arrival;
        const int taker = ref.put_back(std::move(g));
        const int s = seq_of(f);
        m.put_back(std::move(f));
        if (taker >= 0) {
          ASSERT_TRUE(receives[static_cast<std::size_t>(taker)]->matched);
          EXPECT_EQ(seq_of(*receives[static_cast<std::size_t>(taker)]->matched), s);
          filled[static_cast<std::size_t>(taker)] = true;
        }
      } else if (op == 8 && pick(0, 20) == 0) {
        const int source = pick(0, 2);
        const std::size_t a = m.remove_if([&](const frame& f) { return f.env.source == source; });
        const auto before = ref.queue_.size();
        std::erase_if(ref.queue_, [&](const frame& f) { return f.env.source == source; });
        EXPECT_EQ(a, before - ref.queue_.size());
      }
      // The queues agree, in order, and exactly the receives the reference filled are filled.
      for (std::size_t id = 0; id < receives.size(); ++id)
        ASSERT_EQ(receives[id]->matched.has_value(), filled[id])
            << "receive " << id << ", step " << step;
      ASSERT_EQ(m.unexpected().size(), ref.queue_.size()) << "step " << step;
      std::size_t i = 0;
      for (const frame& f : m.unexpected())
        ASSERT_EQ(seq_of(f), seq_of(ref.queue_[i++])) << "step " << step;
    }
    for (auto& r : receives) m.cancel(*r);
  }
}

}  // namespace
