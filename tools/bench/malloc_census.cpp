// malloc_census: an LD_PRELOAD library that counts a rank's heap allocations, so that "allocates
// nothing per iteration" is measured, not claimed. Every malloc, calloc, realloc, memalign,
// posix_memalign and aligned_alloc of the process is counted (operator new calls malloc), on every
// thread (ZeroMQ's too). A process started by parrun (PARRUN_RANK set) prints at exit, to stderr:
//   malloc_census: rank 3: 1234 allocations
// A program can also read the count itself around a loop, through a weak reference that is null
// when the library is not preloaded (examples/06_heat_equation.cpp does):
//   extern "C" unsigned long malloc_census_count() __attribute__((weak));
//   LD_PRELOAD=build/bench/libmalloc_census.so parrun -n 4 ./06_heat_equation
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cerrno>

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
}

namespace {

std::atomic<unsigned long> allocations{0};

void count() { allocations.fetch_add(1, std::memory_order_relaxed); }

// Written with write(2) and no allocation: it runs while the process goes away.
void report() {
  const char* rank = std::getenv("PARRUN_RANK");
  if (rank == nullptr) return;
  char line[128];
  const int n = std::snprintf(line, sizeof line, "malloc_census: rank %s: %lu allocations\n", rank,
                              allocations.load(std::memory_order_relaxed));
  if (n > 0) (void)!::write(2, line, static_cast<std::size_t>(n));
}

// Reported after the program's static destructors have run.
struct reporter {
  ~reporter() { report(); }
};
reporter at_exit __attribute__((init_priority(101)));

}  // namespace

extern "C" {

unsigned long malloc_census_count() { return allocations.load(std::memory_order_relaxed); }

void* malloc(std::size_t n) {
  count();
  return __libc_malloc(n);
}
void* calloc(std::size_t k, std::size_t n) {
  count();
  return __libc_calloc(k, n);
}
void* realloc(void* p, std::size_t n) {
  count();
  return __libc_realloc(p, n);
}
void* memalign(std::size_t a, std::size_t n) {
  count();
  return __libc_memalign(a, n);
}
void* aligned_alloc(std::size_t a, std::size_t n) {
  count();
  return __libc_memalign(a, n);
}
int posix_memalign(void** out, std::size_t a, std::size_t n) {
  count();
  void* p = __libc_memalign(a, n);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

}  // extern "C"
