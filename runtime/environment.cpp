#include <parrun/environment.hpp>

#include <cxxabi.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "comm_impl.hpp"
#include "runtime.hpp"

namespace parrun {
namespace detail {
namespace {

runtime* the_runtime = nullptr;
std::atomic<bool> ever_joined{false};

// The reason an uncaught exception ended this rank: its type and what().
std::string describe_current_exception() {
  std::exception_ptr ep = std::current_exception();
  if (!ep) return "std::terminate was called without an active exception";
  const std::type_info* t = abi::__cxa_current_exception_type();
  std::string type = t != nullptr ? type_name(type_id{0, t->name()}) : "unknown type";
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    return "uncaught exception " + type + ": " + e.what();
  } catch (...) {
    return "uncaught exception of type " + type;
  }
}

// Replaces std::terminate's default: tell the launcher why (it reports and ends the job), then
// abort as the default handler would.
[[noreturn]] void on_terminate() {
  std::string reason = describe_current_exception();
  runtime* rt = the_runtime;
  bool reported = rt != nullptr && rt->eng()->report_failure(wire::failure_kind::uncaught_exception,
                                                             128 + 6, reason);
  if (!reported)
    std::fprintf(stderr, "parrun: rank %d: %s\n", rt != nullptr ? rt->eng()->rank() : 0,
                 reason.c_str());
  std::abort();
}

}  // namespace

runtime::runtime() {
  if (ever_joined.exchange(true))
    throw usage_error("parrun::environment can be created only once per program: a rank joins "
                      "its job once (keep one environment alive for the whole of main)");
  joined_job job = join_job();
  engine_ = std::make_shared<engine>(std::move(job.info), std::move(job.link), std::move(job.control));
  the_runtime = this;
  std::set_terminate(on_terminate);
}

runtime::~runtime() {
  the_runtime = nullptr;
}

runtime* runtime::current() noexcept { return the_runtime; }

}  // namespace detail

environment::environment(int, char**) : environment() {}

environment::environment() : runtime_(std::make_unique<detail::runtime>()) {
  const auto& e = runtime_->eng();
  std::vector<int> world(static_cast<std::size_t>(e->size()));
  for (int r = 0; r < e->size(); ++r) world[static_cast<std::size_t>(r)] = r;
  world_ = communicator(std::make_shared<detail::comm_impl>(e, 0, e->rank(), std::move(world)));
}

environment::~environment() {
  try {
    runtime_->eng()->finalize();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parrun: rank %d: finalize failed: %s\n", runtime_->eng()->rank(), e.what());
  }
}

const std::string& environment::host() const noexcept { return runtime_->eng()->info().host; }
int environment::local_rank() const noexcept { return runtime_->eng()->info().local_rank; }
int environment::local_size() const noexcept { return runtime_->eng()->info().local_size; }
bool environment::launched() const noexcept { return runtime_->eng()->info().launched; }

void abort(int code, const std::string& reason) {
  if (code < 1 || code > 255) code = 1;  // an abort always fails the job
  detail::runtime* rt = detail::runtime::current();
  if (rt == nullptr || !rt->eng()->report_failure(wire::failure_kind::aborted, code, reason))
    std::fprintf(stderr, "parrun: rank %d called parrun::abort(%d): %s\n",
                 rt != nullptr ? rt->eng()->rank() : 0, code, reason.c_str());
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(code);
}

const char* version() noexcept { return PARRUN_VERSION_STRING; }

namespace {
// wtime()'s origin: the first call in the process (small values keep a double's precision).
const std::chrono::steady_clock::time_point wtime_origin = std::chrono::steady_clock::now();
}  // namespace

double wtime() noexcept {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - wtime_origin).count();
}

double wtick() noexcept {
  using period = std::chrono::steady_clock::period;
  return static_cast<double>(period::num) / static_cast<double>(period::den);
}

}  // namespace parrun
