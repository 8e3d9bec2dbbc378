// What a search is asked for and what it returns, as plain values: the options of a run (method,
// budgets, seed, bits, each method's parameters, dp's curves), the state a resume starts from,
// and the outcome (searched modules, the options a gene stands for, every evaluated point).
// search_job.h's options hold these, so the CLI and the workbench fill them directly.
// Plain-value header (no LibTorch).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bitscape/allocation.h"
#include "bitscape/search_result.h"
#include "bitscape/sensitivity_result.h"

namespace bitscape {

struct SearchOptions {
  std::string method = "amq";  // dp, amq, automixq, cmpq
  double budget_lo = 2.25, budget_hi = 4.25;  // average bits (with overhead) of interest
  std::vector<double> budgets;  // where dp and cmpq place their points (default: lo..hi by 0.25)
  uint64_t seed = 0;
  QuantizerKind quantizer = QuantizerKind::kHqq;  // how candidates are quantized while searching
  int group_size = 128;
  std::vector<int> bits = {2, 3, 4};
  // AMQ (NOTES-amq.md defaults: threshold 2, 250 initial samples, 200 iterations of 50, NSGA-II
  // population 200 x 20 generations, subset GA 100 x 60). 0: scaled to the free genes.
  double amq_threshold = 2.0;
  int64_t amq_doe = 0, amq_iterations = 0, amq_candidates = 0;
  int amq_population = 200, amq_generations = 20;
  int amq_subset_population = 100, amq_subset_generations = 60;
  double amq_crossover = 0.9, amq_mutation = 0.1;
  double amq_max_jsd = 1.0;  // AMQ clamps the measured JSD (and maps NaN) to this
  // AutoMixQ: N samples per cycle, E elites, n modules perturbed per sample (0: scaled);
  // protected share of channels in the mixed options; loss weights (alpha = 1, T = 2).
  int64_t automixq_samples = 0, automixq_elites = 0, automixq_step = 0;
  double automixq_fraction = 0.5;
  double automixq_alpha = 1.0, automixq_temperature = 2.0;
  bool automixq_three_bit = false;  // also 3-bit among the options (the paper's 2/3/4 setting)
  // dp: the measured curves and the measure they are summed on ("kl" or "delta_ppl").
  std::vector<SensitivityCurve> curves;
  std::string dp_measure = "kl";
  std::string cache_path;  // cached quantized weights ("" = in memory only)
  // The unquantized model's predictions on the windows, kept for resumes and later runs ("" =
  // in memory only), valid for `model_identity` (the project's model fingerprint).
  std::string reference_path, model_identity;
};

// Where a resumed run stands: the points of its completed iterations.
struct SearchState {
  std::vector<SearchPoint> points;
  int64_t completed_iterations = 0;
  std::vector<int> pinned;  // AMQ: pinned genes (-1 = free), from the first session
};

struct SearchOutcome {
  std::vector<std::string> modules;           // searched modules, execution order
  std::vector<ModuleAllocation> options;      // what a gene value stands for
  std::vector<SearchPoint> points;            // every evaluated point, in order
  std::vector<int> pinned;                    // AMQ
  int64_t completed_iterations = 0;
  double baseline_ppl = 0.0;
  std::vector<std::string> log;               // per-iteration lines (predictor statistics, ...)
};

// The options with the budgets filled in when none are given: budget_lo..budget_hi by 0.25
// (cmpq: 2..4 code bits by 0.25), as run_search does.
SearchOptions with_default_budgets(const SearchOptions& o);

// The option list of a method (one ModuleAllocation per gene value; cmpq: one per budget).
std::vector<ModuleAllocation> search_options_for(const SearchOptions& o);

// The allocation a genome stands for.
Allocation allocation_of(const std::vector<int>& genes, const std::vector<ModuleAllocation>& options,
                         const std::vector<std::string>& modules);

}  // namespace bitscape
