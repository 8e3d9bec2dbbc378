// Time to compute and summarise the saliency map of a large module (default [out, in] =
// [14336, 8192], a Hessian from 1024 random correlated inputs): every metric's full map, its
// column/row/group sums and its pooled display map, as `bitscape-cli sensitivity` does per module.
//
// usage: bitscape_bench_saliency [--out 14336] [--in 8192] [--threads 2] [--json FILE]
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "bitscape/runtime.h"
#include "bitscape/sensitivity.h"

int main(int argc, char** argv) {
  bitscape::reexec_with_passive_openmp(argv);
  std::map<std::string, std::string> a = {{"--out", "14336"}, {"--in", "8192"}, {"--threads", "2"}};
  for (int i = 1; i + 1 < argc; i += 2) a[argv[i]] = argv[i + 1];
  const int threads = bitscape::configure_threads(std::atoi(a["--threads"].c_str()));
  const int64_t O = std::atoll(a["--out"].c_str()), I = std::atoll(a["--in"].c_str());
  c10::InferenceMode guard;
  at::manual_seed(0);
  const at::Tensor W = at::randn({O, I}) * 0.02;
  const at::Tensor X = at::randn({1024, I}) + at::randn({1024, 1}) * 0.5;
  bitscape::SaliencyInputs in;
  in.hessian = X.t().matmul(X) * (2.0 / 1024) + at::eye(I) * 1e-3;
  in.act_l2 = X.pow(2).sum(0).sqrt();
  in.fisher = at::rand({O, I}) * 1e-6;
  nlohmann::json out = {{"out", O}, {"in", I}, {"threads", threads}};
  for (bitscape::SaliencyMetric m : bitscape::all_saliency_metrics()) {
    const auto t0 = std::chrono::steady_clock::now();
    const at::Tensor map = bitscape::saliency_map(m, W, in, "bench");
    const auto t1 = std::chrono::steady_clock::now();
    const bitscape::SaliencySummary s = bitscape::summarize_saliency(map, m, 128, 128, 128);
    const auto t2 = std::chrono::steady_clock::now();
    const double map_s = std::chrono::duration<double>(t1 - t0).count();
    const double sum_s = std::chrono::duration<double>(t2 - t1).count();
    std::printf("%-6s map %.2f s, summary (sums + %lldx%lld pooled) %.2f s\n",
                bitscape::saliency_metric_name(m).c_str(), map_s,
                static_cast<long long>(s.pooled_rows), static_cast<long long>(s.pooled_cols), sum_s);
    out["metrics"][bitscape::saliency_metric_name(m)] = {{"map_seconds", map_s},
                                                          {"summary_seconds", sum_s}};
  }
  if (a.count("--json")) std::ofstream(a["--json"]) << out.dump(1) << "\n";
  return 0;
}
