#include "bitscape/search_job.h"

#include <chrono>
#include <optional>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "bitscape/error.h"
#include "bitscape/json_input.h"
#include "bitscape/model.h"
#include "bitscape/perplexity.h"
#include "bitscape/project.h"
#include "bitscape/project_calibration.h"
#include "bitscape/quantize_job.h"
#include "bitscape/run_choice.h"
#include "eval/reference.h"
#include "util/sha256.h"
#include "bitscape/search.h"
#include "bitscape/search_methods.h"
#include "bitscape/sensitivity_store.h"
#include "search/evaluator.h"

namespace bitscape {

namespace {

// Where a search or a measurement keeps the unquantized model's predictions on its windows:
// beside the project, one file per (model, corpus, window length, window count, dtype), so that
// a resume, every method's run and the editor's measurements on the same windows share them.
std::string reference_path(const std::string& project, const std::string& fingerprint,
                           const std::string& eval_data, int64_t seqlen, int64_t windows,
                           at::ScalarType dtype) {
  detail::Sha256 h;
  h.update(fingerprint + "|" + eval_data + "|" + std::to_string(seqlen) + "|" +
           std::to_string(windows) + "|" + short_dtype_name(dtype));
  return project + ".cache/reference-" + h.hex().substr(0, 16) + ".safetensors";
}

}  // namespace

SearchJobResult run_search_job(const SearchJobOptions& options,
                               const std::function<void(const SearchPoint&)>& on_point,
                               ProgressSink& progress, const CancelToken& cancel) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string& project = options.project;
  if (!project_support_available())
    throw InputError(project, "this build of Bitscape has no HDF5 support (install libhdf5-dev and rebuild)");
  SearchOptions o = options.search;
  const SearchMethodInfo* method = find_search_method(o.method);
  if (!method)
    throw InputError(project, "unknown search method '" + o.method + "' (" + search_method_names() + ")");
  const LoadOptions load = load_options(options.device);
  // Closed before the search writes its first checkpoint, so that it can write in place.
  std::optional<ProjectReader> opened(ProjectReader::open(project));
  const ProjectReader& reader = *opened;
  const ProjectModelInfo info = reader.model();
  SearchJobResult result;
  result.model_dir = options.model_dir.empty() ? info.path : options.model_dir;
  progress.stage("load", 0);
  Model model = Model::load(result.model_dir, load);
  if (!info.fingerprint.empty() && project_model_info(model).fingerprint != info.fingerprint)
    throw InputError(project, "was made for another model than '" + result.model_dir + "'");
  result.shapes = module_shapes(model);

  std::string quantizer = options.quantizer;
  if (quantizer.empty()) quantizer = method->default_quantizer;
  const auto q = parse_quantizer(quantizer);
  if (!q) throw InputError(project, "unknown quantizer '" + quantizer + "'");
  o.quantizer = *q;
  if (method->needs_sensitivity) {
    // The curves of a complete sensitivity run; its bits and quantizer.
    const std::vector<std::string> order = model.linear_modules();
    const std::string srun =
        choose_run(reader, "sensitivity", RunChoice::kComplete, options.sensitivity_run);
    if (srun.empty())
      throw InputError(project, "has no complete sensitivity run for the dp search (run a sensitivity analysis first)");
    const SensitivityRunInfo sinfo = read_sensitivity_run(reader, srun, order);
    o.curves.clear();
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
  result.eval_data = !options.eval_data.empty()
                         ? options.eval_data
                         : (reader.has_calibration() ? reader.calibration().corpus : std::string());
  if (result.eval_data.empty())
    throw InputError(project, "has no calibration corpus: give the evaluation data");
  result.seqlen = default_seqlen(model, options.seqlen);
  if (const std::string w = context_warning(model.config(), result.seqlen); !w.empty()) progress.log(w);
  const int64_t windows = options.eval_windows;

  nlohmann::json settings = {
      {"method", o.method},          {"budget_lo", o.budget_lo},
      {"budget_hi", o.budget_hi},    {"budgets", o.budgets},
      {"seed", o.seed},              {"quantizer", quantizer},
      {"group", o.group_size},       {"bits", o.bits},
      {"iterations", o.amq_iterations}, {"candidates", o.amq_candidates},
      {"initial_samples", o.amq_doe}, {"samples", o.automixq_samples},
      {"elites", o.automixq_elites}, {"step", o.automixq_step},
      {"fraction", o.automixq_fraction}, {"three_bit", o.automixq_three_bit},
      {"dp_measure", o.dp_measure},  {"eval_data", result.eval_data},
      {"eval_windows", windows},     {"seqlen", result.seqlen}};
  // The compute dtype changes what is measured: a run resumes in its own (fp32 runs, which
  // predate the setting, record none).
  if (load.dtype != at::kFloat) settings["dtype"] = short_dtype_name(load.dtype);
  // The run: new, or resumed with the same settings.
  const std::vector<std::string> runs = search_runs(reader);
  std::string run = options.run;
  SearchState state;
  SearchRunRecord& record = result.record;
  if (options.resume) {
    run = choose_run(reader, "search", RunChoice::kUnfinished, run);
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
      throw InputError(project, "already has a search run '" + run + "' (choose another name, or resume it)");
    record.name = run;
    record.created = utc_now();
    record.method = o.method;
    record.settings_json = settings.dump();
    record.eval_data = result.eval_data;
    record.eval_windows = windows;
    record.seqlen = result.seqlen;
  }
  result.run = run;
  o.cache_path = project + ".cache/" + o.method + "-" + quantizer + ".safetensors";
  o.reference_path = reference_path(project, info.fingerprint, result.eval_data, result.seqlen,
                                    windows, model.dtype());
  o.model_identity = info.fingerprint;

  progress.stage("tokenize", 0);
  SearchInputs in;
  in.eval_windows = make_windows(tokenize_eval_corpus(result.model_dir, result.eval_data),
                                 result.seqlen, windows, result.eval_data);
  ProjectCalibration calibration(project);  // opens the project for each read
  const bool calibrated = reader.has_calibration();
  in.calibration = [&](const std::string& m) {
    return calibrated ? calibration(m) : ModuleCalibration{};
  };
  opened.reset();  // `reader` is not used below

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
    // Each checkpoint is committed: a run killed at any instant resumes from its last one.
    if (status == "running") writer.checkpoint();
  };
  SearchOutcome last;
  try {
    result.outcome = run_search(
        model, in, o, state, on_point,
        [&](const SearchOutcome& s) {
          last = s;
          save(s, "running");
        },
        progress, cancel);
  } catch (const Cancelled&) {
    // Keep the completed iterations (the points of an unfinished one are measured again on
    // resume, with the same random draws).
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
      progress.log("cancelled: " + std::to_string(kept.size()) + " points saved in search run '" +
                   run + "' (continue it: --resume on the command line, Search > Resume in the workbench)");
    }
    throw;
  }
  save(result.outcome, "complete");
  writer.commit();
  return result;
}

Allocation allocation_of_point(const std::string& project, const std::string& run, int64_t index) {
  const ProjectReader reader = ProjectReader::open(project);
  const SearchRunRecord record = read_search_run(reader, run);
  const SearchPoint* found = nullptr;
  for (const SearchPoint& q : record.points)
    if (q.index == index) found = &q;
  if (!found) throw InputError(project, "search run '" + run + "' has no point " + std::to_string(index));
  const SearchPoint& p = *found;
  nlohmann::json settings;
  try {
    settings = parse_json(record.settings_json, project, "settings of search run '" + run + "'");
  } catch (const nlohmann::json::exception&) {
    throw InputError(project, "search run '" + run + "' has malformed settings");
  }
  SearchOptions o;
  o.method = settings.value("method", record.method);
  o.budget_lo = settings.value("budget_lo", o.budget_lo);
  o.budget_hi = settings.value("budget_hi", o.budget_hi);
  o.budgets = settings.value("budgets", std::vector<double>{});
  o.group_size = settings.value("group", o.group_size);
  o.bits = settings.value("bits", o.bits);
  o.automixq_fraction = settings.value("fraction", o.automixq_fraction);
  o.automixq_three_bit = settings.value("three_bit", false);
  const auto q = parse_quantizer(settings.value("quantizer", std::string("rtn")));
  if (q) o.quantizer = *q;
  const std::vector<ModuleAllocation> options = search_options_for(with_default_budgets(o));
  const std::vector<std::string> modules = reader.calibrated_modules();
  if (p.genes.size() != modules.size())
    throw InputError(project, "point " + std::to_string(index) + " of search run '" + run +
                                  "' is not one of the run's per-module choices (a baseline)");
  for (int g : p.genes)
    if (g < 0 || g >= static_cast<int>(options.size()))
      throw InputError(project, "point " + std::to_string(index) + " of search run '" + run +
                                    "' has no per-module choice for every module");
  Allocation a = allocation_of(p.genes, options, modules);
  a.name = record.method + " search '" + run + "', point " + std::to_string(index);
  a.model = reader.model().path;
  return a;
}

SearchPoint measure_allocation_job(const MeasureAllocationOptions& options, ProgressSink& progress,
                                   const CancelToken& cancel) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string& project = options.project;
  const LoadOptions load = load_options(options.device);
  const ProjectReader reader = ProjectReader::open(project);
  const ProjectModelInfo info = reader.model();
  const std::string model_dir = options.model_dir.empty() ? info.path : options.model_dir;
  progress.stage("load", 0);
  Model model = Model::load(model_dir, load);
  if (!info.fingerprint.empty() && project_model_info(model).fingerprint != info.fingerprint)
    throw InputError(project, "was made for another model than '" + model_dir + "'");
  options.allocation.validate(module_shapes(model), "the edited allocation");
  const std::string eval_data =
      !options.eval_data.empty() ? options.eval_data
                                 : (reader.has_calibration() ? reader.calibration().corpus : std::string());
  if (eval_data.empty()) throw InputError(project, "has no calibration corpus: give the evaluation data");
  const int64_t seqlen = default_seqlen(model, options.seqlen);
  progress.stage("tokenize", 0);
  const at::Tensor windows =
      make_windows(tokenize_eval_corpus(model_dir, eval_data), seqlen, options.eval_windows, eval_data);

  // The unquantized model's predictions, then the quantized model against them.
  progress.stage("reference", 0);
  const std::string stored =
      reference_path(project, info.fingerprint, eval_data, seqlen, options.eval_windows, model.dtype());
  const ReferencePredictions reference(model, windows, 1.0, cancel, stored, info.fingerprint);
  if (reference.read_from_file()) progress.log("reference predictions read from " + stored);
  QuantizeJobOptions qo;
  qo.project = project;
  const QuantizeReport report = quantize_model(model, options.allocation, qo, progress, cancel);
  progress.stage("measure", 0);
  const FidelityAccumulator acc = reference.measure(model, cancel);
  SearchPoint p;
  p.method = "edited";
  p.average_bits = report.cost.average_bits;
  p.code_bits = report.cost.average_code_bits;
  p.total_bytes = report.cost.total_bytes();
  p.ppl = acc.ppl();
  p.kl = acc.kl();
  p.jsd = acc.jsd();
  p.top1 = acc.top1();
  p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return p;
}

EditRecord store_measured_allocation(const MeasureAllocationOptions& options, const std::string& label,
                                     ProgressSink& progress, const CancelToken& cancel) {
  EditRecord e;
  e.point = measure_allocation_job(options, progress, cancel);
  e.point.method = "edited";
  e.label = label.empty() ? options.allocation.name : label;
  e.created = utc_now();
  ProjectWriter w = ProjectWriter::update(options.project);  // the lock: names cannot collide
  {
    const ProjectReader reader = ProjectReader::open(options.project);
    e.name = next_edit_name(reader);
    e.allocation_json = options.allocation.to_json(reader.model().modules).dump(1);
  }
  e.point.index = std::strtoll(e.name.c_str() + 4, nullptr, 10);
  write_edit(w, e);
  w.commit();
  return e;
}

}  // namespace bitscape
