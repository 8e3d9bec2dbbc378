// Bitscape's own quantized-model folder, as `bitscape-cli quantize` writes it: the dequantized
// weights in Hugging Face layout (a model that `eval` and transformers load), the source model's
// tokenizer files, `quantized.safetensors` with every module's packed form (codes at their own
// widths, fp16 scales/zeros or codebooks, outliers, channel classes; per-module layout in the
// header's metadata as PackedModule::metadata_json writes it (quantizer.h), format
// "bitscape-packed" version 1) and the allocation used. Tensor-facing header (LibTorch).
#pragma once

#include <string>
#include <vector>

#include "bitscape/allocation.h"
#include "bitscape/quantize_job.h"

namespace bitscape {

class Model;

// Writes the folder's files into `dir` (an existing, empty staging folder: the caller puts it in
// place). `report` must hold the packed modules (QuantizeJobOptions::keep_packed). Throws
// InputError when a file cannot be written.
void write_packed_model(const std::string& dir, const Model& model, const std::string& source_dir,
                        const QuantizeReport& report, const Allocation& allocation,
                        const std::vector<ModuleShape>& shapes);

}  // namespace bitscape
