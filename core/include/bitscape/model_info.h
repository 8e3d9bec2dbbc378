// A plain description of a model's modules (names, shapes, dtypes, parameter counts) for the
// inspect command and the GUI's model tree. Plain-value header (no LibTorch).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bitscape/config.h"

namespace bitscape {

struct TensorInfo {
  std::string name;            // HF name, e.g. "model.layers.0.self_attn.q_proj.weight"
  std::string dtype;           // safetensors dtype string: "F32", "BF16", ...
  std::vector<int64_t> shape;
  int64_t numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

struct ModuleInfo {
  std::string name;   // e.g. "model.layers.0.self_attn.q_proj" (module = one linear projection)
  std::string kind;   // "linear", "embedding", "norm", "head"
  int block = -1;     // decoder block index, -1 outside the blocks
  std::vector<TensorInfo> tensors;  // weight (and bias)
  int64_t params = 0;
};

struct ModelSummary {
  std::string path;
  ModelConfig config;
  std::vector<ModuleInfo> modules;  // in execution order
  int64_t total_params = 0;
  int64_t linear_params = 0;  // parameters of the quantizable linear modules in the blocks
  int64_t file_bytes = 0;
};

// The modules of a model from its config and tensor list alone (no weights are read), in
// execution order: embedding, per block (norms, attention projections, MLP projections), final
// norm, lm_head. A tied lm_head appears as kind "head" with no tensors of its own.
ModelSummary summarize_tensors(const ModelConfig& config, const std::vector<TensorInfo>& tensors);

// Reads config.json and the safetensors headers of an HF model directory. Throws InputError.
ModelSummary summarize_model_dir(const std::string& dir);

}  // namespace bitscape
