// Helpers shared by the jobs and commands that read a project: the calibration statistics of a
// module as the quantizers read them (one input group's Hessian read once), and run names.
// Timestamps: utc_now() in project.h. Tensor-facing header (LibTorch).
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "bitscape/calibration.h"
#include "bitscape/project.h"
#include "bitscape/quantizer.h"

namespace bitscape {

// Module statistics and Hessians from the project, one input group's Hessian read once.
// Constructed from a path, it opens the project for each read and closes it after: a job that
// also writes the project (a search, a sensitivity analysis) reads this way, so that its
// checkpoints can be written in place between reads (ProjectWriter::update).
class ProjectCalibration {
 public:
  explicit ProjectCalibration(const ProjectReader& r) : r_(&r) {}
  explicit ProjectCalibration(std::string project) : path_(std::move(project)) {}
  ModuleCalibration operator()(const std::string& module) {
    if (r_ != nullptr) return read(*r_, module);
    return read(ProjectReader::open(path_), module);
  }

 private:
  ModuleCalibration read(const ProjectReader& r, const std::string& module) {
    const ModuleStatistics s = r.module_statistics(module);
    if (s.hessian != key_) {
      const HessianData h = r.hessian(s.hessian, true);
      key_ = s.hessian;
      H_ = h.has_full() ? at::tensor(h.full(), at::kFloat).view({h.n, h.n}) : at::Tensor();
      diag_ = at::tensor(h.diag, at::kFloat);
    }
    ModuleCalibration c = module_calibration(s, H_);
    if (!c.hessian_diag.defined()) c.hessian_diag = diag_;
    return c;
  }

  const ProjectReader* r_ = nullptr;
  std::string path_;
  std::string key_;
  at::Tensor H_, diag_;
};

// The next free "<prefix>N" among existing names.
inline std::string next_name(const std::vector<std::string>& existing, const std::string& prefix) {
  for (int i = 1;; ++i) {
    const std::string n = prefix + std::to_string(i);
    if (std::find(existing.begin(), existing.end(), n) == existing.end()) return n;
  }
}

}  // namespace bitscape
