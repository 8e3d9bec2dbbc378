// dp: the exact budgeted choice over measured per-module curves (a sensitivity run): the
// multiple-choice knapsack over (size, summed curve) solved once for the whole front, then the
// best allocation within each budget measured. Behind the interface of method.h.
#include <algorithm>
#include <map>
#include <string>

#include "bitscape/cost_model.h"
#include "bitscape/error.h"
#include "bitscape/search_result.h"
#include "search/method.h"

namespace bitscape::search {

void run_dp(SearchContext& ctx) {
  const SearchOptions& opt = ctx.options;
  SearchOutcome& out = ctx.out;
  const size_t G = ctx.modules();
  const int K = ctx.option_count();
  std::map<std::string, const SensitivityCurve*> curve_of;
  for (const SensitivityCurve& c : opt.curves) curve_of[c.module] = &c;
  std::vector<std::vector<int64_t>> size(G);
  std::vector<std::vector<double>> loss(G);
  for (size_t i = 0; i < G; ++i) {
    auto it = curve_of.find(out.modules[i]);
    if (it == curve_of.end()) throw InputError("", "the sensitivity run has no curve for " + out.modules[i]);
    const SensitivityCurve& c = *it->second;
    for (int k = 0; k < K; ++k) {
      const ModuleAllocation& option = out.options[static_cast<size_t>(k)];
      const auto pos = std::find(c.bits.begin(), c.bits.end(), option.bits);
      if (pos == c.bits.end())
        throw InputError("", "the sensitivity run has no " + std::to_string(option.bits) +
                                 "-bit point for " + out.modules[i]);
      const size_t j = static_cast<size_t>(pos - c.bits.begin());
      size[i].push_back(module_cost(ctx.shapes[i], option).total_bits());
      loss[i].push_back(opt.dp_measure == "delta_ppl" ? c.delta_ppl[j] : c.kl[j]);
    }
  }
  const BudgetedChoice choice = budgeted_choice(size, loss);
  int64_t weights = 0;
  for (const ModuleShape& s : ctx.shapes) weights += s.numel();
  out.log.push_back("dp: " + std::to_string(choice.sizes.size()) + " front points" +
                    (choice.exact ? " (exact)" : " (sizes rounded)"));
  // One candidate per budget not yet measured: the best allocation within it.
  SearchContext::Batch batch;
  for (size_t bi = 0; bi < opt.budgets.size(); ++bi) {
    if (ctx.have_iteration(static_cast<int>(bi))) continue;
    const double limit = opt.budgets[bi] * static_cast<double>(weights);
    int64_t pick = -1;
    for (size_t i = 0; i < choice.sizes.size(); ++i)
      if (static_cast<double>(choice.sizes[i]) <= limit + 1e-6) pick = static_cast<int64_t>(i);
    if (pick < 0) continue;  // below the smallest allocation
    batch.genomes.push_back(choice.choices[static_cast<size_t>(pick)]);
    batch.predicted.push_back(choice.losses[static_cast<size_t>(pick)]);
    batch.iterations.push_back(static_cast<int>(bi));
  }
  ctx.progress.stage("dp", static_cast<int64_t>(batch.genomes.size()));
  const double baseline = out.baseline_ppl;
  ctx.measure(
      batch, 0,
      [&](const FidelityAccumulator& a) { return opt.dp_measure == "delta_ppl" ? a.ppl() - baseline : a.kl(); },
      0, [&](size_t k, const SearchPoint&) { ctx.checkpoint(batch.iterations[k] + 1); });
}

}  // namespace bitscape::search
