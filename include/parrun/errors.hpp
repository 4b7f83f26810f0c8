#pragma once
// The exceptions parrun throws, a small hierarchy you can catch by kind. Every message names
// the operation, this rank, the peer and the tag where they apply.
#include <cstddef>
#include <stdexcept>
#include <string>

namespace parrun {

/// Base of every parrun exception.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A call was made with invalid arguments (bad rank, bad tag, wrong shapes, misuse).
class usage_error : public error {
 public:
  using error::error;
};

/// A message arrived whose C++ type differs from the type it was received as.
class type_mismatch : public error {
 public:
  using error::error;
};

/// A message did not fit where it was received, or its bytes did not decode as its type.
class truncation_error : public error {
 public:
  using error::error;
};

/// The peer of an operation has died or left the job.
class peer_lost : public error {
 public:
  peer_lost(const std::string& what, int rank) : error(what), rank_(rank) {}
  /// The lost rank (in the world communicator).
  int rank() const noexcept { return rank_; }

 private:
  int rank_;
};

/// An operation with a time limit did not complete in time.
class timeout_error : public error {
 public:
  using error::error;
};

/// A channel was closed: receiving found it closed and drained, or sending on a closed end.
class channel_closed : public error {
 public:
  using error::error;
};

/// A task of pool_map failed on some rank: names the rank and the input index.
class task_error : public error {
 public:
  task_error(const std::string& what, int rank, std::size_t index)
      : error(what), rank_(rank), index_(index) {}
  /// The rank (of the pool's communicator) where the task failed.
  int rank() const noexcept { return rank_; }
  /// The index of the input whose task failed.
  std::size_t index() const noexcept { return index_; }

 private:
  int rank_;
  std::size_t index_;
};

/// The transport failed: a socket could not be created, bound or connected, or the launcher
/// could not be reached.
class transport_error : public error {
 public:
  using error::error;
};

}  // namespace parrun
