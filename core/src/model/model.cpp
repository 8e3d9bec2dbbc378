// The LLaMA-family decoder. Each step follows transformers' modeling_llama.py (LlamaRMSNorm,
// LlamaRotaryEmbedding, apply_rotary_pos_emb, repeat_kv, eager_attention_forward, LlamaMLP,
// LlamaDecoderLayer), with the family differences of modeling_mistral.py (sliding window),
// modeling_qwen2.py (q/k/v biases) and modeling_qwen3.py (q_norm/k_norm per head), and the
// inverse frequencies of modeling_rope_utils.py (default, linear, llama3).
#include "bitscape/model.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <torch/version.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "bitscape/error.h"
#include "bitscape/safe_write.h"
#include "bitscape/safetensors.h"
#include "model/attention.h"
#include "util/text.h"

namespace bitscape {

struct Model::RopeCache {
  std::mutex mutex;
  at::Tensor inv_freq;  // float32 [head_dim / 2] on the CPU
  int64_t length = 0;   // positions covered by cos/sin
  at::Tensor cos, sin;  // [length, head_dim] on the execution device in the model dtype
};

namespace {

// A model that fits in this many bytes is moved to a CUDA device once (see model.h).
constexpr double kPi = 3.14159265358979323846;  // Python's math.pi

const char* const kLinearLeaves[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                     "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                     "mlp.down_proj"};

std::string block_prefix(int64_t i) { return "model.layers." + std::to_string(i) + "."; }

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
};

// The tensors of the HF checkpoint in execution order, as the nn.Modules of
// {Llama,Mistral,Qwen2,Qwen3}ForCausalLM declare them (nn.Linear weight is [out, in]).
std::vector<TensorSpec> expected_tensors(const ModelConfig& c, bool with_lm_head) {
  const int64_t H = c.hidden_size, D = c.head_dim, I = c.intermediate_size;
  const int64_t q_width = c.num_attention_heads * D, kv_width = c.num_key_value_heads * D;
  std::vector<TensorSpec> t;
  t.push_back({"model.embed_tokens.weight", {c.vocab_size, H}});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = block_prefix(i);
    auto linear = [&](const char* leaf, int64_t out, int64_t in, bool bias) {
      t.push_back({p + leaf + ".weight", {out, in}});
      if (bias) t.push_back({p + leaf + ".bias", {out}});
    };
    t.push_back({p + "input_layernorm.weight", {H}});
    linear("self_attn.q_proj", q_width, H, c.qkv_bias);
    linear("self_attn.k_proj", kv_width, H, c.qkv_bias);
    linear("self_attn.v_proj", kv_width, H, c.qkv_bias);
    if (c.qk_norm) {
      t.push_back({p + "self_attn.q_norm.weight", {D}});
      t.push_back({p + "self_attn.k_norm.weight", {D}});
    }
    linear("self_attn.o_proj", H, q_width, c.o_proj_bias);
    t.push_back({p + "post_attention_layernorm.weight", {H}});
    linear("mlp.gate_proj", I, H, c.mlp_bias);
    linear("mlp.up_proj", I, H, c.mlp_bias);
    linear("mlp.down_proj", H, I, c.mlp_bias);
  }
  t.push_back({"model.norm.weight", {H}});
  if (with_lm_head) t.push_back({"lm_head.weight", {c.vocab_size, H}});
  return t;
}

std::string dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return "float32";
    case at::kBFloat16:
      return "bfloat16";
    case at::kHalf:
      return "float16";
    default:
      return c10::toString(t);
  }
}

// LlamaRMSNorm.forward: variance of the float32 input, x * rsqrt(variance + eps), cast back to
// the input dtype, then times the weight.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor variance = xf.pow(2).mean(-1, /*keepdim=*/true);
  return weight * (xf * at::rsqrt(variance + eps)).to(x.scalar_type());
}

// apply_rotary_pos_emb with rotate_half(x) = cat(-x2, x1): x * cos + rotate_half(x) * sin.
// cos/sin are cat(freqs, freqs), so both halves share cos1 = cos[..., :D/2]; per half this is
// x1*cos1 - x2*sin1 and x2*cos1 + x1*sin1, the same products and sums as HF's expression.
// x: [B, T, heads, D]; cos, sin: [T, D].
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  const at::Tensor c = cos.narrow(-1, 0, half).unsqueeze(1);  // [T, 1, D/2]
  const at::Tensor s = sin.narrow(-1, 0, half).unsqueeze(1);
  const at::Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  return at::cat({x1 * c - x2 * s, x2 * c + x1 * s}, -1);
}

// The inverse frequencies of LlamaRotaryEmbedding, float32 as transformers computes them:
// compute_default_rope_parameters, _compute_linear_scaling_rope_parameters and
// _compute_llama3_parameters (Python's `a / tensor` is tensor.reciprocal() * a).
at::Tensor rope_inv_freq(const ModelConfig& c) {
  const int64_t dim = c.head_dim;
  const at::Tensor exponent = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / dim;
  at::Tensor inv_freq = at::reciprocal(at::pow(c.rope_theta, exponent));
  const RopeScaling& rs = c.rope_scaling;
  if (rs.type == "linear") {
    inv_freq = inv_freq / rs.factor;
  } else if (rs.type == "llama3") {
    const double old_context_len = static_cast<double>(rs.original_max_position_embeddings);
    const double low_freq_wavelen = old_context_len / rs.low_freq_factor;
    const double high_freq_wavelen = old_context_len / rs.high_freq_factor;
    const at::Tensor wavelen = at::reciprocal(inv_freq) * (2 * kPi);
    // wavelen > low_freq_wavelen: divide by factor; wavelen < high_freq_wavelen: keep.
    at::Tensor inv_freq_llama =
        at::where(wavelen > low_freq_wavelen, inv_freq / rs.factor, inv_freq);
    // In between: interpolate with the smooth factor.
    const at::Tensor smooth_factor =
        (at::reciprocal(wavelen) * old_context_len - rs.low_freq_factor) /
        (rs.high_freq_factor - rs.low_freq_factor);
    const at::Tensor smoothed_inv_freq =
        (1 - smooth_factor) * inv_freq_llama / rs.factor + smooth_factor * inv_freq_llama;
    const at::Tensor is_medium_freq = at::logical_not(wavelen < high_freq_wavelen)
                                          .logical_and(at::logical_not(wavelen > low_freq_wavelen));
    inv_freq_llama = at::where(is_medium_freq, smoothed_inv_freq, inv_freq_llama);
    inv_freq = inv_freq_llama;
  }
  return inv_freq.contiguous();
}

// Whether every value of a contiguous CPU float tensor is finite, read in place: a value is
// NaN or infinite exactly when all its exponent bits are set.
template <typename Bits>
bool exponent_never_all_ones(const void* data, int64_t n, Bits mask) {
  const Bits* p = static_cast<const Bits*>(data);
  std::atomic<bool> ok{true};
  at::parallel_for(0, n, int64_t(1) << 20, [&](int64_t b, int64_t e) {
    Bits any = 0;
    for (int64_t i = b; i < e; ++i) any |= static_cast<Bits>((p[i] & mask) == mask);
    if (any) ok = false;
  });
  return ok;
}

bool all_finite_in_place(const at::Tensor& t) {
  if (!t.is_contiguous() || !t.device().is_cpu()) return at::isfinite(t).all().item<bool>();
  switch (t.scalar_type()) {
    case at::kFloat:
      return exponent_never_all_ones<uint32_t>(t.data_ptr(), t.numel(), 0x7f800000u);
    case at::kDouble:
      return exponent_never_all_ones<uint64_t>(t.data_ptr(), t.numel(), 0x7ff0000000000000ull);
    case at::kBFloat16:
      return exponent_never_all_ones<uint16_t>(t.data_ptr(), t.numel(), 0x7f80);
    case at::kHalf:
      return exponent_never_all_ones<uint16_t>(t.data_ptr(), t.numel(), 0x7c00);
    default:
      return true;  // integer tensors are always finite
  }
}

// The number of decoder blocks whose tensors a checkpoint holds: one more than the largest N in
// "model.layers.N." names (0 when there are none).
int64_t checkpoint_blocks(const Checkpoint& checkpoint) {
  const std::string prefix = "model.layers.";
  int64_t blocks = 0;
  for (const std::string& name : checkpoint.names()) {
    if (name.rfind(prefix, 0) != 0) continue;
    int64_t n = 0;
    size_t i = prefix.size();
    for (; i < name.size() && i < prefix.size() + 9 && name[i] >= '0' && name[i] <= '9'; ++i)
      n = n * 10 + (name[i] - '0');
    if (i > prefix.size() && i < name.size() && name[i] == '.') blocks = std::max(blocks, n + 1);
  }
  return blocks;
}

}  // namespace

at::ScalarType parse_compute_dtype(const std::string& s) {
  if (s == "fp32" || s == "float32") return at::kFloat;
  if (s == "bf16" || s == "bfloat16") return at::kBFloat16;
  if (s == "fp16" || s == "float16") return at::kHalf;
  throw InputError("", "unknown dtype '" + s + "' (use fp32, bf16 or fp16)");
}

namespace {

at::Device parse_device(const std::string& name) {
  at::Device device = at::kCPU;
  try {
    device = at::Device(name);
  } catch (const std::exception&) {
    throw InputError("", "unknown device '" + name + "' (use cpu, cuda or cuda:N)");
  }
  if (device.is_cuda() && !at::hasCUDA())
    throw InputError("", "device '" + name + "' requested but CUDA is not available");
  if (!device.is_cpu() && !device.is_cuda())
    throw InputError("", "unsupported device '" + name + "' (use cpu, cuda or cuda:N)");
  return device;
}

void check_dtype(at::ScalarType t, const at::Device& device) {
  if (t != at::kFloat && t != at::kBFloat16 && t != at::kHalf)
    throw InputError("", std::string("unsupported model dtype ") + c10::toString(t) +
                             " (float32, bfloat16, float16)");
#if TORCH_VERSION_MAJOR < 2
  // LibTorch 1.13 has no float16 matrix multiply on the CPU.
  if (t == at::kHalf && device.is_cpu())
    throw InputError(
        "", "float16 needs a CUDA device with this LibTorch; use bfloat16 or float32 on the CPU");
#endif
}

}  // namespace

LoadOptions load_options(const DeviceOptions& d) {
  LoadOptions o;
  o.dtype = parse_compute_dtype(d.dtype);
  o.device = d.device;
  check_dtype(o.dtype, parse_device(d.device));
  if (!(d.gpu_memory_gib >= 0.0))
    throw InputError("", "the GPU memory must be 0 or more GiB (got " + std::to_string(d.gpu_memory_gib) + ")");
  o.resident_gib = d.gpu_memory_gib;
  return o;
}

std::string short_dtype_name(at::ScalarType t) {
  return t == at::kBFloat16 ? "bf16" : t == at::kHalf ? "fp16" : "fp32";
}

// --- construction -------------------------------------------------------------------------------

void Model::finish_setup() {
  int64_t bytes = 0;
  for (const auto& [name, t] : params_) bytes += t.numel() * static_cast<int64_t>(t.element_size());
  resident_ = device_.is_cpu() || double(bytes) <= resident_gib_ * double(int64_t(1) << 30);
  if (resident_ && !device_.is_cpu())
    for (auto& [name, t] : params_) t = t.to(device_);
  rope_ = std::make_shared<RopeCache>();
  rope_->inv_freq = rope_inv_freq(config_);
}

Model Model::load(const std::string& dir, const LoadOptions& options) {
  Model m;
  m.device_ = parse_device(options.device);
  m.resident_gib_ = options.resident_gib;
  check_dtype(options.dtype, m.device_);
  m.dtype_ = options.dtype;
  m.dir_ = dir;
  m.config_ = ModelConfig::from_json_file((std::filesystem::path(dir) / "config.json").string());
  const Checkpoint checkpoint = Checkpoint::open_dir(dir);
  // The blocks config.json announces must all be in the checkpoint before anything is sized by
  // their count (a hostile num_hidden_layers must not allocate).
  const int64_t blocks_in_file = checkpoint_blocks(checkpoint);
  if (blocks_in_file < m.config_.num_hidden_layers)
    throw InputError(dir, "config.json gives num_hidden_layers " +
                              std::to_string(m.config_.num_hidden_layers) +
                              " but the checkpoint holds tensors of " +
                              std::to_string(blocks_in_file) + " blocks");
  // LlamaForCausalLM ties lm_head to embed_tokens only when tie_word_embeddings is set; without
  // it transformers would start lm_head from random values, so a missing lm_head is an error.
  const bool tied = m.config_.tie_word_embeddings;
  if (!tied && !checkpoint.contains("lm_head.weight"))
    throw InputError(dir, "missing tensor 'lm_head.weight' (config.json has tie_word_embeddings "
                          "false; set it to true if the head shares the embedding matrix)");
  const bool keep_mapped = options.mapped && m.device_.is_cpu();
  for (const TensorSpec& spec : expected_tensors(m.config_, !tied)) {
    if (!checkpoint.contains(spec.name))
      throw InputError(dir, "missing tensor '" + spec.name + "' (expected shape " +
                                shape_string(spec.shape) + ")");
    const TensorInfo& info = checkpoint.info(spec.name);
    if (info.shape != spec.shape)
      throw InputError(dir, "tensor '" + spec.name + "' has shape " + shape_string(info.shape) +
                                ", expected " + shape_string(spec.shape));
    if (info.dtype != "F32" && info.dtype != "F16" && info.dtype != "BF16" && info.dtype != "F64")
      throw InputError(dir, "tensor '" + spec.name + "' has dtype " + info.dtype +
                                "; a model's weights must be floating point (F32, F16, BF16)");
    at::Tensor t;
    if (keep_mapped) {
      // The read-only view itself, checked in place (no temporary copies: converted chunks
      // fragmented glibc's heap into gigabytes for a 1B model).
      t = checkpoint.tensor(spec.name);
      if (!all_finite_in_place(t))
        throw InputError(dir, "tensor '" + spec.name + "' contains NaN or infinite values");
      if (t.scalar_type() != m.dtype_) m.convert_on_use_ = true;
    } else {
      // Copy out of the read-only mapping, converting to the model dtype.
      t = checkpoint.tensor(spec.name).to(m.dtype_, /*non_blocking=*/false, /*copy=*/true);
      if (!at::isfinite(t).all().item<bool>())
        throw InputError(dir,
                         "tensor '" + spec.name + "' contains NaN or infinite values" +
                             (t.scalar_type() == at::kHalf ? " (after conversion to float16)" : ""));
    }
    m.params_.emplace(spec.name, std::move(t));
  }
  m.file_bytes_ = checkpoint.total_bytes();
  m.finish_setup();
  return m;
}

Model Model::random(const ModelConfig& config, uint64_t seed, const LoadOptions& options) {
  Model m;
  m.device_ = parse_device(options.device);
  m.resident_gib_ = options.resident_gib;
  check_dtype(options.dtype, m.device_);
  m.dtype_ = options.dtype;
  // Validated and normalised as if read from config.json (so that save() writes a loadable
  // one); head_dim and num_key_value_heads default as there.
  ModelConfig c = config;
  if (c.num_key_value_heads <= 0) c.num_key_value_heads = c.num_attention_heads;
  nlohmann::json j = c.to_json();
  if (c.head_dim <= 0) j.erase("head_dim");
  m.config_ = ModelConfig::from_json(j, "model config");
  m.config_.torch_dtype = dtype_name(options.dtype);
  // PreTrainedModel._init_weights: Linear and Embedding weights ~ N(0, initializer_range),
  // biases 0, RMSNorm weights 1.
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const double init_std = m.config_.initializer_range > 0 ? m.config_.initializer_range : 0.02;
  for (const TensorSpec& spec : expected_tensors(m.config_, !m.config_.tie_word_embeddings)) {
    at::Tensor t;
    if (ends_with(spec.name, "norm.weight")) {
      t = at::ones(spec.shape, at::kFloat);
    } else if (ends_with(spec.name, ".bias")) {
      t = at::zeros(spec.shape, at::kFloat);
    } else {
      t = at::empty(spec.shape, at::kFloat);
      t.normal_(0.0, init_std, gen);
    }
    m.params_.emplace(spec.name, t.to(m.dtype_));
  }
  m.finish_setup();
  return m;
}

// --- parameters ---------------------------------------------------------------------------------

at::Tensor& Model::parameter(const std::string& name) {
  auto it = params_.find(name);
  if (it == params_.end()) throw InputError(dir_, "model has no tensor '" + name + "'");
  return it->second;
}

const at::Tensor& Model::parameter(const std::string& name) const {
  auto it = params_.find(name);
  if (it == params_.end()) throw InputError(dir_, "model has no tensor '" + name + "'");
  return it->second;
}

void Model::stage_block(int64_t i) {
  staged_.reset();
  if (resident_ && !convert_on_use_) return;
  auto staged = std::make_shared<std::map<std::string, at::Tensor>>();
  const std::string prefix = block_prefix(i);
  for (const auto& [name, t] : params_)
    if (name.rfind(prefix, 0) == 0) (*staged)[name] = t.to(device_, dtype_);
  staged_ = std::move(staged);
}

void Model::unstage() { staged_.reset(); }

at::Tensor Model::weight_on_device(const std::string& name) const {
  if (staged_) {
    auto it = staged_->find(name);
    if (it != staged_->end()) return it->second;
  }
  const at::Tensor& t = parameter(name);
  if (convert_on_use_) return t.to(device_, dtype_);
  return resident_ ? t : t.to(device_);
}

void Model::set_parameter(const std::string& name, const at::Tensor& value) {
  auto it = params_.find(name);
  if (it == params_.end()) throw std::invalid_argument("Model::set_parameter: no tensor '" + name + "'");
  if (it->second.sizes() != value.sizes())
    throw std::invalid_argument("Model::set_parameter: '" + name + "' has another shape");
  const at::Device where = resident_ ? device_ : at::Device(at::kCPU);
  it->second = value.detach().to(where, dtype_, /*non_blocking=*/false, /*copy=*/true);
  if (staged_ && staged_->count(name)) (*staged_)[name] = it->second.to(device_, dtype_);
}

std::vector<std::string> Model::linear_modules() const {
  std::vector<std::string> names;
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i)
    for (const char* leaf : kLinearLeaves) names.push_back(block_prefix(i) + leaf);
  return names;
}

ModelSummary Model::summary() const {
  std::vector<TensorInfo> infos;
  const bool has_head = params_.count("lm_head.weight") > 0;
  for (const TensorSpec& spec : expected_tensors(config_, has_head)) {
    const at::Tensor& t = params_.at(spec.name);
    infos.push_back({spec.name, scalar_to_safetensors_dtype(t.scalar_type()), t.sizes().vec()});
  }
  ModelSummary s = summarize_tensors(config_, infos);
  s.path = dir_;
  s.file_bytes = file_bytes_;
  return s;
}

// --- forward ------------------------------------------------------------------------------------

std::pair<at::Tensor, at::Tensor> Model::rope_tables(int64_t T) const {
  std::lock_guard<std::mutex> lock(rope_->mutex);
  if (T > rope_->length) {
    // Normal tensors even when the first caller runs under InferenceMode, so that a later
    // training forward may save them for backward.
    c10::InferenceMode not_inference(false);
    const int64_t length = std::max<int64_t>({T, 2 * rope_->length, 256});
    // LlamaRotaryEmbedding.forward: freqs = position * inv_freq (float32), emb = cat(freqs,
    // freqs), cos/sin in float32 then cast to the activation dtype.
    const at::Tensor positions = at::arange(length, at::kLong).to(at::kFloat);
    const at::Tensor freqs = positions.unsqueeze(1) * rope_->inv_freq.unsqueeze(0);
    const at::Tensor emb = at::cat({freqs, freqs}, -1);
    rope_->cos = emb.cos().to(device_, dtype_);
    rope_->sin = emb.sin().to(device_, dtype_);
    rope_->length = length;
  }
  return {rope_->cos.narrow(0, 0, T), rope_->sin.narrow(0, 0, T)};
}

at::Tensor Model::embed(const at::Tensor& ids) const {
  if (ids.dim() != 2 || ids.scalar_type() != at::kLong)
    throw std::invalid_argument("Model::embed: ids must be int64 [B, T]");
  const at::Tensor& weight = parameter("model.embed_tokens.weight");
  if (resident_) return at::embedding(weight, ids.to(weight.device()));
  // Streaming: gather the rows on the CPU, move only the activations.
  return at::embedding(weight, ids.to(at::kCPU)).to(device_);
}

at::Tensor Model::run_block(int64_t i, const at::Tensor& hidden_in,
                            const LinearInputHook& hook) const {
  if (i < 0 || i >= config_.num_hidden_layers)
    throw std::out_of_range("Model::run_block: block " + std::to_string(i) + " out of range");
  if (hidden_in.dim() != 3 || hidden_in.size(2) != config_.hidden_size)
    throw std::invalid_argument("Model::run_block: hidden must be [B, T, hidden_size]");
  const ModelConfig& c = config_;
  const std::string p = block_prefix(i);
  auto w = [&](const char* leaf) { return weight_on_device(p + leaf); };
  auto bias = [&](const char* leaf, bool present) {
    return present ? weight_on_device(p + leaf) : at::Tensor();
  };
  auto call_hook = [&](const char* leaf, const at::Tensor& x) {
    if (hook) hook(p + leaf, x);
  };

  const at::Tensor hidden = hidden_in.to(device_, dtype_);
  const int64_t B = hidden.size(0), T = hidden.size(1);
  const int64_t n_heads = c.num_attention_heads, n_kv = c.num_key_value_heads, D = c.head_dim;

  // --- self-attention (LlamaAttention.forward with eager_attention_forward) ---
  const at::Tensor x = rms_norm(hidden, w("input_layernorm.weight"), c.rms_norm_eps);
  call_hook("self_attn.q_proj", x);
  call_hook("self_attn.k_proj", x);
  call_hook("self_attn.v_proj", x);
  at::Tensor q =
      at::linear(x, w("self_attn.q_proj.weight"), bias("self_attn.q_proj.bias", c.qkv_bias))
          .view({B, T, n_heads, D});
  at::Tensor k =
      at::linear(x, w("self_attn.k_proj.weight"), bias("self_attn.k_proj.bias", c.qkv_bias))
          .view({B, T, n_kv, D});
  const at::Tensor v =
      at::linear(x, w("self_attn.v_proj.weight"), bias("self_attn.v_proj.bias", c.qkv_bias))
          .view({B, T, n_kv, D});
  if (c.qk_norm) {  // Qwen3Attention: RMSNorm over head_dim of each head, before RoPE
    q = rms_norm(q, w("self_attn.q_norm.weight"), c.rms_norm_eps);
    k = rms_norm(k, w("self_attn.k_norm.weight"), c.rms_norm_eps);
  }
  const auto [rope_cos, rope_sin] = rope_tables(T);
  q = apply_rope(q, rope_cos, rope_sin);  // [B, T, H, D]
  k = apply_rope(k, rope_cos, rope_sin);  // [B, T, KV, D]

  const at::Tensor attn = detail::causal_attention(
      q, k, v, c.uses_sliding_window(i) ? c.sliding_window : 0);  // [B, T, H * D]
  call_hook("self_attn.o_proj", attn);
  const at::Tensor attn_out =
      at::linear(attn, w("self_attn.o_proj.weight"), bias("self_attn.o_proj.bias", c.o_proj_bias));
  const at::Tensor h = hidden + attn_out;

  // --- MLP (LlamaMLP: down(silu(gate(x)) * up(x))) ---
  const at::Tensor y = rms_norm(h, w("post_attention_layernorm.weight"), c.rms_norm_eps);
  call_hook("mlp.gate_proj", y);
  call_hook("mlp.up_proj", y);
  const at::Tensor gate =
      at::linear(y, w("mlp.gate_proj.weight"), bias("mlp.gate_proj.bias", c.mlp_bias));
  const at::Tensor up =
      at::linear(y, w("mlp.up_proj.weight"), bias("mlp.up_proj.bias", c.mlp_bias));
  const at::Tensor act = at::silu(gate) * up;
  call_hook("mlp.down_proj", act);
  return h + at::linear(act, w("mlp.down_proj.weight"), bias("mlp.down_proj.bias", c.mlp_bias));
}

at::Tensor Model::head(const at::Tensor& hidden) const {
  const at::Tensor x = rms_norm(hidden.to(device_, dtype_), weight_on_device("model.norm.weight"),
                                config_.rms_norm_eps);
  const char* head_name =
      params_.count("lm_head.weight") ? "lm_head.weight" : "model.embed_tokens.weight";
  return at::linear(x, weight_on_device(head_name)).to(at::kFloat);
}

at::Tensor Model::forward(const at::Tensor& ids) const {
  at::Tensor hidden = embed(ids);
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) hidden = run_block(i, hidden);
  return head(hidden);
}

// --- diagnosing non-finite results ---------------------------------------------------------------

std::string explain_non_finite(const Model& model, const at::Tensor& ids) {
  c10::InferenceMode guard;
  auto finite = [](const at::Tensor& t) { return at::isfinite(t).all().item<bool>(); };
  auto largest = [](const at::Tensor& w) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", w.abs().max().item<double>());
    return std::string(buf);
  };
  at::Tensor h = model.embed(ids);
  if (!finite(h)) return "the embeddings (model.embed_tokens) hold non-finite values";
  for (int64_t b = 0; b < model.num_blocks(); ++b) {
    std::string culprit;
    const LinearInputHook hook = [&](const std::string& module, const at::Tensor& x) {
      if (!culprit.empty()) return;
      if (!finite(x)) {
        culprit = "the input of " + module +
                  " is not finite (an overflow in the normalisation or attention before it)";
        return;
      }
      const at::Tensor w = model.weight(module + ".weight");
      if (!finite(at::linear(x, w)))
        culprit = module + " turns finite inputs into non-finite outputs (its largest |weight| is " +
                  largest(w) + "; the values overflow " + dtype_name(model.dtype()) + ")";
    };
    const at::Tensor out = model.run_block(b, h, hook);
    if (!culprit.empty()) return culprit;
    if (!finite(out))
      return "block " + std::to_string(b) + "'s output is not finite (the residual sum overflows)";
    h = out;
  }
  if (!finite(model.head(h)))
    return "the head (final norm and lm_head) gives non-finite logits from finite hidden states";
  return "";
}

void throw_non_finite(const Model& model, const at::Tensor& ids, const std::string& what) {
  const std::string why = explain_non_finite(model, ids);
  throw InputError(model.dir(), what + " is not finite: " +
                                    (why.empty() ? "NaN or infinite values appeared" : why));
}

// --- saving -------------------------------------------------------------------------------------

void Model::save(const std::string& dir) const {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw InputError(dir, "cannot create directory: " + ec.message());

  const bool has_head = params_.count("lm_head.weight") > 0;
  ModelConfig c = config_;
  c.torch_dtype = dtype_name(dtype_);
  c.tie_word_embeddings = !has_head;
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const TensorSpec& spec : expected_tensors(c, has_head))
    tensors.emplace_back(spec.name, params_.at(spec.name).detach());
  write_safetensors((fs::path(dir) / "model.safetensors").string(), tensors, {{"format", "pt"}});

  write_file_atomically((fs::path(dir) / "config.json").string(), c.to_json().dump(2) + "\n",
                        "config.json");
}

}  // namespace bitscape
