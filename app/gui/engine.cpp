// LibTorch side of the GUI: no Qt headers here (Qt's keywords break LibTorch's headers).
#include "engine.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <mutex>
#include <optional>
#include <system_error>
#include <vector>

#include "bitscape/error.h"
#include "bitscape/json_input.h"
#include "bitscape/safe_write.h"
#include "bitscape/model.h"
#include "bitscape/perplexity.h"
#include "bitscape/quantize_job.h"
#include "bitscape/project.h"
#include "bitscape/run_choice.h"
#include "bitscape/quantizer.h"
#include "bitscape/safetensors.h"
#include "bitscape/calibration.h"
#include "bitscape/search_job.h"
#include "bitscape/sensitivity.h"
#include "bitscape/sensitivity_job.h"
#include "bitscape/runtime.h"

namespace bitscape::gui {

namespace {


// Identifies a file's content cheaply: its size and modification time.
std::string fileStamp(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return {};
  const auto time = std::filesystem::last_write_time(path, ec);
  if (ec) return {};
  return std::to_string(size) + "@" + std::to_string(time.time_since_epoch().count());
}

}  // namespace

struct Engine::Impl {
  std::mutex mutex;

  struct LoadedModel {
    std::string dir, device;
    at::ScalarType dtype;
    double resident_gib;
    std::string stamp;
    std::unique_ptr<Model> model;
  };
  std::optional<LoadedModel> loaded;

  struct Tokens {
    std::string model_dir, data_path, data_stamp, tokenizer_stamp;
    std::vector<int32_t> ids;
  };
  std::optional<Tokens> tokens;
};

Engine::Engine() : impl_(std::make_unique<Impl>()) {}
Engine::~Engine() = default;

ModelSummary Engine::open(const std::string& model_dir, ProgressSink& progress,
                          const CancelToken& cancel) {
  progress.stage("Reading the model's config and tensor headers", 0);
  cancel.throw_if_cancelled();
  if (!std::filesystem::is_directory(model_dir))
    throw InputError(model_dir, "is not a directory");
  ModelSummary s = summarize_model_dir(model_dir);
  if (s.path.empty()) s.path = model_dir;
  return s;
}

EvaluationOutcome Engine::evaluate(const EvaluationOptions& o, ProgressSink& progress,
                                   const CancelToken& cancel) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (o.seqlen < 2) throw InputError("", "the window length must be at least 2 tokens");
  const LoadOptions load = load_options(o.device);
  const at::ScalarType dtype = load.dtype;
  configure_threads(o.threads);

  const std::string tokenizerPath = o.model_dir + "/tokenizer.json";
  const std::string dataStamp = fileStamp(o.data_path);
  const std::string tokenizerStamp = fileStamp(tokenizerPath);
  auto& cached = impl_->tokens;
  if (!cached || cached->model_dir != o.model_dir || cached->data_path != o.data_path ||
      cached->data_stamp != dataStamp || cached->tokenizer_stamp != tokenizerStamp ||
      dataStamp.empty()) {
    cached.reset();
    progress.stage("Tokenizing the corpus", 0);
    std::vector<int32_t> ids = tokenize_eval_corpus(o.model_dir, o.data_path);
    cached = Impl::Tokens{o.model_dir, o.data_path, dataStamp, tokenizerStamp, std::move(ids)};
  }
  at::Tensor windows = make_windows(cached->ids, o.seqlen, o.max_windows, o.data_path);
  cancel.throw_if_cancelled();

  EvaluationOutcome out;
  EvaluationRecord& rec = out.record;
  rec.data = o.data_path;
  rec.device = load.device;
  rec.dtype = short_dtype_name(dtype);
  auto& loaded = impl_->loaded;
  if (o.allocation) {
    // A model of its own, quantized in memory as the allocation says; the cached unquantized
    // model is dropped first, so that a large model is never held twice.
    loaded.reset();
    progress.stage("Loading the model", 0);
    Model model = Model::load(o.model_dir, load);
    cancel.throw_if_cancelled();
    const std::vector<ModuleShape> shapes = module_shapes(model);
    QuantizeJobOptions q;
    q.project = o.project;
    const QuantizeReport report = quantize_model(model, *o.allocation, q, progress, cancel);
    rec.subject = "allocation";
    rec.allocation_name = o.allocation->name;
    rec.allocation_json = o.allocation->to_json(shapes).dump(1);
    rec.average_bits = report.cost.average_bits;
    out.result = evaluate_perplexity(model, windows, progress, cancel);
  } else {
    const std::string modelStamp = fileStamp(o.model_dir + "/config.json");
    if (!loaded || loaded->dir != o.model_dir || loaded->device != load.device ||
        loaded->dtype != dtype || loaded->resident_gib != load.resident_gib ||
        loaded->stamp != modelStamp) {
      loaded.reset();  // free the old weights before loading new ones
      progress.stage("Loading the model", 0);
      auto model = std::make_unique<Model>(Model::load(o.model_dir, load));
      loaded = Impl::LoadedModel{o.model_dir, load.device, dtype, load.resident_gib, modelStamp,
                                 std::move(model)};
    }
    cancel.throw_if_cancelled();
    rec.subject = "unquantized";
    out.result = evaluate_perplexity(*loaded->model, windows, progress, cancel);
  }
  rec.windows = out.result.windows;
  rec.seqlen = out.result.seqlen;
  rec.ppl = out.result.ppl;
  rec.nll = out.result.nll;
  rec.seconds = out.result.seconds;
  rec.created = utc_now();
  rec.label = !o.label.empty() ? o.label
              : rec.subject == "unquantized"
                  ? std::string("unquantized model")
                  : (rec.allocation_name.empty() ? std::string("allocation") : rec.allocation_name);
  if (!o.project.empty()) {
    ProjectWriter w = ProjectWriter::update(o.project);  // the lock: names cannot collide
    {
      const ProjectReader reader = ProjectReader::open(o.project);
      rec.name = next_evaluation_name(reader);
    }
    write_evaluation(w, rec);
    w.commit();
  }
  return out;
}

void Engine::updateEvaluation(const std::string& project, const EvaluationRecord& record) {
  ProjectWriter w = ProjectWriter::update(project);
  write_evaluation(w, record);
  w.commit();
}



DoctorReport Engine::doctor() { return run_doctor(false); }

ProjectContents Engine::readProject(const std::string& path, ProgressSink& progress,
                                    const CancelToken& cancel) {
  return read_project_summary(path, progress, cancel);
}

SearchRunRecord Engine::search(const SearchJobOptions& options, ProgressSink& progress,
                               const CancelToken& cancel) {
  SearchJobResult r = run_search_job(
      options, [&](const SearchPoint& p) { progress.result("search_point", search_point_json(p)); },
      progress, cancel);
  return std::move(r.record);
}

Allocation Engine::allocationOfPoint(const std::string& project, const std::string& run, int64_t index) {
  return allocation_of_point(project, run, index);
}

MeasuredEdit Engine::measureAllocation(const MeasureAllocationOptions& options,
                                       ProgressSink& progress, const CancelToken& cancel) {
  const EditRecord e = store_measured_allocation(options, options.allocation.name, progress, cancel);
  MeasuredEdit m;
  m.point = e.point;
  m.name = e.name;
  return m;
}

Allocation Engine::allocationOfEdit(const std::string& project, const std::string& name) {
  const ProjectReader reader = ProjectReader::open(project);
  const EditRecord e = read_edit(reader, name);
  const nlohmann::json j =
      parse_json(e.allocation_json, project, "edited allocation " + quote_for_message(name));
  Allocation a = Allocation::from_json(j, reader.model().modules, project + ":/edits/" + name);
  if (a.name.empty()) a.name = e.label.empty() ? name : e.label;
  return a;
}

std::string Engine::calibrate(const CalibrationJobOptions& options, ProgressSink& progress,
                              const CancelToken& cancel) {
  const CalibrationJobResult r = run_calibration_job(options, progress, cancel);
  return std::to_string(r.samples) + " windows x " + std::to_string(r.seqlen) + " tokens, " +
         std::to_string(r.modules) + " modules in " + std::to_string(int(r.seconds + 0.5)) + " s";
}

std::string Engine::sensitivity(const SensitivityJobOptions& options, ProgressSink& progress,
                                const CancelToken& cancel) {
  return run_sensitivity_job(options, progress, cancel).run;
}

std::map<std::string, SaliencySummary> Engine::readSaliency(const std::string& project,
                                                             const std::string& module) {
  std::map<std::string, SaliencySummary> out;
  const ProjectReader reader = ProjectReader::open(project);
  const std::vector<std::string> order = reader.has_calibration() ? reader.calibrated_modules()
                                                                  : std::vector<std::string>{};
  const std::string run = choose_run(reader, "sensitivity", RunChoice::kShown);
  if (run.empty()) return out;
  for (const std::string& metric : read_sensitivity_run(reader, run, order).metrics)
    if (auto s = read_module_saliency(reader, run, module, metric)) out[metric] = std::move(*s);
  return out;
}

std::optional<std::pair<ProbingRunInfo, StoredProbe>> Engine::readProbe(const std::string& project,
                                                                        const std::string& module) {
  const ProjectReader reader = ProjectReader::open(project);
  const std::string run = choose_run(reader, "probing", RunChoice::kShown);
  if (run.empty()) return std::nullopt;
  ProbingRunInfo info = read_probing_run(reader, run);
  std::optional<StoredProbe> probe = read_module_probe(reader, run, module);
  if (!probe) return std::nullopt;
  return std::make_pair(std::move(info), std::move(*probe));
}

std::string Engine::probe(const ProbingJobOptions& options, ProgressSink& progress,
                          const CancelToken& cancel) {
  return run_probing_job(options, progress, cancel).run;
}

Allocation Engine::tammpAllocation(const std::string& project, int strategy) {
  const ProjectReader reader = ProjectReader::open(project);
  const std::string run = choose_run(reader, "probing", RunChoice::kShown);
  if (run.empty()) throw InputError(project, "has no probing run (Project > Run multi-source probing)");
  const std::vector<ModuleShape> shapes = reader.model().modules;
  std::vector<ModuleProbing> probes;
  for (const ModuleShape& shape : shapes) {
    const std::string& m = shape.name;
    if (std::optional<StoredProbe> p = read_module_probe(reader, run, m))
      probes.push_back({p->module, std::move(p->column_saliency), std::move(p->critical),
                        std::move(p->non_critical), p->compactness, std::move(p->groups_strategy1),
                        std::move(p->groups_strategy2)});
  }
  Allocation a = tammp_allocation(probes, strategy, shapes);
  a.name = "TAMMP strategy " + std::to_string(strategy) + " (" + run + ")";
  return a;
}

ChannelMarks Engine::channelMarks(const std::string& project, const std::string& module,
                                  const ModuleAllocation& setting) {
  ChannelMarks marks;
  marks.axis = setting.channels.axis;
  if (setting.channels.empty() && setting.outliers.activation_fraction <= 0.0) return marks;
  const ProjectReader reader = ProjectReader::open(project);
  const ModuleStatistics stats = reader.module_statistics(module);
  // The weight only matters for a class chosen by weight norm; otherwise a zero-filled stand-in
  // of the right shape keeps the model's files out of it.
  bool by_weight = false;
  for (const ChannelClass& c : setting.channels.classes)
    by_weight |= c.select != ChannelSelect::kIndices && c.by == ChannelStatistic::kWeight;
  at::Tensor W;
  if (by_weight) {
    W = Checkpoint::open_dir(reader.model().path).tensor(module + ".weight").to(at::kFloat);
  } else {
    W = at::zeros({stats.out_features, stats.in_features}, at::kFloat);
  }
  const ChannelResolution r = resolve_channels(W, setting, module_calibration(stats, at::Tensor()), module);
  marks.fp16_columns = r.fp16_columns;
  for (size_t p = 0; p < r.class_bits.size(); ++p) {
    if (int(r.class_bits[p]) > setting.bits) marks.raised.push_back(r.class_channels[p]);
    else if (int(r.class_bits[p]) < setting.bits) marks.lowered.push_back(r.class_channels[p]);
  }
  return marks;
}

void Engine::copyProject(const std::string& from, const std::string& to, ProgressSink& progress,
                         const CancelToken& cancel) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::equivalent(from, to, ec)) throw InputError(to, "is the open project itself");
  ProjectReader::open(from);  // a project, readable
  std::ifstream in(from, std::ios::binary);
  if (!in) throw InputError(from, "cannot be read");
  const uint64_t size = fs::file_size(from);
  AtomicFile out(to, "project copy");
  constexpr size_t kChunk = size_t{16} << 20;
  std::vector<char> buffer(kChunk);
  const int64_t chunks = int64_t((size + kChunk - 1) / kChunk);
  progress.stage("copy project", chunks);
  for (int64_t done = 0; in; ++done) {
    cancel.throw_if_cancelled();  // the temporary is removed, `to` untouched
    in.read(buffer.data(), std::streamsize(kChunk));
    out.write(buffer.data(), size_t(in.gcount()));
    progress.advance(std::min(done + 1, chunks));
  }
  if (in.bad()) throw InputError(from, "could not be read to the end");
  out.commit();
}

}  // namespace bitscape::gui
