#pragma once
// For tests that run shared-memory lanes without a job: a private socket directory, and the
// options of rank 0 or 1 of a pretend two-rank job whose ranks are both this process.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "transport/shm/shm_lane.hpp"

namespace parrun::test {

/// A fresh directory of this user's, closed to others (mode 0700), removed at the end.
struct private_dir {
  std::filesystem::path path;
  private_dir() {
    std::string t = (std::filesystem::temp_directory_path() / "parrun-shm-test-XXXXXX").string();
    path = ::mkdtemp(t.data());
    ::chmod(path.c_str(), 0700);
  }
  ~private_dir() { std::filesystem::remove_all(path); }
  private_dir(const private_dir&) = delete;
  private_dir& operator=(const private_dir&) = delete;
};

/// Rank `rank` (0 or 1) of a two-rank job in this process, secret "test-secret".
inline detail::shm_options pair_options(const std::string& dir, int rank,
                                        std::uint64_t ring_bytes = detail::shm_options{}.ring_bytes,
                                        bool direct = true) {
  detail::shm_options o;
  o.dir = dir;
  o.secret = "test-secret";
  o.pids = {::getpid(), ::getpid()};
  o.peers = {rank != 0, rank != 1};
  o.my_rank = rank;
  o.ring_bytes = ring_bytes;
  o.allow_direct = direct;
  return o;
}

}  // namespace parrun::test
