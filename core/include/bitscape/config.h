// The Hugging Face config.json of a LLaMA-family decoder (LlamaForCausalLM, MistralForCausalLM,
// Qwen2ForCausalLM, Qwen3ForCausalLM), normalised to one struct. Plain-value header.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace bitscape {

struct RopeScaling {
  std::string type = "none";  // "none", "linear", "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0;                      // llama3
  double high_freq_factor = 4.0;                     // llama3
  int64_t original_max_position_embeddings = 8192;  // llama3
};

struct ModelConfig {
  std::string architecture;  // e.g. "LlamaForCausalLM"
  std::string model_type;    // e.g. "llama"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // hidden_size / num_attention_heads unless given
  int64_t max_position_embeddings = 0;
  int64_t sliding_window = 0;  // 0 = none (Mistral / Qwen2 when enabled)
  // Blocks with index >= max_window_layers use the sliding window (Qwen2/Qwen3's
  // use_sliding_window); 0 for Mistral, whose every block slides.
  int64_t max_window_layers = 0;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-6;
  RopeScaling rope_scaling;
  bool qkv_bias = false;    // Qwen2: always; Llama/Qwen3: attention_bias
  bool o_proj_bias = false; // Llama: attention_bias
  bool mlp_bias = false;
  bool qk_norm = false;     // Qwen3: RMSNorm on q and k per head
  bool tie_word_embeddings = false;
  std::string torch_dtype = "float32";  // "float32", "bfloat16" or "float16"
  double initializer_range = 0.02;      // std of the normal init (Model::random)
  int64_t bos_token_id = -1;
  int64_t eos_token_id = -1;

  // Parses and validates; throws InputError naming the file and the field.
  static ModelConfig from_json_file(const std::string& path);
  static ModelConfig from_json(const nlohmann::json& j, const std::string& path_for_errors);
  nlohmann::json to_json() const;  // HF-compatible config.json
  // Whether block `layer` attends through the sliding window.
  bool uses_sliding_window(int64_t layer) const {
    return sliding_window > 0 && layer >= max_window_layers;
  }
};

}  // namespace bitscape
