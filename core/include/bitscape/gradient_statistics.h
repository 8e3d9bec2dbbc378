// Second-order sensitivity of the language-model loss with respect to every linear module's
// weight, through LibTorch autograd: the empirical Fisher information (squared gradients, as
// SqueezeLLM weights its k-means and as a saliency map) and the trace of the loss Hessian
// estimated with Hutchinson's method (HAWQ-v2's sensitivity). Tensor-facing header.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <string>

#include "bitscape/progress.h"

namespace bitscape {

class Model;

// The loss of a window is the mean next-token cross-entropy over its tokens. Fisher diagonal per
// linear module weight: F = 1/W sum over the W windows of (dL_window/dW)^2 (one backward pass per
// window, as SqueezeLLM computes it), float32 [out, in] on the CPU, keyed by module name
// ("model.layers.0.mlp.down_proj"). The model's weights are left as they were (requires_grad
// restored). One progress step per window; cancellable between windows.
std::map<std::string, at::Tensor> fisher_diagonal(Model& model, const at::Tensor& windows,
                                                  ProgressSink& progress, const CancelToken& cancel);

// Hutchinson's estimator of tr(d^2 L / dW^2) for every linear module weight (HAWQ-v2, Dong et al.
// 2020): L is the mean cross-entropy over all `windows` (one batch); for each of `samples`
// Rademacher vectors v (one entry per weight of every module, drawn from std::mt19937_64(seed)),
// Hv is obtained by differentiating g . v (g = dL/dW with its graph kept) and v_m . (Hv)_m is
// module m's sample; the estimate is their mean. One progress step per sample.
std::map<std::string, double> hessian_traces(Model& model, const at::Tensor& windows,
                                             int64_t samples, uint64_t seed,
                                             ProgressSink& progress, const CancelToken& cancel);

}  // namespace bitscape
