// GPTQ time per module, Bitscape's side of bench/bench_gptq.py (which runs the reference Python
// implementation on the same inputs and compares). Reads `<name>.W` [out, in] and `<name>.H`
// [in, in] float32 pairs from a safetensors file, quantizes each with GPTQ (group, bits as
// given, act-order off, dampening 0.01), keeps the best of --repeat runs, and writes the
// dequantized weights (`<name>.Q`) and the timings.
//
// usage: bitscape_bench_gptq --inputs FILE --out RESULTS.safetensors --json TIMINGS.json
//                            [--threads T=2] [--bits B=4] [--group G=128] [--repeat R=3]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "bitscape/quantizer.h"
#include "bitscape/runtime.h"
#include "bitscape/safetensors.h"

int main(int argc, char** argv) {
  bitscape::reexec_with_passive_openmp(argv);
  bitscape::keep_freed_memory_for_reuse();
  std::map<std::string, std::string> a = {{"--threads", "2"}, {"--bits", "4"}, {"--group", "128"},
                                          {"--repeat", "3"}};
  for (int i = 1; i + 1 < argc; i += 2) a[argv[i]] = argv[i + 1];
  if (!a.count("--inputs") || !a.count("--out") || !a.count("--json")) {
    std::fprintf(stderr, "usage: %s --inputs FILE --out FILE --json FILE [--threads T] [--bits B] "
                         "[--group G] [--repeat R]\n", argv[0]);
    return 1;
  }
  const int threads = bitscape::configure_threads(std::atoi(a["--threads"].c_str()));
  const int repeat = std::max(1, std::atoi(a["--repeat"].c_str()));
  bitscape::ModuleAllocation m;
  m.quantizer = bitscape::QuantizerKind::kGptq;
  m.bits = std::atoi(a["--bits"].c_str());
  m.group_size = std::atoi(a["--group"].c_str());
  c10::InferenceMode guard;

  const auto file = bitscape::SafetensorsFile::open(a["--inputs"]);
  std::vector<std::pair<std::string, at::Tensor>> results;
  nlohmann::json modules = nlohmann::json::array();
  for (const auto& e : file->entries()) {
    const std::string& key = e.info.name;
    if (key.size() < 2 || key.compare(key.size() - 2, 2, ".W") != 0) continue;
    const std::string name = key.substr(0, key.size() - 2);
    const at::Tensor W = file->tensor(name + ".W").to(at::kFloat).contiguous();
    bitscape::ModuleCalibration c;
    c.hessian = file->tensor(name + ".H").to(at::kFloat).contiguous();
    std::vector<double> seconds;
    at::Tensor Q;
    for (int r = 0; r < repeat; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      Q = bitscape::quantize_module(W, m, c, name).weight;
      seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    results.emplace_back(name + ".Q", Q);
    modules.push_back({{"name", name},
                       {"seconds", *std::min_element(seconds.begin(), seconds.end())},
                       {"all_seconds", seconds}});
    std::fprintf(stderr, "%s [%lld x %lld]: %.3f s\n", name.c_str(),
                 static_cast<long long>(W.size(0)), static_cast<long long>(W.size(1)),
                 *std::min_element(seconds.begin(), seconds.end()));
  }
  bitscape::write_safetensors(a["--out"], results);
  std::ofstream(a["--json"]) << nlohmann::json({{"modules", modules}, {"threads", threads}}).dump(1)
                             << "\n";
  return 0;
}
