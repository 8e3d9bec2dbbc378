// The GUI's door to core: opening a model, evaluating perplexity, core's jobs (with core's own
// plain-value option structs: calibration, sensitivity, probing, search, measuring), the machine
// report. Plain values in and out, so Qt code includes this header and never a LibTorch one; the
// implementation (engine.cpp) includes LibTorch and no Qt. Every call runs on the job runner's
// worker thread, never on the GUI thread; calls are serialised by the runner and by a mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "bitscape/allocation.h"
#include "bitscape/device.h"
#include "bitscape/doctor.h"
#include "bitscape/eval_result.h"
#include "bitscape/evaluation_store.h"
#include "bitscape/model_info.h"
#include "bitscape/progress.h"
#include "bitscape/project_summary.h"
#include "bitscape/search_job.h"
#include "bitscape/search_store.h"
#include "bitscape/sensitivity_result.h"
#include "bitscape/sensitivity_job.h"
#include "bitscape/sensitivity_store.h"

namespace bitscape::gui {

struct EvaluationOptions {
  std::string model_dir;
  std::string data_path;
  int64_t seqlen = 256;
  int64_t max_windows = 0;  // 0 = all
  DeviceOptions device;           // device, dtype ("fp32", "bf16", "fp16"), GPU memory
  int threads = 0;                // 0 = one per core
  // The allocation to evaluate (quantized in memory first, with the project's calibration
  // statistics), or none: the unquantized model.
  std::optional<Allocation> allocation;
  // Where the evaluation is kept (/evaluations, evaluation_store.h); "" = not kept. Needed with
  // an allocation whose quantizers need calibration.
  std::string project;
  std::string label;  // the record's label ("" = made from what was evaluated)
};

// An evaluation's result and its record (what, on what data, windows, device; kept in the
// project when one was given: record.name is then set).
struct EvaluationOutcome {
  PerplexityResult result;
  EvaluationRecord record;
};

// What the workbench shows of a project: core's summary (search runs with every evaluated
// point, sensitivity runs with their curves, probing runs, measured edits), read once when a
// project opens.
using ProjectContents = ProjectSummary;

// An edited allocation measured and stored in the project.
struct MeasuredEdit {
  SearchPoint point;
  std::string name;  // its record in the project (/edits/<name>)
};

// The channels one module's allocation keeps at other bits, resolved as the quantizer resolves
// them (explicit indices, or a share of the channels by activation or weight norm from the
// project's calibration statistics), by original channel index along `axis`.
struct ChannelMarks {
  ChannelAxis axis = ChannelAxis::kIn;
  std::vector<int64_t> raised;   // more bits than the module's (fp16 classes included)
  std::vector<int64_t> lowered;  // fewer bits
  std::vector<int64_t> fp16_columns;  // activation outliers: whole input columns kept in fp16
  bool empty() const { return raised.empty() && lowered.empty() && fp16_columns.empty(); }
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
  EvaluationOutcome evaluate(const EvaluationOptions& options, ProgressSink& progress,
                             const CancelToken& cancel);
  // Writes a changed record (label, hidden, pinned) back into the project.
  static void updateEvaluation(const std::string& project, const EvaluationRecord& record);

  // Reads a project file (*.bsproj.h5). Throws InputError.
  static ProjectContents readProject(const std::string& path, ProgressSink& progress,
                                     const CancelToken& cancel);

  // Runs a search (core's search job: the run is stored in the project as it goes); each
  // evaluated point goes to progress.result("search_point", JSON). Returns the run's record.
  static SearchRunRecord search(const SearchJobOptions& options, ProgressSink& progress,
                                const CancelToken& cancel);

  // Calibrates and writes a new project; returns a one-line summary. Throws InputError/Cancelled.
  static std::string calibrate(const CalibrationJobOptions& options, ProgressSink& progress,
                               const CancelToken& cancel);
  // Adds a sensitivity run to the project; returns the run's name.
  static std::string sensitivity(const SensitivityJobOptions& options, ProgressSink& progress,
                                 const CancelToken& cancel);

  // The saliency summaries of one module (by metric) from the project's last complete
  // sensitivity run (else the last run); empty when there are none.
  static std::map<std::string, SaliencySummary> readSaliency(const std::string& project,
                                                              const std::string& module);

  // The module's probe from the project's last multi-source probing run, with the run's info.
  static std::optional<std::pair<ProbingRunInfo, StoredProbe>> readProbe(const std::string& project,
                                                                         const std::string& module);

  // Copies a project file to `to` (File > Save project as): in 16 MiB chunks with progress and
  // cancel, into a temporary file beside `to` renamed over it at the end. Throws InputError.
  static void copyProject(const std::string& from, const std::string& to, ProgressSink& progress,
                          const CancelToken& cancel);
  // Runs multi-source probing and stores it in the project; returns the run's name.
  static std::string probe(const ProbingJobOptions& options, ProgressSink& progress,
                           const CancelToken& cancel);
  // TAMMP's allocation (strategy 1 or 2: critical columns fp16, sub-critical 3 bits, the rest
  // 2 bits, RTN g128) from the project's last probing run. Throws InputError without one.
  static Allocation tammpAllocation(const std::string& project, int strategy);
  // The channels `setting` (the allocation of `module`) keeps at other bits. Reads the module's
  // statistics from the project and, for a class by weight norm, its weight from the model.
  static ChannelMarks channelMarks(const std::string& project, const std::string& module,
                                   const ModuleAllocation& setting);

  // The allocation behind a stored search point. Throws InputError (e.g. for a baseline).
  static Allocation allocationOfPoint(const std::string& project, const std::string& run, int64_t index);
  // Measures an allocation as a search candidate (KL, JSD, top-1, perplexity against the
  // unquantized model on the search's default windows), quantized with its own quantizers, and
  // stores it with its point in the project (nothing measured is lost).
  // (options.allocation; its name is the edit's label).
  static MeasuredEdit measureAllocation(const MeasureAllocationOptions& options,
                                        ProgressSink& progress, const CancelToken& cancel);
  // The allocation of a stored edit, for the model's modules. Throws InputError.
  static Allocation allocationOfEdit(const std::string& project, const std::string& name);

  static DoctorReport doctor();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bitscape::gui
