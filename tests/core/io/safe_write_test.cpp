// Crash- and kill-safe writing (bitscape/safe_write.h): temporaries beside their target, removed
// once their process is gone; output folders that replace only what Bitscape wrote, and only
// as a whole.
#include "bitscape/safe_write.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "bitscape/error.h"
#include "test_util.h"

namespace fs = std::filesystem;
using bitscape::InputError;
using bitscape::StagedDirectory;
using bitscape::test::expect_error;
using bitscape::test::read_file;
using bitscape::test::scratch_dir;
using bitscape::test::write_file;

namespace {

// The id of a process that has ended.
pid_t dead_pid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status = 0;
  waitpid(pid, &status, 0);
  return pid;
}

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST(SafeWriteTest, AtomicWriteReplacesWholeAndLeavesNoTemporary) {
  const std::string dir = scratch_dir();
  bitscape::write_file_atomically(dir + "/a.json", "old", "test file");
  bitscape::write_file_atomically(dir + "/a.json", "new", "test file");
  EXPECT_EQ(read_file(dir + "/a.json"), "new");
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"a.json"});
  expect_error<InputError>([&] { bitscape::write_file_atomically(dir + "/no/such/dir/a", "x", "test file"); },
                           {"cannot write the test file"});
}

TEST(SafeWriteTest, StaleTemporariesOfEndedProcessesAreRemovedOthersKept) {
  const std::string dir = scratch_dir();
  const std::string target = dir + "/p.bsproj.h5";
  const std::string dead = dir + "/.p.bsproj.h5.tmp-" + std::to_string(dead_pid()) + "-0";
  const std::string live = dir + "/.p.bsproj.h5.tmp-" + std::to_string(::getppid()) + "-0";
  const std::string ours = bitscape::temp_path_beside(target);
  const std::string other = dir + "/.q.bsproj.h5.tmp-" + std::to_string(dead_pid()) + "-0";
  for (const auto& p : {dead, live, ours, other}) write_file(p, "x");
  fs::create_directories(dir + "/.p.bsproj.h5.tmp-" + std::to_string(dead_pid()) + "-1/inner");
  EXPECT_EQ(bitscape::remove_stale_temps(target), 2);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(live));   // the parent of this test still runs
  EXPECT_TRUE(fs::exists(ours));   // this process's own
  EXPECT_TRUE(fs::exists(other));  // another target's
}

TEST(SafeWriteTest, TempFileGuardRemovesUnlessReleased) {
  const std::string dir = scratch_dir();
  {
    bitscape::TempFileGuard g(dir + "/t1");
    write_file(g.path(), "x");
  }
  EXPECT_FALSE(fs::exists(dir + "/t1"));
  {
    bitscape::TempFileGuard g(dir + "/t2");
    write_file(g.path(), "x");
    g.release();
  }
  EXPECT_TRUE(fs::exists(dir + "/t2"));
  // The signal handlers' path: every registered temporary is unlinked.
  bitscape::TempFileGuard g(dir + "/t3");
  write_file(g.path(), "x");
  bitscape::remove_registered_temps_from_signal_handler();
  EXPECT_FALSE(fs::exists(dir + "/t3"));
}

TEST(SafeWriteTest, StagedDirectoryReplacesOnlyItsOwnKindOfOutput) {
  const std::string dir = scratch_dir();
  // New target: created at commit, not before.
  {
    StagedDirectory s(dir + "/out", "summary.json", false, {});
    write_file(s.path() + "/summary.json", "1");
    EXPECT_FALSE(fs::exists(dir + "/out"));
    s.commit();
  }
  EXPECT_EQ(read_file(dir + "/out/summary.json"), "1");
  // An earlier output: only with `replace`, swapped whole.
  expect_error<InputError>([&] { StagedDirectory(dir + "/out", "summary.json", false, {}); },
                           {"--force"});
  write_file(dir + "/out/extra", "old");
  {
    StagedDirectory s(dir + "/out", "summary.json", true, {});
    write_file(s.path() + "/summary.json", "2");
    s.commit();
  }
  EXPECT_EQ(read_file(dir + "/out/summary.json"), "2");
  EXPECT_FALSE(fs::exists(dir + "/out/extra"));
  // Without commit (an error, a cancel): the target stays as it was, the staging is removed.
  {
    StagedDirectory s(dir + "/out", "summary.json", true, {});
    write_file(s.path() + "/summary.json", "3");
  }
  EXPECT_EQ(read_file(dir + "/out/summary.json"), "2");
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"out"});
  // Never: a file, a folder of other things, a folder holding an input.
  write_file(dir + "/file", "f");
  expect_error<InputError>([&] { StagedDirectory(dir + "/file", "summary.json", true, {}); },
                           {"not a folder"});
  fs::create_directories(dir + "/mine");
  write_file(dir + "/mine/a", "a");
  expect_error<InputError>([&] { StagedDirectory(dir + "/mine", "summary.json", true, {}); },
                           {"did not write"});
  expect_error<InputError>(
      [&] { StagedDirectory(dir + "/out", "summary.json", true, {dir + "/out/../out/model"}); },
      {"holds the input"});
  EXPECT_EQ(read_file(dir + "/mine/a"), "a");
}
