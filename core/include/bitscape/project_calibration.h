// Helpers shared by the jobs and commands that read a project: the calibration statistics of a
// module as the quantizers read them (one input group's Hessian read once), and run names.
// Timestamps: utc_now() in project.h. Tensor-facing header (LibTorch).
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <string>
#include <vector>

#include "bitscape/calibration.h"
#include "bitscape/project.h"
#include "bitscape/quantizer.h"

namespace bitscape {

// Module statistics and Hessians from the project, one input group's Hessian read once.
class ProjectCalibration {
 public:
  explicit ProjectCalibration(const ProjectReader& r) : r_(r) {}
  ModuleCalibration operator()(const std::string& module) {
    const ModuleStatistics s = r_.module_statistics(module);
    if (s.hessian != key_) {
      const HessianData h = r_.hessian(s.hessian, true);
      key_ = s.hessian;
      H_ = h.has_full() ? at::tensor(h.full(), at::kFloat).view({h.n, h.n}) : at::Tensor();
      diag_ = at::tensor(h.diag, at::kFloat);
    }
    ModuleCalibration c = module_calibration(s, H_);
    if (!c.hessian_diag.defined()) c.hessian_diag = diag_;
    return c;
  }

 private:
  const ProjectReader& r_;
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
