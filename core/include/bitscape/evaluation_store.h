// Perplexity evaluations kept in a project (/evaluations/<name>, names eval0001, eval0002, ... in
// order): what was evaluated (the unquantized model or an allocation, in its JSON file form), on
// which data, how many windows of how many tokens, on which device and dtype, and the result; the
// user's label, and whether the results table hides or pins it. The workbench's evaluate panel
// writes one per evaluation, so that every perplexity it shows is labelled and none is lost when
// the window closes. Schema in docs/project-format.md. Plain-value header (no LibTorch).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "bitscape/project.h"

namespace bitscape {

struct EvaluationRecord {
  std::string name;             // eval0001, ...
  std::string created;          // UTC, ISO 8601
  std::string label;            // what the user calls it; renameable
  std::string subject;          // "unquantized" or "allocation"
  std::string allocation_name;  // the allocation's own name (subject "allocation")
  std::string allocation_json;  // Allocation::to_json (subject "allocation"), else ""
  double average_bits = std::nan("");  // with overhead (cost model); NaN for the unquantized model
  std::string data;             // the corpus file
  int64_t windows = 0, seqlen = 0;
  std::string device, dtype;
  double ppl = std::nan(""), nll = std::nan("");
  double seconds = 0.0;
  bool hidden = false, pinned = false;
};

std::vector<std::string> evaluation_records(const ProjectReader& r);  // names, oldest first
std::string next_evaluation_name(const ProjectReader& r);
// Replaces the record's group.
void write_evaluation(ProjectWriter& w, const EvaluationRecord& e);
// Throws InputError when the record is missing or damaged.
EvaluationRecord read_evaluation(const ProjectReader& r, const std::string& name);

// One line per record for a CSV file (the results table's export): a header line, then the
// records; fields quoted where they hold a comma, quote or line break.
std::string evaluations_csv(const std::vector<EvaluationRecord>& records);

}  // namespace bitscape
