// Calibration: N windows of L tokens drawn with a recorded seed from a corpus, streamed through
// the decoder block by block (the block-by-block API of model.h), measuring for every linear
// module the Hessian proxy H = 2/N sum x x^T (GPTQ; modules that read the same input share
// one), its input activations per channel (mean and max |x|, L2 norm), its output activations
// per channel (mean |y|, max |y|, mean and standard deviation: AutoMixQ selects channels by
// them) and its weight statistics. Blocks see the outputs of the full-precision blocks before
// them, or (GPTQ's sequential mode) of the already-quantized ones: a callback quantizes each
// block after it was measured and before its outputs are computed for the next. Memory holds
// one block's weights, its Hessians and the calibration activations at a time.
// Tensor-facing header (LibTorch).
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bitscape/config.h"
#include "bitscape/progress.h"
#include "bitscape/project.h"
#include "bitscape/quantizer.h"

namespace bitscape {

class Model;

struct CalibrationOptions {
  int64_t samples = 128;   // windows
  int64_t seqlen = 0;      // tokens per window; 0: min(2048, the model's max_position_embeddings)
  uint64_t seed = 0;
  bool full_hessians = true;  // keep the full H (else only its diagonal)
};

// GPTQ/AWQ practice (the wikitext-2 loader of GPTQ's datautils.py): each window starts at a
// uniformly random token offset in [0, len - seqlen], drawn with std::mt19937_64(seed).
// Throws InputError naming `source` when the corpus is not longer than one window.
struct CalibrationWindows {
  at::Tensor ids;                      // int64 [samples, seqlen]
  std::vector<int64_t> starts;         // token offsets
};
CalibrationWindows draw_calibration_windows(const std::vector<int32_t>& tokens, int64_t samples,
                                            int64_t seqlen, uint64_t seed,
                                            const std::string& source);

// The calibration windows a project was measured on, rebuilt from its corpus (checked against
// the recorded SHA-256) and window offsets: the first `max_windows` of them (0: all). Throws
// InputError naming the corpus or the project when they cannot be rebuilt.
at::Tensor project_calibration_windows(const Model& model, const CalibrationSettings& settings,
                                       const std::string& project, int64_t max_windows = 0);

// The effective window length for a model when `requested` is 0 (see CalibrationOptions).
int64_t default_seqlen(const Model& model, int64_t requested);

// A warning for windows longer than the context the model was trained on (max_position_
// embeddings): RoPE positions beyond it were never seen, the measurement describes no real use
// and attention's cost grows with the square of the length. Empty when the length is fine.
std::string context_warning(const ModelConfig& config, int64_t seqlen);

// What calibration measured for one block: the shared Hessians and every module's statistics.
struct BlockCalibration {
  int64_t block = 0;
  std::vector<HessianData> hessians;             // full or diagonal, as asked
  std::vector<ModuleStatistics> modules;         // in execution order
  std::map<std::string, at::Tensor> hessian_of;  // module -> its full H [in, in] (float32, CPU),
                                                 // present while the block is being processed
};

// Turns a module's statistics (and H) into what the quantizers read.
ModuleCalibration module_calibration(const ModuleStatistics& s, const at::Tensor& hessian);

// Receives each block's measurements; may return replacement weights for the block's modules
// (GPTQ's sequential mode), which are installed into the model before the block's outputs are
// computed for the next block. Return an empty map to leave the block as it is.
using BlockCallback = std::function<std::map<std::string, at::Tensor>(BlockCalibration&)>;

// Streams `windows` through all blocks of `model`, measuring each block and calling `on_block`
// (one progress step per block). Weights returned by the callback replace the model's weights
// (Model::set_parameter). Cancellable between batches.
void run_calibration(Model& model, const at::Tensor& windows, bool full_hessians,
                     const BlockCallback& on_block, ProgressSink& progress,
                     const CancelToken& cancel);

// The modules of one block that read the same input, in execution order, keyed like
// "model.layers.0.self_attn.q_proj+k_proj+v_proj".
struct InputGroup {
  std::string key;
  std::vector<std::string> modules;
};
std::vector<InputGroup> block_input_groups(const Model& model, int64_t block);

// The module shapes and the parameter count outside them, for allocations and the cost model.
std::vector<ModuleShape> module_shapes(const Model& model);
int64_t other_parameter_count(const Model& model);

// The project's record of the model (path, fingerprint, config, module shapes).
ProjectModelInfo project_model_info(const Model& model);

// SHA-256 of a file's bytes (hex), for provenance of corpora and models.
std::string file_sha256(const std::string& path);

}  // namespace bitscape
