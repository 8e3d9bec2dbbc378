// The project file (`*.bsproj.h5`, HDF5): what Bitscape measured about a model, readable with
// h5py (schema in docs/project-format.md). Calibration writes the model reference, its settings,
// the Hessians and the per-module statistics; later stages (sensitivity, search) add their own
// groups. Writes are atomic: a new project is written to a temporary beside the target and
// renamed over it at commit(); an update writes in place with an undo journal (or on a copy),
// committed at each checkpoint() and at commit(), so a crash or a cancel never leaves a broken
// or half-written project, and what was committed before is never lost.
// Plain-value header (no LibTorch): values are std::vectors.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bitscape/allocation.h"

namespace bitscape {

// Whether this build can read and write projects (HDF5 found at configure time). Without it,
// every function below throws InputError("...: this build of Bitscape has no HDF5 support").
bool project_support_available();

// The current UTC time as "2026-11-25T23:53:20Z" (the projects' timestamps).
std::string utc_now();

// --- the calibration schema ----------------------------------------------------------------------

struct ProjectModelInfo {
  std::string path;          // model directory as given
  std::string fingerprint;   // SHA-256 over config.json and the safetensors headers and sizes
  std::string config_json;   // config.json text
  std::vector<ModuleShape> modules;  // the quantizable modules, in execution order
  int64_t other_params = 0;  // parameters outside them (embeddings, head, norms, biases)
};

struct CalibrationSettings {
  std::string corpus;         // corpus path as given
  std::string corpus_sha256;  // of the corpus file's bytes
  int64_t samples = 0;        // windows
  int64_t seqlen = 0;         // tokens per window
  uint64_t seed = 0;
  std::vector<int64_t> window_starts;  // token offset of each window in the tokenized corpus
  std::string mode = "fp";    // "fp": blocks see full-precision inputs; "quantized": GPTQ's
                              // sequential mode, inputs from the already-quantized blocks
  std::string allocation_json;  // the allocation used in "quantized" mode, else empty
  std::string hessians = "full";  // "full": packed upper triangles stored; "diag": diagonals only
  std::string device = "cpu";
  std::string dtype = "fp32";
  double seconds = 0.0;
  std::string created;        // ISO 8601 UTC
};

// H = 2/N * sum over the N calibration tokens of x x^T (GPTQ's Hessian proxy) for one input
// shared by several modules (q/k/v share one, gate/up share one).
struct HessianData {
  std::string key;                   // e.g. "model.layers.0.self_attn.q_proj+k_proj+v_proj"
  std::vector<std::string> modules;  // the modules that read this input
  int64_t n = 0;                     // in_features
  int64_t tokens = 0;                // N
  std::vector<float> diag;           // [n]
  std::vector<float> upper;          // packed upper triangle by rows, n(n+1)/2; empty if "diag"
  bool has_full() const { return !upper.empty(); }
  // The full symmetric n x n matrix, row-major (requires has_full()).
  std::vector<float> full() const;
  // Packs a symmetric row-major n x n matrix (its upper triangle is read).
  static std::vector<float> pack_upper(const float* full, int64_t n);
};

struct ModuleStatistics {
  std::string name;
  int64_t out_features = 0, in_features = 0;
  std::string hessian;  // key of its HessianData
  int64_t tokens = 0;
  // Per input channel, over the calibration tokens.
  std::vector<float> act_abs_mean, act_abs_max;
  std::vector<float> act_l2;  // sqrt(sum x^2): CMPQ's activation norm
  // Per output channel (y = x W^T + b).
  std::vector<float> out_abs_mean, out_abs_max, out_mean, out_std;
  // Weight statistics.
  std::vector<float> weight_row_norm, weight_row_abs_max;  // [out]
  std::vector<float> weight_col_norm;                      // [in]
  double weight_mean = 0, weight_std = 0, weight_abs_max = 0, weight_kurtosis = 0;
};

// Writes a project: ProjectWriter::create starts a new one (the target need not exist and is
// replaced on commit); ProjectWriter::update adds to an existing one. A writer holds the
// project's writer lock (".<name>.lock") for its lifetime: one writer per project at a time.
class ProjectWriter {
 public:
  static ProjectWriter create(const std::string& path);
  // Writes into the project itself, only what is new, whenever nothing else has it open (the
  // bytes it overwrites are journaled first, so a kill at any instant leaves the project as it
  // was at the last checkpoint or commit); on a copy renamed over it at the commit otherwise.
  // docs/project-format.md, "Updates in place".
  static ProjectWriter update(const std::string& path);
  // A new project at `path` that starts as a copy of the project `source` (Save as, with
  // changes); `source` is only read.
  static ProjectWriter derive(const std::string& source, const std::string& path);
  ProjectWriter(ProjectWriter&&) noexcept;
  ProjectWriter& operator=(ProjectWriter&&) noexcept;
  // Without commit(): the project is as it was at the start or at the last checkpoint().
  ~ProjectWriter();

  void write_model(const ProjectModelInfo& info);
  // Replaces any earlier calibration (the group is rewritten as a whole).
  void begin_calibration(const CalibrationSettings& settings);
  void write_hessian(const HessianData& h);
  void write_module_statistics(const ModuleStatistics& s);
  void set_calibration_seconds(double seconds);
  // Makes everything written so far the project's content and ends the writer.
  void commit();
  // update(): makes everything written so far the project's content (a search's iteration, a
  // module's sensitivity) and goes on writing; readers may open the project between
  // checkpoints. In place it costs what was written; on a copy (the project was open elsewhere)
  // it is skipped while the last copy is recent, so that copying takes at most a tenth of the
  // time. create() and derive(): nothing (the project appears at commit()).
  void checkpoint();

  const std::string& path() const;       // the target
  // Where the data is written now: the project itself when in place, else the copy.
  const std::string& temp_path() const;
  bool writing_in_place() const;         // the current write goes into the project itself

  // Generic access for later stages (paths like "/sensitivity/run1/curves"): datasets of
  // float32/int64 with a shape, and string/number attributes on groups or datasets. Parents
  // are created as needed; writing an existing dataset replaces it.
  void write_floats(const std::string& path, const std::vector<float>& data,
                    const std::vector<int64_t>& shape);
  void write_int64s(const std::string& path, const std::vector<int64_t>& data,
                    const std::vector<int64_t>& shape);
  void write_doubles(const std::string& path, const std::vector<double>& data,
                     const std::vector<int64_t>& shape);
  // A 1-D dataset of UTF-8 strings of any length (e.g. a JSON document).
  void write_strings(const std::string& path, const std::vector<std::string>& values);
  void set_attribute(const std::string& object_path, const std::string& name, const std::string& value);
  void set_attribute(const std::string& object_path, const std::string& name, double value);
  void set_attribute(const std::string& object_path, const std::string& name, int64_t value);
  void remove(const std::string& path);  // a group or dataset; nothing if absent

  struct Impl;

 private:
  explicit ProjectWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Reads a project. Errors (not a project, a newer format version, a missing group) are
// InputErrors naming the file.
class ProjectReader {
 public:
  static ProjectReader open(const std::string& path);
  ProjectReader(ProjectReader&&) noexcept;
  ProjectReader& operator=(ProjectReader&&) noexcept;
  ~ProjectReader();

  const std::string& path() const;
  ProjectModelInfo model() const;
  bool has_calibration() const;
  CalibrationSettings calibration() const;
  std::vector<std::string> calibrated_modules() const;  // in execution order
  ModuleStatistics module_statistics(const std::string& module) const;
  // `with_full`: also read the packed upper triangle when stored.
  HessianData hessian(const std::string& key, bool with_full = true) const;

  // Generic access (see ProjectWriter).
  bool exists(const std::string& path) const;
  std::vector<std::string> children(const std::string& group_path) const;  // sorted names
  std::vector<float> read_floats(const std::string& path, std::vector<int64_t>* shape = nullptr) const;
  std::vector<int64_t> read_int64s(const std::string& path, std::vector<int64_t>* shape = nullptr) const;
  std::vector<double> read_doubles(const std::string& path, std::vector<int64_t>* shape = nullptr) const;
  std::vector<std::string> read_strings(const std::string& path) const;
  std::optional<std::string> string_attribute(const std::string& object_path, const std::string& name) const;
  std::optional<double> number_attribute(const std::string& object_path, const std::string& name) const;
  // A numeric attribute that must hold an integer in [lo, hi] (a size, a count, an option);
  // `fallback` when absent (without one, absence is an error). InputError naming the file, the
  // object and the attribute otherwise: a project is outside data and is checked like any file.
  int64_t integer_attribute(const std::string& object_path, const std::string& name, int64_t lo,
                            int64_t hi, std::optional<int64_t> fallback = std::nullopt) const;

  struct Impl;

 private:
  explicit ProjectReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The runs (child groups) of a group such as /search, oldest first: by their "created" attribute
// (UTC, second resolution), ties in natural name order (run2 before run10). Empty when the group
// is absent.
std::vector<std::string> runs_in_order(const ProjectReader& r, const std::string& group_path);

// For tests and benches: false makes every update() write a copy of the whole project (the
// writer before in-place updates); true (the default) writes in place when it can.
void set_in_place_updates(bool on);

// Current format version written to the root attribute "format_version".
constexpr int kProjectFormatVersion = 1;

}  // namespace bitscape
