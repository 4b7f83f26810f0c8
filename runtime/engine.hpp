#pragma once
// The progress engine: the one loop that moves messages. Every blocking call in parrun ends up
// in engine::wait_until, which drains the transport into the matcher (so ranks that flood each
// other never deadlock on transport buffers), answers the launcher's control messages, and
// after at most a short spin sleeps in the kernel until something arrives.
//
//   communicator / collectives / channels
//        │ post(world rank, envelope, bytes)        ▲ matcher (posted + unexpected queues)
//        ▼                                          │ on_frame
//   transport (ZeroMQ) ──────────────────────────────┘ on_control ─► peers lost or finished,
//                                                                    queries, acks
// It also keeps, per peer, how many data frames went each way. Leaving the job (finalize)
// first makes sure every frame this rank sent has reached its peer's process (a FIN frame on
// the same ordered path, answered by FIN_ACK), then tells the launcher the counts; the
// launcher passes them to the others, who can then tell exactly when nothing more can come.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <parrun/wire.hpp>

#include "function_ref.hpp"
#include "matching/matcher.hpp"
#include "nonblocking/fiber.hpp"
#include "transport/transport.hpp"
#include "wireup/wireup.hpp"

namespace parrun::detail {

using clock = std::chrono::steady_clock;

/// What a rank is blocked in, for the launcher's --timeout report ("recv(source=0, tag=7)").
struct activity {
  const char* op;
  const char* key1 = nullptr;
  long value1 = 0;
  const char* key2 = nullptr;
  long value2 = 0;
  std::string describe() const;
};

class engine final : private frame_sink {
 public:
  /// `control` (null when not launched) is the channel to the launcher; `link` polls it too.
  engine(job_info info, std::unique_ptr<transport> link, std::unique_ptr<control_channel> control = nullptr);
  ~engine();

  const job_info& info() const noexcept { return info_; }
  int rank() const noexcept { return info_.rank; }
  int size() const noexcept { return info_.size; }

  /// Sends a frame to a world rank (to itself through the matcher); returns a ticket.
  std::uint64_t post(int world_dest, envelope env, owned_bytes&& body);
  /// Whether the frame with `ticket` has left this rank's hands.
  bool taken(int world_dest, std::uint64_t ticket) const;
  matcher& matching() noexcept { return matcher_; }
  /// Throws usage_error once the environment has been destroyed.
  void check_open(const char* op) const;

  /// Makes progress until `done()` holds or `deadline` passes; returns done(). `what` is what
  /// the launcher reports if the job times out meanwhile.
  bool wait_until(function_ref<bool()> done, const activity& what,
                  const clock::time_point* deadline = nullptr);
  /// Makes progress once without blocking.
  void poll();

  /// Runs `f` (a non-blocking collective) until it first blocks; from then on every wait and
  /// poll of this rank resumes it whenever what it waits for holds, until it finishes.
  void start(std::shared_ptr<fiber> f);

  /// A communicator that exists on this rank: frames addressed to it are checked against its
  /// members (frame_check.hpp) on arrival, and those that arrived before it existed, now.
  void register_comm(std::uint64_t base, const std::vector<int>& world_ranks);
  void unregister_comm(std::uint64_t base) noexcept;

  /// Whether nothing more can ever arrive from a world rank: it died, or it finished and all it
  /// sent here has arrived.
  bool silent(int world_rank) const;
  /// Whether nothing sent to a world rank can be received any more (it died or finished).
  bool unreachable(int world_rank) const;
  /// Whether a world rank died (as opposed to finishing normally).
  bool died(int world_rank) const { return peers_[static_cast<std::size_t>(world_rank)].lost.has_value(); }
  bool any_gone() const noexcept { return any_gone_; }
  /// Why a rank is silent or unreachable, for error messages.
  std::string gone_reason(int world_rank) const;

  /// Tells the launcher why this rank is about to die and waits (briefly) until it listened;
  /// false when the launcher did not confirm (or there is none).
  bool report_failure(wire::failure_kind what, int code, const std::string& reason) noexcept;
  /// Leaves the job: flushes to every peer, reports to the launcher, warns about messages that
  /// were never received, closes the transport.
  void finalize();

 private:
  struct peer {
    std::uint64_t sent = 0;            // data frames sent to it
    std::uint64_t arrived = 0;         // data frames that arrived from it
    std::uint64_t values_sent = 0;     // of the frames sent, typed values (not protocol frames)
    std::uint64_t values_arrived = 0;  // of the frames arrived, typed values
    bool fin_acked = false;
    std::optional<std::string> lost;              // why it died
    std::optional<wire::peer_finished> finished;  // its final counts
  };

  /// Marks this thread as inside parrun for the guard's lifetime; throws usage_error when
  /// another thread is inside already (a rank is used by one thread at a time).
  class entry {
   public:
    entry(engine& e, const char* op);
    ~entry();
    entry(const entry&) = delete;
    entry& operator=(const entry&) = delete;

   private:
    engine& e_;
  };

  void on_frame(frame&& f) override;
  std::byte* landing(const envelope& env, std::size_t size) override;
  void on_control(std::string&& bytes) override;
  void drop(const envelope& env, const char* why);
  void peer_finished(const wire::peer_finished& done);
  void answer_query();
  void send_control(const std::string& bytes);
  void warn_about_lost_messages() const;
  /// Resumes the started fibers that can make progress (from a thread's own stack only).
  void run_fibers();
  bool wait_on_fiber(fiber& f, function_ref<bool()> done, const clock::time_point* deadline);

  job_info info_;
  std::unique_ptr<control_channel> control_;  // declared first: the link (which polls it) goes first
  std::unique_ptr<transport> link_;
  matcher matcher_;
  std::vector<peer> peers_;
  bool any_gone_ = false;
  const activity* current_ = nullptr;
  clock::time_point current_since_{};
  std::chrono::microseconds spin_{0};
  bool yield_ = false;  // oversubscribed: give the core away between polls
  bool acked_ = false;
  bool finalized_ = false;
  bool closed_ = false;
  std::unordered_map<std::uint64_t, const std::vector<int>*> comms_;  // by base
  unsigned long dropped_ = 0;
  std::atomic<std::thread::id> owner_{};  // the thread inside parrun, if any
  int depth_ = 0;                         // its nested entries (touched by the owner only)
  std::vector<std::shared_ptr<fiber>> fibers_;  // started and not finished
};

}  // namespace parrun::detail
