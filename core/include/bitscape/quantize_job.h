// The quantize job: quantizes every module of a model as an allocation says, block by block,
// with the calibration statistics it needs from a project (calibrated before) or from a
// calibration run on a corpus (GPTQ's sequential mode by default: each block is measured on
// the outputs of the already-quantized blocks). The model's weights are replaced by the
// dequantized ones, so that the model can be evaluated or saved; the packed forms are kept on
// request. Used by `quantize`, `eval --alloc`, the GUI and the searches. Tensor-facing header.
#pragma once

#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bitscape/allocation.h"
#include "bitscape/calibration.h"
#include "bitscape/cost_model.h"
#include "bitscape/progress.h"
#include "bitscape/quantizer.h"

namespace bitscape {

class Model;

struct QuantizeJobOptions {
  std::string project;          // read statistics from this project, or
  std::string calib_data;       // calibrate on this corpus (text or JSONL)
  CalibrationOptions calib;     // samples, seqlen, seed of that calibration
  bool sequential = true;       // blocks see the quantized blocks' outputs (GPTQ); else the
                                // full-precision outputs
  bool keep_packed = false;     // keep every module's packed form in the report
  // k-means per row weighted by the Fisher information, as SqueezeLLM does (one backward pass
  // per calibration window on the unquantized model, before any block is quantized); off: by
  // diag(H). `fisher_windows` limits the windows used (0: all calibration windows).
  bool kmeans_fisher = false;
  int64_t fisher_windows = 0;
  // Inline calibration only: called with each block's measurements before it is quantized
  // (calibrate --mode quantized stores them in a project).
  std::function<void(const BlockCalibration&)> on_block_measured;
};

struct ModuleQuantReport {
  std::string name;
  std::string quantizer;
  int bits = 0;
  int64_t storage_bits = 0;
  // tr((W - Q) H (W - Q)^T) when H is known, else NaN.
  double objective = std::nan("");
  double seconds = 0.0;
};

struct QuantizeReport {
  std::vector<ModuleQuantReport> modules;  // execution order
  AllocationCost cost;
  std::string calibration;   // "none", "project PATH", or "N x L tokens from FILE (seed S)"
  double seconds = 0.0;
  std::map<std::string, PackedModule> packed;  // when keep_packed
};

// Throws InputError for an allocation that does not fit the model, a project made for another
// model or lacking what a quantizer needs, or an allocation that needs calibration when neither
// a project nor a corpus is given. Cancellable between modules.
QuantizeReport quantize_model(Model& model, const Allocation& allocation,
                              const QuantizeJobOptions& options, ProgressSink& progress,
                              const CancelToken& cancel);

// Whether any module of the allocation needs calibration statistics.
bool allocation_needs_calibration(const Allocation& allocation,
                                  const std::vector<ModuleShape>& shapes);

}  // namespace bitscape
