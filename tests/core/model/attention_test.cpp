// Chunked causal GQA attention against a direct transcription of transformers'
// eager_attention_forward (repeat_kv, full score matrix, additive mask).
#include "model/attention.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace {

at::Tensor reference_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               int64_t window) {
  const int64_t B = q.size(0), T = q.size(1), H = q.size(2), D = q.size(3), KV = k.size(2);
  const at::Tensor qh = q.transpose(1, 2);  // [B, H, T, D]
  const at::Tensor kh = k.transpose(1, 2).repeat_interleave(H / KV, 1);
  const at::Tensor vh = v.transpose(1, 2).repeat_interleave(H / KV, 1);
  at::Tensor scores = at::matmul(qh, kh.transpose(2, 3)) * std::pow(double(D), -0.5);
  at::Tensor mask = at::zeros({T, T});
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < T; ++j)
      if (j > i || (window > 0 && j <= i - window))
        mask[i][j] = -std::numeric_limits<float>::infinity();
  scores = scores + mask;
  const at::Tensor probs = at::softmax(scores, -1, at::kFloat);
  return at::matmul(probs, vh).transpose(1, 2).reshape({B, T, H * D});
}

}  // namespace

TEST(AttentionTest, ChunkedGqaMatchesEagerReferenceWithAndWithoutWindow) {
  at::manual_seed(3);
  const at::Tensor q = at::randn({2, 37, 6, 8}), k = at::randn({2, 37, 2, 8}),
                   v = at::randn({2, 37, 2, 8});
  for (int64_t window : {0, 5, 16}) {
    const at::Tensor expected = reference_attention(q, k, v, window);
    for (int64_t chunk : {0, 1, 7, 16, 37, 100}) {
      const at::Tensor got = bitscape::detail::causal_attention(q, k, v, window, chunk);
      EXPECT_LE((got - expected).abs().max().item<double>(), 1e-5)
          << "window " << window << " chunk " << chunk;
    }
  }
}

TEST(AttentionTest, ChunkedAttentionIsDifferentiable) {
  at::manual_seed(4);
  const at::Tensor q = at::randn({1, 20, 4, 8}).requires_grad_(true);
  const at::Tensor k = at::randn({1, 20, 2, 8}).requires_grad_(true);
  const at::Tensor v = at::randn({1, 20, 2, 8}).requires_grad_(true);
  const at::Tensor w = at::randn({1, 20, 32});
  (bitscape::detail::causal_attention(q, k, v, 6, 7) * w).sum().backward();
  const at::Tensor gq = q.grad().clone(), gk = k.grad().clone(), gv = v.grad().clone();
  q.grad().zero_();
  k.grad().zero_();
  v.grad().zero_();
  (reference_attention(q, k, v, 6) * w).sum().backward();
  EXPECT_LE((gq - q.grad()).abs().max().item<double>(), 1e-5);
  EXPECT_LE((gk - k.grad()).abs().max().item<double>(), 1e-5);
  EXPECT_LE((gv - v.grad()).abs().max().item<double>(), 1e-5);
}
