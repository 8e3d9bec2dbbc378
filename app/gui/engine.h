// The GUI's door to core: opening a model, evaluating perplexity, the machine report. Plain
// values in and out, so Qt code includes this header and never a LibTorch one; the
// implementation (engine.cpp) includes LibTorch and no Qt. Every call runs on the job runner's
// worker thread, never on the GUI thread; calls are serialised by the runner and by a mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "bitscape/doctor.h"
#include "bitscape/eval_result.h"
#include "bitscape/model_info.h"
#include "bitscape/progress.h"
#include "bitscape/search_store.h"
#include "bitscape/sensitivity_result.h"
#include "bitscape/sensitivity_store.h"

namespace bitscape::gui {

struct EvaluationOptions {
  std::string model_dir;
  std::string data_path;
  int64_t seqlen = 256;
  int64_t max_windows = 0;  // 0 = all
  std::string device = "cpu";
  std::string dtype = "float32";  // "float32", "bfloat16", "float16"
  int threads = 0;                // 0 = one per core
};

// What the workbench shows of a project: its search runs (every evaluated point) and its
// sensitivity runs (per-module curves), as plain values.
struct ProjectContents {
  std::string path;
  std::string model_path;
  std::vector<std::string> modules;  // calibrated modules, execution order
  std::vector<SearchRunRecord> search_runs;
  struct Sensitivity {
    SensitivityRunInfo info;
    std::vector<SensitivityCurve> curves;  // in info.modules order
  };
  std::vector<Sensitivity> sensitivity_runs;
};

class Engine {
 public:
  Engine();
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Reads config.json and the safetensors headers (no weights). Throws InputError.
  ModelSummary open(const std::string& model_dir, ProgressSink& progress,
                    const CancelToken& cancel);
  // The papers' protocol, as `bitscape-cli eval`: corpus joined, tokenized once with special
  // tokens, non-overlapping windows. Keeps the loaded model and the tokens for the next call
  // with the same inputs. Throws InputError or Cancelled.
  PerplexityResult evaluate(const EvaluationOptions& options, ProgressSink& progress,
                            const CancelToken& cancel);

  // Reads a project file (*.bsproj.h5). Throws InputError.
  static ProjectContents readProject(const std::string& path, ProgressSink& progress,
                                     const CancelToken& cancel);

  static DoctorReport doctor();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bitscape::gui
