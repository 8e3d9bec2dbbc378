// The project store (`*.bsproj.h5`): ProjectWriter and ProjectReader over the HDF5 C API. The
// schema is documented in docs/project-format.md. A new project is written to a temporary file
// beside the target and commit() renames it over the target (after flushing and syncing); an
// update writes in place with an undo journal when no one else has the project open, on such a
// copy otherwise ("Updates in place" below). Every failure is an InputError naming the project
// file. Builds without HDF5 compile the functions as stubs that say so.
#include "bitscape/project.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "bitscape/error.h"
#include "bitscape/json_input.h"
#include "bitscape/progress.h"
#include "bitscape/project_check.h"
#include "bitscape/safe_write.h"

#if BITSCAPE_WITH_HDF5
#include "io/undo_journal.h"

#include <fcntl.h>
#include <hdf5.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <new>
#include <set>
#include <thread>
#include <chrono>
#include <csignal>
#include <system_error>
#endif

namespace bitscape {

// --- HessianData helpers (no HDF5 needed) --------------------------------------------------------

std::vector<float> HessianData::full() const {
  const size_t dim = static_cast<size_t>(n);
  if (n < 0 || upper.size() != dim * (dim + 1) / 2)
    throw InputError("", "Hessian '" + key + "' has no packed upper triangle of " +
                             std::to_string(n) + " x " + std::to_string(n) + " values");
  std::vector<float> out(dim * dim);
  size_t k = 0;
  for (size_t i = 0; i < dim; ++i) {
    for (size_t j = i; j < dim; ++j) {
      out[i * dim + j] = upper[k];
      out[j * dim + i] = upper[k];
      ++k;
    }
  }
  return out;
}

std::vector<float> HessianData::pack_upper(const float* full, int64_t n) {
  const size_t dim = n > 0 ? static_cast<size_t>(n) : 0;
  std::vector<float> out;
  out.reserve(dim * (dim + 1) / 2);
  for (size_t i = 0; i < dim; ++i)
    for (size_t j = i; j < dim; ++j) out.push_back(full[i * dim + j]);
  return out;
}

namespace {

// "run10" -> {"run", 10}; a name without a numeric tail -> {name, -1}.
std::pair<std::string, long long> name_and_number(const std::string& n) {
  size_t i = n.size();
  while (i > 0 && n[i - 1] >= '0' && n[i - 1] <= '9') --i;
  if (i == n.size() || n.size() - i > 18) return {n, -1};
  return {n.substr(0, i), std::stoll(n.substr(i))};
}

}  // namespace

std::vector<std::string> runs_in_order(const ProjectReader& r, const std::string& group_path) {
  if (!r.exists(group_path)) return {};
  std::vector<std::string> names = r.children(group_path);
  std::vector<std::pair<std::string, std::string>> keyed;  // (created, name)
  for (const std::string& n : names)
    keyed.emplace_back(r.string_attribute(group_path + "/" + n, "created").value_or(""), n);
  std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    return name_and_number(a.second) < name_and_number(b.second);
  });
  for (size_t i = 0; i < names.size(); ++i) names[i] = keyed[i].second;
  return names;
}

int64_t ProjectReader::integer_attribute(const std::string& object_path, const std::string& name,
                                         int64_t lo, int64_t hi,
                                         std::optional<int64_t> fallback) const {
  const std::optional<double> v = number_attribute(object_path, name);
  const std::string what = "attribute '" + name + "' of " + object_path;
  if (!v) {
    if (fallback) return *fallback;
    throw InputError(path(), "lacks the " + what);
  }
  if (!(*v >= double(lo) && *v <= double(hi)) || *v != std::floor(*v))
    throw InputError(path(), what + " is " + std::to_string(*v) + ", not an integer in " +
                                 std::to_string(lo) + ".." + std::to_string(hi) +
                                 ": damaged or not written by Bitscape");
  return static_cast<int64_t>(*v);
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

#if BITSCAPE_WITH_HDF5

namespace {

namespace fs = std::filesystem;

constexpr char kFormatName[] = "bitscape-project";
// Elements per chunk of compressed datasets: 256 Ki floats = 1 MiB, HDF5's default chunk cache.
constexpr hsize_t kChunkElements = hsize_t{1} << 18;
// Generic datasets at least this large are chunked and compressed.
constexpr hsize_t kCompressFrom = hsize_t{1} << 16;

// --- calls into HDF5 -----------------------------------------------------------------------------

// HDF5 may be built without thread safety: one lock serialises every call Bitscape makes.
std::recursive_mutex& hdf5_mutex() {
  static std::recursive_mutex m;
  return m;
}

// Held for the duration of each public function: takes the lock, turns off HDF5's printing of
// errors to stderr (errors become InputErrors) and starts with an empty error stack.
class Hdf5Call {
 public:
  Hdf5Call() : lock_(hdf5_mutex()) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    H5Eclear2(H5E_DEFAULT);
  }

 private:
  std::lock_guard<std::recursive_mutex> lock_;
};

// An owned hid_t, closed with the function that matches its kind.
class Hid {
 public:
  using Closer = herr_t (*)(hid_t);
  Hid() = default;
  Hid(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Hid(Hid&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  Hid& operator=(Hid&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      closer_ = o.closer_;
      o.id_ = H5I_INVALID_HID;
    }
    return *this;
  }
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  ~Hid() { reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() { close(); }
  // Closes now; false when HDF5 reports a failure (for a file: the data did not reach it).
  bool close() {
    herr_t status = 0;
    if (id_ >= 0 && closer_ != nullptr) status = closer_(id_);
    id_ = H5I_INVALID_HID;
    return status >= 0;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// The innermost message on HDF5's error stack, as " (HDF5: ...)", or "" when it is empty.
herr_t innermost_error(unsigned n, const H5E_error2_t* err, void* data) {
  if (n == 0 && err != nullptr && err->desc != nullptr)
    *static_cast<std::string*>(data) = err->desc;
  return 0;
}

std::string hdf5_detail() {
  std::string desc;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_error, &desc);
  H5Eclear2(H5E_DEFAULT);
  return desc.empty() ? std::string() : " (HDF5: " + desc + ")";
}

// A failure reported by HDF5: the problem plus what HDF5 said.
[[noreturn]] void fail_hdf5(const std::string& file, const std::string& problem) {
  throw InputError(file, problem + hdf5_detail());
}

std::string in_quotes(const std::string& s) { return quote_for_message(s, 200); }

// --- types, property lists and paths -------------------------------------------------------------

Hid utf8_string_type(const std::string& file) {
  Hid t(H5Tcopy(H5T_C_S1), H5Tclose);
  if (!t.valid() || H5Tset_size(t.get(), H5T_VARIABLE) < 0 ||
      H5Tset_cset(t.get(), H5T_CSET_UTF8) < 0)
    fail_hdf5(file, "cannot make the string type");
  return t;
}

// Link creation: intermediate groups are created, names are UTF-8.
Hid link_create_plist(const std::string& file) {
  Hid p(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  if (!p.valid() || H5Pset_create_intermediate_group(p.get(), 1) < 0 ||
      H5Pset_char_encoding(p.get(), H5T_CSET_UTF8) < 0)
    fail_hdf5(file, "cannot make a link creation property list");
  return p;
}

// File access: closing the file closes whatever is still open in it, so that a commit really
// closes the file before renaming it.
Hid file_access_plist(const std::string& file) {
  Hid p(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  // The 1.8+ file format: superblock, object headers, B-trees and heaps carry checksums, so a
  // damaged file is reported by HDF5 instead of being read as garbage. HDF5 1.10 and later
  // (h5py's too) read it.
  if (!p.valid() || H5Pset_fclose_degree(p.get(), H5F_CLOSE_STRONG) < 0 ||
      H5Pset_libver_bounds(p.get(), H5F_LIBVER_V18, H5F_LIBVER_LATEST) < 0)
    fail_hdf5(file, "cannot make a file access property list");
  return p;
}

bool deflate_available() {
  if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0) return false;
  unsigned int config = 0;
  if (H5Zget_filter_info(H5Z_FILTER_DEFLATE, &config) < 0) return false;
  return (config & H5Z_FILTER_CONFIG_ENCODE_ENABLED) != 0;
}

// Checks an absolute object path ("/a/b.c/d") and returns its components; "/" has none.
std::vector<std::string> path_components(const std::string& file, const std::string& path) {
  if (path.empty() || path[0] != '/')
    throw InputError(file, "invalid object path " + in_quotes(path) + " (it must start with '/')");
  std::vector<std::string> parts;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string part = path.substr(start, end - start);
    if (part == "." || part == "..")
      throw InputError(file, "invalid object path " + in_quotes(path));
    if (!part.empty()) parts.push_back(std::move(part));
    start = end + 1;
  }
  return parts;
}

// The path with empty components removed ("//a/b/" -> "/a/b").
std::string normalized(const std::string& file, const std::string& path) {
  std::string out;
  for (const auto& part : path_components(file, path)) out += "/" + part;
  return out.empty() ? "/" : out;
}

// A name used as one path component (a module name, a Hessian key).
void check_name(const std::string& file, const std::string& what, const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
    throw InputError(file, "invalid " + what + " name " + in_quotes(name));
}

// Whether every link along the path exists (H5Lexists only looks at the last one).
bool link_exists(hid_t file_id, const std::string& file, const std::string& path) {
  std::string prefix;
  for (const auto& part : path_components(file, path)) {
    prefix += "/" + part;
    htri_t e = H5Lexists(file_id, prefix.c_str(), H5P_DEFAULT);
    if (e <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
  }
  return true;
}

Hid open_object(hid_t file_id, const std::string& file, const std::string& path) {
  Hid obj(H5Oopen(file_id, path.c_str(), H5P_DEFAULT), H5Oclose);
  if (!obj.valid()) fail_hdf5(file, "cannot open " + in_quotes(path));
  return obj;
}

bool is_group(hid_t file_id, const std::string& file, const std::string& path) {
  if (!link_exists(file_id, file, path)) return false;
  Hid obj = open_object(file_id, file, path);
  return H5Iget_type(obj.get()) == H5I_GROUP;
}

// Opens the group, creating it (and its parents) when absent.
Hid ensure_group(hid_t file_id, const std::string& file, const std::string& path) {
  if (link_exists(file_id, file, path)) {
    Hid obj = open_object(file_id, file, path);
    if (H5Iget_type(obj.get()) != H5I_GROUP)
      throw InputError(file, in_quotes(path) + " exists and is not a group");
    return obj;
  }
  Hid lcpl = link_create_plist(file);
  Hid group(H5Gcreate2(file_id, path.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  if (!group.valid()) fail_hdf5(file, "cannot create group " + in_quotes(path));
  return group;
}

void remove_link(hid_t file_id, const std::string& file, const std::string& path) {
  if (path == "/") throw InputError(file, "cannot remove the root group");
  if (!link_exists(file_id, file, path)) return;
  if (H5Ldelete(file_id, path.c_str(), H5P_DEFAULT) < 0)
    fail_hdf5(file, "cannot remove " + in_quotes(path));
}

// --- attributes ----------------------------------------------------------------------------------

bool has_attribute(hid_t obj, const std::string& name) {
  htri_t e = H5Aexists(obj, name.c_str());
  if (e < 0) H5Eclear2(H5E_DEFAULT);
  return e > 0;
}

// Creates (replacing any attribute of that name) and writes an attribute.
void write_attribute(hid_t obj, const std::string& file, const std::string& where,
                     const std::string& name, hid_t file_type, hid_t mem_type, hid_t space,
                     const void* data) {
  if (has_attribute(obj, name) && H5Adelete(obj, name.c_str()) < 0)
    fail_hdf5(file, "cannot replace attribute " + in_quotes(name) + " of " + in_quotes(where));
  Hid attr(H5Acreate2(obj, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!attr.valid() || H5Awrite(attr.get(), mem_type, data) < 0)
    fail_hdf5(file, "cannot write attribute " + in_quotes(name) + " of " + in_quotes(where));
}

void write_scalar_attribute(hid_t obj, const std::string& file, const std::string& where,
                            const std::string& name, hid_t file_type, hid_t mem_type,
                            const void* data) {
  Hid space(H5Screate(H5S_SCALAR), H5Sclose);
  if (!space.valid()) fail_hdf5(file, "cannot make a dataspace");
  write_attribute(obj, file, where, name, file_type, mem_type, space.get(), data);
}

void write_string_attribute(hid_t obj, const std::string& file, const std::string& where,
                            const std::string& name, const std::string& value) {
  Hid type = utf8_string_type(file);
  const char* p = value.c_str();
  write_scalar_attribute(obj, file, where, name, type.get(), type.get(), &p);
}

void write_int64_attribute(hid_t obj, const std::string& file, const std::string& where,
                           const std::string& name, int64_t value) {
  write_scalar_attribute(obj, file, where, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

void write_uint64_attribute(hid_t obj, const std::string& file, const std::string& where,
                            const std::string& name, uint64_t value) {
  write_scalar_attribute(obj, file, where, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &value);
}

void write_double_attribute(hid_t obj, const std::string& file, const std::string& where,
                            const std::string& name, double value) {
  write_scalar_attribute(obj, file, where, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

// A 1-D array of UTF-8 strings; an empty list is not written.
void write_strings_attribute(hid_t obj, const std::string& file, const std::string& where,
                             const std::string& name, const std::vector<std::string>& values) {
  if (values.empty()) {
    if (has_attribute(obj, name)) H5Adelete(obj, name.c_str());
    return;
  }
  Hid type = utf8_string_type(file);
  hsize_t dim = values.size();
  Hid space(H5Screate_simple(1, &dim, nullptr), H5Sclose);
  if (!space.valid()) fail_hdf5(file, "cannot make a dataspace");
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  write_attribute(obj, file, where, name, type.get(), type.get(), space.get(), ptrs.data());
}

// Reads the `count` strings of an attribute or dataset (`read` does the H5Aread/H5Dread with the
// memory type it is given); nullopt when HDF5 fails. Variable-length and fixed-length strings are
// both accepted (h5py writes either, depending on the NumPy type it is given).
template <class Read>
std::optional<std::vector<std::string>> read_strings(hid_t file_type, size_t count, Read read) {
  Hid mem_type(H5Tget_native_type(file_type, H5T_DIR_ASCEND), H5Tclose);
  if (!mem_type.valid()) return std::nullopt;
  std::vector<std::string> out;
  if (H5Tis_variable_str(file_type) > 0) {
    if (count > (size_t{1} << 28)) return std::nullopt;
    std::vector<char*> ptrs(count, nullptr);
    if (count > 0 && read(mem_type.get(), ptrs.data()) < 0) return std::nullopt;
    for (char* p : ptrs) {
      out.emplace_back(p != nullptr ? p : "");
      if (p != nullptr) H5free_memory(p);
    }
    return out;
  }
  size_t size = H5Tget_size(file_type);
  // A hostile file may declare any element size and count: bound what is allocated.
  if (size == 0 || size > (size_t{1} << 24) || count > (size_t{1} << 34) / size) return std::nullopt;
  std::vector<char> buf(count * size + 1, '\0');
  if (count > 0 && read(mem_type.get(), buf.data()) < 0) return std::nullopt;
  bool space_padded = H5Tget_strpad(file_type) == H5T_STR_SPACEPAD;
  for (size_t i = 0; i < count; ++i) {
    const char* p = buf.data() + i * size;
    std::string s(p, strnlen(p, size));
    if (space_padded)
      while (!s.empty() && s.back() == ' ') s.pop_back();
    out.push_back(std::move(s));
  }
  return out;
}

hssize_t element_count(hid_t space) {
  if (H5Sget_simple_extent_type(space) == H5S_NULL) return 0;
  return H5Sget_simple_extent_npoints(space);
}

// The strings of an attribute (scalar or 1-D); nullopt when absent; InputError when not strings.
std::optional<std::vector<std::string>> strings_attribute(hid_t obj, const std::string& file,
                                                          const std::string& where,
                                                          const std::string& name,
                                                          size_t max_count = size_t{1} << 20) {
  if (!has_attribute(obj, name)) return std::nullopt;
  const std::string what = "attribute " + in_quotes(name) + " of " + in_quotes(where);
  Hid attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!attr.valid()) fail_hdf5(file, "cannot open " + what);
  Hid type(H5Aget_type(attr.get()), H5Tclose);
  Hid space(H5Aget_space(attr.get()), H5Sclose);
  if (!type.valid() || !space.valid()) fail_hdf5(file, "cannot read " + what);
  if (H5Tget_class(type.get()) != H5T_STRING) throw InputError(file, what + " is not a string");
  hssize_t count = element_count(space.get());
  if (count < 0) fail_hdf5(file, "cannot read " + what);
  // The count is checked before anything is read: a hostile attribute may declare millions.
  if (static_cast<size_t>(count) > max_count)
    throw InputError(file, what + " holds " + std::to_string(count) + " strings, expected " +
                               (max_count == 1 ? std::string("one") : "at most " + std::to_string(max_count)));
  auto values = read_strings(type.get(), static_cast<size_t>(count),
                             [&](hid_t mem, void* buf) { return H5Aread(attr.get(), mem, buf); });
  if (!values) fail_hdf5(file, "cannot read " + what);
  return values;
}

std::optional<std::string> string_attribute_of(hid_t obj, const std::string& file,
                                               const std::string& where, const std::string& name) {
  auto values = strings_attribute(obj, file, where, name, 1);
  if (!values) return std::nullopt;
  if (values->size() != 1)
    throw InputError(file, "attribute " + in_quotes(name) + " of " + in_quotes(where) + " holds " +
                               std::to_string(values->size()) + " strings, expected one");
  return values->front();
}

// A numeric attribute with one element, converted by HDF5 to `mem_type`; nullopt when absent.
template <class T>
std::optional<T> numeric_attribute(hid_t obj, const std::string& file, const std::string& where,
                                   const std::string& name, hid_t mem_type) {
  if (!has_attribute(obj, name)) return std::nullopt;
  const std::string what = "attribute " + in_quotes(name) + " of " + in_quotes(where);
  Hid attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!attr.valid()) fail_hdf5(file, "cannot open " + what);
  Hid type(H5Aget_type(attr.get()), H5Tclose);
  Hid space(H5Aget_space(attr.get()), H5Sclose);
  if (!type.valid() || !space.valid()) fail_hdf5(file, "cannot read " + what);
  H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_INTEGER && cls != H5T_FLOAT) throw InputError(file, what + " is not a number");
  if (element_count(space.get()) != 1) throw InputError(file, what + " is not a single number");
  T value{};
  if (H5Aread(attr.get(), mem_type, &value) < 0) fail_hdf5(file, "cannot read " + what);
  return value;
}

// Required attributes of the schema: a missing one means the file is damaged or not ours.
std::string require_string(hid_t obj, const std::string& file, const std::string& where,
                           const std::string& name) {
  auto v = string_attribute_of(obj, file, where, name);
  if (!v) throw InputError(file, in_quotes(where) + " lacks the attribute " + in_quotes(name));
  return *v;
}

template <class T>
T require_number(hid_t obj, const std::string& file, const std::string& where,
                 const std::string& name, hid_t mem_type) {
  auto v = numeric_attribute<T>(obj, file, where, name, mem_type);
  if (!v) throw InputError(file, in_quotes(where) + " lacks the attribute " + in_quotes(name));
  return *v;
}

// An integer attribute within [lo, hi]: sizes and counts of the schema, bounded before they size
// anything (widths of real models stay below 2^20, windows below 2^24 tokens).
int64_t require_count(hid_t obj, const std::string& file, const std::string& where,
                      const std::string& name, int64_t lo, int64_t hi) {
  const int64_t v = require_number<int64_t>(obj, file, where, name, H5T_NATIVE_INT64);
  if (v < lo || v > hi)
    throw InputError(file, "attribute " + in_quotes(name) + " of " + in_quotes(where) + " is " +
                               std::to_string(v) + ", outside " + std::to_string(lo) + ".." +
                               std::to_string(hi) + ": damaged or not written by Bitscape");
  return v;
}

double require_finite_number(hid_t obj, const std::string& file, const std::string& where,
                             const std::string& name) {
  const double v = require_number<double>(obj, file, where, name, H5T_NATIVE_DOUBLE);
  if (!std::isfinite(v))
    throw InputError(file, "attribute " + in_quotes(name) + " of " + in_quotes(where) +
                               " is not finite");
  return v;
}

// Statistics enter Bitscape here: NaN or infinity is refused with the dataset named.
void require_finite(const std::vector<float>& v, const std::string& file, const std::string& path) {
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))
      throw InputError(file, "dataset " + in_quotes(path) + " holds a non-finite value (" +
                                 std::to_string(v[i]) + " at index " + std::to_string(i) +
                                 "): the statistics are damaged; calibrate again");
}

constexpr int64_t kMaxWidth = int64_t(1) << 20;

// --- datasets ------------------------------------------------------------------------------------

// Chunk dimensions of at most `limit` elements: the leading axes are cut first.
std::vector<hsize_t> chunk_dims(const std::vector<hsize_t>& dims, hsize_t limit) {
  std::vector<hsize_t> chunk = dims;
  for (size_t axis = 0; axis < chunk.size(); ++axis) {
    hsize_t rest = 1;
    for (size_t k = axis + 1; k < chunk.size(); ++k) rest *= chunk[k];
    if (chunk[axis] * rest <= limit) break;
    chunk[axis] = std::max<hsize_t>(1, limit / rest);
    if (chunk[axis] * rest <= limit) break;
  }
  return chunk;
}

// Writes a dataset, replacing any object at `path`. Numeric data is stored in chunks with a
// Fletcher-32 checksum each, so that a damaged byte of data (not only of HDF5's metadata, which
// carries its own checksums) is an error when read instead of a silently different number.
// `compress`: shuffle + deflate 1 as well (deflate only where HDF5 has it).
void write_dataset(hid_t file_id, const std::string& file, const std::string& path, hid_t file_type,
                   hid_t mem_type, const void* data, const std::vector<hsize_t>& dims,
                   bool compress) {
  remove_link(file_id, file, path);
  hsize_t count = 1;
  for (hsize_t d : dims) count *= d;
  Hid space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (!space.valid() || !dcpl.valid()) fail_hdf5(file, "cannot prepare dataset " + in_quotes(path));
  const bool numeric = H5Tget_class(file_type) != H5T_STRING;
  if (count > 0 && (numeric || compress)) {
    std::vector<hsize_t> chunk = chunk_dims(dims, kChunkElements);
    if (H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()) < 0 ||
        (compress && (H5Pset_shuffle(dcpl.get()) < 0 ||
                      (deflate_available() && H5Pset_deflate(dcpl.get(), 1) < 0))) ||
        (numeric && H5Pset_fletcher32(dcpl.get()) < 0))
      fail_hdf5(file, "cannot set up chunks for " + in_quotes(path));
  }
  Hid lcpl = link_create_plist(file);
  Hid ds(H5Dcreate2(file_id, path.c_str(), file_type, space.get(), lcpl.get(), dcpl.get(),
                    H5P_DEFAULT),
         H5Dclose);
  if (!ds.valid()) fail_hdf5(file, "cannot create dataset " + in_quotes(path));
  if (count > 0 && H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    fail_hdf5(file, "cannot write dataset " + in_quotes(path));
}

void write_float_vector(hid_t file_id, const std::string& file, const std::string& path,
                        const std::vector<float>& v, bool compress = false) {
  if (v.empty()) return;
  write_dataset(file_id, file, path, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, v.data(), {v.size()},
                compress);
}

void write_string_dataset(hid_t file_id, const std::string& file, const std::string& path,
                          const std::vector<std::string>& values) {
  Hid type = utf8_string_type(file);
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  write_dataset(file_id, file, path, type.get(), type.get(), ptrs.data(), {values.size()}, false);
}

// An empty, extensible 1-D string dataset that append_string() grows.
void create_string_list(hid_t file_id, const std::string& file, const std::string& path) {
  remove_link(file_id, file, path);
  Hid type = utf8_string_type(file);
  hsize_t dim = 0, max_dim = H5S_UNLIMITED, chunk = 64;
  Hid space(H5Screate_simple(1, &dim, &max_dim), H5Sclose);
  Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (!space.valid() || !dcpl.valid() || H5Pset_chunk(dcpl.get(), 1, &chunk) < 0)
    fail_hdf5(file, "cannot prepare dataset " + in_quotes(path));
  Hid lcpl = link_create_plist(file);
  Hid ds(H5Dcreate2(file_id, path.c_str(), type.get(), space.get(), lcpl.get(), dcpl.get(),
                    H5P_DEFAULT),
         H5Dclose);
  if (!ds.valid()) fail_hdf5(file, "cannot create dataset " + in_quotes(path));
}

void append_string(hid_t file_id, const std::string& file, const std::string& path,
                   const std::string& value) {
  Hid ds(H5Dopen2(file_id, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) fail_hdf5(file, "cannot open dataset " + in_quotes(path));
  Hid old_space(H5Dget_space(ds.get()), H5Sclose);
  hsize_t size = 0;
  if (!old_space.valid() || H5Sget_simple_extent_ndims(old_space.get()) != 1 ||
      H5Sget_simple_extent_dims(old_space.get(), &size, nullptr) < 0)
    fail_hdf5(file, "cannot read the size of " + in_quotes(path));
  hsize_t new_size = size + 1, one = 1;
  if (H5Dset_extent(ds.get(), &new_size) < 0) fail_hdf5(file, "cannot extend " + in_quotes(path));
  Hid space(H5Dget_space(ds.get()), H5Sclose);
  Hid mem_space(H5Screate_simple(1, &one, nullptr), H5Sclose);
  Hid type = utf8_string_type(file);
  const char* p = value.c_str();
  if (!space.valid() || !mem_space.valid() ||
      H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &size, nullptr, &one, nullptr) < 0 ||
      H5Dwrite(ds.get(), type.get(), mem_space.get(), space.get(), H5P_DEFAULT, &p) < 0)
    fail_hdf5(file, "cannot append to " + in_quotes(path));
}

// An open dataset with its type and shape.
struct OpenDataset {
  Hid ds, type, space;
  std::vector<hsize_t> dims;
  size_t count = 0;
};

OpenDataset open_dataset(hid_t file_id, const std::string& file, const std::string& path) {
  if (!link_exists(file_id, file, path)) throw InputError(file, "no dataset " + in_quotes(path));
  OpenDataset d;
  {
    Hid obj = open_object(file_id, file, path);
    if (H5Iget_type(obj.get()) != H5I_DATASET)
      throw InputError(file, in_quotes(path) + " is not a dataset");
  }
  d.ds = Hid(H5Dopen2(file_id, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d.ds.valid()) fail_hdf5(file, "cannot open dataset " + in_quotes(path));
  d.type = Hid(H5Dget_type(d.ds.get()), H5Tclose);
  d.space = Hid(H5Dget_space(d.ds.get()), H5Sclose);
  if (!d.type.valid() || !d.space.valid())
    fail_hdf5(file, "cannot read dataset " + in_quotes(path));
  int rank = H5Sget_simple_extent_ndims(d.space.get());
  if (rank < 0) fail_hdf5(file, "cannot read the shape of " + in_quotes(path));
  d.dims.resize(static_cast<size_t>(rank));
  if (rank > 0 && H5Sget_simple_extent_dims(d.space.get(), d.dims.data(), nullptr) < 0)
    fail_hdf5(file, "cannot read the shape of " + in_quotes(path));
  hssize_t count = element_count(d.space.get());
  if (count < 0) fail_hdf5(file, "cannot read the shape of " + in_quotes(path));
  d.count = static_cast<size_t>(count);
  // The declared size is checked against what the file stores before anything is allocated:
  // compression (deflate at most ~1032:1) and fill values of unwritten chunks aside, the data
  // must be in the file; and no dataset of a project exceeds 16 GiB (a full Hessian of a
  // 53248-wide input, the largest of any released model, has 5.7 GB).
  const size_t element = std::max<size_t>(1, H5Tget_size(d.type.get()));
  const double bytes = double(d.count) * double(element);
  const double stored = double(H5Dget_storage_size(d.ds.get()));
  if (bytes > double(uint64_t(16) << 30) || bytes > 1100.0 * stored + double(1u << 20))
    throw InputError(file, "dataset " + in_quotes(path) + " declares " + std::to_string(d.count) +
                               " values but the file stores " +
                               std::to_string(static_cast<uint64_t>(stored)) +
                               " bytes of it: damaged or not written by Bitscape");
  return d;
}

// A numeric dataset converted by HDF5 to T (`mem_type`); `integers`: an integer dataset is
// required (a float dataset is not silently truncated).
template <class T>
std::vector<T> read_numeric(hid_t file_id, const std::string& file, const std::string& path,
                            hid_t mem_type, bool integers, std::vector<int64_t>* shape) {
  OpenDataset d = open_dataset(file_id, file, path);
  H5T_class_t cls = H5Tget_class(d.type.get());
  if (integers ? cls != H5T_INTEGER : (cls != H5T_FLOAT && cls != H5T_INTEGER))
    throw InputError(file, "dataset " + in_quotes(path) + " does not hold " +
                               (integers ? "integers" : "numbers"));
  std::vector<T> out(d.count);
  if (d.count > 0 && H5Dread(d.ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    fail_hdf5(file, "cannot read dataset " + in_quotes(path));
  if (shape != nullptr) shape->assign(d.dims.begin(), d.dims.end());
  return out;
}

// A float dataset that may be absent (then empty); it must be 1-D with `expected` values.
std::vector<float> optional_floats(hid_t file_id, const std::string& file, const std::string& path,
                                   int64_t expected) {
  if (!link_exists(file_id, file, path)) return {};
  std::vector<int64_t> shape;
  auto v = read_numeric<float>(file_id, file, path, H5T_NATIVE_FLOAT, false, &shape);
  if (shape.size() != 1 || shape[0] != expected)
    throw InputError(file, "dataset " + in_quotes(path) + " has " + std::to_string(v.size()) +
                               " values, expected " + std::to_string(expected));
  return v;
}

std::vector<std::string> read_string_dataset(hid_t file_id, const std::string& file,
                                             const std::string& path) {
  OpenDataset d = open_dataset(file_id, file, path);
  if (H5Tget_class(d.type.get()) != H5T_STRING)
    throw InputError(file, "dataset " + in_quotes(path) + " does not hold strings");
  auto values = read_strings(d.type.get(), d.count, [&](hid_t mem, void* buf) {
    return H5Dread(d.ds.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  });
  if (!values) fail_hdf5(file, "cannot read dataset " + in_quotes(path));
  return std::move(*values);
}

// Makes `path` an extensible list of strings that append_string() can grow, keeping the names
// already in it (a list written by another tool, e.g. h5py, usually has a fixed size).
void ensure_string_list(hid_t file_id, const std::string& file, const std::string& path) {
  std::vector<std::string> names;
  if (link_exists(file_id, file, path)) {
    {
      OpenDataset d = open_dataset(file_id, file, path);
      hsize_t max_dim = 0;
      if (H5Sget_simple_extent_ndims(d.space.get()) == 1 &&
          H5Sget_simple_extent_dims(d.space.get(), nullptr, &max_dim) >= 0 &&
          max_dim == H5S_UNLIMITED && H5Tis_variable_str(d.type.get()) > 0)
        return;
    }
    names = read_string_dataset(file_id, file, path);
  }
  create_string_list(file_id, file, path);
  for (const auto& name : names) append_string(file_id, file, path, name);
}

// --- files ---------------------------------------------------------------------------------------

// Checks the root attributes that make a file a project this Bitscape can read.
void check_format(hid_t file_id, const std::string& file) {
  Hid root = open_object(file_id, file, "/");
  auto format = string_attribute_of(root.get(), file, "/", "format");
  if (!format) throw InputError(file, "not a Bitscape project (no format attribute)");
  if (*format != kFormatName)
    throw InputError(file, "not a Bitscape project (format is " + in_quotes(*format) + ")");
  auto version =
      numeric_attribute<int64_t>(root.get(), file, "/", "format_version", H5T_NATIVE_INT64);
  if (!version) throw InputError(file, "not a Bitscape project (no format_version attribute)");
  if (*version > kProjectFormatVersion)
    throw InputError(file, "project format version " + std::to_string(*version) +
                               " is newer than this Bitscape (" +
                               std::to_string(kProjectFormatVersion) + ")");
  if (*version < 1)
    throw InputError(file, "invalid project format version " + std::to_string(*version));
}

// Opens an existing HDF5 file; `file` names it in errors (the target, not a temporary copy).
Hid open_file(const std::string& file, const std::string& actual, unsigned flags) {
  std::error_code ec;
  if (!fs::exists(actual, ec)) throw InputError(file, "cannot open project (no such file)");
  if (fs::is_directory(actual, ec))
    throw InputError(file, "cannot open project (it is a directory)");
  if (!fs::is_regular_file(actual, ec))
    throw InputError(file, "cannot open project (not a regular file)");
#if H5_VERSION_GE(1, 12, 0)
  htri_t is_hdf5 = H5Fis_accessible(actual.c_str(), H5P_DEFAULT);
#else
  htri_t is_hdf5 = H5Fis_hdf5(actual.c_str());
#endif
  if (is_hdf5 == 0) {
    H5Eclear2(H5E_DEFAULT);
    throw InputError(file, "not a Bitscape project (not an HDF5 file)");
  }
  if (is_hdf5 < 0) fail_hdf5(file, "cannot read project");
  Hid fapl = file_access_plist(file);
  Hid f(H5Fopen(actual.c_str(), flags, fapl.get()), H5Fclose);
  if (!f.valid()) fail_hdf5(file, "cannot open project");
  return f;
}

std::string module_group(const std::string& module) { return "/calibration/modules/" + module; }
std::string hessian_group(const std::string& key) { return "/calibration/hessians/" + key; }

}  // namespace

// --- projects from outside: checked in a child process first -------------------------------------
//
// Debian's libhdf5 (1.10.8) crashes on some damaged files (a fuzzer flipping one byte of a
// B-tree header found a NULL memcpy inside H5F__accum_read): no check of ours can stand between
// such a file and the library. So a project Bitscape did not write itself is first read whole
// (check_project) in a forked child; a crash there becomes an InputError, and the file is opened
// in this process only once the child has read all of it. Files this process or another Bitscape
// process committed, and files checked before, are recognised by (device, inode, size, mtime,
// ctime) in memory and in ~/.cache/bitscape/checked-projects, so the check runs once per file
// version.

namespace {

bool g_in_check_child = false;

struct FileStamp {
  uint64_t dev = 0, ino = 0, size = 0;
  int64_t mtime_ns = 0, ctime_ns = 0;
  std::string line() const {
    return std::to_string(dev) + " " + std::to_string(ino) + " " + std::to_string(size) + " " +
           std::to_string(mtime_ns) + " " + std::to_string(ctime_ns);
  }
};

std::optional<FileStamp> stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  FileStamp f;
  f.dev = st.st_dev;
  f.ino = st.st_ino;
  f.size = static_cast<uint64_t>(st.st_size);
  f.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  f.ctime_ns = int64_t(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  return f;
}

std::string checked_list_path() {
  const char* cache = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  if (cache != nullptr && cache[0] == '/') return std::string(cache) + "/bitscape/checked-projects";
  if (home != nullptr && home[0] == '/') return std::string(home) + "/.cache/bitscape/checked-projects";
  return "";
}

std::set<std::string>& checked_in_memory() {
  static std::set<std::string> s;
  return s;
}

bool known_good(const FileStamp& f) {
  const std::string line = f.line();
  if (checked_in_memory().count(line)) return true;
  const std::string list = checked_list_path();
  if (list.empty()) return false;
  std::ifstream in(list);
  for (std::string l; std::getline(in, l);)
    if (l == line) {
      checked_in_memory().insert(line);
      return true;
    }
  return false;
}

// Remembers a file version as readable (after a check, or because Bitscape wrote it).
void remember_good(const std::string& path) {
  const std::optional<FileStamp> f = stamp_of(path);
  if (!f) return;
  const std::string line = f->line();
  if (!checked_in_memory().insert(line).second) return;
  const std::string list = checked_list_path();
  if (list.empty()) return;
  std::error_code ec;
  fs::create_directories(fs::path(list).parent_path(), ec);
  // One short line per write with O_APPEND: concurrent processes never interleave within it.
  const int fd = ::open(list.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  const std::string text = line + "\n";
  const ssize_t w = ::write(fd, text.data(), text.size());
  (void)w;
  struct stat st {};
  const bool trim = ::fstat(fd, &st) == 0 && st.st_size > (1 << 20);
  ::close(fd);
  if (trim) {  // keep the newest half
    std::ifstream in(list);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    std::string kept;
    for (size_t i = lines.size() / 2; i < lines.size(); ++i) kept += lines[i] + "\n";
    try {
      write_file_atomically(list, kept, "list of checked projects");
    } catch (const InputError&) {
    }
  }
}

// Reads the whole project in a child process (see above); throws InputError when the child
// finds a problem or dies. Called with the HDF5 lock held, so no other thread of this process
// is inside the library when it forks.
void check_in_child(const std::string& path) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw InputError(path, "cannot check the project: no pipe");
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw InputError(path, "cannot check the project: fork failed");
  }
  if (pid == 0) {
    ::close(fds[0]);
    g_in_check_child = true;
    // Ctrl-C, SIGTERM and SIGHUP end the child at once (the parent's handlers only set a flag).
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, SIG_DFL);
    // What the library prints while it fails (or crashes) is not for the user's terminal: the
    // parent reports the outcome in one line.
    if (const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC); null >= 0) {
      ::dup2(null, STDERR_FILENO);
      ::dup2(null, STDOUT_FILENO);
      ::close(null);
    }
    // The child's only thread is not the one the parent's lock records as its owner (glibc
    // keeps the kernel thread id): start from a fresh, free lock.
    new (&hdf5_mutex()) std::recursive_mutex();
    int code = 0;
    std::string message;
    try {
      check_project(path);
    } catch (const InputError& e) {
      message = e.problem();
      code = 2;
    } catch (const std::exception& e) {
      message = std::string("reading it failed: ") + e.what();
      code = 3;
    }
    if (!message.empty()) {
      const ssize_t w = ::write(fds[1], message.data(), std::min<size_t>(message.size(), 4000));
      (void)w;
    }
    ::_exit(code);
  }
  ::close(fds[1]);
  // The child ends, or is ended: by a deadline (libhdf5 loops forever on some damaged heaps),
  // or when this process is asked to stop.
  const double size_gb = double(fs::file_size(path)) / double(1u << 30);
  double limit = 30.0 + 30.0 * size_gb;  // reading runs at well over 100 MB/s
  if (const char* env = std::getenv("BITSCAPE_CHECK_TIMEOUT"); env != nullptr && std::atof(env) > 0)
    limit = std::atof(env);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit);
  int status = 0;
  bool timed_out = false, cancelled = false;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) break;
    cancelled = process_cancel_token().cancelled();
    timed_out = std::chrono::steady_clock::now() > deadline;
    if (cancelled || timed_out) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::string message;
  char buf[4096];
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) message.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  if (cancelled) throw Cancelled();
  if (timed_out)
    throw InputError(path, "is damaged: reading it did not finish within " +
                               std::to_string(static_cast<int>(limit)) +
                               " s (the HDF5 library loops on it), so it was not opened");
  if (WIFSIGNALED(status))
    throw InputError(path, "is damaged: reading it crashed the HDF5 library (" +
                               std::string(strsignal(WTERMSIG(status))) +
                               "), so it was not opened");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw InputError(path, message.empty() ? "cannot be read" : message);
}

// Before a project enters this process: known, or checked in a child.
void guard_project(const std::string& path) {
  if (g_in_check_child) return;
  const std::optional<FileStamp> f = stamp_of(path);
  if (!f || known_good(*f)) return;  // not a regular file: open_file() says what it is
  check_in_child(path);
  remember_good(path);
}

}  // namespace

bool project_support_available() { return true; }

// --- ProjectWriter -------------------------------------------------------------------------------

struct ProjectWriter::Impl {
  std::string path;       // the target
  std::string temp_path;  // the copy written until commit(), when not in place
  // Registers the temporary for the signal handlers and removes it unless committed.
  std::unique_ptr<TempFileGuard> temp_guard;
  Hid file;
  bool committed = false;
  struct Lock {
    std::string path;
    int fd = -1;
  } lock;  // see lock_project()
  // update(): the file is opened at the first write after the start or a checkpoint, in place
  // when nothing else has the project open, on a copy otherwise (see "Updates in place").
  bool updating = false;
  bool in_place = false;    // the open file is the project itself, journaled
  int exclusive_fd = -1;    // flock(LOCK_EX) on the project while it is written in place
  double copy_seconds = 0;  // how long the last copy took
  std::chrono::steady_clock::time_point copied_at;

  ~Impl();

  // Before a write, outside the HDF5 lock (it may wait for readers): opens the file to write.
  void prepare();
  // Makes what was written so far the project's content (see checkpoint()); `force`: also on a
  // copy, however recent.
  void end_burst(bool force);

  // The open file for a write; an error once committed or after a failed commit.
  hid_t writable() const {
    if (committed) throw InputError(path, "the project was already committed");
    if (!file.valid()) throw InputError(path, "the project writer is closed");
    return file.get();
  }
};

namespace {

// One writer at a time per project: a writer holds an exclusive flock() on a lock file beside
// the project (".<name>.lock") from before it copies the project (update) or may replace it
// (create) until it has committed. Without it, two writers (the workbench's search and a CLI
// sensitivity run, or two windows) would each rename their copy over the file and the first
// one's run would be lost. flock() locks belong to an open file, so two writers in one process
// exclude each other too, and the kernel drops the lock of a killed process. The lock file is
// removed on release; a writer that locked a file just removed (or replaced) tries again.
// (HDF5's own locks are on the project file itself and do not interfere.)
struct ProjectLock {
  std::string path;
  int fd = -1;
};

std::string lock_path_for(const std::string& project) {
  const fs::path p(project);
  return (p.parent_path() / ("." + p.filename().string() + ".lock")).string();
}

// The writer's lock, or nothing when another writer holds it.
std::optional<ProjectLock> try_lock_project(const std::string& project) {
  ProjectLock lock;
  lock.path = lock_path_for(project);
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(lock.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      throw InputError(project, "cannot lock the project (" + lock.path + "): " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) return std::nullopt;
      throw InputError(project, std::string("cannot lock the project: ") + std::strerror(err));
    }
    struct stat a {}, b {};
    if (::fstat(fd, &a) == 0 && ::stat(lock.path.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino) {
      lock.fd = fd;
      return lock;
    }
    ::close(fd);  // removed by the writer that released it meanwhile: lock the new one
  }
  throw InputError(project, "cannot lock the project: the lock file keeps changing");
}

ProjectLock lock_project(const std::string& project) {
  std::optional<ProjectLock> lock = try_lock_project(project);
  if (!lock)
    throw InputError(project, "is being written by another job (a calibration, sensitivity "
                              "analysis, search or stored edit, in this window or another "
                              "process); try again when it has finished");
  return *lock;
}

void unlock_project(ProjectLock& lock) {
  if (lock.fd < 0) return;
  struct stat a {}, b {};
  if (::fstat(lock.fd, &a) == 0 && ::stat(lock.path.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
      a.st_ino == b.st_ino)
    ::unlink(lock.path.c_str());
  ::close(lock.fd);
  lock.fd = -1;
}

// --- Updates in place ----------------------------------------------------------------------------
//
// ProjectWriter::update writes into the project itself (core/src/io/undo_journal.h: every byte
// it overwrites is journaled first; the journal's removal is the commit), but only while no one
// reads it: a reader's HDF5 library caches the file's metadata, so bytes changed under it would
// read as damage. Every ProjectReader holds flock(LOCK_SH) on the project for its lifetime (HDF5
// 1.10 readers, h5py's included, hold one too); a writer starts an in-place burst only once it
// holds LOCK_EX, and keeps it until the burst is committed (checkpoint() or commit()) or rolled
// back, so bursts are short. When a reader keeps the project open, the burst goes to a copy that
// is renamed over the project, as every update did before. A reader that finds the project
// locked exclusively waits for the burst; one that finds a journal and no live writer rolls it
// back first. A reader opened by the very thread that writes in place would wait for itself: it
// is refused. docs/project-format.md has the whole design.

std::atomic<bool> g_in_place{true};

// The files this process writes in place now, and the thread that does; the threads that
// opened this process's readers of each file.
std::mutex g_bursts_mutex;
std::map<std::pair<uint64_t, uint64_t>, std::thread::id> g_bursts;
std::multimap<std::pair<uint64_t, uint64_t>, std::thread::id> g_readers;

std::pair<uint64_t, uint64_t> file_id_of(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return {0, 0};
  return {uint64_t(st.st_dev), uint64_t(st.st_ino)};
}

bool names_file(const std::string& path, int fd) {
  struct stat a {}, b {};
  return ::fstat(fd, &a) == 0 && ::stat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
}

double wait_limit_seconds() {
  if (const char* env = std::getenv("BITSCAPE_PROJECT_WAIT"); env != nullptr && std::atof(env) > 0)
    return std::atof(env);
  return 120.0;
}

void pause_briefly() { std::this_thread::sleep_for(std::chrono::milliseconds(5)); }

// flock(LOCK_EX) on the project within `seconds`: the descriptor; -1 when the file system has
// no such locks (or the file cannot be opened), -2 when readers kept it open.
int lock_exclusive(const std::string& path, double seconds) {
  {
    // A reader opened by this very thread will not close while it waits.
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      std::lock_guard<std::mutex> l(g_bursts_mutex);
      const auto range = g_readers.equal_range({uint64_t(st.st_dev), uint64_t(st.st_ino)});
      for (auto it = range.first; it != range.second; ++it)
        if (it->second == std::this_thread::get_id()) seconds = 0;
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (;;) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      if (names_file(path, fd)) return fd;
      ::close(fd);  // replaced meanwhile: lock the new file
      continue;
    }
    const int err = errno;
    ::close(fd);
    if (err != EWOULDBLOCK) return -1;
    if (std::chrono::steady_clock::now() > deadline) return -2;
    pause_briefly();
  }
}

// With the writer's lock held: the journal of a writer that died is rolled back, the project
// locked exclusively meanwhile (a reader that sees a journal waits for its removal).
void recover_update(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(detail::undo_journal_path(path), ec)) return;
  const int fd = lock_exclusive(path, wait_limit_seconds());
  if (fd == -2)
    throw InputError(path, "has an unfinished update to undo, but another program keeps the "
                           "project open; close it and try again");
  try {
    detail::roll_back_undo_journal(path);
  } catch (...) {
    if (fd >= 0) ::close(fd);
    throw;
  }
  if (fd >= 0) ::close(fd);
}

// flock(LOCK_SH) on the project for a reader: the descriptor; -1 where the file cannot be
// opened (opening it in HDF5 then says why). Waits while the project is written in place; rolls
// back the journal of a writer that died.
int lock_shared(const std::string& path) {
  const double limit = wait_limit_seconds();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit);
  const std::string journal = detail::undo_journal_path(path);
  for (;;) {
    if (process_cancel_token().cancelled()) throw Cancelled();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) return fd;  // no such locks here: nothing is written in place
      {
        std::lock_guard<std::mutex> l(g_bursts_mutex);
        const auto it = g_bursts.find(file_id_of(fd));
        if (it != g_bursts.end() && it->second == std::this_thread::get_id()) {
          ::close(fd);
          throw InputError(path, "is being written in place by this same job: it cannot be read "
                                 "before the write is checkpointed");
        }
      }
      ::close(fd);
      if (std::chrono::steady_clock::now() > deadline)
        throw InputError(path, "is being written by another job and did not become readable within " +
                                   std::to_string(int(limit)) + " s");
      pause_briefly();
      continue;
    }
    if (!names_file(path, fd)) {  // replaced meanwhile: lock the new file
      ::close(fd);
      continue;
    }
    std::error_code ec;
    if (!fs::exists(journal, ec)) return fd;
    // An update that did not finish: undone by whoever holds the writer's lock (a writer
    // starting, or this reader when there is none).
    ::close(fd);
    if (std::optional<ProjectLock> l = try_lock_project(path)) {
      try {
        recover_update(path);
      } catch (...) {
        unlock_project(*l);
        throw;
      }
      unlock_project(*l);
      continue;
    }
    if (std::chrono::steady_clock::now() > deadline)
      throw InputError(path, "has an unfinished update that its writer has not undone within " +
                                 std::to_string(int(limit)) + " s");
    pause_briefly();
  }
}

}  // namespace

ProjectWriter::Impl::~Impl() {
  if (file.valid()) {
    Hdf5Call call;
    file.reset();
  }
  if (in_place) {
    // Failed, or dropped without a checkpoint: back to the last committed content.
    try {
      detail::roll_back_undo_journal(path);
    } catch (const std::exception&) {
      // the journal stays: the next reader or writer rolls it back
    }
    {
      std::lock_guard<std::mutex> l(g_bursts_mutex);
      g_bursts.erase(file_id_of(exclusive_fd));
    }
    ::close(exclusive_fd);
  }
  temp_guard.reset();
  ProjectLock l{lock.path, lock.fd};
  unlock_project(l);
}

void ProjectWriter::Impl::prepare() {
  if (committed) throw InputError(path, "the project was already committed");
  if (file.valid() || !updating) return;
  if (g_in_place.load()) {
    const int fd = lock_exclusive(path, 1.0);  // a reader open for a moment is waited for
    if (fd >= 0) {
      Hdf5Call call;
      Hid fapl = file_access_plist(path);
      detail::use_undo_journal(fapl.get());
      Hid f(H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get()), H5Fclose);
      // Undoes the open (the driver created the journal) and gives up the lock.
      auto give_up = [&] {
        f.reset();
        try {
          detail::roll_back_undo_journal(path);
        } catch (const std::exception&) {
        }
        ::close(fd);
      };
      if (!f.valid()) {
        const std::string why = hdf5_detail();
        give_up();
        throw InputError(path, "cannot open the project to write it" + why);
      }
      try {
        // Reading the root's attributes first also lets HDF5 put the new version string into
        // the global heap collection that holds them, instead of a new one at the end of the
        // file (which would keep the space of rewritten runs from being reused).
        check_format(f.get(), path);
      } catch (...) {
        give_up();
        throw;
      }
      file = std::move(f);
      in_place = true;
      exclusive_fd = fd;
      {
        std::lock_guard<std::mutex> l(g_bursts_mutex);
        g_bursts[file_id_of(fd)] = std::this_thread::get_id();
      }
      Hid root = open_object(file.get(), path, "/");
      write_string_attribute(root.get(), path, "/", "bitscape_version", BITSCAPE_VERSION);
      return;
    }
  }
  // On a copy: the project is open elsewhere (or in-place updates are off).
  const auto t0 = std::chrono::steady_clock::now();
  std::error_code ec;
  if (!fs::copy_file(path, temp_path, fs::copy_options::overwrite_existing, ec))
    throw InputError(path, "cannot copy the project to " + in_quotes(temp_path) + ": " + ec.message());
  Hdf5Call call;
  file = open_file(path, temp_path, H5F_ACC_RDWR);
  check_format(file.get(), path);
  Hid root = open_object(file.get(), path, "/");
  write_string_attribute(root.get(), path, "/", "bitscape_version", BITSCAPE_VERSION);
  copied_at = std::chrono::steady_clock::now();
  copy_seconds = std::chrono::duration<double>(copied_at - t0).count();
}

void ProjectWriter::Impl::end_burst(bool force) {
  if (!file.valid()) return;
  // A copy costs the whole file: it is checkpointed at most so often that copying takes a tenth
  // of the time.
  if (!in_place && !force &&
      std::chrono::duration<double>(std::chrono::steady_clock::now() - copied_at).count() <
          9.0 * copy_seconds)
    return;
  {
    Hdf5Call call;
    if (H5Fflush(file.get(), H5F_SCOPE_GLOBAL) < 0) fail_hdf5(path, "cannot write project (flush failed)");
    if (!file.close()) fail_hdf5(path, "cannot write project (closing the file failed)");
  }
  if (in_place) {
    detail::commit_undo_journal(path);
    in_place = false;
    {
      std::lock_guard<std::mutex> l(g_bursts_mutex);
      g_bursts.erase(file_id_of(exclusive_fd));
    }
    ::close(exclusive_fd);
    exclusive_fd = -1;
  } else {
    replace_with_temp(*temp_guard, path, "project");
    if (updating && !force) {  // the next burst's copy
      temp_path = temp_path_beside(path);
      temp_guard = std::make_unique<TempFileGuard>(temp_path);
    }
  }
  remember_good(path);  // written by Bitscape: no check needed to read it
}

namespace {

// Where a writer may write: the target's directory must exist, the target must not be one.
std::unique_ptr<ProjectWriter::Impl> new_writer(const std::string& path) {
  if (path.empty()) throw InputError(path, "no project path given");
  fs::path target(path);
  fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw InputError(
        path, "cannot write project: directory " + in_quotes(dir.string()) + " does not exist");
  if (fs::is_directory(target, ec))
    throw InputError(path, "cannot write project: it is a directory");
  auto impl = std::make_unique<ProjectWriter::Impl>();
  impl->path = path;
  remove_stale_temps(path);
  impl->temp_path = temp_path_beside(path);
  impl->temp_guard = std::make_unique<TempFileGuard>(impl->temp_path);
  return impl;
}

}  // namespace

ProjectWriter::ProjectWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProjectWriter::ProjectWriter(ProjectWriter&&) noexcept = default;
ProjectWriter& ProjectWriter::operator=(ProjectWriter&&) noexcept = default;
ProjectWriter::~ProjectWriter() = default;

namespace {
void prepare_writer(const std::unique_ptr<ProjectWriter::Impl>& impl) {
  if (impl) impl->prepare();
}
}  // namespace

ProjectWriter ProjectWriter::create(const std::string& path) {
  Hdf5Call call;
  auto impl = new_writer(path);
  // An existing file is replaced only when it is a project: `--out` naming a corpus, a model
  // file or anything else by mistake must not destroy it.
  if (fs::exists(path)) {
    std::string problem;
    try {
      guard_project(path);
      check_format(open_file(path, path, H5F_ACC_RDONLY).get(), path);
    } catch (const InputError& e) {
      problem = e.problem();
    }
    if (!problem.empty())
      throw InputError(path, "exists and is not a readable Bitscape project (" + problem +
                                 "); it is never replaced, choose another file");
  }
  {
    const ProjectLock l = lock_project(path);
    impl->lock = {l.path, l.fd};
  }
  Hid fapl = file_access_plist(path);
  impl->file =
      Hid(H5Fcreate(impl->temp_path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose);
  if (!impl->file.valid())
    fail_hdf5(path, "cannot create temporary file " + in_quotes(impl->temp_path));
  hid_t f = impl->file.get();
  Hid root = open_object(f, path, "/");
  write_string_attribute(root.get(), path, "/", "format", kFormatName);
  write_int64_attribute(root.get(), path, "/", "format_version", kProjectFormatVersion);
  write_string_attribute(root.get(), path, "/", "bitscape_version", BITSCAPE_VERSION);
  write_string_attribute(root.get(), path, "/", "created", utc_now());
  return ProjectWriter(std::move(impl));
}

ProjectWriter ProjectWriter::update(const std::string& path) {
  auto impl = new_writer(path);
  {
    const ProjectLock l = lock_project(path);
    impl->lock = {l.path, l.fd};
  }
  recover_update(path);  // an update whose writer died, undone first
  {
    Hdf5Call call;
    guard_project(path);
    check_format(open_file(path, path, H5F_ACC_RDONLY).get(), path);
  }
  impl->updating = true;
  return ProjectWriter(std::move(impl));
}

ProjectWriter ProjectWriter::derive(const std::string& source, const std::string& path) {
  if (source == path) return update(path);
  Hdf5Call call;
  guard_project(source);
  // Checked before copying: a file that is not a project is not copied.
  check_format(open_file(source, source, H5F_ACC_RDONLY).get(), source);
  auto impl = new_writer(path);
  {
    const ProjectLock l = lock_project(path);  // before the copy, so no commit of another is lost
    impl->lock = {l.path, l.fd};
  }
  std::error_code ec;
  if (!fs::copy_file(source, impl->temp_path, fs::copy_options::overwrite_existing, ec))
    throw InputError(
        source, "cannot copy the project to " + in_quotes(impl->temp_path) + ": " + ec.message());
  impl->file = open_file(source, impl->temp_path, H5F_ACC_RDWR);
  check_format(impl->file.get(), source);
  Hid root = open_object(impl->file.get(), path, "/");
  write_string_attribute(root.get(), path, "/", "bitscape_version", BITSCAPE_VERSION);
  return ProjectWriter(std::move(impl));
}

const std::string& ProjectWriter::path() const {
  static const std::string none;
  return impl_ ? impl_->path : none;
}

const std::string& ProjectWriter::temp_path() const {
  static const std::string none;
  if (!impl_) return none;
  return impl_->in_place ? impl_->path : impl_->temp_path;
}

void ProjectWriter::checkpoint() {
  if (!impl_) throw InputError("", "the project writer was moved from");
  if (impl_->committed) throw InputError(impl_->path, "the project was already committed");
  if (impl_->updating) impl_->end_burst(false);
}

bool ProjectWriter::writing_in_place() const { return impl_ && impl_->in_place; }

void set_in_place_updates(bool on) { g_in_place = on; }

void ProjectWriter::write_model(const ProjectModelInfo& info) {
  prepare_writer(impl_);
  Hdf5Call call;
  if (!impl_) throw InputError("", "the project writer was moved from");
  const std::string& file = impl_->path;
  hid_t f = impl_->writable();
  remove_link(f, file, "/model");
  Hid group = ensure_group(f, file, "/model");
  write_string_attribute(group.get(), file, "/model", "path", info.path);
  write_string_attribute(group.get(), file, "/model", "fingerprint", info.fingerprint);
  write_string_attribute(group.get(), file, "/model", "config_json", info.config_json);
  write_int64_attribute(group.get(), file, "/model", "other_params", info.other_params);
  if (info.modules.empty()) return;
  std::vector<std::string> names;
  std::vector<int64_t> shapes;
  for (const auto& m : info.modules) {
    names.push_back(m.name);
    shapes.push_back(m.out_features);
    shapes.push_back(m.in_features);
  }
  write_string_dataset(f, file, "/model/module_names", names);
  write_dataset(f, file, "/model/module_shapes", H5T_STD_I64LE, H5T_NATIVE_INT64, shapes.data(),
                {info.modules.size(), 2}, false);
}

void ProjectWriter::begin_calibration(const CalibrationSettings& s) {
  prepare_writer(impl_);
  Hdf5Call call;
  if (!impl_) throw InputError("", "the project writer was moved from");
  const std::string& file = impl_->path;
  hid_t f = impl_->writable();
  const std::string where = "/calibration";
  remove_link(f, file, where);
  Hid group = ensure_group(f, file, where);
  hid_t g = group.get();
  write_string_attribute(g, file, where, "corpus", s.corpus);
  write_string_attribute(g, file, where, "corpus_sha256", s.corpus_sha256);
  write_int64_attribute(g, file, where, "samples", s.samples);
  write_int64_attribute(g, file, where, "seqlen", s.seqlen);
  write_uint64_attribute(g, file, where, "seed", s.seed);
  write_string_attribute(g, file, where, "mode", s.mode);
  write_string_attribute(g, file, where, "allocation_json", s.allocation_json);
  write_string_attribute(g, file, where, "hessians", s.hessians);
  write_string_attribute(g, file, where, "device", s.device);
  write_string_attribute(g, file, where, "dtype", s.dtype);
  write_double_attribute(g, file, where, "seconds", s.seconds);
  write_string_attribute(g, file, where, "created", s.created.empty() ? utc_now() : s.created);
  if (!s.window_starts.empty())
    write_dataset(f, file, where + "/window_starts", H5T_STD_I64LE, H5T_NATIVE_INT64,
                  s.window_starts.data(), {s.window_starts.size()}, false);
  ensure_group(f, file, where + "/hessians");
  ensure_group(f, file, where + "/modules");
  create_string_list(f, file, where + "/module_order");
}

void ProjectWriter::write_hessian(const HessianData& h) {
  prepare_writer(impl_);
  Hdf5Call call;
  if (!impl_) throw InputError("", "the project writer was moved from");
  const std::string& file = impl_->path;
  hid_t f = impl_->writable();
  check_name(file, "Hessian", h.key);
  if (!is_group(f, file, "/calibration"))
    throw InputError(file, "no calibration in this project (begin_calibration first)");
  const size_t n = h.n > 0 ? static_cast<size_t>(h.n) : 0;
  if (h.n < 0 || h.diag.size() != n)
    throw InputError(file, "Hessian " + in_quotes(h.key) + ": diag has " +
                               std::to_string(h.diag.size()) + " values, expected " +
                               std::to_string(h.n));
  if (!h.upper.empty() && h.upper.size() != n * (n + 1) / 2)
    throw InputError(file, "Hessian " + in_quotes(h.key) + ": upper has " +
                               std::to_string(h.upper.size()) + " values, expected " +
                               std::to_string(n * (n + 1) / 2));
  const std::string where = hessian_group(h.key);
  remove_link(f, file, where);
  Hid group = ensure_group(f, file, where);
  write_int64_attribute(group.get(), file, where, "n", h.n);
  write_int64_attribute(group.get(), file, where, "tokens", h.tokens);
  write_strings_attribute(group.get(), file, where, "modules", h.modules);
  write_float_vector(f, file, where + "/diag", h.diag);
  write_float_vector(f, file, where + "/upper", h.upper, /*compress=*/true);
}

void ProjectWriter::write_module_statistics(const ModuleStatistics& s) {
  prepare_writer(impl_);
  Hdf5Call call;
  if (!impl_) throw InputError("", "the project writer was moved from");
  const std::string& file = impl_->path;
  hid_t f = impl_->writable();
  check_name(file, "module", s.name);
  if (!is_group(f, file, "/calibration"))
    throw InputError(file, "no calibration in this project (begin_calibration first)");
  auto check = [&](const char* field, const std::vector<float>& v, int64_t expected) {
    if (!v.empty() && static_cast<int64_t>(v.size()) != expected)
      throw InputError(file, "module " + in_quotes(s.name) + ": " + field + " has " +
                                 std::to_string(v.size()) + " values, expected " +
                                 std::to_string(expected));
  };
  check("act_abs_mean", s.act_abs_mean, s.in_features);
  check("act_abs_max", s.act_abs_max, s.in_features);
  check("act_l2", s.act_l2, s.in_features);
  check("out_abs_mean", s.out_abs_mean, s.out_features);
  check("out_abs_max", s.out_abs_max, s.out_features);
  check("out_mean", s.out_mean, s.out_features);
  check("out_std", s.out_std, s.out_features);
  check("weight_row_norm", s.weight_row_norm, s.out_features);
  check("weight_row_abs_max", s.weight_row_abs_max, s.out_features);
  check("weight_col_norm", s.weight_col_norm, s.in_features);

  const std::string where = module_group(s.name);
  const bool rewrite = link_exists(f, file, where);
  remove_link(f, file, where);
  Hid group = ensure_group(f, file, where);
  hid_t g = group.get();
  write_int64_attribute(g, file, where, "out_features", s.out_features);
  write_int64_attribute(g, file, where, "in_features", s.in_features);
  write_string_attribute(g, file, where, "hessian", s.hessian);
  write_int64_attribute(g, file, where, "tokens", s.tokens);
  write_double_attribute(g, file, where, "weight_mean", s.weight_mean);
  write_double_attribute(g, file, where, "weight_std", s.weight_std);
  write_double_attribute(g, file, where, "weight_abs_max", s.weight_abs_max);
  write_double_attribute(g, file, where, "weight_kurtosis", s.weight_kurtosis);
  write_float_vector(f, file, where + "/act_abs_mean", s.act_abs_mean);
  write_float_vector(f, file, where + "/act_abs_max", s.act_abs_max);
  write_float_vector(f, file, where + "/act_l2", s.act_l2);
  write_float_vector(f, file, where + "/out_abs_mean", s.out_abs_mean);
  write_float_vector(f, file, where + "/out_abs_max", s.out_abs_max);
  write_float_vector(f, file, where + "/out_mean", s.out_mean);
  write_float_vector(f, file, where + "/out_std", s.out_std);
  write_float_vector(f, file, where + "/weight_row_norm", s.weight_row_norm);
  write_float_vector(f, file, where + "/weight_row_abs_max", s.weight_row_abs_max);
  write_float_vector(f, file, where + "/weight_col_norm", s.weight_col_norm);
  // The execution order: a module written again keeps its place.
  const std::string order = "/calibration/module_order";
  if (!rewrite) {
    ensure_string_list(f, file, order);
    append_string(f, file, order, s.name);
  }
}

void ProjectWriter::set_calibration_seconds(double seconds) {
  prepare_writer(impl_);
  Hdf5Call call;
  if (!impl_) throw InputError("", "the project writer was moved from");
  const std::string& file = impl_->path;
  hid_t f = impl_->writable();
  if (!is_group(f, file, "/calibration"))
    throw InputError(file, "no calibration in this project (begin_calibration first)");
  Hid group = open_object(f, file, "/calibration");
  write_double_attribute(group.get(), file, "/calibration", "seconds", seconds);
}

void ProjectWriter::commit() {
  if (!impl_) throw InputError("", "the project writer was moved from");
  Impl& w = *impl_;
  if (w.committed) throw InputError(w.path, "the project was already committed");
  if (!w.updating) w.writable();  // create/derive: the copy is open until its commit
  w.end_burst(true);
  w.committed = true;
}

namespace {

// The dimensions of a dataset of `size` values with `shape` (empty: one dimension).
std::vector<hsize_t> dataset_dims(const std::string& file, const std::string& p, size_t size,
                                  const std::vector<int64_t>& shape) {
  std::vector<hsize_t> dims;
  hsize_t count = 1;
  for (int64_t d : shape) {
    if (d < 0) throw InputError(file, "dataset " + in_quotes(p) + ": negative dimension");
    dims.push_back(static_cast<hsize_t>(d));
    count *= static_cast<hsize_t>(d);
  }
  if (dims.empty()) {
    dims.push_back(size);
    count = size;
  }
  if (count != size)
    throw InputError(file, "dataset " + in_quotes(p) + ": " + std::to_string(size) +
                               " values do not fill its shape");
  return dims;
}

}  // namespace

void ProjectWriter::write_floats(const std::string& path, const std::vector<float>& data,
                                 const std::vector<int64_t>& shape) {
  prepare_writer(impl_);
  Hdf5Call call;
  if (!impl_) throw InputError("", "the project writer was moved from");
  const std::string& file = impl_->path;
  hid_t f = impl_->writable();
  const std::string p = normalized(file, path);
  write_dataset(f, file, p, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, data.data(),
                dataset_dims(file, p, data.size(), shape), data.size() >= kCompressFrom);
}

void ProjectWriter::write_strings(const std::string& path, const std::vector<std::string>& values) {
  prepare_writer(impl_);
  Hdf5Call call;
  if (!impl_) throw InputError("", "the project writer was moved from");
  const std::string& file = impl_->path;
  write_string_dataset(impl_->writable(), file, normalized(file, path), values);
}

void ProjectWriter::write_doubles(const std::string& path, const std::vector<double>& data,
                                  const std::vector<int64_t>& shape) {
  prepare_writer(impl_);
  Hdf5Call call;
  if (!impl_) throw InputError("", "the project writer was moved from");
  const std::string& file = impl_->path;
  hid_t f = impl_->writable();
  const std::string p = normalized(file, path);
  write_dataset(f, file, p, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, data.data(),
                dataset_dims(file, p, data.size(), shape), data.size() >= kCompressFrom);
}

void ProjectWriter::write_int64s(const std::string& path, const std::vector<int64_t>& data,
                                 const std::vector<int64_t>& shape) {
  prepare_writer(impl_);
  Hdf5Call call;
  if (!impl_) throw InputError("", "the project writer was moved from");
  const std::string& file = impl_->path;
  hid_t f = impl_->writable();
  const std::string p = normalized(file, path);
  write_dataset(f, file, p, H5T_STD_I64LE, H5T_NATIVE_INT64, data.data(),
                dataset_dims(file, p, data.size(), shape), data.size() >= kCompressFrom);
}

namespace {

// The object an attribute is set on: a group is created (with its parents) when absent.
Hid attribute_target(hid_t f, const std::string& file, const std::string& object_path) {
  const std::string p = normalized(file, object_path);
  if (!link_exists(f, file, p)) return ensure_group(f, file, p);
  return open_object(f, file, p);
}

}  // namespace

void ProjectWriter::set_attribute(const std::string& object_path, const std::string& name,
                                  const std::string& value) {
  prepare_writer(impl_);
  Hdf5Call call;
  if (!impl_) throw InputError("", "the project writer was moved from");
  const std::string& file = impl_->path;
  Hid obj = attribute_target(impl_->writable(), file, object_path);
  write_string_attribute(obj.get(), file, object_path, name, value);
}

void ProjectWriter::set_attribute(const std::string& object_path, const std::string& name,
                                  double value) {
  prepare_writer(impl_);
  Hdf5Call call;
  if (!impl_) throw InputError("", "the project writer was moved from");
  const std::string& file = impl_->path;
  Hid obj = attribute_target(impl_->writable(), file, object_path);
  write_double_attribute(obj.get(), file, object_path, name, value);
}

void ProjectWriter::set_attribute(const std::string& object_path, const std::string& name,
                                  int64_t value) {
  prepare_writer(impl_);
  Hdf5Call call;
  if (!impl_) throw InputError("", "the project writer was moved from");
  const std::string& file = impl_->path;
  Hid obj = attribute_target(impl_->writable(), file, object_path);
  write_int64_attribute(obj.get(), file, object_path, name, value);
}

void ProjectWriter::remove(const std::string& path) {
  prepare_writer(impl_);
  Hdf5Call call;
  if (!impl_) throw InputError("", "the project writer was moved from");
  const std::string& file = impl_->path;
  remove_link(impl_->writable(), file, normalized(file, path));
}

// --- ProjectReader -------------------------------------------------------------------------------

struct ProjectReader::Impl {
  std::string path;
  Hid file;
  int shared_fd = -1;  // flock(LOCK_SH) on the project while it is open (see "Updates in place")
  std::pair<uint64_t, uint64_t> id{0, 0};
  std::thread::id opener;

  ~Impl() {
    {
      Hdf5Call call;
      file.reset();
    }
    if (shared_fd >= 0) {
      std::lock_guard<std::mutex> l(g_bursts_mutex);
      const auto range = g_readers.equal_range(id);
      for (auto it = range.first; it != range.second; ++it)
        if (it->second == opener) {
          g_readers.erase(it);
          break;
        }
    }
    if (shared_fd >= 0) ::close(shared_fd);
  }

  void require_calibration() const {
    if (!is_group(file.get(), path, "/calibration"))
      throw InputError(path, "no calibration in this project");
  }
};

ProjectReader::ProjectReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProjectReader::ProjectReader(ProjectReader&&) noexcept = default;
ProjectReader& ProjectReader::operator=(ProjectReader&&) noexcept = default;
ProjectReader::~ProjectReader() = default;

ProjectReader ProjectReader::open(const std::string& path) {
  for (int attempt = 0;; ++attempt) {
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    // Outside the HDF5 lock: it may wait for a writer. (The checking child reads for a parent
    // that holds the lock already.)
    if (!g_in_check_child) impl->shared_fd = lock_shared(path);
    Hdf5Call call;
    guard_project(path);
    impl->file = open_file(path, path, H5F_ACC_RDONLY);
    // The file HDF5 opened is the one locked (not one renamed over it meanwhile).
    void* handle = nullptr;
    if (impl->shared_fd >= 0 && attempt < 100 &&
        H5Fget_vfd_handle(impl->file.get(), H5P_DEFAULT, &handle) >= 0 && handle != nullptr &&
        file_id_of(*static_cast<int*>(handle)) != file_id_of(impl->shared_fd))
      continue;
    check_format(impl->file.get(), path);
    if (impl->shared_fd >= 0) {
      impl->id = file_id_of(impl->shared_fd);
      impl->opener = std::this_thread::get_id();
      std::lock_guard<std::mutex> l(g_bursts_mutex);
      g_readers.emplace(impl->id, impl->opener);
    }
    return ProjectReader(std::move(impl));
  }
}

const std::string& ProjectReader::path() const {
  static const std::string none;
  return impl_ ? impl_->path : none;
}

namespace {

const ProjectReader::Impl& readable(const std::unique_ptr<ProjectReader::Impl>& impl) {
  if (!impl) throw InputError("", "the project reader was moved from");
  return *impl;
}

}  // namespace

ProjectModelInfo ProjectReader::model() const {
  Hdf5Call call;
  const Impl& r = readable(impl_);
  const std::string& file = r.path;
  hid_t f = r.file.get();
  if (!is_group(f, file, "/model")) throw InputError(file, "no model in this project");
  Hid group = open_object(f, file, "/model");
  ProjectModelInfo info;
  info.path = require_string(group.get(), file, "/model", "path");
  info.fingerprint = require_string(group.get(), file, "/model", "fingerprint");
  info.config_json = require_string(group.get(), file, "/model", "config_json");
  info.other_params = require_count(group.get(), file, "/model", "other_params", 0, int64_t(1) << 50);
  if (!link_exists(f, file, "/model/module_names")) return info;
  auto names = read_string_dataset(f, file, "/model/module_names");
  std::vector<int64_t> shape;
  auto shapes =
      read_numeric<int64_t>(f, file, "/model/module_shapes", H5T_NATIVE_INT64, true, &shape);
  if (shape.size() != 2 || shape[1] != 2 || shape[0] != static_cast<int64_t>(names.size()))
    throw InputError(file, "'/model/module_shapes' does not have the shape [" +
                               std::to_string(names.size()) + ", 2] of '/model/module_names'");
  for (size_t i = 0; i < names.size(); ++i) {
    if (shapes[2 * i] < 1 || shapes[2 * i] > kMaxWidth || shapes[2 * i + 1] < 1 ||
        shapes[2 * i + 1] > kMaxWidth)
      throw InputError(file, "'/model/module_shapes' gives module " + in_quotes(names[i]) +
                                 " the shape [" + std::to_string(shapes[2 * i]) + ", " +
                                 std::to_string(shapes[2 * i + 1]) + "]: damaged");
    info.modules.push_back(ModuleShape{names[i], shapes[2 * i], shapes[2 * i + 1]});
  }
  return info;
}

bool ProjectReader::has_calibration() const {
  Hdf5Call call;
  const Impl& r = readable(impl_);
  return is_group(r.file.get(), r.path, "/calibration");
}

CalibrationSettings ProjectReader::calibration() const {
  Hdf5Call call;
  const Impl& r = readable(impl_);
  const std::string& file = r.path;
  hid_t f = r.file.get();
  r.require_calibration();
  const std::string where = "/calibration";
  Hid group = open_object(f, file, where);
  hid_t g = group.get();
  CalibrationSettings s;
  s.corpus = require_string(g, file, where, "corpus");
  s.corpus_sha256 = require_string(g, file, where, "corpus_sha256");
  s.seqlen = require_count(g, file, where, "seqlen", 2, int64_t(1) << 24);
  s.samples = require_count(g, file, where, "samples", 1, (int64_t(1) << 28) / s.seqlen);
  s.seed = require_number<uint64_t>(g, file, where, "seed", H5T_NATIVE_UINT64);
  s.mode = require_string(g, file, where, "mode");
  s.allocation_json = require_string(g, file, where, "allocation_json");
  s.hessians = require_string(g, file, where, "hessians");
  s.device = require_string(g, file, where, "device");
  s.dtype = require_string(g, file, where, "dtype");
  s.seconds = require_finite_number(g, file, where, "seconds");
  s.created = require_string(g, file, where, "created");
  if (link_exists(f, file, where + "/window_starts")) {
    s.window_starts =
        read_numeric<int64_t>(f, file, where + "/window_starts", H5T_NATIVE_INT64, true, nullptr);
    if (static_cast<int64_t>(s.window_starts.size()) != s.samples)
      throw InputError(file, "'/calibration/window_starts' holds " +
                                 std::to_string(s.window_starts.size()) + " offsets for " +
                                 std::to_string(s.samples) + " windows");
    for (int64_t start : s.window_starts)
      if (start < 0) throw InputError(file, "'/calibration/window_starts' holds a negative offset");
  }
  return s;
}

std::vector<std::string> ProjectReader::calibrated_modules() const {
  Hdf5Call call;
  const Impl& r = readable(impl_);
  r.require_calibration();
  const std::string order = "/calibration/module_order";
  if (!link_exists(r.file.get(), r.path, order)) return {};
  return read_string_dataset(r.file.get(), r.path, order);
}

ModuleStatistics ProjectReader::module_statistics(const std::string& module) const {
  Hdf5Call call;
  const Impl& r = readable(impl_);
  const std::string& file = r.path;
  hid_t f = r.file.get();
  r.require_calibration();
  check_name(file, "module", module);
  const std::string where = module_group(module);
  if (!is_group(f, file, where))
    throw InputError(file, "no statistics for module " + in_quotes(module));
  Hid group = open_object(f, file, where);
  hid_t g = group.get();
  ModuleStatistics s;
  s.name = module;
  s.out_features = require_count(g, file, where, "out_features", 1, kMaxWidth);
  s.in_features = require_count(g, file, where, "in_features", 1, kMaxWidth);
  s.hessian = require_string(g, file, where, "hessian");
  s.tokens = require_count(g, file, where, "tokens", 0, int64_t(1) << 40);
  s.weight_mean = require_finite_number(g, file, where, "weight_mean");
  s.weight_std = require_finite_number(g, file, where, "weight_std");
  s.weight_abs_max = require_finite_number(g, file, where, "weight_abs_max");
  s.weight_kurtosis = require_finite_number(g, file, where, "weight_kurtosis");
  const int64_t in = s.in_features, out = s.out_features;
  s.act_abs_mean = optional_floats(f, file, where + "/act_abs_mean", in);
  s.act_abs_max = optional_floats(f, file, where + "/act_abs_max", in);
  s.act_l2 = optional_floats(f, file, where + "/act_l2", in);
  s.out_abs_mean = optional_floats(f, file, where + "/out_abs_mean", out);
  s.out_abs_max = optional_floats(f, file, where + "/out_abs_max", out);
  s.out_mean = optional_floats(f, file, where + "/out_mean", out);
  s.out_std = optional_floats(f, file, where + "/out_std", out);
  s.weight_row_norm = optional_floats(f, file, where + "/weight_row_norm", out);
  s.weight_row_abs_max = optional_floats(f, file, where + "/weight_row_abs_max", out);
  s.weight_col_norm = optional_floats(f, file, where + "/weight_col_norm", in);
  for (const auto& [v, name] : {std::pair{&s.act_abs_mean, "act_abs_mean"}, {&s.act_abs_max, "act_abs_max"},
                                {&s.act_l2, "act_l2"}, {&s.out_abs_mean, "out_abs_mean"},
                                {&s.out_abs_max, "out_abs_max"}, {&s.out_mean, "out_mean"},
                                {&s.out_std, "out_std"}, {&s.weight_row_norm, "weight_row_norm"},
                                {&s.weight_row_abs_max, "weight_row_abs_max"},
                                {&s.weight_col_norm, "weight_col_norm"}})
    require_finite(*v, file, where + "/" + name);
  return s;
}

HessianData ProjectReader::hessian(const std::string& key, bool with_full) const {
  Hdf5Call call;
  const Impl& r = readable(impl_);
  const std::string& file = r.path;
  hid_t f = r.file.get();
  r.require_calibration();
  check_name(file, "Hessian", key);
  const std::string where = hessian_group(key);
  if (!is_group(f, file, where)) throw InputError(file, "no Hessian " + in_quotes(key));
  Hid group = open_object(f, file, where);
  HessianData h;
  h.key = key;
  h.n = require_count(group.get(), file, where, "n", 1, kMaxWidth);
  h.tokens = require_count(group.get(), file, where, "tokens", 0, int64_t(1) << 40);
  auto modules = strings_attribute(group.get(), file, where, "modules");
  if (modules) h.modules = std::move(*modules);
  h.diag = optional_floats(f, file, where + "/diag", h.n);
  if (h.diag.empty() && h.n > 0) throw InputError(file, in_quotes(where) + " has no diag dataset");
  if (with_full) {
    const int64_t packed = h.n * (h.n + 1) / 2;
    h.upper = optional_floats(f, file, where + "/upper", packed);
    require_finite(h.upper, file, where + "/upper");
  }
  require_finite(h.diag, file, where + "/diag");
  return h;
}

bool ProjectReader::exists(const std::string& path) const {
  Hdf5Call call;
  const Impl& r = readable(impl_);
  return link_exists(r.file.get(), r.path, normalized(r.path, path));
}

namespace {

herr_t collect_name(hid_t, const char* name, const H5L_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}

}  // namespace

std::vector<std::string> ProjectReader::children(const std::string& group_path) const {
  Hdf5Call call;
  const Impl& r = readable(impl_);
  const std::string p = normalized(r.path, group_path);
  if (!is_group(r.file.get(), r.path, p)) throw InputError(r.path, "no group " + in_quotes(p));
  Hid group = open_object(r.file.get(), r.path, p);
  std::vector<std::string> names;
  if (H5Literate(group.get(), H5_INDEX_NAME, H5_ITER_NATIVE, nullptr, collect_name, &names) < 0)
    fail_hdf5(r.path, "cannot list group " + in_quotes(p));
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<float> ProjectReader::read_floats(const std::string& path,
                                              std::vector<int64_t>* shape) const {
  Hdf5Call call;
  const Impl& r = readable(impl_);
  return read_numeric<float>(r.file.get(), r.path, normalized(r.path, path), H5T_NATIVE_FLOAT,
                             false, shape);
}

std::vector<double> ProjectReader::read_doubles(const std::string& path,
                                               std::vector<int64_t>* shape) const {
  Hdf5Call call;
  const Impl& r = readable(impl_);
  return read_numeric<double>(r.file.get(), r.path, normalized(r.path, path), H5T_NATIVE_DOUBLE,
                              false, shape);
}

std::vector<std::string> ProjectReader::read_strings(const std::string& path) const {
  Hdf5Call call;
  const Impl& r = readable(impl_);
  return read_string_dataset(r.file.get(), r.path, normalized(r.path, path));
}

std::vector<int64_t> ProjectReader::read_int64s(const std::string& path,
                                                std::vector<int64_t>* shape) const {
  Hdf5Call call;
  const Impl& r = readable(impl_);
  return read_numeric<int64_t>(r.file.get(), r.path, normalized(r.path, path), H5T_NATIVE_INT64,
                               true, shape);
}

std::optional<std::string> ProjectReader::string_attribute(const std::string& object_path,
                                                           const std::string& name) const {
  Hdf5Call call;
  const Impl& r = readable(impl_);
  const std::string p = normalized(r.path, object_path);
  if (!link_exists(r.file.get(), r.path, p)) return std::nullopt;
  Hid obj = open_object(r.file.get(), r.path, p);
  return string_attribute_of(obj.get(), r.path, p, name);
}

std::optional<double> ProjectReader::number_attribute(const std::string& object_path,
                                                      const std::string& name) const {
  Hdf5Call call;
  const Impl& r = readable(impl_);
  const std::string p = normalized(r.path, object_path);
  if (!link_exists(r.file.get(), r.path, p)) return std::nullopt;
  Hid obj = open_object(r.file.get(), r.path, p);
  return numeric_attribute<double>(obj.get(), r.path, p, name, H5T_NATIVE_DOUBLE);
}

#else  // !BITSCAPE_WITH_HDF5

namespace {

constexpr char kNoHdf5[] =
    "this build of Bitscape has no HDF5 support (install libhdf5-dev and rebuild)";

[[noreturn]] void no_hdf5(const std::string& path) { throw InputError(path, kNoHdf5); }

}  // namespace

bool project_support_available() { return false; }

struct ProjectWriter::Impl {
  std::string path, temp_path;
};

ProjectWriter::ProjectWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProjectWriter::ProjectWriter(ProjectWriter&&) noexcept = default;
ProjectWriter& ProjectWriter::operator=(ProjectWriter&&) noexcept = default;
ProjectWriter::~ProjectWriter() = default;

ProjectWriter ProjectWriter::create(const std::string& path) { no_hdf5(path); }
ProjectWriter ProjectWriter::update(const std::string& path) { no_hdf5(path); }
ProjectWriter ProjectWriter::derive(const std::string&, const std::string& path) { no_hdf5(path); }
const std::string& ProjectWriter::path() const {
  static const std::string none;
  return impl_ ? impl_->path : none;
}

const std::string& ProjectWriter::temp_path() const {
  static const std::string none;
  return impl_ ? impl_->temp_path : none;
}
void ProjectWriter::write_model(const ProjectModelInfo&) { no_hdf5(path()); }
void ProjectWriter::begin_calibration(const CalibrationSettings&) { no_hdf5(path()); }
void ProjectWriter::write_hessian(const HessianData&) { no_hdf5(path()); }
void ProjectWriter::write_module_statistics(const ModuleStatistics&) { no_hdf5(path()); }
void ProjectWriter::set_calibration_seconds(double) { no_hdf5(path()); }
void ProjectWriter::commit() { no_hdf5(path()); }
void ProjectWriter::checkpoint() { no_hdf5(path()); }
bool ProjectWriter::writing_in_place() const { return false; }
void set_in_place_updates(bool) {}
void ProjectWriter::write_floats(const std::string&, const std::vector<float>&,
                                 const std::vector<int64_t>&) {
  no_hdf5(path());
}
void ProjectWriter::write_int64s(const std::string&, const std::vector<int64_t>&,
                                 const std::vector<int64_t>&) {
  no_hdf5(path());
}
void ProjectWriter::write_doubles(const std::string&, const std::vector<double>&,
                                  const std::vector<int64_t>&) {
  no_hdf5(path());
}
void ProjectWriter::write_strings(const std::string&, const std::vector<std::string>&) { no_hdf5(path()); }
void ProjectWriter::set_attribute(const std::string&, const std::string&, const std::string&) {
  no_hdf5(path());
}
void ProjectWriter::set_attribute(const std::string&, const std::string&, double) {
  no_hdf5(path());
}
void ProjectWriter::set_attribute(const std::string&, const std::string&, int64_t) {
  no_hdf5(path());
}
void ProjectWriter::remove(const std::string&) { no_hdf5(path()); }

struct ProjectReader::Impl {
  std::string path;
};

ProjectReader::ProjectReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProjectReader::ProjectReader(ProjectReader&&) noexcept = default;
ProjectReader& ProjectReader::operator=(ProjectReader&&) noexcept = default;
ProjectReader::~ProjectReader() = default;

ProjectReader ProjectReader::open(const std::string& path) { no_hdf5(path); }
const std::string& ProjectReader::path() const {
  static const std::string none;
  return impl_ ? impl_->path : none;
}
ProjectModelInfo ProjectReader::model() const { no_hdf5(path()); }
bool ProjectReader::has_calibration() const { no_hdf5(path()); }
CalibrationSettings ProjectReader::calibration() const { no_hdf5(path()); }
std::vector<std::string> ProjectReader::calibrated_modules() const { no_hdf5(path()); }
ModuleStatistics ProjectReader::module_statistics(const std::string&) const { no_hdf5(path()); }
HessianData ProjectReader::hessian(const std::string&, bool) const { no_hdf5(path()); }
bool ProjectReader::exists(const std::string&) const { no_hdf5(path()); }
std::vector<std::string> ProjectReader::children(const std::string&) const { no_hdf5(path()); }
std::vector<float> ProjectReader::read_floats(const std::string&, std::vector<int64_t>*) const {
  no_hdf5(path());
}
std::vector<int64_t> ProjectReader::read_int64s(const std::string&, std::vector<int64_t>*) const {
  no_hdf5(path());
}
std::vector<std::string> ProjectReader::read_strings(const std::string&) const { no_hdf5(path()); }
std::vector<double> ProjectReader::read_doubles(const std::string&, std::vector<int64_t>*) const {
  no_hdf5(path());
}
std::optional<std::string> ProjectReader::string_attribute(const std::string&,
                                                           const std::string&) const {
  no_hdf5(path());
}
std::optional<double> ProjectReader::number_attribute(const std::string&,
                                                      const std::string&) const {
  no_hdf5(path());
}

#endif  // BITSCAPE_WITH_HDF5

}  // namespace bitscape
