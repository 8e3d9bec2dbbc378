// Non-uniform quantization with k-means codebooks.
// - SqueezeLLM (Kim et al. 2024, section 3.1): one codebook of 2^b centroids per output row,
//   fitted by k-means weighted by each weight's sensitivity. SqueezeLLM weights by the Fisher
//   information; here the weight of an entry is diag(H) of its input column (the
//   second-order sensitivity of the layer objective to that weight alone), so that the
//   quantizer needs only calibration statistics.
// - CMPQ (section 3.2.1): one codebook per input channel with 2^{c_j} centroids, c_j the
//   channel's bits from Algorithm 1 (channel classes), plain (unweighted) k-means.
// Both call one exact solver: 1-D weighted k-means has optimal clusters that are contiguous in
// sorted order, so the dynamic programme over sorted values of Wang & Song ("Ckmeans.1d.dp",
// The R Journal 2011) finds the global optimum; each of its k layers is filled with the
// divide-and-conquer optimisation (the optimal split point is monotone in the right end), for
// O(k n log n) per row instead of Lloyd's local optimum.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "quant/internal.h"

namespace bitscape {

namespace {

struct Prefix {
  std::vector<double> w, wx, wxx;  // prefix sums, size n + 1
  double cost(int64_t j, int64_t i) const {  // cluster [j, i] inclusive
    const double s0 = w[i + 1] - w[j], s1 = wx[i + 1] - wx[j], s2 = wxx[i + 1] - wxx[j];
    if (s0 <= 0) return 0.0;
    return std::max(0.0, s2 - s1 * s1 / s0);
  }
};

// D[i] = min over j in [k-1, i] of prev[j-1] + cost(j, i), for i in [lo, hi], knowing the
// optimal j lies in [optlo, opthi].
void fill_layer(const Prefix& p, const std::vector<double>& prev, std::vector<double>& cur,
                std::vector<int32_t>& arg, int64_t k, int64_t lo, int64_t hi, int64_t optlo,
                int64_t opthi) {
  while (lo <= hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    double best = std::numeric_limits<double>::infinity();
    int64_t best_j = std::max(optlo, k - 1);
    for (int64_t j = std::max(optlo, k - 1); j <= std::min(mid, opthi); ++j) {
      const double v = prev[static_cast<size_t>(j - 1)] + p.cost(j, mid);
      if (v < best) {
        best = v;
        best_j = j;
      }
    }
    cur[static_cast<size_t>(mid)] = best;
    arg[static_cast<size_t>(mid)] = static_cast<int32_t>(best_j);
    // Left half recursively, right half in the loop.
    if (lo <= mid - 1) fill_layer(p, prev, cur, arg, k, lo, mid - 1, optlo, best_j);
    lo = mid + 1;
    optlo = best_j;
  }
}

}  // namespace

std::vector<double> optimal_kmeans_1d(const std::vector<double>& values,
                                      const std::vector<double>& weights, int k) {
  // Sort, drop zero weights, merge equal values.
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<double> x, w;
  for (size_t idx : order) {
    const double wi = weights.empty() ? 1.0 : weights[idx];
    if (!(wi > 0)) continue;
    if (!x.empty() && x.back() == values[idx]) {
      w.back() += wi;
    } else {
      x.push_back(values[idx]);
      w.push_back(wi);
    }
  }
  const int64_t n = static_cast<int64_t>(x.size());
  if (n == 0) return {};
  const int64_t K = std::min<int64_t>(k, n);
  // Centre the values so that the prefix sums of w x^2 lose little precision.
  double mean = 0, wsum = 0;
  for (int64_t i = 0; i < n; ++i) {
    mean += w[i] * x[i];
    wsum += w[i];
  }
  mean /= wsum;
  Prefix p;
  p.w.assign(n + 1, 0.0);
  p.wx.assign(n + 1, 0.0);
  p.wxx.assign(n + 1, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const double d = x[i] - mean;
    p.w[i + 1] = p.w[i] + w[i];
    p.wx[i + 1] = p.wx[i] + w[i] * d;
    p.wxx[i + 1] = p.wxx[i] + w[i] * d * d;
  }
  std::vector<double> prev(n), cur(n, std::numeric_limits<double>::infinity());
  for (int64_t i = 0; i < n; ++i) prev[i] = p.cost(0, i);
  std::vector<std::vector<int32_t>> arg(static_cast<size_t>(K));
  for (int64_t kk = 2; kk <= K; ++kk) {
    auto& a = arg[static_cast<size_t>(kk - 1)];
    a.assign(n, 0);
    std::fill(cur.begin(), cur.end(), std::numeric_limits<double>::infinity());
    fill_layer(p, prev, cur, a, kk, kk - 1, n - 1, kk - 1, n - 1);
    std::swap(prev, cur);
  }
  // Backtrack the clusters from the right.
  std::vector<double> centroids(static_cast<size_t>(K));
  int64_t i = n - 1;
  for (int64_t kk = K; kk >= 1; --kk) {
    const int64_t j = kk == 1 ? 0 : arg[static_cast<size_t>(kk - 1)][static_cast<size_t>(i)];
    const double s0 = p.w[i + 1] - p.w[j], s1 = p.wx[i + 1] - p.wx[j];
    centroids[static_cast<size_t>(kk - 1)] = mean + s1 / s0;
    i = j - 1;
  }
  return centroids;
}

namespace detail {

namespace {

// Fits one codebook of 2^bits fp16 centroids to `n` values (stride apart) and writes codes and
// dequantized values. Entries of zero weight take no part in the fit.
void fit_codebook(const float* x, const float* w, int64_t n, int64_t stride, int bits, float* deq,
                  int64_t* codes, float* book) {
  std::vector<double> xs(static_cast<size_t>(n)), ws(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    xs[static_cast<size_t>(i)] = x[i * stride];
    ws[static_cast<size_t>(i)] = w ? w[i * stride] : 1.0;
  }
  const int64_t K = int64_t(1) << bits;
  std::vector<double> c = optimal_kmeans_1d(xs, ws, static_cast<int>(K));
  if (c.empty()) c.push_back(0.0);
  std::vector<float> cf(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) {
    const double v = c[static_cast<size_t>(std::min<int64_t>(k, static_cast<int64_t>(c.size()) - 1))];
    cf[static_cast<size_t>(k)] = static_cast<float>(c10::Half(static_cast<float>(v)));
  }
  std::sort(cf.begin(), cf.end());
  for (int64_t k = 0; k < K; ++k) book[k] = cf[static_cast<size_t>(k)];
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i * stride];
    // Nearest centroid (the lower one on a tie).
    int64_t hi = std::upper_bound(cf.begin(), cf.end(), v) - cf.begin();
    int64_t best = std::min<int64_t>(hi, K - 1);
    if (hi > 0 && (hi == K || std::fabs(v - cf[static_cast<size_t>(hi - 1)]) <=
                                  std::fabs(cf[static_cast<size_t>(hi)] - v)))
      best = hi - 1;
    codes[i * stride] = best;
    deq[i * stride] = cf[static_cast<size_t>(best)];
  }
}

}  // namespace

StoredResult quantize_kmeans(const at::Tensor& Ws, const Layout& L, ChannelAxis codebook_axis,
                             const at::Tensor& weights) {
  const at::Tensor W = Ws.to(at::kFloat).contiguous().cpu();
  const at::Tensor Wt = weights.defined() ? weights.to(at::kFloat).contiguous().cpu() : at::Tensor();
  const int64_t O = L.O, I = L.stored_columns();
  StoredResult r;
  r.deq = at::empty_like(W);
  r.codes = at::zeros({O, I}, W.options().dtype(at::kLong));
  int max_bits = 0;
  for (const Segment& s : L.segments)
    for (int64_t row = 0; row < O; ++row) {
      const int b = L.bits_at(row, s);
      if (b < kUnquantizedBits) max_bits = std::max(max_bits, b);
    }
  const int64_t Kmax = int64_t(1) << std::max(max_bits, 1);
  const float* x = W.data_ptr<float>();
  const float* w = Wt.defined() ? Wt.data_ptr<float>() : nullptr;
  float* deq = r.deq.data_ptr<float>();
  int64_t* codes = r.codes.data_ptr<int64_t>();
  if (codebook_axis == ChannelAxis::kOut) {
    // One codebook per row over all stored columns (no axis-in classes: one segment).
    r.codebook = at::zeros({O, Kmax}, W.options());
    float* book = r.codebook.data_ptr<float>();
    const Segment& s = L.segments.front();
    at::parallel_for(0, O, 1, [&](int64_t r0, int64_t r1) {
      for (int64_t row = r0; row < r1; ++row) {
        const int b = L.bits_at(row, s);
        const int64_t off = row * I;
        if (b >= kUnquantizedBits) {
          for (int64_t c = 0; c < I; ++c)
            deq[off + c] = static_cast<float>(c10::Half(x[off + c]));
          continue;
        }
        fit_codebook(x + off, w ? w + off : nullptr, I, 1, b, deq + off, codes + off,
                     book + row * Kmax);
      }
    });
  } else {
    // One codebook per stored column, with the bits of its segment.
    r.codebook = at::zeros({I, Kmax}, W.options());
    float* book = r.codebook.data_ptr<float>();
    for (const Segment& s : L.segments) {
      at::parallel_for(s.begin, s.end, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          if (s.bits >= kUnquantizedBits) {
            for (int64_t row = 0; row < O; ++row)
              deq[row * I + c] = static_cast<float>(c10::Half(x[row * I + c]));
            continue;
          }
          fit_codebook(x + c, w ? w + c : nullptr, O, I, s.bits, deq + c, codes + c,
                       book + c * Kmax);
        }
      });
    }
  }
  return r;
}

}  // namespace detail
}  // namespace bitscape
