// The engine, matching and finalize without processes: two engines in one process, each on its
// own thread, joined by real shared-memory lanes behind the router, with an in-process stand-in
// for the launcher's control service (the finalize protocol of parrun/wire.hpp: a rank's counts
// go to every other rank as peers_finished, then it is let go).
#include <sys/eventfd.h>
#include <unistd.h>

#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include <parrun/detail/type_id.hpp>
#include <parrun/wire.hpp>

#include "engine.hpp"
#include "shm_pair.hpp"
#include "transport/router.hpp"
#include "transport/shm/shm_lane.hpp"

namespace {

using namespace parrun::detail;

class fake_launcher;

// A rank's control channel to the fake launcher: what the launcher says waits in an inbox, and
// an eventfd wakes the rank's router when something is put there.
class fake_control final : public control_channel {
 public:
  fake_control(fake_launcher& l, int rank) : launcher_(l), rank_(rank), bell_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~fake_control() override { ::close(bell_); }
  void send(const std::string& bytes) override;
  void deliver(std::string bytes) {
    {
      std::lock_guard<std::mutex> hold(mutex_);
      inbox_.push_back(std::move(bytes));
    }
    const std::uint64_t one = 1;
    (void)::write(bell_, &one, sizeof one);
  }
  std::size_t drain(frame_sink& sink) override {
    std::deque<std::string> got;
    {
      std::lock_guard<std::mutex> hold(mutex_);
      got.swap(inbox_);
    }
    std::uint64_t rung;
    (void)::read(bell_, &rung, sizeof rung);
    for (std::string& m : got) sink.on_control(std::move(m));
    return got.size();
  }
  void wait_items(std::vector<zmq::pollitem_t>& items) override { items.push_back({nullptr, bell_, ZMQ_POLLIN, 0}); }
  void close() noexcept override {}

 private:
  fake_launcher& launcher_;
  int rank_;
  int bell_;
  std::mutex mutex_;
  std::deque<std::string> inbox_;
};

class fake_launcher {
 public:
  explicit fake_launcher(int size) : size_(size) {}
  void attach(int rank, fake_control* c) { controls_.resize(static_cast<std::size_t>(size_)), controls_[static_cast<std::size_t>(rank)] = c; }
  void handle(int rank, const std::string& bytes) {
    std::lock_guard<std::mutex> hold(mutex_);
    if (parrun::wire::kind_of(bytes) != parrun::wire::kind::finalize) return;
    const auto counts = parrun::wire::decode<parrun::wire::finalize>(bytes);
    for (int q = 0; q < size_; ++q)
      if (q != rank) {
        const auto uq = static_cast<std::size_t>(q);
        parrun::wire::peers_finished news;
        news.peers.push_back({rank, counts.sent[uq], counts.arrived[uq], counts.values_arrived[uq]});
        controls_[uq]->deliver(parrun::wire::encode(parrun::wire::kind::peers_finished, news));
      }
    controls_[static_cast<std::size_t>(rank)]->deliver(parrun::wire::encode(parrun::wire::kind::finalized, parrun::wire::empty{}));
  }

 private:
  int size_;
  std::mutex mutex_;
  std::vector<fake_control*> controls_;
};

void fake_control::send(const std::string& bytes) { launcher_.handle(rank_, bytes); }

// Two ranks of a pretend job in this process.
struct two_ranks {
  parrun::test::private_dir dir;
  fake_launcher launcher{2};
  std::shared_ptr<engine> engines[2];

  two_ranks() {
    for (int r = 0; r < 2; ++r) {
      auto lane = std::make_unique<shm_lane>(dir.path.string(), r);
      lane->start(parrun::test::pair_options(dir.path.string(), r));
      std::vector<std::unique_ptr<parrun::detail::lane>> lanes;
      lanes.push_back(std::move(lane));
      auto control = std::make_unique<fake_control>(launcher, r);
      launcher.attach(r, control.get());
      auto link = std::make_unique<router>(std::move(lanes), r == 0 ? std::vector<int>{-1, 0} : std::vector<int>{0, -1},
                                           control.get());
      job_info info;
      info.launched = true;
      info.size = 2;
      info.rank = r;
      info.local_size = 2;
      info.hosts = {"here", "here"};
      engines[r] = std::make_shared<engine>(info, std::move(link), std::move(control));
    }
  }
  // Runs `body(rank, engine)` for both ranks at once, each on its own thread.
  void run(const std::function<void(int, engine&)>& body) {
    std::thread other([&] { body(1, *engines[1]); });
    body(0, *engines[0]);
    other.join();
  }
};

envelope int_envelope(int from, int tag) {
  return envelope{0, type_of<int>().hash, tag, from, 0, 0};
}

owned_bytes int_bytes(int v) {
  owned_bytes b;
  b.append(&v, sizeof v);
  return b;
}

// Waits for a frame from `source` with `tag`; nullopt when the source went silent first.
std::optional<int> receive(engine& e, int source, int tag) {
  const match_key key{0, source, tag};
  e.wait_until([&] { return e.matching().find(key) != nullptr || e.silent(source); }, activity{"recv"});
  auto f = e.matching().take(key);
  if (!f) return std::nullopt;
  int v = 0;
  std::memcpy(&v, f->body.data(), sizeof v);
  return v;
}

TEST(engine_in_process, messages_arrive_in_order_and_both_ranks_finalize) {
  two_ranks job;
  std::vector<int> got;
  job.run([&](int rank, engine& e) {
    if (rank == 0)
      for (int i = 0; i < 2000; ++i) e.post(1, int_envelope(0, i % 3), int_bytes(i));
    else
      for (int i = 0; i < 2000; ++i) got.push_back(receive(e, 0, i % 3).value_or(-1));
    e.finalize();
  });
  ASSERT_EQ(got.size(), 2000u);
  for (int i = 0; i < 2000; ++i) ASSERT_EQ(got[static_cast<std::size_t>(i)], i);
}

TEST(engine_in_process, a_receive_from_a_finished_peer_fails_once_all_it_sent_arrived) {
  two_ranks job;
  std::optional<int> first;
  std::optional<int> second;
  job.run([&](int rank, engine& e) {
    if (rank == 0) {
      e.post(1, int_envelope(0, 5), int_bytes(42));
      e.finalize();  // flushes the frame (FIN/FIN_ACK), then its counts go to rank 1
    } else {
      first = receive(e, 0, 5);
      second = receive(e, 0, 5);  // nothing more can come
      e.finalize();
    }
  });
  EXPECT_EQ(first, 42);
  EXPECT_EQ(second, std::nullopt);
}

TEST(engine_in_process, a_message_nobody_received_is_reported_when_finalizing) {
  two_ranks job;
  testing::internal::CaptureStderr();
  job.run([&](int rank, engine& e) {
    if (rank == 0) e.post(1, int_envelope(0, 9), int_bytes(7));
    else (void)receive(e, 0, 3);  // the wrong tag: returns once rank 0 has finished
    e.finalize();
  });
  const std::string warnings = testing::internal::GetCapturedStderr();
  EXPECT_NE(warnings.find("rank 1: warning: 1 message(s) arrived but were never received; the first came "
                          "from rank 0 with tag 9"),
            std::string::npos)
      << warnings;
}

}  // namespace
