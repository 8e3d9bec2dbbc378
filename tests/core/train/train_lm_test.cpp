#include "bitscape/train.h"

#include <gtest/gtest.h>

#include <cmath>

#include "bitscape/model.h"

namespace {

bitscape::ModelConfig tiny_config() {
  bitscape::ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.vocab_size = 32;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.max_position_embeddings = 64;
  c.rms_norm_eps = 1e-5;
  c.tie_word_embeddings = true;
  return c;
}

}  // namespace

TEST(TrainLmTest, LearnsADeterministicSequenceAndKeepsWeightsFrozenAfterwards) {
  // A periodic stream (0, 1, ..., 15, 0, 1, ...) is predictable from one token of context:
  // the validation loss must fall from ~ln(32) to well under 1 nat.
  std::vector<int32_t> tokens;
  for (int i = 0; i < 4000; ++i) tokens.push_back(i % 16);
  bitscape::Model model = bitscape::Model::random(tiny_config(), 3);
  bitscape::TrainOptions o;
  o.seqlen = 32;
  o.batch_size = 8;
  o.steps = 80;
  o.warmup_steps = 10;
  o.lr = 1e-2;
  o.eval_every = 40;
  o.eval_windows = 4;
  bitscape::NullProgress progress;
  bitscape::TrainResult r = bitscape::train_lm(model, tokens, tokens, o, progress, {});
  ASSERT_EQ(r.steps_done, 80);
  ASSERT_GE(r.val_loss.size(), 2u);
  EXPECT_EQ(r.tokens_seen, 80 * 8 * 32);
  EXPECT_LT(r.val_loss.back().second, 0.5);
  EXPECT_LT(r.val_loss.back().second, r.val_loss.front().second);
  for (const auto& [name, p] : model.parameters()) EXPECT_FALSE(p.requires_grad()) << name;
}

TEST(TrainLmTest, CancelStopsBeforeTheFirstStep) {
  std::vector<int32_t> tokens(2000, 1);
  bitscape::Model model = bitscape::Model::random(tiny_config(), 3);
  const at::Tensor before = model.parameter("model.layers.0.mlp.up_proj.weight").clone();
  bitscape::CancelToken cancel;
  cancel.cancel();
  bitscape::NullProgress progress;
  bitscape::TrainOptions o;
  o.seqlen = 16;
  o.steps = 5;
  bitscape::TrainResult r = bitscape::train_lm(model, tokens, {}, o, progress, cancel);
  EXPECT_EQ(r.steps_done, 0);
  EXPECT_TRUE(at::equal(before, model.parameter("model.layers.0.mlp.up_proj.weight")));
}

TEST(TrainLmTest, MixedPrecisionTracksFp32TrainingAndKeepsFp32Weights) {
  // bf16 compute on casts of fp32 master weights: the same seeded run as in fp32 must learn
  // the same sequence, its weights must stay fp32, and they must stay close to the fp32 run's
  // (bf16 rounds activations to 8 mantissa bits, so not equal).
  std::vector<int32_t> tokens;
  for (int i = 0; i < 4000; ++i) tokens.push_back((i * 7) % 16);
  bitscape::TrainOptions o;
  o.seqlen = 32;
  o.batch_size = 8;
  o.steps = 60;
  o.warmup_steps = 10;
  o.lr = 1e-2;
  o.eval_every = 30;
  o.eval_windows = 4;
  bitscape::NullProgress progress;
  bitscape::Model fp32 = bitscape::Model::random(tiny_config(), 5);
  bitscape::Model mixed = bitscape::Model::random(tiny_config(), 5);
  bitscape::TrainResult a = bitscape::train_lm(fp32, tokens, tokens, o, progress, {});
  o.compute_dtype = at::kBFloat16;
  bitscape::TrainResult b = bitscape::train_lm(mixed, tokens, tokens, o, progress, {});
  ASSERT_EQ(b.steps_done, 60);
  EXPECT_LT(b.val_loss.back().second, 0.5);
  EXPECT_NEAR(b.val_loss.back().second, a.val_loss.back().second, 0.1);
  for (const auto& [name, p] : mixed.parameters()) {
    EXPECT_EQ(p.scalar_type(), at::kFloat) << name;
    EXPECT_FALSE(p.requires_grad()) << name;
    const at::Tensor& q = fp32.parameter(name);
    // Every weight moved, and by about what fp32 training moved it.
    const double rel = ((p - q).norm() / q.norm()).item<double>();
    EXPECT_LT(rel, 0.1) << name;
  }
  // The weights did train (differ from the initialisation) in mixed precision.
  bitscape::Model init = bitscape::Model::random(tiny_config(), 5);
  EXPECT_FALSE(at::allclose(mixed.parameter("model.layers.1.mlp.down_proj.weight"),
                            init.parameter("model.layers.1.mlp.down_proj.weight")));
}

TEST(TrainLmTest, RefusesAModelWhoseWeightsAreNotFp32) {
  bitscape::LoadOptions lo;
  lo.dtype = at::kBFloat16;
  bitscape::Model model = bitscape::Model::random(tiny_config(), 3, lo);
  std::vector<int32_t> tokens(2000, 1);
  bitscape::NullProgress progress;
  bitscape::TrainOptions o;
  o.seqlen = 16;
  o.steps = 2;
  EXPECT_THROW(bitscape::train_lm(model, tokens, {}, o, progress, {}), bitscape::InputError);
}
