#pragma once
// Fibers: the non-blocking collectives run the blocking algorithms unchanged, each on a stack of
// its own. When such an algorithm would block (engine::wait_until on a fiber), the fiber gives
// the thread back to whoever resumed it; the engine resumes it from inside every later parrun
// call, once what it waits for holds. One mechanism, every collective: no algorithm is written
// twice as a state machine.
//
// Stacks are mmap'ed with a guard page below them (an overflow faults instead of corrupting the
// heap) and reused. Switching is ucontext's swapcontext, told to the sanitizers (ASan keeps a
// shadow of each stack, TSan tracks fibers as threads of their own), so the sanitizer suites
// see no false reports.
#include <ucontext.h>

#include <cstddef>
#include <exception>
#include <functional>

#include "function_ref.hpp"

namespace parrun::detail {

class fiber {
 public:
  /// A fiber that will run `body` when first resumed.
  explicit fiber(std::function<void()> body);
  ~fiber();
  fiber(const fiber&) = delete;
  fiber& operator=(const fiber&) = delete;

  /// The fiber the calling code runs on, or null on a thread's own stack.
  static fiber* current() noexcept;

  /// Runs the fiber until it suspends or finishes. Only from a thread's own stack.
  void resume();
  /// From the fiber itself: gives the thread back until `ready()` holds (checked by
  /// runnable(); `ready` lives on this fiber's stack, so it stays valid while suspended).
  void suspend_until(function_ref<bool()> ready);
  /// Whether resuming it now makes progress: not started, or what it waits for holds.
  bool runnable() const { return !finished_ && (waiting_ == nullptr || (*waiting_)()); }
  bool finished() const noexcept { return finished_; }
  /// What the body threw, if anything (it never escapes the fiber).
  std::exception_ptr failure() const noexcept { return failure_; }

 private:
  static void entry(unsigned low, unsigned high);
  void run() noexcept;
  void switch_out();

  std::function<void()> body_;
  void* stack_ = nullptr;  // the mapping, guard page included
  std::size_t stack_bytes_ = 0;
  ucontext_t context_{};
  ucontext_t caller_{};
  const function_ref<bool()>* waiting_ = nullptr;  // in suspend_until's frame, on this stack
  bool finished_ = false;
  std::exception_ptr failure_;
  // Sanitizer bookkeeping (unused otherwise).
  void* fake_stack_ = nullptr;
  const void* caller_stack_bottom_ = nullptr;
  std::size_t caller_stack_size_ = 0;
  void* tsan_fiber_ = nullptr;
  void* tsan_caller_ = nullptr;
};

}  // namespace parrun::detail
