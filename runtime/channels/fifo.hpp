#pragma once
// The queue of values that arrived on a channel and were not received yet.
#include <cstddef>
#include <utility>
#include <vector>

namespace parrun::detail {

/// A FIFO in one growable circular buffer: once it has grown to the largest backlog it never
/// allocates again (std::deque allocates and frees a block every few values that pass).
template <class T>
class fifo {
 public:
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  T& front() noexcept { return slots_[head_]; }
  void push_back(T&& v) {
    if (size_ == slots_.size()) grow();
    slots_[(head_ + size_) % slots_.size()] = std::move(v);
    ++size_;
  }
  void pop_front() noexcept {
    slots_[head_] = T{};  // let go of what it holds now
    head_ = (head_ + 1) % slots_.size();
    --size_;
  }

 private:
  void grow() {
    std::vector<T> bigger(slots_.empty() ? 8 : slots_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i)
      bigger[i] = std::move(slots_[(head_ + i) % slots_.size()]);
    slots_.swap(bigger);
    head_ = 0;
  }
  std::vector<T> slots_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace parrun::detail
