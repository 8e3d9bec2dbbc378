#include <iostream>

#include "bitscape/doctor.h"
#include "bitscape/runtime.h"
#include "cli.h"

namespace bitscape::cli {
namespace {

int run_doctor_command(const Args& args) {
  configure_threads(static_cast<int>(args.get_int("threads")));  // as every command does
  DoctorReport r = run_doctor(!args.flag("no-measure"));
  if (args.flag("json")) {
    std::cout << "{\"bitscape\":\"" << r.bitscape_version << "\",\"libtorch\":\""
              << r.libtorch_version << "\",\"blas\":\"" << r.blas_kind << "\",\"blas_library\":\""
              << json_escape(r.blas_library) << "\",\"reference_blas\":"
              << (r.reference_blas ? "true" : "false") << ",\"threads\":" << r.threads << ",\"omp_wait_policy\":\"" << r.omp_wait_policy << "\""
              << ",\"cuda_built\":" << (r.cuda_built ? "true" : "false")
              << ",\"cuda_devices\":" << r.cuda_devices.size()
              << ",\"matmul_gflops\":" << r.matmul_gflops << ",\"warnings\":[";
    for (size_t i = 0; i < r.warnings.size(); ++i)
      std::cout << (i ? "," : "") << "\"" << json_escape(r.warnings[i]) << "\"";
    std::cout << "]}\n";
  } else {
    std::cout << format_doctor(r);
    if (r.reference_blas) std::cerr << "\n*** WARNING: reference BLAS in use; see above ***\n";
  }
  return 0;
}

const bool registered = register_command(
    {"doctor",
     "Report the LibTorch version, BLAS, threads and CUDA devices; warn about a slow BLAS.",
     {{"json", "", "print one JSON object"},
      {"threads", "T", "CPU threads to configure and report (0 = one per core)", "0"},
      {"no-measure", "", "skip the matrix-product measurement"}},
     run_doctor_command});

}  // namespace
}  // namespace bitscape::cli
