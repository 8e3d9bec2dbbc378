// Per-step costs of an AMQ search at the scale of an 8B model (224 searched modules, 2/3/4 bits),
// measured on this machine, for the plan in bench/results/search_plan.md:
//   - the RBF predictor: fit on n archive points and predict (NSGA-II calls it per individual);
//   - one NSGA-II run on the predictor (AMQ: population 200, 20 generations) and the subset GA;
//   - HQQ of one 4096 x 4096 and one 14336 x 4096 module at 2, 3 and 4 bits (the proxy cache):
//     through quantize_module (which quantizes on the CPU and packs), and, with --device cuda,
//     the HQQ solver itself on the device (its dequantized weights are what the cache holds).
// The forward passes that measure candidates are measured by bench/bench_cuda.py.
//
// usage: bitscape_bench_search_costs [--threads 2] [--genes 224] [--device cpu|cuda] [--json FILE]
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "bitscape/nsga2.h"
#include "bitscape/quantizer.h"
#include "bitscape/runtime.h"
#include "quant/internal.h"
#include "quant/layout.h"

namespace {
double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

int main(int argc, char** argv) {
  bitscape::reexec_with_passive_openmp(argv);
  std::map<std::string, std::string> a = {{"--threads", "2"}, {"--genes", "224"}, {"--device", "cpu"}};
  for (int i = 1; i + 1 < argc; i += 2) a[argv[i]] = argv[i + 1];
  const int threads = bitscape::configure_threads(std::atoi(a["--threads"].c_str()));
  const int G = std::atoi(a["--genes"].c_str());
  nlohmann::json out = {{"threads", threads}, {"genes", G}};
  std::mt19937_64 rng(0);
  std::uniform_int_distribution<int> gene(0, 2);
  std::vector<double> lo(G, 0.0), hi(G, 2.0);
  auto random_genome = [&] {
    bitscape::Genome g(G);
    for (int& x : g) x = gene(rng);
    return g;
  };
  // A smooth synthetic loss of the genes (the predictor's cost does not depend on it).
  auto loss = [&](const bitscape::Genome& g) {
    double s = 0;
    for (int i = 0; i < G; ++i) s += (2 - g[static_cast<size_t>(i)]) * (1.0 + (i % 7));
    return s;
  };
  for (int n : {256, 1024, 2250}) {
    std::vector<std::vector<double>> X;
    std::vector<double> Y;
    for (int i = 0; i < n; ++i) {
      const bitscape::Genome g = random_genome();
      X.emplace_back(g.begin(), g.end());
      Y.push_back(loss(g));
    }
    bitscape::CubicRbf rbf;
    double t0 = now();
    rbf.fit(X, Y, lo, hi);
    const double fit = now() - t0;
    t0 = now();
    for (int i = 0; i < 1000; ++i) rbf.predict(X[static_cast<size_t>(i % n)]);
    const double predict = (now() - t0) / 1000;
    std::printf("rbf  n=%5d: fit %.3f s, predict %.3f ms\n", n, fit, predict * 1e3);
    out["rbf"][std::to_string(n)] = {{"fit_seconds", fit}, {"predict_seconds", predict}};
    if (n == 1024) {
      bitscape::Nsga2Problem problem;
      problem.lower.assign(G, 0);
      problem.upper.assign(G, 2);
      problem.evaluate = [&](bitscape::Individual& ind) {
        double bits = 0;
        for (int x : ind.genes) bits += 2 + x;
        ind.objectives = {rbf.predict(std::vector<double>(ind.genes.begin(), ind.genes.end())),
                          bits / G};
      };
      std::vector<bitscape::Genome> init;
      for (int i = 0; i < 40; ++i) init.push_back(random_genome());
      bitscape::Nsga2Options o;  // AMQ: 200 x 20
      t0 = now();
      const auto pop = bitscape::nsga2(problem, init, o, rng);
      const double nsga = now() - t0;
      std::vector<double> values;
      for (const auto& ind : pop) values.push_back(ind.objectives[1]);
      t0 = now();
      bitscape::select_spread_subset(values, {2.0, 4.0}, 50, 100, 60, rng);
      const double subset = now() - t0;
      std::printf("nsga2 (200 x 20 on the n=1024 predictor) %.2f s, subset GA (50 of %zu) %.2f s\n",
                  nsga, values.size(), subset);
      out["nsga2_seconds"] = nsga;
      out["subset_seconds"] = subset;
    }
  }
  c10::InferenceMode guard;
  for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{4096, 4096}, {14336, 4096}}) {
    const at::Tensor W = at::randn({rows, cols}) * 0.02;
    double total = 0;
    for (int bits : {2, 3, 4}) {
      bitscape::ModuleAllocation m;
      m.quantizer = bitscape::QuantizerKind::kHqq;
      m.bits = bits;
      const double t0 = now();
      bitscape::quantize_module(W, m, {}, "bench");
      total += now() - t0;
    }
    std::printf("hqq %lld x %lld at 2, 3 and 4 bits: %.2f s\n", static_cast<long long>(rows),
                static_cast<long long>(cols), total);
    out["hqq"][std::to_string(rows) + "x" + std::to_string(cols)] = total;
    if (a["--device"] != "cpu") {
      // The solver alone on the device, after one warm-up run.
      const at::Tensor Wd = W.to(at::Device(a["--device"]));
      double device_total = 0;
      for (int rep = 0; rep < 2; ++rep) {
        device_total = 0;
        for (int bits : {2, 3, 4}) {
          bitscape::ModuleAllocation m;
          m.quantizer = bitscape::QuantizerKind::kHqq;
          m.bits = bits;
          const bitscape::detail::Layout L = bitscape::detail::make_layout(
              rows, cols, m, {}, {}, false, bitscape::ChannelAxis::kIn);
          const double t0 = now();
          const bitscape::detail::StoredResult r = bitscape::detail::quantize_hqq(Wd, L, {});
          const double err = (r.deq - Wd).abs().mean().item<double>();  // synchronises
          device_total += now() - t0;
          if (rep == 1) std::printf("  %d bits on %s: mean |W - W_r| %.3g\n", bits, a["--device"].c_str(), err);
        }
      }
      std::printf("hqq %lld x %lld at 2, 3 and 4 bits on %s: %.3f s\n", static_cast<long long>(rows),
                  static_cast<long long>(cols), a["--device"].c_str(), device_total);
      out["hqq_device"][std::to_string(rows) + "x" + std::to_string(cols)] = device_total;
    }
  }
  if (a.count("--json")) std::ofstream(a["--json"]) << out.dump(1) << "\n";
  return 0;
}
