// Reads every part of a project through the same functions the jobs and views use, so that a
// damaged or hostile file is found at once instead of when a view first touches the damaged
// part: the model reference, the calibration settings, each module's statistics and Hessian,
// every sensitivity run (curves, saliency summaries, proxy correlations), search run, stored
// edit and probing run. Used by the fuzz target of the project reader and by the kill-safety
// tests ("a complete project"). Plain-value header (no LibTorch).
#pragma once

#include <cstdint>
#include <string>

namespace bitscape {

struct ProjectCheck {
  int64_t modules = 0, hessians = 0;  // calibrated modules, Hessians read
  int64_t sensitivity_runs = 0, curves = 0, saliency_maps = 0;
  int64_t search_runs = 0, search_points = 0;
  int64_t edits = 0, evaluations = 0, probing_runs = 0, probes = 0;
};

// Throws InputError naming the file and the first problem found.
ProjectCheck check_project(const std::string& path);

}  // namespace bitscape
