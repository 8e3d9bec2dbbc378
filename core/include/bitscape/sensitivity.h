// Sensitivity and saliency: where a model is fragile, from single weights up to whole modules.
// - Saliency maps per weight (sensitivity_result.h lists the metrics), summarised per column,
//   row and group and pooled to display resolution.
// - Sensitivity curves: each module quantized alone at each bit option and measured on held-out
//   windows against the unquantized model (perplexity increase, KL, JSD, top-1 agreement), with
//   the proxies that need no forward pass (layer objective, HAWQ's Hessian trace).
// - Multi-source probing (TAMMP): saliency under several calibration corpora, critical columns,
//   their Jaccard compactness and the two grouping strategies.
// Tensor-facing header (LibTorch); results are the plain values of sensitivity_result.h.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "bitscape/allocation.h"
#include "bitscape/progress.h"
#include "bitscape/quantizer.h"
#include "bitscape/sensitivity_result.h"

namespace bitscape {

class Model;

struct SaliencyInputs {
  at::Tensor hessian;   // [in, in] calibration Hessian (obs, tammp)
  at::Tensor hessian_diag;  // [in] (diag; taken from `hessian` when absent)
  at::Tensor act_l2;    // [in] ||x_j||_2 over the calibration tokens (act)
  at::Tensor fisher;    // [out, in] empirical Fisher (fisher)
  double damp = 0.01;   // H + damp * mean(diag(H)) I before inversion, as GPTQ dampens
  at::Tensor hessian_inverse_diag;  // [in] damped_inverse_diagonal(hessian), when known already
};

// diag((H + damp * mean(diag(H)) I)^-1), dead inputs (H_jj = 0) set to 1 first as GPTQ does;
// from the upper Cholesky factor U of the inverse (float32, LAPACK): [H^-1]_jj = sum_k U_kj^2.
at::Tensor damped_inverse_diagonal(const at::Tensor& H, double damp, const std::string& module);

// The per-weight saliency map [out, in] float32 of a module's weight W. Throws InputError (naming
// `module`) when an input the metric needs is missing.
at::Tensor saliency_map(SaliencyMetric metric, const at::Tensor& W, const SaliencyInputs& in,
                        const std::string& module);

// Column, row and group sums and adaptive mean/max pooling to at most max_rows x max_cols.
SaliencySummary summarize_saliency(const at::Tensor& map, SaliencyMetric metric, int group_size,
                                   int64_t max_rows, int64_t max_cols);

struct SensitivityOptions {
  std::vector<int> bits = {2, 3, 4, 8};
  int group_size = 128;
  QuantizerKind quantizer = QuantizerKind::kRtn;  // how each module is quantized for its curve
  std::vector<SaliencyMetric> metrics = {SaliencyMetric::kObs, SaliencyMetric::kTammp,
                                         SaliencyMetric::kActivation,
                                         SaliencyMetric::kHessianDiagonal};
  bool curves = true;
  int64_t trace_samples = 16;  // Hutchinson samples for HAWQ's trace (0: none)
  int64_t pooled_rows = 128, pooled_cols = 128;
  uint64_t seed = 0;
};

// What one module's measurement produced, handed over as soon as it is complete.
struct ModuleSensitivity {
  std::string module;
  std::vector<SaliencySummary> saliency;  // one per requested metric
  SensitivityCurve curve;                 // empty when curves are off
};

struct SensitivityBaseline {
  double ppl = 0.0, nll = 0.0;
  int64_t windows = 0, seqlen = 0, tokens = 0;
};

// Where the statistics come from, per module (the project's calibration; `gradient_windows` for
// the Fisher information and the Hessian traces).
struct SensitivityInputs {
  std::function<ModuleCalibration(const std::string& module)> calibration;
  at::Tensor eval_windows;      // [N, L] int64: held-out text for the curves
  at::Tensor gradient_windows;  // [M, L] int64: calibration text for Fisher and traces
};

// Runs the measurements module by module in execution order, skipping the modules in `skip`
// (a resumed run), and calls `on_module` for each finished module. Cancellable between
// variants; what was handed over stays valid. Returns the unquantized model's baseline on the
// evaluation windows.
SensitivityBaseline run_sensitivity(Model& model, const SensitivityInputs& inputs,
                                    const SensitivityOptions& options,
                                    const std::set<std::string>& skip,
                                    const std::function<void(const ModuleSensitivity&)>& on_module,
                                    ProgressSink& progress, const CancelToken& cancel);

// --- multi-source probing (TAMMP) -------------------------------------------------------------

struct ProbingOptions {
  SaliencyMetric metric = SaliencyMetric::kTammp;
  double critical_fraction = 0.01;      // top share of columns per source
  double non_critical_fraction = 0.5;   // bottom share of columns per source (strategy 2)
  int consensus = 0;                    // p of the consensus set; 0: ceil(K / 2)
  double damp = 0.01;
};

struct ModuleProbing {
  std::string module;
  std::vector<std::vector<float>> column_saliency;        // per source, [in]
  std::vector<std::vector<int64_t>> critical, non_critical;  // per source, sorted indices
  double compactness = 0.0;              // consensus Jaccard of the critical sets
  std::vector<uint8_t> groups_strategy1, groups_strategy2;  // per column: 2/1/0
};

// Calibrates on each source (full-precision inputs, `windows[k]` for source k) and probes every
// module; `on_module` receives each module's result as soon as its block is done.
void run_probing(Model& model, const std::vector<at::Tensor>& windows,
                 const ProbingOptions& options,
                 const std::function<void(const ModuleProbing&)>& on_module,
                 ProgressSink& progress, const CancelToken& cancel);

// The allocation TAMMP derives from a grouping: per module, critical columns in fp16,
// sub-critical at `sub_bits`, non-critical at `non_bits` (TAMMP: 16 / 3 / 2), as input-channel
// classes with explicit indices over a module at `non_bits` with the given quantizer and group.
Allocation tammp_allocation(const std::vector<ModuleProbing>& probes, int strategy,
                            const std::vector<ModuleShape>& shapes, int sub_bits = 3,
                            int non_bits = 2, QuantizerKind quantizer = QuantizerKind::kRtn,
                            int group_size = 128);

}  // namespace bitscape
