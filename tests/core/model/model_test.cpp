// The LLaMA-family decoder against transformers: logits of tiny random models made by
// tests/fixtures/models/make_model_fixtures.py, plus the block-by-block API, hooks, summary,
// errors, save/load and autograd.
#include "bitscape/model.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "bitscape/error.h"
#include "bitscape/safetensors.h"

namespace {

using bitscape::InputError;
using bitscape::LoadOptions;
using bitscape::Model;
namespace fs = std::filesystem;

const std::string kModels = std::string(BITSCAPE_FIXTURE_DIR) + "/models";

struct Expected {
  at::Tensor ids, logits;
};

Expected expected(const std::string& family) {
  auto f = bitscape::SafetensorsFile::open(kModels + "/" + family + "/expected.safetensors");
  return {f->tensor("ids").clone(), f->tensor("logits").clone()};
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kFloat) - b.to(at::kFloat)).abs().max().item<double>();
}

double logits_diff(const std::string& family) {
  at::NoGradGuard no_grad;
  const Model m = Model::load(kModels + "/" + family);
  const Expected e = expected(family);
  const at::Tensor logits = m.forward(e.ids);
  EXPECT_EQ(logits.sizes(), e.logits.sizes());
  EXPECT_EQ(logits.scalar_type(), at::kFloat);
  const double diff = max_abs_diff(logits, e.logits);
  std::printf("[ logits  ] %s: max |ours - transformers| = %.3g\n", family.c_str(), diff);
  return diff;
}

std::string scratch(const std::string& name) {
  const fs::path p = fs::path(BITSCAPE_TEST_TMP) / "model_test" / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

// Copies a fixture's config.json and writes its tensors, edited by `edit`, to a scratch dir.
template <typename Edit>
std::string edited_copy(const std::string& family, const std::string& name, Edit edit) {
  const std::string dir = scratch(name);
  fs::copy_file(kModels + "/" + family + "/config.json", dir + "/config.json");
  auto f = bitscape::SafetensorsFile::open(kModels + "/" + family + "/model.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& e : f->entries())
    tensors.emplace_back(e.info.name, f->tensor(e.info.name).clone());
  edit(tensors);
  bitscape::write_safetensors(dir + "/model.safetensors", tensors);
  return dir;
}

const char* const kFamilies[] = {"llama", "mistral", "qwen2", "qwen3", "qwen3_linear_rope"};

}  // namespace

TEST(ModelTest, LlamaLogitsMatchTransformers) { EXPECT_LE(logits_diff("llama"), 1e-4); }
TEST(ModelTest, MistralSlidingWindowLogitsMatchTransformers) {
  EXPECT_LE(logits_diff("mistral"), 1e-4);
}
TEST(ModelTest, Qwen2LogitsMatchTransformers) { EXPECT_LE(logits_diff("qwen2"), 1e-4); }
TEST(ModelTest, Qwen3LogitsMatchTransformers) { EXPECT_LE(logits_diff("qwen3"), 1e-4); }
TEST(ModelTest, Qwen3LinearRopeLogitsMatchTransformers) {
  EXPECT_LE(logits_diff("qwen3_linear_rope"), 1e-4);
}

TEST(ModelTest, BlockByBlockEqualsForward) {
  at::NoGradGuard no_grad;
  for (const char* family : kFamilies) {
    SCOPED_TRACE(family);
    const Model m = Model::load(kModels + "/" + family);
    const at::Tensor ids = expected(family).ids;
    at::Tensor hidden = m.embed(ids);
    EXPECT_EQ(hidden.sizes(), (std::vector<int64_t>{2, 20, m.config().hidden_size}));
    for (int64_t i = 0; i < m.num_blocks(); ++i) hidden = m.run_block(i, hidden);
    EXPECT_TRUE(at::equal(m.head(hidden), m.forward(ids)));
  }
}

TEST(ModelTest, PrefixLogitsDoNotDependOnLaterTokensBeyondTheRopeCache) {
  at::NoGradGuard no_grad;
  for (const char* family : {"llama", "mistral"}) {
    SCOPED_TRACE(family);
    const Model m = Model::load(kModels + "/" + family);
    const at::Tensor ids = expected(family).ids;
    const at::Tensor short_logits = m.forward(ids);
    // 300 positions: longer than the first RoPE table, so the cache grows.
    const at::Tensor long_ids = at::cat({ids, at::randint(128, {2, 280}, at::kLong)}, 1);
    const at::Tensor long_logits = m.forward(long_ids);
    EXPECT_LE(max_abs_diff(long_logits.narrow(1, 0, 20), short_logits), 1e-5);
    EXPECT_TRUE(at::equal(m.forward(ids), short_logits));
  }
}

TEST(ModelTest, HookSeesEveryLinearModuleOncePerBlockWithItsInputWidth) {
  at::NoGradGuard no_grad;
  const Model m = Model::load(kModels + "/qwen3");  // head_dim * heads (64) != hidden (48)
  const auto& c = m.config();
  const at::Tensor ids = expected("qwen3").ids;
  const std::map<std::string, int64_t> width = {
      {"self_attn.q_proj", c.hidden_size},
      {"self_attn.k_proj", c.hidden_size},
      {"self_attn.v_proj", c.hidden_size},
      {"self_attn.o_proj", c.num_attention_heads * c.head_dim},
      {"mlp.gate_proj", c.hidden_size},
      {"mlp.up_proj", c.hidden_size},
      {"mlp.down_proj", c.intermediate_size}};
  std::vector<std::string> seen;
  at::Tensor hidden = m.embed(ids);
  for (int64_t i = 0; i < m.num_blocks(); ++i) {
    const std::string prefix = "model.layers." + std::to_string(i) + ".";
    hidden = m.run_block(i, hidden, [&](const std::string& name, const at::Tensor& x) {
      seen.push_back(name);
      ASSERT_EQ(name.rfind(prefix, 0), 0u) << name;
      const std::string leaf = name.substr(prefix.size());
      ASSERT_TRUE(width.count(leaf)) << name;
      EXPECT_EQ(x.size(-1), width.at(leaf)) << name;
      EXPECT_EQ(x.numel() / x.size(-1), 2 * 20) << name;
    });
  }
  EXPECT_EQ(seen, m.linear_modules());
  EXPECT_EQ(seen.size(), static_cast<size_t>(7 * m.num_blocks()));
  EXPECT_EQ(seen.front(), "model.layers.0.self_attn.q_proj");
  EXPECT_EQ(seen.back(), "model.layers.1.mlp.down_proj");
}

TEST(ModelTest, BFloat16RunsCloseToFloat32) {
  at::NoGradGuard no_grad;
  for (const char* family : kFamilies) {
    SCOPED_TRACE(family);
    LoadOptions options;
    options.dtype = at::kBFloat16;
    const Model m = Model::load(kModels + "/" + family, options);
    EXPECT_EQ(m.parameter("model.norm.weight").scalar_type(), at::kBFloat16);
    const Expected e = expected(family);
    const at::Tensor logits = m.forward(e.ids);
    EXPECT_EQ(logits.scalar_type(), at::kFloat);
    const double diff = max_abs_diff(logits, e.logits);
    std::printf("[ bf16    ] %s: max |ours - transformers fp32| = %.3g (logits std %.3g)\n", family,
                diff, e.logits.std().item<double>());
    EXPECT_LE(diff, 0.25);
    EXPECT_LE((logits - e.logits).abs().mean().item<double>(), 0.03);
  }
}

TEST(ModelTest, Float16OnCpuRunsWhereLibTorchSupportsIt) {
  LoadOptions options;
  options.dtype = at::kHalf;
#if TORCH_VERSION_MAJOR < 2
  EXPECT_THROW(Model::load(kModels + "/qwen3", options), InputError);
#else
  at::NoGradGuard no_grad;
  const Model m = Model::load(kModels + "/qwen3", options);
  const Expected e = expected("qwen3");
  EXPECT_LE(max_abs_diff(m.forward(e.ids), e.logits), 0.05);
#endif
}

TEST(ModelTest, SummaryCountsEqualTensorNumels) {
  for (const char* family : {"llama", "qwen2", "qwen3"}) {
    SCOPED_TRACE(family);
    const Model m = Model::load(kModels + "/" + family);
    const bitscape::ModelSummary s = m.summary();
    int64_t total = 0, linear = 0;
    for (const auto& [name, t] : m.parameters()) {
      total += t.numel();
      if (name.rfind("model.layers.", 0) == 0 && name.find("_proj.") != std::string::npos)
        linear += t.numel();
    }
    EXPECT_EQ(s.total_params, total);
    EXPECT_EQ(s.linear_params, linear);
    int64_t module_sum = 0;
    std::set<std::string> tensors;
    for (const auto& mod : s.modules) {
      int64_t p = 0;
      for (const auto& t : mod.tensors) {
        p += t.numel();
        tensors.insert(t.name);
        EXPECT_EQ(t.dtype, "F32");
        EXPECT_EQ(t.shape, m.parameter(t.name).sizes().vec()) << t.name;
      }
      EXPECT_EQ(mod.params, p) << mod.name;
      module_sum += mod.params;
    }
    EXPECT_EQ(module_sum, total);
    EXPECT_EQ(tensors.size(), m.parameters().size());
    EXPECT_EQ(s.modules.front().name, "model.embed_tokens");
    EXPECT_EQ(s.modules.back().name, "lm_head");
    EXPECT_GT(s.file_bytes, 0);
    // Every linear module appears, in execution order.
    std::vector<std::string> linears;
    for (const auto& mod : s.modules)
      if (mod.kind == "linear") linears.push_back(mod.name);
    EXPECT_EQ(linears, m.linear_modules());
  }
}

TEST(ModelTest, TiedEmbeddingsHaveNoLmHeadTensor) {
  const Model m = Model::load(kModels + "/qwen2");
  EXPECT_EQ(m.parameters().count("lm_head.weight"), 0u);
  const auto s = m.summary();
  EXPECT_EQ(s.modules.back().name, "lm_head");
  EXPECT_TRUE(s.modules.back().tensors.empty());
}

TEST(ModelTest, MissingWeightTensorIsInputErrorNamingIt) {
  const std::string dir = edited_copy("llama", "missing_tensor", [](auto& tensors) {
    tensors.erase(std::remove_if(
                      tensors.begin(), tensors.end(),
                      [](const auto& t) { return t.first == "model.layers.1.mlp.up_proj.weight"; }),
                  tensors.end());
  });
  try {
    Model::load(dir);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.path(), dir);
    EXPECT_NE(e.problem().find("model.layers.1.mlp.up_proj.weight"), std::string::npos) << e.what();
    EXPECT_NE(e.problem().find("[96, 48]"), std::string::npos) << e.what();
  }
}

TEST(ModelTest, MisshapedTensorIsInputErrorWithExpectedAndActualShape) {
  const std::string dir = edited_copy("mistral", "misshaped_tensor", [](auto& tensors) {
    for (auto& [name, t] : tensors)
      if (name == "model.layers.0.self_attn.k_proj.weight") t = at::zeros({48, 48});
  });
  try {
    Model::load(dir);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(e.problem().find("model.layers.0.self_attn.k_proj.weight"), std::string::npos)
        << e.what();
    EXPECT_NE(e.problem().find("[48, 48]"), std::string::npos) << e.what();
    EXPECT_NE(e.problem().find("[24, 48]"), std::string::npos) << e.what();
  }
}

TEST(ModelTest, NanWeightIsInputErrorNamingTheTensor) {
  const std::string dir = edited_copy("qwen2", "nan_tensor", [](auto& tensors) {
    for (auto& [name, t] : tensors)
      if (name == "model.norm.weight") t[3] = std::nan("");
  });
  try {
    Model::load(dir);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(e.problem().find("model.norm.weight"), std::string::npos) << e.what();
  }
}

TEST(ModelTest, SaveThenLoadRoundTripsLogitsExactly) {
  at::NoGradGuard no_grad;
  for (const char* family : {"llama", "qwen2", "qwen3"}) {
    SCOPED_TRACE(family);
    const Model a = Model::load(kModels + "/" + family);
    const std::string dir = scratch(std::string("saved_") + family);
    a.save(dir);
    const Model b = Model::load(dir);
    EXPECT_EQ(b.parameters().size(), a.parameters().size());
    const at::Tensor ids = expected(family).ids;
    EXPECT_TRUE(at::equal(a.forward(ids), b.forward(ids)));
  }
}

TEST(ModelTest, SavedBFloat16ModelRecordsItsDtype) {
  LoadOptions options;
  options.dtype = at::kBFloat16;
  const Model a = Model::load(kModels + "/qwen3", options);
  const std::string dir = scratch("saved_bf16");
  a.save(dir);
  EXPECT_EQ(bitscape::ModelConfig::from_json_file(dir + "/config.json").torch_dtype, "bfloat16");
  const Model b = Model::load(dir, options);
  for (const auto& [name, t] : a.parameters()) EXPECT_TRUE(at::equal(t, b.parameter(name))) << name;
}

TEST(ModelTest, RandomInitFollowsTransformersAndIsSeeded) {
  bitscape::ModelConfig c = Model::load(kModels + "/llama").config();
  c.initializer_range = 0.02;
  const Model a = Model::random(c, 7), b = Model::random(c, 7), d = Model::random(c, 8);
  EXPECT_EQ(a.parameters().size(), Model::load(kModels + "/llama").parameters().size());
  for (const auto& [name, t] : a.parameters()) {
    EXPECT_TRUE(at::equal(t, b.parameter(name))) << name;
    if (name.find("norm.weight") != std::string::npos) {
      EXPECT_TRUE(at::all(t == 1).item<bool>()) << name;
    } else if (name.find(".bias") != std::string::npos) {
      EXPECT_TRUE(at::all(t == 0).item<bool>()) << name;
    } else {
      EXPECT_NEAR(t.std().item<double>(), 0.02, 0.002) << name;
      EXPECT_FALSE(at::equal(t, d.parameter(name))) << name;
    }
  }
  at::NoGradGuard no_grad;
  const at::Tensor logits = a.forward(expected("llama").ids);
  EXPECT_TRUE(at::isfinite(logits).all().item<bool>());
}

TEST(ModelTest, RandomModelFromAnInvalidConfigIsInputError) {
  bitscape::ModelConfig c = Model::load(kModels + "/llama").config();
  c.num_key_value_heads = 3;  // does not divide 4 heads
  EXPECT_THROW(Model::random(c, 1), InputError);
  c = Model::load(kModels + "/llama").config();
  c.head_dim = 0;  // derived from hidden / heads
  EXPECT_EQ(Model::random(c, 1).config().head_dim, 12);
}

TEST(ModelTest, ForwardIsDifferentiableThroughParameters) {
  Model m = Model::load(kModels + "/qwen3");
  const std::vector<std::string> names = {"model.embed_tokens.weight",
                                          "model.layers.0.self_attn.q_proj.weight",
                                          "model.layers.0.self_attn.q_proj.bias",
                                          "model.layers.1.self_attn.k_norm.weight",
                                          "model.layers.1.mlp.down_proj.weight",
                                          "model.norm.weight"};
  const Expected e = expected("qwen3");
  {
    // An earlier evaluation under InferenceMode must not poison the cached RoPE tables.
    c10::InferenceMode inference;
    (void)m.forward(e.ids);
  }
  for (const auto& n : names) m.parameter(n).requires_grad_(true);
  const at::Tensor logits = m.forward(e.ids);
  // Next-token cross-entropy.
  const at::Tensor loss = at::cross_entropy_loss(
      logits.narrow(1, 0, 19).reshape({-1, logits.size(-1)}), e.ids.narrow(1, 1, 19).reshape({-1}));
  loss.backward();
  for (const auto& n : names) {
    const at::Tensor g = m.parameter(n).grad();
    ASSERT_TRUE(g.defined()) << n;
    EXPECT_GT(g.abs().sum().item<double>(), 0.0) << n;
    EXPECT_TRUE(at::isfinite(g).all().item<bool>()) << n;
  }
  // A finite-difference check on one weight entry.
  at::NoGradGuard no_grad;
  at::Tensor& w = m.parameter("model.layers.1.mlp.down_proj.weight");
  const double g01 = w.grad()[0][1].item<double>();
  const at::Tensor saved = w.clone();
  auto loss_at = [&](double delta) {
    w.copy_(saved);
    w[0][1] += delta;
    const at::Tensor l = m.forward(e.ids);
    return at::cross_entropy_loss(l.narrow(1, 0, 19).reshape({-1, l.size(-1)}),
                                  e.ids.narrow(1, 1, 19).reshape({-1}))
        .item<double>();
  };
  const double h = 1e-2;
  const double numeric = (loss_at(h) - loss_at(-h)) / (2 * h);
  w.copy_(saved);
  EXPECT_NEAR(numeric, g01, 1e-3 + 0.05 * std::abs(g01));
}

TEST(ModelTest, UnknownDeviceIsInputError) {
  LoadOptions options;
  options.device = "tpu:0";
  EXPECT_THROW(Model::load(kModels + "/llama", options), InputError);
}

TEST(ModelTest, MissingConfigIsInputErrorNamingTheFile) {
  const std::string dir = scratch("no_config");
  try {
    Model::load(dir);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(e.path().find("config.json"), std::string::npos) << e.what();
  }
}
