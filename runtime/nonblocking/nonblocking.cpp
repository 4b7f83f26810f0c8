// Non-blocking collectives: the blocking collective, run on a fiber (fiber.hpp) that the engine
// resumes from inside every parrun call; the request completes when the fiber finishes.
#include <parrun/communicator.hpp>

#include "nonblocking/fiber.hpp"
#include "request_state.hpp"

namespace parrun {
namespace detail {
namespace {

class collective_request final : public request_state {
 public:
  collective_request(std::shared_ptr<comm_impl> comm, const char* op, std::shared_ptr<fiber> f)
      : request_state(std::move(comm)), op_(op), fiber_(std::move(f)) {}
  bool ready() const override { return fiber_->finished(); }
  status finish() override {
    if (std::exception_ptr failed = fiber_->failure()) std::rethrow_exception(failed);
    return status(comm_->rank(), -1, 0, 0);
  }
  activity what() const override { return {op_}; }

 private:
  const char* op_;
  std::shared_ptr<fiber> fiber_;
};

}  // namespace
}  // namespace detail

request communicator::start_collective(const char* op, std::function<void()> body) const {
  detail::comm_impl& c = impl();
  c.eng().check_open(op);
  auto f = std::make_shared<detail::fiber>(std::move(body));
  c.eng().start(f);
  return request(std::make_shared<detail::collective_request>(impl_, op, std::move(f)));
}

request communicator::ibarrier() const {
  return start_collective("ibarrier", [self = *this] { self.barrier(); });
}

}  // namespace parrun
