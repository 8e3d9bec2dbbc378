// Writing files so that a crash, a kill or a full disk at any instant loses nothing: every file
// is written under a temporary name beside its target and renamed over it only when complete
// (and synced), so a reader sees the old version or the new one, never a part. Temporaries carry
// the writer's process id (".<name>.tmp-<pid>-<n>"); those of a process that no longer runs
// (killed with SIGKILL) are removed by the next writer of the same target, and the CLI's signal
// handlers remove the live ones before exiting. Plain-value header (no LibTorch).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace bitscape {

// A fresh temporary path beside `target` (same directory, so rename() is atomic), unique within
// this process and across processes.
std::string temp_path_beside(const std::string& target);

// Removes the temporaries beside `target` (files or folders) left by processes that have ended.
// Returns how many were removed. Never touches another running process's temporaries.
int remove_stale_temps(const std::string& target);

// Writes `bytes` to `path` atomically (temporary beside it, fsync, rename, fsync of the folder).
// `kind` names the file in errors ("allocation file"). Throws InputError.
void write_file_atomically(const std::string& path, std::string_view bytes, const std::string& kind);

// fsync of a file or folder; false (errno set) on failure.
bool sync_path(const std::string& path, bool directory);

// Temporaries this process is writing, so that a signal handler can remove them before the
// process exits (async-signal-safe: a fixed table, unlink() only). A temporary registers itself
// while it exists; folders are left to remove_stale_temps().
class TempFileGuard {
 public:
  explicit TempFileGuard(std::string path);
  ~TempFileGuard();  // unregisters; removes the file unless release() was called
  TempFileGuard(const TempFileGuard&) = delete;
  TempFileGuard& operator=(const TempFileGuard&) = delete;
  const std::string& path() const { return path_; }
  void release();  // the file was renamed into place: nothing to remove

 private:
  std::string path_;
  int slot_ = -1;
  bool released_ = false;
};
// Called from a signal handler: unlinks every registered temporary.
void remove_registered_temps_from_signal_handler();

// The one way every writer puts a complete temporary in its target's place: fsync of the
// temporary, rename over the target, release of the guard, fsync of the folder (the rename made
// durable where the file system can sync a folder). Throws InputError naming `target`
// ("cannot write the <kind>: ..."); the guard then still removes the temporary.
void replace_with_temp(TempFileGuard& temp, const std::string& target, const std::string& kind);

// A file written atomically by parts (safetensors, copies, JSON): the bytes go to a registered
// temporary beside `target` (stale ones of ended processes removed first), and commit() puts it
// in place with replace_with_temp. Without commit() the temporary is removed and the target is
// untouched. Errors are InputErrors naming `target` ("cannot write the <kind>: ...").
class AtomicFile {
 public:
  AtomicFile(const std::string& target, std::string kind);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write(const void* data, size_t size);
  void commit();
  const std::string& temp_path() const { return temp_.path(); }

 private:
  [[noreturn]] void fail(int err);
  std::string target_, kind_;
  TempFileGuard temp_;
  int fd_ = -1;
};

// An output folder written as a whole (quantize, train-lm, export): built in a staging folder
// beside `target`, then put in its place by commit(). What may be replaced is decided before any
// work starts (check_replaceable), so a long job never ends in a refusal.
class StagedDirectory {
 public:
  // `marker`: a file every output of this kind holds (e.g. "quantize_summary.json"); an existing
  // `target` is replaced only when `replace` is set and it is empty or holds the marker, and
  // never when one of `inputs` (paths the job reads) lies inside it. Throws InputError.
  StagedDirectory(const std::string& target, const std::string& marker, bool replace,
                  const std::vector<std::string>& inputs);
  ~StagedDirectory();  // without commit(): the staging folder is removed
  StagedDirectory(const StagedDirectory&) = delete;
  StagedDirectory& operator=(const StagedDirectory&) = delete;

  const std::string& path() const { return staging_; }  // write the output here
  const std::string& target() const { return target_; }
  // Puts the staging folder in the target's place: an atomic exchange when the target exists
  // (renameat2 RENAME_EXCHANGE; the old folder is removed afterwards), else a rename.
  void commit();

 private:
  std::string target_, staging_;
  bool committed_ = false;
};

}  // namespace bitscape
