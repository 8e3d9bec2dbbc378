// Reads a whole project (project_check.h).
#include "bitscape/project_check.h"

#include <algorithm>

#include "bitscape/allocation.h"
#include "bitscape/error.h"
#include "bitscape/json_input.h"
#include "bitscape/project.h"
#include "bitscape/evaluation_store.h"
#include "bitscape/search_store.h"
#include "bitscape/sensitivity_store.h"

namespace bitscape {

ProjectCheck check_project(const std::string& path) {
  ProjectCheck c;
  const ProjectReader r = ProjectReader::open(path);
  const ProjectModelInfo model = r.model();
  if (r.has_calibration()) {
    r.calibration();
    const std::vector<std::string> modules = r.calibrated_modules();
    std::vector<std::string> keys;
    for (const std::string& m : modules) {
      const ModuleStatistics s = r.module_statistics(m);
      ++c.modules;
      // A module without a stored Hessian has an empty key.
      if (!s.hessian.empty() && std::find(keys.begin(), keys.end(), s.hessian) == keys.end()) {
        const HessianData h = r.hessian(s.hessian);
        if (h.n != s.in_features)
          throw InputError(path, "module " + m + " reads " + std::to_string(s.in_features) +
                                     " inputs but its Hessian " + s.hessian + " is " +
                                     std::to_string(h.n) + " x " + std::to_string(h.n));
        keys.push_back(s.hessian);
        ++c.hessians;
      }
    }
    for (const std::string& run : sensitivity_runs(r)) {
      const SensitivityRunInfo info = read_sensitivity_run(r, run, modules);
      ++c.sensitivity_runs;
      for (const std::string& m : info.modules) {
        if (read_module_curve(r, run, m)) ++c.curves;
        for (const std::string& metric : info.metrics)
          if (read_module_saliency(r, run, m, metric)) ++c.saliency_maps;
      }
      read_proxy_correlations(r, run);
    }
    for (const std::string& run : probing_runs(r)) {
      read_probing_run(r, run);
      ++c.probing_runs;
      for (const std::string& m : modules)
        if (read_module_probe(r, run, m)) ++c.probes;
    }
  }
  for (const std::string& run : search_runs(r)) {
    c.search_points += static_cast<int64_t>(read_search_run(r, run).points.size());
    ++c.search_runs;
  }
  for (const std::string& name : edit_records(r)) {
    const EditRecord e = read_edit(r, name);
    Allocation::from_json(parse_json(e.allocation_json, path, "edited allocation " + name),
                          model.modules, path + ":/edits/" + name);
    ++c.edits;
  }
  for (const std::string& name : evaluation_records(r)) {
    const EvaluationRecord e = read_evaluation(r, name);
    if (!e.allocation_json.empty())
      Allocation::from_json(parse_json(e.allocation_json, path, "evaluated allocation " + name),
                            model.modules, path + ":/evaluations/" + name);
    ++c.evaluations;
  }
  return c;
}

}  // namespace bitscape
