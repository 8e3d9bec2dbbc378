// Streaming KL, JSD and top-1 agreement against a reference model (fidelity.h).
//   KL(p || q)  = sum_v p_v (log p_v - log q_v)
//   JSD(p, q)   = 1/2 KL(p || m) + 1/2 KL(q || m),  m = (p + q) / 2
// computed from log-softmax in float32 per vocabulary entry and summed per token in float64.
#include "bitscape/fidelity.h"

#include <ATen/ATen.h>

#include <limits>

namespace bitscape {

FidelityReference FidelityReference::from_logits(const at::Tensor& ref_logits,
                                                  const at::Tensor& targets, double temperature) {
  const int64_t V = ref_logits.size(-1);
  FidelityReference r;
  r.temperature = temperature;
  if (temperature != 1.0) {
    r.logp_t = at::log_softmax(ref_logits.to(at::kFloat).reshape({-1, V}) / temperature, -1);
    r.p_t = r.logp_t.exp();
  }
  r.logp = at::log_softmax(ref_logits.to(at::kFloat).reshape({-1, V}), -1);
  r.p = r.logp.exp();
  r.argmax = r.logp.argmax(1);
  r.targets = targets.reshape({-1, 1}).to(r.logp.device());
  r.nll_sum = -r.logp.gather(1, r.targets).to(at::kDouble).sum().item<double>();
  return r;
}

void FidelityAccumulator::add(const at::Tensor& ref_logits, const at::Tensor& logits,
                              const at::Tensor& targets) {
  add(FidelityReference::from_logits(ref_logits, targets), logits);
}

void FidelityAccumulator::add(const FidelityReference& ref, const at::Tensor& logits) {
  const int64_t V = logits.size(-1);
  const at::Tensor lp = at::log_softmax(logits.to(at::kFloat).reshape({-1, V}), -1);
  const at::Tensor pq = lp.exp();
  nll_sum -= lp.gather(1, ref.targets).to(at::kDouble).sum().item<double>();
  ref_nll_sum += ref.nll_sum;
  kl_sum += (ref.p * (ref.logp - lp)).sum(1).to(at::kDouble).sum().item<double>();
  // m = (p + q) / 2. Where both probabilities underflow to 0 the terms are 0; the clamp keeps
  // log m finite there (0 * finite), and changes nothing elsewhere since m >= p/2, q/2.
  at::Tensor lm = ref.p + pq;
  lm.mul_(0.5).clamp_min_(std::numeric_limits<float>::min()).log_();
  // Term by term (each is small when p and q are close), summed per token in float32 and over
  // tokens in float64.
  const at::Tensor kl_rm = (ref.p * (ref.logp - lm)).sum(1);
  const at::Tensor kl_qm = (pq * (lp - lm)).sum(1);
  jsd_sum += (0.5 * (kl_rm + kl_qm)).to(at::kDouble).sum().item<double>();
  top1_agree += (lp.argmax(1) == ref.argmax).sum().item<int64_t>();
  if (ref.temperature != 1.0) {
    const at::Tensor lq_t = at::log_softmax(logits.to(at::kFloat).reshape({-1, V}) / ref.temperature, -1);
    kl_t_sum += (ref.p_t * (ref.logp_t - lq_t)).sum(1).to(at::kDouble).sum().item<double>();
  } else {
    kl_t_sum += (ref.p * (ref.logp - lp)).sum(1).to(at::kDouble).sum().item<double>();
  }
  tokens += lp.size(0);
}

void FidelityAccumulator::merge(const FidelityAccumulator& o) {
  nll_sum += o.nll_sum;
  ref_nll_sum += o.ref_nll_sum;
  kl_sum += o.kl_sum;
  jsd_sum += o.jsd_sum;
  top1_agree += o.top1_agree;
  kl_t_sum += o.kl_t_sum;
  tokens += o.tokens;
}

}  // namespace bitscape
