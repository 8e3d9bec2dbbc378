// bitscape-cli measure: an allocation measured the way the search measures candidates and stored
// in the project as an edit, like the workbench editor's Evaluate (store_measured_allocation).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "bitscape/error.h"
#include "bitscape/project.h"
#include "bitscape/runtime.h"
#include "bitscape/search_job.h"
#include "bitscape/search_result.h"
#include "cli.h"
#include "quant_args.h"

namespace bitscape::cli {
namespace {

int run_measure(const Args& args) {
  const std::string project = args.get("project");
  const int threads = configure_threads(static_cast<int>(args.get_int("threads")));
  StderrProgress progress(args.flag("quiet"));
  const CancelToken& cancel = interrupt_token();
  if (!project_support_available())
    throw InputError(project, "this build of Bitscape has no HDF5 support (install libhdf5-dev and rebuild)");
  MeasureAllocationOptions o;
  o.project = project;
  o.device = device_options_from_args(args);
  if (args.has("model")) o.model_dir = args.get("model");
  {
    const ProjectReader reader = ProjectReader::open(project);
    o.allocation = allocation_from_args(args, reader.model().modules);
    if (!args.has("eval-data") && !reader.has_calibration())
      throw UsageError("give --eval-data FILE (the project has no calibration corpus)");
  }
  o.eval_data = args.get("eval-data");
  o.eval_windows = args.get_int("eval-windows");
  if (o.eval_windows < 1) throw UsageError("--eval-windows must be at least 1");
  o.seqlen = args.get_int("seqlen");
  std::string label = args.get("label");
  if (label.empty() && args.has("alloc") && o.allocation.name.empty()) label = args.get("alloc");
  const EditRecord e = store_measured_allocation(o, label, progress, cancel);
  progress.stage("done", 0);
  const SearchPoint& p = e.point;
  if (args.flag("json")) {
    nlohmann::json j = nlohmann::json::parse(search_point_json(p));
    j["edit"] = e.name;
    j["label"] = e.label;
    j["project"] = project;
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s: %.3f average bits (%.3f code bits), ppl %.4f, KL %.5f, JSD %.5f, top-1 %.4f, "
                "stored as edit '%s' in %s (%.1f s, %d threads)\n",
                e.label.empty() ? "allocation" : e.label.c_str(), p.average_bits, p.code_bits, p.ppl,
                p.kl, p.jsd, p.top1, e.name.c_str(), project.c_str(), p.seconds, threads);
  }
  return 0;
}

std::vector<OptionSpec> measure_options() {
  std::vector<OptionSpec> o = {
      {"project", "FILE", "calibrated project (*.bsproj.h5); the measured allocation is stored in it", "", true},
      {"model", "DIR", "model directory (default: the one the project records)"},
      {"label", "TEXT", "what to call the stored edit (default: the allocation's name or file)"},
      {"eval-data", "FILE", "held-out text it is measured on (default: the calibration corpus)"},
      {"eval-windows", "N", "evaluation windows", "16"},
      {"seqlen", "L", "window length (0 = min(2048, the model's context))", "0"}};
  for (const OptionSpec& s : allocation_options()) o.push_back(s);
  for (const OptionSpec& s : runtime_options()) o.push_back(s);
  return o;
}

const bool registered = register_command(
    {"measure",
     "Measures an allocation (--alloc FILE, or uniform --bits / --cmpq) as the search measures its\n"
     "candidates: quantized with its own quantizers (calibration statistics from the project) and\n"
     "compared with the unquantized model on held-out windows (mean KL, JSD, top-1, perplexity).\n"
     "The result is stored in the project as an edit, next to the search runs' points.",
     measure_options(), run_measure});

}  // namespace
}  // namespace bitscape::cli
