// AWQ: Activation-aware Weight Quantization (Lin et al., MLSys 2024), as llm-awq runs it
// (awq/quantize/auto_scale.py auto_scale_block/_search_module_scale and auto_clip.py
// auto_clip_layer):
// - Scale search (section 3.2, eq. 4-5): s = s_X^alpha with s_X the mean |x| of each input
//   channel, alpha on the grid {0, 1/20, ..., 19/20}, s normalised by sqrt(max(s) * min(s)); the
//   weights become Q(W diag(s)) diag(s)^-1 and the alpha with the smallest output error wins.
//   Modules reading the same input (q/k/v after the input norm, gate/up after the post-attention
//   norm) share one s, because the scale is folded into that norm in a deployed model. The
//   output error is measured exactly from the Hessian: ||X W^T - X W'^T||^2 = N/2 tr(dW H dW^T),
//   summed over the modules that share s (the paper's objective, eq. 4, per linear layer; llm-awq
//   measures it at the output of the enclosing attention/MLP block instead).
// - Clipping search (auto_clip_layer): per row and group, the weights are clipped to
//   +-(1 - i/20) max|w| for i = 0..9 and the clip with the smallest output error of that group,
//   dw_g^T H_gg dw_g, is kept; llm-awq skips it for q_proj and k_proj.
// The grids are GPTQ's RTN grids (uniform.cpp), with fp16 scales.
#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "bitscape/error.h"
#include "quant/internal.h"

namespace bitscape {

namespace {

constexpr int kScaleGrid = 20;
constexpr int kClipGrid = 20;
constexpr double kClipMaxShrink = 0.5;

// Plain RTN (the module's bits and group size) of W [O, I], dequantized.
at::Tensor rtn_dequantized(const at::Tensor& W, const ModuleAllocation& m) {
  const int64_t O = W.size(0), I = W.size(1);
  const int64_t g = m.group_size == kPerChannel ? I : m.group_size;
  const at::Tensor x = W.reshape({O * (I / g), g});
  const int bits = m.bits >= kUnquantizedBits ? 8 : m.bits;
  const at::Tensor maxq = at::full({x.size(0)}, static_cast<double>((1 << bits) - 1), W.options());
  auto [scale, zero] = uniform_params(x, maxq, /*symmetric=*/false, false);
  const at::Tensor s1 = scale.unsqueeze(1), z1 = zero.unsqueeze(1);
  return ((uniform_codes(x, s1, z1, maxq.unsqueeze(1)) - z1) * s1).reshape({O, I});
}

}  // namespace

double layer_objective(const at::Tensor& W, const at::Tensor& Q, const at::Tensor& H) {
  const at::Tensor D = (W.to(at::kDouble) - Q.to(at::kDouble));
  return (D.matmul(H.to(at::kDouble)) * D).sum().item<double>();
}

at::Tensor awq_search_scales(const std::vector<at::Tensor>& weights,
                             const std::vector<ModuleAllocation>& allocations,
                             const at::Tensor& hessian, const at::Tensor& act_abs_mean) {
  const at::Tensor H = hessian.to(at::kFloat);
  const at::Tensor x_mean = act_abs_mean.to(at::kFloat).reshape({-1});
  double best = std::numeric_limits<double>::infinity();
  at::Tensor best_s = at::ones_like(x_mean);
  for (int i = 0; i < kScaleGrid; ++i) {
    const double ratio = static_cast<double>(i) / kScaleGrid;
    at::Tensor s = x_mean.pow(ratio).clamp_min(1e-4);
    s = s / std::sqrt((s.max() * s.min()).item<double>());
    s = detail::to_half_precision(s);
    double loss = 0.0;
    for (size_t k = 0; k < weights.size(); ++k) {
      if (!allocations[k].quantized()) continue;
      const at::Tensor W = weights[k].to(at::kFloat);
      const at::Tensor Wq = rtn_dequantized(W * s, allocations[k]) / s;
      const at::Tensor D = Wq - W;
      loss += (D.matmul(H) * D).sum().item<double>();
    }
    if (loss < best) {
      best = loss;
      best_s = s;
    }
  }
  return best_s;
}

namespace detail {

// AWQ's clipping search on the stored columns Ws (already scaled) with the matching Hessian
// Hs [I', I']: returns Ws clipped per row and group.
at::Tensor awq_clip(const at::Tensor& Ws, const at::Tensor& Hs, const Layout& L, bool symmetric) {
  at::Tensor out = Ws.clone();
  for (const Segment& s : L.segments) {
    if (L.groups_in(s) == 0) continue;
    const at::Tensor maxq = segment_maxq(L, s).to(Ws.device());
    const at::Tensor mq = at::where(maxq == 0, at::ones_like(maxq), maxq);
    const int64_t width = L.group_size == kPerChannel ? s.size() : L.group_size;
    for (int64_t g = 0; g < L.groups_in(s); ++g) {
      const int64_t c0 = s.begin + g * width, c1 = std::min(s.end, c0 + width);
      const at::Tensor w = Ws.slice(1, c0, c1);
      const at::Tensor Hg = Hs.slice(0, c0, c1).slice(1, c0, c1);
      const at::Tensor org_max = w.abs().amax(1, /*keepdim=*/true);
      at::Tensor best_err = at::full({w.size(0)}, std::numeric_limits<double>::infinity(), w.options());
      at::Tensor best_max = org_max.clone();
      for (int i = 0; i < static_cast<int>(kClipMaxShrink * kClipGrid); ++i) {
        const at::Tensor max_val = org_max * (1.0 - static_cast<double>(i) / kClipGrid);
        const at::Tensor cur = at::maximum(at::minimum(w, max_val), -max_val);
        auto [scale, zero] = uniform_params(cur, mq, symmetric, false);
        const at::Tensor s1 = scale.unsqueeze(1), z1 = zero.unsqueeze(1);
        const at::Tensor q = (uniform_codes(cur, s1, z1, mq.unsqueeze(1)) - z1) * s1;
        const at::Tensor D = q - w;
        const at::Tensor err = (D.matmul(Hg) * D).sum(1);
        const at::Tensor better = err < best_err;
        best_err = at::where(better, err, best_err);
        best_max = at::where(better.unsqueeze(1), max_val, best_max);
      }
      out.slice(1, c0, c1).copy_(at::maximum(at::minimum(w, best_max), -best_max));
    }
  }
  return out;
}

}  // namespace detail
}  // namespace bitscape
