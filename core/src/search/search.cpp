// The searches (search.h). One evaluator serves every method: it quantizes each module once per
// option (cached in a memory-mapped safetensors file), keeps the unquantized model's predictions
// on the held-out windows, and measures a candidate with one forward pass per batch by swapping
// the cached weights in.
#include "bitscape/search.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cstdio>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>

#include "bitscape/calibration.h"
#include "bitscape/cost_model.h"
#include "bitscape/error.h"
#include "bitscape/fidelity.h"
#include "bitscape/model.h"
#include "bitscape/nsga2.h"
#include "bitscape/safetensors.h"
#include "eval/reference.h"

namespace bitscape {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A reproducible stream per (seed, phase, iteration), so that a resumed run draws what an
// uninterrupted one would.
std::mt19937_64 stream(uint64_t seed, uint64_t phase, uint64_t iteration) {
  std::seed_seq s{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                  static_cast<uint32_t>(phase), static_cast<uint32_t>(iteration)};
  return std::mt19937_64(s);
}

std::string describe(const ModuleAllocation& m) {
  std::ostringstream s;
  s << quantizer_name(m.quantizer) << ":" << m.bits << ":g" << m.group_size;
  for (const ChannelClass& c : m.channels.classes)
    s << ":c" << c.bits << "/" << static_cast<int>(c.select) << "/" << static_cast<int>(c.by) << "/"
      << c.fraction;
  s << ":o" << m.outliers.activation_fraction << "/" << m.outliers.quantization_fraction;
  return s.str();
}

// Measures candidates: cached quantized weights per (module, option), reference predictions on
// the evaluation windows, one forward per batch.
class Evaluator {
 public:
  Evaluator(Model& model, const std::vector<std::string>& modules,
            const std::vector<ModuleAllocation>& options, const SearchInputs& inputs,
            const std::string& cache_path, double temperature, ProgressSink& progress,
            const CancelToken& cancel)
      : model_(model), modules_(modules), options_(options), cancel_(cancel) {
    c10::InferenceMode guard;
    // Originals, to restore after each candidate.
    for (const std::string& m : modules_) original_[m] = model_.parameter(m + ".weight");
    build_cache(inputs, cache_path, progress);
    // Reference continuation per batch of the evaluation windows.
    ids_ = inputs.eval_windows;
    const int64_t N = ids_.size(0), T = ids_.size(1);
    batch_ = std::max<int64_t>(1, 2048 / T);
    for (int64_t b0 = 0; b0 < N; b0 += batch_) {
      const at::Tensor ids = ids_.slice(0, b0, std::min(N, b0 + batch_));
      refs_.emplace_back(model_, forward_hidden(ids), ids, temperature);
      refs_.back().add_baseline(baseline_);
    }
  }
  ~Evaluator() {
    for (const auto& [m, w] : original_) model_.parameter(m + ".weight") = w;
  }

  const FidelityAccumulator& baseline() const { return baseline_; }

  // Measures the candidate whose module i uses option genes[i].
  FidelityAccumulator evaluate(const std::vector<int>& genes) {
    c10::InferenceMode guard;
    for (size_t i = 0; i < modules_.size(); ++i)
      model_.parameter(modules_[i] + ".weight") = cache_.at(key(i, genes[i]));
    FidelityAccumulator acc;
    const int64_t N = ids_.size(0);
    size_t r = 0;
    for (int64_t b0 = 0; b0 < N; b0 += batch_, ++r) {
      cancel_.throw_if_cancelled();
      refs_[r].compare(forward_hidden(ids_.slice(0, b0, std::min(N, b0 + batch_))), acc);
    }
    for (const std::string& m : modules_) model_.parameter(m + ".weight") = original_.at(m);
    return acc;
  }

 private:
  std::string key(size_t module, int option) const {
    return modules_[module] + "#" + std::to_string(option);
  }
  at::Tensor forward_hidden(const at::Tensor& ids) {
    at::Tensor h = model_.embed(ids);
    for (int64_t b = 0; b < model_.num_blocks(); ++b) h = model_.run_block(b, h);
    return h;
  }
  void build_cache(const SearchInputs& inputs, const std::string& path, ProgressSink& progress) {
    // The cache is valid for this model, these options and this calibration (the identity of
    // the options is stored in the file's metadata).
    std::string identity = model_.dir() + "|" + std::to_string(model_.parameters().size());
    for (const ModuleAllocation& o : options_) identity += "|" + describe(o);
    if (!path.empty() && std::filesystem::exists(path)) {
      try {
        file_ = SafetensorsFile::open(path);
        auto it = file_->metadata().find("identity");
        bool complete = it != file_->metadata().end() && it->second == identity;
        for (size_t i = 0; complete && i < modules_.size(); ++i)
          for (size_t o = 0; complete && o < options_.size(); ++o)
            complete = file_->contains(key(i, static_cast<int>(o)));
        if (complete) {
          for (size_t i = 0; i < modules_.size(); ++i)
            for (size_t o = 0; o < options_.size(); ++o)
              cache_[key(i, static_cast<int>(o))] = file_->tensor(key(i, static_cast<int>(o)));
          return;
        }
      } catch (const InputError&) {
        // An unreadable or stale cache is rebuilt.
      }
      file_.reset();
    }
    progress.stage("quantize options", static_cast<int64_t>(modules_.size() * options_.size()));
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    int64_t done = 0;
    for (size_t i = 0; i < modules_.size(); ++i) {
      const at::Tensor W = original_.at(modules_[i]).to(at::kFloat).cpu();
      const ModuleCalibration calib = inputs.calibration ? inputs.calibration(modules_[i])
                                                         : ModuleCalibration{};
      for (size_t o = 0; o < options_.size(); ++o) {
        cancel_.throw_if_cancelled();
        const at::Tensor& stored = original_.at(modules_[i]);
        const at::Tensor q = quantize_module(W, options_[o], calib, modules_[i])
                                 .weight.to(stored.device(), stored.scalar_type());
        cache_[key(i, static_cast<int>(o))] = q;
        tensors.emplace_back(key(i, static_cast<int>(o)), q);
        progress.advance(++done);
      }
    }
    if (!path.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
      write_safetensors(path, tensors, {{"identity", identity}});
    }
  }

  Model& model_;
  std::vector<std::string> modules_;
  std::vector<ModuleAllocation> options_;
  const CancelToken& cancel_;
  std::map<std::string, at::Tensor> original_, cache_;
  std::shared_ptr<SafetensorsFile> file_;
  at::Tensor ids_;
  int64_t batch_ = 1;
  std::vector<detail::BatchReference> refs_;
  FidelityAccumulator baseline_;
};

// Turns a measurement into a point of the archive.
class PointMaker {
 public:
  PointMaker(const std::vector<std::string>& modules, const std::vector<ModuleShape>& shapes,
             int64_t other, const std::vector<ModuleAllocation>& options, std::string method,
             std::chrono::steady_clock::time_point t0)
      : modules_(modules), shapes_(shapes), other_(other), options_(options),
        method_(std::move(method)), t0_(t0) {}
  SearchPoint make(const std::vector<int>& genes, const FidelityAccumulator& a, int iteration,
                   const std::string& method = "") const {
    SearchPoint p;
    p.method = method.empty() ? method_ : method;
    p.iteration = iteration;
    p.genes = genes;
    const AllocationCost c = allocation_cost(allocation_of(genes, options_, modules_), shapes_, other_);
    p.average_bits = c.average_bits;
    p.code_bits = c.average_code_bits;
    p.total_bytes = c.total_bytes();
    p.ppl = a.ppl();
    p.kl = a.kl();
    p.jsd = a.jsd();
    p.top1 = a.top1();
    p.seconds = seconds_since(t0_);
    return p;
  }
  double bits(const std::vector<int>& genes) const {
    return allocation_cost(allocation_of(genes, options_, modules_), shapes_, other_).average_bits;
  }

 private:
  const std::vector<std::string>& modules_;
  const std::vector<ModuleShape>& shapes_;
  int64_t other_;
  const std::vector<ModuleAllocation>& options_;
  std::string method_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace

std::vector<ModuleAllocation> search_options_for(const SearchOptions& o) {
  std::vector<ModuleAllocation> options;
  auto plain = [&](int bits, QuantizerKind q) {
    ModuleAllocation m;
    m.bits = bits;
    m.quantizer = q;
    m.group_size = o.group_size;
    return m;
  };
  if (o.method == "cmpq") {
    for (double b : o.budgets) options.push_back(cmpq_module_allocation(b));
    return options;
  }
  if (o.method == "automixq") {
    // 4-bit, the four protection strategies (2-bit with `fraction` of the output channels at 4
    // bits: 1 top and low by activation, 2 top by activation, 3/4 the same by weight), 2-bit.
    options.push_back(plain(4, o.quantizer));
    if (o.automixq_three_bit) options.push_back(plain(3, o.quantizer));
    for (int strategy = 1; strategy <= 4; ++strategy) {
      ModuleAllocation m = plain(2, o.quantizer);
      m.channels.axis = ChannelAxis::kOut;
      ChannelClass c;
      c.bits = 4;
      c.select = strategy % 2 == 1 ? ChannelSelect::kTopAndLow : ChannelSelect::kTop;
      c.by = strategy <= 2 ? ChannelStatistic::kActivation : ChannelStatistic::kWeight;
      c.fraction = o.automixq_fraction;
      m.channels.classes.push_back(c);
      options.push_back(m);
    }
    options.push_back(plain(2, o.quantizer));
    return options;
  }
  for (int b : o.bits) options.push_back(plain(b, o.quantizer));
  return options;
}

SearchOptions with_default_budgets(const SearchOptions& o) {
  SearchOptions opt = o;
  if (opt.budgets.empty()) {
    // CMPQ's budgets are code bits between 2 and 4 (its Algorithm 1).
    const double lo = opt.method == "cmpq" ? 2.0 : opt.budget_lo;
    const double hi = opt.method == "cmpq" ? 4.0 : opt.budget_hi;
    for (double b = lo; b <= hi + 1e-9; b += 0.25) opt.budgets.push_back(b);
  }
  return opt;
}

Allocation allocation_of(const std::vector<int>& genes, const std::vector<ModuleAllocation>& options,
                         const std::vector<std::string>& modules) {
  Allocation a;
  for (size_t i = 0; i < modules.size(); ++i)
    a.modules[modules[i]] = options.at(static_cast<size_t>(genes.at(i)));
  return a;
}

SearchOutcome run_search(Model& model, const SearchInputs& inputs, const SearchOptions& o,
                         const SearchState& resume,
                         const std::function<void(const SearchPoint&)>& on_point,
                         const std::function<void(const SearchOutcome&)>& on_checkpoint,
                         ProgressSink& progress, const CancelToken& cancel) {
  const auto t0 = std::chrono::steady_clock::now();
  const SearchOptions opt = with_default_budgets(o);
  SearchOutcome out;
  out.modules = model.linear_modules();
  out.options = search_options_for(opt);
  if (out.options.empty()) throw InputError("", "the search has no options (check --bits / budgets)");
  const std::vector<ModuleShape> shapes = module_shapes(model);
  const int64_t other = other_parameter_count(model);
  const size_t G = out.modules.size();
  const int K = static_cast<int>(out.options.size());
  const PointMaker maker(out.modules, shapes, other, out.options, opt.method, t0);
  const bool automixq = opt.method == "automixq";
  const bool cmpq = opt.method == "cmpq";

  // Resumed points first (not re-announced).
  for (const SearchPoint& p : resume.points) out.points.push_back(p);
  out.completed_iterations = resume.completed_iterations;
  out.pinned = resume.pinned;
  auto emit = [&](SearchPoint p) {
    p.index = static_cast<int64_t>(out.points.size());
    out.points.push_back(p);
    if (on_point) on_point(out.points.back());
    return out.points.back();
  };
  auto have_iteration = [&](int it) {
    for (const SearchPoint& p : out.points)
      if (p.iteration == it) return true;
    return false;
  };

  // The evaluator (cmpq measures each budget's allocation directly, see below).
  std::unique_ptr<Evaluator> ev;
  if (!cmpq)
    ev = std::make_unique<Evaluator>(model, out.modules, out.options, inputs, opt.cache_path,
                                     automixq ? opt.automixq_temperature : 1.0, progress, cancel);
  else
    ev = std::make_unique<Evaluator>(model, out.modules, std::vector<ModuleAllocation>{}, inputs,
                                     "", 1.0, progress, cancel);
  out.baseline_ppl = ev->baseline().ppl();
  auto uniform = [&](int option) { return std::vector<int>(G, option); };

  // Uniform baselines, always: 2/3/4/8 bits at the run's group size with the same quantizer,
  // and 2 and 3 bits at groups 64 and 32, whose overhead makes them the uniform allocations of
  // 2.5/3.0 and 3.5/4.0 average bits (at group 128).
  if (!have_iteration(-1)) {
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
      if (it != out.options.end()) {
        genes = uniform(static_cast<int>(it - out.options.begin()));
        acc = ev->evaluate(genes);
      } else {
        // Not among the cached options: quantize this one uniform allocation directly.
        Evaluator once(model, out.modules, {m}, inputs, "", 1.0, progress, cancel);
        acc = once.evaluate(uniform(0));
      }
      SearchPoint p;
      p.method = "uniform";
      p.iteration = -1;
      const AllocationCost c = allocation_cost(Allocation::uniform(shapes, m), shapes, other);
      p.average_bits = c.average_bits;
      p.code_bits = c.average_code_bits;
      p.total_bytes = c.total_bytes();
      p.ppl = acc.ppl();
      p.kl = acc.kl();
      p.jsd = acc.jsd();
      p.top1 = acc.top1();
      p.loss = acc.kl();
      p.genes = genes;  // empty when not expressible in the options
      p.seconds = seconds_since(t0);
      emit(p);
      progress.advance(++n);
    }
  }

  // --- cmpq: CMPQ's allocation at each budget --------------------------------------------------
  if (cmpq) {
    progress.stage("cmpq", static_cast<int64_t>(opt.budgets.size()));
    for (size_t bi = 0; bi < opt.budgets.size(); ++bi) {
      if (have_iteration(static_cast<int>(bi))) continue;
      Evaluator one(model, out.modules, {out.options[bi]}, inputs, "", 1.0, progress, cancel);
      const FidelityAccumulator acc = one.evaluate(uniform(0));
      SearchPoint p = maker.make(uniform(static_cast<int>(bi)), acc, static_cast<int>(bi));
      p.loss = p.kl;
      emit(p);
      out.completed_iterations = static_cast<int64_t>(bi) + 1;
      if (on_checkpoint) on_checkpoint(out);
      progress.stage("cmpq", static_cast<int64_t>(opt.budgets.size()));
      progress.advance(static_cast<int64_t>(bi) + 1);
    }
    return out;
  }

  // --- dp: the exact budgeted choice over the measured curves ----------------------------------
  if (opt.method == "dp") {
    std::map<std::string, const SensitivityCurve*> curve_of;
    for (const SensitivityCurve& c : opt.curves) curve_of[c.module] = &c;
    std::vector<std::vector<int64_t>> size(G);
    std::vector<std::vector<double>> loss(G);
    for (size_t i = 0; i < G; ++i) {
      auto it = curve_of.find(out.modules[i]);
      if (it == curve_of.end())
        throw InputError("", "the sensitivity run has no curve for " + out.modules[i]);
      const SensitivityCurve& c = *it->second;
      for (int k = 0; k < K; ++k) {
        const auto pos = std::find(c.bits.begin(), c.bits.end(), out.options[static_cast<size_t>(k)].bits);
        if (pos == c.bits.end())
          throw InputError("", "the sensitivity run has no " +
                                   std::to_string(out.options[static_cast<size_t>(k)].bits) +
                                   "-bit point for " + out.modules[i]);
        const size_t j = static_cast<size_t>(pos - c.bits.begin());
        size[i].push_back(module_cost(shapes[i], out.options[static_cast<size_t>(k)]).total_bits());
        loss[i].push_back(opt.dp_measure == "delta_ppl" ? c.delta_ppl[j] : c.kl[j]);
      }
    }
    const BudgetedChoice choice = budgeted_choice(size, loss);
    int64_t weights = 0;
    for (const ModuleShape& s : shapes) weights += s.numel();
    out.log.push_back("dp: " + std::to_string(choice.sizes.size()) + " front points" +
                      (choice.exact ? " (exact)" : " (sizes rounded)"));
    progress.stage("dp", static_cast<int64_t>(opt.budgets.size()));
    for (size_t bi = 0; bi < opt.budgets.size(); ++bi) {
      if (have_iteration(static_cast<int>(bi))) continue;
      const double limit = opt.budgets[bi] * static_cast<double>(weights);
      int64_t pick = -1;
      for (size_t i = 0; i < choice.sizes.size(); ++i)
        if (static_cast<double>(choice.sizes[i]) <= limit + 1e-6) pick = static_cast<int64_t>(i);
      if (pick < 0) continue;  // below the smallest allocation
      const std::vector<int>& genes = choice.choices[static_cast<size_t>(pick)];
      SearchPoint p = maker.make(genes, ev->evaluate(genes), static_cast<int>(bi));
      p.predicted = choice.losses[static_cast<size_t>(pick)];
      p.loss = opt.dp_measure == "delta_ppl" ? p.ppl - out.baseline_ppl : p.kl;
      emit(p);
      out.completed_iterations = static_cast<int64_t>(bi) + 1;
      if (on_checkpoint) on_checkpoint(out);
      progress.advance(static_cast<int64_t>(bi) + 1);
    }
    return out;
  }

  // --- amq ---------------------------------------------------------------------------------
  if (opt.method == "amq") {
    const double lo = opt.budget_lo, hi = opt.budget_hi;
    const int top = static_cast<int>(std::max_element(out.options.begin(), out.options.end(),
                                                      [](const ModuleAllocation& a, const ModuleAllocation& b) {
                                                        return a.bits < b.bits;
                                                      }) - out.options.begin());
    const int bottom = static_cast<int>(std::min_element(out.options.begin(), out.options.end(),
                                                         [](const ModuleAllocation& a, const ModuleAllocation& b) {
                                                           return a.bits < b.bits;
                                                         }) - out.options.begin());
    auto amq_loss = [&](const FidelityAccumulator& a) {
      const double j = a.jsd();
      return std::isnan(j) ? opt.amq_max_jsd : std::min(j, opt.amq_max_jsd);
    };
    // 1. Search-space pruning: everything at the top option, one module at the bottom one;
    // a module whose JSD exceeds threshold x median is pinned to the top option.
    if (out.pinned.empty()) {
      progress.stage("amq sensitivity", static_cast<int64_t>(G));
      std::vector<double> score(G);
      for (size_t i = 0; i < G; ++i) {
        std::vector<int> genes = uniform(top);
        genes[i] = bottom;
        score[i] = amq_loss(ev->evaluate(genes));
        progress.advance(static_cast<int64_t>(i) + 1);
      }
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
    // The archive of measured configurations (iteration >= 0), and a lookup of genomes.
    std::set<std::vector<int>> seen;
    for (const SearchPoint& p : out.points)
      if (p.iteration >= 0) seen.insert(p.genes);
    auto measure = [&](const std::vector<int>& genes, int iteration, double predicted) {
      const FidelityAccumulator a = ev->evaluate(genes);
      SearchPoint p = maker.make(genes, a, iteration);
      p.loss = amq_loss(a);
      p.predicted = predicted;
      seen.insert(genes);
      return emit(p);
    };
    // 2. Initial samples (iteration 0): the uniform configurations, then genes drawn i.i.d. from a
    // random distribution over the options, inside [lo, hi] and distinct.
    if (out.completed_iterations == 0) {
      progress.stage("amq initial samples", n_doe);
      std::mt19937_64 rng = stream(opt.seed, 1, 0);
      int64_t made = 0;
      for (int k = 0; k < K && made < n_doe; ++k) {
        std::vector<int> g(G);
        for (size_t i = 0; i < G; ++i) g[i] = out.pinned[i] >= 0 ? out.pinned[i] : k;
        if (seen.count(g)) continue;
        measure(g, 0, std::nan(""));
        progress.advance(++made);
      }
      std::uniform_real_distribution<double> u01(0.0, 1.0);
      int64_t attempts = 0;
      while (made < n_doe && attempts++ < 1000 * n_doe) {
        std::vector<double> prob(static_cast<size_t>(K));
        double sum = 0;
        for (double& p : prob) sum += (p = u01(rng));
        std::discrete_distribution<int> pick(prob.begin(), prob.end());
        std::vector<int> g(G);
        for (size_t i = 0; i < G; ++i) g[i] = out.pinned[i] >= 0 ? out.pinned[i] : pick(rng);
        const double b = maker.bits(g);
        if (seen.count(g) || b < lo - 1e-9 || b > hi + 1e-9) continue;
        measure(g, 0, std::nan(""));
        progress.advance(++made);
      }
      out.completed_iterations = 1;
      if (on_checkpoint) on_checkpoint(out);
    }
    {
      int64_t measured = 0;
      for (const SearchPoint& p : out.points) measured += p.iteration >= 0;
      if (measured < F + 1) {
        std::vector<int> low(G), high(G);
        for (size_t i = 0; i < G; ++i) {
          low[i] = out.pinned[i] >= 0 ? out.pinned[i] : 0;
          high[i] = out.pinned[i] >= 0 ? out.pinned[i] : K - 1;
        }
        char range[160];
        std::snprintf(range, sizeof range,
                      "the budgets %.3g..%.3g bits hold only %lld of the configurations drawn "
                      "(the options give %.3g..%.3g bits)",
                      lo, hi, static_cast<long long>(measured), maker.bits(low), maker.bits(high));
        throw InputError("", std::string("AMQ cannot fit its predictor: ") + range +
                                 "; it needs " + std::to_string(F + 1) +
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
      cancel.throw_if_cancelled();
      progress.stage("amq iteration " + std::to_string(it) + "/" + std::to_string(iterations),
                     per_iteration);
      std::mt19937_64 rng = stream(opt.seed, 2, static_cast<uint64_t>(it));
      // Fit the predictor on every measured configuration.
      std::vector<std::vector<double>> X;
      std::vector<double> Y;
      std::vector<Genome> archive;
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
        const double b = maker.bits(ind.genes);
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
      const std::vector<int> chosen = select_spread_subset(
          values, anchors, static_cast<int>(per_iteration), opt.amq_subset_population,
          opt.amq_subset_generations, rng);
      std::vector<double> predicted, actual;
      int64_t n = 0;
      for (int c : chosen) {
        const Individual& ind = fresh[static_cast<size_t>(c)];
        const SearchPoint p = measure(ind.genes, static_cast<int>(it), ind.objectives[0]);
        predicted.push_back(ind.objectives[0]);
        actual.push_back(p.loss);
        progress.advance(++n);
      }
      std::ostringstream line;
      line << "amq iteration " << it << ": " << chosen.size() << " candidates, predictor Spearman "
           << spearman(predicted, actual) << ", Kendall " << kendall_tau(predicted, actual);
      out.log.push_back(line.str());
      progress.log(line.str());
      out.completed_iterations = it + 1;
      if (on_checkpoint) on_checkpoint(out);
    }
    return out;
  }

  // --- automixq ---------------------------------------------------------------------------------
  if (automixq) {
    // Lower options of each option (fewer bits): gene values ordered 4-bit first, 2-bit last.
    std::vector<double> code_bits(static_cast<size_t>(K));
    for (int k = 0; k < K; ++k) {
      const ModuleAllocation& m = out.options[static_cast<size_t>(k)];
      double b = m.bits;
      for (const ChannelClass& c : m.channels.classes) b += (c.bits - m.bits) * c.fraction;
      code_bits[static_cast<size_t>(k)] = b;
    }
    const int64_t N = opt.automixq_samples > 0 ? opt.automixq_samples : 12;
    const int64_t E = opt.automixq_elites > 0 ? opt.automixq_elites : 4;
    const int64_t n = opt.automixq_step > 0 ? opt.automixq_step : std::max<int64_t>(1, static_cast<int64_t>(G) / 8);
    const double alpha = opt.automixq_alpha, T = opt.automixq_temperature;
    auto loss_of = [&](const FidelityAccumulator& a) { return a.nll() + alpha * T * T * a.kl_t(); };
    // The starting configuration and the elites: from the last completed cycle when resuming.
    std::vector<int> q(G, 0);
    std::vector<std::vector<int>> elites;
    if (out.completed_iterations > 0) {
      std::vector<const SearchPoint*> last;
      for (const SearchPoint& p : out.points)
        if (p.iteration == out.completed_iterations - 1) last.push_back(&p);
      std::sort(last.begin(), last.end(), [](const SearchPoint* a, const SearchPoint* b) { return a->loss < b->loss; });
      if (!last.empty()) q = last.front()->genes;
      for (size_t i = 1; i < last.size() && static_cast<int64_t>(elites.size()) < E; ++i) elites.push_back(last[i]->genes);
    }
    // Each cycle: N samples, each q with n modules moved to lower options (from the elites'
    // changes or at random); the best becomes q, the next E the elites. Until q is at the
    // lowest budget.
    for (int64_t cycle = out.completed_iterations;; ++cycle) {
      cancel.throw_if_cancelled();
      if (maker.bits(q) <= opt.budget_lo + 1e-9) break;
      bool any_lower = false;
      for (size_t i = 0; i < G; ++i) any_lower = any_lower || code_bits[static_cast<size_t>(q[i])] > code_bits.back();
      if (!any_lower) break;
      progress.stage("automixq cycle " + std::to_string(cycle), N);
      std::mt19937_64 rng = stream(opt.seed, 3, static_cast<uint64_t>(cycle));
      // Changes suggested by the elites: (module, option) pairs that lower q.
      std::vector<std::pair<size_t, int>> pool;
      for (const auto& e : elites)
        for (size_t i = 0; i < G; ++i)
          if (code_bits[static_cast<size_t>(e[i])] < code_bits[static_cast<size_t>(q[i])]) pool.emplace_back(i, e[i]);
      std::vector<std::pair<double, std::vector<int>>> samples;
      std::set<std::vector<int>> distinct;
      for (int64_t s = 0, attempts = 0; s < N && attempts < 50 * N; ++attempts) {
        std::vector<int> g = q;
        for (int64_t c = 0; c < n; ++c) {
          if (!pool.empty() && rng() % 2 == 0) {
            const auto& [i, opt_k] = pool[rng() % pool.size()];
            if (code_bits[static_cast<size_t>(opt_k)] < code_bits[static_cast<size_t>(g[i])]) g[i] = opt_k;
            continue;
          }
          std::vector<size_t> lowerable;
          for (size_t i = 0; i < G; ++i)
            if (code_bits[static_cast<size_t>(g[i])] > code_bits.back()) lowerable.push_back(i);
          if (lowerable.empty()) break;
          const size_t i = lowerable[rng() % lowerable.size()];
          std::vector<int> below;
          for (int k = 0; k < K; ++k)
            if (code_bits[static_cast<size_t>(k)] < code_bits[static_cast<size_t>(g[i])]) below.push_back(k);
          g[i] = below[rng() % below.size()];
        }
        if (g == q || !distinct.insert(g).second) continue;
        const FidelityAccumulator a = ev->evaluate(g);
        SearchPoint p = maker.make(g, a, static_cast<int>(cycle));
        p.loss = loss_of(a);
        emit(p);
        samples.emplace_back(p.loss, g);
        progress.advance(++s);
      }
      if (samples.empty()) break;
      std::stable_sort(samples.begin(), samples.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      q = samples.front().second;
      elites.clear();
      for (size_t i = 1; i < samples.size() && static_cast<int64_t>(elites.size()) < E; ++i)
        elites.push_back(samples[i].second);
      std::ostringstream line;
      line << "automixq cycle " << cycle << ": best loss " << samples.front().first << " at "
           << maker.bits(q) << " bits";
      out.log.push_back(line.str());
      progress.log(line.str());
      out.completed_iterations = cycle + 1;
      if (on_checkpoint) on_checkpoint(out);
    }
    return out;
  }
  throw InputError("", "unknown search method '" + opt.method + "' (dp, amq, automixq, cmpq)");
}

}  // namespace bitscape
