#pragma once
// For tests linked with parrun_rank_gtest_main: the job's environment and world communicator.
#include <parrun/parrun.hpp>

parrun::environment& test_env();
parrun::communicator& test_world();
