// Crash- and kill-safe writing (see bitscape/safe_write.h). The temporary-then-rename scheme is
// the one SQLite's and most editors' "atomic save" use; the folder exchange is Linux's
// renameat2(RENAME_EXCHANGE).
#include "bitscape/safe_write.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "bitscape/error.h"

namespace bitscape {
namespace fs = std::filesystem;

namespace {

constexpr const char* kTempInfix = ".tmp-";

std::string errno_text(int err) { return std::strerror(err); }

// The registry read by signal handlers: fixed slots of fixed-size paths. A slot is claimed with
// a compare-exchange and published by setting `used` after the path is written.
constexpr int kSlots = 64;
constexpr size_t kPathMax = 4096;
struct Slot {
  std::atomic<int> state{0};  // 0 free, 1 being written, 2 live
  char path[kPathMax];
};
Slot g_slots[kSlots];

bool process_alive(long pid) {
  if (pid <= 0) return true;  // not ours to judge
  if (::kill(static_cast<pid_t>(pid), 0) == 0) return true;
  return errno != ESRCH;  // EPERM: it runs under another user
}

}  // namespace

std::string temp_path_beside(const std::string& target) {
  static std::atomic<unsigned> counter{0};
  const fs::path t(target);
  const fs::path dir = t.parent_path();
  const std::string name = "." + t.filename().string() + kTempInfix + std::to_string(::getpid()) +
                           "-" + std::to_string(counter.fetch_add(1));
  return (dir / name).string();
}

int remove_stale_temps(const std::string& target) {
  const fs::path t(target);
  const fs::path dir = t.parent_path().empty() ? fs::path(".") : t.parent_path();
  const std::string prefix = "." + t.filename().string() + kTempInfix;
  std::error_code ec;
  int removed = 0;
  fs::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    // ".<name>.tmp-<pid>-<n>": the pid, then a dash and digits.
    const std::string rest = name.substr(prefix.size());
    const size_t dash = rest.find('-');
    if (dash == 0 || dash == std::string::npos ||
        rest.find_first_not_of("0123456789-") != std::string::npos)
      continue;
    const long pid = std::strtol(rest.substr(0, dash).c_str(), nullptr, 10);
    if (pid == static_cast<long>(::getpid()) || process_alive(pid)) continue;
    std::error_code rm;
    if (fs::remove_all(it->path(), rm) > 0 && !rm) ++removed;
  }
  return removed;
}

bool sync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) return false;
  bool ok = ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  errno = err;
  return ok;
}

TempFileGuard::TempFileGuard(std::string path) : path_(std::move(path)) {
  if (path_.size() >= kPathMax) return;  // too long to register: left to remove_stale_temps
  for (int i = 0; i < kSlots; ++i) {
    int expected = 0;
    if (g_slots[i].state.compare_exchange_strong(expected, 1)) {
      std::memcpy(g_slots[i].path, path_.c_str(), path_.size() + 1);
      g_slots[i].state.store(2);
      slot_ = i;
      break;
    }
  }
}

TempFileGuard::~TempFileGuard() {
  if (slot_ >= 0) g_slots[slot_].state.store(0);
  if (!released_) ::unlink(path_.c_str());
}

void TempFileGuard::release() {
  if (slot_ >= 0) g_slots[slot_].state.store(0);
  slot_ = -1;
  released_ = true;
}

void remove_registered_temps_from_signal_handler() {
  for (int i = 0; i < kSlots; ++i)
    if (g_slots[i].state.load() == 2) ::unlink(g_slots[i].path);
}

void replace_with_temp(TempFileGuard& temp, const std::string& target, const std::string& kind) {
  if (!sync_path(temp.path(), false))
    throw InputError(target, "cannot write the " + kind + ": sync failed: " + errno_text(errno));
  if (::rename(temp.path().c_str(), target.c_str()) != 0)
    throw InputError(target, "cannot write the " + kind + ": " + errno_text(errno));
  temp.release();
  const fs::path parent = fs::path(target).parent_path();
  sync_path(parent.empty() ? "." : parent.string(), true);
}

AtomicFile::AtomicFile(const std::string& target, std::string kind)
    : target_(target), kind_(std::move(kind)), temp_((remove_stale_temps(target), temp_path_beside(target))) {
  fd_ = ::open(temp_.path().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(errno);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
}

void AtomicFile::fail(int err) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  throw InputError(target_, "cannot write the " + kind_ + ": " + errno_text(err));
}

void AtomicFile::write(const void* data, size_t size) {
  if (fd_ < 0) throw InputError(target_, "cannot write the " + kind_ + ": the file is closed");
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t w = ::write(fd_, p, size);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail(errno);
    }
    p += w;
    size -= static_cast<size_t>(w);
  }
}

void AtomicFile::commit() {
  if (fd_ < 0) throw InputError(target_, "cannot write the " + kind_ + ": the file is closed");
  if (::fsync(fd_) != 0) fail(errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw InputError(target_, "cannot write the " + kind_ + ": " + errno_text(errno));
  replace_with_temp(temp_, target_, kind_);
}

void write_file_atomically(const std::string& path, std::string_view bytes, const std::string& kind) {
  AtomicFile f(path, kind);
  f.write(bytes.data(), bytes.size());
  f.commit();
}

// --- StagedDirectory -----------------------------------------------------------------------------

namespace {

// Whether `inner` is `outer` or lies inside it (both made absolute and normalised, symbolic
// links resolved where they exist).
bool is_within(const fs::path& inner, const fs::path& outer) {
  std::error_code ec;
  const fs::path a = fs::weakly_canonical(inner, ec);
  if (ec) return false;
  const fs::path b = fs::weakly_canonical(outer, ec);
  if (ec) return false;
  auto ai = a.begin(), bi = b.begin();
  for (; bi != b.end(); ++ai, ++bi) {
    if (bi->empty()) continue;  // a trailing separator
    if (ai == a.end() || *ai != *bi) return false;
  }
  return true;
}

}  // namespace

StagedDirectory::StagedDirectory(const std::string& target, const std::string& marker, bool replace,
                                 const std::vector<std::string>& inputs)
    : target_(target) {
  if (target.empty()) throw InputError(target, "no output folder given");
  const fs::path t(target);
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(t, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(fs::status(t, ec)))
      throw InputError(target, "exists and is not a folder; it is never replaced");
    for (const std::string& input : inputs)
      if (!input.empty() && is_within(input, t))
        throw InputError(target, "holds the input " + input +
                                     ", which replacing it would delete; choose another folder");
    const bool empty = fs::is_empty(t, ec);
    if (!empty) {
      if (!fs::exists(t / marker, ec))
        throw InputError(target, "is a folder that Bitscape did not write (no " + marker +
                                     "); it is never replaced, choose another folder");
      if (!replace)
        throw InputError(target, "already exists (use --force to replace this earlier output)");
    }
  }
  const fs::path parent = t.parent_path().empty() ? fs::path(".") : t.parent_path();
  fs::create_directories(parent, ec);
  if (!fs::is_directory(parent, ec))
    throw InputError(target, "cannot create the folder " + parent.string());
  remove_stale_temps(target);
  staging_ = temp_path_beside(target);
  if (!fs::create_directory(staging_, ec) || ec)
    throw InputError(target, "cannot create a folder beside it: " +
                                 (ec ? ec.message() : std::string("it exists")));
}

StagedDirectory::~StagedDirectory() {
  if (committed_ || staging_.empty()) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

void StagedDirectory::commit() {
  if (committed_) return;
  std::error_code ec;
  // The files first, then the folders, so that what the rename publishes is on disk.
  for (fs::recursive_directory_iterator it(staging_, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file(ec)) sync_path(it->path().string(), false);
  sync_path(staging_, true);
  const fs::path parent = fs::path(target_).parent_path().empty()
                              ? fs::path(".")
                              : fs::path(target_).parent_path();
  if (fs::exists(fs::symlink_status(target_, ec))) {
    // Swap the two folders in one step: at every instant the target is the old output or the
    // new one. The old one is then at the staging name and is removed.
    if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, target_.c_str(), RENAME_EXCHANGE) != 0) {
      if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        throw InputError(target_, "cannot replace the folder: " + errno_text(errno));
      // A file system without the exchange: move the old folder aside, then the new one in
      // (for an instant the target is absent; the old output waits under a temporary name).
      const std::string old = temp_path_beside(target_);
      if (::rename(target_.c_str(), old.c_str()) != 0)
        throw InputError(target_, "cannot replace the folder: " + errno_text(errno));
      if (::rename(staging_.c_str(), target_.c_str()) != 0) {
        const int err = errno;
        ::rename(old.c_str(), target_.c_str());
        throw InputError(target_, "cannot replace the folder: " + errno_text(err));
      }
      staging_ = old;
    }
    committed_ = true;
    sync_path(parent.string(), true);
    fs::remove_all(staging_, ec);
  } else {
    if (::rename(staging_.c_str(), target_.c_str()) != 0)
      throw InputError(target_, "cannot create the folder: " + errno_text(errno));
    committed_ = true;
    sync_path(parent.string(), true);
  }
}

}  // namespace bitscape
