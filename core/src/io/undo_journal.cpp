// The undo-journal HDF5 driver (undo_journal.h).
#include "io/undo_journal.h"

#if BITSCAPE_WITH_HDF5

#include <H5FDpublic.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "bitscape/error.h"
#include "bitscape/safe_write.h"

namespace bitscape::detail {
namespace {

static_assert(H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 10,
              "the undo-journal driver is written for HDF5 1.10's driver interface");

constexpr char kMagic[8] = {'B', 'S', 'U', 'N', 'D', 'O', '2', '\0'};
std::atomic<int> crash_after{0};
std::atomic<long> in_place_writes{0};

struct File {
  H5FD_t pub;                             // HDF5's part: first, as the interface requires
  int fd = -1, jfd = -1;
  haddr_t eoa = 0, eof = 0;
  uint64_t base = 0;                      // the length at open: below it, writes are journaled
  std::map<uint64_t, uint64_t> journaled;  // start -> end, disjoint, merged
  dev_t dev = 0;
  ino_t ino = 0;
  std::string path;
};

bool write_at(int fd, const void* data, size_t n, uint64_t offset) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, off_t(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= size_t(w);
    offset += uint64_t(w);
  }
  return true;
}

bool append(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= size_t(w);
  }
  return true;
}

// Reads n bytes at offset; past the end of the file, zeros (as HDF5 expects of a driver).
bool read_at(int fd, void* data, size_t n, uint64_t offset) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, off_t(offset));
    if (r < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (r == 0) {
      std::memset(p, 0, n);
      return true;
    }
    p += r;
    n -= size_t(r);
    offset += uint64_t(r);
  }
  return true;
}

// FNV-1a (64 bits) of a record's position, length and bytes: a record whose bytes did not all
// reach the disk (a power cut between its append and its sync) is recognised and not applied.
uint64_t checksum(uint64_t start, uint64_t length, const char* bytes, size_t n) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const void* p, size_t k) {
    const auto* c = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < k; ++i) h = (h ^ c[i]) * 1099511628211ull;
  };
  mix(&start, sizeof start);
  mix(&length, sizeof length);
  mix(bytes, n);
  return h;
}

// Makes a file's name (its creation or removal) durable: fsync of its folder.
void sync_parent(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  sync_path(parent.empty() ? "." : parent.string(), true);
}

// Appends the original bytes of the parts of [a, b) not journaled yet, synced.
bool journal(File& f, uint64_t a, uint64_t b) {
  std::vector<std::pair<uint64_t, uint64_t>> gaps;
  uint64_t x = a;
  for (auto it = f.journaled.begin(); it != f.journaled.end() && x < b; ++it) {
    if (it->second <= x) continue;
    if (it->first >= b) break;
    if (it->first > x) gaps.emplace_back(x, it->first);
    x = std::max(x, it->second);
  }
  if (x < b) gaps.emplace_back(x, b);
  if (gaps.empty()) return true;
  if (f.jfd < 0) return false;  // opened read-only
  for (const auto& [s, e] : gaps) {
    std::vector<char> bytes(static_cast<size_t>(e - s));
    if (!read_at(f.fd, bytes.data(), bytes.size(), s)) return false;
    const uint64_t record[3] = {s, e - s, checksum(s, e - s, bytes.data(), bytes.size())};
    if (!append(f.jfd, record, sizeof record) || !append(f.jfd, bytes.data(), bytes.size())) return false;
    f.journaled[s] = e;
  }
  std::map<uint64_t, uint64_t> merged;
  for (const auto& [s, e] : f.journaled) {
    if (!merged.empty() && std::prev(merged.end())->second >= s) {
      uint64_t& end = std::prev(merged.end())->second;
      end = std::max(end, e);
    } else {
      merged[s] = e;
    }
  }
  f.journaled.swap(merged);
  return ::fdatasync(f.jfd) == 0;
}

File& file_of(H5FD_t* p) { return *reinterpret_cast<File*>(p); }
const File& file_of(const H5FD_t* p) { return *reinterpret_cast<const File*>(p); }

H5FD_t* driver_open(const char* name, unsigned flags, hid_t, haddr_t) {
  int mode = (flags & H5F_ACC_RDWR) ? O_RDWR : O_RDONLY;
  if (flags & H5F_ACC_TRUNC) mode |= O_TRUNC;
  if (flags & H5F_ACC_CREAT) mode |= O_CREAT;
  if (flags & H5F_ACC_EXCL) mode |= O_EXCL;
  const int fd = ::open(name, mode | O_CLOEXEC, 0644);
  if (fd < 0) return nullptr;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return nullptr;
  }
  auto* f = new File;
  std::memset(&f->pub, 0, sizeof f->pub);
  f->fd = fd;
  f->eof = haddr_t(st.st_size);
  f->base = uint64_t(st.st_size);
  f->dev = st.st_dev;
  f->ino = st.st_ino;
  f->path = name;
  if ((flags & H5F_ACC_RDWR) && !(flags & (H5F_ACC_TRUNC | H5F_ACC_CREAT))) {
    // The journal exists, with the length at open, before HDF5 writes anything: a rollback then
    // also drops whatever was appended past that length.
    f->jfd = ::open(undo_journal_path(name).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    char header[16];
    std::memcpy(header, kMagic, 8);
    std::memcpy(header + 8, &f->base, 8);
    if (f->jfd < 0 || !append(f->jfd, header, sizeof header) || ::fdatasync(f->jfd) != 0) {
      if (f->jfd >= 0) {
        ::close(f->jfd);
        ::unlink(undo_journal_path(name).c_str());
      }
      ::close(fd);
      delete f;
      return nullptr;
    }
    sync_parent(name);  // the journal's name is durable before the first overwrite
  }
  return &f->pub;
}

herr_t driver_close(H5FD_t* p) {
  File* f = &file_of(p);
  herr_t result = 0;
  if ((f->pub.access_flags & H5F_ACC_RDWR) && ::fsync(f->fd) != 0) result = -1;
  if (::close(f->fd) != 0) result = -1;
  if (f->jfd >= 0) ::close(f->jfd);
  delete f;
  return result;
}

int driver_cmp(const H5FD_t* a, const H5FD_t* b) {
  const File& x = file_of(a);
  const File& y = file_of(b);
  if (x.dev != y.dev) return x.dev < y.dev ? -1 : 1;
  if (x.ino != y.ino) return x.ino < y.ino ? -1 : 1;
  return 0;
}

herr_t driver_query(const H5FD_t*, unsigned long* flags) {
  *flags = H5FD_FEAT_AGGREGATE_METADATA | H5FD_FEAT_ACCUMULATE_METADATA | H5FD_FEAT_DATA_SIEVE |
           H5FD_FEAT_AGGREGATE_SMALLDATA | H5FD_FEAT_POSIX_COMPAT_HANDLE | H5FD_FEAT_DEFAULT_VFD_COMPATIBLE;
  return 0;
}

haddr_t driver_get_eoa(const H5FD_t* p, H5FD_mem_t) { return file_of(p).eoa; }
herr_t driver_set_eoa(H5FD_t* p, H5FD_mem_t, haddr_t a) {
  file_of(p).eoa = a;
  return 0;
}
haddr_t driver_get_eof(const H5FD_t* p, H5FD_mem_t) { return file_of(p).eof; }
herr_t driver_get_handle(H5FD_t* p, hid_t, void** handle) {
  *handle = &file_of(p).fd;
  return 0;
}

herr_t driver_read(H5FD_t* p, H5FD_mem_t, hid_t, haddr_t addr, size_t size, void* buffer) {
  return read_at(file_of(p).fd, buffer, size, addr) ? 0 : -1;
}

herr_t driver_write(H5FD_t* p, H5FD_mem_t, hid_t, haddr_t addr, size_t size, const void* buffer) {
  File& f = file_of(p);
  if (addr < f.base) {
    if (!journal(f, addr, std::min<uint64_t>(addr + size, f.base))) return -1;
    const long n = ++in_place_writes;
    const int k = crash_after.load();
    if (k > 0 && n == k) {
      write_at(f.fd, buffer, size / 2, addr);  // torn, as a kill mid-write leaves it
      ::_exit(9);
    }
  }
  if (!write_at(f.fd, buffer, size, addr)) return -1;
  f.eof = std::max<haddr_t>(f.eof, addr + size);
  return 0;
}

herr_t driver_truncate(H5FD_t* p, hid_t, hbool_t) {
  File& f = file_of(p);
  // Never below the length at open: a rollback restores those bytes in place.
  const haddr_t to = std::max<haddr_t>(f.eoa, f.base);
  if (to != f.eof) {
    if (::ftruncate(f.fd, off_t(to)) != 0) return -1;
    f.eof = to;
  }
  return 0;
}

herr_t driver_lock(H5FD_t*, hbool_t) { return 0; }  // the project's own locks serialise writers
herr_t driver_unlock(H5FD_t*) { return 0; }

H5FD_class_t make_class() {
  H5FD_class_t c;
  std::memset(&c, 0, sizeof c);
  c.name = "bitscape_undo_journal";
  c.maxaddr = haddr_t(1) << 62;
  c.fc_degree = H5F_CLOSE_WEAK;
  c.open = driver_open;
  c.close = driver_close;
  c.cmp = driver_cmp;
  c.query = driver_query;
  c.get_eoa = driver_get_eoa;
  c.set_eoa = driver_set_eoa;
  c.get_eof = driver_get_eof;
  c.get_handle = driver_get_handle;
  c.read = driver_read;
  c.write = driver_write;
  c.truncate = driver_truncate;
  c.lock = driver_lock;
  c.unlock = driver_unlock;
  const H5FD_mem_t map[H5FD_MEM_NTYPES] = H5FD_FLMAP_DICHOTOMY;
  for (int i = 0; i < H5FD_MEM_NTYPES; ++i) c.fl_map[i] = map[i];
  return c;
}

hid_t driver_id() {
  static const H5FD_class_t cls = make_class();
  static const hid_t id = H5FDregister(&cls);
  return id;
}

}  // namespace

std::string undo_journal_path(const std::string& file) {
  const std::filesystem::path p(file);
  return (p.parent_path() / ("." + p.filename().string() + ".undo")).string();
}

void use_undo_journal(hid_t fapl) {
  const hid_t id = driver_id();
  if (id < 0) throw InputError("", "the undo-journal file driver could not be registered with HDF5");
  if (H5Pset_driver(fapl, id, nullptr) < 0)
    throw InputError("", "the undo-journal file driver could not be selected");
}

hid_t undo_journal_fapl() {
  const hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) throw InputError("", "cannot make a file access property list");
  try {
    use_undo_journal(fapl);
  } catch (...) {
    H5Pclose(fapl);
    throw;
  }
  return fapl;
}

void commit_undo_journal(const std::string& file) {
  const std::string j = undo_journal_path(file);
  if (::unlink(j.c_str()) != 0 && errno != ENOENT)
    throw InputError(file, "cannot commit the update (removing " + j + ": " + std::strerror(errno) + ")");
  sync_parent(file);
}

bool roll_back_undo_journal(const std::string& file) {
  const std::string j = undo_journal_path(file);
  const int jfd = ::open(j.c_str(), O_RDONLY | O_CLOEXEC);
  if (jfd < 0) {
    if (errno == ENOENT) return false;
    throw InputError(file, "cannot read its undo journal " + j + ": " + std::strerror(errno));
  }
  char header[16];
  if (::pread(jfd, header, sizeof header, 0) != ssize_t(sizeof header) ||
      std::memcmp(header, kMagic, 8) != 0) {
    // Killed before the header was complete: no byte of the file was overwritten yet.
    ::close(jfd);
    ::unlink(j.c_str());
    sync_parent(file);
    return true;
  }
  uint64_t base = 0;
  std::memcpy(&base, header + 8, 8);
  const int fd = ::open(file.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    ::close(jfd);
    throw InputError(file, std::string("cannot be restored from its undo journal: ") + std::strerror(err));
  }
  uint64_t offset = sizeof header;
  bool ok = true;
  for (;;) {
    uint64_t record[3];
    if (::pread(jfd, record, sizeof record, off_t(offset)) != ssize_t(sizeof record)) break;
    if (record[1] > (uint64_t(1) << 32) || record[0] + record[1] > base) break;  // torn or foreign
    std::vector<char> bytes(static_cast<size_t>(record[1]));
    if (::pread(jfd, bytes.data(), bytes.size(), off_t(offset + sizeof record)) != ssize_t(bytes.size()))
      break;  // torn: its overwrite had not started
    if (checksum(record[0], record[1], bytes.data(), bytes.size()) != record[2]) break;  // torn
    if (!write_at(fd, bytes.data(), bytes.size(), record[0])) {
      ok = false;
      break;
    }
    offset += sizeof record + record[1];
  }
  ok = ok && ::ftruncate(fd, off_t(base)) == 0 && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  ::close(jfd);
  if (!ok) throw InputError(file, std::string("cannot be restored from its undo journal: ") + std::strerror(err));
  ::unlink(j.c_str());
  sync_parent(file);
  return true;
}

void set_undo_journal_crash_after(int k) {
  crash_after = k;
  in_place_writes = 0;
}
long undo_journal_in_place_writes() { return in_place_writes.load(); }

}  // namespace bitscape::detail

#endif  // BITSCAPE_WITH_HDF5
