// The four search methods behind the one interface (core/src/search/method.h) and the shared
// evaluator (evaluator.h), on the 2-block LLaMA fixture (14 linear modules, hidden 48):
// - the evaluator: a batch measures what single calls measure, the reference predictions equal
//   a plain forward of the unquantized model, weights are restored after every measurement,
//   evaluate_allocation of a cached option equals its genome, the cache is reused from its file;
// - every method: the archive's front is monotone, every point respects its budget, a fixed
//   seed gives the same points, and a run cancelled after a checkpoint and resumed from it
//   gives the points of an uninterrupted run;
// - the registry: every method the CLI and GUI offer has an implementation and a stored code.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <thread>

#include "bitscape/calibration.h"
#include "bitscape/cost_model.h"
#include "bitscape/error.h"
#include "bitscape/fidelity.h"
#include "bitscape/model.h"
#include "bitscape/project.h"
#include "bitscape/search.h"
#include "bitscape/search_methods.h"
#include "bitscape/search_result.h"
#include "bitscape/search_store.h"
#include "search/evaluator.h"
#include "test_util.h"

namespace bitscape {
namespace {

const std::string kModel = std::string(BITSCAPE_FIXTURE_DIR) + "/models/llama";
constexpr int kGroup = 16;

Model tiny() { return Model::load(kModel); }

at::Tensor windows(const Model& m, int64_t n = 4, int64_t len = 32) {
  at::manual_seed(7);
  return at::randint(m.config().vocab_size, {n, len}, at::kLong);
}

// Calibration statistics of the shapes every quantizer reads (channel protection by activation,
// CMPQ's activation norms, k-means weights), from fixed random activations: the searches only
// need them to be deterministic.
ModuleCalibration calibration_of(const Model& model, const std::string& module) {
  const at::Tensor& W = model.parameter(module + ".weight");
  const int64_t in = W.size(1);
  at::manual_seed(static_cast<uint64_t>(std::hash<std::string>()(module) % 100000));
  const at::Tensor X = at::randn({64, in}, at::kFloat);
  ModuleCalibration c;
  c.hessian = 2.0 / 64 * at::matmul(X.t(), X);
  c.hessian_diag = c.hessian.diagonal().clone();
  c.act_abs_mean = X.abs().mean(0);
  c.act_l2 = X.pow(2).sum(0).sqrt();
  c.out_abs_mean = at::matmul(X, W.t()).abs().mean(0);
  return c;
}

double uniform_bits(const Model& model, int bits) {
  ModuleAllocation m;
  m.bits = bits;
  m.group_size = kGroup;
  const auto shapes = module_shapes(model);
  return allocation_cost(Allocation::uniform(shapes, m), shapes, other_parameter_count(model)).average_bits;
}

SearchOptions options_for(const std::string& method, const Model& model) {
  SearchOptions o;
  o.method = method;
  o.group_size = kGroup;
  o.bits = {2, 3, 4};
  o.seed = 3;
  if (method == "dp") {
    o.quantizer = QuantizerKind::kRtn;
    o.budgets = {uniform_bits(model, 2) + 0.3, uniform_bits(model, 3), uniform_bits(model, 3) + 0.6,
                 uniform_bits(model, 4)};
    // Measured-looking curves: a module's KL halves per bit, modules differ by a factor.
    int i = 0;
    for (const std::string& m : model.linear_modules()) {
      SensitivityCurve c;
      c.module = m;
      c.bits = {2, 3, 4};
      for (int b : c.bits) {
        const double kl = (1.0 + (i * 7) % 5) * std::pow(0.5, b);
        c.kl.push_back(kl);
        c.delta_ppl.push_back(10 * kl);
        c.ppl.push_back(1 + 10 * kl);
      }
      ++i;
      o.curves.push_back(c);
    }
  } else if (method == "amq") {
    o.quantizer = QuantizerKind::kHqq;
    o.budget_lo = uniform_bits(model, 2);
    o.budget_hi = uniform_bits(model, 4);
    o.amq_doe = 20;
    o.amq_iterations = 3;
    o.amq_candidates = 4;
    o.amq_population = 24;
    o.amq_generations = 5;
    o.amq_subset_population = 20;
    o.amq_subset_generations = 10;
  } else if (method == "automixq") {
    o.quantizer = QuantizerKind::kRtn;
    o.budget_lo = uniform_bits(model, 3);
    o.automixq_samples = 4;
    o.automixq_elites = 2;
    o.automixq_step = 3;
  } else if (method == "cmpq") {
    o.budgets = {2.0, 3.0, 4.0};
  }
  return o;
}

struct SearchRun {
  SearchOutcome outcome;
  std::vector<SearchOutcome> checkpoints;
};

// Runs a search; with cancel_after > 0, cancels the run once that many checkpoints were taken and
// resumes it from the last one, as run_search_job does (the points of completed iterations).
SearchRun search(const std::string& method, int cancel_after = 0, uint64_t seed = 3) {
  Model model = tiny();
  SearchOptions o = options_for(method, model);
  o.seed = seed;
  SearchInputs in;
  in.eval_windows = windows(model);
  in.calibration = [&](const std::string& m) { return calibration_of(model, m); };
  NullProgress progress;
  SearchRun run;
  CancelToken cancel;
  auto on_checkpoint = [&](const SearchOutcome& s) {
    run.checkpoints.push_back(s);
    if (cancel_after > 0 && static_cast<int>(run.checkpoints.size()) == cancel_after) cancel.cancel();
  };
  if (cancel_after == 0) {
    run.outcome = run_search(model, in, o, {}, {}, on_checkpoint, progress, cancel);
    return run;
  }
  bool cancelled = false;
  try {
    run_search(model, in, o, {}, {}, on_checkpoint, progress, cancel);
  } catch (const Cancelled&) {
    cancelled = true;
  }
  EXPECT_TRUE(cancelled) << method << " ran to its end before its checkpoint " << cancel_after;
  EXPECT_GE(run.checkpoints.size(), static_cast<size_t>(cancel_after));
  const SearchOutcome& last = run.checkpoints.at(static_cast<size_t>(cancel_after) - 1);
  SearchState state;
  for (const SearchPoint& p : last.points)
    if (p.iteration < last.completed_iterations) state.points.push_back(p);
  state.completed_iterations = last.completed_iterations;
  state.pinned = last.pinned;
  CancelToken fresh;
  run.outcome = run_search(model, in, o, state, {}, {}, progress, fresh);
  return run;
}

void expect_same_points(const std::vector<SearchPoint>& a, const std::vector<SearchPoint>& b,
                        const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(what + ", point " + std::to_string(i));
    EXPECT_EQ(a[i].method, b[i].method);
    EXPECT_EQ(a[i].index, b[i].index);
    EXPECT_EQ(a[i].iteration, b[i].iteration);
    EXPECT_EQ(a[i].genes, b[i].genes);
    EXPECT_DOUBLE_EQ(a[i].average_bits, b[i].average_bits);
    EXPECT_NEAR(a[i].kl, b[i].kl, 1e-12 + 1e-9 * std::abs(a[i].kl));
    EXPECT_NEAR(a[i].ppl, b[i].ppl, 1e-9 * a[i].ppl);
    if (std::isnan(a[i].loss)) {
      EXPECT_TRUE(std::isnan(b[i].loss));
    } else {
      EXPECT_NEAR(a[i].loss, b[i].loss, 1e-12 + 1e-9 * std::abs(a[i].loss));
    }
  }
}

// --- the evaluator ------------------------------------------------------------------------------

TEST(SearchEvaluatorTest, ABatchMeasuresWhatSingleCallsMeasureAndRestoresTheWeights) {
  Model model = tiny();
  const at::Tensor ids = windows(model);
  CancelToken cancel;
  NullProgress progress;
  std::vector<ModuleAllocation> options(3);
  for (int k = 0; k < 3; ++k) {
    options[k].bits = 2 + k;
    options[k].group_size = kGroup;
    options[k].quantizer = QuantizerKind::kRtn;
  }
  const auto modules = model.linear_modules();
  at::Tensor before;
  {
    c10::InferenceMode guard;
    before = model.forward(ids);
  }
  auto reference = std::make_shared<const ReferencePredictions>(model, ids, 1.0, cancel);
  auto cache = std::make_shared<const OptionCache>(model, modules, options, nullptr, "", progress, cancel);
  Evaluator ev(model, reference, cache, nullptr, cancel);

  // The unquantized model against itself: no divergence, its own perplexity.
  EXPECT_NEAR(reference->baseline().kl(), 0.0, 1e-6);
  EXPECT_DOUBLE_EQ(reference->baseline().top1(), 1.0);
  {
    FidelityAccumulator plain;
    c10::InferenceMode guard;
    const at::Tensor logits = model.forward(ids);
    plain.add(logits.slice(1, 0, -1), logits.slice(1, 0, -1), ids.slice(1, 1));
    EXPECT_NEAR(reference->baseline().ppl(), plain.ppl(), 1e-4 * plain.ppl());
  }

  std::vector<std::vector<int>> genomes = {std::vector<int>(modules.size(), 0),
                                           std::vector<int>(modules.size(), 2),
                                           std::vector<int>(modules.size(), 1)};
  genomes[2][3] = 0;
  std::vector<size_t> order;
  const std::vector<FidelityAccumulator> batch =
      ev.evaluate_batch(genomes, [&](size_t k, const FidelityAccumulator&) { order.push_back(k); });
  EXPECT_EQ(order, (std::vector<size_t>{0, 1, 2}));
  ASSERT_EQ(batch.size(), 3u);
  for (size_t k = 0; k < genomes.size(); ++k) {
    const FidelityAccumulator one = ev.evaluate(genomes[k]);
    EXPECT_DOUBLE_EQ(one.kl(), batch[k].kl()) << k;
    EXPECT_DOUBLE_EQ(one.ppl(), batch[k].ppl()) << k;
  }
  // Fewer bits, more divergence.
  EXPECT_GT(batch[0].kl(), batch[2].kl());
  EXPECT_GT(batch[2].kl(), batch[1].kl());
  EXPECT_GT(batch[1].kl(), 0.0);

  // A uniform allocation quantized directly measures what its cached genome measures.
  Allocation a;
  for (const std::string& m : modules) a.modules[m] = options[1];
  EXPECT_NEAR(ev.evaluate_allocation(a).kl(), ev.evaluate(std::vector<int>(modules.size(), 1)).kl(),
              1e-9);

  // The model is the unquantized one again.
  c10::InferenceMode guard;
  EXPECT_TRUE(at::equal(model.forward(ids), before));
}

TEST(SearchEvaluatorTest, TheOptionCacheIsReadBackFromItsFileAndRebuiltForOtherOptions) {
  const std::string dir = test::scratch_dir();
  Model model = tiny();
  CancelToken cancel;
  NullProgress progress;
  std::vector<ModuleAllocation> options(2);
  options[0].bits = 2;
  options[1].bits = 4;
  for (auto& o : options) {
    o.group_size = kGroup;
    o.quantizer = QuantizerKind::kRtn;
  }
  const auto modules = model.linear_modules();
  const std::string path = dir + "/cache.safetensors";
  const OptionCache built(model, modules, options, nullptr, path, progress, cancel);
  ASSERT_TRUE(std::filesystem::exists(path));
  const auto written = std::filesystem::last_write_time(path);
  const OptionCache read(model, modules, options, nullptr, path, progress, cancel);
  EXPECT_EQ(std::filesystem::last_write_time(path), written);  // reused, not rewritten
  for (size_t i = 0; i < modules.size(); ++i)
    for (int k = 0; k < 2; ++k) EXPECT_TRUE(at::equal(built.weight(i, k), read.weight(i, k)));
  // Other options: the file is stale and rebuilt.
  options[1].bits = 3;
  const OptionCache other(model, modules, options, nullptr, path, progress, cancel);
  EXPECT_FALSE(at::equal(other.weight(0, 1), built.weight(0, 1)));
  // Concurrent readers see the same tensors.
  std::vector<std::thread> readers;
  std::vector<int> same(4, 0);
  for (int t = 0; t < 4; ++t)
    readers.emplace_back([&, t] {
      for (size_t i = 0; i < modules.size(); ++i) same[t] += at::equal(other.weight(i, 0), built.weight(i, 0));
    });
  for (auto& r : readers) r.join();
  for (int s : same) EXPECT_EQ(s, static_cast<int>(modules.size()));
  EXPECT_THROW(other.weight(0, 2), InputError);
}

TEST(SearchEvaluatorTest, TheReferencePredictionsAreStoredAndReadBackForTheSameWindowsOnly) {
  const std::string dir = test::scratch_dir();
  Model model = tiny();
  const at::Tensor ids = windows(model, 6, 24);  // 6 windows in batches of batch_size(24)
  CancelToken cancel;
  const std::string path = dir + "/reference.safetensors";
  const ReferencePredictions computed(model, ids, 1.0, cancel, path, "model A");
  EXPECT_FALSE(computed.read_from_file());
  ASSERT_TRUE(std::filesystem::exists(path));
  const auto written = std::filesystem::last_write_time(path);
  // Read back (AutoMixQ's temperature only changes the comparison, not the stored states).
  const ReferencePredictions read(model, ids, 2.0, cancel, path, "model A");
  EXPECT_TRUE(read.read_from_file());
  EXPECT_EQ(std::filesystem::last_write_time(path), written);
  const ReferencePredictions in_memory(model, ids, 2.0, cancel);
  EXPECT_DOUBLE_EQ(read.baseline().ppl(), in_memory.baseline().ppl());
  // A quantized model measures the same against the stored and the computed reference.
  Model q = tiny();
  for (const std::string& m : q.linear_modules()) {
    ModuleAllocation a;
    a.bits = 2;
    a.group_size = kGroup;
    const at::Tensor W = q.parameter(m + ".weight");
    q.set_parameter(m + ".weight", quantize_module(W, a, {}, m).weight);
  }
  const FidelityAccumulator x = read.measure(q, cancel), y = in_memory.measure(q, cancel);
  EXPECT_GT(y.kl(), 0.0);
  EXPECT_DOUBLE_EQ(x.kl(), y.kl());
  EXPECT_DOUBLE_EQ(x.kl_t(), y.kl_t());
  EXPECT_DOUBLE_EQ(x.ppl(), y.ppl());
  // Other windows, another model identity or a damaged file: computed again (and rewritten).
  const ReferencePredictions other_windows(model, windows(model, 5, 24), 1.0, cancel, path, "model A");
  EXPECT_FALSE(other_windows.read_from_file());
  const ReferencePredictions back(model, ids, 1.0, cancel, path, "model A");
  EXPECT_FALSE(back.read_from_file());  // the file now holds the 5 windows
  EXPECT_TRUE(ReferencePredictions(model, ids, 1.0, cancel, path, "model A").read_from_file());
  EXPECT_FALSE(ReferencePredictions(model, ids, 1.0, cancel, path, "model B").read_from_file());
  test::write_file(path, "not a safetensors file");
  const ReferencePredictions damaged(model, ids, 1.0, cancel, path, "model A");
  EXPECT_FALSE(damaged.read_from_file());
  EXPECT_DOUBLE_EQ(damaged.baseline().ppl(), in_memory.baseline().ppl());
  EXPECT_TRUE(ReferencePredictions(model, ids, 1.0, cancel, path, "model A").read_from_file());
}

// --- every method -------------------------------------------------------------------------------

class SearchMethodTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SearchMethodTest, TheFrontIsMonotoneAndEveryPointRespectsItsBudget) {
  const std::string method = GetParam();
  const SearchRun run = search(method);
  const SearchOutcome& out = run.outcome;
  Model model = tiny();
  const SearchOptions o = with_default_budgets(options_for(method, model));
  int measured = 0;
  for (const SearchPoint& p : out.points) {
    SCOPED_TRACE(method + " point " + std::to_string(p.index));
    EXPECT_TRUE(p.method == method || (p.method == "uniform" && p.iteration == -1));
    EXPECT_TRUE(std::isfinite(p.kl) && p.kl >= 0);
    EXPECT_TRUE(std::isfinite(p.ppl) && p.ppl > 1);
    if (p.method == "uniform") continue;
    ++measured;
    ASSERT_EQ(p.genes.size(), out.modules.size());
    if (method == "dp" || method == "cmpq") {
      ASSERT_GE(p.iteration, 0);
      ASSERT_LT(p.iteration, static_cast<int>(o.budgets.size()));
      if (method == "dp") {
        EXPECT_LE(p.average_bits, o.budgets[p.iteration] + 1e-6);
      } else {
        EXPECT_NEAR(p.code_bits, o.budgets[p.iteration], 0.3);
      }
    } else if (method == "amq" && p.iteration > 0) {
      EXPECT_GE(p.average_bits, o.budget_lo - 1e-9);
      EXPECT_LE(p.average_bits, o.budget_hi + 1e-9);
    }
  }
  EXPECT_GE(measured, 3) << method;
  // Along the front, more bits always buy less divergence.
  ParetoArchive archive(ParetoArchive::Objective::kKl);
  for (const SearchPoint& p : out.points) archive.add(p);
  const std::vector<size_t> front = archive.front();
  ASSERT_GE(front.size(), 2u);
  for (size_t i = 1; i < front.size(); ++i) {
    EXPECT_GT(out.points[front[i]].average_bits, out.points[front[i - 1]].average_bits);
    EXPECT_LT(out.points[front[i]].kl, out.points[front[i - 1]].kl);
  }
  // Method by method, where more budget must mean more bits and no worse prediction.
  if (method == "dp" || method == "cmpq") {
    std::vector<const SearchPoint*> by_budget;
    for (const SearchPoint& p : out.points)
      if (p.method == method) by_budget.push_back(&p);
    for (size_t i = 1; i < by_budget.size(); ++i) {
      EXPECT_GT(by_budget[i]->iteration, by_budget[i - 1]->iteration);
      EXPECT_GE(by_budget[i]->average_bits, by_budget[i - 1]->average_bits - 1e-9);
      if (method == "dp") {
        EXPECT_LE(by_budget[i]->predicted, by_budget[i - 1]->predicted + 1e-12);
      }
    }
  }
  if (method == "automixq") {
    // Each cycle's best configuration has fewer bits than the one it started from.
    std::map<int, double> best_bits, best_loss;
    for (const SearchPoint& p : out.points) {
      if (p.method != method) continue;
      if (!best_loss.count(p.iteration) || p.loss < best_loss[p.iteration]) {
        best_loss[p.iteration] = p.loss;
        best_bits[p.iteration] = p.average_bits;
      }
    }
    ASSERT_GE(best_bits.size(), 2u);
    for (auto it = std::next(best_bits.begin()); it != best_bits.end(); ++it)
      EXPECT_LT(it->second, std::prev(it)->second);
  }
}

TEST_P(SearchMethodTest, AFixedSeedGivesTheSamePoints) {
  const std::string method = GetParam();
  const SearchRun a = search(method), b = search(method);
  expect_same_points(a.outcome.points, b.outcome.points, method);
  EXPECT_EQ(a.outcome.pinned, b.outcome.pinned);
  if (method == "amq" || method == "automixq") {
    // ... and the seed is what decides them.
    const SearchRun c = search(method, 0, 11);
    bool differ = c.outcome.points.size() != a.outcome.points.size();
    for (size_t i = 0; !differ && i < c.outcome.points.size(); ++i)
      differ = c.outcome.points[i].genes != a.outcome.points[i].genes;
    EXPECT_TRUE(differ) << method << ": another seed drew the same candidates";
  }
}

TEST_P(SearchMethodTest, ARunResumedFromACheckpointGivesThePointsOfAnUninterruptedOne) {
  const std::string method = GetParam();
  const SearchRun whole = search(method);
  ASSERT_GE(whole.checkpoints.size(), 2u) << method;
  // Cancelled after the first checkpoint and, where there are several more, in the middle.
  for (int after : {1, static_cast<int>(whole.checkpoints.size()) / 2 + 1}) {
    if (after >= static_cast<int>(whole.checkpoints.size())) continue;
    const SearchRun resumed = search(method, after);
    expect_same_points(whole.outcome.points, resumed.outcome.points,
                       method + " resumed after checkpoint " + std::to_string(after));
    EXPECT_EQ(whole.outcome.completed_iterations, resumed.outcome.completed_iterations);
    EXPECT_EQ(whole.outcome.pinned, resumed.outcome.pinned);
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, SearchMethodTest, ::testing::Values("dp", "amq", "automixq", "cmpq"),
                         [](const auto& info) { return info.param; });

// --- the registry -------------------------------------------------------------------------------

TEST(SearchRegistryTest, EveryRegisteredMethodIsTestedRunsAndIsNamedInMessages) {
  std::vector<std::string> names;
  for (const SearchMethodInfo& m : search_methods()) {
    names.push_back(m.name);
    EXPECT_FALSE(m.title.empty());
    EXPECT_FALSE(m.default_quantizer.empty());
    EXPECT_TRUE(parse_quantizer(m.default_quantizer)) << m.default_quantizer;
    EXPECT_EQ(find_search_method(m.name), &m);
    EXPECT_NE(search_method_names().find(m.name), std::string::npos);
  }
  // The parametrised tests above cover exactly the registered methods.
  EXPECT_EQ(names, (std::vector<std::string>{"dp", "amq", "automixq", "cmpq"}));
  EXPECT_EQ(find_search_method("uniform"), nullptr);
  EXPECT_EQ(search_method_names(), "dp, amq, automixq or cmpq");
  Model model = tiny();
  SearchOptions o = options_for("amq", model);
  o.method = "annealing";
  SearchInputs in;
  in.eval_windows = windows(model);
  NullProgress progress;
  CancelToken cancel;
  test::expect_error<InputError>([&] { run_search(model, in, o, {}, {}, {}, progress, cancel); },
                                 {"unknown search method 'annealing'", "dp, amq, automixq or cmpq"});
}

TEST(SearchRegistryTest, PointsOfEveryRegisteredMethodAreStoredAndReadBackAsThatMethod) {
  if (!project_support_available()) GTEST_SKIP() << "built without HDF5";
  const std::string path = test::scratch_dir() + "/p.bsproj.h5";
  {
    auto w = ProjectWriter::create(path);
    for (const SearchMethodInfo& m : search_methods()) {
      SearchRunRecord r;
      r.name = "run_" + m.name;
      r.method = m.name;
      r.status = "complete";
      SearchPoint base, point;
      base.method = "uniform";
      point.method = m.name;
      point.index = 1;
      point.iteration = 0;
      point.genes = {1, 0};
      r.points = {base, point};
      write_search_run(w, r);
    }
    w.commit();
  }
  const ProjectReader reader = ProjectReader::open(path);
  for (const SearchMethodInfo& m : search_methods()) {
    const SearchRunRecord r = read_search_run(reader, "run_" + m.name);
    EXPECT_EQ(r.method, m.name);
    ASSERT_EQ(r.points.size(), 2u);
    EXPECT_EQ(r.points[0].method, "uniform");
    EXPECT_EQ(r.points[1].method, m.name);
  }
  // A method the format does not know is never stored as something else.
  auto w = ProjectWriter::update(path);
  SearchRunRecord r;
  r.name = "run_new";
  r.method = "annealing";
  SearchPoint p;
  p.method = "annealing";
  r.points = {p};
  EXPECT_THROW(write_search_run(w, r), std::logic_error);
}

}  // namespace
}  // namespace bitscape
