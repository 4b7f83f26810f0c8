// alloc_count: heap allocations and bytes copied per message, counted rather than guessed.
//
//   ./bench/alloc_count            (no parrun: rank 0 of 1, sending to itself)
//
// The process replaces malloc/calloc/realloc/free (and operator new/delete, which call them) and
// memcpy/memmove/memset with counting versions that forward to glibc, so everything the runtime,
// libstdc++ and Cereal do in this process is seen. Copies are memcpy/memmove calls plus the bytes
// realloc moved; copies the compiler inlines (a few bytes of fixed size) are not seen, and this
// target is built with -fno-builtin so that the codec's own copies are calls. zeroed_B counts
// memset calls only: the zero-fill of a resize() of non-byte elements is an inline loop that no
// counter sees (tests/unit/test_codec.cpp counts it with an allocator instead), so it shows in
// the time column.
//
// A self-send in a singleton goes codec -> engine -> matcher -> codec without a transport, so the
// numbers are what parrun itself costs per message; a real peer adds the transport's own (ZeroMQ
// today). Rows:
//   codec     encode + decode only (detail/codec.hpp)
//   p2p       world.send(0, tag, v) then world.recv<T>(0, tag), the value sent as an lvalue
//   p2p_into  the same, receiving into one vector kept across messages
//   deep_*    8-byte receives (exact, any_source, any_source + any_tag) and a channel round
//             trip, with 10,000 other messages waiting in the unexpected queue (on another
//             communicator): what a matcher that scans its queue pays for
// Every row: allocations, bytes allocated, largest single allocation, bytes copied and bytes
// zero-filled per message, and the time per message (µs; one core of this machine, a mean).
#include <malloc.h>
#include <cerrno>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <vector>

#include <parrun/parrun.hpp>

// --- counting ---------------------------------------------------------------------------------

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void __libc_free(void*);
void* __libc_memalign(std::size_t, std::size_t);
void* __memcpy_chk(void*, const void*, std::size_t, std::size_t);
void* __memmove_chk(void*, const void*, std::size_t, std::size_t);
void* __memset_chk(void*, int, std::size_t, std::size_t);
}

namespace {

struct counters {
  std::atomic<std::uint64_t> allocs{0};
  std::atomic<std::uint64_t> alloc_bytes{0};
  std::atomic<std::uint64_t> largest{0};
  std::atomic<std::uint64_t> copied{0};
  std::atomic<std::uint64_t> zeroed{0};
};
counters count;
std::atomic<bool> counting{false};

void note_alloc(std::size_t n) {
  if (!counting.load(std::memory_order_relaxed)) return;
  count.allocs.fetch_add(1, std::memory_order_relaxed);
  count.alloc_bytes.fetch_add(n, std::memory_order_relaxed);
  std::uint64_t big = count.largest.load(std::memory_order_relaxed);
  while (n > big && !count.largest.compare_exchange_weak(big, n, std::memory_order_relaxed)) {
  }
}
void note_copy(std::size_t n) {
  if (counting.load(std::memory_order_relaxed))
    count.copied.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace

extern "C" {
void* malloc(std::size_t n) {
  note_alloc(n);
  return __libc_malloc(n);
}
void* calloc(std::size_t k, std::size_t n) {
  note_alloc(k * n);
  return __libc_calloc(k, n);
}
void* realloc(void* p, std::size_t n) {
  note_alloc(n);
  const std::size_t old = p != nullptr ? malloc_usable_size(p) : 0;
  void* q = __libc_realloc(p, n);
  if (q != p && p != nullptr && q != nullptr) note_copy(old < n ? old : n);
  return q;
}
void free(void* p) { __libc_free(p); }
void* memalign(std::size_t a, std::size_t n) {
  note_alloc(n);
  return __libc_memalign(a, n);
}
void* aligned_alloc(std::size_t a, std::size_t n) { return memalign(a, n); }
int posix_memalign(void** out, std::size_t a, std::size_t n) {
  *out = memalign(a, n);
  return *out != nullptr ? 0 : ENOMEM;
}
void* memcpy(void* d, const void* s, std::size_t n) {
  note_copy(n);
  return __memcpy_chk(d, s, n, static_cast<std::size_t>(-1));
}
void* memmove(void* d, const void* s, std::size_t n) {
  note_copy(n);
  return __memmove_chk(d, s, n, static_cast<std::size_t>(-1));
}
void* memset(void* d, int c, std::size_t n) {
  if (counting.load(std::memory_order_relaxed))
    count.zeroed.fetch_add(n, std::memory_order_relaxed);
  return __memset_chk(d, c, n, static_cast<std::size_t>(-1));
}
}

void* operator new(std::size_t n) {
  if (void* p = std::malloc(n != 0 ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return std::malloc(n != 0 ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return std::malloc(n != 0 ? n : 1);
}
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = memalign(static_cast<std::size_t>(a), n != 0 ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

// --- the measurements -------------------------------------------------------------------------

namespace {

using clock_type = std::chrono::steady_clock;
using big_map = std::map<std::string, std::vector<int>>;

struct result {
  double allocs, alloc_bytes, largest, copied, zeroed, micros;
};

// Runs `one()` `n` times after a warm-up and returns the counts per call.
template <class F>
result measure(int n, F&& one) {
  for (int i = 0; i < (n < 10 ? 1 : 10); ++i) one();
  count.allocs = 0;
  count.alloc_bytes = 0;
  count.largest = 0;
  count.copied = 0;
  count.zeroed = 0;
  counting = true;
  const auto t = clock_type::now();
  for (int i = 0; i < n; ++i) one();
  const double s = std::chrono::duration<double>(clock_type::now() - t).count();
  counting = false;
  const auto per = [n](std::uint64_t v) { return static_cast<double>(v) / n; };
  return {per(count.allocs), per(count.alloc_bytes), static_cast<double>(count.largest.load()),
          per(count.copied), per(count.zeroed),      s / n * 1e6};
}

void print(const char* row, const char* what, std::size_t payload_bytes, const result& r) {
  std::printf("%-9s %-22s %10zu %8.2f %12.0f %12.0f %12.0f %12.0f %10.2f\n", row, what,
              payload_bytes, r.allocs, r.alloc_bytes, r.largest, r.copied, r.zeroed, r.micros);
}

template <class T>
volatile std::size_t sink = 0;

template <class T>
void codec_row(const char* what, const T& value, std::size_t bytes, int n) {
  print("codec", what, bytes, measure(n, [&] {
          parrun::detail::owned_bytes b = parrun::detail::encode(value);
          T out{};
          parrun::detail::decode(b.data(), b.size(), out);
          sink<T> = out.size();
        }));
}

template <class T>
void p2p_rows(parrun::communicator& w, const char* what, const T& value, std::size_t bytes, int n) {
  print("p2p", what, bytes, measure(n, [&] {
          w.send(0, 3, value);
          T out = w.recv<T>(0, 3);
          sink<T> = out.size();
        }));
  T kept{};
  print("p2p_into", what, bytes, measure(n, [&] {
          w.send(0, 3, value);
          w.recv(0, 3, kept);
          sink<T> = kept.size();
        }));
}

big_map make_big_map() {
  big_map m;
  for (int k = 0; k < 4096; ++k) {
    char key[16];
    std::snprintf(key, sizeof key, "key%05d", k);
    m.emplace(key, std::vector<int>(1024, k));
  }
  return m;  // 4096 x 4 KiB of ints: 16 MiB plus the keys
}

}  // namespace

int main(int argc, char** argv) {
  // glibc keeps what is freed instead of returning it to the kernel after every large message,
  // so that the times show parrun's passes over the bytes rather than page faults.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  parrun::environment env(argc, argv);
  parrun::communicator& w = env.world();
  if (w.size() != 1) {
    if (w.rank() == 0) std::fprintf(stderr, "alloc_count runs as one process (without parrun)\n");
    return 2;
  }
  std::printf("%-9s %-22s %10s %8s %12s %12s %12s %12s %10s\n", "row", "value", "bytes", "allocs",
              "alloc_B", "largest_B", "copied_B", "zeroed_B", "us");

  const std::vector<double> v8(1, 1.5), v1k(128, 2.5), v1m(131072, 3.5);
  const big_map m16 = make_big_map();
  const std::size_t m16_bytes = parrun::detail::encode(m16).size();

  codec_row("vector<double> 8 B", v8, 8, 200000);
  codec_row("vector<double> 1 KiB", v1k, 1024, 100000);
  codec_row("vector<double> 1 MiB", v1m, 1 << 20, 500);
  codec_row("map<string,vec<int>>", m16, m16_bytes, 10);
  {
    const result r = measure(10, [&] { sink<big_map> = parrun::detail::encode(m16).size(); });
    print("encode", "map<string,vec<int>>", m16_bytes, r);
  }

  p2p_rows(w, "vector<double> 8 B", v8, 8, 200000);
  p2p_rows(w, "vector<double> 1 KiB", v1k, 1024, 100000);
  p2p_rows(w, "vector<double> 1 MiB", v1m, 1 << 20, 500);
  p2p_rows(w, "map<string,vec<int>>", m16, m16_bytes, 10);

  // 10,000 messages nobody receives yet (on another communicator, so that every receive
  // below could skip them by context alone), then traffic behind them.
  parrun::communicator backlog = w.dup();
  for (int i = 0; i < 10000; ++i) backlog.send(0, 1, i);
  std::uint64_t x = 7;
  print("deep_p2p", "uint64 recv(0, 2)", 8, measure(20000, [&] {
          w.send(0, 2, x);
          w.recv(0, 2, x);
        }));
  print("deep_p2p", "uint64 recv(any, 2)", 8, measure(20000, [&] {
          w.send(0, 2, x);
          w.recv(parrun::any_source, 2, x);
        }));
  print("deep_p2p", "uint64 recv(any, any)", 8, measure(20000, [&] {
          w.send(0, 2, x);
          w.recv(parrun::any_source, parrun::any_tag, x);
        }));
  {
    auto ch = w.channel<std::uint64_t>(0, 0, 16);
    print("deep_chan", "channel<uint64> cap 16", 8, measure(20000, [&] {
            ch.send(x);
            x = ch.recv();
          }));
  }
  for (int i = 0; i < 10000; ++i) (void)backlog.recv<int>(0, 1);
  return 0;
}
