// The shared-memory lane without a job: its ring on its own, then two lanes in one process
// (rank 0 and rank 1 of a pretend job whose table gives both this process's pid), so that
// ordering, pipelining through a small ring, cross-memory attach, backpressure and the sleep
// announcements are checked directly. The same lane between processes is covered by the whole
// integration suite (it is the default lane on one host).
#include <unistd.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <parrun/errors.hpp>

#include "shm_pair.hpp"
#include "transport/router.hpp"
#include "transport/shm/ring.hpp"
#include "transport/shm/shm_lane.hpp"
#include "wireup/wireup.hpp"

namespace {

using namespace parrun::detail;

// ---- the ring ----------------------------------------------------------------------------------

struct segment {
  explicit segment(std::size_t capacity) : bytes(shm::header_bytes + capacity) {}
  std::vector<std::uint64_t> words_{};
  std::vector<std::byte> bytes;
  void* base() { return bytes.data(); }
};

TEST(shm_ring, records_come_out_in_order_across_many_wraps) {
  segment seg(4096);
  shm::ring_writer w(seg.base(), 4096);
  shm::ring_reader r(seg.base(), 4096);
  std::mt19937 rng(1);
  std::uint32_t written = 0;
  std::uint32_t read = 0;
  while (read < 5000) {
    // Write until full, with lengths 0..max, then read some.
    for (;;) {
      const std::size_t len = rng() % (w.max_length() + 1);
      const bool fits = w.fits(len);
      std::byte* at = w.reserve(len);
      ASSERT_EQ(fits, at != nullptr) << "fits() and reserve() disagree at length " << len;
      if (at == nullptr) break;
      std::memset(at, static_cast<int>(written & 0xff), len);
      if (len >= 4) std::memcpy(at, &written, 4);
      w.commit(len, shm::record_kind::chunk);
      ++written;
    }
    const std::uint32_t take = 1 + rng() % 8;
    for (std::uint32_t i = 0; i < take && read < written; ++i) {
      shm::ring_reader::record rec{};
      ASSERT_EQ(r.next(rec), shm::ring_reader::status::ready);
      EXPECT_EQ(rec.kind, shm::record_kind::chunk);
      if (rec.length >= 4) {
        std::uint32_t seq = 0;
        std::memcpy(&seq, rec.data, 4);
        ASSERT_EQ(seq, read);
      }
      for (std::size_t b = 4; b < rec.length; ++b) ASSERT_EQ(rec.data[b], static_cast<std::byte>(read & 0xff));
      r.pop();
      ++read;
    }
  }
}

TEST(shm_ring, an_empty_ring_always_takes_the_longest_record) {
  segment seg(4096);
  shm::ring_writer w(seg.base(), 4096);
  shm::ring_reader r(seg.base(), 4096);
  for (std::size_t offset = 8; offset < 4096; offset += 8 * 37) {
    // Move the ring's position, empty it, then the longest record must fit whatever the position.
    std::byte* at = w.reserve(offset % w.max_length());
    ASSERT_NE(at, nullptr);
    w.commit(offset % w.max_length(), shm::record_kind::chunk);
    shm::ring_reader::record rec{};
    ASSERT_EQ(r.next(rec), shm::ring_reader::status::ready);
    r.pop();
    ASSERT_NE(w.reserve(w.max_length()), nullptr) << "at offset " << offset;
    w.commit(w.max_length(), shm::record_kind::chunk);
    ASSERT_EQ(r.next(rec), shm::ring_reader::status::ready);
    EXPECT_EQ(rec.length, w.max_length());
    r.pop();
  }
}

TEST(shm_ring, impossible_indices_and_lengths_are_reported_not_followed) {
  segment seg(4096);
  shm::ring_writer w(seg.base(), 4096);
  auto* h = static_cast<shm::ring_header*>(seg.base());
  shm::ring_reader::record rec{};
  {
    shm::ring_reader r(seg.base(), 4096);
    h->head.store(8192);  // more published than the ring holds
    EXPECT_EQ(r.next(rec), shm::ring_reader::status::corrupt);
  }
  {
    shm::ring_reader r(seg.base(), 4096);
    h->head.store(16);
    const std::uint32_t huge = 1u << 30;
    std::memcpy(seg.bytes.data() + shm::header_bytes, &huge, 4);  // a record longer than the ring
    EXPECT_EQ(r.next(rec), shm::ring_reader::status::corrupt);
  }
  {
    shm::ring_reader r(seg.base(), 4096);
    const std::uint32_t len = 0;
    const std::uint32_t kind = 99;
    std::memcpy(seg.bytes.data() + shm::header_bytes, &len, 4);
    std::memcpy(seg.bytes.data() + shm::header_bytes + 4, &kind, 4);
    h->head.store(8);
    EXPECT_EQ(r.next(rec), shm::ring_reader::status::corrupt);
  }
  (void)w;
}

// ---- two lanes in one process ------------------------------------------------------------------

struct collecting_sink final : frame_sink {
  std::vector<frame> frames;
  void on_frame(frame&& f) override { frames.push_back(std::move(f)); }
  void on_control(std::string&&) override {}
};

owned_bytes pattern(std::size_t size, std::uint32_t seed) {
  owned_bytes b;
  std::byte* p = b.grow(size);
  std::mt19937 rng(seed);
  for (std::size_t i = 0; i < size; ++i) p[i] = static_cast<std::byte>(rng());
  return b;
}

bool same_pattern(const payload& p, std::size_t size, std::uint32_t seed) {
  if (p.size() != size) return false;
  std::mt19937 rng(seed);
  for (std::size_t i = 0; i < size; ++i)
    if (p.data()[i] != static_cast<std::byte>(rng())) return false;
  return true;
}

// Starts `a` as rank 0 and `b` as rank 1 of a pretend job whose ranks are both this process.
void start_pair(shm_lane& a, shm_lane& b, const std::string& dir, std::uint64_t ring_bytes, bool direct) {
  a.start(parrun::test::pair_options(dir, 0, ring_bytes, direct));
  b.start(parrun::test::pair_options(dir, 1, ring_bytes, direct));
}

struct lane_pair {
  parrun::test::private_dir dir;
  shm_lane a{dir.path.string(), 0};
  shm_lane b{dir.path.string(), 1};
  collecting_sink at_a;
  collecting_sink at_b;

  explicit lane_pair(std::uint64_t ring_bytes, bool direct) { start_pair(a, b, dir.path.string(), ring_bytes, direct); }
  // Moves frames until `done` or 10 s pass (both lanes drained in turn, as two processes would).
  template <class Done>
  bool pump(Done done) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      a.tend();
      a.drain(at_a);
      b.tend();
      b.drain(at_b);
    }
    return true;
  }
};

envelope env_for(std::uint32_t seq) {
  envelope e;
  e.tag = static_cast<std::int32_t>(seq);
  e.world_source = 0;
  e.type = 1;
  return e;
}

void send_sizes_and_check(std::uint64_t ring_bytes, bool direct, const std::vector<std::size_t>& sizes) {
  lane_pair lanes(ring_bytes, direct);
  std::vector<std::uint64_t> tickets;
  for (std::uint32_t i = 0; i < sizes.size(); ++i) tickets.push_back(lanes.a.post(1, env_for(i), pattern(sizes[i], i)));
  ASSERT_TRUE(lanes.pump([&] { return lanes.at_b.frames.size() == sizes.size(); }))
      << lanes.at_b.frames.size() << " of " << sizes.size() << " arrived; " << lanes.a.stuck();
  for (std::uint32_t i = 0; i < sizes.size(); ++i) {
    EXPECT_EQ(lanes.at_b.frames[i].env.tag, static_cast<std::int32_t>(i)) << "out of order";
    EXPECT_TRUE(same_pattern(lanes.at_b.frames[i].body, sizes[i], i)) << "frame " << i << " of " << sizes[i] << " bytes";
  }
  ASSERT_TRUE(lanes.pump([&] { return lanes.a.taken(1, tickets.back()); }));
  EXPECT_EQ(lanes.a.stuck(), "");
  EXPECT_EQ(lanes.a.direct_to(1), direct) << "cross-memory attach within one process is always allowed";
}

TEST(shm_lane, frames_of_every_size_arrive_in_order_intact_by_direct_copy) {
  send_sizes_and_check(256 * 1024, true, {0, 1, 8, 1000, 64 * 1024 - 1, 64 * 1024, 300 * 1024, 4 << 20, 3, 0});
}

TEST(shm_lane, frames_larger_than_the_ring_pipeline_through_it) {
  send_sizes_and_check(4096, false, {0, 1, 2000, 2100, 5000, 100 * 1024, 1 << 20, 7, 4096, 0});
}

TEST(shm_lane, a_full_ring_queues_without_blocking_and_drains_in_order) {
  lane_pair lanes(4096, false);
  std::vector<std::uint64_t> tickets;
  for (std::uint32_t i = 0; i < 200; ++i) tickets.push_back(lanes.a.post(1, env_for(i), pattern(100, i)));
  EXPECT_FALSE(lanes.a.taken(1, tickets.back())) << "200 frames of 100 bytes cannot all fit 4 KiB";
  EXPECT_NE(lanes.a.stuck().find("queued for rank 1"), std::string::npos) << lanes.a.stuck();
  ASSERT_TRUE(lanes.pump([&] { return lanes.at_b.frames.size() == 200; }));
  for (std::uint32_t i = 0; i < 200; ++i) ASSERT_TRUE(same_pattern(lanes.at_b.frames[i].body, 100, i));
}

TEST(shm_lane, a_receiver_that_has_frames_waiting_does_not_go_to_sleep) {
  lane_pair lanes(64 * 1024, true);
  lanes.a.post(1, env_for(0), pattern(10, 0));
  ASSERT_TRUE(lanes.pump([&] { return lanes.at_b.frames.size() == 1; }));  // connected both ways
  EXPECT_TRUE(lanes.b.prepare_sleep()) << "nothing is pending";
  lanes.b.end_sleep();
  lanes.a.post(1, env_for(1), pattern(10, 1));
  EXPECT_FALSE(lanes.b.prepare_sleep()) << "a frame is in the ring";
  lanes.b.drain(lanes.at_b);  // the ring is known already: no tend() needed
  EXPECT_EQ(lanes.at_b.frames.size(), 2u);
  EXPECT_TRUE(lanes.b.prepare_sleep());
  lanes.b.end_sleep();
}

TEST(shm_lane, both_directions_at_once) {
  lane_pair lanes(4096, true);
  for (std::uint32_t i = 0; i < 300; ++i) {
    lanes.a.post(1, env_for(i), pattern(i * 37 % 9000, i));
    envelope e = env_for(i);
    e.world_source = 1;
    lanes.b.post(0, e, pattern(i * 53 % 9000, i + 1000));
  }
  ASSERT_TRUE(lanes.pump([&] { return lanes.at_b.frames.size() == 300 && lanes.at_a.frames.size() == 300; }));
  for (std::uint32_t i = 0; i < 300; ++i) {
    ASSERT_TRUE(same_pattern(lanes.at_b.frames[i].body, i * 37 % 9000, i));
    ASSERT_TRUE(same_pattern(lanes.at_a.frames[i].body, i * 53 % 9000, i + 1000));
  }
}

TEST(shm_lane, the_router_does_not_sleep_over_a_send_its_drain_completed) {
  // Found by the blocked-send test: a drain that moved queued frames into the ring but delivered
  // none made the router sleep, with the send it was waiting for already done.
  parrun::test::private_dir dir;
  auto owned = std::make_unique<shm_lane>(dir.path.string(), 0);
  shm_lane& a = *owned;
  shm_lane b(dir.path.string(), 1);
  start_pair(a, b, dir.path.string(), 4096, true);
  std::vector<std::unique_ptr<lane>> lanes;
  lanes.push_back(std::move(owned));
  router route(std::move(lanes), {-1, 0}, nullptr);
  collecting_sink at_a;
  collecting_sink at_b;
  std::uint64_t last = 0;
  for (std::uint32_t i = 0; i < 10; ++i) last = route.post(1, env_for(i), pattern(1000, i));
  ASSERT_FALSE(route.taken(1, last)) << "10 KB cannot fit a 4 KiB ring";
  while (!route.taken(1, last)) {
    b.tend();
    b.drain(at_b);  // room frees up, but nobody rings rank 0: it never went to sleep
    const auto t0 = std::chrono::steady_clock::now();
    route.progress(std::chrono::milliseconds(5000), at_a);
    ASSERT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2))
        << "progress slept although its drain sent queued frames";
  }
  while (at_b.frames.size() < 10) {
    b.tend();
    b.drain(at_b);
  }
}

TEST(shm_lane, a_frame_that_claims_another_sender_is_dropped) {
  lane_pair lanes(64 * 1024, true);
  envelope forged = env_for(0);
  forged.world_source = 5;
  lanes.a.post(1, forged, pattern(10, 0));
  lanes.a.post(1, env_for(1), pattern(10, 1));
  ASSERT_TRUE(lanes.pump([&] { return lanes.at_b.frames.size() == 1; }));
  EXPECT_EQ(lanes.at_b.frames[0].env.tag, 1);
}

// ---- which lane serves a peer ------------------------------------------------------------------

TEST(choose_lane, shared_memory_on_this_host_zmq_elsewhere_and_what_is_forced) {
  EXPECT_EQ(choose_lane("auto", "h1", 1, "node1", "h1", true, true), "shm");
  EXPECT_EQ(choose_lane("auto", "h1", 1, "node2", "h2", true, true), "zmq");
  EXPECT_EQ(choose_lane("auto", "h1", 1, "node1", "h1", false, true), "zmq");
  EXPECT_EQ(choose_lane("zmq", "h1", 1, "node1", "h1", true, true), "zmq");
  EXPECT_EQ(choose_lane("shm", "h1", 1, "node1", "h1", true, false), "shm");
  try {
    choose_lane("shm", "h1", 3, "node2", "h2", true, true);
    ADD_FAILURE() << "shm cannot reach another host";
  } catch (const parrun::usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 3 runs on another host (node2)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(choose_lane("auto", "h1", 2, "node2", "h2", true, false), parrun::transport_error);
}

TEST(this_host_id, names_the_machine_and_network_namespace) {
  const std::string id = this_host_id();
  EXPECT_EQ(id, this_host_id());
  EXPECT_NE(id.find("net:["), std::string::npos) << id;
}

}  // namespace
