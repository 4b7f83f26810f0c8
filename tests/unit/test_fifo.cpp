// The channel's arrival queue (runtime/channels/fifo.hpp): first in, first out across wrap-around
// and growth, and a popped slot lets go of what it held at once.
#include <cstddef>
#include <deque>
#include <memory>
#include <random>

#include <gtest/gtest.h>

#include "channels/fifo.hpp"

namespace {

using parrun::detail::fifo;

TEST(fifo, keeps_order_through_wrap_around_and_growth) {
  fifo<int> q;
  std::deque<int> model;
  std::mt19937 rng(7);
  int next = 0;
  for (int step = 0; step < 20000; ++step) {
    // Bursts of pushes (growth) and of pops (the head wraps past the end).
    const bool push = model.empty() || std::uniform_int_distribution<int>(0, 99)(rng) <
                                           (step / 2000 % 2 == 0 ? 70 : 35);
    if (push) {
      q.push_back(int{next});
      model.push_back(next++);
    } else {
      ASSERT_FALSE(q.empty());
      ASSERT_EQ(q.front(), model.front()) << "step " << step;
      q.pop_front();
      model.pop_front();
    }
    ASSERT_EQ(q.size(), model.size());
    ASSERT_EQ(q.empty(), model.empty());
  }
  while (!model.empty()) {
    ASSERT_EQ(q.front(), model.front());
    q.pop_front();
    model.pop_front();
  }
  EXPECT_TRUE(q.empty());
}

TEST(fifo, a_popped_value_is_released_at_once) {
  fifo<std::shared_ptr<int>> q;
  auto held = std::make_shared<int>(1);
  for (int i = 0; i < 20; ++i) q.push_back(std::shared_ptr<int>(held));  // grows twice
  EXPECT_EQ(held.use_count(), 21);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(*q.front(), 1);
    q.pop_front();
    EXPECT_EQ(held.use_count(), 20 - i);
  }
  EXPECT_TRUE(q.empty());
}

}  // namespace
