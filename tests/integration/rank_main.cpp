// main() for GoogleTest programs that run as every rank of a parrun job. Only rank 0 prints the
// usual report; every rank's failures are printed, prefixed with the rank, and a rank with a
// failed test exits 1, which fails the job.
#include <cstdio>

#include <gtest/gtest.h>

#include <parrun/parrun.hpp>

#include "rank_main.hpp"

namespace {
parrun::environment* the_env = nullptr;

class rank_failure_printer : public testing::EmptyTestEventListener {
 public:
  explicit rank_failure_printer(int rank) : rank_(rank) {}
  void OnTestPartResult(const testing::TestPartResult& r) override {
    if (r.failed())
      std::fprintf(stderr, "[rank %d] %s:%d: failure\n%s\n", rank_, r.file_name() ? r.file_name() : "?",
                   r.line_number(), r.summary());
  }

 private:
  int rank_;
};
}  // namespace

parrun::environment& test_env() { return *the_env; }
parrun::communicator& test_world() { return the_env->world(); }

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  parrun::environment env(argc, argv);
  the_env = &env;
  if (env.world().rank() != 0) {
    auto& listeners = testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new rank_failure_printer(env.world().rank()));
  }
  int failed = RUN_ALL_TESTS();
  return failed == 0 ? 0 : 1;
}
