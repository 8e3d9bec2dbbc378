#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bitscape/calibration.h"
#include "bitscape/cost_model.h"
#include "bitscape/error.h"
#include "bitscape/model.h"
#include "bitscape/perplexity.h"
#include "bitscape/project.h"
#include "bitscape/project_calibration.h"
#include "bitscape/runtime.h"
#include "bitscape/search.h"
#include "bitscape/search_job.h"
#include "bitscape/search_methods.h"
#include "bitscape/search_store.h"
#include "bitscape/sensitivity_store.h"
#include "cli.h"
#include "quant_args.h"

namespace bitscape::cli {
namespace {

nlohmann::json point_json(const SearchPoint& p) { return nlohmann::json::parse(search_point_json(p)); }

std::vector<int> parse_ints(const std::string& s, const char* option) {
  std::vector<int> v;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      v.push_back(std::stoi(item));
    } catch (const std::exception&) {
      throw UsageError(std::string("--") + option + " expects a comma-separated list of integers");
    }
  }
  return v;
}

// "LO:HI:STEP" -> the budgets LO, LO+STEP, ..., HI.
std::vector<double> parse_budgets(const std::string& s) {
  double lo = 0, hi = 0, step = 0;
  char c1 = 0, c2 = 0;
  std::stringstream in(s);
  if (!(in >> lo >> c1 >> hi >> c2 >> step) || c1 != ':' || c2 != ':' || step <= 0 || hi < lo ||
      !std::isfinite(lo) || !std::isfinite(hi) || !std::isfinite(step) || lo <= 0 || hi > 32 ||
      !in.eof())
    throw UsageError("--budgets expects LO:HI:STEP with 0 < LO <= HI <= 32, e.g. 2.25:4.25:0.25");
  if ((hi - lo) / step > 1000) throw UsageError("--budgets: at most 1000 budgets");
  std::vector<double> b;
  for (double x = lo; x <= hi + 1e-9; x += step) b.push_back(std::round(x * 1e6) / 1e6);
  return b;
}

int run_search_command(const Args& args) {
  const std::string project = args.get("project");
  const int threads = configure_threads(static_cast<int>(args.get_int("threads")));
  StderrProgress progress(args.flag("quiet"));
  progress.print_results(args.flag("json"));
  const CancelToken& cancel = interrupt_token();

  SearchJobOptions job;
  job.project = project;
  job.device = device_options_from_args(args);
  if (args.has("model")) job.model_dir = args.get("model");
  job.run = args.get("run");
  job.resume = args.flag("resume");
  SearchOptions& o = job.search;
  o.method = args.get("method");
  const SearchMethodInfo* method = find_search_method(o.method);
  if (!method) throw UsageError("--method must be " + search_method_names());
  if (args.has("budget") && args.has("budgets")) throw UsageError("give --budget or --budgets, not both");
  if (args.has("budgets")) {
    o.budgets = parse_budgets(args.get("budgets"));
    o.budget_lo = o.budgets.front();
    o.budget_hi = o.budgets.back();
  } else if (args.has("budget")) {
    const double b = args.get_double("budget");
    if (b <= 0 || b > 32) throw UsageError("--budget must be between 0 and 32 bits, got " + args.get("budget"));
    if (method->uses_budgets) o.budgets = {b};
    o.budget_lo = std::min(o.budget_lo, b);
  }
  o.seed = static_cast<uint64_t>(args.get_int("seed"));
  o.group_size = static_cast<int>(args.get_int("group"));
  // The proxy quantizer of the candidates: AMQ searches with HQQ, AutoMixQ with RTN.
  job.quantizer = args.get("quantizer");
  if (!job.quantizer.empty() && !parse_quantizer(job.quantizer))
    throw UsageError("unknown --quantizer '" + job.quantizer + "'");
  if (args.has("bits")) o.bits = parse_ints(args.get("bits"), "bits");
  o.amq_iterations = args.get_int("iterations");
  o.amq_candidates = args.get_int("candidates");
  o.amq_doe = args.get_int("initial-samples");
  o.automixq_samples = args.get_int("samples");
  o.automixq_elites = args.get_int("elites");
  o.automixq_step = args.get_int("step");
  o.automixq_fraction = args.get_double("fraction");
  o.automixq_three_bit = args.flag("three-bit");
  o.dp_measure = args.get("dp-measure");
  if (o.dp_measure != "kl" && o.dp_measure != "delta_ppl") throw UsageError("--dp-measure: kl or delta_ppl");
  job.sensitivity_run = args.get("sensitivity-run");
  job.eval_data = args.get("eval-data");
  job.eval_windows = args.get_int("eval-windows");
  job.seqlen = args.get_int("seqlen");
  if (!args.has("eval-data") && project_support_available() &&
      !ProjectReader::open(project).has_calibration())
    throw UsageError("give --eval-data FILE (the project has no calibration corpus)");

  const SearchJobResult res = run_search_job(
      job, [&](const SearchPoint& p) { progress.result("search_point", search_point_json(p)); },
      progress, cancel);
  progress.stage("done", 0);
  const SearchOutcome& out = res.outcome;
  const SearchRunRecord& record = res.record;
  const std::string& run = res.run;
  const std::string& model_dir = res.model_dir;
  const int64_t windows = job.eval_windows;
  const int64_t seqlen = res.seqlen;
  const std::string& eval_data = res.eval_data;

  // The front, the baselines, and the allocation chosen at --budget.
  ParetoArchive archive(ParetoArchive::Objective::kKl);
  for (const SearchPoint& p : out.points) archive.add(p);
  nlohmann::json chosen;
  if (args.has("budget")) {
    const int64_t i = archive.best_within(args.get_double("budget"), o.method);
    if (i < 0) throw InputError(project, "no allocation of the search fits in " + args.get("budget") + " bits");
    const SearchPoint& p = archive.points()[static_cast<size_t>(i)];
    chosen = point_json(p);
    if (args.has("out")) {
      std::vector<ModuleAllocation> final_options = out.options;
      const auto fq = parse_quantizer(args.get("final-quantizer"));
      if (!fq) throw UsageError("unknown --final-quantizer '" + args.get("final-quantizer") + "'");
      for (ModuleAllocation& m : final_options)
        if (m.quantizer != QuantizerKind::kKmeans) m.quantizer = *fq;
      Allocation a = allocation_of(p.genes, final_options, out.modules);
      a.name = o.method + " search '" + run + "' at " + args.get("budget") + " bits";
      a.model = model_dir;
      a.save(args.get("out"), res.shapes);
      chosen["allocation"] = args.get("out");
    }
  }
  if (args.flag("json")) {
    nlohmann::json j = {{"kind", "summary"}, {"project", project}, {"run", run},
                        {"method", o.method}, {"baseline_ppl", out.baseline_ppl},
                        {"points", out.points.size()}, {"seconds", record.seconds},
                        {"threads", threads}, {"log", out.log}};
    j["front"] = nlohmann::json::array();
    for (size_t i : archive.front()) j["front"].push_back(point_json(archive.points()[i]));
    j["uniform"] = nlohmann::json::array();
    for (const SearchPoint& p : out.points)
      if (p.method == "uniform") j["uniform"].push_back(point_json(p));
    if (!chosen.is_null()) j["chosen"] = chosen;
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::printf("search run    %s in %s: %s, %zu points in %.1f s (%d threads)\n", run.c_str(),
              project.c_str(), o.method.c_str(), out.points.size(), record.seconds, threads);
  std::printf("baseline      ppl %.4f on %lld windows x %lld tokens of %s\n", out.baseline_ppl,
              static_cast<long long>(windows), static_cast<long long>(seqlen), eval_data.c_str());
  for (const std::string& line : out.log) std::printf("              %s\n", line.c_str());
  std::printf("\n%-10s %12s %10s %10s %8s\n", "", "avg bits", "ppl", "KL", "top-1");
  for (const SearchPoint& p : out.points)
    if (p.method == "uniform")
      std::printf("%-10s %12.3f %10.4f %10.5f %8.4f\n", "uniform", p.average_bits, p.ppl, p.kl, p.top1);
  for (size_t i : archive.front()) {
    const SearchPoint& p = archive.points()[i];
    std::printf("%-10s %12.3f %10.4f %10.5f %8.4f\n", p.method == "uniform" ? "front*" : "front",
                p.average_bits, p.ppl, p.kl, p.top1);
  }
  if (!chosen.is_null()) {
    std::printf("\nat %s bits   %.3f bits, ppl %.4f, KL %.5f", args.get("budget").c_str(),
                chosen["average_bits"].get<double>(), chosen["ppl"].get<double>(),
                chosen["kl"].get<double>());
    if (args.has("out")) std::printf("; allocation written to %s (quantizer %s)", args.get("out").c_str(),
                                     args.get("final-quantizer").c_str());
    std::printf("\n");
  }
  return 0;
}

// --quantizer's help: each method's default, from the registry.
std::string quantizer_help() {
  std::string s = "quantizer of the candidates (default:";
  for (const SearchMethodInfo& m : search_methods())
    if (!m.needs_sensitivity) s += " " + m.default_quantizer + " for " + m.name + ",";
  return s + " dp: the sensitivity run's)";
}

// --method's help, from the registry: one line per method.
std::string method_help() {
  std::string s = search_method_names() + ":";
  for (const SearchMethodInfo& m : search_methods()) s += "\n" + m.title;
  return s;
}

std::vector<OptionSpec> search_options() {
  std::vector<OptionSpec> o = {
      {"project", "FILE", "calibrated project (*.bsproj.h5); the run is added to it", "", true},
      {"method", "M", method_help(), "", true},
      {"budget", "B", "average bits (with overhead) to choose an allocation at"},
      {"budgets", "LO:HI:STEP", "the range of average bits of interest (default 2.25:4.25:0.25)"},
      {"out", "FILE", "with --budget: write the chosen allocation (*.alloc.json)"},
      {"final-quantizer", "Q", "quantizer of the written allocation", "gptq"},
      {"seed", "S", "seed of every random draw (the same seed gives the same front)", "0"},
      {"run", "NAME", "name of the run (default: search1, search2, ...)"},
      {"resume", "", "continue an unfinished run (the last one, or --run)"},
      {"model", "DIR", "model directory (default: the one the project records)"},
      {"quantizer", "Q", quantizer_help()},
      {"bits", "LIST", "bit options (amq)", "2,3,4"},
      {"group", "G", "group size", "128"},
      {"eval-data", "FILE", "held-out text the candidates are measured on (default: the calibration corpus)"},
      {"eval-windows", "N", "evaluation windows", "16"},
      {"seqlen", "L", "window length (0 = min(2048, the model's context))", "0"},
      {"iterations", "N", "amq: search-and-update iterations (0 = 20)", "0"},
      {"candidates", "K", "amq: candidates measured per iteration (0 = 16)", "0"},
      {"initial-samples", "N", "amq: initial samples (0 = max(free modules + 9, 50), at most 250)", "0"},
      {"samples", "N", "automixq: samples per cycle (0 = 12)", "0"},
      {"elites", "E", "automixq: elites kept per cycle (0 = 4)", "0"},
      {"step", "n", "automixq: modules perturbed per sample (0 = modules / 8)", "0"},
      {"fraction", "F", "automixq: protected share of output channels in the mixed options", "0.5"},
      {"three-bit", "", "automixq: also 3-bit among the options (2/3/4)"},
      {"sensitivity-run", "NAME", "dp: the sensitivity run whose curves are used (default: the last complete)"},
      {"dp-measure", "M", "dp: kl or delta_ppl", "kl"}};
  for (const OptionSpec& s : runtime_options()) o.push_back(s);
  return o;
}

const bool registered = register_command(
    {"search",
     "Finds bit allocations that trade quality against size and draws the Pareto front: dp (exact\n"
     "choice over a sensitivity run's curves), amq (AMQ), automixq (AutoMixQ) or cmpq (CMPQ).\n"
     "Every evaluated point is streamed (--json: one JSON line each) and stored in the project;\n"
     "uniform 2/3/4/8-bit baselines are always measured. Ctrl-C keeps the completed iterations.",
     search_options(), run_search_command});

}  // namespace
}  // namespace bitscape::cli
