// An allocation: for each quantizable module (one linear projection of a decoder block), the
// bits, group size and quantizer it is quantized with, and optionally classes of channels with
// their own bits (AutoMixQ's protection strategies, CMPQ's channel-wise bits, TAMMP's
// critical/sub-critical/non-critical columns) and outliers kept in fp16 (CMPQ, SqueezeLLM).
// Every stage reads and writes it: the quantize job, the search, the GUI's editor, the cost
// model. On disk it is a hand-editable JSON file (`*.alloc.json`, docs/allocation-format.md).
// Plain-value header (no LibTorch).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace bitscape {

// bits == kUnquantizedBits keeps a module (or a channel class) in fp16.
constexpr int kUnquantizedBits = 16;
// group_size == kPerChannel: one group spans the whole row (GPTQ's `group_size: -1`).
constexpr int kPerChannel = -1;

enum class QuantizerKind {
  kRtn,     // round to nearest (GPTQ's quant.py quantizer), optional MSE clipping search
  kGptq,    // Frantar et al. 2023, Algorithm 1 (needs the Hessian)
  kHqq,     // Badri & Shaji 2023, half-quadratic zero-point solver (data-free)
  kAwq,     // Lin et al. 2024, activation-aware scaling + clipping search (needs activations)
  kKmeans,  // non-uniform: weighted 1-D k-means codebooks (SqueezeLLM per row, CMPQ per column)
};
std::string quantizer_name(QuantizerKind kind);                  // "rtn", "gptq", ...
std::optional<QuantizerKind> parse_quantizer(const std::string& name);
// Whether the quantizer needs calibration statistics (Hessian / activations): gptq, awq, kmeans.
bool quantizer_needs_calibration(QuantizerKind kind);

enum class ChannelAxis {
  kIn,   // input channels: columns of the [out, in] weight (CMPQ, TAMMP, AWQ's salient channels)
  kOut,  // output channels: rows (AutoMixQ's channels of the output Y = XW)
};

// How a class picks its channels. Fractions are of the channels along the axis (after any
// fp16 outlier columns are taken out); the count is round(fraction * n).
enum class ChannelSelect {
  kTop,        // the largest statistic
  kLow,        // the smallest statistic
  kTopAndLow,  // half the count from each end (AutoMixQ strategies 1 and 3)
  kIndices,    // an explicit list of channel indices
};
enum class ChannelStatistic {
  kActivation,  // axis in: L2 norm of the input activation channel over the calibration
                // tokens (CMPQ; AWQ); axis out: mean |y| of the output channel (AutoMixQ)
  kWeight,      // L2 norm of the weight channel (row for axis out, column for axis in)
};

struct ChannelClass {
  int bits = 4;  // 2..8 or kUnquantizedBits
  ChannelSelect select = ChannelSelect::kTop;
  ChannelStatistic by = ChannelStatistic::kActivation;
  double fraction = 0.0;          // for top / low / top_and_low
  std::vector<int64_t> indices;   // for kIndices
};

// Classes are applied in order; a channel belongs to the first class that selects it; the
// channels no class selects get the module's `bits`.
struct ChannelClasses {
  ChannelAxis axis = ChannelAxis::kIn;
  std::vector<ChannelClass> classes;
  bool empty() const { return classes.empty(); }
};

// Weights kept in fp16 beside the quantized ones (dense-and-sparse decomposition, CMPQ 3.2.2).
struct OutlierSpec {
  // Input channels (whole columns) with the largest activation L2 norm kept in fp16
  // (CMPQ's activation-based outliers; the paper uses 0.45%).
  double activation_fraction = 0.0;
  // Single weights with the largest |W' - Q(W')| after a first quantization pass kept in fp16,
  // then the rest re-quantized (CMPQ's quantization-based outliers; the paper uses 0.05%).
  double quantization_fraction = 0.0;
  bool empty() const { return activation_fraction <= 0.0 && quantization_fraction <= 0.0; }
};

// Everything needed to quantize one module. Defaults are the papers' common setting.
struct ModuleAllocation {
  int bits = 4;                    // 2..8, or kUnquantizedBits
  int group_size = 128;            // divides in_features, or kPerChannel
  QuantizerKind quantizer = QuantizerKind::kRtn;
  bool symmetric = false;          // symmetric grid (no zero-point stored); rtn/gptq
  bool clip_search = false;        // MSE-optimal clipping grid search (rtn/gptq)
  bool act_order = false;          // GPTQ: columns in order of decreasing diag(H)
  bool static_groups = false;      // GPTQ: group parameters fixed before the column sweep
  double damp = 0.01;              // GPTQ: dampening, fraction of mean(diag(H))
  ChannelAxis codebook_axis = ChannelAxis::kOut;  // k-means: per row (SqueezeLLM) or column (CMPQ)
  ChannelClasses channels;
  OutlierSpec outliers;

  bool quantized() const { return bits != kUnquantizedBits; }
  // Every field; classes compare by what they mean (an index class by its indices, a selecting
  // class by its statistic and fraction).
  bool operator==(const ModuleAllocation& o) const;
  bool operator!=(const ModuleAllocation& o) const { return !(*this == o); }
};

// The shape of a quantizable module as the allocation sees it.
struct ModuleShape {
  std::string name;  // HF module name, "model.layers.3.mlp.down_proj"
  int64_t out_features = 0;
  int64_t in_features = 0;
  int64_t numel() const { return out_features * in_features; }
};

class Allocation {
 public:
  std::string name;     // optional, shown in the GUI and reports
  std::string model;    // optional: the model it was made for (informational)
  std::string comment;  // optional
  // Modules not listed in `modules` get `default_module` when it is set, else stay fp16.
  std::optional<ModuleAllocation> default_module;
  std::map<std::string, ModuleAllocation> modules;  // by HF module name

  // One setting for every module of `shapes`.
  static Allocation uniform(const std::vector<ModuleShape>& shapes, const ModuleAllocation& m);

  // The allocation of one module: its entry in `modules`, else the default, else fp16. (The
  // JSON form's glob `rules` are expanded into `modules` entries when it is read.)
  ModuleAllocation module(const std::string& name) const;

  // Parses and validates the JSON file format against the model's modules. Errors name the
  // file, the module and the field: an unknown module, bits out of range, a group size that
  // does not divide in_features, a class fraction outside [0, 1], a channel index out of range,
  // an unknown quantizer, ... Throws InputError.
  static Allocation from_json(const nlohmann::json& j, const std::vector<ModuleShape>& shapes,
                              const std::string& path_for_errors);
  static Allocation load(const std::string& path, const std::vector<ModuleShape>& shapes);
  // The JSON form (every module written out explicitly), and an atomic write of it.
  nlohmann::json to_json(const std::vector<ModuleShape>& shapes) const;
  void save(const std::string& path, const std::vector<ModuleShape>& shapes) const;

  // Checks every module's setting against its shape; throws InputError(path, "module M: ...").
  void validate(const std::vector<ModuleShape>& shapes, const std::string& path_for_errors) const;
};

// The HF module name for a short one: "layers.3.mlp.down_proj" -> "model.layers.3.mlp.down_proj";
// any other name is returned as it is. The JSON form accepts both.
std::string normalize_module_name(const std::string& name);

// Whether quantizing a module with this setting needs calibration statistics: its quantizer
// does, or a channel class selects by activation, or activation outliers are kept.
bool module_needs_calibration(const ModuleAllocation& m);

// CMPQ's channel-wise allocation for an average of `budget` code bits per weight (CMPQ,
// Algorithm 1): the module at 3 bits; for budget > 3 the top (budget - 3) of the input channels
// by activation L2 norm at 4 bits; for budget < 3 the lowest (3 - budget) at 2 bits; for
// budget = 3 the top 1% at 4 and the lowest 1% at 2 bits. Non-uniform k-means with one codebook
// per input channel, and CMPQ's outliers (0.45% of the input channels and 0.05% of the weights
// kept in fp16). Throws InputError for a budget outside [2, 4].
ModuleAllocation cmpq_module_allocation(double budget);

// Validates one module's setting (used by Allocation::validate and by editors). Returns an
// empty string when valid, else the problem ("group_size 96 does not divide in_features 256").
std::string check_module_allocation(const ModuleAllocation& m, const ModuleShape& shape);

}  // namespace bitscape
