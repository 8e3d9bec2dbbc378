// ModelConfig: parsing HF config.json (transformers 4.x and 5.x layouts), validation, writing.
#include "bitscape/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "bitscape/error.h"

namespace {

using bitscape::InputError;
using bitscape::ModelConfig;
using nlohmann::json;

const std::string kModels = std::string(BITSCAPE_FIXTURE_DIR) + "/models";

json base_llama() {
  return json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
    "num_hidden_layers": 32, "num_attention_heads": 32, "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": null,
    "hidden_act": "silu", "torch_dtype": "float16", "bos_token_id": 1, "eos_token_id": 2,
    "tie_word_embeddings": false })");
}

std::string write_tmp(const std::string& name, const std::string& text) {
  const std::string dir = std::string(BITSCAPE_TEST_TMP) + "/config_test";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// Expects from_json_file(path) to throw an InputError whose path is `path` and whose message
// contains `needle`.
void expect_input_error(const std::string& path, const std::string& needle) {
  try {
    ModelConfig::from_json_file(path);
    FAIL() << "expected InputError for " << path;
  } catch (const InputError& e) {
    EXPECT_EQ(e.path(), path);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(e.problem().find(needle), std::string::npos) << e.what();
  }
}

void expect_json_error(const json& j, const std::string& needle) {
  try {
    ModelConfig::from_json(j, "cfg.json");
    FAIL() << "expected InputError mentioning " << needle;
  } catch (const InputError& e) {
    EXPECT_EQ(e.path(), "cfg.json");
    EXPECT_NE(e.problem().find(needle), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(ConfigTest, ParsesLlama2StyleConfigWithDefaults) {
  const ModelConfig c = ModelConfig::from_json(base_llama(), "cfg.json");
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.num_key_value_heads, 32);  // defaults to the number of heads
  EXPECT_EQ(c.head_dim, 128);            // hidden / heads
  EXPECT_EQ(c.rope_scaling.type, "none");
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.o_proj_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_EQ(c.torch_dtype, "float16");
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_id, 2);
}

TEST(ConfigTest, ParsesTransformers5RopeParametersOfLlamaFixture) {
  const ModelConfig c = ModelConfig::from_json_file(kModels + "/llama/config.json");
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 4.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 64);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_TRUE(c.o_proj_bias);
  EXPECT_TRUE(c.mlp_bias);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_EQ(c.torch_dtype, "float32");  // 5.x writes "dtype"
}

TEST(ConfigTest, ParsesLegacyRopeScalingWithTypeKey) {
  json j = base_llama();
  j["rope_theta"] = 500000.0;
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  const ModelConfig c = ModelConfig::from_json(j, "cfg.json");
  EXPECT_EQ(c.rope_scaling.type, "linear");
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 2.0);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
}

TEST(ConfigTest, Llama3RopeScalingDefaultsOriginalContextToMaxPositions) {
  json j = base_llama();
  j["rope_scaling"] = {{"rope_type", "llama3"},
                       {"factor", 8.0},
                       {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0}};
  const ModelConfig c = ModelConfig::from_json(j, "cfg.json");
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 4096);
}

TEST(ConfigTest, DefaultRopeTypeMeansNoScaling) {
  json j = base_llama();
  j.erase("rope_scaling");
  j.erase("rope_theta");
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1e6}};
  const ModelConfig c = ModelConfig::from_json(j, "cfg.json");
  EXPECT_EQ(c.rope_scaling.type, "none");
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);
}

TEST(ConfigTest, UnsupportedRopeTypeIsInputError) {
  json j = base_llama();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  expect_json_error(j, "yarn");
}

TEST(ConfigTest, Qwen2HasQkvBiasesButNoOProjBias) {
  const ModelConfig c = ModelConfig::from_json_file(kModels + "/qwen2/config.json");
  EXPECT_EQ(c.architecture, "Qwen2ForCausalLM");
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.o_proj_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.sliding_window, 0);  // use_sliding_window is false
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);
}

TEST(ConfigTest, Qwen3HeadDimMayDifferFromHiddenOverHeads) {
  const ModelConfig c = ModelConfig::from_json_file(kModels + "/qwen3/config.json");
  EXPECT_EQ(c.hidden_size, 48);
  EXPECT_EQ(c.num_attention_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_TRUE(c.o_proj_bias);
}

TEST(ConfigTest, MistralSlidingWindowAppliesToEveryBlock) {
  const ModelConfig c = ModelConfig::from_json_file(kModels + "/mistral/config.json");
  EXPECT_EQ(c.sliding_window, 8);
  EXPECT_TRUE(c.uses_sliding_window(0));
  EXPECT_TRUE(c.uses_sliding_window(1));
}

TEST(ConfigTest, SlidingWindowIgnoredForLlamaAndForQwen2UnlessEnabled) {
  json j = base_llama();
  j["sliding_window"] = 16;
  EXPECT_EQ(ModelConfig::from_json(j, "cfg.json").sliding_window, 0);

  json q = base_llama();
  q["architectures"] = {"Qwen2ForCausalLM"};
  q["model_type"] = "qwen2";
  q["sliding_window"] = 16;
  q["use_sliding_window"] = false;
  EXPECT_EQ(ModelConfig::from_json(q, "cfg.json").sliding_window, 0);
  q["use_sliding_window"] = true;
  q["max_window_layers"] = 20;
  const ModelConfig c = ModelConfig::from_json(q, "cfg.json");
  EXPECT_EQ(c.sliding_window, 16);
  EXPECT_FALSE(c.uses_sliding_window(19));
  EXPECT_TRUE(c.uses_sliding_window(20));
}

TEST(ConfigTest, FallsBackToModelTypeWithoutArchitectures) {
  json j = base_llama();
  j.erase("architectures");
  j["model_type"] = "mistral";
  EXPECT_EQ(ModelConfig::from_json(j, "cfg.json").architecture, "MistralForCausalLM");
}

TEST(ConfigTest, TokenIdListsTakeTheFirstAndNullMeansNone) {
  json j = base_llama();
  j["eos_token_id"] = {128001, 128009};
  j["bos_token_id"] = nullptr;
  const ModelConfig c = ModelConfig::from_json(j, "cfg.json");
  EXPECT_EQ(c.eos_token_id, 128001);
  EXPECT_EQ(c.bos_token_id, -1);
}

TEST(ConfigTest, MalformedJsonIsInputErrorNamingTheFile) {
  expect_input_error(write_tmp("malformed.json", "{\"hidden_size\": 64,,}"), "malformed JSON");
}

TEST(ConfigTest, MissingFileIsInputErrorNamingTheFile) {
  expect_input_error(std::string(BITSCAPE_TEST_TMP) + "/config_test/absent.json", "cannot open");
}

TEST(ConfigTest, UnsupportedArchitectureIsInputErrorNamingFileAndArchitecture) {
  json j = base_llama();
  j["architectures"] = {"GPT2LMHeadModel"};
  expect_input_error(write_tmp("gpt2.json", j.dump()), "GPT2LMHeadModel");
}

TEST(ConfigTest, MissingRequiredFieldIsInputErrorNamingFileAndField) {
  json j = base_llama();
  j.erase("intermediate_size");
  expect_input_error(write_tmp("missing.json", j.dump()), "intermediate_size");
}

TEST(ConfigTest, HeadsNotDividingHiddenIsInputErrorNamingFile) {
  json j = base_llama();
  j["num_attention_heads"] = 30;
  expect_input_error(write_tmp("heads.json", j.dump()), "num_attention_heads");
}

TEST(ConfigTest, KvHeadsNotDividingHeadsIsInputError) {
  json j = base_llama();
  j["num_key_value_heads"] = 5;
  expect_json_error(j, "num_key_value_heads");
}

TEST(ConfigTest, NonPositiveSizeIsInputError) {
  json j = base_llama();
  j["num_hidden_layers"] = 0;
  expect_json_error(j, "num_hidden_layers");
  j = base_llama();
  j["vocab_size"] = -5;
  expect_json_error(j, "vocab_size");
}

TEST(ConfigTest, WrongTypeIsInputErrorNamingTheField) {
  json j = base_llama();
  j["hidden_size"] = "4096";
  expect_json_error(j, "hidden_size");
  j = base_llama();
  j["tie_word_embeddings"] = "yes";
  expect_json_error(j, "tie_word_embeddings");
  j = base_llama();
  j["rope_theta"] = "10000";
  expect_json_error(j, "rope_theta");
}

TEST(ConfigTest, NonSiluActivationIsInputError) {
  json j = base_llama();
  j["hidden_act"] = "gelu";
  expect_json_error(j, "hidden_act");
}

TEST(ConfigTest, ToJsonRoundTripsEveryFixture) {
  for (const char* family : {"llama", "mistral", "qwen2", "qwen3", "qwen3_linear_rope"}) {
    SCOPED_TRACE(family);
    const ModelConfig a = ModelConfig::from_json_file(kModels + "/" + family + "/config.json");
    const ModelConfig b = ModelConfig::from_json(a.to_json(), "written.json");
    EXPECT_EQ(b.architecture, a.architecture);
    EXPECT_EQ(b.model_type, a.model_type);
    EXPECT_EQ(b.vocab_size, a.vocab_size);
    EXPECT_EQ(b.hidden_size, a.hidden_size);
    EXPECT_EQ(b.intermediate_size, a.intermediate_size);
    EXPECT_EQ(b.num_hidden_layers, a.num_hidden_layers);
    EXPECT_EQ(b.num_attention_heads, a.num_attention_heads);
    EXPECT_EQ(b.num_key_value_heads, a.num_key_value_heads);
    EXPECT_EQ(b.head_dim, a.head_dim);
    EXPECT_EQ(b.max_position_embeddings, a.max_position_embeddings);
    EXPECT_EQ(b.sliding_window, a.sliding_window);
    EXPECT_DOUBLE_EQ(b.rope_theta, a.rope_theta);
    EXPECT_DOUBLE_EQ(b.rms_norm_eps, a.rms_norm_eps);
    EXPECT_EQ(b.rope_scaling.type, a.rope_scaling.type);
    EXPECT_DOUBLE_EQ(b.rope_scaling.factor, a.rope_scaling.factor);
    EXPECT_EQ(b.rope_scaling.original_max_position_embeddings,
              a.rope_scaling.original_max_position_embeddings);
    EXPECT_EQ(b.qkv_bias, a.qkv_bias);
    EXPECT_EQ(b.o_proj_bias, a.o_proj_bias);
    EXPECT_EQ(b.mlp_bias, a.mlp_bias);
    EXPECT_EQ(b.qk_norm, a.qk_norm);
    EXPECT_EQ(b.tie_word_embeddings, a.tie_word_embeddings);
    EXPECT_EQ(b.torch_dtype, a.torch_dtype);
    EXPECT_EQ(b.bos_token_id, a.bos_token_id);
    EXPECT_EQ(b.eos_token_id, a.eos_token_id);
  }
}
