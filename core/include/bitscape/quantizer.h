// Weight-only quantizers of one linear module: RTN, GPTQ, HQQ, AWQ and non-uniform k-means, with
// channel classes of their own bits and fp16 outliers, all driven by a ModuleAllocation. Each
// returns the dequantized weight (for evaluation) and the packed form (integer codes, fp16
// scales/zeros or codebooks, sparse outliers) whose storage is exactly what the cost model counts
// and whose dequantization reproduces the weight bit for bit. Tensor-facing header (LibTorch).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bitscape/allocation.h"
#include "bitscape/cost_model.h"

namespace bitscape {

// What calibration measured about one module's input and output (CPU float32 tensors; any may
// be undefined when not measured). The quantizers that need them say so in errors.
struct ModuleCalibration {
  at::Tensor hessian;       // [in, in] H = 2/N sum x x^T
  at::Tensor hessian_diag;  // [in] (the diagonal of H, also when H is not stored)
  at::Tensor act_abs_mean;  // [in] mean |x| (AWQ's activation scale)
  at::Tensor act_l2;        // [in] sqrt(sum x^2) (CMPQ's activation norm)
  at::Tensor out_abs_mean;  // [out] mean |y| (AutoMixQ's output activation statistic)
  // AWQ: the per-input-channel scales chosen jointly for the modules that share this input
  // (awq_search_scales); when undefined, the awq quantizer searches for this module alone.
  at::Tensor awq_scale;
  bool awq_clip = true;     // AWQ's clipping search (llm-awq skips it for q_proj and k_proj)
  // [out, in] empirical Fisher information: when defined, k-means per row weights each entry
  // by it (SqueezeLLM's sensitivity); otherwise by diag(H) of its input column.
  at::Tensor fisher;
};

// The stored form of a quantized module. Columns are kept in "storage order": the non-fp16
// columns grouped by their bit-width (ascending; original order inside a set), unless
// `column_order` gives an explicit order (GPTQ act_order without static groups).
struct PackedModule {
  std::string quantizer;                 // quantizer_name()
  int64_t out_features = 0, in_features = 0;
  int bits = 4;                          // the module's own bits
  int group_size = 128;
  bool symmetric = false;
  ChannelAxis class_axis = ChannelAxis::kIn;
  ChannelAxis codebook_axis = ChannelAxis::kOut;
  bool has_classes = false;
  at::Tensor class_bits;       // uint8 [n_axis]: bits of each channel along class_axis (the
                               // non-fp16 columns in original order for axis in)
  at::Tensor fp16_column_index;  // int32 [k]: input channels kept whole in fp16 (sorted)
  at::Tensor fp16_columns;       // fp16 [out, k]
  at::Tensor column_order;       // int32 [I']: original index of each stored column (optional)
  at::Tensor codes;              // uint8 bitstream: every code with its own bit-width, row by
                                 // row in storage order (LSB first); 16-bit weights are not here
  at::Tensor fp16_values;        // fp16: weights of 16-bit classes, row by row in storage order
  at::Tensor scales, zeros;      // fp16 [groups]: uniform quantizers, row by row, groups in order
  at::Tensor codebook;           // fp16 [centroids]: k-means, per row (or column) in order
  at::Tensor outlier_row_ptr;    // int32 [out + 1] (CSR of quantization outliers)
  at::Tensor outlier_col;        // int32 [q]: original column index
  at::Tensor outlier_val;        // fp16 [q]
  at::Tensor input_scale;        // fp16 [in]: AWQ's per-channel scale (folded away when
                                 // deployed; not counted in the storage)

  // Exactly the bits stored (codes at their width, fp16 values, scales/zeros, codebooks, CSR
  // arrays, indices, class map); equals module_cost() of the allocation it was made with.
  int64_t storage_bits() const;
  // The [out, in] float32 weight this packed form represents.
  at::Tensor dequantize() const;
  // Named tensors for a safetensors file ("<prefix>.codes", ...) and the JSON header fields.
  std::vector<std::pair<std::string, at::Tensor>> tensors(const std::string& prefix) const;
  std::string metadata_json() const;
  // Rebuilds from tensors() + metadata_json(); throws InputError naming `source` when
  // something is missing or inconsistent.
  static PackedModule from_tensors(const std::map<std::string, at::Tensor>& tensors,
                                   const std::string& prefix, const std::string& metadata_json,
                                   const std::string& source);
};

struct QuantizedModule {
  at::Tensor weight;     // dequantized [out, in] float32
  PackedModule packed;
};

// Quantizes W [out, in] (any float dtype; computed in float32 on W's device) as `m` says.
// `name` is used in errors. Throws InputError when `m` needs calibration data that `calib`
// lacks (e.g. GPTQ without a Hessian) or does not fit the shape.
QuantizedModule quantize_module(const at::Tensor& W, const ModuleAllocation& m,
                                const ModuleCalibration& calib, const std::string& name);

// Which input channels are kept whole in fp16 (activation outliers) and the bits the
// allocation's channel classes give each channel along their axis, resolved from the
// statistics (classes: explicit indices first, then each fraction class takes its count, from
// cost_model's channel_class_counts, among the unclaimed channels by its statistic). Exposed for
// tests and for the GUI's overlays.
struct ChannelResolution {
  std::vector<int64_t> fp16_columns;   // activation outliers, sorted
  std::vector<uint8_t> class_bits;     // per channel along the class axis (axis in: the
                                       // non-fp16 columns, in original order)
  std::vector<int64_t> class_channels; // the original channel index of each class_bits entry
  ChannelAxis axis = ChannelAxis::kIn;
  bool has_classes = false;
};
ChannelResolution resolve_channels(const at::Tensor& W, const ModuleAllocation& m,
                                   const ModuleCalibration& calib, const std::string& name);

// AWQ (Lin et al. 2024, eq. 4-5): the per-input-channel scale s = mean|x|^alpha normalised by
// sqrt(max(s) min(s)), alpha on the grid {0, 1/20, ..., 19/20}, that minimises the summed
// output error of the modules sharing this input, sum_m tr(dW_m H dW_m^T) with
// dW_m = Q(W_m diag(s)) diag(s)^-1 - W_m, each module quantized with its own allocation.
at::Tensor awq_search_scales(const std::vector<at::Tensor>& weights,
                             const std::vector<ModuleAllocation>& allocations,
                             const at::Tensor& hessian, const at::Tensor& act_abs_mean);

// The layer-wise objective of GPTQ/OBQ: tr((W - Q) H (W - Q)^T), in float64.
double layer_objective(const at::Tensor& W, const at::Tensor& Q, const at::Tensor& H);

// --- building blocks, exposed for tests ------------------------------------------------------

// GPTQ's quant.py find_params for the rows of x [O, n] (the range includes 0; symmetric grid;
// optional MSE clipping search with grid 100, max shrink 0.8, norm 2.4), with per-row maxq.
// Scales are rounded to fp16 as stored. Entries where `exclude` (bool [O, n], optional) is true
// do not count. Returns {scale [O], zero [O]} float32.
std::pair<at::Tensor, at::Tensor> uniform_params(const at::Tensor& x, const at::Tensor& maxq,
                                                 bool symmetric, bool clip_search,
                                                 const at::Tensor& exclude = {});
// clamp(round(x / scale) + zero, 0, maxq) (codes) and (codes - zero) * scale; broadcasting.
at::Tensor uniform_codes(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& zero,
                         const at::Tensor& maxq);

// Optimal weighted 1-D k-means (Wang & Song 2011's dynamic programme, with the
// divide-and-conquer speed-up): partitions sorted values into at most k clusters minimising
// sum w (x - centroid)^2. Returns the centroids (ascending, length min(k, distinct values)).
std::vector<double> optimal_kmeans_1d(const std::vector<double>& values,
                                      const std::vector<double>& weights, int k);

// Packs codes (row by row, each with its bit-width, LSB first) into a byte stream, and back.
at::Tensor pack_codes(const std::vector<uint8_t>& codes, const std::vector<uint8_t>& bits);
std::vector<uint8_t> unpack_codes(const at::Tensor& stream, const std::vector<uint8_t>& bits);

}  // namespace bitscape
