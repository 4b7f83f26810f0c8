// The matcher (runtime/matching/matcher.hpp), without processes: frames that arrive before a
// receive wait in the unexpected queue, receives posted first are filled on arrival, the earliest
// match wins on both sides, wildcards work (any_tag only for user tags), contexts never mix, and
// a cancelled receive takes nothing.
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
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

}  // namespace
