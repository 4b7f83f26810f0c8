#include "socket_dir.hpp"

#include <parrun/wire.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

namespace parrun::launcher {
namespace {

std::runtime_error dir_error(const std::string& path, const std::string& why) {
  return std::runtime_error("cannot make the job's socket directory " + path + ": " + why +
                            " (set TMPDIR to a directory of yours)");
}

}  // namespace

std::string socket_dir_path(const std::optional<std::string>& tmpdir, const std::string& job_id,
                            int np) {
  const std::string name = "parrun-" + job_id;
  const std::size_t longest_rank = std::to_string(np > 0 ? np - 1 : 0).size();
  std::string base = tmpdir.value_or("");
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  // A relative TMPDIR would mean another directory to a rank that changed its own.
  if (base.empty() || base[0] != '/' ||
      base.size() + 1 + name.size() + 1 + longest_rank + 4 > max_socket_path)  // "<rank>.shm"
    base = "/tmp";
  return (base == "/" ? "" : base) + "/" + name;
}

std::vector<std::string> socket_paths(const std::string& dir, int np) {
  std::vector<std::string> paths;
  paths.reserve(2 * static_cast<std::size_t>(np > 0 ? np : 0));
  for (int r = 0; r < np; ++r) {
    paths.push_back(wire::zmq_socket_path(dir, r));
    paths.push_back(wire::shm_socket_path(dir, r));
  }
  return paths;
}

socket_dir::socket_dir(std::string path) : path_(std::move(path)) {
  // mkdir fails when the name exists: whatever is there (another user's directory or a link
  // planted in a shared /tmp) is never taken for ours.
  if (mkdir(path_.c_str(), 0700) != 0) throw dir_error(path_, std::strerror(errno));
  chmod(path_.c_str(), 0700);  // the umask may have taken bits off
  struct stat st {};
  std::string wrong;
  if (lstat(path_.c_str(), &st) != 0)
    wrong = std::strerror(errno);
  else if (!S_ISDIR(st.st_mode))
    wrong = "not a directory after mkdir";
  else if (st.st_uid != geteuid())
    wrong = "owned by uid " + std::to_string(st.st_uid) + ", not by us";
  else if ((st.st_mode & 07777) != 0700)
    wrong = "its mode is not 0700";
  if (!wrong.empty()) {
    rmdir(path_.c_str());
    throw dir_error(path_, wrong);
  }
}

socket_dir::~socket_dir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace parrun::launcher
