// Projects that grow in place (issue 15, part 5; core/src/io/project.cpp, "Updates in place"):
// an update writes only what is new into the project itself when no one else has it open, on a
// copy when a reader keeps it open (that reader goes on reading what it opened); each
// checkpoint() is committed, and a writer that is dropped, or killed in the middle of any of its
// in-place writes, leaves the project exactly as it was at the last checkpoint; readers wait for
// a burst of another thread and roll back the journal of a writer that died.
#include <gtest/gtest.h>

#include "bitscape/error.h"
#include "bitscape/project.h"
#include "test_util.h"

#if BITSCAPE_WITH_HDF5
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "io/undo_journal.h"

namespace bitscape {
namespace {

namespace fs = std::filesystem;
using test::expect_error;
using test::read_file;
using test::scratch_dir;

#define REQUIRE_HDF5()                                                      \
  do {                                                                      \
    if (!project_support_available()) GTEST_SKIP() << "built without HDF5"; \
  } while (0)

std::vector<float> values(size_t n, float base) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = base + float(i % 1009) * 0.5f;
  return v;
}

// A committed project holding ~2 MB of Hessian (pseudo-random: deflate cannot shrink it) and
// one search run.
std::string make_project(const std::string& dir) {
  const std::string path = dir + "/p.bsproj.h5";
  ProjectWriter w = ProjectWriter::create(path);
  ProjectModelInfo m;
  m.path = "synthetic";
  m.fingerprint = "in-place";
  m.config_json = "{}";
  m.modules = {{"model.layers.0.mlp.down_proj", 16, 1024}};
  w.write_model(m);
  CalibrationSettings c;
  c.corpus = "synthetic";
  c.samples = 1;
  c.seqlen = 16;
  w.begin_calibration(c);
  HessianData h;
  h.key = "h";
  h.modules = {m.modules[0].name};
  h.n = 1024;
  h.tokens = 16;
  h.diag.assign(1024, 1.0f);
  h.upper.resize(1024 * 1025 / 2);
  uint32_t state = 7;
  for (float& x : h.upper) {
    state = state * 1664525u + 1013904223u;
    x = float(state >> 8);
  }
  w.write_hessian(h);
  w.write_floats("/search/run1/points", values(1000, 1.0f), {1000});
  w.set_attribute("/search/run1", "status", std::string("complete"));
  w.commit();
  return path;
}

uint64_t inode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? uint64_t(st.st_ino) : 0;
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(ProjectInPlaceTest, AnUpdateWritesOnlyWhatIsNewIntoTheProjectItself) {
  REQUIRE_HDF5();
  const std::string dir = scratch_dir();
  const std::string path = make_project(dir);
  const uint64_t inode = inode_of(path);
  const auto size = int64_t(fs::file_size(path));
  detail::set_undo_journal_crash_after(0);  // resets the count of in-place writes
  {
    ProjectWriter w = ProjectWriter::update(path);
    w.write_floats("/search/run2/points", values(2000, 2.0f), {2000});
    w.set_attribute("/search/run2", "status", std::string("running"));
    EXPECT_TRUE(w.writing_in_place());
    EXPECT_EQ(w.temp_path(), path);
    EXPECT_TRUE(fs::exists(detail::undo_journal_path(path)));
    w.commit();
  }
  EXPECT_GT(detail::undo_journal_in_place_writes(), 0);  // metadata updated in place, journaled
  EXPECT_EQ(inode_of(path), inode);                      // the same file, not a copy renamed
  const int64_t grown = int64_t(fs::file_size(path)) - size;
  EXPECT_GE(grown, 2000 * 4);
  EXPECT_LT(grown, 2000 * 4 + 64 * 1024);  // what is new, not a copy of the 2 MB
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"p.bsproj.h5"});  // no journal, no lock left
  const ProjectReader r = ProjectReader::open(path);
  EXPECT_EQ(r.read_floats("/search/run2/points"), values(2000, 2.0f));
  EXPECT_EQ(r.read_floats("/search/run1/points"), values(1000, 1.0f));
  EXPECT_EQ(r.string_attribute("/search/run2", "status"), "running");
}

TEST(ProjectInPlaceTest, AnOpenReaderSendsTheUpdateToACopyAndKeepsReadingWhatItOpened) {
  REQUIRE_HDF5();
  const std::string dir = scratch_dir();
  const std::string path = make_project(dir);
  const uint64_t inode = inode_of(path);
  {
    const ProjectReader reader = ProjectReader::open(path);
    ProjectWriter w = ProjectWriter::update(path);
    w.set_attribute("/search/run1", "status", std::string("changed"));
    EXPECT_FALSE(w.writing_in_place());
    EXPECT_NE(w.temp_path(), path);
    w.commit();
    // The reader's file was not changed under it.
    EXPECT_EQ(reader.string_attribute("/search/run1", "status"), "complete");
    EXPECT_EQ(reader.read_floats("/search/run1/points"), values(1000, 1.0f));
  }
  EXPECT_NE(inode_of(path), inode);
  EXPECT_EQ(ProjectReader::open(path).string_attribute("/search/run1", "status"), "changed");
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"p.bsproj.h5"});
}

TEST(ProjectInPlaceTest, CheckpointsAreCommittedAndADroppedWriterGoesBackToTheLastOne) {
  REQUIRE_HDF5();
  const std::string dir = scratch_dir();
  const std::string path = make_project(dir);
  std::string at_checkpoint;
  {
    ProjectWriter w = ProjectWriter::update(path);
    w.write_floats("/search/run2/points", values(100, 3.0f), {100});
    w.set_attribute("/search/run2", "completed_iterations", int64_t(1));
    w.checkpoint();
    at_checkpoint = read_file(path);
    {
      // Between checkpoints the project is closed: readers see the checkpoint.
      const ProjectReader r = ProjectReader::open(path);
      EXPECT_EQ(r.number_attribute("/search/run2", "completed_iterations"), 1.0);
    }
    w.remove("/search/run2");
    w.write_floats("/search/run2/points", values(5000, 4.0f), {5000});
    w.set_attribute("/search/run2", "completed_iterations", int64_t(2));
    w.remove("/search/run1");
    EXPECT_TRUE(w.writing_in_place());
  }  // dropped without a checkpoint
  EXPECT_TRUE(read_file(path) == at_checkpoint);  // byte for byte
  const ProjectReader r = ProjectReader::open(path);
  EXPECT_EQ(r.number_attribute("/search/run2", "completed_iterations"), 1.0);
  EXPECT_EQ(r.read_floats("/search/run2/points"), values(100, 3.0f));
  EXPECT_TRUE(r.exists("/search/run1"));
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"p.bsproj.h5"});
}

// In a child: a checkpoint, then a second burst killed in the middle of its k-th in-place write.
int checkpoint_then_die(const std::string& path, int k) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    try {
      ProjectWriter w = ProjectWriter::update(path);
      w.set_attribute("/search/run2", "completed_iterations", int64_t(1));
      w.checkpoint();
      detail::set_undo_journal_crash_after(k);
      w.remove("/search/run1");
      w.write_floats("/search/run2/points", values(3000, 5.0f), {3000});
      w.set_attribute("/search/run2", "completed_iterations", int64_t(2));
      w.commit();
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ProjectInPlaceTest, AWriterKilledInAnyInPlaceWriteLeavesTheProjectOfItsLastCheckpoint) {
  REQUIRE_HDF5();
  const std::string dir = scratch_dir();
  const std::string original = make_project(dir);
  const std::string work = dir + "/w.bsproj.h5";
  int killed = 0;
  for (int k = 1; k < 200; ++k) {
    fs::copy_file(original, work, fs::copy_options::overwrite_existing);
    const int code = checkpoint_then_die(work, k);
    if (code == 9) {
      ++killed;
      ASSERT_TRUE(fs::exists(detail::undo_journal_path(work))) << k;
      // The next reader rolls the dead writer's journal back.
      const ProjectReader r = ProjectReader::open(work);
      EXPECT_FALSE(fs::exists(detail::undo_journal_path(work))) << k;
      EXPECT_EQ(r.number_attribute("/search/run2", "completed_iterations"), 1.0) << k;
      EXPECT_FALSE(r.exists("/search/run2/points")) << k;
      EXPECT_EQ(r.read_floats("/search/run1/points"), values(1000, 1.0f)) << k;
      EXPECT_EQ(r.hessian("h").upper.size(), size_t(1024 * 1025 / 2)) << k;
      continue;
    }
    ASSERT_EQ(code, 0) << k;  // finished before its k-th in-place write
    const ProjectReader r = ProjectReader::open(work);
    EXPECT_EQ(r.number_attribute("/search/run2", "completed_iterations"), 2.0);
    EXPECT_FALSE(r.exists("/search/run1"));
    break;
  }
  EXPECT_GE(killed, 3);
  // A writer also rolls back what a dead one left.
  fs::copy_file(original, work, fs::copy_options::overwrite_existing);
  ASSERT_EQ(checkpoint_then_die(work, 1), 9);
  {
    ProjectWriter w = ProjectWriter::update(work);
    EXPECT_FALSE(fs::exists(detail::undo_journal_path(work)));
    w.set_attribute("/", "after", std::string("recovery"));
    w.commit();
  }
  const ProjectReader r = ProjectReader::open(work);
  EXPECT_EQ(r.string_attribute("/", "after"), "recovery");
  EXPECT_EQ(r.number_attribute("/search/run2", "completed_iterations"), 1.0);
}

TEST(ProjectInPlaceTest, AReaderWaitsForTheBurstOfAnotherThreadAndTheWritingThreadCannotRead) {
  REQUIRE_HDF5();
  const std::string path = make_project(scratch_dir());
  std::atomic<bool> writing{false};
  std::thread writer([&] {
    ProjectWriter w = ProjectWriter::update(path);
    w.set_attribute("/search/run1", "status", std::string("rewritten"));
    ASSERT_TRUE(w.writing_in_place());
    expect_error<InputError>([&] { ProjectReader::open(path); }, {path, "this same job"});
    writing = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    w.commit();
  });
  while (!writing) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto t0 = std::chrono::steady_clock::now();
  const ProjectReader r = ProjectReader::open(path);  // waits for the commit
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  writer.join();
  EXPECT_GT(waited, 0.1);
  EXPECT_EQ(r.string_attribute("/search/run1", "status"), "rewritten");
}

TEST(ProjectInPlaceTest, WithInPlaceUpdatesOffEveryUpdateIsACopyRenamedOverTheProject) {
  REQUIRE_HDF5();
  const std::string dir = scratch_dir();
  const std::string path = make_project(dir);
  const uint64_t inode = inode_of(path);
  set_in_place_updates(false);
  {
    ProjectWriter w = ProjectWriter::update(path);
    w.set_attribute("/search/run1", "status", std::string("copied"));
    EXPECT_FALSE(w.writing_in_place());
    w.commit();
  }
  set_in_place_updates(true);
  EXPECT_NE(inode_of(path), inode);
  EXPECT_EQ(ProjectReader::open(path).string_attribute("/search/run1", "status"), "copied");
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"p.bsproj.h5"});
}

}  // namespace
}  // namespace bitscape

#endif  // BITSCAPE_WITH_HDF5
