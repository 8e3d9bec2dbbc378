// Jobs on a project shared by the CLI and the workbench: calibration (a new project from a model
// and a corpus) and a sensitivity run (saliency maps and per-module curves added to the project,
// resumable). They load the model, check the project belongs to it, store results as they go and
// keep what is finished when cancelled. Every job loads the model on `device` (any device, checked
// before the work starts). Plain-value header (no LibTorch).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "bitscape/allocation.h"
#include "bitscape/device.h"
#include "bitscape/progress.h"
#include "bitscape/sensitivity_options.h"
#include "bitscape/sensitivity_store.h"

namespace bitscape {

struct CalibrationJobOptions {
  std::string model_dir;
  std::string data;             // calibration corpus (text or JSONL)
  std::string out;              // the project to create (*.bsproj.h5), written atomically
  int64_t samples = 128;
  int64_t seqlen = 0;           // 0 = min(2048, the model's context)
  uint64_t seed = 0;
  std::string mode = "fp";      // "fp", or "quantized" (GPTQ's sequential inputs)
  std::string hessians = "full";  // "full" or "diag"
  DeviceOptions device;         // where and in what dtype the model runs
  // mode "quantized": the allocation to quantize with, made for the model's modules.
  std::function<Allocation(const std::vector<ModuleShape>&)> allocation;
};

struct CalibrationJobResult {
  int64_t samples = 0, seqlen = 0, modules = 0, hessian_values = 0;
  double seconds = 0.0;
};

// Throws InputError, Cancelled (the target is then left as it was).
CalibrationJobResult run_calibration_job(const CalibrationJobOptions& options, ProgressSink& progress,
                                         const CancelToken& cancel);

struct SensitivityJobOptions {
  std::string project;
  std::string model_dir;     // "" = the project's
  std::string run;           // "" = run1, run2, ... (with resume: the last unfinished)
  bool resume = false;
  SensitivityOptions sensitivity;  // metrics, bits, group, quantizer, curves, trace samples, pool
  std::string eval_data;     // "" = the calibration corpus
  int64_t eval_windows = 32;
  int64_t seqlen = 0;
  int64_t gradient_windows = 8;
  DeviceOptions device;
};

struct SensitivityJobResult {
  std::string run;
  SensitivityRunInfo info;               // as stored (status "complete")
  std::vector<SensitivityCurve> curves;  // execution order
  std::vector<ProxyCorrelation> correlations;
  std::string eval_data;
  int64_t seqlen = 0;
};

// Throws InputError, Cancelled (after storing the finished modules as a "cancelled" run).
SensitivityJobResult run_sensitivity_job(const SensitivityJobOptions& options, ProgressSink& progress,
                                         const CancelToken& cancel);

// TAMMP's multi-source probing (sensitivity.h's run_probing) as a job on a project: one corpus per
// source, `samples` windows drawn from each, the run stored in the project under a new name.
// The project is written once at the end (a cancelled run leaves it as it was).
struct ProbingJobOptions {
  std::string project;
  std::string model_dir;             // "" = the project's
  std::string run;                   // "" = probe1, probe2, ...
  std::vector<std::string> sources;  // corpora (text or JSONL), at least 2
  ProbingOptions probing;            // metric (not fisher), critical/non-critical shares, consensus
  int64_t samples = 32;              // windows per source
  int64_t seqlen = 0;                // 0 = min(2048, the model's context)
  uint64_t seed = 0;
  DeviceOptions device;
};

struct ProbingJobResult {
  std::string run;
  ProbingRunInfo info;                // as stored
  std::vector<ModuleProbing> probes;  // execution order
  std::vector<ModuleShape> shapes;    // the model's quantizable modules (for tammp_allocation)
};

// Throws InputError (bad options, another model, a taken run name), Cancelled.
ProbingJobResult run_probing_job(const ProbingJobOptions& options, ProgressSink& progress,
                                 const CancelToken& cancel);

}  // namespace bitscape
