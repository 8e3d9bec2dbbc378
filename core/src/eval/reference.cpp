// The unquantized model's predictions on a batch of windows (reference.h).
#include "eval/reference.h"

#include <algorithm>

#include "bitscape/model.h"

namespace bitscape::detail {

BatchReference::BatchReference(const Model& model, at::Tensor ref_hidden, const at::Tensor& ids,
                               double temperature, int64_t budget)
    : model_(model), ref_hidden_(std::move(ref_hidden)), temperature_(temperature) {
  const int64_t n = ids.size(0), T = ids.size(1);
  if (!at::isfinite(ref_hidden_).all().item<bool>()) {
    for (int64_t i = 0; i < n; ++i)
      if (!at::isfinite(ref_hidden_[i]).all().item<bool>())
        throw_non_finite(model, ids.slice(0, i, i + 1),
                         "the unquantized model's output on window " + std::to_string(i + 1));
  }
  predicted_ = T - 1;
  chunk_ = std::max<int64_t>(1, 256 / n);
  targets_ = ids.slice(1, 1, T).to(ref_hidden_.device());
  const int64_t V = model.config().vocab_size;
  const int64_t per_entry = temperature == 1.0 ? 8 : 16;  // logp and p (and at T)
  keep_ = n * predicted_ * V * per_entry <= budget;
  if (keep_)
    for (int64_t s = 0; s < predicted_; s += chunk_) refs_.push_back(make(s));
}

FidelityReference BatchReference::make(int64_t s) const {
  const int64_t e = std::min(predicted_, s + chunk_);
  return FidelityReference::from_logits(model_.head(ref_hidden_.slice(1, s, e)),
                                        targets_.slice(1, s, e), temperature_);
}

void BatchReference::compare(const at::Tensor& hidden, FidelityAccumulator& acc) const {
  size_t i = 0;
  for (int64_t s = 0; s < predicted_; s += chunk_, ++i) {
    const int64_t e = std::min(predicted_, s + chunk_);
    const at::Tensor logits = model_.head(hidden.slice(1, s, e));
    if (keep_)
      acc.add(refs_[i], logits);
    else
      acc.add(make(s), logits);
  }
}

}  // namespace bitscape::detail
