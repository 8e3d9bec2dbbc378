// The Fisher diagonal and Hutchinson's Hessian traces against independent computations on a tiny
// random decoder: the Fisher entries against central differences of each window's loss (computed
// here in double from the logits), the traces against the exact trace of one module's Hessian
// block (from unit-vector Hessian-vector products, themselves checked against central
// differences of the gradient); and the model's state around the calls.
#include "bitscape/gradient_statistics.h"

#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bitscape/error.h"
#include "bitscape/model.h"
#include "test_util.h"

namespace bitscape {
namespace {

// Weights ~ N(0, 0.2) instead of 0.02: the gradients then stand well above float32 rounding in
// the finite differences.
ModelConfig tiny_config(int64_t blocks = 2) {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.vocab_size = 31;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.num_hidden_layers = blocks;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 8;
  c.max_position_embeddings = 16;
  c.rms_norm_eps = 1e-5;
  c.initializer_range = 0.2;
  return c;
}

at::Tensor random_windows(int64_t n, int64_t t, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return at::randint(31, {n, t}, gen, at::kLong);
}

// Mean next-token cross-entropy of every window, in double from the float32 logits.
std::vector<double> window_losses(const Model& model, const at::Tensor& ids) {
  at::NoGradGuard no_grad;
  const at::Tensor logp = at::log_softmax(model.forward(ids).to(at::kDouble), -1);
  const auto lp = logp.accessor<double, 3>();
  const auto id = ids.accessor<int64_t, 2>();
  std::vector<double> losses;
  for (int64_t b = 0; b < ids.size(0); ++b) {
    double sum = 0.0;
    for (int64_t t = 0; t + 1 < ids.size(1); ++t) sum -= lp[b][t][id[b][t + 1]];
    losses.push_back(sum / static_cast<double>(ids.size(1) - 1));
  }
  return losses;
}

// The mean loss over all windows as a differentiable tensor (gather of the target log-probs).
at::Tensor batch_loss(const Model& model, const at::Tensor& ids) {
  const int64_t T = ids.size(1);
  const at::Tensor logp = at::log_softmax(model.forward(ids).narrow(1, 0, T - 1), -1);
  return -logp.gather(-1, ids.narrow(1, 1, T - 1).unsqueeze(-1)).mean();
}

struct Snapshot {
  std::map<std::string, std::pair<at::Tensor, bool>> params;  // value copy, requires_grad
};

Snapshot snapshot(const Model& model) {
  Snapshot s;
  for (const auto& [name, p] : model.parameters())
    s.params[name] = {p.detach().clone(), p.requires_grad()};
  return s;
}

void expect_unchanged(const Model& model, const Snapshot& before) {
  for (const auto& [name, p] : model.parameters()) {
    const auto& [value, flag] = before.params.at(name);
    EXPECT_EQ(p.requires_grad(), flag) << name;
    EXPECT_FALSE(p.grad().defined()) << name;
    EXPECT_TRUE(at::equal(p.detach(), value)) << name;
  }
}

class RecordingProgress : public ProgressSink {
 public:
  void stage(const std::string& name, int64_t total) override { stages.emplace_back(name, total); }
  void advance(int64_t done) override { advances.push_back(done); }
  std::vector<std::pair<std::string, int64_t>> stages;
  std::vector<int64_t> advances;
};

// Calls `on_first_step` when the first step is reported.
class FirstStepProgress : public ProgressSink {
 public:
  explicit FirstStepProgress(std::function<void()> f) : on_first_step(std::move(f)) {}
  void advance(int64_t done) override {
    if (done == 1) on_first_step();
  }
  std::function<void()> on_first_step;
};

TEST(FisherTest, EqualsMeanSquaredCentralDifferencesOfTheWindowLosses) {
  Model model = Model::random(tiny_config(), 3);
  const at::Tensor ids = random_windows(3, 6, 4);
  NullProgress progress;
  const auto fisher = fisher_diagonal(model, ids, progress, CancelToken());

  const std::vector<std::string> modules = model.linear_modules();
  ASSERT_EQ(fisher.size(), modules.size());
  for (const std::string& m : modules) {
    const at::Tensor& f = fisher.at(m);
    EXPECT_EQ(f.sizes(), model.parameter(m + ".weight").sizes()) << m;
    EXPECT_EQ(f.scalar_type(), at::kFloat);
    EXPECT_TRUE(f.device().is_cpu());
    EXPECT_GE(f.min().item<float>(), 0.0f);
  }

  // Central differences of each window's loss by one weight (float32 weights, eps 1e-2),
  // squared and averaged over the windows.
  const std::vector<std::pair<std::string, std::vector<std::pair<int64_t, int64_t>>>> entries = {
      {"model.layers.0.self_attn.v_proj", {{1, 3}, {5, 10}, {7, 0}}},
      {"model.layers.1.mlp.down_proj", {{0, 5}, {9, 23}, {15, 12}}},
  };
  const float eps = 1e-2f;
  for (const auto& [module, cells] : entries) {
    at::Tensor& w = model.parameter(module + ".weight");
    for (const auto& [r, c] : cells) {
      float* x = w.data_ptr<float>() + r * w.size(1) + c;
      const float original = *x;
      *x = original + eps;
      const float up = *x;
      const std::vector<double> plus = window_losses(model, ids);
      *x = original - eps;
      const float down = *x;
      const std::vector<double> minus = window_losses(model, ids);
      *x = original;
      double expected = 0.0;
      for (size_t n = 0; n < plus.size(); ++n) {
        const double d = (plus[n] - minus[n]) / (static_cast<double>(up) - down);
        expected += d * d / static_cast<double>(plus.size());
      }
      const double ours = fisher.at(module)[r][c].item<double>();
      const double rel = std::abs(ours - expected) / expected;
      std::printf("  %s[%lld,%lld]  fisher %.6e  central differences %.6e  relative error %.2e\n",
                  module.c_str(), static_cast<long long>(r), static_cast<long long>(c), ours,
                  expected, rel);
      EXPECT_GT(expected, 1e-8) << module << " " << r << "," << c;
      EXPECT_LT(rel, 0.02) << module << " " << r << "," << c;
    }
  }
}

TEST(HutchinsonTest, AgreesWithTheExactTraceOfAModuleHessian) {
  Model model = Model::random(tiny_config(1), 5);
  const at::Tensor ids = random_windows(3, 6, 6);
  // On this random model the Hessian is indefinite and one sample's standard deviation is 1.6
  // times |trace| for this module (2.7 times for the k_proj's): 1000 samples then bound the
  // estimate to about 20% of the trace at 4 standard errors.
  const std::string module = "model.layers.0.self_attn.o_proj";
  const at::Tensor W = model.parameter(module + ".weight");  // [16, 16]
  const int64_t n = W.numel();

  // Exact tr(d^2L/dW^2): H_ii from the Hessian-vector product with the unit vector e_i, and
  // independently from central differences of the gradient dL/dW_i.
  double trace_hvp = 0.0, trace_fd = 0.0;
  {
    W.requires_grad_(true);
    const at::Tensor loss = batch_loss(model, ids);
    const at::Tensor g = torch::autograd::grad({loss}, {W}, {}, true, true)[0].reshape({-1});
    for (int64_t i = 0; i < n; ++i) {
      const at::Tensor row = torch::autograd::grad({g[i]}, {W}, {}, true, false)[0];
      trace_hvp += row.reshape({-1})[i].item<double>();
    }
    const float eps = 1e-2f;
    float* x = W.data_ptr<float>();
    for (int64_t i = 0; i < n; ++i) {
      const float original = x[i];
      x[i] = original + eps;
      const double up = x[i];
      const double g_plus =
          torch::autograd::grad({batch_loss(model, ids)}, {W})[0].reshape({-1})[i].item<double>();
      x[i] = original - eps;
      const double down = x[i];
      const double g_minus =
          torch::autograd::grad({batch_loss(model, ids)}, {W})[0].reshape({-1})[i].item<double>();
      x[i] = original;
      trace_fd += (g_plus - g_minus) / (up - down);
    }
    W.requires_grad_(false);
  }
  std::printf("  exact trace %.6f (Hessian-vector products), %.6f (central differences)\n",
              trace_hvp, trace_fd);
  EXPECT_NEAR(trace_hvp, trace_fd, 0.01 * std::abs(trace_fd));

  // Single-sample estimates from different seeds give the spread of one sample.
  NullProgress progress;
  const int64_t singles = 200;
  double sum = 0.0, sum_sq = 0.0;
  for (int64_t s = 0; s < singles; ++s) {
    const double x = hessian_traces(model, ids, 1, 1000 + s, progress, CancelToken()).at(module);
    sum += x;
    sum_sq += x * x;
  }
  const double single_mean = sum / singles;
  const double sd = std::sqrt((sum_sq - singles * single_mean * single_mean) / (singles - 1));

  const int64_t samples = 1000;
  const auto traces = hessian_traces(model, ids, samples, 7, progress, CancelToken());
  ASSERT_EQ(traces.size(), model.linear_modules().size());
  const double estimate = traces.at(module);
  const double se = sd / std::sqrt(static_cast<double>(samples));
  std::printf(
      "  Hutchinson (%lld samples) %.6f  exact %.6f  sample sd %.6f  standard error %.6f"
      "  (%.2f SE);  mean of %lld single samples %.6f\n",
      static_cast<long long>(samples), estimate, trace_hvp, sd, se,
      std::abs(estimate - trace_hvp) / se, static_cast<long long>(singles), single_mean);
  EXPECT_LT(std::abs(estimate - trace_hvp), 4.0 * se);
  EXPECT_LT(std::abs(estimate - trace_hvp), 0.25 * std::abs(trace_hvp));
  EXPECT_LT(std::abs(single_mean - trace_hvp), 4.0 * sd / std::sqrt(static_cast<double>(singles)));
}

TEST(HutchinsonTest, SameSeedGivesIdenticalTracesAndAnotherSeedOthers) {
  Model model = Model::random(tiny_config(), 5);
  const at::Tensor ids = random_windows(2, 6, 8);
  NullProgress progress;
  const auto a = hessian_traces(model, ids, 4, 21, progress, CancelToken());
  const auto b = hessian_traces(model, ids, 4, 21, progress, CancelToken());
  const auto c = hessian_traces(model, ids, 4, 22, progress, CancelToken());
  for (const std::string& m : model.linear_modules()) {
    EXPECT_EQ(a.at(m), b.at(m)) << m;
    EXPECT_NE(a.at(m), c.at(m)) << m;
  }
}

TEST(GradientStatisticsTest, ReportsOneStepPerWindowAndPerSample) {
  Model model = Model::random(tiny_config(1), 1);
  const at::Tensor ids = random_windows(3, 5, 2);
  RecordingProgress fisher_progress, trace_progress;
  fisher_diagonal(model, ids, fisher_progress, CancelToken());
  hessian_traces(model, ids, 4, 1, trace_progress, CancelToken());
  ASSERT_EQ(fisher_progress.stages.size(), 1u);
  EXPECT_EQ(fisher_progress.stages[0], std::make_pair(std::string("fisher"), int64_t(3)));
  EXPECT_EQ(fisher_progress.advances, (std::vector<int64_t>{1, 2, 3}));
  ASSERT_EQ(trace_progress.stages.size(), 1u);
  EXPECT_EQ(trace_progress.stages[0], std::make_pair(std::string("hutchinson"), int64_t(4)));
  EXPECT_EQ(trace_progress.advances, (std::vector<int64_t>{1, 2, 3, 4}));
}

TEST(GradientStatisticsTest, LeavesTheParametersAsTheyWereAndWorksUnderInferenceModeAndNoGrad) {
  Model model = Model::random(tiny_config(), 9);
  const at::Tensor ids = random_windows(2, 6, 10);
  // Mixed flags beforehand: one linear weight and one norm weight already require grad.
  model.parameter("model.layers.1.mlp.up_proj.weight").requires_grad_(true);
  model.parameter("model.norm.weight").requires_grad_(true);
  const Snapshot before = snapshot(model);
  NullProgress progress;

  const auto fisher = fisher_diagonal(model, ids, progress, CancelToken());
  expect_unchanged(model, before);
  const auto traces = hessian_traces(model, ids, 3, 5, progress, CancelToken());
  expect_unchanged(model, before);

  auto expect_same_results = [&](const std::map<std::string, at::Tensor>& f,
                                 const std::map<std::string, double>& t) {
    for (const std::string& m : model.linear_modules()) {
      EXPECT_TRUE(at::allclose(f.at(m), fisher.at(m), 1e-5, 1e-12)) << m;
      EXPECT_NEAR(t.at(m), traces.at(m), 1e-5 * std::abs(traces.at(m)) + 1e-12) << m;
    }
  };
  {
    c10::InferenceMode guard;
    const at::Tensor inference_ids = random_windows(2, 6, 10);  // an inference tensor
    const auto f = fisher_diagonal(model, inference_ids, progress, CancelToken());
    const auto t = hessian_traces(model, inference_ids, 3, 5, progress, CancelToken());
    EXPECT_TRUE(c10::InferenceMode::is_enabled());
    expect_same_results(f, t);
  }
  expect_unchanged(model, before);
  {
    at::NoGradGuard no_grad;
    const auto f = fisher_diagonal(model, ids, progress, CancelToken());
    const auto t = hessian_traces(model, ids, 3, 5, progress, CancelToken());
    EXPECT_FALSE(at::GradMode::is_enabled());
    expect_same_results(f, t);
  }
  expect_unchanged(model, before);
}

TEST(GradientStatisticsTest, CancelledOrFailingRunsThrowAndRestoreTheFlags) {
  Model model = Model::random(tiny_config(1), 2);
  const at::Tensor ids = random_windows(3, 5, 3);
  model.parameter("model.layers.0.self_attn.q_proj.weight").requires_grad_(true);
  const Snapshot before = snapshot(model);

  // Cancelled before the first step.
  CancelToken cancelled;
  cancelled.cancel();
  NullProgress progress;
  EXPECT_THROW(fisher_diagonal(model, ids, progress, cancelled), Cancelled);
  expect_unchanged(model, before);
  EXPECT_THROW(hessian_traces(model, ids, 5, 1, progress, cancelled), Cancelled);
  expect_unchanged(model, before);

  // Cancelled after the first step, while the weights require grad.
  for (int which = 0; which < 2; ++which) {
    CancelToken cancel;
    bool flags_set_during_run = false;
    FirstStepProgress cancel_after_first([&] {
      flags_set_during_run =
          model.parameter("model.layers.0.mlp.down_proj.weight").requires_grad() &&
          !model.parameter("model.norm.weight").requires_grad();
      cancel.cancel();
    });
    if (which == 0)
      EXPECT_THROW(fisher_diagonal(model, ids, cancel_after_first, cancel), Cancelled);
    else
      EXPECT_THROW(hessian_traces(model, ids, 5, 1, cancel_after_first, cancel), Cancelled);
    EXPECT_TRUE(flags_set_during_run);
    expect_unchanged(model, before);
  }

  // Any other exception thrown midway.
  FirstStepProgress failing([] { throw std::runtime_error("sink failed"); });
  EXPECT_THROW(fisher_diagonal(model, ids, failing, CancelToken()), std::runtime_error);
  expect_unchanged(model, before);
  EXPECT_THROW(hessian_traces(model, ids, 5, 1, failing, CancelToken()), std::runtime_error);
  expect_unchanged(model, before);
}

TEST(GradientStatisticsTest, RejectsBadWindowsAndInferenceTensorWeights) {
  Model model = Model::random(tiny_config(1), 2);
  NullProgress progress;
  test::expect_error<std::invalid_argument>(
      [&] { fisher_diagonal(model, random_windows(2, 1, 1), progress, CancelToken()); },
      {"fisher_diagonal", "T >= 2"});
  test::expect_error<std::invalid_argument>(
      [&] {
        hessian_traces(model, at::zeros({2, 4}), 1, 1, progress, CancelToken());
      },
      {"hessian_traces", "integer token ids"});
  test::expect_error<std::invalid_argument>(
      [&] { hessian_traces(model, random_windows(2, 4, 1), 0, 1, progress, CancelToken()); },
      {"samples"});
  Model inference_model = [] {
    c10::InferenceMode guard;
    return Model::random(tiny_config(1), 2);
  }();
  test::expect_error<std::invalid_argument>(
      [&] { fisher_diagonal(inference_model, random_windows(2, 4, 1), progress, CancelToken()); },
      {"inference tensor"});
}

}  // namespace
}  // namespace bitscape
