// Uniform (integer grid) quantization as GPTQ's reference quantizer does it (IST-DASLab/gptq,
// quant.py: Quantizer.find_params and quantize): per row of a group, the range [min, max] is
// widened to include 0; asymmetric grids take scale = (max - min) / maxq and the integer zero
// round(-min / scale); symmetric grids take max = max(|min|, max) and zero (maxq + 1) / 2. The
// optional clipping search (quant.py's `mse` mode: grid 100, shrink down to 0.2, error norm 2.4)
// tries the ranges p * [min, max] and keeps the one with the smallest sum |q - x|^2.4. One
// change from the reference: scales are rounded to float16 when computed, because that is how
// they are stored, so that the dequantized weight is exactly what the packed form gives back.
// RTN applies this to every group independently.
#include <ATen/ATen.h>

#include <limits>

#include "quant/internal.h"

namespace bitscape {

namespace {

constexpr double kClipGrid = 100.0;
constexpr double kClipMaxShrink = 0.8;
constexpr double kClipNorm = 2.4;
constexpr double kMinScale = 5.9604644775390625e-08;  // smallest positive float16 (2^-24)

at::Tensor fp16_scale(const at::Tensor& s) {
  return detail::to_half_precision(s).clamp_min(kMinScale);
}

}  // namespace

at::Tensor uniform_codes(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& zero,
                         const at::Tensor& maxq) {
  return at::minimum(at::clamp_min(at::round(x / scale) + zero, 0.0), maxq);
}

std::pair<at::Tensor, at::Tensor> uniform_params(const at::Tensor& x_in, const at::Tensor& maxq_in,
                                                 bool symmetric, bool clip_search,
                                                 const at::Tensor& exclude) {
  const at::Tensor x = x_in.to(at::kFloat);
  const at::Tensor maxq = maxq_in.to(x.device(), at::kFloat).reshape({-1});
  const double inf = std::numeric_limits<double>::infinity();
  at::Tensor lo = exclude.defined() ? x.masked_fill(exclude, inf) : x;
  at::Tensor hi = exclude.defined() ? x.masked_fill(exclude, -inf) : x;
  at::Tensor xmin = at::clamp_max(std::get<0>(lo.min(1)), 0.0);
  at::Tensor xmax = at::clamp_min(std::get<0>(hi.max(1)), 0.0);
  if (symmetric) {
    xmax = at::maximum(xmin.abs(), xmax);
    xmin = at::where(xmin < 0, -xmax, xmin);
  }
  const at::Tensor both_zero = (xmin == 0).logical_and(xmax == 0);
  xmin = at::where(both_zero, at::full_like(xmin, -1.0), xmin);
  xmax = at::where(both_zero, at::full_like(xmax, 1.0), xmax);
  at::Tensor scale = fp16_scale((xmax - xmin) / maxq);
  const at::Tensor sym_zero = (maxq + 1) / 2;
  at::Tensor zero = symmetric ? sym_zero : at::round(-xmin / scale);
  if (clip_search) {
    at::Tensor best = at::full_like(xmin, inf);
    const at::Tensor keep = exclude.defined() ? exclude.logical_not().to(at::kFloat) : at::Tensor();
    for (int i = 0; i < static_cast<int>(kClipMaxShrink * kClipGrid); ++i) {
      const double p = 1.0 - i / kClipGrid;
      const at::Tensor xmin1 = xmin * p, xmax1 = xmax * p;
      const at::Tensor scale1 = fp16_scale((xmax1 - xmin1) / maxq);
      const at::Tensor zero1 = symmetric ? sym_zero : at::round(-xmin1 / scale1);
      const at::Tensor s1 = scale1.unsqueeze(1), z1 = zero1.unsqueeze(1);
      at::Tensor q = (uniform_codes(x, s1, z1, maxq.unsqueeze(1)) - z1) * s1 - x;
      q = q.abs().pow(kClipNorm);
      if (keep.defined()) q = q * keep;
      const at::Tensor err = q.sum(1);
      const at::Tensor better = err < best;
      best = at::where(better, err, best);
      scale = at::where(better, scale1, scale);
      zero = at::where(better, zero1, zero);
    }
  }
  return {scale, zero};
}

namespace detail {

at::Tensor segment_maxq(const Layout& L, const Segment& s) {
  std::vector<float> m(static_cast<size_t>(L.O));
  for (int64_t r = 0; r < L.O; ++r) {
    const int b = L.bits_at(r, s);
    m[static_cast<size_t>(r)] = b >= kUnquantizedBits ? 0.0f : static_cast<float>((1 << b) - 1);
  }
  return at::tensor(m, at::kFloat);
}

std::vector<int64_t> segment_group_offsets(const Layout& L) {
  std::vector<int64_t> off;
  int64_t g = 0;
  for (const Segment& s : L.segments) {
    off.push_back(g);
    g += L.groups_in(s);
  }
  off.push_back(g);
  return off;
}

StoredResult quantize_rtn(const at::Tensor& Ws, const Layout& L, bool symmetric, bool clip_search,
                          const at::Tensor& exclude) {
  const at::Tensor W = Ws.to(at::kFloat);
  const int64_t O = L.O;
  const std::vector<int64_t> offsets = segment_group_offsets(L);
  StoredResult r;
  r.deq = at::empty_like(W);
  r.codes = at::zeros(W.sizes(), W.options().dtype(at::kLong));
  r.scales = at::ones({O, offsets.back()}, W.options());
  r.zeros = at::zeros({O, offsets.back()}, W.options());
  for (size_t si = 0; si < L.segments.size(); ++si) {
    const Segment& s = L.segments[si];
    if (L.groups_in(s) == 0) {  // a 16-bit class: stored in fp16
      r.deq.slice(1, s.begin, s.end).copy_(to_half_precision(W.slice(1, s.begin, s.end)));
      continue;
    }
    const at::Tensor maxq = segment_maxq(L, s).to(W.device());
    const at::Tensor is16 = (maxq == 0).unsqueeze(1);
    const int64_t width = L.group_size == kPerChannel ? s.size() : L.group_size;
    for (int64_t g = 0; g < L.groups_in(s); ++g) {
      const int64_t c0 = s.begin + g * width, c1 = std::min(s.end, c0 + width);
      const at::Tensor x = W.slice(1, c0, c1);
      const at::Tensor ex = exclude.defined() ? exclude.slice(1, c0, c1) : at::Tensor();
      // 16-bit rows get a dummy grid (maxq 1) and keep their fp16 value.
      const at::Tensor mq = at::where(maxq == 0, at::ones_like(maxq), maxq);
      auto [scale, zero] = uniform_params(x, mq, symmetric, clip_search, ex);
      const at::Tensor s1 = scale.unsqueeze(1), z1 = zero.unsqueeze(1);
      const at::Tensor codes = uniform_codes(x, s1, z1, mq.unsqueeze(1));
      const at::Tensor deq = at::where(is16, to_half_precision(x), (codes - z1) * s1);
      r.deq.slice(1, c0, c1).copy_(deq);
      r.codes.slice(1, c0, c1).copy_(codes.to(at::kLong));
      r.scales.select(1, offsets[si] + g).copy_(scale);
      r.zeros.select(1, offsets[si] + g).copy_(zero);
    }
  }
  return r;
}

}  // namespace detail
}  // namespace bitscape
