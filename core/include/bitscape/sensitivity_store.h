// Sensitivity runs and probing runs in the project file (schema in docs/project-format.md):
// /sensitivity/<run>/... and /probing/<run>/..., written module by module as a job finishes
// them, read back by `show`, the views and the searches. A run is named; a second run never
// overwrites a first. Plain-value header (no LibTorch).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bitscape/project.h"
#include "bitscape/sensitivity_result.h"

namespace bitscape {

struct SensitivityRunInfo {
  std::string name;
  std::string status;          // "running", "complete", "cancelled"
  std::string created;
  std::vector<std::string> metrics;
  std::vector<int> bits;
  int group_size = 128;
  std::string quantizer;
  std::string eval_data;
  int64_t eval_windows = 0, seqlen = 0;
  int64_t gradient_windows = 0, trace_samples = 0;
  double baseline_ppl = 0.0, baseline_nll = 0.0;
  double seconds = 0.0;
  std::vector<std::string> modules;  // modules with stored results, in execution order
};

// Rank correlation of each cheap proxy with the measured curves, per bit option.
struct ProxyCorrelation {
  std::string proxy;       // "objective", "hawq", "layer_hessian_trace", "saliency_<metric>"
  std::string against;     // "delta_ppl" or "kl"
  std::vector<int> bits;
  std::vector<double> spearman;
};

// Writing (through a ProjectWriter opened by the job).
void write_sensitivity_run(ProjectWriter& w, const SensitivityRunInfo& info);  // attributes only
void write_module_saliency(ProjectWriter& w, const std::string& run, const std::string& module,
                           const SaliencySummary& s);
void write_module_curve(ProjectWriter& w, const std::string& run, const SensitivityCurve& c);
void write_proxy_correlations(ProjectWriter& w, const std::string& run,
                              const std::vector<ProxyCorrelation>& correlations);

// Reading.
std::vector<std::string> sensitivity_runs(const ProjectReader& r);  // sorted
SensitivityRunInfo read_sensitivity_run(const ProjectReader& r, const std::string& run,
                                        const std::vector<std::string>& module_order);
std::optional<SensitivityCurve> read_module_curve(const ProjectReader& r, const std::string& run,
                                                  const std::string& module);
std::optional<SaliencySummary> read_module_saliency(const ProjectReader& r, const std::string& run,
                                                    const std::string& module,
                                                    const std::string& metric);
std::vector<ProxyCorrelation> read_proxy_correlations(const ProjectReader& r, const std::string& run);

// The rank correlations of the proxies with the measured curves over the given modules.
std::vector<ProxyCorrelation> proxy_correlations(
    const std::vector<SensitivityCurve>& curves,
    const std::map<std::string, std::map<std::string, double>>& saliency_totals);

// Multi-source probing runs.
struct ProbingRunInfo {
  std::string name;
  std::string created;
  std::vector<std::string> sources;
  std::string metric;
  double critical_fraction = 0.0, non_critical_fraction = 0.0;
  int consensus = 0;
  int64_t samples = 0, seqlen = 0;
};
struct StoredProbe {
  std::string module;
  std::vector<std::vector<float>> column_saliency;  // per source
  std::vector<std::vector<int64_t>> critical, non_critical;
  double compactness = 0.0;
  std::vector<uint8_t> groups_strategy1, groups_strategy2;
};
void write_probing_run(ProjectWriter& w, const ProbingRunInfo& info);
void write_module_probe(ProjectWriter& w, const std::string& run, const StoredProbe& p);
std::vector<std::string> probing_runs(const ProjectReader& r);
ProbingRunInfo read_probing_run(const ProjectReader& r, const std::string& run);
std::optional<StoredProbe> read_module_probe(const ProjectReader& r, const std::string& run,
                                             const std::string& module);

}  // namespace bitscape
