// safetensors checkpoints: a memory-mapped reader for one file, a model-directory view that
// also resolves sharded checkpoints (model.safetensors.index.json), and an atomic writer.
// Format: 8-byte little-endian header length N, N bytes of JSON {name: {dtype, shape,
// data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the data block.
// Tensor-facing header (LibTorch).
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bitscape/model_info.h"

namespace bitscape {

// Element size in bytes of a safetensors dtype string ("F32", "BF16", "I8", ...); throws
// InputError for unknown dtypes.
int64_t safetensors_dtype_size(const std::string& dtype, const std::string& path_for_errors);
at::ScalarType safetensors_dtype_to_scalar(const std::string& dtype,
                                           const std::string& path_for_errors);
std::string scalar_to_safetensors_dtype(at::ScalarType t);

struct SafetensorsEntry {
  TensorInfo info;
  uint64_t begin = 0;  // offsets into the data block
  uint64_t end = 0;
};

// The validated header of a safetensors file held in memory (`data`, `size` bytes: the whole
// file): the safetensors library's rules (header length within the file and at most 100 MiB,
// a JSON object without duplicate names, known dtypes, shapes matching the byte spans, offsets
// contiguous from 0 to the end of the data block). Throws InputError naming `path`.
struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;  // in header order
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;  // 8 + header length
};
SafetensorsHeader parse_safetensors_header(const void* data, uint64_t size, const std::string& path);

class SafetensorsFile {
 public:
  // Maps the file and validates the header (length, JSON, dtypes, shapes vs sizes, offsets in
  // range and not overlapping). Throws InputError naming the file and the problem.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const;
  const SafetensorsEntry& entry(const std::string& name) const;  // throws InputError if absent
  // A CPU tensor viewing the mapped bytes (no copy; it keeps the mapping alive). Read-only:
  // clone before writing into it.
  at::Tensor tensor(const std::string& name) const;
  uint64_t file_size() const { return size_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  uint64_t size_ = 0;
  uint64_t data_start_ = 0;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
  std::weak_ptr<SafetensorsFile> self_;
};

// The "weight_map" of model.safetensors.index.json ({tensor: shard file name}), validated: every
// shard a plain file name in the model's folder. Throws InputError naming `path`.
std::map<std::string, std::string> parse_safetensors_index(const std::string& text,
                                                           const std::string& path);

// The tensors of a Hugging Face model directory: model.safetensors, or the shards listed in
// model.safetensors.index.json ("weight_map": {tensor: shard file}).
class Checkpoint {
 public:
  static Checkpoint open_dir(const std::string& dir);
  const std::string& dir() const { return dir_; }
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;
  at::Tensor tensor(const std::string& name) const;  // zero-copy CPU view, see SafetensorsFile
  int64_t total_bytes() const;

 private:
  std::string dir_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::pair<size_t, size_t>> where_;  // name -> (file, entry)
};

// Writes tensors (any device/dtype, made contiguous on CPU) to `path` atomically: a temporary
// file in the same directory, fsync, then rename. Throws InputError when it cannot write.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace bitscape
