// automixq: AutoMixQ's Algorithm 1: perturbation search with elites from all-4-bit down,
// guided by CE + alpha T^2 KL(softmax(teacher/T) || softmax(student/T)), over 4-bit, 2-bit and
// the four 2/4-bit channel-protection strategies (search_options_for). Each cycle proposes its
// samples as one batch. Behind the interface of method.h.
#include <algorithm>
#include <random>
#include <set>
#include <sstream>

#include "search/method.h"

namespace bitscape::search {

void run_automixq(SearchContext& ctx) {
  const SearchOptions& opt = ctx.options;
  SearchOutcome& out = ctx.out;
  const size_t G = ctx.modules();
  const int K = ctx.option_count();
  // The code bits of each option (gene values ordered 4-bit first, 2-bit last).
  std::vector<double> code_bits(static_cast<size_t>(K));
  for (int k = 0; k < K; ++k) {
    const ModuleAllocation& m = out.options[static_cast<size_t>(k)];
    double b = m.bits;
    for (const ChannelClass& c : m.channels.classes) b += (c.bits - m.bits) * c.fraction;
    code_bits[static_cast<size_t>(k)] = b;
  }
  auto cb = [&](int option) { return code_bits[static_cast<size_t>(option)]; };
  const int64_t N = opt.automixq_samples > 0 ? opt.automixq_samples : 12;
  const int64_t E = opt.automixq_elites > 0 ? opt.automixq_elites : 4;
  const int64_t n = opt.automixq_step > 0 ? opt.automixq_step
                                          : std::max<int64_t>(1, static_cast<int64_t>(G) / 8);
  const double alpha = opt.automixq_alpha, T = opt.automixq_temperature;
  auto loss_of = [&](const FidelityAccumulator& a) { return a.nll() + alpha * T * T * a.kl_t(); };
  // The starting configuration and the elites: from the last completed cycle when resuming.
  std::vector<int> q(G, 0);
  std::vector<std::vector<int>> elites;
  if (out.completed_iterations > 0) {
    std::vector<const SearchPoint*> last;
    for (const SearchPoint& p : out.points)
      if (p.iteration == out.completed_iterations - 1) last.push_back(&p);
    std::sort(last.begin(), last.end(),
              [](const SearchPoint* a, const SearchPoint* b) { return a->loss < b->loss; });
    if (!last.empty()) q = last.front()->genes;
    for (size_t i = 1; i < last.size() && static_cast<int64_t>(elites.size()) < E; ++i)
      elites.push_back(last[i]->genes);
  }
  // Each cycle: N samples, each q with n modules moved to lower options (from the elites'
  // changes or at random); the best becomes q, the next E the elites. Until q is at the
  // lowest budget.
  for (int64_t cycle = out.completed_iterations;; ++cycle) {
    ctx.cancel.throw_if_cancelled();
    if (ctx.bits(q) <= opt.budget_lo + 1e-9) break;
    bool any_lower = false;
    for (size_t i = 0; i < G; ++i) any_lower = any_lower || cb(q[i]) > code_bits.back();
    if (!any_lower) break;
    ctx.progress.stage("automixq cycle " + std::to_string(cycle), N);
    std::mt19937_64 rng = stream(opt.seed, 3, static_cast<uint64_t>(cycle));
    // Changes suggested by the elites: (module, option) pairs that lower q.
    std::vector<std::pair<size_t, int>> pool;
    for (const auto& e : elites)
      for (size_t i = 0; i < G; ++i)
        if (cb(e[i]) < cb(q[i])) pool.emplace_back(i, e[i]);
    SearchContext::Batch batch;
    std::set<std::vector<int>> distinct;
    for (int64_t attempts = 0; static_cast<int64_t>(batch.genomes.size()) < N && attempts < 50 * N;
         ++attempts) {
      std::vector<int> g = q;
      for (int64_t c = 0; c < n; ++c) {
        if (!pool.empty() && rng() % 2 == 0) {
          const auto& [i, option] = pool[rng() % pool.size()];
          if (cb(option) < cb(g[i])) g[i] = option;
          continue;
        }
        std::vector<size_t> lowerable;
        for (size_t i = 0; i < G; ++i)
          if (cb(g[i]) > code_bits.back()) lowerable.push_back(i);
        if (lowerable.empty()) break;
        const size_t i = lowerable[rng() % lowerable.size()];
        std::vector<int> below;
        for (int k = 0; k < K; ++k)
          if (cb(k) < cb(g[i])) below.push_back(k);
        g[i] = below[rng() % below.size()];
      }
      if (g == q || !distinct.insert(g).second) continue;
      batch.genomes.push_back(g);
    }
    if (batch.genomes.empty()) break;
    std::vector<std::pair<double, std::vector<int>>> samples;
    for (const SearchPoint& p : ctx.measure(batch, static_cast<int>(cycle), loss_of))
      samples.emplace_back(p.loss, p.genes);
    std::stable_sort(samples.begin(), samples.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    q = samples.front().second;
    elites.clear();
    for (size_t i = 1; i < samples.size() && static_cast<int64_t>(elites.size()) < E; ++i)
      elites.push_back(samples[i].second);
    std::ostringstream line;
    line << "automixq cycle " << cycle << ": best loss " << samples.front().first << " at "
         << ctx.bits(q) << " bits";
    ctx.log(line.str());
    ctx.checkpoint(cycle + 1);
  }
}

}  // namespace bitscape::search
