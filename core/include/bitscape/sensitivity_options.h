// What a sensitivity run and a multi-source probing run are asked for, and the plain results they
// hand back per module: sensitivity_job.h's options hold these, so the CLI and the workbench fill
// them directly. Plain-value header (no LibTorch).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bitscape/allocation.h"
#include "bitscape/sensitivity_result.h"

namespace bitscape {

struct SensitivityOptions {
  std::vector<int> bits = {2, 3, 4, 8};
  int group_size = 128;
  QuantizerKind quantizer = QuantizerKind::kRtn;  // how each module is quantized for its curve
  std::vector<SaliencyMetric> metrics = {SaliencyMetric::kObs, SaliencyMetric::kTammp,
                                         SaliencyMetric::kActivation,
                                         SaliencyMetric::kHessianDiagonal};
  bool curves = true;
  int64_t trace_samples = 16;  // Hutchinson samples for HAWQ's trace (0: none)
  int64_t pooled_rows = 128, pooled_cols = 128;
  uint64_t seed = 0;
};

struct SensitivityBaseline {
  double ppl = 0.0, nll = 0.0;
  int64_t windows = 0, seqlen = 0, tokens = 0;
};

struct ProbingOptions {
  SaliencyMetric metric = SaliencyMetric::kTammp;
  double critical_fraction = 0.01;      // top share of columns per source
  double non_critical_fraction = 0.5;   // bottom share of columns per source (strategy 2)
  int consensus = 0;                    // p of the consensus set; 0: ceil(K / 2)
  double damp = 0.01;
};

struct ModuleProbing {
  std::string module;
  std::vector<std::vector<float>> column_saliency;        // per source, [in]
  std::vector<std::vector<int64_t>> critical, non_critical;  // per source, sorted indices
  double compactness = 0.0;              // consensus Jaccard of the critical sets
  std::vector<uint8_t> groups_strategy1, groups_strategy2;  // per column: 2/1/0
};

}  // namespace bitscape
