// What a job needs from the machine before its first rank starts: enough open files for the
// launcher (launcher/descriptors.hpp) and its private socket directory (launcher/socket_dir.hpp).
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "descriptors.hpp"
#include "socket_dir.hpp"

namespace fs = std::filesystem;
using namespace parrun::launcher;

namespace {

rlimit limit(rlim_t soft, rlim_t hard) { return rlimit{soft, hard}; }

}  // namespace

// --- descriptors ----------------------------------------------------------------------------

TEST(descriptors, three_per_rank_and_a_fixed_margin) {
  // Per rank, for the whole job: its stdout and stderr pipes and its control connection.
  EXPECT_EQ(descriptors_needed(2) - descriptors_needed(1), 3u);
  EXPECT_EQ(descriptors_needed(340) - descriptors_needed(0), 1020u);
  EXPECT_GE(descriptors_needed(0), 16u) << "stdio, signalfd, ZeroMQ, one rank's start";
}

TEST(descriptors, job_that_fits_is_fine) {
  EXPECT_EQ(descriptor_shortage(120, limit(20000, 20000)), std::nullopt);
  EXPECT_EQ(descriptor_shortage(1, limit(descriptors_needed(1), descriptors_needed(1))),
            std::nullopt);
  EXPECT_EQ(descriptor_shortage(65536, limit(RLIM_INFINITY, RLIM_INFINITY)), std::nullopt);
}

TEST(descriptors, job_over_the_hard_limit_says_what_to_do) {
  const std::optional<std::string> why = descriptor_shortage(60, limit(64, 64));
  ASSERT_TRUE(why.has_value());
  const std::string need = std::to_string(descriptors_needed(60));
  EXPECT_EQ(*why, "-n 60 needs up to " + need +
                      " open files but the open-file limit is 64 (its hard limit); "
                      "raise it with 'ulimit -n " +
                      need + "' before starting parrun (raising a hard limit needs root)");
}

TEST(descriptors, job_over_a_soft_limit_that_could_not_be_raised) {
  const std::optional<std::string> why = descriptor_shortage(60, limit(64, 4096));
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("the open-file limit is 64;"), std::string::npos) << *why;
  EXPECT_EQ(why->find("hard limit"), std::string::npos) << *why;
}

TEST(descriptors, raising_lifts_the_soft_limit_to_the_hard_one) {
  rlimit before{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &before), 0);
  rlimit lowered = before;
  lowered.rlim_cur =
      before.rlim_max == RLIM_INFINITY || before.rlim_max > 256 ? 256 : before.rlim_max;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lowered), 0);
  const descriptor_limits l = raise_descriptor_limit();
  rlimit now{};
  getrlimit(RLIMIT_NOFILE, &now);
  setrlimit(RLIMIT_NOFILE, &before);
  EXPECT_EQ(l.original.rlim_cur, lowered.rlim_cur);
  EXPECT_EQ(l.raised.rlim_cur, before.rlim_max);
  EXPECT_EQ(now.rlim_cur, before.rlim_max);
}

// --- socket directory -------------------------------------------------------------------------

TEST(socket_dir_path, under_tmpdir) {
  EXPECT_EQ(socket_dir_path(std::string("/var/tmp/me"), "0b1d", 8), "/var/tmp/me/parrun-0b1d");
  EXPECT_EQ(socket_dir_path(std::string("/var/tmp/me///"), "0b1d", 8), "/var/tmp/me/parrun-0b1d");
  EXPECT_EQ(socket_dir_path(std::string("/"), "0b1d", 8), "/parrun-0b1d");
}

TEST(socket_dir_path, tmp_when_tmpdir_is_unset_empty_or_relative) {
  EXPECT_EQ(socket_dir_path(std::nullopt, "0b1d", 8), "/tmp/parrun-0b1d");
  EXPECT_EQ(socket_dir_path(std::string(""), "0b1d", 8), "/tmp/parrun-0b1d");
  EXPECT_EQ(socket_dir_path(std::string("scratch"), "0b1d", 8), "/tmp/parrun-0b1d");
}

TEST(socket_dir_path, tmp_when_a_socket_path_would_be_too_long) {
  const std::string id = "0123456789abcdef";
  // "<base>/parrun-<id>/<rank>.shm": 1 + 23 + 1 + digits of the last rank + 4.
  const std::string fits(max_socket_path - 1 - 23 - 1 - 3 - 4, 'd');  // ranks up to 999
  EXPECT_EQ(socket_dir_path("/" + fits.substr(1), id, 1000),
            "/" + fits.substr(1) + "/parrun-" + id);
  EXPECT_EQ((socket_dir_path("/" + fits.substr(1), id, 1000) + "/999.shm").size(), max_socket_path);
  EXPECT_EQ(socket_dir_path("/" + fits.substr(1), id, 1001), "/tmp/parrun-" + id)
      << "rank 1000 would not fit";
  EXPECT_EQ(socket_dir_path("/" + std::string(200, 'x'), id, 2), "/tmp/parrun-" + id);
}

TEST(socket_dir_path, a_zmq_and_a_shm_socket_per_rank) {
  EXPECT_EQ(socket_paths("/tmp/parrun-1", 2),
            (std::vector<std::string>{"/tmp/parrun-1/0", "/tmp/parrun-1/0.shm", "/tmp/parrun-1/1", "/tmp/parrun-1/1.shm"}));
  EXPECT_TRUE(socket_paths("/tmp/parrun-1", 0).empty());
}

namespace {

class socket_dir_test : public testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/parrun-socket-dir-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    root_ = pattern;
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

}  // namespace

TEST_F(socket_dir_test, made_with_mode_0700_whatever_the_umask) {
  const mode_t old = umask(0777);  // would leave mkdir's 0700 as 0000
  std::optional<socket_dir> d;
  try {
    d.emplace((root_ / "parrun-1").string());
  } catch (...) {
    umask(old);
    throw;
  }
  umask(old);
  struct stat st {};
  ASSERT_EQ(lstat(d->path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(st.st_uid, geteuid());
}

TEST_F(socket_dir_test, removed_with_everything_in_it) {
  const fs::path p = root_ / "parrun-2";
  {
    socket_dir d(p.string());
    std::ofstream(p / "0") << "a socket, say";
    fs::create_directories(p / "nested" / "deeper");
    std::ofstream(p / "nested" / "deeper" / "file") << "x";
  }
  EXPECT_FALSE(fs::exists(p));
}

TEST_F(socket_dir_test, removal_tolerates_a_directory_already_gone) {
  const fs::path p = root_ / "parrun-3";
  {
    socket_dir d(p.string());
    fs::remove(p);
  }
  EXPECT_FALSE(fs::exists(p));
}

TEST_F(socket_dir_test, an_existing_name_is_never_taken_for_ours) {
  const fs::path p = root_ / "parrun-4";
  fs::create_directory(p);
  std::ofstream(p / "theirs") << "keep";
  try {
    socket_dir d(p.string());
    ADD_FAILURE() << "an existing directory was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(p.string() + ": File exists"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(fs::exists(p / "theirs")) << "someone else's directory was touched";
  fs::create_symlink(root_ / "elsewhere", root_ / "parrun-5");
  EXPECT_THROW(socket_dir((root_ / "parrun-5").string()), std::runtime_error) << "a planted link";
}

TEST_F(socket_dir_test, missing_parent_is_an_error_naming_the_path) {
  const fs::path p = root_ / "no-such-dir" / "parrun-6";
  try {
    socket_dir d(p.string());
    ADD_FAILURE() << "made a directory under a missing parent";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot make the job's socket directory " + p.string() +
                  ": No such file or directory (set TMPDIR to a directory of yours)");
  }
}
