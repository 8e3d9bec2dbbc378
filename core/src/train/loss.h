// The language-model loss shared by training and the gradient statistics: mean next-token
// cross-entropy, the objective of causal LM training (as transformers' LlamaForCausalLM computes
// it with labels = inputs). Internal to core.
#pragma once

#include <ATen/ATen.h>

namespace bitscape::detail {

// Mean next-token cross-entropy of logits [B, T, V] against ids [B, T]: position t predicts
// ids[:, t + 1], averaged over all B * (T - 1) predicted tokens.
inline at::Tensor next_token_loss(const at::Tensor& logits, const at::Tensor& ids) {
  const int64_t V = logits.size(-1);
  const at::Tensor pred = logits.slice(1, 0, logits.size(1) - 1).reshape({-1, V});
  const at::Tensor target = ids.slice(1, 1, ids.size(1)).reshape({-1});
  return at::nll_loss(at::log_softmax(pred, -1), target);
}

}  // namespace bitscape::detail
