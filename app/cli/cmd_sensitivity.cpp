#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "bitscape/calibration.h"
#include "bitscape/error.h"
#include "bitscape/model.h"
#include "bitscape/perplexity.h"
#include "bitscape/project.h"
#include "bitscape/project_calibration.h"
#include "bitscape/runtime.h"
#include "bitscape/sensitivity.h"
#include "bitscape/sensitivity_job.h"
#include "bitscape/sensitivity_store.h"
#include "cli.h"
#include "quant_args.h"

namespace bitscape::cli {
namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::vector<int> parse_bits(const std::string& s) {
  std::vector<int> bits;
  for (const std::string& b : split(s)) {
    int v = 0;
    try {
      v = std::stoi(b);
    } catch (const std::exception&) {
      throw UsageError("--bits expects a list like 2,3,4,8, got '" + s + "'");
    }
    if (v < 2 || v > 8) throw UsageError("--bits: every option must be between 2 and 8");
    bits.push_back(v);
  }
  if (bits.empty()) throw UsageError("--bits is empty");
  return bits;
}

void print_curves(const SensitivityRunInfo& info, const std::vector<SensitivityCurve>& curves,
                  const std::vector<ProxyCorrelation>& corr) {
  std::printf("baseline      ppl %.4f on %lld windows x %lld tokens of %s\n", info.baseline_ppl,
              static_cast<long long>(info.eval_windows), static_cast<long long>(info.seqlen),
              info.eval_data.c_str());
  std::printf("\n%-34s", "module (ppl increase)");
  for (int b : info.bits) std::printf("  %8d-bit", b);
  std::printf("   KL@%d-bit\n", info.bits.front());
  for (const SensitivityCurve& c : curves) {
    std::printf("%-34s", c.module.c_str());
    for (double d : c.delta_ppl) std::printf("  %12.4f", d);
    std::printf("   %.5f\n", c.kl.empty() ? std::nan("") : c.kl.front());
  }
  if (corr.empty()) return;
  std::printf("\nSpearman rank correlation with the measured ppl increase, over %zu modules:\n",
              curves.size());
  std::printf("%-28s", "proxy");
  for (int b : info.bits) std::printf("  %6d-bit", b);
  std::printf("\n");
  for (const ProxyCorrelation& p : corr) {
    if (p.against != "delta_ppl") continue;
    std::printf("%-28s", p.proxy.c_str());
    for (double v : p.spearman) std::printf("  %10.3f", v);
    std::printf("\n");
  }
}

nlohmann::json curve_json(const SensitivityCurve& c) {
  auto clean = [](std::vector<double> v) {
    nlohmann::json a = nlohmann::json::array();
    for (double x : v) a.push_back(std::isnan(x) ? nlohmann::json(nullptr) : nlohmann::json(x));
    return a;
  };
  auto scalar = [](double x) { return std::isnan(x) ? nlohmann::json(nullptr) : nlohmann::json(x); };
  return {{"module", c.module},       {"bits", c.bits},
          {"ppl", clean(c.ppl)},      {"delta_ppl", clean(c.delta_ppl)},
          {"kl", clean(c.kl)},        {"jsd", clean(c.jsd)},
          {"top1", clean(c.top1)},    {"objective", clean(c.objective)},
          {"hawq", clean(c.hawq)},    {"hessian_trace", scalar(c.hessian_trace)},
          {"layer_hessian_trace", scalar(c.layer_hessian_trace)}};
}

// Columns in TAMMP's critical (2) and sub-critical (1) groups.
std::pair<int64_t, int64_t> group_counts(const std::vector<uint8_t>& groups) {
  int64_t critical = 0, sub = 0;
  for (uint8_t g : groups) {
    critical += g == 2;
    sub += g == 1;
  }
  return {critical, sub};
}

int run_probing_command(const Args& args, const std::string& project, const std::string& model_dir,
                        ProgressSink& progress, const CancelToken& cancel) {
  ProbingJobOptions job;
  job.project = project;
  job.device = device_options_from_args(args);
  job.model_dir = model_dir;
  job.run = args.get("run");
  job.sources = args.all("data");
  ProbingOptions& o = job.probing;
  if (!parse_saliency_metric(args.get("probe-metric"), &o.metric))
    throw UsageError("unknown --probe-metric '" + args.get("probe-metric") + "'");
  if (o.metric == SaliencyMetric::kFisher)
    throw UsageError("--probe-metric fisher is not available for probing (needs no gradients)");
  o.critical_fraction = args.get_double("critical");
  o.non_critical_fraction = args.get_double("non-critical");
  o.consensus = static_cast<int>(args.get_int("consensus"));
  job.samples = args.get_int("probe-samples");
  job.seqlen = args.get_int("seqlen");
  job.seed = static_cast<uint64_t>(args.get_int("seed"));
  const ProbingJobResult result = run_probing_job(job, progress, cancel);
  const std::string& run = result.run;
  const std::vector<std::string>& sources = job.sources;
  const std::vector<ModuleProbing>& probes = result.probes;
  const int64_t samples = result.info.samples, seqlen = result.info.seqlen;
  if (args.has("tammp-out")) {
    const std::vector<ModuleShape>& shapes = result.shapes;
    for (int strategy : {1, 2})
      tammp_allocation(probes, strategy, shapes)
          .save(args.get("tammp-out") + ".strategy" + std::to_string(strategy) + ".alloc.json",
                shapes);
  }
  if (args.flag("json")) {
    nlohmann::json j = {{"project", project}, {"run", run}, {"sources", sources}};
    j["modules"] = nlohmann::json::array();
    for (const ModuleProbing& p : probes) {
      const auto [crit1, sub1] = group_counts(p.groups_strategy1);
      const auto [crit2, sub2] = group_counts(p.groups_strategy2);
      j["modules"].push_back({{"module", p.module}, {"compactness", p.compactness},
                              {"strategy1", {{"critical", crit1}, {"sub_critical", sub1}}},
                              {"strategy2", {{"critical", crit2}, {"sub_critical", sub2}}}});
    }
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::printf("probing run   %s in %s: %zu sources (%s), %lld windows x %lld tokens each\n",
              run.c_str(), project.c_str(), sources.size(), args.get("data").c_str(),
              static_cast<long long>(samples), static_cast<long long>(seqlen));
  std::printf("%-34s %12s %22s %22s\n", "module", "compactness", "strategy 1 crit/sub",
              "strategy 2 crit/sub");
  for (const ModuleProbing& p : probes) {
    const auto [c1, s1] = group_counts(p.groups_strategy1);
    const auto [c2, s2] = group_counts(p.groups_strategy2);
    std::printf("%-34s %12.3f %14lld / %-6lld %14lld / %-6lld\n", p.module.c_str(), p.compactness,
                static_cast<long long>(c1), static_cast<long long>(s1),
                static_cast<long long>(c2), static_cast<long long>(s2));
  }
  return 0;
}

int run_sensitivity_command(const Args& args) {
  const std::string project = args.get("project");
  if (!project_support_available())
    throw InputError(project, "this build of Bitscape has no HDF5 support (install libhdf5-dev and rebuild)");
  const int threads = configure_threads(static_cast<int>(args.get_int("threads")));
  StderrProgress progress(args.flag("quiet"));
  const CancelToken& cancel = interrupt_token();
  const std::string model_dir =
      args.has("model") ? args.get("model") : ProjectReader::open(project).model().path;
  if (!args.all("data").empty()) return run_probing_command(args, project, model_dir, progress, cancel);
  SensitivityJobOptions job;
  job.project = project;
  job.device = device_options_from_args(args);
  job.model_dir = model_dir;
  job.run = args.get("run");
  job.resume = args.flag("resume");
  SensitivityOptions& o = job.sensitivity;
  o.bits = parse_bits(args.get("bits"));
  o.group_size = static_cast<int>(args.get_int("group"));
  const auto q = parse_quantizer(args.get("quantizer"));
  if (!q) throw UsageError("unknown --quantizer '" + args.get("quantizer") + "'");
  o.quantizer = *q;
  o.metrics.clear();
  for (const std::string& m : split(args.get("metrics"))) {
    SaliencyMetric metric;
    if (!parse_saliency_metric(m, &metric))
      throw UsageError("unknown metric '" + m + "' (obs, tammp, act, diag, fisher)");
    o.metrics.push_back(metric);
  }
  o.curves = !args.flag("no-curves");
  o.trace_samples = args.get_int("trace-samples");
  o.seed = static_cast<uint64_t>(args.get_int("seed"));
  {
    const std::string pool = args.get("pool");
    const auto x = pool.find('x');
    if (x == std::string::npos) throw UsageError("--pool expects ROWSxCOLS, e.g. 128x128");
    o.pooled_rows = std::stoll(pool.substr(0, x));
    o.pooled_cols = std::stoll(pool.substr(x + 1));
  }
  job.eval_data = args.get("eval-data");
  job.eval_windows = args.get_int("eval-windows");
  job.seqlen = args.get_int("seqlen");
  job.gradient_windows = args.get_int("gradient-windows");
  const SensitivityJobResult res = run_sensitivity_job(job, progress, cancel);
  progress.stage("done", 0);
  const std::string& run = res.run;
  const SensitivityRunInfo& info = res.info;
  const std::vector<SensitivityCurve>& curves = res.curves;
  const std::string& eval_data = res.eval_data;
  const int64_t seqlen = res.seqlen;
  const std::vector<ProxyCorrelation>& corr = res.correlations;

  if (args.flag("json")) {
    nlohmann::json j = {{"project", project},          {"run", run},
                        {"baseline_ppl", info.baseline_ppl}, {"eval_data", eval_data},
                        {"eval_windows", info.eval_windows}, {"seqlen", seqlen},
                        {"bits", o.bits},              {"seconds", info.seconds},
                        {"threads", threads}};
    j["modules"] = nlohmann::json::array();
    for (const SensitivityCurve& c : curves) j["modules"].push_back(curve_json(c));
    j["correlations"] = nlohmann::json::array();
    for (const ProxyCorrelation& p : corr)
      j["correlations"].push_back({{"proxy", p.proxy}, {"against", p.against}, {"bits", p.bits},
                                   {"spearman", p.spearman}});
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::printf("run           %s in %s (%.1f s, %d threads)\n", run.c_str(), project.c_str(),
              info.seconds, threads);
  if (o.curves) print_curves(info, curves, corr);
  return 0;
}

std::vector<OptionSpec> sensitivity_options() {
  std::vector<OptionSpec> o = {
      {"project", "FILE", "calibrated project (*.bsproj.h5); results are added to it", "", true},
      {"model", "DIR", "model directory (default: the one the project records)"},
      {"run", "NAME", "name of the run (default: run1, run2, ... / probe1, ...)"},
      {"resume", "", "continue an unfinished run (the last one, or --run)"},
      {"metrics", "LIST", "saliency maps: obs,tammp,act,diag,fisher", "obs,tammp,act,diag"},
      {"no-curves", "", "only saliency maps, no per-module sensitivity curves"},
      {"bits", "LIST", "bit options of the curves", "2,3,4,8"},
      {"group", "G", "group size of the curves' quantizer and of the saliency groups", "128"},
      {"quantizer", "Q", "quantizer of the curves: rtn, gptq, hqq, awq, kmeans", "rtn"},
      {"eval-data", "FILE", "held-out text for the curves (default: the calibration corpus)"},
      {"eval-windows", "N", "evaluation windows for the curves", "32"},
      {"seqlen", "L", "window length (0 = min(2048, the model's context))", "0"},
      {"gradient-windows", "N", "calibration windows for the Fisher information and Hessian traces", "8"},
      {"trace-samples", "N", "Hutchinson samples for HAWQ's Hessian trace (0 = none)", "16"},
      {"pool", "RxC", "display resolution of the pooled saliency maps", "128x128"},
      {"seed", "S", "seed of the Hutchinson vectors and of the probing windows", "0"},
      {"data", "FILE", "multi-source probing (TAMMP): one corpus per --data, repeat it"},
      {"probe-samples", "N", "probing: calibration windows per source", "32"},
      {"probe-metric", "M", "probing: saliency metric", "tammp"},
      {"critical", "F", "probing: share of critical columns per source", "0.01"},
      {"non-critical", "F", "probing: share of non-critical columns per source", "0.5"},
      {"consensus", "P", "probing: sources a column needs to be in the consensus set (0 = half)", "0"},
      {"tammp-out", "PREFIX", "probing: write PREFIX.strategy{1,2}.alloc.json"}};
  for (const OptionSpec& s : runtime_options()) o.push_back(s);
  return o;
}

const bool registered = register_command(
    {"sensitivity",
     "Where the model is fragile: saliency maps of every module (summed per column, row and group\n"
     "and pooled for display), and per-module sensitivity curves (each module quantized alone at\n"
     "each bit option, measured on held-out text: perplexity increase, KL, JSD, top-1), with the\n"
     "cheap proxies (layer objective, HAWQ's Hessian trace) and their rank correlation. With\n"
     "--data (repeated): TAMMP's multi-source probing instead. Results go into the project.",
     sensitivity_options(), run_sensitivity_command});

}  // namespace
}  // namespace bitscape::cli
