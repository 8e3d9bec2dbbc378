// The unquantized model's predictions on one batch of evaluation windows, computed once and
// compared with any number of quantized variants' final hidden states (sensitivity curves,
// search candidates). The head is applied to slices of positions as evaluate_perplexity does,
// so that results equal an `eval`; the reference predictions are kept when they fit in a memory
// budget and recomputed per comparison otherwise. Internal to core.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "bitscape/fidelity.h"

namespace bitscape {
class Model;
}

namespace bitscape::detail {

class BatchReference {
 public:
  // ref_hidden: the unquantized final block outputs [n, T, H] of windows `ids` [n, T].
  // temperature: also accumulate the KL of softmax(logits / T) (AutoMixQ's distillation loss).
  BatchReference(const Model& model, at::Tensor ref_hidden, const at::Tensor& ids,
                 double temperature = 1.0, int64_t budget_bytes = int64_t(1) << 30);
  // Accumulates the comparison of final hidden states `hidden` with the reference.
  void compare(const at::Tensor& hidden, FidelityAccumulator& acc) const;
  void add_baseline(FidelityAccumulator& acc) const { compare(ref_hidden_, acc); }

 private:
  FidelityReference make(int64_t s) const;
  const Model& model_;
  at::Tensor ref_hidden_, targets_;
  int64_t predicted_ = 0, chunk_ = 1;
  double temperature_ = 1.0;
  bool keep_ = false;
  std::vector<FidelityReference> refs_;
};

}  // namespace bitscape::detail
