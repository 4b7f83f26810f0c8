// Joining and leaving a job, timed from inside (tools/bench/job_scaling.sh runs it at -n 64 ..
// 1024): rank 0 prints the wall-clock time right after the first barrier, when every rank has
// joined and can talk; the script takes the time before starting parrun and after it exits, so
// "start" = launch to that barrier and "teardown" = that barrier to parrun's exit (every rank's
// finalize, the launcher's bookkeeping, the processes' exits).
#include <chrono>
#include <cstdio>

#include <parrun/parrun.hpp>

int main(int argc, char** argv) {
  parrun::environment env(argc, argv);
  env.world().barrier();
  if (env.world().rank() == 0) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    std::printf("joined %lld\n",
                static_cast<long long>(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()));
  }
  return 0;
}
