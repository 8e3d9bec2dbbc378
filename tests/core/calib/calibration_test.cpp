// Calibration against a direct computation: the inputs of every linear module are captured with
// the decoder's hook and H = 2/N X^T X, the activation and output statistics are computed from
// them independently of the calibration code.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "bitscape/calibration.h"
#include "bitscape/error.h"
#include "bitscape/model.h"
#include "test_util.h"

namespace bitscape {
namespace {

ModelConfig tiny_config() {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.vocab_size = 97;
  c.hidden_size = 64;
  c.intermediate_size = 96;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.max_position_embeddings = 32;
  c.rms_norm_eps = 1e-5;
  return c;
}

// Inputs of every linear module of `block` for hidden states `h`, concatenated over windows.
std::map<std::string, at::Tensor> captured_inputs(const Model& model, int64_t block,
                                                  const at::Tensor& h) {
  std::map<std::string, at::Tensor> x;
  model.run_block(block, h, [&](const std::string& name, const at::Tensor& in) {
    x[name] = in.reshape({-1, in.size(-1)}).to(at::kDouble);
  });
  return x;
}

at::Tensor as_tensor(const std::vector<float>& v) { return at::tensor(v, at::kFloat).to(at::kDouble); }

TEST(CalibrationTest, StatisticsEqualADirectComputationOnTheCapturedInputs) {
  c10::InferenceMode guard;
  Model model = Model::random(tiny_config(), 1);
  at::manual_seed(2);
  const at::Tensor ids = at::randint(97, {5, 12}, at::kLong);
  std::vector<BlockCalibration> blocks;
  NullProgress progress;
  run_calibration(model, ids, true,
                  [&](BlockCalibration& bc) -> std::map<std::string, at::Tensor> {
                    blocks.push_back(bc);
                    return {};
                  },
                  progress, CancelToken());
  ASSERT_EQ(blocks.size(), 2u);

  at::Tensor h = model.embed(ids);
  for (int64_t b = 0; b < 2; ++b) {
    const auto x = captured_inputs(model, b, h);
    const BlockCalibration& bc = blocks[static_cast<size_t>(b)];
    ASSERT_EQ(bc.hessians.size(), 4u);  // q/k/v, o, gate/up, down
    EXPECT_EQ(bc.hessians[0].modules.size(), 3u);
    EXPECT_EQ(bc.hessians[2].modules.size(), 2u);
    for (const HessianData& hd : bc.hessians) {
      const at::Tensor X = x.at(hd.modules.front());
      const double N = static_cast<double>(X.size(0));
      EXPECT_EQ(hd.tokens, 60);
      const at::Tensor H = X.t().matmul(X) * (2.0 / N);
      const at::Tensor ours = at::tensor(hd.full(), at::kFloat).view({hd.n, hd.n}).to(at::kDouble);
      EXPECT_TRUE(at::allclose(ours, H, 1e-4, 1e-5)) << hd.key;
      EXPECT_TRUE(at::allclose(as_tensor(hd.diag), H.diagonal(), 1e-4, 1e-5)) << hd.key;
    }
    for (const ModuleStatistics& s : bc.modules) {
      const at::Tensor X = x.at(s.name);
      const double N = static_cast<double>(X.size(0));
      EXPECT_TRUE(at::allclose(as_tensor(s.act_abs_mean), X.abs().mean(0), 1e-4, 1e-6)) << s.name;
      EXPECT_TRUE(at::allclose(as_tensor(s.act_abs_max), std::get<0>(X.abs().max(0)), 1e-5, 1e-6));
      EXPECT_TRUE(at::allclose(as_tensor(s.act_l2), X.pow(2).sum(0).sqrt(), 1e-4, 1e-6));
      const at::Tensor W = model.parameter(s.name + ".weight").to(at::kDouble);
      const at::Tensor Y = X.matmul(W.t());
      EXPECT_TRUE(at::allclose(as_tensor(s.out_abs_mean), Y.abs().mean(0), 1e-4, 1e-6)) << s.name;
      EXPECT_TRUE(at::allclose(as_tensor(s.out_abs_max), std::get<0>(Y.abs().max(0)), 1e-4, 1e-6));
      EXPECT_TRUE(at::allclose(as_tensor(s.out_mean), Y.mean(0), 1e-4, 1e-6));
      EXPECT_TRUE(at::allclose(as_tensor(s.out_std), Y.std(0, /*unbiased=*/false), 1e-3, 1e-5));
      EXPECT_TRUE(at::allclose(as_tensor(s.weight_row_norm), W.norm(2, 1), 1e-5, 1e-7));
      EXPECT_NEAR(s.weight_std, W.std(/*unbiased=*/false).item<double>(), 1e-7);
      EXPECT_EQ(s.tokens, static_cast<int64_t>(N));
    }
    h = model.run_block(b, h);
  }
}

TEST(CalibrationTest, SequentialModeMeasuresEachBlockOnTheQuantizedBlocksOutputs) {
  c10::InferenceMode guard;
  Model model = Model::random(tiny_config(), 3);
  const Model reference = Model::random(tiny_config(), 3);
  at::manual_seed(4);
  const at::Tensor ids = at::randint(97, {3, 10}, at::kLong);
  std::vector<BlockCalibration> blocks;
  std::map<std::string, at::Tensor> replaced;
  NullProgress progress;
  run_calibration(model, ids, true,
                  [&](BlockCalibration& bc) -> std::map<std::string, at::Tensor> {
                    blocks.push_back(bc);
                    std::map<std::string, at::Tensor> out;
                    if (bc.block == 0)
                      for (const ModuleStatistics& s : bc.modules)
                        out[s.name] = model.parameter(s.name + ".weight") * 0.5;
                    replaced.insert(out.begin(), out.end());
                    return out;
                  },
                  progress, CancelToken());
  // The model now holds block 0's replaced weights; block 1 must have been measured on them.
  at::Tensor h = model.run_block(0, model.embed(ids));
  const auto x = captured_inputs(model, 1, h);
  const at::Tensor X = x.at("model.layers.1.mlp.down_proj");
  const at::Tensor H = X.t().matmul(X) * (2.0 / X.size(0));
  const HessianData& hd = blocks[1].hessians[3];
  EXPECT_TRUE(at::allclose(at::tensor(hd.full(), at::kFloat).view({hd.n, hd.n}).to(at::kDouble), H,
                           1e-4, 1e-5));
  // ... and not on the original model's outputs.
  const auto x_ref = captured_inputs(reference, 1, reference.run_block(0, reference.embed(ids)));
  EXPECT_FALSE(at::allclose(x_ref.at("model.layers.1.mlp.down_proj"), X, 1e-3, 1e-4));
}

TEST(CalibrationTest, DiagonalModeStoresOnlyTheDiagonal) {
  c10::InferenceMode guard;
  Model model = Model::random(tiny_config(), 5);
  const at::Tensor ids = at::randint(97, {2, 8}, at::kLong);
  std::vector<BlockCalibration> full, diag;
  NullProgress progress;
  auto keep = [](std::vector<BlockCalibration>& into) {
    return [&into](BlockCalibration& bc) -> std::map<std::string, at::Tensor> {
      into.push_back(bc);
      return {};
    };
  };
  run_calibration(model, ids, true, keep(full), progress, CancelToken());
  run_calibration(model, ids, false, keep(diag), progress, CancelToken());
  for (size_t b = 0; b < 2; ++b)
    for (size_t g = 0; g < 4; ++g) {
      EXPECT_FALSE(diag[b].hessians[g].has_full());
      EXPECT_TRUE(full[b].hessians[g].has_full());
      EXPECT_TRUE(at::allclose(at::tensor(diag[b].hessians[g].diag), at::tensor(full[b].hessians[g].diag)));
    }
}

TEST(CalibrationTest, CancellingStopsBetweenBatches) {
  Model model = Model::random(tiny_config(), 6);
  const at::Tensor ids = at::randint(97, {2, 8}, at::kLong);
  CancelToken cancel;
  cancel.cancel();
  NullProgress progress;
  EXPECT_THROW(run_calibration(model, ids, true, nullptr, progress, cancel), Cancelled);
}

TEST(CalibrationWindowsTest, DrawnReproduciblyFromTheSeedInsideTheCorpus) {
  std::vector<int32_t> tokens(1000);
  for (int i = 0; i < 1000; ++i) tokens[static_cast<size_t>(i)] = i;
  const CalibrationWindows a = draw_calibration_windows(tokens, 16, 50, 7, "c.txt");
  const CalibrationWindows b = draw_calibration_windows(tokens, 16, 50, 7, "c.txt");
  const CalibrationWindows c = draw_calibration_windows(tokens, 16, 50, 8, "c.txt");
  EXPECT_EQ(a.starts, b.starts);
  EXPECT_NE(a.starts, c.starts);
  ASSERT_EQ(a.ids.sizes(), (std::vector<int64_t>{16, 50}));
  for (size_t s = 0; s < 16; ++s) {
    EXPECT_GE(a.starts[s], 0);
    EXPECT_LE(a.starts[s], 950);
    // Window s holds the consecutive tokens from its start.
    EXPECT_EQ(a.ids[static_cast<int64_t>(s)][0].item<int64_t>(), a.starts[s]);
    EXPECT_EQ(a.ids[static_cast<int64_t>(s)][49].item<int64_t>(), a.starts[s] + 49);
  }
}

TEST(CalibrationWindowsTest, ACorpusNotLongerThanOneWindowIsAnInputErrorNamingIt) {
  const std::vector<int32_t> tokens(50, 1);
  test::expect_error<InputError>([&] { draw_calibration_windows(tokens, 4, 50, 0, "short.txt"); },
                                 {"short.txt", "50 tokens", "window of 50"});
}

TEST(CalibrationTest, MappedWeightsGiveTheSameHessiansAsCopiedOnes) {
  c10::InferenceMode guard;
  const std::string dir = std::string(BITSCAPE_SAMPLE_DIR) + "/model";
  Model copied = Model::load(dir);
  LoadOptions o;
  o.mapped = true;
  Model mapped = Model::load(dir, o);
  at::manual_seed(9);
  const at::Tensor ids = at::randint(4096, {2, 32}, at::kLong);
  std::vector<BlockCalibration> a, b;
  NullProgress progress;
  run_calibration(copied, ids, true, [&](BlockCalibration& bc) -> std::map<std::string, at::Tensor> {
    a.push_back(bc);
    return {};
  }, progress, CancelToken());
  run_calibration(mapped, ids, true, [&](BlockCalibration& bc) -> std::map<std::string, at::Tensor> {
    b.push_back(bc);
    return {};
  }, progress, CancelToken());
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t g = 0; g < a[i].hessians.size(); ++g)
      EXPECT_EQ(a[i].hessians[g].upper, b[i].hessians[g].upper);
}

}  // namespace
}  // namespace bitscape
