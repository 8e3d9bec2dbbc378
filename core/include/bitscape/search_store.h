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

// Allocations measured from the workbench's editor (/edits/<name>, names edit0001, edit0002, ...
// in order): the allocation in its JSON file form and the measured point, so that no measurement
// is lost when the window closes. Schema in docs/project-format.md.
struct EditRecord {
  std::string name;
  std::string created;
  std::string label;            // what the user called it (the allocation's name)
  std::string allocation_json;  // Allocation::to_json
  SearchPoint point;            // method "edited"
};
std::vector<std::string> edit_records(const ProjectReader& r);  // names, oldest first
std::string next_edit_name(const ProjectReader& r);
void write_edit(ProjectWriter& w, const EditRecord& e);
EditRecord read_edit(const ProjectReader& r, const std::string& name);

}  // namespace bitscape
