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
#include "bitscape/sensitivity_options.h"
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

// What one module's measurement produced, handed over as soon as it is complete.
struct ModuleSensitivity {
  std::string module;
  std::vector<SaliencySummary> saliency;  // one per requested metric
  SensitivityCurve curve;                 // empty when curves are off
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
