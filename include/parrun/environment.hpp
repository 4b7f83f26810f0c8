#pragma once
// Joining the job. The environment reads the launcher's contract (wire.hpp), publishes this
// rank's data endpoint, receives everyone's, and leaves through a finalize barrier when it is
// destroyed. A program started without parrun runs as rank 0 of 1.
#include <memory>
#include <string>

#include <parrun/communicator.hpp>
#include <parrun/version.hpp>

namespace parrun {

namespace detail {
class runtime;
}

/// The job as this rank sees it; exactly one may exist at a time, for the whole program.
class environment {
 public:
  /// Joins the job. Throws transport_error when started by parrun but the launcher cannot be
  /// reached, usage_error when the environment contract is malformed or a second environment is
  /// made.
  environment(int argc, char** argv);
  environment();
  /// Leaves the job: waits (still receiving) until every rank reaches this point, then warns
  /// about messages that arrived but were never received.
  ~environment();
  environment(const environment&) = delete;
  environment& operator=(const environment&) = delete;

  /// The communicator of all ranks of the job.
  communicator& world() noexcept { return world_; }
  /// This host's name as the launcher knows it.
  const std::string& host() const noexcept;
  /// This rank's number among the ranks on its host.
  int local_rank() const noexcept;
  /// The number of ranks on this host.
  int local_size() const noexcept;
  /// Whether the program was started by parrun (false: a singleton rank 0 of 1).
  bool launched() const noexcept;

 private:
  std::unique_ptr<detail::runtime> runtime_;
  communicator world_;
};

/// Ends the whole job: the launcher reports `reason` for this rank, terminates the others and
/// exits with `code`. Works without an environment too (then it just exits).
[[noreturn]] void abort(int code, const std::string& reason);

}  // namespace parrun
