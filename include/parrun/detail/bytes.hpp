#pragma once
// Byte buffers that cross the boundary between the typed API and the runtime. A message's bytes
// are written once (by the codec) into an `owned_bytes`, which the transport takes over without
// copying; an arriving message's bytes stay in the transport's own buffer (`payload`) until the
// typed receive decodes them.
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <utility>

namespace parrun::detail {

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

  /// Grows (malloc-owned storage only) so that `n` more bytes fit, keeping the contents.
  void reserve_more(std::size_t n) {
    if (n > max_size - size_) throw std::length_error("a buffer of more than 2^63 bytes");
    if (size_ + n <= capacity_) return;
    std::size_t cap = capacity_ < 64 ? 64 : capacity_;
    while (cap < size_ + n) cap *= 2;
    if (release_ != nullptr && release_ != &free_malloced) {  // adopted storage: copy out once
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

  /// A private, writable copy.
  owned_bytes clone() const {
    owned_bytes out;
    out.append(data_, size_);
    return out;
  }

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
    auto* keep = new std::shared_ptr<const void>(owner_);
    return owned_bytes(const_cast<std::byte*>(data_), size_,
                       [](void*, void* hint) { delete static_cast<std::shared_ptr<const void>*>(hint); },
                       keep);
  }
  /// A private, writable copy of these bytes.
  owned_bytes copy() const {
    owned_bytes out;
    out.append(data_, size_);
    return out;
  }
  /// Adopts an owned buffer as a payload (no copy).
  static payload adopt(owned_bytes&& bytes) {
    auto owner = std::make_shared<owned_bytes>(std::move(bytes));
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
