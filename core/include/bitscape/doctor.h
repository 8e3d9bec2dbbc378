// What the machine gives LibTorch: versions, BLAS, threads, CUDA devices, and a measured fp32
// matrix-product rate. `bitscape-cli doctor` prints it; the GUI's About box shows it.
// Plain-value header.
#pragma once

#include <string>
#include <vector>

namespace bitscape {

struct DoctorReport {
  std::string bitscape_version;
  std::string libtorch_version;
  std::string blas_library;   // resolved path of the BLAS LibTorch loaded
  std::string blas_kind;      // "openblas", "mkl", "blis", "reference", "unknown"
  bool reference_blas = false;
  int threads = 0;            // intra-op threads
  std::string omp_wait_policy;  // OMP_WAIT_POLICY (the front ends set PASSIVE; see runtime.h)
  bool cuda_built = false;   // LibTorch has a usable CUDA backend (at::hasCUDA())
  std::vector<std::string> cuda_devices;
  double matmul_gflops = 0.0; // fp32 1024x1024 at::mm, measured
  std::vector<std::string> warnings;
};

DoctorReport run_doctor(bool measure_matmul = true);
std::string format_doctor(const DoctorReport& r);

}  // namespace bitscape
