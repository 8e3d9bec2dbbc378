// Parsing and writing the Hugging Face config.json of LLaMA-family decoders. Field meanings and
// defaults follow transformers' LlamaConfig, MistralConfig, Qwen2Config and Qwen3Config (4.x and
// 5.x); RoPE settings are read from 5.x's `rope_parameters` or from the older top-level
// `rope_theta` + `rope_scaling`, as transformers' `standardize_rope_params` does.
#include "bitscape/config.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "bitscape/error.h"
#include "bitscape/json_input.h"

namespace bitscape {
namespace {

using nlohmann::json;

struct Family {
  const char* architecture;
  const char* model_type;
  int64_t default_max_position_embeddings;  // the config class's default
};

// The supported architectures, with the defaults of their transformers config classes.
const Family kFamilies[] = {
    {"LlamaForCausalLM", "llama", 2048},
    {"MistralForCausalLM", "mistral", 4096 * 32},
    {"Qwen2ForCausalLM", "qwen2", 32768},
    {"Qwen3ForCausalLM", "qwen3", 32768},
};

std::string type_name(const json& v) { return v.type_name(); }

// Upper bounds far above any released model (the largest have ~256k-token vocabularies, hidden
// sizes of 16-25k, 126 blocks, contexts of 10M positions), so that a hostile config.json cannot
// make Bitscape size per-layer structures or tensors from absurd numbers before the checkpoint
// is checked against them.
struct Bound {
  const char* key;
  int64_t max;
};
const Bound kBounds[] = {
    {"vocab_size", int64_t(1) << 24},          {"hidden_size", int64_t(1) << 17},
    {"intermediate_size", int64_t(1) << 20},    {"num_hidden_layers", 4096},
    {"num_attention_heads", 4096},              {"num_key_value_heads", 4096},
    {"head_dim", 8192},                         {"max_position_embeddings", int64_t(1) << 30},
    {"sliding_window", int64_t(1) << 30},       {"max_window_layers", 4096},
};

int64_t upper_bound(const std::string& key) {
  for (const Bound& b : kBounds)
    if (key == b.key) return b.max;
  return std::numeric_limits<int64_t>::max();
}

// Reads config fields and reports problems as InputError(path, "field 'x': ...").
class Reader {
 public:
  Reader(const json& j, const std::string& path) : j_(j), path_(path) {}

  [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
    throw InputError(path_, "field '" + field + "': " + problem);
  }

  bool has(const std::string& key) const { return j_.contains(key) && !j_.at(key).is_null(); }

  int64_t integer(const json& v, const std::string& field) const {
    if (v.is_number_integer()) return v.get<int64_t>();
    // HF configs written by some tools store integral values as floats (e.g. 8192.0).
    if (v.is_number_float()) {
      const double d = v.get<double>();
      // Range first: converting a double outside int64's range is undefined.
      if (std::isfinite(d) && std::fabs(d) < 9.2e18 && d == std::trunc(d))
        return static_cast<int64_t>(d);
    }
    if (v.is_number_unsigned()) fail(field, "value " + v.dump() + " is out of range");
    fail(field, "expected an integer, got " + describe_json(v));
  }

  // A positive integer no larger than the key's bound (kBounds).
  int64_t positive(const json& value, const std::string& key) const {
    const int64_t v = integer(value, key);
    if (v <= 0) fail(key, "must be positive, got " + std::to_string(v));
    const int64_t max = upper_bound(key);
    if (v > max)
      fail(key, std::to_string(v) + " is beyond any real model (at most " + std::to_string(max) +
                    " accepted)");
    return v;
  }

  int64_t required_positive(const std::string& key) const {
    if (!has(key)) fail(key, "missing (required)");
    return positive(j_.at(key), key);
  }

  int64_t optional_positive(const std::string& key, int64_t fallback) const {
    if (!has(key)) return fallback;
    return positive(j_.at(key), key);
  }

  // A finite number (JSON cannot spell NaN, but 1e999 parses as infinity).
  double number(const json& v, const std::string& field) const {
    if (!v.is_number()) fail(field, "expected a number, got " + describe_json(v));
    const double d = v.get<double>();
    if (!std::isfinite(d)) fail(field, "must be finite, got " + v.dump());
    return d;
  }

  double optional_number(const std::string& key, double fallback) const {
    return has(key) ? number(j_.at(key), key) : fallback;
  }

  bool optional_bool(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_boolean()) fail(key, "expected true or false, got " + type_name(v));
    return v.get<bool>();
  }

  std::string optional_string(const std::string& key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_string()) fail(key, "expected a string, got " + type_name(v));
    return v.get<std::string>();
  }

  // bos/eos may be an integer, a list of integers (the first is used) or null.
  int64_t token_id(const std::string& key) const {
    if (!has(key)) return -1;
    const json& v = j_.at(key);
    if (v.is_array()) {
      if (v.empty()) return -1;
      return integer(v.at(0), key + "[0]");
    }
    return integer(v, key);
  }

  const json& j() const { return j_; }
  const std::string& path() const { return path_; }

 private:
  const json& j_;
  const std::string& path_;
};

// RoPE settings: transformers 5.x writes {"rope_parameters": {"rope_type", "rope_theta",
// "factor", ...}}; 4.x writes top-level "rope_theta" and "rope_scaling" ({"rope_type" or "type",
// "factor", ...} or null).
void read_rope(const Reader& r, ModelConfig& c) {
  const json& j = r.j();
  c.rope_theta = r.optional_number("rope_theta", 10000.0);
  // RoPE's inverse frequencies are theta^(-2i/d): theta <= 0 gives NaN.
  if (c.rope_theta <= 0) r.fail("rope_theta", "must be positive, got " + std::to_string(c.rope_theta));
  const char* key = nullptr;
  if (r.has("rope_parameters")) {
    key = "rope_parameters";
  } else if (r.has("rope_scaling")) {
    key = "rope_scaling";
  }
  if (key == nullptr) return;
  const json& p = j.at(key);
  const std::string k = key;
  if (!p.is_object()) r.fail(k, "expected an object or null, got " + describe_json(p));
  // Per-layer-type RoPE (nested objects) belongs to other families.
  for (auto it = p.begin(); it != p.end(); ++it) {
    if (it.value().is_object())
      r.fail(k + "." + it.key(), "per-layer RoPE parameters are not supported");
  }
  auto num = [&](const char* name, double fallback, bool required) {
    if (!p.contains(name) || p.at(name).is_null()) {
      if (required) r.fail(k + "." + name, "missing (required for this rope type)");
      return fallback;
    }
    return r.number(p.at(name), k + "." + name);
  };
  c.rope_theta = num("rope_theta", c.rope_theta, false);
  if (c.rope_theta <= 0)
    r.fail(k + ".rope_theta", "must be positive, got " + std::to_string(c.rope_theta));
  std::string type = "default";
  for (const char* tk : {"rope_type", "type"}) {
    if (p.contains(tk) && !p.at(tk).is_null()) {
      if (!p.at(tk).is_string())
        r.fail(k + "." + tk, "expected a string, got " + type_name(p.at(tk)));
      type = p.at(tk).get<std::string>();
      break;
    }
  }
  if (type == "default") {
    c.rope_scaling = RopeScaling{};
  } else if (type == "linear") {
    c.rope_scaling.type = "linear";
    c.rope_scaling.factor = num("factor", 1.0, true);
  } else if (type == "llama3") {
    // _compute_llama3_parameters reads factor, low/high_freq_factor and
    // original_max_position_embeddings (standardize_rope_params defaults the latter to
    // max_position_embeddings).
    c.rope_scaling.type = "llama3";
    c.rope_scaling.factor = num("factor", 1.0, true);
    c.rope_scaling.low_freq_factor = num("low_freq_factor", 1.0, true);
    c.rope_scaling.high_freq_factor = num("high_freq_factor", 4.0, true);
    const double orig = num("original_max_position_embeddings",
                            static_cast<double>(c.max_position_embeddings), false);
    if (!(orig >= 1 && orig <= double(upper_bound("max_position_embeddings"))))
      r.fail(k + ".original_max_position_embeddings",
             "must be a positive number of positions, got " + std::to_string(orig));
    c.rope_scaling.original_max_position_embeddings = static_cast<int64_t>(orig);
    if (c.rope_scaling.high_freq_factor == c.rope_scaling.low_freq_factor)
      r.fail(k + ".high_freq_factor", "must differ from low_freq_factor");
    if (c.rope_scaling.low_freq_factor <= 0 || c.rope_scaling.high_freq_factor <= 0)
      r.fail(k + (c.rope_scaling.low_freq_factor <= 0 ? ".low_freq_factor" : ".high_freq_factor"),
             "must be positive");
  } else {
    r.fail(k + ".rope_type",
           "unsupported rope type '" + type + "' (supported: default, linear, llama3)");
  }
  if (c.rope_scaling.factor <= 0) r.fail(k + ".factor", "must be positive");
}

}  // namespace

ModelConfig ModelConfig::from_json_file(const std::string& path) {
  // Real config.json files are a few kB; 16 MiB leaves room for any metadata a tool adds.
  const std::string text = read_file_limited(path, 16u << 20, "config.json");
  return from_json(parse_json(text, path), path);
}

ModelConfig ModelConfig::from_json(const json& j, const std::string& path) {
  if (!j.is_object()) throw InputError(path, "expected a JSON object, got " + describe_json(j));
  Reader r(j, path);
  ModelConfig c;

  // Architecture: architectures[0], else model_type.
  const Family* family = nullptr;
  std::string model_type = r.optional_string("model_type", "");
  if (r.has("architectures")) {
    const json& a = j.at("architectures");
    if (!a.is_array() || a.empty() || !a.at(0).is_string())
      r.fail("architectures", "expected a non-empty list of strings");
    const std::string arch = a.at(0).get<std::string>();
    for (const Family& f : kFamilies)
      if (arch == f.architecture) family = &f;
    if (family == nullptr)
      r.fail("architectures", "unsupported architecture '" + arch +
                                  "' (supported: LlamaForCausalLM, MistralForCausalLM, "
                                  "Qwen2ForCausalLM, Qwen3ForCausalLM)");
  } else if (!model_type.empty()) {
    for (const Family& f : kFamilies)
      if (model_type == f.model_type) family = &f;
    if (family == nullptr)
      r.fail("model_type", "unsupported model type '" + model_type +
                               "' (supported: llama, mistral, qwen2, qwen3)");
  } else {
    r.fail("architectures", "missing (neither architectures nor model_type is given)");
  }
  c.architecture = family->architecture;
  c.model_type = family->model_type;
  const std::string mt = c.model_type;

  c.vocab_size = r.required_positive("vocab_size");
  c.hidden_size = r.required_positive("hidden_size");
  c.intermediate_size = r.required_positive("intermediate_size");
  c.num_hidden_layers = r.required_positive("num_hidden_layers");
  c.num_attention_heads = r.required_positive("num_attention_heads");
  c.num_key_value_heads = r.optional_positive("num_key_value_heads", c.num_attention_heads);
  c.max_position_embeddings =
      r.optional_positive("max_position_embeddings", family->default_max_position_embeddings);
  if (r.has("head_dim")) {
    c.head_dim = r.optional_positive("head_dim", 0);
  } else {
    if (c.hidden_size % c.num_attention_heads != 0)
      r.fail("num_attention_heads", "must divide hidden_size (" + std::to_string(c.hidden_size) +
                                        ") when head_dim is not given, got " +
                                        std::to_string(c.num_attention_heads));
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    r.fail("num_key_value_heads", "must divide num_attention_heads (" +
                                      std::to_string(c.num_attention_heads) + "), got " +
                                      std::to_string(c.num_key_value_heads));
  if (c.head_dim % 2 != 0)
    r.fail("head_dim", "must be even for RoPE, got " + std::to_string(c.head_dim));

  c.rms_norm_eps = r.optional_number("rms_norm_eps", 1e-6);
  if (c.rms_norm_eps < 0) r.fail("rms_norm_eps", "must not be negative");
  c.initializer_range = r.optional_number("initializer_range", 0.02);
  read_rope(r, c);

  // Biases: LlamaAttention and Qwen3Attention use attention_bias for q/k/v/o; Qwen2Attention
  // always has q/k/v biases and no o_proj bias; Mistral has none. Only LlamaMLP has mlp_bias.
  if (mt == "llama" || mt == "qwen3") {
    c.qkv_bias = c.o_proj_bias = r.optional_bool("attention_bias", false);
  } else if (mt == "qwen2") {
    c.qkv_bias = true;
    c.o_proj_bias = false;
  }
  if (mt == "llama") c.mlp_bias = r.optional_bool("mlp_bias", false);
  c.qk_norm = (mt == "qwen3");
  c.tie_word_embeddings = r.optional_bool("tie_word_embeddings", false);

  // Sliding window: every Mistral block when set; Qwen2/Qwen3 blocks >= max_window_layers when
  // use_sliding_window is true (their configs then mark those blocks "sliding_attention").
  if (mt == "mistral") {
    c.sliding_window = r.optional_positive("sliding_window", 0);
    c.max_window_layers = 0;
  } else if ((mt == "qwen2" || mt == "qwen3") && r.optional_bool("use_sliding_window", false)) {
    c.sliding_window = r.optional_positive("sliding_window", 4096);
    c.max_window_layers =
        r.has("max_window_layers") ? r.integer(j.at("max_window_layers"), "max_window_layers") : 28;
    if (c.max_window_layers < 0) r.fail("max_window_layers", "must not be negative");
  }
  if (r.has("layer_types")) {
    const json& lt = j.at("layer_types");
    if (!lt.is_array()) r.fail("layer_types", "expected a list of strings");
    for (size_t i = 0; i < lt.size(); ++i) {
      const std::string field = "layer_types[" + std::to_string(i) + "]";
      if (!lt[i].is_string()) r.fail(field, "expected a string");
      const std::string t = lt[i].get<std::string>();
      if (t != "full_attention" && t != "sliding_attention")
        r.fail(field, "unsupported layer type '" + t + "'");
      if (mt == "mistral") continue;  // Mistral slides in every block when sliding_window is set
      bool sliding = (t == "sliding_attention");
      if (sliding != c.uses_sliding_window(static_cast<int64_t>(i)))
        r.fail(field, "'" + t + "' disagrees with use_sliding_window/max_window_layers");
    }
  }

  const std::string act = r.optional_string("hidden_act", "silu");
  if (act != "silu" && act != "swish")
    r.fail("hidden_act", "unsupported activation '" + act + "' (only silu)");

  // transformers 5.x writes "dtype", 4.x "torch_dtype".
  const std::string dtype_key = r.has("dtype") ? "dtype" : "torch_dtype";
  c.torch_dtype = r.optional_string(dtype_key, "float32");
  if (c.torch_dtype != "float32" && c.torch_dtype != "bfloat16" && c.torch_dtype != "float16")
    r.fail(dtype_key, "unsupported dtype '" + c.torch_dtype + "' (float32, bfloat16, float16)");

  c.bos_token_id = r.token_id("bos_token_id");
  c.eos_token_id = r.token_id("eos_token_id");
  return c;
}

json ModelConfig::to_json() const {
  // Written in the 4.x layout (top-level rope_theta and rope_scaling, torch_dtype), which
  // transformers 5.x also reads and converts to rope_parameters.
  json j;
  j["architectures"] = json::array({architecture});
  j["model_type"] = model_type;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["head_dim"] = head_dim;
  j["max_position_embeddings"] = max_position_embeddings;
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = rms_norm_eps;
  j["initializer_range"] = initializer_range;
  j["rope_theta"] = rope_theta;
  if (rope_scaling.type == "linear") {
    j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", rope_scaling.factor}};
  } else if (rope_scaling.type == "llama3") {
    j["rope_scaling"] = {
        {"rope_type", "llama3"},
        {"factor", rope_scaling.factor},
        {"low_freq_factor", rope_scaling.low_freq_factor},
        {"high_freq_factor", rope_scaling.high_freq_factor},
        {"original_max_position_embeddings", rope_scaling.original_max_position_embeddings}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  if (model_type == "llama" || model_type == "qwen3") j["attention_bias"] = qkv_bias;
  if (model_type == "llama") j["mlp_bias"] = mlp_bias;
  if (model_type == "mistral") {
    j["sliding_window"] = sliding_window > 0 ? json(sliding_window) : json(nullptr);
  } else if (model_type == "qwen2" || model_type == "qwen3") {
    j["use_sliding_window"] = sliding_window > 0;
    j["sliding_window"] = sliding_window > 0 ? json(sliding_window) : json(nullptr);
    j["max_window_layers"] = sliding_window > 0 ? max_window_layers : num_hidden_layers;
  }
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["torch_dtype"] = torch_dtype;
  j["bos_token_id"] = bos_token_id >= 0 ? json(bos_token_id) : json(nullptr);
  j["eos_token_id"] = eos_token_id >= 0 ? json(eos_token_id) : json(nullptr);
  return j;
}

}  // namespace bitscape
