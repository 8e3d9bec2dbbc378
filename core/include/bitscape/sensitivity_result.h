// Results of the sensitivity jobs as plain values, for the views, the searches and reports:
// saliency maps summarised per column, row and group and pooled to display resolution, the
// per-module sensitivity curves with their cheap proxies, and multi-source probing (TAMMP).
// Plain-value header (no LibTorch).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace bitscape {

// Per-weight saliency metrics (docs/sensitivity.md):
//   obs       w^2 / [H^-1]_jj                    OBS (Hassibi & Stork) as GPTQ/SparseGPT use it
//   tammp     w^2 / ([H^-1]_jj)^2                TAMMP eq. 4
//   act       |w| * ||x_j||_2                    activation-weighted magnitude (Wanda)
//   diag      diag(H)_j * w^2                    the diagonal term of the layer objective
//   fisher    sum over windows of (dL/dw)^2 / W  empirical Fisher (SqueezeLLM)
// H is the calibration Hessian 2/N X^T X, dampened by 1% of its mean diagonal before inversion.
enum class SaliencyMetric { kObs, kTammp, kActivation, kHessianDiagonal, kFisher };
std::string saliency_metric_name(SaliencyMetric m);        // "obs", "tammp", "act", "diag", "fisher"
bool parse_saliency_metric(const std::string& name, SaliencyMetric* out);
std::vector<SaliencyMetric> all_saliency_metrics();

// A module's saliency map, summarised.
struct SaliencySummary {
  std::string metric;
  int64_t rows = 0, cols = 0;   // the module's [out, in]
  int group_size = 128;         // groups along the input dimension
  double total = 0.0;           // sum over all weights
  std::vector<float> column_sum;  // [in]: per input channel
  std::vector<float> row_sum;     // [out]: per output channel
  std::vector<float> group_sum;   // [out * groups], row-major, groups = ceil(in / group_size)
  int64_t pooled_rows = 0, pooled_cols = 0;  // display resolution (<= rows, cols)
  std::vector<float> pooled_mean;  // [pooled_rows * pooled_cols], adaptive mean pooling
  std::vector<float> pooled_max;   // adaptive max pooling
  int64_t groups() const { return group_size > 0 ? (cols + group_size - 1) / group_size : 1; }
};

// One module quantized alone at each bit option, measured on held-out windows against the
// unquantized model, plus the proxies that need no forward pass.
struct SensitivityCurve {
  std::string module;
  std::vector<int> bits;
  std::vector<double> ppl;         // perplexity with only this module quantized
  std::vector<double> delta_ppl;   // ppl - baseline ppl
  std::vector<double> kl;          // mean KL(p_fp || p_q) per predicted token (nats)
  std::vector<double> jsd;         // mean Jensen-Shannon divergence per token (nats)
  std::vector<double> top1;        // share of tokens whose argmax agrees with the unquantized one
  std::vector<double> objective;   // layer objective tr(dW H dW^T)
  std::vector<double> hawq;        // HAWQ-v2: tr(H_loss) / n * ||dW||^2 (NaN without the trace)
  double hessian_trace = std::nan("");  // Hutchinson estimate of tr(d^2 L / dW^2)
  double layer_hessian_trace = std::nan("");  // out_features * tr(H) of the calibration Hessian
  bool complete() const { return !bits.empty() && ppl.size() == bits.size(); }
};

// A curve as one JSON object (the sensitivity job's live "sensitivity_curve" results, drawn on the
// workbench's heatmap as each module finishes): module, bits and every per-bit list (null for
// NaN), hessian_trace, layer_hessian_trace. sensitivity_curve_from_json reads it back; throws
// InputError.
std::string sensitivity_curve_json(const SensitivityCurve& c);
SensitivityCurve sensitivity_curve_from_json(const std::string& json);

// Spearman's rank correlation between two equally long vectors (average ranks for ties);
// NaN when either is constant or shorter than 2.
double spearman(const std::vector<double>& a, const std::vector<double>& b);

// TAMMP's consensus-based Jaccard compactness (appendix A): with f(x) the number of the K sets
// that contain x and A_core = {x : f(x) >= p}, the mean over k of |A_k ∩ A_core| / |A_k ∪ A_core|
// (a pair of empty sets counts 1).
double consensus_jaccard(const std::vector<std::vector<int64_t>>& sets, int p);

// TAMMP's grouping of a module's input columns from the critical (top) and non-critical
// (bottom) column sets of each source (section 4.2): 2 = critical, 1 = sub-critical,
// 0 = non-critical, per column.
//   strategy 1 (intersection): critical = the intersection of the critical sets, sub-critical =
//     the rest of their union, non-critical = every other column;
//   strategy 2 (union): critical as in strategy 1, non-critical = the union of the non-critical
//     sets (minus the critical columns), sub-critical = every other column.
std::vector<uint8_t> tammp_column_groups(int64_t columns,
                                         const std::vector<std::vector<int64_t>>& critical,
                                         const std::vector<std::vector<int64_t>>& non_critical,
                                         int strategy);

}  // namespace bitscape
