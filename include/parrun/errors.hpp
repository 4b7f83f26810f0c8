#pragma once
// The exceptions parrun throws, a small hierarchy you can catch by kind. Every message names
// the operation, this rank, the peer and the tag where they apply.
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

/// The transport failed: a socket could not be created, bound or connected, or the launcher
/// could not be reached.
class transport_error : public error {
 public:
  using error::error;
};

}  // namespace parrun
