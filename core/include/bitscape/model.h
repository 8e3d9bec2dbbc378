// The LLaMA-family decoder (Llama 2/3, Mistral, Qwen2, Qwen3) in LibTorch with a block-by-block
// API: embed the tokens, run block i on hidden states (optionally capturing the input of every
// linear module), run the head. Calibration and evaluation stream through this API, so a model
// larger than device memory still runs: weights live on the CPU and a block is moved to the
// execution device when it runs. Tensor-facing header (LibTorch).
//
// Devices: weights are converted to LoadOptions::dtype when loaded. On the CPU they are used in
// place. For a CUDA device, a model whose weights take at most LoadOptions::resident_gib (2 GiB
// by default) is moved to the device once (parameters() then holds device tensors); a larger one
// stays on the CPU and each call of embed/run_block/head copies the weights it needs to the
// device for that call (streaming).
//
// Autograd: the forward uses no in-place operations on weights or activations and no
// NoGradGuard, so setting requires_grad on parameters() and calling backward on a loss built
// from forward() trains the model. Callers wrap evaluation in at::NoGradGuard themselves.
//
// Tied embeddings: when tie_word_embeddings is set or the checkpoint has no lm_head.weight,
// parameters() has no "lm_head.weight" and the head multiplies by model.embed_tokens.weight.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bitscape/config.h"
#include "bitscape/device.h"
#include "bitscape/model_info.h"

namespace bitscape {

struct LoadOptions {
  // compute/storage dtype: kFloat, kBFloat16, kHalf (kHalf needs CUDA with LibTorch 1.13)
  at::ScalarType dtype = at::kFloat;
  std::string device = "cpu";         // execution device: "cpu", "cuda", "cuda:1"
  // Keep the weights in the memory-mapped checkpoint instead of copying them (CPU only): a
  // tensor whose stored dtype is the compute dtype is used in place (read-only), any other is
  // converted each time a block runs. Calibration uses this so that its memory holds about one
  // block at a time; set_parameter() replaces a mapped tensor with a copy of its own.
  bool mapped = false;
  // CUDA: weights up to this many GiB are moved to the device once; a larger model streams its
  // blocks from host memory. Raise it to the free memory of the card (e.g. 100 on an H200 for
  // an 8B model in bf16).
  double resident_gib = 2.0;
};

// "fp32"/"float32", "bf16"/"bfloat16", "fp16"/"float16" -> the scalar type; InputError otherwise.
at::ScalarType parse_compute_dtype(const std::string& name);

// The load options of a job's DeviceOptions, checked: an unknown device or dtype, CUDA where it is
// not available, a dtype the device cannot compute in, or a negative GPU memory is an InputError
// (the jobs call this before any heavy work).
LoadOptions load_options(const DeviceOptions& device);
// "fp32", "bf16" or "fp16": the dtype's short name (as projects record it).
std::string short_dtype_name(at::ScalarType dtype);

// Called with (module name, input activation [.., in_features]) before each linear module of a
// block runs, e.g. "model.layers.3.mlp.down_proj".
using LinearInputHook = std::function<void(const std::string&, const at::Tensor&)>;

class Model {
 public:
  // Loads config.json and the safetensors weights of an HF model directory. Throws InputError.
  static Model load(const std::string& dir, const LoadOptions& options = {});
  // A randomly initialised model (for training and benchmarks), seeded.
  static Model random(const ModelConfig& config, uint64_t seed, const LoadOptions& options = {});

  const ModelConfig& config() const { return config_; }
  const std::string& dir() const { return dir_; }
  int64_t num_blocks() const { return config_.num_hidden_layers; }
  at::Device device() const { return device_; }
  at::ScalarType dtype() const { return dtype_; }

  // ids: int64 [B, T] -> hidden [B, T, hidden_size] on the execution device.
  at::Tensor embed(const at::Tensor& ids) const;
  // Runs decoder block i (causal attention over the T positions 0..T-1).
  at::Tensor run_block(int64_t i, const at::Tensor& hidden,
                       const LinearInputHook& hook = nullptr) const;
  // Final RMSNorm and lm_head: hidden [B, T, H] -> logits [B, T, vocab] (float32).
  at::Tensor head(const at::Tensor& hidden) const;
  // embed -> all blocks -> head.
  at::Tensor forward(const at::Tensor& ids) const;

  // Parameters by HF name ("model.layers.0.self_attn.q_proj.weight"), stored on the CPU unless
  // the whole model was moved to the execution device.
  const std::map<std::string, at::Tensor>& parameters() const { return params_; }
  at::Tensor& parameter(const std::string& name);
  const at::Tensor& parameter(const std::string& name) const;
  // A parameter on the execution device in the compute dtype (what the forward uses).
  at::Tensor weight(const std::string& name) const { return weight_on_device(name); }
  // Replaces a parameter (same shape), converted to the compute dtype and placed where the
  // model keeps its weights. Throws std::invalid_argument for an unknown name or shape.
  void set_parameter(const std::string& name, const at::Tensor& value);
  // For mapped weights in another dtype, or weights streamed to a device: converts/copies
  // block i's weights once, so that the forward passes over it until unstage() use them instead
  // of converting on every call. A no-op when the weights are used in place. Not thread-safe.
  void stage_block(int64_t i);
  void unstage();
  // The quantizable linear modules of the blocks, in execution order.
  std::vector<std::string> linear_modules() const;
  ModelSummary summary() const;

  // Writes config.json and model.safetensors (atomically) to `dir`.
  void save(const std::string& dir) const;

 private:
  ModelConfig config_;
  std::string dir_;
  at::Device device_ = at::kCPU;
  at::ScalarType dtype_ = at::kFloat;
  std::map<std::string, at::Tensor> params_;
  bool resident_ = true;  // all weights already on device_
  double resident_gib_ = 2.0;
  bool convert_on_use_ = false;  // mapped weights stored in another dtype than dtype_
  std::shared_ptr<std::map<std::string, at::Tensor>> staged_;  // see stage_block()
  int64_t file_bytes_ = 0;  // size of the checkpoint files this model was loaded from
  // The weight on the execution device in dtype_ (the stored tensor itself when resident).
  at::Tensor weight_on_device(const std::string& name) const;
  // RoPE cos/sin tables [T, head_dim] for positions 0..T-1 on device_ in dtype_, cached and
  // grown on demand (shared by copies of the model; guarded by a mutex).
  struct RopeCache;
  std::shared_ptr<RopeCache> rope_;
  std::pair<at::Tensor, at::Tensor> rope_tables(int64_t T) const;
  void finish_setup();  // places the weights on device_ and prepares the RoPE cache
  friend struct ModelInternals;
};

// Why a forward pass over `ids` [B, T] gives NaN or infinite values, in words: the first
// module whose finite input gives a non-finite output (e.g. weights of 3e38 overflow float32),
// or the first step (embedding, attention, residual, head) where they appear. Empty when the
// pass is finite. Runs one extra forward; meant for the error path.
std::string explain_non_finite(const Model& model, const at::Tensor& ids);

// Throws InputError(model.dir(), "<what> is not finite: " + explain_non_finite(...)).
[[noreturn]] void throw_non_finite(const Model& model, const at::Tensor& ids, const std::string& what);

}  // namespace bitscape
