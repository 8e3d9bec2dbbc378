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
#include "bitscape/runtime.h"
#include "bitscape/search.h"
#include "bitscape/search_store.h"
#include "bitscape/sensitivity_store.h"
#include "cli.h"
#include "project_calibration.h"
#include "quant_args.h"

namespace bitscape::cli {
namespace {

nlohmann::json number(double x) { return std::isnan(x) ? nlohmann::json(nullptr) : nlohmann::json(x); }

nlohmann::json point_json(const SearchPoint& p) {
  return {{"method", p.method},       {"index", p.index},        {"iteration", p.iteration},
          {"average_bits", p.average_bits}, {"code_bits", p.code_bits},
          {"total_bytes", p.total_bytes},   {"ppl", number(p.ppl)},   {"kl", number(p.kl)},
          {"jsd", number(p.jsd)},     {"top1", number(p.top1)},  {"loss", number(p.loss)},
          {"predicted", number(p.predicted)}, {"seconds", p.seconds}, {"genes", p.genes}};
}

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
  if (!(in >> lo >> c1 >> hi >> c2 >> step) || c1 != ':' || c2 != ':' || step <= 0 || hi < lo)
    throw UsageError("--budgets expects LO:HI:STEP, e.g. 2.25:4.25:0.25");
  std::vector<double> b;
  for (double x = lo; x <= hi + 1e-9; x += step) b.push_back(std::round(x * 1e6) / 1e6);
  return b;
}

int run_search_command(const Args& args) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string project = args.get("project");
  if (!project_support_available())
    throw InputError(project, "this build of Bitscape has no HDF5 support (install libhdf5-dev and rebuild)");
  const int threads = configure_threads(static_cast<int>(args.get_int("threads")));
  StderrProgress progress(args.flag("quiet"));
  progress.print_results(args.flag("json"));
  const CancelToken& cancel = interrupt_token();
  const ProjectReader reader = ProjectReader::open(project);
  const ProjectModelInfo info = reader.model();
  const std::string model_dir = args.has("model") ? args.get("model") : info.path;
  progress.stage("load", 0);
  Model model = Model::load(model_dir);
  if (!info.fingerprint.empty() && project_model_info(model).fingerprint != info.fingerprint)
    throw InputError(project, "was made for another model than '" + model_dir + "'");

  SearchOptions o;
  o.method = args.get("method");
  if (o.method != "dp" && o.method != "amq" && o.method != "automixq" && o.method != "cmpq")
    throw UsageError("--method must be dp, amq, automixq or cmpq");
  if (args.has("budget") && args.has("budgets")) throw UsageError("give --budget or --budgets, not both");
  if (args.has("budgets")) {
    o.budgets = parse_budgets(args.get("budgets"));
    o.budget_lo = o.budgets.front();
    o.budget_hi = o.budgets.back();
  } else if (args.has("budget")) {
    const double b = args.get_double("budget");
    if (o.method == "dp" || o.method == "cmpq") o.budgets = {b};
    o.budget_lo = std::min(o.budget_lo, b);
  }
  o.seed = static_cast<uint64_t>(args.get_int("seed"));
  o.group_size = static_cast<int>(args.get_int("group"));
  // The proxy quantizer of the candidates: AMQ searches with HQQ, AutoMixQ with RTN.
  std::string quantizer = args.get("quantizer");
  if (quantizer.empty()) quantizer = o.method == "amq" ? "hqq" : "rtn";
  const auto q = parse_quantizer(quantizer);
  if (!q) throw UsageError("unknown --quantizer '" + quantizer + "'");
  o.quantizer = *q;
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
  if (o.method == "dp") {
    // The curves of a complete sensitivity run; its bits and quantizer.
    std::vector<std::string> order = model.linear_modules();
    const std::vector<std::string> runs = sensitivity_runs(reader);
    std::string srun = args.get("sensitivity-run");
    if (srun.empty())
      for (const std::string& r : runs)
        if (read_sensitivity_run(reader, r, order).status == "complete") srun = r;
    if (srun.empty())
      throw InputError(project, "has no complete sensitivity run for --method dp (run bitscape-cli sensitivity first)");
    const SensitivityRunInfo sinfo = read_sensitivity_run(reader, srun, order);
    for (const std::string& m : order) {
      auto c = read_module_curve(reader, srun, m);
      if (!c || !c->complete())
        throw InputError(project, "sensitivity run '" + srun + "' has no curve for " + m);
      o.curves.push_back(*c);
    }
    o.bits = sinfo.bits;
    o.group_size = sinfo.group_size;
    o.quantizer = *parse_quantizer(sinfo.quantizer);
  }
  const std::string eval_data =
      args.has("eval-data") ? args.get("eval-data")
                            : (reader.has_calibration() ? reader.calibration().corpus : std::string());
  if (eval_data.empty()) throw UsageError("give --eval-data FILE (the project has no calibration corpus)");
  const int64_t seqlen = default_seqlen(model, args.get_int("seqlen"));
  const int64_t windows = args.get_int("eval-windows");

  nlohmann::json settings = {{"method", o.method},     {"budget_lo", o.budget_lo},
                             {"budget_hi", o.budget_hi}, {"budgets", o.budgets},
                             {"seed", o.seed},         {"quantizer", quantizer},
                             {"group", o.group_size},  {"bits", o.bits},
                             {"iterations", o.amq_iterations}, {"candidates", o.amq_candidates},
                             {"initial_samples", o.amq_doe}, {"samples", o.automixq_samples},
                             {"elites", o.automixq_elites}, {"step", o.automixq_step},
                             {"fraction", o.automixq_fraction}, {"three_bit", o.automixq_three_bit},
                             {"dp_measure", o.dp_measure}, {"eval_data", eval_data},
                             {"eval_windows", windows}, {"seqlen", seqlen}};
  // The run: new, or resumed with the same settings.
  const std::vector<std::string> runs = search_runs(reader);
  std::string run = args.get("run");
  SearchState state;
  SearchRunRecord record;
  if (args.flag("resume")) {
    if (run.empty())
      for (const std::string& r : runs)
        if (read_search_run(reader, r).status != "complete") run = r;
    if (run.empty()) throw InputError(project, "has no unfinished search run to resume");
    record = read_search_run(reader, run);
    if (record.status == "complete") throw InputError(project, "search run '" + run + "' is complete");
    if (record.settings_json != settings.dump())
      throw InputError(project, "search run '" + run + "' was started with other settings; resume it with the same options");
    state.points = record.points;
    state.completed_iterations = record.completed_iterations;
    state.pinned = record.pinned;
  } else {
    if (run.empty()) run = next_name(runs, "search");
    if (std::find(runs.begin(), runs.end(), run) != runs.end())
      throw InputError(project, "already has a search run '" + run + "' (choose another --run, or --resume it)");
    record.name = run;
    record.created = utc_now();
    record.method = o.method;
    record.settings_json = settings.dump();
    record.eval_data = eval_data;
    record.eval_windows = windows;
    record.seqlen = seqlen;
  }
  o.cache_path = project + ".cache/" + o.method + "-" + quantizer + ".safetensors";

  progress.stage("tokenize", 0);
  SearchInputs in;
  in.eval_windows = make_windows(tokenize_eval_corpus(model_dir, eval_data), seqlen, windows, eval_data);
  ProjectCalibration calibration(reader);
  const bool calibrated = reader.has_calibration();
  in.calibration = [&](const std::string& m) {
    return calibrated ? calibration(m) : ModuleCalibration{};
  };

  ProjectWriter writer = ProjectWriter::update(project);
  const double earlier = record.status.empty() ? 0.0 : record.seconds;
  auto save = [&](const SearchOutcome& out, const std::string& status) {
    record.status = status;
    record.points = out.points;
    record.completed_iterations = out.completed_iterations;
    record.pinned = out.pinned;
    record.log = out.log;
    record.baseline_ppl = out.baseline_ppl;
    record.seconds =
        earlier + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    write_search_run(writer, record);
  };
  SearchOutcome last;
  SearchOutcome out;
  try {
    out = run_search(
        model, in, o, state,
        [&](const SearchPoint& p) { progress.result("search_point", point_json(p).dump()); },
        [&](const SearchOutcome& s) {
          last = s;
          save(s, "running");
        },
        progress, cancel);
  } catch (const Cancelled&) {
    // Keep the completed iterations (the points of an unfinished one are measured again on
    // --resume, with the same random draws).
    if (!last.points.empty() || !state.points.empty()) {
      if (last.points.empty()) {
        last.points = state.points;
        last.completed_iterations = state.completed_iterations;
        last.pinned = state.pinned;
      }
      std::vector<SearchPoint> kept;
      for (const SearchPoint& p : last.points)
        if (p.iteration < last.completed_iterations) kept.push_back(p);
      last.points = kept;
      save(last, "cancelled");
      writer.commit();
      std::fprintf(stderr, "cancelled: %zu points saved in search run '%s' (continue with --resume)\n",
                   kept.size(), run.c_str());
    }
    throw;
  }
  save(out, "complete");
  writer.commit();
  progress.stage("done", 0);

  // The front, the baselines, and the allocation chosen at --budget.
  ParetoArchive archive(o.method == "automixq" ? ParetoArchive::Objective::kKl : ParetoArchive::Objective::kKl);
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
      a.save(args.get("out"), module_shapes(model));
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

std::vector<OptionSpec> search_options() {
  std::vector<OptionSpec> o = {
      {"project", "FILE", "calibrated project (*.bsproj.h5); the run is added to it", "", true},
      {"method", "M", "dp, amq, automixq or cmpq", "", true},
      {"budget", "B", "average bits (with overhead) to choose an allocation at"},
      {"budgets", "LO:HI:STEP", "the range of average bits of interest (default 2.25:4.25:0.25)"},
      {"out", "FILE", "with --budget: write the chosen allocation (*.alloc.json)"},
      {"final-quantizer", "Q", "quantizer of the written allocation", "gptq"},
      {"seed", "S", "seed of every random draw (the same seed gives the same front)", "0"},
      {"run", "NAME", "name of the run (default: search1, search2, ...)"},
      {"resume", "", "continue an unfinished run (the last one, or --run)"},
      {"model", "DIR", "model directory (default: the one the project records)"},
      {"quantizer", "Q", "quantizer of the candidates (default: hqq for amq, rtn otherwise; dp: the "
                         "sensitivity run's)"},
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
  for (const OptionSpec& s : runtime_options())
    if (s.name != "device" && s.name != "dtype" && s.name != "gpu-memory") o.push_back(s);
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
