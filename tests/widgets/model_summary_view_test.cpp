#include "bitscape/widgets/model_summary_view.h"

#include <gtest/gtest.h>

#include "qt_printers.h"

using bitscape::ModelSummary;
using bitscape::widgets::ModelSummaryView;

namespace {

ModelSummary llama3Like() {
  ModelSummary s;
  auto& c = s.config;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.hidden_size = 2048;
  c.intermediate_size = 8192;
  c.num_hidden_layers = 16;
  c.num_attention_heads = 32;
  c.num_key_value_heads = 8;
  c.head_dim = 64;
  c.vocab_size = 128256;
  c.max_position_embeddings = 131072;
  c.rope_theta = 500000;
  c.rope_scaling.type = "llama3";
  c.rope_scaling.factor = 32;
  c.tie_word_embeddings = true;
  c.torch_dtype = "bfloat16";
  s.total_params = 1235814400;
  s.linear_params = 973078528;
  s.file_bytes = int64_t(2471645608);
  return s;
}

}  // namespace

TEST(ModelSummaryViewTest, ShowsADashForEveryFactBeforeAModelIsSet) {
  ModelSummaryView view;
  EXPECT_EQ(view.value("architecture"), QString::fromUtf8("—"));
  EXPECT_EQ(view.value("total_params"), QString::fromUtf8("—"));
}

TEST(ModelSummaryViewTest, ShowsTheArchitectureFactsOfTheConfig) {
  ModelSummaryView view;
  view.setSummary(llama3Like());
  EXPECT_EQ(view.value("architecture"), "LlamaForCausalLM  (llama)");
  EXPECT_EQ(view.value("hidden"), "2,048");
  EXPECT_EQ(view.value("intermediate"), "8,192");
  EXPECT_EQ(view.value("layers"), "16");
  EXPECT_EQ(view.value("heads"), "32 / 8  (GQA, 4 per kv head)");
  EXPECT_EQ(view.value("head_dim"), "64");
  EXPECT_EQ(view.value("vocab"), "128,256");
  EXPECT_EQ(view.value("context"), "131,072");
  EXPECT_EQ(view.value("rope"), QString::fromUtf8("θ = 500000, llama3 ×32 (from 8192)"));
  EXPECT_EQ(view.value("tie_embeddings"), "yes");
  EXPECT_EQ(view.value("biases"), "none");
  EXPECT_EQ(view.value("sliding_window"), "none");
  EXPECT_EQ(view.value("dtype"), "bfloat16");
  EXPECT_EQ(view.value("total_params"), "1,235,814,400  (1.24 B)");
  EXPECT_EQ(view.value("linear_params"), "973,078,528  (78.74 %)");
  EXPECT_EQ(view.value("file_size"), "2.3 GiB");
}

TEST(ModelSummaryViewTest, NamesBiasesAndPlainMultiHeadAttention) {
  ModelSummary s = llama3Like();
  s.config.num_key_value_heads = 32;
  s.config.qkv_bias = true;
  s.config.rope_scaling.type = "none";
  ModelSummaryView view;
  view.setSummary(s);
  EXPECT_EQ(view.value("heads"), "32 / 32");
  EXPECT_EQ(view.value("biases"), "q/k/v");
  EXPECT_EQ(view.value("rope"), QString::fromUtf8("θ = 500000"));
}
