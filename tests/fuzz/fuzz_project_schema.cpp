// The project schema (core/src/io/project.cpp and the stores), structure-aware: the input is a
// short program of edits made through HDF5 to a valid seed project (tests/fuzz/corpus/project/)
// — objects removed, datasets rewritten with other lengths, shapes, types and values (NaN,
// infinities, huge, negative), attributes set to other types and values — and the result is read
// whole by check_project(). HDF5 itself always sees a well-formed file, so every finding is in
// Bitscape's reading of what the file says.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <vector>

#include "bitscape/project.h"
#include "bitscape/project_check.h"
#include "fuzz_target.h"

namespace fs = std::filesystem;

namespace {

// Bytes of the input, consumed front to back; zeros once exhausted.
class Bytes {
 public:
  Bytes(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | byte();
    return v;
  }
  size_t pick(size_t n) { return n == 0 ? 0 : u32() % n; }
  bool done() const { return pos_ >= size_; }

 private:
  const uint8_t* data_;
  size_t size_, pos_ = 0;
};

double interesting_number(Bytes& in) {
  static const double kValues[] = {0,
                                   -1,
                                   1,
                                   2,
                                   3,
                                   16,
                                   4096,
                                   1e300,
                                   -1e300,
                                   9.3e18,
                                   -9.3e18,
                                   0.5,
                                   std::numeric_limits<double>::quiet_NaN(),
                                   std::numeric_limits<double>::infinity(),
                                   -std::numeric_limits<double>::infinity(),
                                   4294967296.0,
                                   2147483648.0};
  const size_t k = in.pick(sizeof kValues / sizeof kValues[0] + 1);
  if (k < sizeof kValues / sizeof kValues[0]) return kValues[k];
  return static_cast<double>(static_cast<int32_t>(in.u32())) / 16.0;
}

std::string interesting_string(Bytes& in) {
  static const char* const kValues[] = {
      "", "2,3,4", "2,x", "complete", "running", "cancelled", "fp", "quantized", "full", "diag",
      "obs,tammp", "-1", "99999999999999999999", "{}", "[", "{\"bits\": 4}",
      "model.layers.0.mlp.up_proj", "model.layers.0.self_attn.q_proj+k_proj+v_proj",
      "bitscape-project", "../../etc/passwd", "\xff\xfe"};
  return kValues[in.pick(sizeof kValues / sizeof kValues[0])];
}

const char* const kAttributes[] = {
    "format", "format_version", "path", "fingerprint", "config_json", "other_params", "corpus",
    "corpus_sha256", "samples", "seqlen", "seed", "mode", "allocation_json", "hessians", "seconds",
    "created", "n", "tokens", "modules", "in_features", "out_features", "hessian", "weight_mean",
    "weight_std", "weight_abs_max", "weight_kurtosis", "status", "metrics", "bits", "group_size",
    "quantizer", "eval_windows", "gradient_windows", "trace_samples", "baseline_ppl", "rows", "cols",
    "total", "ppl_2", "ppl_4", "delta_ppl_2", "hessian_trace", "method", "settings",
    "completed_iterations", "log", "point", "label", "sources", "metric", "consensus",
    "critical_fraction", "compactness"};

// Every group and dataset of the project, depth first.
void walk(const bitscape::ProjectReader& r, const std::string& group, std::vector<std::string>& out) {
  for (const std::string& child : r.children(group)) {
    const std::string p = (group == "/" ? "" : group) + "/" + child;
    out.push_back(p);
    // children() of a dataset is an error; of a group, its members.
    try {
      walk(r, p, out);
    } catch (const bitscape::InputError&) {
    }
  }
}

// The seed projects, by name and in a fixed order: the first word of a program picks one by its
// index, so a project added to corpus/project/ later must not shift what the committed programs
// mean (append new seeds here, never insert).
std::vector<std::string> seed_projects() {
  static const char* const kSeeds[] = {"h5py_project.bsproj.h5", "tiny-calib.bsproj.h5",
                                       "tiny-checksummed.bsproj.h5", "tiny-full.bsproj.h5"};
  std::vector<std::string> seeds;
  for (const char* name : kSeeds)
    seeds.push_back(std::string(BITSCAPE_FUZZ_DIR) + "/corpus/project/" + name);
  return seeds;
}

}  // namespace

BITSCAPE_FUZZ_TARGET(project_schema) {
  static const std::vector<std::string> seeds = seed_projects();
  static const std::string dir = [] {
    const fs::path d = fs::path(fs::is_directory("/dev/shm") ? "/dev/shm" : "/tmp") /
                       ("bitscape-fuzz-schema-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d.string();
  }();
  // The objects of each seed, listed once.
  static const std::vector<std::vector<std::string>> seed_objects = [] {
    std::vector<std::vector<std::string>> all;
    for (const std::string& seed : seeds) {
      std::vector<std::string> objects;
      walk(bitscape::ProjectReader::open(seed), "/", objects);
      objects.push_back("/");
      all.push_back(objects);
    }
    return all;
  }();
  if (seeds.empty()) return 0;
  Bytes in(data, size);
  const std::string path = dir + "/p.bsproj.h5";
  const size_t seed = in.pick(seeds.size());
  const std::vector<std::string>& objects = seed_objects[seed];
  try {
    // A changed copy of the seed (the seed itself is only read).
    bitscape::ProjectWriter w = bitscape::ProjectWriter::derive(seeds[seed], path);
    const int edits = 1 + in.byte() % 6;
    for (int e = 0; e < edits && !in.done(); ++e) {
      const std::string target = objects[in.pick(objects.size())];
      switch (in.byte() % 6) {
        case 0:
          if (target != "/") w.remove(target);
          break;
        case 1: {  // a float dataset of another length and shape
          const int64_t n = in.byte() % 40;
          std::vector<float> v(static_cast<size_t>(n));
          for (auto& x : v) x = static_cast<float>(interesting_number(in));
          if (in.byte() % 2 && n % 2 == 0)
            w.write_floats(target, v, {2, n / 2});
          else
            w.write_floats(target, v, {n});
          break;
        }
        case 2: {
          const int64_t n = in.byte() % 40;
          std::vector<int64_t> v(static_cast<size_t>(n));
          for (auto& x : v) x = static_cast<int64_t>(static_cast<int32_t>(in.u32())) * (in.byte() % 3 ? 1 : 1 << 20);
          w.write_int64s(target, v, {n});
          break;
        }
        case 3:
          w.write_strings(target, {interesting_string(in), interesting_string(in)});
          break;
        case 4:
          w.set_attribute(target, kAttributes[in.pick(sizeof kAttributes / sizeof kAttributes[0])],
                          interesting_number(in));
          break;
        default:
          w.set_attribute(target, kAttributes[in.pick(sizeof kAttributes / sizeof kAttributes[0])],
                          interesting_string(in));
          break;
      }
    }
    w.commit();
  } catch (const bitscape::InputError&) {
    return 0;  // an edit the writer refuses (e.g. a dataset where a group is)
  }
  try {
    bitscape::check_project(path);
    bitscape::fuzz::accepted() = true;
  } catch (const bitscape::InputError&) {
  }
  return 0;
}
