// safetensors reader and writer, following the format description published with the
// `safetensors` library: u64 little-endian header size N, N bytes of UTF-8 JSON, data block.
#include "bitscape/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "bitscape/error.h"
#include "bitscape/json_input.h"
#include "bitscape/safe_write.h"
#include "util/text.h"

namespace bitscape {
namespace {

constexpr uint64_t kMaxHeader = 100ull << 20;  // as the reference library

struct DTypeRow {
  const char* name;
  at::ScalarType type;
  int64_t size;
};
const DTypeRow kDTypes[] = {
    {"F64", at::kDouble, 8}, {"F32", at::kFloat, 4},  {"F16", at::kHalf, 2},
    {"BF16", at::kBFloat16, 2}, {"I64", at::kLong, 8}, {"I32", at::kInt, 4},
    {"I16", at::kShort, 2},  {"I8", at::kChar, 1},   {"U8", at::kByte, 1},
    {"BOOL", at::kBool, 1},
};

std::string errno_str() { return std::strerror(errno); }

}  // namespace

int64_t safetensors_dtype_size(const std::string& dtype, const std::string& path) {
  for (const auto& r : kDTypes)
    if (dtype == r.name) return r.size;
  throw InputError(path, "unsupported dtype '" + dtype +
                             "' (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
}

at::ScalarType safetensors_dtype_to_scalar(const std::string& dtype, const std::string& path) {
  for (const auto& r : kDTypes)
    if (dtype == r.name) return r.type;
  safetensors_dtype_size(dtype, path);  // throws the message above
  return at::kFloat;
}

std::string scalar_to_safetensors_dtype(at::ScalarType t) {
  for (const auto& r : kDTypes)
    if (r.type == t) return r.name;
  throw std::invalid_argument(std::string("no safetensors dtype for ") + c10::toString(t));
}

SafetensorsHeader parse_safetensors_header(const void* data, uint64_t size,
                                           const std::string& path) {
  if (size < 8)
    throw InputError(path, "truncated: " + std::to_string(size) +
                               " bytes, too short for the 8-byte header length");
  const auto* bytes = static_cast<const unsigned char*>(data);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  if (n > size - 8)
    throw InputError(path, "header length " + std::to_string(n) + " exceeds the file size (" +
                               std::to_string(size) + " bytes): truncated or not safetensors");
  if (n > kMaxHeader)
    throw InputError(path, "header length " + std::to_string(n) + " exceeds the 100 MiB limit");
  if (n < 2 || bytes[8] != '{')
    throw InputError(path, "header does not start with '{': not a safetensors file");
  SafetensorsHeader h;
  h.data_start = 8 + n;
  const uint64_t data_size = size - h.data_start;

  const nlohmann::json header = parse_json(
      std::string_view(reinterpret_cast<const char*>(bytes + 8), n), path, "header");
  if (!header.is_object()) throw InputError(path, "header is not a JSON object");

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw InputError(path, "__metadata__ is not an object");
      for (auto m2 = v.begin(); m2 != v.end(); ++m2) {
        if (!m2.value().is_string())
          throw InputError(path, "__metadata__ value of " + quote_for_message(m2.key()) +
                                     " is not a string");
        h.metadata[m2.key()] = m2.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor " + quote_for_message(name) + ": ";
    if (!v.is_object()) throw InputError(path, where + "entry is not an object");
    if (!v.contains("dtype") || !v["dtype"].is_string())
      throw InputError(path, where + "missing string field 'dtype'");
    if (!v.contains("shape") || !v["shape"].is_array())
      throw InputError(path, where + "missing array field 'shape'");
    if (!v.contains("data_offsets") || !v["data_offsets"].is_array() ||
        v["data_offsets"].size() != 2)
      throw InputError(path, where + "missing field 'data_offsets' [begin, end]");
    if (v["shape"].size() > 8)
      throw InputError(path, where + "shape has " + std::to_string(v["shape"].size()) +
                                 " dimensions (at most 8 accepted)");
    SafetensorsEntry e;
    e.info.name = name;
    e.info.dtype = v["dtype"].get<std::string>();
    const int64_t elem = safetensors_dtype_size(e.info.dtype, path);
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        throw InputError(path, where + "shape entries must be non-negative integers");
      int64_t x = d.get<int64_t>();
      e.info.shape.push_back(x);
      if (x != 0 && numel > (1ull << 62) / static_cast<uint64_t>(x))
        throw InputError(path, where + "shape " + shape_string(e.info.shape) + " is too large");
      numel *= static_cast<uint64_t>(x);
    }
    for (const auto& o : v["data_offsets"])
      if (!o.is_number_unsigned() && !(o.is_number_integer() && o.get<int64_t>() >= 0))
        throw InputError(path, where + "data_offsets must be non-negative integers");
    e.begin = v["data_offsets"][0].get<uint64_t>();
    e.end = v["data_offsets"][1].get<uint64_t>();
    if (e.begin > e.end)
      throw InputError(path, where + "data_offsets begin " + std::to_string(e.begin) +
                                 " > end " + std::to_string(e.end));
    if (e.end > data_size)
      throw InputError(path, where + "data_offsets [" + std::to_string(e.begin) + ", " +
                                 std::to_string(e.end) + "] lie beyond the data block (" +
                                 std::to_string(data_size) + " bytes): file truncated?");
    if (e.end - e.begin != numel * static_cast<uint64_t>(elem))
      throw InputError(path, where + "shape " + shape_string(e.info.shape) + " of " + e.info.dtype +
                                 " needs " + std::to_string(numel * elem) +
                                 " bytes but data_offsets span " +
                                 std::to_string(e.end - e.begin));
    h.entries.push_back(std::move(e));
  }
  // As the reference library validates: sorted by offset, the tensors' bytes follow each other
  // without gaps or overlaps and fill the data block exactly.
  std::vector<const SafetensorsEntry*> by_begin;
  for (const auto& e : h.entries) by_begin.push_back(&e);
  std::sort(by_begin.begin(), by_begin.end(), [](auto* a, auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t expected = 0;
  for (size_t i = 0; i < by_begin.size(); ++i) {
    const auto* e = by_begin[i];
    if (e->begin != expected) {
      if (i > 0 && e->begin < expected)
        throw InputError(path, "tensors " + quote_for_message(by_begin[i - 1]->info.name) +
                                   " and " + quote_for_message(e->info.name) +
                                   " have overlapping data_offsets");
      throw InputError(path, "tensor " + quote_for_message(e->info.name) + " starts at byte " +
                                 std::to_string(e->begin) + " of the data block, expected " +
                                 std::to_string(expected) + " (offsets must be contiguous)");
    }
    expected = e->end;
  }
  if (expected != data_size)
    throw InputError(path, "the tensors cover " + std::to_string(expected) + " of the " +
                               std::to_string(data_size) +
                               " bytes after the header (trailing data or a truncated header)");
  return h;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->self_ = f;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InputError(path, "cannot open: " + errno_str());
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    throw InputError(path, "cannot stat: " + errno_str());
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw InputError(path, "is a directory, expected a .safetensors file");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw InputError(path, "is not a regular file, expected a .safetensors file");
  }
  f->size_ = static_cast<uint64_t>(st.st_size);
  if (f->size_ < 8) {
    ::close(fd);
    throw InputError(path, "truncated: " + std::to_string(f->size_) +
                               " bytes, too short for the 8-byte header length");
  }
  // MAP_PRIVATE + PROT_WRITE: copy-on-write, so a stray write never reaches the file.
  void* m = mmap(nullptr, f->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) throw InputError(path, "cannot map: " + errno_str());
  f->map_ = m;
  SafetensorsHeader h = parse_safetensors_header(m, f->size_, path);
  f->data_start_ = h.data_start;
  f->entries_ = std::move(h.entries);
  f->metadata_ = std::move(h.metadata);
  for (size_t i = 0; i < f->entries_.size(); ++i) f->index_[f->entries_[i].info.name] = i;
  return f;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) munmap(map_, size_);
}

bool SafetensorsFile::contains(const std::string& name) const { return index_.count(name) > 0; }

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw InputError(path_, "no tensor named '" + name + "'");
  return entries_[it->second];
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const auto& e = entry(name);
  auto type = safetensors_dtype_to_scalar(e.info.dtype, path_);
  auto options = at::TensorOptions().dtype(type).device(at::kCPU);
  if (e.end == e.begin) return at::empty(e.info.shape, options);
  char* ptr = static_cast<char*>(map_) + data_start_ + e.begin;
  const int64_t elem = safetensors_dtype_size(e.info.dtype, path_);
  if (reinterpret_cast<uintptr_t>(ptr) % static_cast<uintptr_t>(elem) != 0) {
    // Misaligned data: copy into an aligned tensor rather than hand kernels a bad pointer.
    auto t = at::empty(e.info.shape, options);
    std::memcpy(t.data_ptr(), ptr, e.end - e.begin);
    return t;
  }
  auto keep = self_.lock();
  return at::from_blob(ptr, e.info.shape, [keep](void*) {}, options);
}

std::map<std::string, std::string> parse_safetensors_index(const std::string& text,
                                                           const std::string& path) {
  const nlohmann::json j = parse_json(text, path);
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw InputError(path, "missing object field 'weight_map'");
  std::map<std::string, std::string> weight_map;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it.value().is_string())
      throw InputError(path, "weight_map entry " + quote_for_message(it.key()) +
                                 " is not a file name");
    std::string shard = it.value().get<std::string>();
    if (shard.empty() || shard.find('/') != std::string::npos || shard == ".." || shard == "." ||
        shard.find('\0') != std::string::npos)
      throw InputError(path, "weight_map shard " + quote_for_message(shard) +
                                 " is not a plain file name");
    weight_map[it.key()] = shard;
  }
  return weight_map;
}

Checkpoint Checkpoint::open_dir(const std::string& dir) {
  Checkpoint c;
  c.dir_ = dir;
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) throw InputError(dir, "cannot open: " + errno_str());
  if (!S_ISDIR(st.st_mode)) throw InputError(dir, "is not a directory (expected a model folder)");
  const std::string index_path = dir + "/model.safetensors.index.json";
  const std::string single_path = dir + "/model.safetensors";
  std::vector<std::string> files;
  std::map<std::string, std::string> weight_map;
  if (access(index_path.c_str(), F_OK) == 0) {
    // Real index files list one name per tensor: a few MB for the largest models.
    weight_map =
        parse_safetensors_index(read_file_limited(index_path, 256u << 20, "index file"), index_path);
    for (const auto& [name, shard] : weight_map)
      if (std::find(files.begin(), files.end(), shard) == files.end()) files.push_back(shard);
    if (files.empty()) throw InputError(index_path, "weight_map is empty");
  } else if (access(single_path.c_str(), F_OK) == 0) {
    files.push_back("model.safetensors");
  } else {
    throw InputError(dir, "no model.safetensors or model.safetensors.index.json");
  }
  for (size_t i = 0; i < files.size(); ++i) {
    std::string p = dir + "/" + files[i];
    if (access(p.c_str(), F_OK) != 0)
      throw InputError(p, weight_map.empty() ? "missing" : "missing shard (listed in " +
                                                               index_path + ")");
    auto f = SafetensorsFile::open(p);
    for (size_t k = 0; k < f->entries().size(); ++k) {
      const auto& name = f->entries()[k].info.name;
      if (!weight_map.empty()) {
        auto w = weight_map.find(name);
        if (w == weight_map.end() || w->second != files[i]) continue;  // listed elsewhere
      }
      if (c.where_.count(name)) throw InputError(p, "tensor '" + name + "' appears twice");
      c.where_[name] = {i, k};
    }
    c.files_.push_back(std::move(f));
  }
  for (const auto& [name, shard] : weight_map)
    if (!c.where_.count(name))
      throw InputError(dir + "/" + shard,
                       "tensor '" + name + "' listed in model.safetensors.index.json is absent");
  return c;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [n, _] : where_) out.push_back(n);
  return out;
}

bool Checkpoint::contains(const std::string& name) const { return where_.count(name) > 0; }

const TensorInfo& Checkpoint::info(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw InputError(dir_, "checkpoint has no tensor '" + name + "'");
  return files_[it->second.first]->entries()[it->second.second].info;
}

at::Tensor Checkpoint::tensor(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw InputError(dir_, "checkpoint has no tensor '" + name + "'");
  return files_[it->second.first]->tensor(name);
}

int64_t Checkpoint::total_bytes() const {
  int64_t n = 0;
  for (const auto& f : files_) n += static_cast<int64_t>(f->file_size());
  return n;
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> data;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (!seen.insert(name).second)
      throw std::invalid_argument("write_safetensors: duplicate tensor name '" + name + "'");
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    uint64_t bytes = static_cast<uint64_t>(c.numel()) * c.element_size();
    header[name] = {{"dtype", scalar_to_safetensors_dtype(c.scalar_type())},
                    {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(c);
  }
  std::string h = header.dump();
  while (h.size() % 8) h.push_back(' ');

  AtomicFile file(path, "safetensors file");
  unsigned char len[8];
  const uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
  file.write(len, 8);
  file.write(h.data(), h.size());
  for (const auto& t : data)
    if (t.numel() > 0) file.write(t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size());
  file.commit();
}

}  // namespace bitscape
