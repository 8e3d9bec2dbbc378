#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "bitscape/calibration.h"
#include "bitscape/sensitivity_job.h"
#include "bitscape/error.h"
#include "bitscape/model.h"
#include "bitscape/perplexity.h"
#include "bitscape/project.h"
#include "bitscape/quantize_job.h"
#include "bitscape/runtime.h"
#include "cli.h"
#include "quant_args.h"

namespace bitscape::cli {
namespace {


// Peak resident memory of this process (VmHWM), in bytes.
int64_t peak_resident_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  return 0;
}

int run_calibrate(const Args& args) {
  const std::string dir = args.get("model"), data = args.get("data"), out = args.get("out");
  const std::string mode = args.get("mode"), hessians = args.get("hessians");
  if (mode != "fp" && mode != "quantized") throw UsageError("--mode must be fp or quantized");
  if (hessians != "full" && hessians != "diag") throw UsageError("--hessians must be full or diag");
  if (mode == "quantized" && !wants_quantization(args))
    throw UsageError("--mode quantized needs the allocation to quantize with (--alloc or --bits)");
  if (mode == "fp" && wants_quantization(args))
    throw UsageError("--alloc/--bits apply only with --mode quantized");
  const int64_t samples = args.get_int("samples");
  const int64_t seed = args.get_int("seed");
  if (samples <= 0) throw UsageError("--samples must be positive");
  if (seed < 0) throw UsageError("--seed must not be negative");
  const int threads = configure_threads(static_cast<int>(args.get_int("threads")));
  StderrProgress progress(args.flag("quiet"));
  const CancelToken& cancel = interrupt_token();

  CalibrationJobOptions o;
  o.model_dir = dir;
  o.data = data;
  o.out = out;
  o.samples = samples;
  o.seqlen = args.get_int("seqlen");
  o.seed = static_cast<uint64_t>(seed);
  o.mode = mode;
  o.hessians = hessians;
  o.device = device_options_from_args(args);
  if (mode == "quantized")
    o.allocation = [&](const std::vector<ModuleShape>& shapes) { return allocation_from_args(args, shapes); };
  const CalibrationJobResult r = run_calibration_job(o, progress, cancel);
  progress.stage("done", 0);
  const int64_t seqlen = r.seqlen, hessian_values = r.hessian_values;
  const double seconds = r.seconds;

  const int64_t modules = r.modules;
  // Includes the freed memory glibc keeps for reuse (keep_freed_memory_for_reuse).
  const int64_t peak = peak_resident_bytes();
  if (args.flag("json")) {
    nlohmann::json j = {{"project", out},        {"samples", samples},
                        {"seqlen", seqlen},      {"tokens", samples * seqlen},
                        {"seed", seed},          {"mode", mode},
                        {"hessians", hessians},  {"modules", modules},
                        {"hessian_values", hessian_values},
                        {"seconds", seconds},    {"threads", threads},
                        {"peak_resident_bytes", peak}};
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::printf("project       %s\n", out.c_str());
  std::printf("calibration   %lld windows x %lld tokens from %s (seed %lld), %s inputs\n",
              static_cast<long long>(samples), static_cast<long long>(seqlen), data.c_str(),
              static_cast<long long>(seed), mode == "fp" ? "full-precision" : "quantized");
  std::printf("measured      %lld modules; Hessians %s (%.1f MB of values)\n",
              static_cast<long long>(modules), hessians.c_str(), hessian_values * 4 / 1e6);
  std::printf("time          %.2f s, %d threads\n", seconds, threads);
  return 0;
}

std::vector<OptionSpec> calibrate_options() {
  std::vector<OptionSpec> o = {
      {"model", "DIR", "Hugging Face model directory", "", true},
      {"data", "FILE", "calibration corpus: text, or .jsonl with a \"text\" field", "", true},
      {"out", "FILE", "project file to write (*.bsproj.h5); replaced atomically", "", true},
      {"samples", "N", "calibration windows", "128"},
      {"seqlen", "L", "tokens per window (0 = min(2048, the model's context))", "0"},
      {"seed", "S", "seed for drawing the windows", "0"},
      {"hessians", "MODE", "full (packed, needed by GPTQ/AWQ) or diag (diagonals only)", "full"},
      {"mode", "MODE", "fp: blocks see full-precision inputs; quantized: GPTQ's sequential "
                       "mode, blocks see the quantized blocks' outputs (needs --alloc/--bits)",
       "fp"}};
  for (const OptionSpec& s : allocation_options()) o.push_back(s);
  for (const OptionSpec& s : runtime_options()) o.push_back(s);
  return o;
}

const bool registered = register_command(
    {"calibrate",
     "Measures a model on calibration text, block by block: per linear module the Hessian\n"
     "H = 2/N sum x x^T (shared by modules reading the same input), input and output activation\n"
     "statistics per channel, and weight statistics; writes them to a project file.",
     calibrate_options(), run_calibrate});

}  // namespace
}  // namespace bitscape::cli
