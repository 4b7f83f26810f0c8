#pragma once
// Byte buffers that cross the boundary between the typed API and the runtime. A message's bytes
// are written once (by the codec) into an `owned_bytes`, which the transport takes over without
// copying; an arriving message's bytes stay in the transport's own buffer (`payload`) until the
// typed receive decodes them. The small bookkeeping around them (shared state, holders) comes
// from per-thread pools, so that a steady flow of messages does not allocate for it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <utility>

namespace parrun::detail {

/// Per-thread free lists of fixed-size blocks, for the small bookkeeping objects every message
/// would otherwise allocate (an adopted payload's shared state, a forwarded payload's holder).
/// A block may be returned on another thread than the one it came from (ZeroMQ frees a sent
/// buffer on its I/O thread): it joins that thread's list. Blocks returned while a thread
/// exits, or beyond a small bound, go back to the heap.
template <std::size_t Size>
class block_pool {
 public:
  static void* get() {
    list& l = mine();
    if (l.head != nullptr) {
      free_block* b = l.head;
      l.head = b->next;
      --l.count;
      return b;
    }
    return ::operator new(Size);
  }
  static void put(void* p) noexcept {
    list& l = mine();
    if (l.phase == state::fresh) start(l);
    if (l.phase == state::live && l.count < max_count) {
      auto* b = static_cast<free_block*>(p);
      b->next = l.head;
      l.head = b;
      ++l.count;
      return;
    }
    ::operator delete(p);
  }

 private:
  static_assert(Size >= sizeof(void*));
  static constexpr std::size_t max_count = 256;
  struct free_block {
    free_block* next;
  };
  enum class state : unsigned char { fresh, live, gone };
  // Trivially destructible, so reaching it costs one thread-local access and no guard; the
  // reaper, made on a thread's first put(), empties it when the thread exits.
  struct list {
    free_block* head;
    std::size_t count;
    state phase;
  };
  struct reaper {
    ~reaper() {
      list& l = mine();
      l.phase = state::gone;
      while (l.head != nullptr) {
        free_block* next = l.head->next;
        ::operator delete(l.head);
        l.head = next;
      }
      l.count = 0;
    }
  };
  static list& mine() noexcept {
    thread_local constinit list l{nullptr, 0, state::fresh};
    return l;
  }
  static void start(list& l) noexcept {
    try {
      thread_local reaper r;
      (void)r;
      l.phase = state::live;
    } catch (...) {
      l.phase = state::gone;  // no way to clean up at exit: do not keep blocks
    }
  }
};

/// Message buffers of up to 16 KiB come from block_pool, in power-of-two size classes from 64
/// bytes: a rank that sends and receives in a loop (a halo exchange, a small allreduce) reuses
/// the same few buffers instead of calling malloc and free for every message. Larger buffers
/// are malloc'ed (a free list of them would hold megabytes per thread).
struct pooled_buffers {
  static constexpr std::size_t smallest = 64;
  static constexpr std::size_t largest = 16 * 1024;
  /// The size class that holds `n` bytes (n <= largest).
  static std::size_t class_of(std::size_t n) noexcept {
    std::size_t k = 0;
    for (std::size_t c = smallest; c < n; c *= 2) ++k;
    return k;
  }
  static std::size_t bytes_of(std::size_t k) noexcept { return smallest << k; }
  static void* get(std::size_t k) {
    switch (k) {
      case 0: return block_pool<64>::get();
      case 1: return block_pool<128>::get();
      case 2: return block_pool<256>::get();
      case 3: return block_pool<512>::get();
      case 4: return block_pool<1024>::get();
      case 5: return block_pool<2048>::get();
      case 6: return block_pool<4096>::get();
      case 7: return block_pool<8192>::get();
      default: return block_pool<16384>::get();
    }
  }
  /// A release function of owned_bytes: `hint` is the size class.
  static void put(void* p, void* hint) noexcept {
    switch (reinterpret_cast<std::uintptr_t>(hint)) {
      case 0: return block_pool<64>::put(p);
      case 1: return block_pool<128>::put(p);
      case 2: return block_pool<256>::put(p);
      case 3: return block_pool<512>::put(p);
      case 4: return block_pool<1024>::put(p);
      case 5: return block_pool<2048>::put(p);
      case 6: return block_pool<4096>::put(p);
      case 7: return block_pool<8192>::put(p);
      default: return block_pool<16384>::put(p);
    }
  }
};

/// Bytes plus the function that frees them. Move-only; the transport may adopt the storage.
class owned_bytes {
 public:
  using release_fn = void (*)(void* data, void* hint);

  owned_bytes() = default;
  /// Adopts `data`: `free_fn(data, hint)` frees it.
  owned_bytes(std::byte* data, std::size_t size, release_fn free_fn, void* hint) noexcept
      : data_(data), size_(size), capacity_(size), release_(free_fn), hint_(hint) {}
  owned_bytes(owned_bytes&& o) noexcept { swap(o); }
  owned_bytes& operator=(owned_bytes&& o) noexcept {
    owned_bytes(std::move(o)).swap(*this);
    return *this;
  }
  owned_bytes(const owned_bytes&) = delete;
  owned_bytes& operator=(const owned_bytes&) = delete;
  ~owned_bytes() { reset(); }

  std::byte* data() noexcept { return data_; }
  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  /// Bytes it can hold before it must grow (adopted storage: its size).
  std::size_t capacity() const noexcept { return capacity_; }

  /// Grows so that `n` more bytes fit, keeping the contents: by doubling, so that many appends
  /// cost amortized O(1) each.
  void reserve_more(std::size_t n) {
    if (n > max_size - size_) throw std::length_error("a buffer of more than 2^62 bytes");
    if (size_ + n <= capacity_) return;
    std::size_t cap = capacity_ < 64 ? 64 : capacity_;
    while (cap < size_ + n) cap *= 2;
    regrow(cap);
  }
  /// Grows to exactly `cap` bytes of capacity when it has less: for a size known in advance.
  void reserve(std::size_t cap) {
    if (cap > max_size) throw std::length_error("a buffer of more than 2^62 bytes");
    if (cap > capacity_) regrow(cap);
  }
  /// Appends `n` bytes.
  void append(const void* src, std::size_t n) {
    if (n == 0) return;
    reserve_more(n);
    std::memcpy(data_ + size_, src, n);
    size_ += n;
  }
  /// Appends `n` uninitialised bytes and returns where they start.
  std::byte* grow(std::size_t n) {
    reserve_more(n);
    std::byte* at = data_ + size_;
    size_ += n;
    return at;
  }
  /// Keeps only the first `n` bytes (when it has more); the capacity stays.
  void truncate(std::size_t n) noexcept {
    if (n < size_) size_ = n;
  }
  /// A new buffer holding a copy of `n` bytes, with no spare capacity.
  static owned_bytes copy_of(const void* src, std::size_t n) {
    owned_bytes out;
    if (n == 0) return out;
    out.reserve(n);
    std::memcpy(out.data_, src, n);
    out.size_ = n;
    return out;
  }

  /// A private, writable copy.
  owned_bytes clone() const { return copy_of(data_, size_); }

  /// Gives up ownership: the caller must call `release(data, hint)` (when it is not null).
  std::pair<release_fn, void*> release() noexcept {
    auto r = std::pair{release_, hint_};
    data_ = nullptr;
    size_ = capacity_ = 0;
    release_ = nullptr;
    hint_ = nullptr;
    return r;
  }

  void swap(owned_bytes& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(capacity_, o.capacity_);
    std::swap(release_, o.release_);
    std::swap(hint_, o.hint_);
  }

  static void free_malloced(void* data, void*) noexcept { std::free(data); }
  /// The largest buffer: doubling the capacity never wraps below it.
  static constexpr std::size_t max_size = std::size_t{1} << 62;

 private:
  // Moves the contents to storage of `cap` bytes (cap > capacity_): a pooled block for a small
  // new buffer, else malloc'ed.
  void regrow(std::size_t cap) {
    if (data_ == nullptr && cap <= pooled_buffers::largest) {
      const std::size_t k = pooled_buffers::class_of(cap);
      data_ = static_cast<std::byte*>(pooled_buffers::get(k));
      capacity_ = pooled_buffers::bytes_of(k);
      release_ = &pooled_buffers::put;
      hint_ = reinterpret_cast<void*>(k);
      return;
    }
    if (release_ != nullptr && release_ != &free_malloced) {  // adopted or pooled: copy out once
      auto* p = static_cast<std::byte*>(std::malloc(cap));
      if (p == nullptr) throw std::bad_alloc();
      if (size_ != 0) std::memcpy(p, data_, size_);
      release_(data_, hint_);
      data_ = p;
    } else {
      auto* p = static_cast<std::byte*>(std::realloc(data_, cap));
      if (p == nullptr) throw std::bad_alloc();
      data_ = p;
    }
    capacity_ = cap;
    release_ = &free_malloced;
    hint_ = nullptr;
  }
  void reset() noexcept {
    if (release_ != nullptr) release_(data_, hint_);
    data_ = nullptr;
    size_ = capacity_ = 0;
    release_ = nullptr;
  }

  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
  release_fn release_ = nullptr;
  void* hint_ = nullptr;
};

/// An allocator drawing single objects from block_pool (for std::allocate_shared).
template <class T>
struct pooled_allocator {
  using value_type = T;
  pooled_allocator() = default;
  template <class U>
  pooled_allocator(const pooled_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    if (n != 1) return static_cast<T*>(::operator new(n * sizeof(T)));
    return static_cast<T*>(block_pool<sizeof(T)>::get());
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n != 1)
      ::operator delete(p);
    else
      block_pool<sizeof(T)>::put(p);
  }
  template <class U>
  bool operator==(const pooled_allocator<U>&) const noexcept {
    return true;
  }
};

/// Read-only bytes of an arrived message, kept alive by whatever buffer holds them.
class payload {
 public:
  payload() = default;
  payload(const std::byte* data, std::size_t size, std::shared_ptr<const void> owner) noexcept
      : data_(data), size_(size), owner_(std::move(owner)) {}
  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

  /// `length` bytes from `offset`, kept alive by the same owner (no copy).
  payload slice(std::size_t offset, std::size_t length) const noexcept {
    return payload(data_ + offset, length, owner_);
  }
  /// These bytes as an outgoing message buffer, without copying: for forwarding what arrived.
  /// The result must only be read (sent), never written.
  owned_bytes share() const {
    if (size_ == 0) return owned_bytes{};
    using holder = std::shared_ptr<const void>;
    auto* keep = new (block_pool<sizeof(holder)>::get()) holder(owner_);
    return owned_bytes(
        const_cast<std::byte*>(data_), size_,
        [](void*, void* hint) {
          static_cast<holder*>(hint)->~holder();
          block_pool<sizeof(holder)>::put(hint);
        },
        keep);
  }
  /// A private, writable copy of these bytes.
  owned_bytes copy() const { return owned_bytes::copy_of(data_, size_); }
  /// Adopts an owned buffer as a payload (no copy; an empty one allocates nothing).
  static payload adopt(owned_bytes&& bytes) {
    if (bytes.size() == 0) return payload{};
    auto owner =
        std::allocate_shared<owned_bytes>(pooled_allocator<owned_bytes>{}, std::move(bytes));
    const std::byte* data = owner->data();
    const std::size_t size = owner->size();
    return payload(data, size, std::move(owner));
  }

 private:
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::shared_ptr<const void> owner_;
};

}  // namespace parrun::detail
