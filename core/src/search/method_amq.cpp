// amq: AMQ (Lee et al. 2025; ../shared/papers/NOTES-amq.md, from its authors' code): search-space
// pruning from one-module-at-the-lowest-option sensitivity, the quality proxy of the run's
// quantizer (HQQ by default), a cubic RBF predictor of the JSD, NSGA-II on (predicted loss,
// exact bits) and the iterative search-and-update loop with spread subset selection. Each
// phase proposes its candidates as one batch. Behind the interface of method.h.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>
#include <sstream>

#include "bitscape/error.h"
#include "bitscape/nsga2.h"
#include "bitscape/sensitivity_result.h"
#include "search/method.h"

namespace bitscape::search {

void run_amq(SearchContext& ctx) {
  const SearchOptions& opt = ctx.options;
  SearchOutcome& out = ctx.out;
  ProgressSink& progress = ctx.progress;
  const size_t G = ctx.modules();
  const int K = ctx.option_count();
  const double lo = opt.budget_lo, hi = opt.budget_hi;
  auto by_bits = [](const ModuleAllocation& a, const ModuleAllocation& b) { return a.bits < b.bits; };
  const int top = static_cast<int>(std::max_element(out.options.begin(), out.options.end(), by_bits) -
                                   out.options.begin());
  const int bottom = static_cast<int>(std::min_element(out.options.begin(), out.options.end(), by_bits) -
                                      out.options.begin());
  auto amq_loss = [&](const FidelityAccumulator& a) {
    const double j = a.jsd();
    return std::isnan(j) ? opt.amq_max_jsd : std::min(j, opt.amq_max_jsd);
  };
  // 1. Search-space pruning: everything at the top option, one module at the bottom one;
  // a module whose JSD exceeds threshold x median is pinned to the top option.
  if (out.pinned.empty()) {
    progress.stage("amq sensitivity", static_cast<int64_t>(G));
    std::vector<std::vector<int>> probes(G, std::vector<int>(G, top));
    for (size_t i = 0; i < G; ++i) probes[i][i] = bottom;
    std::vector<double> score(G);
    ctx.evaluator.evaluate_batch(probes, [&](size_t i, const FidelityAccumulator& a) {
      score[i] = amq_loss(a);
      progress.advance(static_cast<int64_t>(i) + 1);
    });
    std::vector<double> sorted = score;
    std::sort(sorted.begin(), sorted.end());
    const double median = G % 2 ? sorted[G / 2] : 0.5 * (sorted[G / 2 - 1] + sorted[G / 2]);
    out.pinned.assign(G, -1);
    int pinned = 0;
    for (size_t i = 0; i < G; ++i)
      if (score[i] > opt.amq_threshold * median) {
        out.pinned[i] = top;
        ++pinned;
      }
    out.log.push_back("amq: pinned " + std::to_string(pinned) + " of " + std::to_string(G) +
                      " modules (JSD > " + std::to_string(opt.amq_threshold) + " x median " +
                      std::to_string(median) + ")");
  }
  std::vector<int> lower(G), upper(G), free;
  for (size_t i = 0; i < G; ++i) {
    lower[i] = out.pinned[i] >= 0 ? out.pinned[i] : 0;
    upper[i] = out.pinned[i] >= 0 ? out.pinned[i] : K - 1;
    if (out.pinned[i] < 0) free.push_back(static_cast<int>(i));
  }
  const int64_t F = static_cast<int64_t>(free.size());
  const int64_t n_doe = opt.amq_doe > 0 ? opt.amq_doe : std::min<int64_t>(250, std::max<int64_t>(F + 9, 50));
  // The RBF predictor's linear tail needs one point more than there are free modules.
  if (n_doe < F + 1)
    throw InputError("", "AMQ needs at least " + std::to_string(F + 1) +
                             " initial samples here (one more than the " + std::to_string(F) +
                             " modules its pruning left free) for its RBF predictor; got " +
                             std::to_string(n_doe) + " (--initial-samples)");
  const int64_t iterations = opt.amq_iterations > 0 ? opt.amq_iterations : 20;
  const int64_t per_iteration = opt.amq_candidates > 0 ? opt.amq_candidates : 16;
  // The archive of measured configurations (iteration >= 0).
  std::set<std::vector<int>> seen;
  for (const SearchPoint& p : out.points)
    if (p.iteration >= 0) seen.insert(p.genes);
  // 2. Initial samples (iteration 0): the uniform configurations, then genes drawn i.i.d. from a
  // random distribution over the options, inside [lo, hi] and distinct.
  if (out.completed_iterations == 0) {
    progress.stage("amq initial samples", n_doe);
    std::mt19937_64 rng = stream(opt.seed, 1, 0);
    SearchContext::Batch batch;
    auto propose = [&](const std::vector<int>& g) {
      seen.insert(g);
      batch.genomes.push_back(g);
    };
    for (int k = 0; k < K && static_cast<int64_t>(batch.genomes.size()) < n_doe; ++k) {
      std::vector<int> g(G);
      for (size_t i = 0; i < G; ++i) g[i] = out.pinned[i] >= 0 ? out.pinned[i] : k;
      if (!seen.count(g)) propose(g);
    }
    std::uniform_real_distribution<double> u01(0.0, 1.0);
    int64_t attempts = 0;
    while (static_cast<int64_t>(batch.genomes.size()) < n_doe && attempts++ < 1000 * n_doe) {
      std::vector<double> prob(static_cast<size_t>(K));
      for (double& p : prob) p = u01(rng);
      std::discrete_distribution<int> pick(prob.begin(), prob.end());
      std::vector<int> g(G);
      for (size_t i = 0; i < G; ++i) g[i] = out.pinned[i] >= 0 ? out.pinned[i] : pick(rng);
      const double b = ctx.bits(g);
      if (seen.count(g) || b < lo - 1e-9 || b > hi + 1e-9) continue;
      propose(g);
    }
    ctx.measure(batch, 0, amq_loss);
    ctx.checkpoint(1);
  }
  {
    int64_t measured = 0;
    for (const SearchPoint& p : out.points) measured += p.iteration >= 0;
    if (measured < F + 1) {
      char range[160];
      std::snprintf(range, sizeof range,
                    "the budgets %.3g..%.3g bits hold only %lld of the configurations drawn "
                    "(the options give %.3g..%.3g bits)",
                    lo, hi, static_cast<long long>(measured), ctx.bits(lower), ctx.bits(upper));
      throw InputError("", std::string("AMQ cannot fit its predictor: ") + range + "; it needs " +
                               std::to_string(F + 1) +
                               ". Widen --budgets or choose other --bits or --group");
    }
  }
  // 3. Search and update.
  auto features = [&](const std::vector<int>& g) {
    std::vector<double> x;
    for (int i : free) x.push_back(static_cast<double>(g[static_cast<size_t>(i)]));
    return x;
  };
  const std::vector<double> flo(static_cast<size_t>(F), 0.0), fhi(static_cast<size_t>(F), K - 1);
  for (int64_t it = out.completed_iterations; it <= iterations; ++it) {
    ctx.cancel.throw_if_cancelled();
    progress.stage("amq iteration " + std::to_string(it) + "/" + std::to_string(iterations),
                   per_iteration);
    std::mt19937_64 rng = stream(opt.seed, 2, static_cast<uint64_t>(it));
    // Fit the predictor on every measured configuration.
    std::vector<std::vector<double>> X;
    std::vector<double> Y;
    std::vector<Individual> measured;
    for (const SearchPoint& p : out.points) {
      if (p.iteration < 0) continue;
      X.push_back(features(p.genes));
      Y.push_back(p.loss);
      Individual ind;
      ind.genes = p.genes;
      ind.objectives = {p.loss, p.average_bits};
      ind.feasible = p.average_bits >= lo - 1e-9 && p.average_bits <= hi + 1e-9;
      measured.push_back(ind);
    }
    CubicRbf predictor;
    predictor.fit(X, Y, flo, fhi);
    // NSGA-II on (predicted loss, exact bits), from the archive's non-dominated front.
    const std::vector<std::vector<int>> fronts = nondominated_sort(measured);
    std::vector<Genome> initial;
    for (int i : fronts.front()) initial.push_back(measured[static_cast<size_t>(i)].genes);
    Nsga2Problem problem;
    problem.lower = lower;
    problem.upper = upper;
    problem.evaluate = [&](Individual& ind) {
      const double b = ctx.bits(ind.genes);
      ind.objectives = {predictor.predict(features(ind.genes)), b};
      ind.feasible = b >= lo - 1e-9 && b <= hi + 1e-9;
    };
    Nsga2Options no;
    no.population = opt.amq_population;
    no.offspring = opt.amq_population;
    no.generations = opt.amq_generations;
    no.crossover_prob = opt.amq_crossover;
    no.mutation_prob = opt.amq_mutation;
    const std::vector<Individual> population = nsga2(problem, initial, no, rng);
    // New candidates, spread over the bits axis together with the archive's front.
    std::vector<Individual> fresh;
    std::set<std::vector<int>> taken;
    for (const Individual& ind : population)
      if (ind.feasible && !seen.count(ind.genes) && taken.insert(ind.genes).second) fresh.push_back(ind);
    std::vector<double> values, anchors;
    for (const Individual& ind : fresh) values.push_back(ind.objectives[1]);
    for (int i : fronts.front()) anchors.push_back(measured[static_cast<size_t>(i)].objectives[1]);
    const std::vector<int> chosen =
        select_spread_subset(values, anchors, static_cast<int>(per_iteration),
                             opt.amq_subset_population, opt.amq_subset_generations, rng);
    SearchContext::Batch batch;
    for (int c : chosen) {
      const Individual& ind = fresh[static_cast<size_t>(c)];
      batch.genomes.push_back(ind.genes);
      batch.predicted.push_back(ind.objectives[0]);
      seen.insert(ind.genes);
    }
    std::vector<double> actual;
    for (const SearchPoint& p : ctx.measure(batch, static_cast<int>(it), amq_loss)) actual.push_back(p.loss);
    std::ostringstream line;
    line << "amq iteration " << it << ": " << chosen.size() << " candidates, predictor Spearman "
         << spearman(batch.predicted, actual) << ", Kendall " << kendall_tau(batch.predicted, actual);
    ctx.log(line.str());
    ctx.checkpoint(it + 1);
  }
}

}  // namespace bitscape::search
