// Causal language-model training of a Model with LibTorch autograd and AdamW (Loshchilov &
// Hutter, "Decoupled Weight Decay Regularization"), with linear warmup and cosine decay. Used
// to train the bundled sample model (`bitscape-cli train-lm`); quantization-aware training will
// reuse it. Tensor-facing header.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include <c10/core/ScalarType.h>

#include "bitscape/progress.h"

namespace bitscape {

class Model;

struct TrainOptions {
  int64_t seqlen = 256;
  int64_t batch_size = 16;
  int64_t steps = 1000;
  int64_t warmup_steps = 100;
  double lr = 3e-3;            // peak learning rate
  double min_lr_ratio = 0.1;   // cosine decays to lr * min_lr_ratio
  double weight_decay = 0.1;   // on 2-D weights only (not norms, not biases)
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double grad_clip = 1.0;      // max global L2 norm of the gradient (<= 0: off)
  uint64_t seed = 0;           // batch sampling
  int64_t eval_every = 200;    // validation loss every N steps (and at the end)
  int64_t eval_windows = 32;   // validation windows of seqlen tokens
  double max_seconds = 0.0;    // stop early after this much training time (0 = no limit)
  // Mixed precision: kBFloat16 (or kHalf on CUDA) runs the forward and backward in that dtype
  // on differentiable casts of the fp32 weights, as torch.autocast does; the weights, their
  // gradients and AdamW's moments stay fp32. kFloat: everything in fp32.
  at::ScalarType compute_dtype = at::kFloat;
};

struct TrainResult {
  std::vector<std::pair<int64_t, double>> train_loss;  // (step, mean loss since last report)
  std::vector<std::pair<int64_t, double>> val_loss;    // (step, mean validation loss)
  int64_t steps_done = 0;
  int64_t tokens_seen = 0;
  double seconds = 0.0;
};

// Trains `model` (fp32 weights) in place (on its execution device) on random windows of `train_tokens`; reports validation loss on the
// first eval_windows non-overlapping windows of `val_tokens`. Cancelling stops after the
// current step and returns what was done so far.
TrainResult train_lm(Model& model, const std::vector<int32_t>& train_tokens,
                     const std::vector<int32_t>& val_tokens, const TrainOptions& options,
                     ProgressSink& progress, const CancelToken& cancel);

}  // namespace bitscape
