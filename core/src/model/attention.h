// Causal self-attention of the LLaMA-family decoder with grouped key/value heads, computed in
// query chunks so that fully masked key blocks are skipped and the score matrices stay small.
// Internal to core (tests include it to check the chunking against one big chunk).
#pragma once

#include <ATen/ATen.h>

namespace bitscape::detail {

// q: [B, T, H, D], k and v: [B, T, KV, D] with H a multiple of KV (RoPE already applied).
// Query head h attends with key/value head h / (H / KV) (transformers' repeat_kv), over the
// positions kv <= q, and kv > q - sliding_window when sliding_window > 0. Scores are scaled by
// D^-0.5; the softmax runs in float32 and is cast back (eager_attention_forward).
// query_chunk: rows per chunk, 0 = chosen from the sizes (and, with LibTorch 2.x on CUDA and
// no effective sliding window, LibTorch's fused scaled_dot_product_attention instead of chunks,
// as transformers' default "sdpa" attention). Returns [B, T, H * D].
at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            int64_t sliding_window, int64_t query_chunk = 0);

}  // namespace bitscape::detail
