// Which run a command or view uses (run_choice.h).
#include "bitscape/run_choice.h"

#include <stdexcept>

#include "bitscape/error.h"
#include "bitscape/project.h"
#include "bitscape/search_store.h"
#include "bitscape/sensitivity_store.h"

namespace bitscape {

std::string choose_run(const std::vector<std::pair<std::string, std::string>>& runs,
                       RunChoice choice, const std::string& requested, const std::string& project,
                       const std::string& kind) {
  if (!requested.empty()) {
    for (const auto& [name, status] : runs)
      if (name == requested) return name;
    throw InputError(project, "has no " + kind + " run '" + requested + "'");
  }
  std::string last, last_complete, last_unfinished;
  for (const auto& [name, status] : runs) {
    last = name;
    (status == "complete" ? last_complete : last_unfinished) = name;
  }
  switch (choice) {
    case RunChoice::kShown: return last_complete.empty() ? last : last_complete;
    case RunChoice::kComplete: return last_complete;
    case RunChoice::kUnfinished: return last_unfinished;
  }
  return "";
}

std::vector<std::pair<std::string, std::string>> runs_with_status(const ProjectReader& reader,
                                                                  const std::string& kind) {
  std::vector<std::pair<std::string, std::string>> out;
  if (kind == "sensitivity") {
    for (const std::string& r : sensitivity_runs(reader))
      out.emplace_back(r, reader.string_attribute("/sensitivity/" + r, "status").value_or(""));
  } else if (kind == "search") {
    for (const std::string& r : search_runs(reader))
      out.emplace_back(r, reader.string_attribute("/search/" + r, "status").value_or(""));
  } else if (kind == "probing") {
    for (const std::string& r : probing_runs(reader)) out.emplace_back(r, "complete");
  } else {
    throw std::invalid_argument("runs_with_status: unknown kind '" + kind + "'");
  }
  return out;
}

std::string choose_run(const ProjectReader& reader, const std::string& kind, RunChoice choice,
                       const std::string& requested) {
  return choose_run(runs_with_status(reader, kind), choice, requested, reader.path(), kind);
}

}  // namespace bitscape
