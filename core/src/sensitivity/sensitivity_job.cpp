#include "bitscape/sensitivity_job.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>

#include "bitscape/calibration.h"
#include "bitscape/model.h"
#include "bitscape/sensitivity.h"
#include "bitscape/error.h"
#include "bitscape/run_choice.h"
#include "bitscape/perplexity.h"
#include "bitscape/project.h"
#include "bitscape/project_calibration.h"
#include "bitscape/quantize_job.h"

namespace bitscape {

CalibrationJobResult run_calibration_job(const CalibrationJobOptions& o, ProgressSink& progress,
                                         const CancelToken& cancel) {
  const auto t0 = std::chrono::steady_clock::now();
  if (!project_support_available())
    throw InputError(o.out, "this build of Bitscape has no HDF5 support (install libhdf5-dev and rebuild)");
  if (o.mode != "fp" && o.mode != "quantized") throw InputError(o.out, "calibration mode must be fp or quantized");
  if (o.hessians != "full" && o.hessians != "diag") throw InputError(o.out, "hessians must be full or diag");
  if (o.mode == "quantized" && !o.allocation)
    throw InputError(o.out, "quantized calibration needs the allocation to quantize with");
  if (o.samples <= 0) throw InputError(o.data, "the number of calibration windows must be positive");
  LoadOptions load = load_options(o.device);
  progress.stage("tokenize", 0);
  const std::vector<int32_t> tokens = tokenize_eval_corpus(o.model_dir, o.data);
  cancel.throw_if_cancelled();
  progress.stage("load", 0);
  load.mapped = true;
  Model model = Model::load(o.model_dir, load);
  const int64_t seqlen = default_seqlen(model, o.seqlen);
  if (const std::string w = context_warning(model.config(), seqlen); !w.empty()) progress.log(w);
  const CalibrationWindows windows = draw_calibration_windows(tokens, o.samples, seqlen, o.seed, o.data);

  CalibrationSettings settings;
  settings.corpus = o.data;
  settings.corpus_sha256 = file_sha256(o.data);
  settings.samples = o.samples;
  settings.seqlen = seqlen;
  settings.seed = o.seed;
  settings.window_starts = windows.starts;
  settings.mode = o.mode;
  settings.hessians = o.hessians;
  settings.device = load.device;
  settings.dtype = short_dtype_name(load.dtype);
  settings.created = utc_now();

  CalibrationJobResult result;
  ProjectWriter writer = ProjectWriter::create(o.out);
  writer.write_model(project_model_info(model));
  auto store = [&](const BlockCalibration& bc) {
    for (HessianData h : bc.hessians) {
      if (o.hessians == "diag") h.upper.clear();
      result.hessian_values += static_cast<int64_t>(h.upper.size() + h.diag.size());
      writer.write_hessian(h);
    }
    for (const ModuleStatistics& s : bc.modules) writer.write_module_statistics(s);
  };
  if (o.mode == "fp") {
    writer.begin_calibration(settings);
    run_calibration(model, windows.ids, o.hessians == "full",
                    [&](BlockCalibration& bc) -> std::map<std::string, at::Tensor> {
                      store(bc);
                      return {};
                    },
                    progress, cancel);
  } else {
    const Allocation alloc = o.allocation(module_shapes(model));
    settings.allocation_json = alloc.to_json(module_shapes(model)).dump();
    writer.begin_calibration(settings);
    QuantizeJobOptions q;
    q.calib_data = o.data;
    q.calib.samples = o.samples;
    q.calib.seqlen = seqlen;
    q.calib.seed = o.seed;
    q.sequential = true;
    q.on_block_measured = store;
    quantize_model(model, alloc, q, progress, cancel);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  writer.set_calibration_seconds(result.seconds);
  cancel.throw_if_cancelled();
  writer.commit();
  result.samples = o.samples;
  result.seqlen = seqlen;
  result.modules = static_cast<int64_t>(model.linear_modules().size());
  return result;
}

SensitivityJobResult run_sensitivity_job(const SensitivityJobOptions& options, ProgressSink& progress,
                                         const CancelToken& cancel) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string& project = options.project;
  if (!project_support_available())
    throw InputError(project, "this build of Bitscape has no HDF5 support (install libhdf5-dev and rebuild)");
  const LoadOptions load = load_options(options.device);
  // Closed before the run writes its first module, so that it can write in place.
  std::optional<ProjectReader> opened(ProjectReader::open(project));
  const ProjectReader& reader = *opened;
  const ProjectModelInfo model_info = reader.model();
  const std::string model_dir = options.model_dir.empty() ? model_info.path : options.model_dir;
  progress.stage("load", 0);
  Model model = Model::load(model_dir, load);
  if (!model_info.fingerprint.empty() && project_model_info(model).fingerprint != model_info.fingerprint)
    throw InputError(project, "was made for another model than '" + model_dir + "'");
  if (!reader.has_calibration())
    throw InputError(project, "has no calibration (calibrate the model first)");
  const CalibrationSettings calib = reader.calibration();
  const SensitivityOptions& o = options.sensitivity;

  SensitivityJobResult result;
  result.eval_data = options.eval_data.empty() ? calib.corpus : options.eval_data;
  result.seqlen = default_seqlen(model, options.seqlen);
  const std::string& eval_data = result.eval_data;
  const int64_t seqlen = result.seqlen;
  if (const std::string w = context_warning(model.config(), seqlen); !w.empty()) progress.log(w);

  // The run: a new one, or one to resume.
  const std::vector<std::string> runs = sensitivity_runs(reader);
  std::string run = options.run;
  std::set<std::string> skip;
  std::vector<SensitivityCurve>& curves = result.curves;
  std::map<std::string, std::map<std::string, double>> totals;
  const std::vector<std::string> order = model.linear_modules();
  SensitivityRunInfo& info = result.info;
  if (options.resume) {
    run = choose_run(reader, "sensitivity", RunChoice::kUnfinished, run);
    if (run.empty()) throw InputError(project, "has no unfinished sensitivity run to resume");
    info = read_sensitivity_run(reader, run, order);
    if (info.status == "complete") throw InputError(project, "sensitivity run '" + run + "' is complete");
    std::vector<std::string> metric_names;
    for (SaliencyMetric m : o.metrics) metric_names.push_back(saliency_metric_name(m));
    if (info.bits != o.bits || info.group_size != o.group_size ||
        info.quantizer != quantizer_name(o.quantizer) || info.metrics != metric_names ||
        info.eval_data != eval_data || info.seqlen != seqlen || info.eval_windows != options.eval_windows)
      throw InputError(project, "sensitivity run '" + run +
                                    "' was started with other settings; resume it with the same "
                                    "--bits/--group/--quantizer/--metrics/--eval-data/--eval-windows");
    for (const std::string& m : info.modules) {
      const auto c = read_module_curve(reader, run, m);
      if (o.curves && !(c && c->complete())) continue;
      skip.insert(m);
      if (c) curves.push_back(*c);
      for (const std::string& metric : info.metrics)
        if (auto s = read_module_saliency(reader, run, m, metric)) totals[m][metric] = s->total;
    }
  } else {
    if (run.empty()) run = next_name(runs, "run");
    if (std::find(runs.begin(), runs.end(), run) != runs.end())
      throw InputError(project, "already has a sensitivity run '" + run + "' (choose another name, or resume it)");
    info.name = run;
    info.created = utc_now();
    for (SaliencyMetric m : o.metrics) info.metrics.push_back(saliency_metric_name(m));
    info.bits = o.bits;
    info.group_size = o.group_size;
    info.quantizer = quantizer_name(o.quantizer);
    info.eval_data = eval_data;
    info.eval_windows = options.eval_windows;
    info.seqlen = seqlen;
  }
  result.run = run;
  info.trace_samples = o.curves ? o.trace_samples : 0;
  info.gradient_windows = options.gradient_windows;

  progress.stage("tokenize", 0);
  SensitivityInputs in;
  in.eval_windows =
      make_windows(tokenize_eval_corpus(model_dir, eval_data), seqlen, info.eval_windows, eval_data);
  ProjectCalibration calibration(project);  // opens the project for each read
  in.calibration = [&](const std::string& m) { return calibration(m); };
  const bool need_gradients =
      (o.curves && o.trace_samples > 0) ||
      std::find(o.metrics.begin(), o.metrics.end(), SaliencyMetric::kFisher) != o.metrics.end();
  if (need_gradients)
    in.gradient_windows = project_calibration_windows(model, calib, project, info.gradient_windows);

  opened.reset();  // `reader` is not used below
  ProjectWriter writer = ProjectWriter::update(project);
  info.status = "running";
  write_sensitivity_run(writer, info);
  writer.checkpoint();
  int64_t written = 0;
  auto finish = [&](const std::string& status) {
    info.status = status;
    info.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    write_sensitivity_run(writer, info);
    write_proxy_correlations(writer, run, proxy_correlations(curves, totals));
    writer.commit();
  };
  try {
    const SensitivityBaseline base = run_sensitivity(
        model, in, o, skip,
        [&](const ModuleSensitivity& r) {
          for (const SaliencySummary& s : r.saliency) {
            write_module_saliency(writer, run, r.module, s);
            totals[r.module][s.metric] = s.total;
          }
          if (o.curves) {
            write_module_curve(writer, run, r.curve);
            curves.push_back(r.curve);
            progress.result("sensitivity_curve", sensitivity_curve_json(r.curve));  // drawn as it comes
          }
          // Each module is committed: a run killed at any instant resumes after the last one.
          writer.checkpoint();
          ++written;
        },
        progress, cancel);
    info.baseline_ppl = base.ppl;
    info.baseline_nll = base.nll;
  } catch (const Cancelled&) {
    finish("cancelled");
    progress.log("cancelled: " + std::to_string(written) + " modules saved in run '" + run +
                 "' (continue it: --resume on the command line, Project > Resume in the workbench)");
    throw;
  }
  // Curves in execution order (resumed ones first in the list otherwise).
  std::sort(curves.begin(), curves.end(), [&](const SensitivityCurve& a, const SensitivityCurve& b) {
    return std::find(order.begin(), order.end(), a.module) < std::find(order.begin(), order.end(), b.module);
  });
  finish("complete");
  result.correlations = proxy_correlations(curves, totals);
  return result;
}

ProbingJobResult run_probing_job(const ProbingJobOptions& options, ProgressSink& progress,
                                 const CancelToken& cancel) {
  const std::string& project = options.project;
  if (!project_support_available())
    throw InputError(project, "this build of Bitscape has no HDF5 support (install libhdf5-dev and rebuild)");
  const ProbingOptions& o = options.probing;
  const LoadOptions load = load_options(options.device);
  if (options.sources.size() < 2)
    throw InputError(project, "multi-source probing needs at least two corpora (one per source)");
  if (o.metric == SaliencyMetric::kFisher)
    throw InputError(project, "the fisher saliency is not available for probing (it needs gradients)");
  if (!(o.critical_fraction > 0.0 && o.critical_fraction < 1.0) ||
      !(o.non_critical_fraction >= 0.0 && o.non_critical_fraction < 1.0) ||
      o.critical_fraction + o.non_critical_fraction > 1.0)
    throw InputError(project, "probing: the critical share must be in (0, 1) and the critical and "
                              "non-critical shares may add up to at most 1");
  if (o.consensus < 0 || o.consensus > static_cast<int>(options.sources.size()))
    throw InputError(project, "probing: the consensus must be between 1 and the number of sources (0 = half)");
  if (options.samples < 1) throw InputError(project, "probing: at least one window per source");
  std::vector<std::string> runs;
  ProjectModelInfo model_info;
  {
    const ProjectReader reader = ProjectReader::open(project);  // closed before the writes
    model_info = reader.model();
    runs = probing_runs(reader);
  }
  ProbingJobResult result;
  result.run = options.run.empty() ? next_name(runs, "probe") : options.run;
  if (std::find(runs.begin(), runs.end(), result.run) != runs.end())
    throw InputError(project, "already has a probing run '" + result.run + "' (choose another name)");
  const std::string model_dir = options.model_dir.empty() ? model_info.path : options.model_dir;
  progress.stage("load", 0);
  Model model = Model::load(model_dir, load);
  if (!model_info.fingerprint.empty() && project_model_info(model).fingerprint != model_info.fingerprint)
    throw InputError(project, "was made for another model than '" + model_dir + "'");
  const int64_t seqlen = default_seqlen(model, options.seqlen);
  if (const std::string w = context_warning(model.config(), seqlen); !w.empty()) progress.log(w);
  std::vector<at::Tensor> windows;
  for (const std::string& source : options.sources) {
    cancel.throw_if_cancelled();
    windows.push_back(draw_calibration_windows(tokenize_eval_corpus(model.dir(), source),
                                               options.samples, seqlen, options.seed, source)
                          .ids);
  }
  ProbingRunInfo& info = result.info;
  info.name = result.run;
  info.created = utc_now();
  info.sources = options.sources;
  info.metric = saliency_metric_name(o.metric);
  info.critical_fraction = o.critical_fraction;
  info.non_critical_fraction = o.non_critical_fraction;
  info.consensus = o.consensus > 0 ? o.consensus : static_cast<int>((options.sources.size() + 1) / 2);
  info.samples = options.samples;
  info.seqlen = seqlen;
  // A probing run has no status and no resume: it is committed once, complete.
  ProjectWriter writer = ProjectWriter::update(project);
  write_probing_run(writer, info);
  run_probing(model, windows, o,
              [&](const ModuleProbing& p) {
                write_module_probe(writer, result.run,
                                   StoredProbe{p.module, p.column_saliency, p.critical, p.non_critical,
                                               p.compactness, p.groups_strategy1, p.groups_strategy2});
                result.probes.push_back(p);
              },
              progress, cancel);
  writer.commit();
  result.shapes = module_shapes(model);
  return result;
}

}  // namespace bitscape
