// The undo-journal driver (core/src/io/undo_journal.h): an in-place update of an HDF5 file killed
// in the middle of any of its in-place writes (the write torn in half) rolls back to the file
// byte for byte as it was; an update that completes adds its objects while writing far less than
// the file holds; a torn journal, or none, is handled.
#include <gtest/gtest.h>

#include "bitscape/project.h"
#include "bitscape/search_store.h"
#include "test_util.h"

#if BITSCAPE_WITH_HDF5
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "io/undo_journal.h"

namespace bitscape {
namespace {

namespace fs = std::filesystem;

hid_t group(hid_t loc, const char* name) {
  return H5Lexists(loc, name, H5P_DEFAULT) > 0 ? H5Gopen2(loc, name, H5P_DEFAULT)
                                               : H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
}

void write_floats(hid_t loc, const char* name, int n, float v) {
  const hsize_t d = hsize_t(n);
  const hid_t space = H5Screate_simple(1, &d, nullptr);
  const hid_t ds = H5Dcreate2(loc, name, H5T_NATIVE_FLOAT, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  std::vector<float> x(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) x[size_t(i)] = v + float(i % 977);
  EXPECT_GE(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x.data()), 0);
  H5Dclose(ds);
  H5Sclose(space);
}

void set_number(hid_t loc, const char* name, double v) {
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t a = H5Aexists(loc, name) > 0
                      ? H5Aopen(loc, name, H5P_DEFAULT)
                      : H5Acreate2(loc, name, H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_DOUBLE, &v);
  H5Aclose(a);
  H5Sclose(space);
}

// In a child process: opens `path` in place through the driver, adds a run-like group with its
// datasets, extends an existing group and changes an attribute of the root, closes and commits.
// With `crash_after` k, the child dies in the middle of its k-th in-place write.
int update_in_child(const std::string& path, int crash_after) {
  const pid_t pid = fork();
  if (pid == 0) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    detail::set_undo_journal_crash_after(crash_after);
    const hid_t fapl = detail::undo_journal_fapl();
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl);
    if (f < 0) _exit(3);
    const hid_t runs = group(f, "undo_test_runs");
    const hid_t run = group(runs, "run2");
    write_floats(run, "points", 3000, 1.0f);
    set_number(run, "completed", 1);
    H5Gclose(run);
    H5Gclose(runs);
    set_number(f, "undo_test_updates", 1);
    if (H5Fclose(f) < 0) _exit(4);
    H5Pclose(fapl);
    detail::commit_undo_journal(path);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool has_object(const std::string& path, const char* name) {
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return false;
  const bool found = H5Lexists(f, "undo_test_runs", H5P_DEFAULT) > 0 && H5Lexists(f, name, H5P_DEFAULT) > 0;
  H5Fclose(f);
  return found;
}

// Every in-place write killed in turn, on a plain HDF5 file and on a real project (a checked
// project: after the rollback Bitscape opens it and reads its runs as before).
void kill_at_every_in_place_write(const std::string& base, bool project, const std::string& dir) {
  const std::string work = dir + "/work.h5";
  const std::string original = test::read_file(base);
  ASSERT_FALSE(original.empty());
  std::vector<std::string> runs;
  if (project) runs = search_runs(ProjectReader::open(base));
  int killed = 0;
  for (int k = 1; k < 200; ++k) {
    fs::copy_file(base, work, fs::copy_options::overwrite_existing);
    const int code = update_in_child(work, k);
    if (code == 9) {
      ++killed;
      EXPECT_TRUE(fs::exists(detail::undo_journal_path(work))) << k;
      EXPECT_TRUE(detail::roll_back_undo_journal(work)) << k;
      EXPECT_FALSE(fs::exists(detail::undo_journal_path(work))) << k;
      EXPECT_TRUE(test::read_file(work) == original) << "killed at in-place write " << k;
      if (project) {
        EXPECT_EQ(search_runs(ProjectReader::open(work)), runs) << k;
      }
      continue;
    }
    // The update completed before its k-th in-place write: it is all there, nothing to undo.
    ASSERT_EQ(code, 0) << k;
    EXPECT_FALSE(fs::exists(detail::undo_journal_path(work)));
    EXPECT_FALSE(detail::roll_back_undo_journal(work));
    EXPECT_TRUE(has_object(work, "undo_test_runs/run2/points"));
    const int64_t grown = int64_t(fs::file_size(work)) - int64_t(original.size());
    EXPECT_GT(grown, 3000 * 4);
    EXPECT_LT(grown, 3000 * 4 + 64 * 1024);  // what is new, not a copy of the file
    break;
  }
  EXPECT_GE(killed, 3);  // the update did overwrite metadata in place, and each kill was survived
}

TEST(UndoJournalTest, AKillInAnyInPlaceWriteRollsBackToTheIdenticalFile) {
  const std::string dir = test::scratch_dir();
  const std::string base = dir + "/base.h5";
  {
    const hid_t f = H5Fcreate(base.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hid_t c = group(f, "calibration");
    for (int i = 0; i < 6; ++i) write_floats(c, ("h" + std::to_string(i)).c_str(), 100000, float(i));
    H5Gclose(c);
    const hid_t runs = group(f, "undo_test_runs");
    const hid_t run = group(runs, "run1");
    write_floats(run, "points", 5000, 7.0f);
    H5Gclose(run);
    H5Gclose(runs);
    H5Fclose(f);
  }
  kill_at_every_in_place_write(base, false, dir);
}

TEST(UndoJournalTest, AProjectUpdatedInPlaceAndKilledIsTheProjectItWas) {
  if (!project_support_available()) GTEST_SKIP() << "built without HDF5";
  kill_at_every_in_place_write(std::string(BITSCAPE_FIXTURE_DIR) + "/../fuzz/corpus/project/tiny-full.bsproj.h5",
                               true, test::scratch_dir());
}

TEST(UndoJournalTest, NoJournalIsNothingToUndoAndATornHeaderIsDropped) {
  const std::string dir = test::scratch_dir();
  const std::string path = dir + "/f.h5";
  test::write_file(path, "contents that stay");
  EXPECT_FALSE(detail::roll_back_undo_journal(path));
  test::write_file(detail::undo_journal_path(path), "BSUN");  // killed while writing the header
  EXPECT_TRUE(detail::roll_back_undo_journal(path));
  EXPECT_FALSE(fs::exists(detail::undo_journal_path(path)));
  EXPECT_EQ(test::read_file(path), "contents that stay");
}

}  // namespace
}  // namespace bitscape

#endif  // BITSCAPE_WITH_HDF5
