// Internal interface between the quantizers and the packed form: every quantizer works on the
// stored columns of a module (storage order, see layout.h) and returns codes, the dequantized
// values and its grid (scales/zeros per group, or codebooks). Internal to core.
#pragma once

#include <ATen/ATen.h>

#include "bitscape/quantizer.h"
#include "quant/layout.h"

namespace bitscape::detail {

// The result of quantizing the stored columns Ws [O, I'] of a module.
struct StoredResult {
  at::Tensor deq;     // [O, I'] float32: dequantized (16-bit entries hold their fp16 value)
  at::Tensor codes;   // [O, I'] integer codes, uint8 or int64 (ignored where the bits are 16)
  at::Tensor scales;  // [O, G] float32, G = sum of groups over the segments (uniform)
  at::Tensor zeros;   // [O, G] float32 (uniform)
  // k-means: centroids, [O, 2^bits] per row (codebook axis out, padded to the widest bit-width)
  // or [I', 2^bits] per stored column (axis in).
  at::Tensor codebook;
};

// Rounds to the nearest float16 value (kept as float32).
inline at::Tensor to_half_precision(const at::Tensor& x) {
  return x.to(at::kHalf).to(x.scalar_type());
}

// Per-row maxq for segment `s`: (1 << bits) - 1, or 0 for 16-bit rows. float32 [O].
at::Tensor segment_maxq(const Layout& L, const Segment& s);

// The first global group index of each segment (groups numbered row-wise in segment order).
std::vector<int64_t> segment_group_offsets(const Layout& L);

// RTN (GPTQ's quantizer) on every group of every segment. `exclude` (bool [O, I'], optional):
// entries left out of the grid and reproduced exactly by the caller.
StoredResult quantize_rtn(const at::Tensor& Ws, const Layout& L, bool symmetric, bool clip_search,
                          const at::Tensor& exclude);

// HQQ's half-quadratic zero-point solver (optimize_weights_proximal) on every group.
StoredResult quantize_hqq(const at::Tensor& Ws, const Layout& L, const at::Tensor& exclude);

// Weighted k-means codebooks per row (codebook axis out) or per stored column (axis in).
// `weights` [O, I'] (non-negative; excluded entries get weight 0).
StoredResult quantize_kmeans(const at::Tensor& Ws, const Layout& L, ChannelAxis codebook_axis,
                             const at::Tensor& weights);

// GPTQ on the full module W [O, I] with Hessian H [I, I]: columns processed by segment
// (ascending bits) with the fp16 activation-outlier columns last so that they absorb the error,
// act-order inside each segment when asked. Returns the stored result (storage order) and the
// final values of the fp16 columns [O, k]; `column_order` receives the processing order of the
// stored columns when it must be stored (act_order without static groups).
StoredResult quantize_gptq(const at::Tensor& W, const at::Tensor& H, const Layout& L,
                           const ModuleAllocation& m, const at::Tensor& exclude_stored,
                           at::Tensor* fp16_column_values, std::vector<int64_t>* column_order,
                           const std::string& name);

// AWQ's clipping search on the scaled stored columns Ws [O, I'] with their Hessian Hs
// [I', I'] (in the same column order): Ws clipped per row and group.
at::Tensor awq_clip(const at::Tensor& Ws, const at::Tensor& Hs, const Layout& L, bool symmetric);

// Packs a stored result into the packed form (codes, grid, fp16 columns and outliers).
PackedModule build_packed(const Layout& L, const ModuleAllocation& m, const StoredResult& r,
                          const at::Tensor& fp16_column_values,
                          const std::vector<int64_t>& column_order, const at::Tensor& outlier_mask,
                          const at::Tensor& outlier_values);

}  // namespace bitscape::detail
