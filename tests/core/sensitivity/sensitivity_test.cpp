// Saliency maps against direct computation on small matrices, the curve of a module against an
// eval of the model with only that module quantized, KL/JSD against a direct computation on
// small logits, Spearman and TAMMP's Jaccard and grouping on known sets.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>

#include "bitscape/calibration.h"
#include "bitscape/error.h"
#include "bitscape/fidelity.h"
#include "bitscape/model.h"
#include "bitscape/perplexity.h"
#include "bitscape/quantize_job.h"
#include "bitscape/sensitivity.h"
#include "bitscape/sensitivity_result.h"

#include <nlohmann/json.hpp>
#include "test_util.h"

namespace bitscape {
namespace {

TEST(SaliencyTest, EveryMetricEqualsADirectComputation) {
  at::manual_seed(1);
  const int64_t O = 5, I = 7;
  const at::Tensor W = at::randn({O, I});
  const at::Tensor X = at::randn({40, I}).matmul(at::randn({I, I}));
  const at::Tensor H = X.t().matmul(X) * (2.0 / 40);
  SaliencyInputs in;
  in.hessian = H;
  in.act_l2 = X.pow(2).sum(0).sqrt();
  in.fisher = at::rand({O, I});
  in.damp = 0.01;
  // Direct: the inverse of the dampened H in double precision, element by element.
  at::Tensor Hd = H.to(at::kDouble).clone();
  Hd.diagonal().add_(0.01 * Hd.diagonal().mean().item<double>());
  const at::Tensor inv = at::inverse(Hd);
  for (int64_t r = 0; r < O; ++r)
    for (int64_t c = 0; c < I; ++c) {
      const double w = W[r][c].item<double>(), d = inv[c][c].item<double>();
      EXPECT_NEAR(saliency_map(SaliencyMetric::kObs, W, in, "m")[r][c].item<double>(), w * w / d,
                  1e-4 * w * w / d);
      EXPECT_NEAR(saliency_map(SaliencyMetric::kTammp, W, in, "m")[r][c].item<double>(),
                  w * w / (d * d), 1e-4 * w * w / (d * d));
      EXPECT_NEAR(saliency_map(SaliencyMetric::kActivation, W, in, "m")[r][c].item<double>(),
                  std::fabs(w) * in.act_l2[c].item<double>(), 1e-5);
      EXPECT_NEAR(saliency_map(SaliencyMetric::kHessianDiagonal, W, in, "m")[r][c].item<double>(),
                  H[c][c].item<double>() * w * w, 1e-4 * H[c][c].item<double>() * w * w + 1e-7);
    }
  EXPECT_TRUE(at::equal(saliency_map(SaliencyMetric::kFisher, W, in, "m"), in.fisher));
  test::expect_error<InputError>(
      [&] { saliency_map(SaliencyMetric::kObs, W, {}, "model.layers.0.mlp.up_proj"); },
      {"model.layers.0.mlp.up_proj", "obs", "Hessian"});
}

TEST(SaliencyTest, SummariesSumColumnsRowsAndGroupsAndPoolForDisplay) {
  const at::Tensor map = at::arange(6 * 10, at::kFloat).view({6, 10});
  const SaliencySummary s = summarize_saliency(map, SaliencyMetric::kObs, 4, 3, 5);
  EXPECT_EQ(s.rows, 6);
  EXPECT_EQ(s.cols, 10);
  EXPECT_DOUBLE_EQ(s.total, 59.0 * 60 / 2);
  for (int64_t c = 0; c < 10; ++c) EXPECT_FLOAT_EQ(s.column_sum[c], map.select(1, c).sum().item<float>());
  for (int64_t r = 0; r < 6; ++r) EXPECT_FLOAT_EQ(s.row_sum[r], map[r].sum().item<float>());
  ASSERT_EQ(s.groups(), 3);  // columns 0-3, 4-7, 8-9
  EXPECT_FLOAT_EQ(s.group_sum[1 * 3 + 2], map[1][8].item<float>() + map[1][9].item<float>());
  // 6 x 10 pooled to 3 x 5: 2 x 2 blocks.
  ASSERT_EQ(s.pooled_rows, 3);
  ASSERT_EQ(s.pooled_cols, 5);
  EXPECT_FLOAT_EQ(s.pooled_mean[1 * 5 + 2], (map[2][4] + map[2][5] + map[3][4] + map[3][5]).item<float>() / 4);
  EXPECT_FLOAT_EQ(s.pooled_max[1 * 5 + 2], map[3][5].item<float>());
}

TEST(FidelityTest, KlJsdAndTopOneEqualADirectComputation) {
  at::manual_seed(3);
  const at::Tensor ref = at::randn({2, 3, 6}) * 2, q = ref + at::randn({2, 3, 6}) * 0.5;
  const at::Tensor targets = at::randint(6, {2, 3}, at::kLong);
  FidelityAccumulator acc;
  acc.add(ref, q, targets);
  double kl = 0, jsd = 0, nll = 0;
  int64_t agree = 0;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < 3; ++t) {
      const at::Tensor p = at::softmax(ref[b][t].to(at::kDouble), 0), r = at::softmax(q[b][t].to(at::kDouble), 0);
      for (int64_t v = 0; v < 6; ++v) {
        const double pv = p[v].item<double>(), qv = r[v].item<double>(), mv = (pv + qv) / 2;
        kl += pv * std::log(pv / qv);
        jsd += 0.5 * pv * std::log(pv / mv) + 0.5 * qv * std::log(qv / mv);
      }
      nll -= std::log(r[targets[b][t].item<int64_t>()].item<double>());
      agree += p.argmax().item<int64_t>() == r.argmax().item<int64_t>();
    }
  EXPECT_EQ(acc.tokens, 6);
  EXPECT_NEAR(acc.kl(), kl / 6, 1e-6);
  EXPECT_NEAR(acc.jsd(), jsd / 6, 1e-6);
  EXPECT_NEAR(acc.nll(), nll / 6, 1e-6);
  EXPECT_EQ(acc.top1_agree, agree);
  // Against itself: no divergence.
  FidelityAccumulator self;
  self.add(ref, ref, targets);
  EXPECT_NEAR(self.kl(), 0.0, 1e-7);
  EXPECT_NEAR(self.jsd(), 0.0, 1e-7);
  EXPECT_DOUBLE_EQ(self.top1(), 1.0);
}

TEST(SensitivityCurveTest, EachPointEqualsAnEvalWithOnlyThatModuleQuantized) {
  c10::InferenceMode guard;
  const std::string dir = std::string(BITSCAPE_SAMPLE_DIR) + "/model";
  Model model = Model::load(dir);
  const at::Tensor windows = make_windows(
      tokenize_eval_corpus(dir, std::string(BITSCAPE_SAMPLE_DIR) + "/validation.txt"), 64, 6, "v");
  SensitivityInputs in;
  in.eval_windows = windows;
  in.calibration = [](const std::string&) { return ModuleCalibration{}; };
  SensitivityOptions o;
  o.bits = {2, 4};
  o.metrics = {};
  o.trace_samples = 0;
  std::set<std::string> skip;
  const std::vector<std::string> keep = {"model.layers.1.self_attn.v_proj", "model.layers.4.mlp.down_proj"};
  for (const std::string& m : model.linear_modules())
    if (std::find(keep.begin(), keep.end(), m) == keep.end()) skip.insert(m);
  std::vector<SensitivityCurve> curves;
  NullProgress progress;
  const SensitivityBaseline base = run_sensitivity(
      model, in, o, skip, [&](const ModuleSensitivity& r) { curves.push_back(r.curve); }, progress,
      CancelToken());
  ASSERT_EQ(curves.size(), 2u);
  // To float32 precision: two forward passes over the same weights may sum in another order
  // (OpenBLAS picks its kernels by the buffers' alignment); 1e-9 failed in a full-suite run with
  // 1.7e-8. A wrong module or bit-width moves these by 1e-3 or more.
  constexpr double kTol = 1e-7;
  EXPECT_NEAR(base.ppl, evaluate_perplexity(model, windows, progress, CancelToken()).ppl, kTol * base.ppl);
  for (const SensitivityCurve& c : curves)
    for (size_t k = 0; k < c.bits.size(); ++k) {
      Model q = Model::load(dir);
      Allocation alloc;  // only this module, at these bits (RTN, group 128)
      ModuleAllocation m;
      m.bits = c.bits[k];
      alloc.modules[c.module] = m;
      quantize_model(q, alloc, {}, progress, CancelToken());
      const double ppl = evaluate_perplexity(q, windows, progress, CancelToken()).ppl;
      EXPECT_NEAR(c.ppl[k], ppl, kTol * ppl) << c.module << " at " << c.bits[k];
      EXPECT_NEAR(c.delta_ppl[k], ppl - base.ppl, kTol * ppl);
      EXPECT_GT(c.kl[k], 0.0);
      EXPECT_GT(c.jsd[k], 0.0);
      EXPECT_LE(c.jsd[k], std::log(2.0));
    }
  // Two bits hurt more than four.
  for (const SensitivityCurve& c : curves) EXPECT_GT(c.kl[0], c.kl[1]) << c.module;
}

TEST(SensitivityMathTest, SpearmanMatchesHandComputedValues) {
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  // Ranks (1, 2, 3, 4, 5) against (2, 1, 4, 3, 5): 1 - 6 * 4 / (5 * 24) = 0.8.
  EXPECT_NEAR(spearman({1, 2, 3, 4, 5}, {2, 1, 4, 3, 5}), 0.8, 1e-12);
  // Ties get average ranks: (1, 2.5, 2.5, 4) against (1, 2, 3, 4).
  EXPECT_NEAR(spearman({1, 2, 2, 3}, {1, 2, 3, 4}), 0.9486832980505138, 1e-12);
  EXPECT_TRUE(std::isnan(spearman({1, 1, 1}, {1, 2, 3})));
}

TEST(SensitivityMathTest, ConsensusJaccardOnKnownSets) {
  // f: 1->3, 2->2, 3->1, 4->1; p = 2 -> core {1, 2}.
  const std::vector<std::vector<int64_t>> sets = {{1, 2}, {1, 2, 3}, {1, 4}};
  // J1 = 2/2, J2 = 2/3, J3 = 1/3 -> mean 2/3.
  EXPECT_NEAR(consensus_jaccard(sets, 2), 2.0 / 3.0, 1e-12);
  // p = 3 -> core {1}: 1/2, 1/3, 1/2.
  EXPECT_NEAR(consensus_jaccard(sets, 3), (0.5 + 1.0 / 3.0 + 0.5) / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(consensus_jaccard({{5, 6}, {5, 6}}, 2), 1.0);
}

TEST(SensitivityMathTest, TammpGroupingStrategies) {
  const std::vector<std::vector<int64_t>> critical = {{0, 1, 2}, {1, 2, 3}};
  const std::vector<std::vector<int64_t>> non = {{6, 7}, {3, 7}};
  // Strategy 1: critical = {1, 2}; sub = {0, 3}; the rest non-critical.
  EXPECT_EQ(tammp_column_groups(8, critical, non, 1), (std::vector<uint8_t>{1, 2, 2, 1, 0, 0, 0, 0}));
  // Strategy 2: critical = {1, 2}; non = {3, 6, 7}; the rest sub-critical.
  EXPECT_EQ(tammp_column_groups(8, critical, non, 2), (std::vector<uint8_t>{1, 2, 2, 0, 1, 1, 0, 0}));
}

}  // namespace
}  // namespace bitscape

namespace bitscape {
namespace {
// Keeps the live results a job reports (ProgressSink::result).
struct ResultLog : bitscape::ProgressSink {
  std::vector<std::pair<std::string, std::string>> results;
  void result(const std::string& kind, const std::string& json) override { results.emplace_back(kind, json); }
};
}  // namespace

TEST(LiveResultsTest, PerplexityReportsEveryWindowAsItIsScoredAndTheyAddUpToTheResult) {
  c10::InferenceMode guard;
  const std::string dir = std::string(BITSCAPE_SAMPLE_DIR) + "/model";
  Model model = Model::load(dir);
  // 40 windows of 64 tokens: batches of 32, so two reports.
  const at::Tensor windows = make_windows(
      tokenize_eval_corpus(dir, std::string(BITSCAPE_SAMPLE_DIR) + "/validation.txt"), 64, 40, "v");
  ResultLog log;
  const PerplexityResult r = evaluate_perplexity(model, windows, log, CancelToken());
  std::vector<double> live;
  for (const auto& [kind, json] : log.results) {
    ASSERT_EQ(kind, "window_nll");
    const nlohmann::json j = nlohmann::json::parse(json);
    EXPECT_EQ(j.at("first").get<size_t>(), live.size());
    EXPECT_EQ(j.at("windows").get<int64_t>(), r.windows);
    for (const auto& v : j.at("nll")) live.push_back(v.get<double>());
  }
  EXPECT_GE(log.results.size(), 2u);
  ASSERT_EQ(live.size(), r.window_nll.size());
  for (size_t i = 0; i < live.size(); ++i) EXPECT_DOUBLE_EQ(live[i], r.window_nll[i]);  // %.17g: exact
}

TEST(LiveResultsTest, ACurveRoundTripsThroughItsJsonAndBadOnesAreRefused) {
  SensitivityCurve c;
  c.module = "model.layers.3.mlp.down_proj";
  c.bits = {2, 3, 4};
  c.ppl = {40.5, 38.25, 37.125};
  c.delta_ppl = {3.5, 1.25, 0.125};
  c.kl = {0.25, 0.0625, std::nan("")};
  c.objective = {1e3, 2e2, 5e1};
  c.hessian_trace = 12.5;
  const SensitivityCurve d = sensitivity_curve_from_json(sensitivity_curve_json(c));
  EXPECT_EQ(d.module, c.module);
  EXPECT_EQ(d.bits, c.bits);
  EXPECT_EQ(d.ppl, c.ppl);
  EXPECT_EQ(d.delta_ppl, c.delta_ppl);
  ASSERT_EQ(d.kl.size(), 3u);
  EXPECT_DOUBLE_EQ(d.kl[1], 0.0625);
  EXPECT_TRUE(std::isnan(d.kl[2]));
  EXPECT_EQ(d.objective, c.objective);
  EXPECT_TRUE(d.jsd.empty());
  EXPECT_DOUBLE_EQ(d.hessian_trace, 12.5);
  EXPECT_TRUE(std::isnan(d.layer_hessian_trace));
  EXPECT_TRUE(d.complete());
  test::expect_error<InputError>([] { sensitivity_curve_from_json("{\"bits\": [2]}"); }, {"module"});
  test::expect_error<InputError>([] { sensitivity_curve_from_json("{\"module\": \"m\", \"bits\": [2.5]}"); }, {"integer"});
  test::expect_error<InputError>([] { sensitivity_curve_from_json("{\"module\": \"m\", \"bits\": [2], \"kl\": [1, 2]}"); },
                           {"kl"});
  test::expect_error<InputError>([] { sensitivity_curve_from_json("{\"module\": "); }, {"malformed"});
}

}  // namespace bitscape
