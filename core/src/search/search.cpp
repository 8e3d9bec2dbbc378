// The search driver (search.h): the options of a method, the shared evaluator (reference
// predictions once, the quantized-option cache), the uniform baselines every run carries, and
// the dispatch by name to the methods behind the one interface of method.h. The registry of
// names is search_methods.cpp.
#include "bitscape/search.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <stdexcept>

#include "bitscape/calibration.h"
#include "bitscape/cost_model.h"
#include "bitscape/error.h"
#include "bitscape/model.h"
#include "bitscape/search_methods.h"
#include "search/evaluator.h"
#include "search/method.h"

namespace bitscape {

namespace search {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::mt19937_64 stream(uint64_t seed, uint64_t phase, uint64_t iteration) {
  std::seed_seq s{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                  static_cast<uint32_t>(phase), static_cast<uint32_t>(iteration)};
  return std::mt19937_64(s);
}

SearchContext::SearchContext(const SearchOptions& o, SearchOutcome& outcome,
                             const std::vector<ModuleShape>& s, int64_t other, Evaluator& ev,
                             const std::function<void(const SearchPoint&)>& on_point,
                             const std::function<void(const SearchOutcome&)>& on_checkpoint,
                             ProgressSink& p, const CancelToken& c,
                             std::chrono::steady_clock::time_point t0)
    : options(o), out(outcome), shapes(s), other_parameters(other), evaluator(ev), progress(p),
      cancel(c), on_point_(on_point), on_checkpoint_(on_checkpoint), t0_(t0) {}

double SearchContext::bits(const std::vector<int>& genes) const {
  return allocation_cost(allocation_of(genes, out.options, out.modules), shapes, other_parameters)
      .average_bits;
}

bool SearchContext::have_iteration(int iteration) const {
  for (const SearchPoint& p : out.points)
    if (p.iteration == iteration) return true;
  return false;
}

// A point of `method` measured as `a` for an allocation of cost `c`.
static SearchPoint measured_point(const std::string& method, int iteration, const AllocationCost& c,
                           const FidelityAccumulator& a, std::chrono::steady_clock::time_point t0) {
  SearchPoint p;
  p.method = method;
  p.iteration = iteration;
  p.average_bits = c.average_bits;
  p.code_bits = c.average_code_bits;
  p.total_bytes = c.total_bytes();
  p.ppl = a.ppl();
  p.kl = a.kl();
  p.jsd = a.jsd();
  p.top1 = a.top1();
  p.seconds = seconds_since(t0);
  return p;
}

SearchPoint SearchContext::make_point(const std::vector<int>& genes, const FidelityAccumulator& a,
                                      int iteration) const {
  SearchPoint p = measured_point(
      options.method, iteration,
      allocation_cost(allocation_of(genes, out.options, out.modules), shapes, other_parameters), a, t0_);
  p.genes = genes;
  return p;
}

SearchPoint SearchContext::emit(SearchPoint p) {
  p.index = static_cast<int64_t>(out.points.size());
  out.points.push_back(p);
  if (on_point_) on_point_(out.points.back());
  return out.points.back();
}

std::vector<SearchPoint> SearchContext::measure(const Batch& batch, int iteration, const Loss& loss,
                                                int64_t progress_base,
                                                const std::function<void(size_t, const SearchPoint&)>& after) {
  std::vector<SearchPoint> points;
  points.reserve(batch.genomes.size());
  evaluator.evaluate_batch(batch.genomes, [&](size_t k, const FidelityAccumulator& a) {
    SearchPoint p = make_point(batch.genomes[k], a, k < batch.iterations.size() ? batch.iterations[k] : iteration);
    p.loss = loss(a);
    p.predicted = k < batch.predicted.size() ? batch.predicted[k] : std::nan("");
    points.push_back(emit(p));
    progress.advance(progress_base + static_cast<int64_t>(k) + 1);
    if (after) after(k, points.back());
  });
  return points;
}

void SearchContext::checkpoint(int64_t completed) {
  out.completed_iterations = completed;
  if (on_checkpoint_) on_checkpoint_(out);
}

void SearchContext::log(const std::string& line) {
  out.log.push_back(line);
  progress.log(line);
}

}  // namespace search

SearchOutcome run_search(Model& model, const SearchInputs& inputs, const SearchOptions& o,
                         const SearchState& resume,
                         const std::function<void(const SearchPoint&)>& on_point,
                         const std::function<void(const SearchOutcome&)>& on_checkpoint,
                         ProgressSink& progress, const CancelToken& cancel) {
  using RunMethod = void (*)(search::SearchContext&);
  static const std::map<std::string, RunMethod> kImplementations = {
      {"dp", search::run_dp},
      {"amq", search::run_amq},
      {"automixq", search::run_automixq},
      {"cmpq", search::run_cmpq}};
  const auto t0 = std::chrono::steady_clock::now();
  const SearchOptions opt = with_default_budgets(o);
  if (!find_search_method(opt.method))
    throw InputError("", "unknown search method '" + opt.method + "' (" + search_method_names() + ")");
  const auto impl = kImplementations.find(opt.method);
  if (impl == kImplementations.end())
    throw std::logic_error("search method '" + opt.method + "' is registered without an implementation");
  const bool cmpq = opt.method == "cmpq";
  SearchOutcome out;
  out.modules = model.linear_modules();
  out.options = search_options_for(opt);
  if (out.options.empty()) throw InputError("", "the search has no options (check --bits / budgets)");
  const std::vector<ModuleShape> shapes = module_shapes(model);
  const int64_t other = other_parameter_count(model);
  const size_t G = out.modules.size();

  // Resumed points first (not re-announced).
  out.points = resume.points;
  out.completed_iterations = resume.completed_iterations;
  out.pinned = resume.pinned;

  // The evaluator: the quantized options (none for cmpq, which measures each budget's
  // allocation directly) and the reference predictions, once for the whole run.
  auto cache = std::make_shared<const OptionCache>(
      model, out.modules, cmpq ? std::vector<ModuleAllocation>{} : out.options, inputs.calibration,
      cmpq ? std::string() : opt.cache_path, progress, cancel);
  auto reference = std::make_shared<const ReferencePredictions>(
      model, inputs.eval_windows, opt.method == "automixq" ? opt.automixq_temperature : 1.0, cancel,
      opt.reference_path, opt.model_identity);
  if (reference->read_from_file())
    progress.log("reference predictions read from " + opt.reference_path);
  Evaluator ev(model, reference, cache, inputs.calibration, cancel);
  out.baseline_ppl = reference->baseline().ppl();
  search::SearchContext ctx(opt, out, shapes, other, ev, on_point, on_checkpoint, progress, cancel, t0);

  // Uniform baselines, always: 2/3/4/8 bits at the run's group size with the same quantizer,
  // and 2 and 3 bits at groups 64 and 32, whose overhead makes them the uniform allocations of
  // 2.5/3.0 and 3.5/4.0 average bits (at group 128).
  if (!ctx.have_iteration(-1)) {
    std::vector<std::pair<int, int>> uniform_settings = {
        {2, opt.group_size}, {3, opt.group_size}, {4, opt.group_size}, {8, opt.group_size}};
    if (opt.group_size == 128 && !cmpq)
      for (int g : {64, 32})
        for (int b : {2, 3}) uniform_settings.emplace_back(b, g);
    progress.stage("baselines", static_cast<int64_t>(uniform_settings.size()));
    int64_t n = 0;
    for (const auto& [b, group] : uniform_settings) {
      ModuleAllocation m;
      m.bits = b;
      m.group_size = group;
      m.quantizer = cmpq ? QuantizerKind::kKmeans : opt.quantizer;
      if (cmpq) m.codebook_axis = ChannelAxis::kIn;
      const auto it = std::find(out.options.begin(), out.options.end(), m);
      FidelityAccumulator acc;
      std::vector<int> genes;
      if (it != out.options.end() && !cmpq) {
        genes.assign(G, static_cast<int>(it - out.options.begin()));
        acc = ev.evaluate(genes);
      } else {
        // Not among the cached options: this one uniform allocation, quantized directly.
        Allocation a;
        for (const std::string& module : out.modules) a.modules[module] = m;
        acc = ev.evaluate_allocation(a);
      }
      SearchPoint p = search::measured_point(
          "uniform", -1, allocation_cost(Allocation::uniform(shapes, m), shapes, other), acc, t0);
      p.loss = acc.kl();
      p.genes = genes;  // empty when not expressible in the options
      ctx.emit(p);
      progress.advance(++n);
    }
  }
  impl->second(ctx);
  return out;
}

}  // namespace bitscape
