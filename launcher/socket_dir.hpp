#pragma once
// The job's socket directory, `$TMPDIR/parrun-<job id>`: made (mode 0700, new, ours) before the
// first rank starts and handed to every rank as PARRUN_SOCKET_DIR; each rank binds its data
// socket inside it as `<dir>/<rank>`, so no other user can even connect to one. The launcher
// removes it with everything in it when the job ends, however it ends; should the launcher be
// killed outright, its watchdog (spawn.hpp) unlinks the rank sockets and the directory, from
// the list socket_paths gives it beforehand.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace parrun::launcher {

/// The longest `<dir>/<rank>` a rank's socket path may be: Linux's sun_path holds 108 bytes,
/// and ZeroMQ and the terminating NUL need some of them.
inline constexpr std::size_t max_socket_path = 100;

/// Where a job's directory goes: under `tmpdir` (TMPDIR; trailing slashes dropped), or under
/// /tmp when TMPDIR is unset, empty or relative, or when `<dir>/<np-1>` would be longer than
/// max_socket_path.
std::string socket_dir_path(const std::optional<std::string>& tmpdir, const std::string& job_id,
                            int np);

/// `<dir>/0` .. `<dir>/<np-1>`: where the ranks bind their sockets.
std::vector<std::string> socket_paths(const std::string& dir, int np);

/// The directory itself: made by the constructor, removed (with everything in it) by the
/// destructor.
class socket_dir {
 public:
  /// Makes `path` with mode 0700 and checks that it is a new directory of ours with exactly
  /// that mode. Throws std::runtime_error naming the path and the reason.
  explicit socket_dir(std::string path);
  ~socket_dir();
  socket_dir(const socket_dir&) = delete;
  socket_dir& operator=(const socket_dir&) = delete;

  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

}  // namespace parrun::launcher
