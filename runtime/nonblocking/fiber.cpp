#include "nonblocking/fiber.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <new>
#include <vector>

#include <parrun/errors.hpp>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define PARRUN_ASAN_FIBERS 1
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define PARRUN_TSAN_FIBERS 1
#endif

namespace parrun::detail {
namespace {

// The collective algorithms are shallow, but a reduction's op (user code) runs on the fiber too,
// and so do the value forms' temporaries (a T result, the op's arguments and return value): an
// iallreduce of a 320 KB std::array overflowed a 256 KB stack. A blocking collective runs on the
// thread's stack (8 MiB by default), so a fiber gets as much. Only the address space is reserved
// (MAP_NORESERVE); pages are committed when touched, so a shallow collective costs what it uses.
constexpr std::size_t usable_stack = 8 * 1024 * 1024;

thread_local fiber* running = nullptr;

std::size_t page_size() {
  static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

// Stacks of finished fibers, kept for the next ones: a non-blocking collective per iteration
// should not cost an mmap and a munmap.
struct stack_cache {
  std::vector<void*> free;
  ~stack_cache() {
    for (void* s : free) ::munmap(s, usable_stack + page_size());
  }
};
thread_local stack_cache stacks;

void* take_stack() {
  if (!stacks.free.empty()) {
    void* s = stacks.free.back();
    stacks.free.pop_back();
    return s;
  }
  const std::size_t bytes = usable_stack + page_size();
  void* s = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
  if (s == MAP_FAILED) throw std::bad_alloc();
  ::mprotect(s, page_size(), PROT_NONE);  // the guard page: stacks grow down into it
  return s;
}

void give_back(void* s) noexcept {
  try {
    if (stacks.free.size() < 8) {
      stacks.free.push_back(s);
      return;
    }
  } catch (...) {
  }
  ::munmap(s, usable_stack + page_size());
}

}  // namespace

fiber::fiber(std::function<void()> body) : body_(std::move(body)) {
  stack_ = take_stack();
  stack_bytes_ = usable_stack;
  if (::getcontext(&context_) != 0) throw error("getcontext failed");
  context_.uc_stack.ss_sp = static_cast<char*>(stack_) + page_size();
  context_.uc_stack.ss_size = stack_bytes_;
  context_.uc_link = nullptr;  // run() never returns: it switches out for good
  const auto self = reinterpret_cast<std::uintptr_t>(this);
  ::makecontext(&context_, reinterpret_cast<void (*)()>(&fiber::entry), 2,
                static_cast<unsigned>(self & 0xffffffffu), static_cast<unsigned>(self >> 32));
#ifdef PARRUN_TSAN_FIBERS
  tsan_fiber_ = __tsan_create_fiber(0);
#endif
}

fiber::~fiber() {
  // A fiber destroyed while suspended never finishes its body; the engine keeps every started
  // fiber until it finishes, so that only happens when the rank is going away.
#ifdef PARRUN_TSAN_FIBERS
  if (tsan_fiber_ != nullptr) __tsan_destroy_fiber(tsan_fiber_);
#endif
  if (finished_) give_back(stack_);
  else ::munmap(stack_, stack_bytes_ + page_size());
}

fiber* fiber::current() noexcept { return running; }

void fiber::entry(unsigned low, unsigned high) {
  auto* self = reinterpret_cast<fiber*>(static_cast<std::uintptr_t>(low) | (static_cast<std::uintptr_t>(high) << 32));
  self->run();
}

void fiber::run() noexcept {
#ifdef PARRUN_ASAN_FIBERS
  __sanitizer_finish_switch_fiber(nullptr, &caller_stack_bottom_, &caller_stack_size_);
#endif
  try {
    body_();
  } catch (...) {
    failure_ = std::current_exception();
  }
  body_ = nullptr;  // what it captured goes now, on this stack
  finished_ = true;
  switch_out();     // never comes back
}

void fiber::resume() {
  if (running != nullptr) throw usage_error("parrun: a fiber resumed from another fiber");
  if (finished_) return;
  running = this;
#ifdef PARRUN_ASAN_FIBERS
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, static_cast<char*>(stack_) + page_size(), stack_bytes_);
#endif
#ifdef PARRUN_TSAN_FIBERS
  tsan_caller_ = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(tsan_fiber_, 0);
#endif
  ::swapcontext(&caller_, &context_);
#ifdef PARRUN_ASAN_FIBERS
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
  running = nullptr;
}

void fiber::switch_out() {
#ifdef PARRUN_ASAN_FIBERS
  // A finished fiber's fake stack goes (nullptr); a suspended one's is kept for its return.
  __sanitizer_start_switch_fiber(finished_ ? nullptr : &fake_stack_, caller_stack_bottom_, caller_stack_size_);
#endif
#ifdef PARRUN_TSAN_FIBERS
  __tsan_switch_to_fiber(tsan_caller_, 0);
#endif
  ::swapcontext(&context_, &caller_);
#ifdef PARRUN_ASAN_FIBERS
  __sanitizer_finish_switch_fiber(fake_stack_, &caller_stack_bottom_, &caller_stack_size_);
#endif
}

void fiber::suspend_until(function_ref<bool()> ready) {
  waiting_ = &ready;
  switch_out();
  waiting_ = nullptr;
}

}  // namespace parrun::detail
