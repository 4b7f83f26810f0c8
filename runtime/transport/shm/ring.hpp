#pragma once
// A single-producer/single-consumer ring of records in shared memory: one per ordered pair of
// ranks that talk, in a segment the producer creates and passes to the consumer (shm_lane.hpp).
//
//   segment: [ring_header (one page)][data: capacity bytes, a power of two]
//   record:  [u32 length][u32 kind][length bytes][padding to 8]     never wraps: a record
//            that would cross the end is preceded by a pad record that fills the rest.
//
// The producer publishes with a release store of `head`, the consumer frees with a release
// store of `tail`; each side caches the other's index and rereads it only when it must. Nothing
// in the segment is trusted by the consumer: indices and lengths are checked before use (a bad
// ring is reported, never followed).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace parrun::detail::shm {

inline constexpr std::uint32_t ring_magic = 0x70726e67;  // "prng"
inline constexpr std::size_t header_bytes = 4096;

struct alignas(64) ring_header {
  alignas(64) std::atomic<std::uint64_t> head;   ///< bytes published (producer)
  alignas(64) std::atomic<std::uint64_t> tail;   ///< bytes consumed (consumer)
  /// The producer waits for room (it has frames queued and is about to sleep): the consumer
  /// clears it and rings the producer's doorbell after freeing some.
  alignas(64) std::atomic<std::uint32_t> producer_waiting;
  /// Frames the consumer copied straight out of the producer's memory (cross-memory attach):
  /// the producer may free their buffers.
  alignas(64) std::atomic<std::uint64_t> direct_done;
  alignas(64) std::uint32_t magic;
  std::uint64_t capacity;
};
static_assert(sizeof(ring_header) <= header_bytes);

enum class record_kind : std::uint32_t {
  pad = 1,     ///< skip to the end of the data area
  frame = 2,   ///< [envelope][u64 total payload][the first payload bytes]
  chunk = 3,   ///< more payload bytes of the frame being assembled
  direct = 4,  ///< [envelope][u64 total payload][u64 address in the producer]: copy it from there
};

inline constexpr std::size_t record_header = 8;
constexpr std::size_t record_bytes(std::size_t length) { return (record_header + length + 7) & ~std::size_t{7}; }

/// The producer's side.
class ring_writer {
 public:
  ring_writer() = default;
  /// Formats a fresh segment of `header_bytes + capacity` bytes at `base`.
  ring_writer(void* base, std::uint64_t capacity) : h_(static_cast<ring_header*>(base)) {
    new (h_) ring_header{};
    h_->head.store(0, std::memory_order_relaxed);
    h_->tail.store(0, std::memory_order_relaxed);
    h_->producer_waiting.store(0, std::memory_order_relaxed);
    h_->direct_done.store(0, std::memory_order_relaxed);
    h_->capacity = capacity;
    h_->magic = ring_magic;
    data_ = static_cast<std::byte*>(base) + header_bytes;
    cap_ = capacity;
  }

  /// The longest record payload: at most half the ring, so one always fits once it drains.
  std::size_t max_length() const noexcept { return cap_ / 2 - record_header; }

  /// Room for a record of `length` bytes (<= max_length()), or null when the ring is too full.
  std::byte* reserve(std::size_t length) noexcept {
    const std::size_t need = record_bytes(length);
    const std::size_t pos = head_ & (cap_ - 1);
    const std::size_t contiguous = cap_ - pos;
    const std::size_t total = need <= contiguous ? need : contiguous + need;
    if (cap_ - (head_ - tail_) < total) {
      tail_ = h_->tail.load(std::memory_order_acquire);
      if (cap_ - (head_ - tail_) < total) return nullptr;
    }
    if (need > contiguous) {
      write_header(pos, static_cast<std::uint32_t>(contiguous - record_header), record_kind::pad);
      head_ += contiguous;
      return data_ + record_header;
    }
    return data_ + pos + record_header;
  }
  /// Publishes the record reserve() made room for.
  void commit(std::size_t length, record_kind kind) noexcept {
    write_header(head_ & (cap_ - 1), static_cast<std::uint32_t>(length), kind);
    head_ += record_bytes(length);
    h_->head.store(head_, std::memory_order_release);
  }
  /// Whether a record of `length` bytes would fit now (rereads the consumer's index).
  bool fits(std::size_t length) noexcept {
    tail_ = h_->tail.load(std::memory_order_acquire);
    const std::size_t need = record_bytes(length);
    const std::size_t contiguous = cap_ - (head_ & (cap_ - 1));
    return cap_ - (head_ - tail_) >= (need <= contiguous ? need : contiguous + need);
  }
  ring_header* header() const noexcept { return h_; }

 private:
  void write_header(std::size_t pos, std::uint32_t length, record_kind kind) noexcept {
    std::memcpy(data_ + pos, &length, 4);
    const auto k = static_cast<std::uint32_t>(kind);
    std::memcpy(data_ + pos + 4, &k, 4);
  }

  ring_header* h_ = nullptr;
  std::byte* data_ = nullptr;
  std::uint64_t cap_ = 0;
  std::uint64_t head_ = 0;  // private copy of what we published
  std::uint64_t tail_ = 0;  // the consumer's index as last read
};

/// The consumer's side.
class ring_reader {
 public:
  struct record {
    record_kind kind;
    const std::byte* data;
    std::size_t length;
  };

  ring_reader() = default;
  /// `base` is a segment of `header_bytes + capacity` bytes that a producer formatted.
  ring_reader(const void* base, std::uint64_t capacity)
      : h_(static_cast<ring_header*>(const_cast<void*>(base))),
        data_(static_cast<const std::byte*>(base) + header_bytes),
        cap_(capacity) {}

  /// Whether anything is published (one load; for the check before sleeping).
  bool pending() const noexcept { return h_->head.load(std::memory_order_acquire) != tail_; }

  enum class status { empty, ready, corrupt };
  /// The next record, skipping pads. `corrupt`: the producer wrote something impossible.
  status next(record& out) noexcept {
    for (;;) {
      if (head_ == tail_) {
        head_ = h_->head.load(std::memory_order_acquire);
        if (head_ == tail_) return status::empty;
      }
      if (head_ - tail_ > cap_ || ((head_ - tail_) & 7) != 0) return status::corrupt;
      const std::size_t pos = tail_ & (cap_ - 1);
      std::uint32_t length = 0;
      std::uint32_t kind = 0;
      std::memcpy(&length, data_ + pos, 4);
      std::memcpy(&kind, data_ + pos + 4, 4);
      const std::size_t bytes = record_bytes(length);
      if (length > cap_ || bytes > cap_ - pos || bytes > head_ - tail_) return status::corrupt;
      if (kind == static_cast<std::uint32_t>(record_kind::pad)) {
        if (pos + bytes != cap_) return status::corrupt;
        tail_ += bytes;
        continue;
      }
      if (kind < static_cast<std::uint32_t>(record_kind::frame) || kind > static_cast<std::uint32_t>(record_kind::direct))
        return status::corrupt;
      out = record{static_cast<record_kind>(kind), data_ + pos + record_header, length};
      next_tail_ = tail_ + bytes;
      return status::ready;
    }
  }
  /// Frees the record next() returned (its bytes must not be read any more).
  void pop() noexcept {
    tail_ = next_tail_;
    h_->tail.store(tail_, std::memory_order_release);
  }
  ring_header* header() const noexcept { return h_; }

 private:
  ring_header* h_ = nullptr;
  const std::byte* data_ = nullptr;
  std::uint64_t cap_ = 0;
  std::uint64_t head_ = 0;       // the producer's index as last read
  std::uint64_t tail_ = 0;       // private copy of what we freed
  std::uint64_t next_tail_ = 0;  // after the record next() returned
};

}  // namespace parrun::detail::shm
