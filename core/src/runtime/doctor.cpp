#include "bitscape/doctor.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/version.h>

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>

#include <chrono>
#include <cstdlib>
#include <sstream>

namespace bitscape {
namespace {

// The shared object that provides `sgemm_` to this process, i.e. the BLAS that LibTorch's
// matrix products call (Debian resolves libblas.so.3 through its alternatives system to the
// reference BLAS or an optimised one; LD_LIBRARY_PATH can override it).
std::string loaded_blas_path() {
  void* sym = dlsym(RTLD_DEFAULT, "sgemm_");
  Dl_info info{};
  if (sym && dladdr(sym, &info) && info.dli_fname) {
    char resolved[PATH_MAX];
    if (realpath(info.dli_fname, resolved)) return resolved;
    return info.dli_fname;
  }
  return "";
}

std::string classify_blas(const std::string& path) {
  if (path.find("openblas") != std::string::npos) return "openblas";
  if (path.find("mkl") != std::string::npos) return "mkl";
  if (path.find("blis") != std::string::npos) return "blis";
  if (path.find("/blas/") != std::string::npos) return "reference";
  // PyTorch's own LibTorch links MKL statically into libtorch_cpu.
  if (path.find("libtorch_cpu") != std::string::npos) return "bundled (MKL inside libtorch_cpu)";
  return "unknown";
}

}  // namespace

DoctorReport run_doctor(bool measure_matmul) {
  DoctorReport r;
  r.bitscape_version = BITSCAPE_VERSION;
  r.libtorch_version = std::to_string(TORCH_VERSION_MAJOR) + "." +
                       std::to_string(TORCH_VERSION_MINOR) + "." +
                       std::to_string(TORCH_VERSION_PATCH);
  r.threads = at::get_num_threads();
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  r.omp_wait_policy = policy ? policy : "(unset: OpenMP threads spin between regions)";
  r.cuda_built = at::hasCUDA();
  if (r.cuda_built) {
    int n = at::detail::getCUDAHooks().getNumGPUs();
    for (int i = 0; i < n; ++i) r.cuda_devices.push_back("cuda:" + std::to_string(i));
  }
  // A product first, so that LibTorch has loaded its BLAS before we look for it.
  const int64_t n = 1024;
  auto a = at::randn({n, n});
  auto b = at::randn({n, n});
  auto c = at::mm(a, b);
  if (measure_matmul) {
    int reps = 0;
    auto t0 = std::chrono::steady_clock::now();
    double elapsed = 0.0;
    while (elapsed < 0.3 || reps < 2) {
      c = at::mm(a, b);
      ++reps;
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    r.matmul_gflops = 2.0 * n * n * n * reps / elapsed / 1e9;
  }
  r.blas_library = loaded_blas_path();
  r.blas_kind = classify_blas(r.blas_library);
  r.reference_blas = r.blas_kind == "reference";
  if (r.reference_blas) {
    r.warnings.push_back(
        "LibTorch is using the REFERENCE BLAS (" + r.blas_library +
        "): matrix products run ~50x slower. Install an optimised BLAS: "
        "sudo apt-get install libopenblas0-pthread");
  } else if (r.blas_kind == "unknown") {
    r.warnings.push_back("could not identify the BLAS library LibTorch uses");
  }
  if (r.cuda_built && r.cuda_devices.empty())
    r.warnings.push_back("LibTorch was built with CUDA but no CUDA device is visible");
  return r;
}

std::string format_doctor(const DoctorReport& r) {
  std::ostringstream s;
  s << "Bitscape        " << r.bitscape_version << "\n"
    << "LibTorch        " << r.libtorch_version << "\n"
    << "BLAS            " << r.blas_kind << " (" << (r.blas_library.empty() ? "?" : r.blas_library)
    << ")\n"
    << "threads         " << r.threads << " (OMP_WAIT_POLICY " << r.omp_wait_policy << ")\n"
    << "CUDA            " << (r.cuda_built ? "available" : "not available");
  if (r.cuda_built) s << ", " << r.cuda_devices.size() << " device(s)";
  s << "\n";
  for (const auto& d : r.cuda_devices) s << "  " << d << "\n";
  if (r.matmul_gflops > 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.1f", r.matmul_gflops);
    s << "fp32 matmul     " << buf << " GFLOP/s (1024x1024 at::mm)\n";
  }
  for (const auto& w : r.warnings) s << "WARNING: " << w << "\n";
  return s.str();
}

}  // namespace bitscape
