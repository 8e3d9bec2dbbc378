// Follows eager_attention_forward of transformers' modeling_llama.py: scores = q k^T * scaling
// + mask, softmax in float32, cast back, times v; the mask is the causal mask of
// masking_utils.causal_mask_function plus sliding_window_overlay (kv_idx > q_idx - window).
#include "model/attention.h"

#include <torch/version.h>

#include <algorithm>

// at::scaled_dot_product_attention with its `scale` argument: LibTorch 2.1 and later.
#define BITSCAPE_HAS_SDPA (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1))
#include <cmath>
#include <limits>
#include <vector>

namespace bitscape::detail {
namespace {

// Score elements per chunk (per batch x head); 2M float32 = 8 MiB keeps them in the heap and
// near the caches. On a GPU, small chunks only add kernel launches (an 8B model at 2048 tokens
// ran 4x slower than PyTorch with them): 256M elements (1 GiB of float32 scores) per chunk.
constexpr int64_t kChunkScoreElements = int64_t(1) << 21;
constexpr int64_t kChunkScoreElementsGpu = int64_t(1) << 28;

#if BITSCAPE_HAS_SDPA
// LibTorch 2.1+ on CUDA: the fused kernels of at::scaled_dot_product_attention (flash / memory
// efficient), as transformers' default "sdpa" attention; k and v are expanded to the query heads
// as repeat_kv does. Without a sliding window (or with one no shorter than T) only.
at::Tensor fused_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  double scaling) {
  const int64_t B = q.size(0), T = q.size(1), n_heads = q.size(2), D = q.size(3);
  const int64_t n_kv = k.size(2), groups = n_heads / n_kv;
  auto expand = [&](const at::Tensor& t) {  // [B, T, KV, D] -> [B, H, T, D]
    const at::Tensor h = t.transpose(1, 2);
    if (groups == 1) return h;
    return h.unsqueeze(2).expand({B, n_kv, groups, T, D}).reshape({B, n_heads, T, D});
  };
  const at::Tensor out = at::scaled_dot_product_attention(
      q.transpose(1, 2), expand(k), expand(v), /*attn_mask=*/{}, /*dropout_p=*/0.0,
      /*is_causal=*/true, scaling);
  return out.transpose(1, 2).reshape({B, T, n_heads * D});
}
#endif

}  // namespace

at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            int64_t sliding_window, int64_t query_chunk) {
  const int64_t B = q.size(0), T = q.size(1), n_heads = q.size(2), D = q.size(3);
  const int64_t n_kv = k.size(2), groups = n_heads / n_kv;
  // LlamaAttention.scaling = head_dim ** -0.5 (Python's pow).
  const double scaling = std::pow(static_cast<double>(D), -0.5);
#if BITSCAPE_HAS_SDPA
  if (q.is_cuda() && query_chunk <= 0 && (sliding_window <= 0 || sliding_window >= T))
    return fused_causal_attention(q, k, v, scaling);
#endif
  if (query_chunk <= 0)
    query_chunk = std::clamp<int64_t>(
        (q.is_cuda() ? kChunkScoreElementsGpu : kChunkScoreElements) /
            std::max<int64_t>(1, B * n_heads * T),
        32, T);
  query_chunk = std::min(query_chunk, T);

  // GQA without repeating k and v: the `groups` query heads of one kv head are stacked as rows,
  // q_grouped [B, KV, groups, T, D]; keys as [B*KV, D, T], values as [B*KV, T, D].
  const at::Tensor q_grouped = q.view({B, T, n_kv, groups, D}).permute({0, 2, 3, 1, 4});
  const at::Tensor k_t = k.permute({0, 2, 3, 1}).contiguous().view({B * n_kv, D, T});
  const at::Tensor v_b = v.transpose(1, 2).contiguous().view({B * n_kv, T, D});
  const at::TensorOptions mask_options = q.options().requires_grad(false);
  const at::Tensor positions =
      at::arange(T, at::TensorOptions().dtype(at::kLong).device(q.device()));

  std::vector<at::Tensor> outputs;
  for (int64_t t0 = 0; t0 < T; t0 += query_chunk) {
    const int64_t t1 = std::min(T, t0 + query_chunk), rows = t1 - t0;
    // Keys that any query of the chunk may see: [k0, t1).
    const int64_t k0 = sliding_window > 0 ? std::max<int64_t>(0, t0 - sliding_window + 1) : 0;
    const int64_t cols = t1 - k0;
    const at::Tensor q_idx = positions.narrow(0, t0, rows).unsqueeze(1);
    const at::Tensor kv_idx = positions.narrow(0, k0, cols).unsqueeze(0);
    at::Tensor masked = kv_idx > q_idx;
    if (sliding_window > 0) masked = masked.logical_or(kv_idx <= q_idx - sliding_window);
    // Additive mask (0 or -inf) for every stacked row: [groups * rows, cols].
    const at::Tensor mask = at::zeros({rows, cols}, mask_options)
                                .masked_fill(masked, -std::numeric_limits<double>::infinity())
                                .unsqueeze(0)
                                .expand({groups, rows, cols})
                                .reshape({groups * rows, cols});

    const at::Tensor q_chunk = q_grouped.narrow(3, t0, rows).reshape({B * n_kv, groups * rows, D});
    // mask + scaling * q k^T in one GEMM.
    const at::Tensor scores =
        at::baddbmm(mask, q_chunk, k_t.narrow(2, k0, cols), /*beta=*/1, /*alpha=*/scaling);
    const at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
    const at::Tensor out = at::bmm(probs, v_b.narrow(1, k0, cols));  // [B*KV, groups*rows, D]
    outputs.push_back(out.view({B, n_kv, groups, rows, D}).permute({0, 3, 1, 2, 4}));
  }
  const at::Tensor attn = outputs.size() == 1 ? outputs[0].contiguous() : at::cat(outputs, 1);
  return attn.view({B, T, n_heads * D});  // heads in order kv * groups + g
}

}  // namespace bitscape::detail
