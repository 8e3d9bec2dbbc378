// cmpq: CMPQ's channel-wise allocation (its Algorithm 1) at each budget: per input channel a
// k-means codebook, a share of the channels at more bits by activation norm and the outliers in
// fp16 (cmpq_module_allocation), measured against the run's one set of reference predictions.
// Behind the interface of method.h.
#include "bitscape/allocation.h"
#include "search/method.h"

namespace bitscape::search {

void run_cmpq(SearchContext& ctx) {
  const SearchOptions& opt = ctx.options;
  SearchOutcome& out = ctx.out;
  const int64_t B = static_cast<int64_t>(opt.budgets.size());
  ctx.progress.stage("cmpq", B);
  for (int64_t bi = 0; bi < B; ++bi) {
    if (ctx.have_iteration(static_cast<int>(bi))) continue;
    // Each budget's allocation is quantized for its one measurement (caching every budget's
    // weights would hold a copy of the model per budget).
    Allocation a;
    for (const std::string& m : out.modules) a.modules[m] = out.options[static_cast<size_t>(bi)];
    const FidelityAccumulator acc = ctx.evaluator.evaluate_allocation(a);
    SearchPoint p = ctx.make_point(std::vector<int>(ctx.modules(), static_cast<int>(bi)), acc,
                                   static_cast<int>(bi));
    p.loss = p.kl;
    ctx.emit(p);
    ctx.checkpoint(bi + 1);
    ctx.progress.stage("cmpq", B);
    ctx.progress.advance(bi + 1);
  }
}

}  // namespace bitscape::search
