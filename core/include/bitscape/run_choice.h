// The one rule for which run of a project a command or view uses when none is named, shared by
// the jobs (dp's curves, --resume), `bitscape-cli show` and the workbench. Plain values.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace bitscape {

class ProjectReader;

enum class RunChoice {
  kShown,       // the last complete run, else the last one (what the views and `show` display)
  kComplete,    // the last complete run, else none (dp reads the curves of a complete run)
  kUnfinished,  // the last run that is not complete (what --resume continues)
};

// Runs oldest first, each with its status ("complete", "running", "cancelled"). A `requested`
// run is returned when it exists (InputError naming `project` and the `kind` otherwise). ""
// when no run qualifies.
std::string choose_run(const std::vector<std::pair<std::string, std::string>>& runs,
                       RunChoice choice, const std::string& requested, const std::string& project,
                       const std::string& kind);

// The runs of a kind ("sensitivity", "search", "probing") with their status, oldest first
// (probing runs are written whole: always complete).
std::vector<std::pair<std::string, std::string>> runs_with_status(const ProjectReader& reader,
                                                                  const std::string& kind);

// choose_run over runs_with_status.
std::string choose_run(const ProjectReader& reader, const std::string& kind, RunChoice choice,
                       const std::string& requested = "");

}  // namespace bitscape
