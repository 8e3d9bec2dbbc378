// HQQ: Half-Quadratic Quantization (Badri & Shaji, 2023), calibration-free. As the authors'
// library does it (hqq/core/quantize.py Quantizer.quantize with optimize=True, and
// hqq/core/optimize.py optimize_weights_proximal_legacy), and as AMQ uses it as its search
// proxy (axis 1, asymmetric, group 128):
//   per group: inverse scale s = (2^b - 1) / (max - min) (clamped at 2e4), zero z = -min * s
//   (not rounded); then, with the scale fixed, alternate
//     W_q = clamp(round(W s + z), 0, 2^b - 1),  W_r = (W_q - z) / s,
//     W_e = shrink_lp(W - W_r, beta)  (generalised soft threshold for the l_p norm, p = 0.7),
//     z   = mean over the group of (W_q - (W - W_e) s),  beta *= kappa,
//   for at most 20 iterations (beta 10, kappa 1.01), stopping as soon as the mean |W - W_r|
//   over the whole matrix stops decreasing. Scale (stored as its inverse, the dequantization
//   multiplier) and zero are stored in fp16: W = (W_q - z) * (1 / s).
#include <ATen/ATen.h>

#include <limits>

#include "quant/internal.h"

namespace bitscape::detail {

namespace {

constexpr double kLpNorm = 0.7;
constexpr double kBeta = 10.0;
constexpr double kKappa = 1.01;
constexpr int kIterations = 20;
constexpr double kMaxInverseScale = 2e4;

}  // namespace

StoredResult quantize_hqq(const at::Tensor& Ws, const Layout& L, const at::Tensor& exclude) {
  const at::Tensor W = Ws.to(at::kFloat);
  const int64_t O = L.O;
  const std::vector<int64_t> offsets = segment_group_offsets(L);
  const int64_t G = offsets.back();
  StoredResult r;
  r.deq = at::empty_like(W);
  r.codes = at::zeros(W.sizes(), W.options().dtype(at::kLong));
  r.scales = at::ones({O, G}, W.options());
  r.zeros = at::zeros({O, G}, W.options());

  // Every group of every row as one padded batch [O, G, width] with a validity mask, so that the
  // solver (and its global early stop) runs on the whole matrix at once, as in the library.
  int64_t width = 1;
  for (const Segment& s : L.segments)
    if (L.groups_in(s) > 0)
      width = std::max(width, L.group_size == kPerChannel ? s.size() : int64_t(L.group_size));
  at::Tensor x = at::zeros({O, G, width}, W.options());
  at::Tensor valid = at::zeros({O, G, width}, W.options().dtype(at::kBool));
  at::Tensor maxq = at::zeros({O, G}, W.options());
  struct Span {
    int64_t group, c0, c1;
  };
  std::vector<Span> spans;
  for (size_t si = 0; si < L.segments.size(); ++si) {
    const Segment& s = L.segments[si];
    if (L.groups_in(s) == 0) {
      r.deq.slice(1, s.begin, s.end).copy_(to_half_precision(W.slice(1, s.begin, s.end)));
      continue;
    }
    const at::Tensor mq = segment_maxq(L, s).to(W.device());
    const int64_t gw = L.group_size == kPerChannel ? s.size() : L.group_size;
    for (int64_t g = 0; g < L.groups_in(s); ++g) {
      const int64_t c0 = s.begin + g * gw, c1 = std::min(s.end, c0 + gw);
      const int64_t gi = offsets[si] + g;
      spans.push_back({gi, c0, c1});
      x.select(1, gi).slice(1, 0, c1 - c0).copy_(W.slice(1, c0, c1));
      at::Tensor v = (mq > 0).unsqueeze(1).expand({O, c1 - c0});
      if (exclude.defined()) v = v.logical_and(exclude.slice(1, c0, c1).logical_not());
      valid.select(1, gi).slice(1, 0, c1 - c0).copy_(v);
      maxq.select(1, gi).copy_(mq);
    }
  }
  if (spans.empty()) return r;
  const double inf = std::numeric_limits<double>::infinity();
  const at::Tensor vf = valid.to(at::kFloat);
  const at::Tensor count = vf.sum(2).clamp_min(1.0);
  const at::Tensor total = vf.sum().clamp_min(1.0);
  at::Tensor mn = std::get<0>(x.masked_fill(valid.logical_not(), inf).min(2));
  at::Tensor mx = std::get<0>(x.masked_fill(valid.logical_not(), -inf).max(2));
  const at::Tensor any = valid.any(2);
  mn = at::where(any, mn, at::zeros_like(mn));
  mx = at::where(any, mx, at::zeros_like(mx));
  const at::Tensor mq_safe = at::where(maxq > 0, maxq, at::ones_like(maxq));
  at::Tensor scale = at::clamp_max(mq_safe / (mx - mn), kMaxInverseScale);  // inverse scale
  scale = at::where(at::isfinite(scale), scale, at::full_like(scale, kMaxInverseScale));
  at::Tensor zero = -mn * scale;
  const at::Tensor s3 = scale.unsqueeze(2), mq3 = mq_safe.unsqueeze(2);

  double beta = kBeta, best_error = 1e4;
  for (int it = 0; it < kIterations; ++it) {
    const at::Tensor z3 = zero.unsqueeze(2);
    const at::Tensor Wq = at::minimum(at::clamp_min(at::round(x * s3 + z3), 0.0), mq3);
    const at::Tensor Wr = (Wq - z3) / s3;
    const at::Tensor diff = x - Wr;
    const at::Tensor mag = diff.abs();
    const at::Tensor We = at::sign(diff) * at::relu(mag - (1.0 / beta) * mag.pow(kLpNorm - 1.0));
    zero = ((Wq - (x - We) * s3) * vf).sum(2) / count;
    beta *= kKappa;
    const double error = ((mag * vf).sum() / total).item<double>();
    if (error < best_error)
      best_error = error;
    else
      break;
  }
  const at::Tensor Wq =
      at::minimum(at::clamp_min(at::round(x * s3 + zero.unsqueeze(2)), 0.0), mq3);
  const at::Tensor scale16 = to_half_precision(1.0 / scale);
  const at::Tensor zero16 = to_half_precision(zero);
  const at::Tensor deq = (Wq - zero16.unsqueeze(2)) * scale16.unsqueeze(2);
  r.scales.copy_(scale16);
  r.zeros.copy_(zero16);
  for (const Span& sp : spans) {
    const int64_t n = sp.c1 - sp.c0;
    const at::Tensor rows16 = (maxq.select(1, sp.group) == 0).unsqueeze(1);
    const at::Tensor xs = W.slice(1, sp.c0, sp.c1);
    r.deq.slice(1, sp.c0, sp.c1)
        .copy_(at::where(rows16, to_half_precision(xs), deq.select(1, sp.group).slice(1, 0, n)));
    r.codes.slice(1, sp.c0, sp.c1).copy_(Wq.select(1, sp.group).slice(1, 0, n).to(at::kLong));
  }
  return r;
}

}  // namespace bitscape::detail
