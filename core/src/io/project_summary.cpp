// What a project holds (project_summary.h).
#include "bitscape/project_summary.h"

#include "bitscape/run_choice.h"

namespace bitscape {

const ProjectSummary::Sensitivity* ProjectSummary::shown_sensitivity() const {
  std::vector<std::pair<std::string, std::string>> statuses;
  for (const Sensitivity& s : sensitivity_runs) statuses.emplace_back(s.info.name, s.info.status);
  const std::string name = choose_run(statuses, RunChoice::kShown, "", path, "sensitivity");
  for (const Sensitivity& s : sensitivity_runs)
    if (s.info.name == name) return &s;
  return nullptr;
}

ProjectSummary read_project_summary(const std::string& path, ProgressSink& progress,
                                    const CancelToken& cancel) {
  return read_project_summary(ProjectReader::open(path), progress, cancel);
}

ProjectSummary read_project_summary(const ProjectReader& reader, ProgressSink& progress,
                                    const CancelToken& cancel) {
  ProjectSummary c;
  c.path = reader.path();
  c.model = reader.model();
  if (reader.has_calibration()) {
    c.modules = reader.calibrated_modules();
    c.calibration = reader.calibration();
  }
  const std::vector<std::string> searches = search_runs(reader);
  const std::vector<std::string> sensitivities = sensitivity_runs(reader);
  progress.stage("read project", static_cast<int64_t>(searches.size() + sensitivities.size()));
  int64_t done = 0;
  for (const std::string& run : searches) {
    cancel.throw_if_cancelled();
    c.search_runs.push_back(read_search_run(reader, run));
    progress.advance(++done);
  }
  for (const std::string& run : sensitivities) {
    cancel.throw_if_cancelled();
    ProjectSummary::Sensitivity s;
    s.info = read_sensitivity_run(reader, run, c.modules);
    for (const std::string& m : s.info.modules) {
      if (auto curve = read_module_curve(reader, run, m)) s.curves.push_back(std::move(*curve));
      for (const std::string& metric : s.info.metrics)
        if (auto sal = read_module_saliency(reader, run, m, metric)) s.saliency_totals[m][metric] = sal->total;
    }
    c.sensitivity_runs.push_back(std::move(s));
    progress.advance(++done);
  }
  for (const std::string& run : probing_runs(reader)) c.probing_runs.push_back(read_probing_run(reader, run));
  for (const std::string& e : edit_records(reader)) c.edits.push_back(read_edit(reader, e));
  for (const std::string& e : evaluation_records(reader)) c.evaluations.push_back(read_evaluation(reader, e));
  return c;
}

}  // namespace bitscape
