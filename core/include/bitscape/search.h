// Search: bit allocations that trade quality against size, by the methods of the papers, all
// feeding one Pareto archive point by point.
// - dp: the exact budgeted choice over measured per-module curves (a sensitivity run).
// - amq: AMQ (Lee et al. 2025; NOTES-amq.md): search-space pruning from one-module-at-2-bit
//   sensitivity, the HQQ proxy, an RBF quality predictor, NSGA-II on the predictor and the
//   iterative search-and-update loop with spread subset selection.
// - automixq: AutoMixQ's Algorithm 1: perturbation search with elites from all-4-bit down,
//   guided by CE + alpha T^2 KL(softmax(teacher/T) || softmax(student/T)), over 4-bit, 2-bit
//   and the four 2/4-bit channel-protection strategies.
// - cmpq: CMPQ's channel-wise allocation (Algorithm 1) at each budget.
// Candidates are evaluated against the unquantized model on held-out windows, streaming (mean
// KL, JSD, top-1, perplexity); every module's quantized weights for each option are computed
// once and cached (a memory-mapped safetensors file beside the project), so a candidate costs
// one forward pass. Tensor-facing header.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <vector>

#include "bitscape/allocation.h"
#include "bitscape/progress.h"
#include "bitscape/quantizer.h"
#include "bitscape/search_options.h"
#include "bitscape/search_result.h"
#include "bitscape/sensitivity_result.h"

namespace bitscape {

class Model;

struct SearchInputs {
  std::function<ModuleCalibration(const std::string& module)> calibration;
  at::Tensor eval_windows;  // [N, L] int64 held-out windows
};

// Runs a search, calling `on_point` for every evaluated point the moment it exists and
// `on_checkpoint` after every completed iteration (AMQ) or cycle (AutoMixQ) with the outcome so
// far (what a resume needs). Throws Cancelled when cancelled; what was checkpointed stands.
SearchOutcome run_search(Model& model, const SearchInputs& inputs, const SearchOptions& options,
                         const SearchState& resume,
                         const std::function<void(const SearchPoint&)>& on_point,
                         const std::function<void(const SearchOutcome&)>& on_checkpoint,
                         ProgressSink& progress, const CancelToken& cancel);

}  // namespace bitscape
