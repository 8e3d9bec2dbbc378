// Search runs in the project file (/search/<run>, schema in docs/project-format.md): every
// evaluated point with its genome, the run's settings (to resume and to rebuild its options) and
// its state. Written at every checkpoint; a second run never overwrites a first. Plain-value
// header (no LibTorch).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bitscape/project.h"
#include "bitscape/search_result.h"

namespace bitscape {

struct SearchRunRecord {
  std::string name;
  std::string method;
  std::string status;       // "running", "complete", "cancelled"
  std::string created;
  std::string settings_json;  // the run's settings, compared on --resume
  std::string eval_data;
  int64_t eval_windows = 0, seqlen = 0;
  int64_t completed_iterations = 0;
  double baseline_ppl = 0.0;
  double seconds = 0.0;
  std::vector<std::string> log;
  std::vector<int> pinned;
  std::vector<SearchPoint> points;
};

// Replaces the run's group with the record (points included).
void write_search_run(ProjectWriter& w, const SearchRunRecord& r);
std::vector<std::string> search_runs(const ProjectReader& r);
SearchRunRecord read_search_run(const ProjectReader& r, const std::string& run);

}  // namespace bitscape
