// Fidelity of a model's predictions to a reference model's on the same windows, accumulated in
// one streaming pass (no reference logits are kept beyond the batch they belong to): mean
// KL(p_ref || p), mean Jensen-Shannon divergence and top-1 agreement per predicted token, next
// to both models' negative log-likelihood of the actual next tokens. Tensor-facing header.
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>

namespace bitscape {

// The reference side of a comparison, computed once and compared with any number of models'
// logits on the same positions.
struct FidelityReference {
  at::Tensor logp;     // [n, V] float32 log-probabilities
  at::Tensor p;        // [n, V] probabilities
  at::Tensor argmax;   // [n]
  at::Tensor targets;  // [n, 1] int64
  double nll_sum = 0.0;
  double temperature = 1.0;  // for the distillation KL (AutoMixQ): softmax(logits / T)
  at::Tensor logp_t, p_t;    // [n, V] at that temperature (when it is not 1)
  // From logits [B, T, V] and targets [B, T].
  static FidelityReference from_logits(const at::Tensor& ref_logits, const at::Tensor& targets,
                                       double temperature = 1.0);
  int64_t bytes() const {
    return (logp.defined() ? 2 * logp.numel() * 4 : 0) + (logp_t.defined() ? 2 * logp_t.numel() * 4 : 0);
  }
};

struct FidelityAccumulator {
  double nll_sum = 0.0;      // -log p(target) of the model
  double ref_nll_sum = 0.0;  // -log p_ref(target)
  double kl_sum = 0.0;       // sum over tokens of KL(p_ref || p), nats
  double jsd_sum = 0.0;      // sum over tokens of JSD(p_ref, p), nats
  int64_t top1_agree = 0;    // tokens whose argmax equals the reference's
  int64_t tokens = 0;
  double kl_t_sum = 0.0;     // sum of KL(softmax(ref/T) || softmax(logits/T)) (reference's T)

  // Adds predicted positions: logits and ref_logits [B, T, V] (any float dtype; computed in
  // float32 with log-softmax; KL/JSD summed in float64 per token), targets int64 [B, T].
  void add(const at::Tensor& ref_logits, const at::Tensor& logits, const at::Tensor& targets);
  void add(const FidelityReference& ref, const at::Tensor& logits);
  // Merges another accumulator (e.g. of another batch).
  void merge(const FidelityAccumulator& o);

  double nll() const { return tokens ? nll_sum / tokens : std::nan(""); }
  double ref_nll() const { return tokens ? ref_nll_sum / tokens : std::nan(""); }
  double ppl() const { return std::exp(nll()); }
  double ref_ppl() const { return std::exp(ref_nll()); }
  double kl() const { return tokens ? kl_sum / tokens : std::nan(""); }
  double jsd() const { return tokens ? jsd_sum / tokens : std::nan(""); }
  double top1() const { return tokens ? static_cast<double>(top1_agree) / tokens : std::nan(""); }
  double kl_t() const { return tokens ? kl_t_sum / tokens : std::nan(""); }
};

}  // namespace bitscape
