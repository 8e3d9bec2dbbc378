// What a project holds, read once for the front ends: the model, the calibration, every search
// run with its points, every sensitivity run with its curves and saliency totals, the probing
// runs, the measured edits and the perplexity evaluations. `bitscape-cli show` prints it and the workbench opens a project
// from it. Plain values (no LibTorch).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bitscape/evaluation_store.h"
#include "bitscape/progress.h"
#include "bitscape/project.h"
#include "bitscape/search_store.h"
#include "bitscape/sensitivity_store.h"

namespace bitscape {

struct ProjectSummary {
  std::string path;
  ProjectModelInfo model;
  std::vector<std::string> modules;  // calibrated modules, execution order ([] without calibration)
  std::optional<CalibrationSettings> calibration;
  std::vector<SearchRunRecord> search_runs;  // oldest first
  struct Sensitivity {
    SensitivityRunInfo info;
    std::vector<SensitivityCurve> curves;  // in info.modules order
    // Saliency totals: module -> metric -> sum over the module's weights.
    std::map<std::string, std::map<std::string, double>> saliency_totals;
  };
  std::vector<Sensitivity> sensitivity_runs;  // oldest first
  std::vector<ProbingRunInfo> probing_runs;   // oldest first
  std::vector<EditRecord> edits;              // measured allocations, oldest first
  std::vector<EvaluationRecord> evaluations;  // perplexity evaluations, oldest first

  // The sensitivity run the views and `show` display (run_choice.h: the last complete, else the
  // last); nullptr when there is none.
  const Sensitivity* shown_sensitivity() const;
};

// Throws InputError (not a project, damaged), Cancelled.
ProjectSummary read_project_summary(const std::string& path, ProgressSink& progress,
                                    const CancelToken& cancel);
ProjectSummary read_project_summary(const ProjectReader& reader, ProgressSink& progress,
                                    const CancelToken& cancel);

}  // namespace bitscape
