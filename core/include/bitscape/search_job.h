// The search as a job on a project, shared by `bitscape-cli search` and the workbench: loads the
// model the project records, reads the dp curves of a sensitivity run, tokenizes the evaluation
// windows, starts a new named run or resumes one with the same settings, runs the search
// (every point to `on_point` the moment it exists), stores the run in the project after every
// completed iteration and at the end, and on cancellation keeps the completed iterations.
// The model runs on `device` (any device, checked before the work starts). Plain-value header
// (no LibTorch).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "bitscape/allocation.h"
#include "bitscape/device.h"
#include "bitscape/progress.h"
#include "bitscape/search_options.h"
#include "bitscape/search_store.h"

namespace bitscape {

struct SearchJobOptions {
  std::string project;        // *.bsproj.h5 (calibrated), the run is added to it
  std::string model_dir;      // "" = the directory the project records
  std::string run;            // "" = search1, search2, ... (or, with resume, the last unfinished)
  bool resume = false;
  SearchOptions search;       // method, budgets, seed, bits, method parameters
  std::string quantizer;      // name of search.quantizer ("" = hqq for amq, rtn otherwise)
  std::string sensitivity_run;  // dp: "" = the last complete one
  std::string eval_data;      // "" = the project's calibration corpus
  int64_t eval_windows = 16;
  int64_t seqlen = 0;         // 0 = min(2048, the model's context)
  DeviceOptions device;
};

struct SearchJobResult {
  std::string run;
  std::string model_dir;
  SearchRunRecord record;     // as stored (status "complete")
  SearchOutcome outcome;      // points, options, modules, log
  std::vector<ModuleShape> shapes;  // the model's linear modules (for writing allocations)
  int64_t seqlen = 0;
  std::string eval_data;
};

// Throws InputError (bad project, model or settings), Cancelled (after saving the completed
// iterations as a "cancelled" run that `resume` continues).
SearchJobResult run_search_job(const SearchJobOptions& options,
                               const std::function<void(const SearchPoint&)>& on_point,
                               ProgressSink& progress, const CancelToken& cancel);

// The allocation behind the point of a stored run whose SearchPoint::index is `index` (its genes over the run's options, as
// the run's settings define them). Throws InputError when the point has no per-module genes
// (a baseline that is not one of the options) or the run/point does not exist.
Allocation allocation_of_point(const std::string& project, const std::string& run, int64_t index);

// Measures one allocation the way the search measures candidates, on the same evaluation
// windows (by default the project's calibration corpus, 16 windows of the model's context):
// quantized with the allocation's own quantizers (calibration statistics from the project),
// compared with the unquantized model (mean KL, JSD, top-1, perplexity). method "edited".
struct MeasureAllocationOptions {
  std::string project;
  std::string model_dir;  // "" = the project's
  Allocation allocation;
  std::string eval_data;  // "" = the project's calibration corpus
  int64_t eval_windows = 16;
  int64_t seqlen = 0;
  DeviceOptions device;
};
SearchPoint measure_allocation_job(const MeasureAllocationOptions& options, ProgressSink& progress,
                                   const CancelToken& cancel);

// Measures the allocation and stores it in the project as an edit (/edits/<name>, the next free
// name, written under the project's writer lock once the measurement is done) with its point
// (method "edited", index the edit's number) and `label` (default: the allocation's name); the
// record as stored. `bitscape-cli measure` and the workbench's editor both call this.
EditRecord store_measured_allocation(const MeasureAllocationOptions& options, const std::string& label,
                                     ProgressSink& progress, const CancelToken& cancel);

}  // namespace bitscape
