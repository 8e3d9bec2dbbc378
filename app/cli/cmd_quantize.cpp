#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "bitscape/calibration.h"
#include "bitscape/error.h"
#include "bitscape/model.h"
#include "bitscape/packed_export.h"
#include "bitscape/quantize_job.h"
#include "bitscape/runtime.h"
#include "bitscape/safe_write.h"
#include "cli.h"
#include "quant_args.h"

namespace bitscape::cli {
namespace {

namespace fs = std::filesystem;

int run_quantize(const Args& args) {
  const std::string dir = args.get("model");
  const fs::path out = args.get("out");
  if (!wants_quantization(args)) throw UsageError("give --alloc FILE or --bits B");
  std::error_code ec;
  if (fs::exists(out) && fs::equivalent(out, dir, ec))
    throw InputError(out.string(), "is the input model directory; choose another --out");
  // Decided before any work: --force replaces only an earlier quantize output, never a folder
  // holding one of the inputs, another folder or a file. Everything is written to a staging
  // folder beside --out and swapped into place at the end.
  StagedDirectory staged(out.string(), "quantize_summary.json", args.flag("force"),
                         {dir, args.get("alloc"), args.get("project"), args.get("calib-data")});
  const int threads = configure_threads(static_cast<int>(args.get_int("threads")));
  StderrProgress progress(args.flag("quiet"));
  const CancelToken& cancel = interrupt_token();

  const LoadOptions load = load_options(device_options_from_args(args));
  progress.stage("load", 0);
  Model model = Model::load(dir, load);
  const std::vector<ModuleShape> shapes = module_shapes(model);
  const Allocation alloc = allocation_from_args(args, shapes);
  QuantizeJobOptions o = job_options_from_args(args);
  o.keep_packed = true;
  const QuantizeReport report = quantize_model(model, alloc, o, progress, cancel);
  cancel.throw_if_cancelled();

  progress.stage("write", 0);
  const fs::path tmp(staged.path());
  write_packed_model(tmp.string(), model, dir, report, alloc, shapes);
  nlohmann::json summary = quantize_report_json(report);
  summary["model"] = dir;
  summary["allocation"] = args.has("alloc") ? args.get("alloc") : alloc.name;
  summary["threads"] = threads;
  write_file_atomically((tmp / "quantize_summary.json").string(), summary.dump(2) + "\n",
                        "summary");
  cancel.throw_if_cancelled();
  staged.commit();
  progress.stage("done", 0);

  if (args.flag("json")) {
    summary["out"] = out.string();
    std::cout << summary.dump() << "\n";
    return 0;
  }
  std::printf("wrote         %s (dequantized weights, quantized.safetensors, "
              "allocation.alloc.json, quantize_summary.json)\n",
              out.string().c_str());
  print_quantize_summary(report);
  return 0;
}

std::vector<OptionSpec> quantize_options() {
  std::vector<OptionSpec> o = {
      {"model", "DIR", "Hugging Face model directory", "", true},
      {"out", "DIR", "output directory (a model that eval loads, plus the packed tensors)", "", true},
      {"force", "", "replace --out if it is an earlier quantize output"}};
  for (const OptionSpec& s : allocation_options()) o.push_back(s);
  for (const OptionSpec& s : calibration_source_options()) o.push_back(s);
  for (const OptionSpec& s : runtime_options()) o.push_back(s);
  return o;
}

const bool registered = register_command(
    {"quantize",
     "Quantizes a model with an allocation (or uniformly with --bits) and writes it: the\n"
     "dequantized weights in Hugging Face layout (eval loads them), the packed tensors\n"
     "(quantized.safetensors), the allocation used and a summary with the average bits.",
     quantize_options(), run_quantize});

}  // namespace
}  // namespace bitscape::cli
