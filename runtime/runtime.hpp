#pragma once
// The process-wide runtime behind parrun::environment: the engine, the job description, and the
// hooks that turn an uncaught exception or parrun::abort into a report from the launcher.
#include <memory>

#include "engine.hpp"

namespace parrun::detail {

class runtime {
 public:
  runtime();
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  const std::shared_ptr<engine>& eng() const noexcept { return engine_; }
  /// The runtime of this process, or null outside an environment's lifetime.
  static runtime* current() noexcept;

 private:
  std::shared_ptr<engine> engine_;
};

}  // namespace parrun::detail
