// The search's evaluator (evaluator.h).
#include "search/evaluator.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "bitscape/error.h"
#include "bitscape/model.h"
#include "bitscape/safetensors.h"
#include "util/sha256.h"

namespace bitscape {

namespace {

// What an option is, for the cache file's identity.
std::string describe(const ModuleAllocation& m) {
  std::ostringstream s;
  s << quantizer_name(m.quantizer) << ":" << m.bits << ":g" << m.group_size;
  for (const ChannelClass& c : m.channels.classes)
    s << ":c" << c.bits << "/" << static_cast<int>(c.select) << "/" << static_cast<int>(c.by) << "/"
      << c.fraction;
  s << ":o" << m.outliers.activation_fraction << "/" << m.outliers.quantization_fraction;
  if (m.quantizer == QuantizerKind::kKmeans) s << ":k" << static_cast<int>(m.codebook_axis);
  return s.str();
}

std::string key(const std::string& module, size_t option) {
  return module + "#" + std::to_string(option);
}

int64_t batch_size(int64_t seqlen) { return std::max<int64_t>(1, 2048 / std::max<int64_t>(1, seqlen)); }

}  // namespace

at::Tensor final_hidden(const Model& model, const at::Tensor& ids, const CancelToken& cancel) {
  at::Tensor h = model.embed(ids);
  for (int64_t b = 0; b < model.num_blocks(); ++b) {
    cancel.throw_if_cancelled();
    h = model.run_block(b, h);
  }
  return h;
}

ReferencePredictions::ReferencePredictions(const Model& model, const at::Tensor& windows,
                                           double temperature, const CancelToken& cancel,
                                           const std::string& path, const std::string& identity)
    : windows_(windows), temperature_(temperature) {
  c10::InferenceMode guard;
  const int64_t N = windows_.size(0), T = windows_.size(1);
  batch_ = batch_size(T);
  // What the stored states depend on: the model, its compute dtype, the batching and the
  // windows' tokens (the temperature only enters the comparison, not the states).
  std::string id;
  if (!path.empty()) {
    const at::Tensor ids = windows_.to(at::kLong).contiguous().cpu();
    detail::Sha256 h;
    h.update(ids.data_ptr(), size_t(ids.numel()) * sizeof(int64_t));
    id = identity + "|" + model.dir() + "|" + short_dtype_name(model.dtype()) + "|" +
         std::to_string(N) + "x" + std::to_string(T) + "|batch " + std::to_string(batch_) +
         "|windows " + h.hex();
  }
  std::vector<at::Tensor> stored;
  if (!path.empty() && std::filesystem::exists(path)) {
    try {
      const std::shared_ptr<SafetensorsFile> f = SafetensorsFile::open(path);
      const auto it = f->metadata().find("identity");
      if (it != f->metadata().end() && it->second == id) {
        for (int64_t b0 = 0, i = 0; b0 < N; b0 += batch_, ++i) {
          const std::string key = "hidden." + std::to_string(i);
          const std::vector<int64_t> shape = {std::min(N, b0 + batch_) - b0, T, model.config().hidden_size};
          if (!f->contains(key) || f->tensor(key).sizes() != at::IntArrayRef(shape)) {
            stored.clear();
            break;
          }
          // A copy of its own on the execution device (the file's mapping is released here).
          stored.push_back(f->tensor(key).to(model.device(), model.dtype(), false, true));
        }
      }
    } catch (const InputError&) {
      stored.clear();  // unreadable: computed again and rewritten
    }
  }
  read_ = !stored.empty();
  std::vector<std::pair<std::string, at::Tensor>> to_write;
  for (int64_t b0 = 0, i = 0; b0 < N; b0 += batch_, ++i) {
    const at::Tensor ids = windows_.slice(0, b0, std::min(N, b0 + batch_));
    at::Tensor hidden = read_ ? stored[size_t(i)] : final_hidden(model, ids, cancel);
    if (!read_ && !path.empty()) to_write.emplace_back("hidden." + std::to_string(i), hidden);
    refs_.emplace_back(model, std::move(hidden), ids, temperature);
    refs_.back().add_baseline(baseline_);
  }
  if (!to_write.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    try {
      write_safetensors(path, to_write, {{"identity", id}});
    } catch (const InputError&) {
      // Keeping them is an optimisation: a folder that cannot be written costs a recomputation
      // next time, not this run.
    }
  }
}

FidelityAccumulator ReferencePredictions::measure(const Model& model, const CancelToken& cancel) const {
  c10::InferenceMode guard;
  FidelityAccumulator acc;
  const int64_t N = windows_.size(0);
  size_t r = 0;
  for (int64_t b0 = 0; b0 < N; b0 += batch_, ++r)
    refs_[r].compare(final_hidden(model, windows_.slice(0, b0, std::min(N, b0 + batch_)), cancel), acc);
  return acc;
}

OptionCache::OptionCache(const Model& model, std::vector<std::string> modules,
                         std::vector<ModuleAllocation> options, const CalibrationOf& calibration,
                         const std::string& path, ProgressSink& progress, const CancelToken& cancel)
    : modules_(std::move(modules)), options_(std::move(options)) {
  c10::InferenceMode guard;
  const size_t K = options_.size();
  weights_.resize(modules_.size() * K);
  // The file is valid for this model and these options (their identity is in its metadata).
  std::string identity = model.dir() + "|" + std::to_string(model.parameters().size());
  for (const ModuleAllocation& o : options_) identity += "|" + describe(o);
  if (!path.empty() && std::filesystem::exists(path)) {
    try {
      file_ = SafetensorsFile::open(path);
      auto it = file_->metadata().find("identity");
      bool complete = it != file_->metadata().end() && it->second == identity;
      for (size_t i = 0; complete && i < modules_.size(); ++i)
        for (size_t o = 0; complete && o < K; ++o) complete = file_->contains(key(modules_[i], o));
      if (complete) {
        for (size_t i = 0; i < modules_.size(); ++i) {
          const at::Tensor& stored = model.parameter(modules_[i] + ".weight");
          for (size_t o = 0; o < K; ++o) {
            at::Tensor t = file_->tensor(key(modules_[i], o));
            if (t.sizes() != stored.sizes())
              throw InputError(path, "cached weight " + key(modules_[i], o) + " has another shape");
            weights_[i * K + o] = t.device() == stored.device() ? t : t.to(stored.device());
          }
        }
        return;
      }
    } catch (const InputError&) {
      // An unreadable or stale cache is rebuilt.
    }
    file_.reset();
  }
  progress.stage("quantize options", static_cast<int64_t>(modules_.size() * K));
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  int64_t done = 0;
  for (size_t i = 0; i < modules_.size(); ++i) {
    const at::Tensor& stored = model.parameter(modules_[i] + ".weight");
    const at::Tensor W = stored.to(at::kFloat).cpu();
    const ModuleCalibration calib = calibration ? calibration(modules_[i]) : ModuleCalibration{};
    for (size_t o = 0; o < K; ++o) {
      cancel.throw_if_cancelled();
      const at::Tensor q = quantize_module(W, options_[o], calib, modules_[i])
                               .weight.to(stored.device(), stored.scalar_type());
      weights_[i * K + o] = q;
      if (!path.empty()) tensors.emplace_back(key(modules_[i], o), q);
      progress.advance(++done);
    }
  }
  if (!path.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    write_safetensors(path, tensors, {{"identity", identity}});
  }
}

at::Tensor OptionCache::weight(size_t module, int option) const {
  if (option < 0 || static_cast<size_t>(option) >= options_.size() || module >= modules_.size())
    throw InputError("", "option " + std::to_string(option) + " of module " +
                             std::to_string(module) + " is not among the search's options");
  std::lock_guard<std::mutex> lock(mutex_);
  return weights_[module * options_.size() + static_cast<size_t>(option)];
}

Evaluator::Evaluator(Model& model, std::shared_ptr<const ReferencePredictions> reference,
                     std::shared_ptr<const OptionCache> cache, OptionCache::CalibrationOf calibration,
                     const CancelToken& cancel)
    : model_(model), reference_(std::move(reference)), cache_(std::move(cache)),
      calibration_(std::move(calibration)), cancel_(cancel) {}

namespace {

// Puts weights into the model for one measurement and the originals back afterwards, also
// when the measurement throws (Cancelled).
class WeightSwap {
 public:
  explicit WeightSwap(Model& model) : model_(model) {}
  ~WeightSwap() {
    for (auto& [name, w] : original_) model_.parameter(name) = w;
  }
  void set(const std::string& name, const at::Tensor& w) {
    at::Tensor& p = model_.parameter(name);
    original_.emplace(name, p);
    p = w;
  }

 private:
  Model& model_;
  std::map<std::string, at::Tensor> original_;
};

}  // namespace

std::vector<FidelityAccumulator> Evaluator::evaluate_batch(
    const std::vector<std::vector<int>>& genomes,
    const std::function<void(size_t, const FidelityAccumulator&)>& on_each) {
  std::vector<FidelityAccumulator> out;
  out.reserve(genomes.size());
  const std::vector<std::string>& modules = cache_->modules();
  for (size_t k = 0; k < genomes.size(); ++k) {
    cancel_.throw_if_cancelled();
    const std::vector<int>& genes = genomes[k];
    if (genes.size() != modules.size())
      throw InputError("", "a candidate has " + std::to_string(genes.size()) + " genes for " +
                               std::to_string(modules.size()) + " modules");
    {
      std::lock_guard<std::mutex> lock(model_mutex_);
      c10::InferenceMode guard;
      WeightSwap swap(model_);
      for (size_t i = 0; i < modules.size(); ++i) swap.set(modules[i] + ".weight", cache_->weight(i, genes[i]));
      out.push_back(reference_->measure(model_, cancel_));
    }
    if (on_each) on_each(k, out.back());
  }
  return out;
}

FidelityAccumulator Evaluator::evaluate(const std::vector<int>& genes) {
  return evaluate_batch({genes}).front();
}

FidelityAccumulator Evaluator::evaluate_allocation(const Allocation& allocation) {
  std::lock_guard<std::mutex> lock(model_mutex_);
  c10::InferenceMode guard;
  WeightSwap swap(model_);
  for (const auto& [module, m] : allocation.modules) {
    cancel_.throw_if_cancelled();
    const at::Tensor& stored = model_.parameter(module + ".weight");
    const ModuleCalibration calib = calibration_ ? calibration_(module) : ModuleCalibration{};
    swap.set(module + ".weight", quantize_module(stored.to(at::kFloat).cpu(), m, calib, module)
                                     .weight.to(stored.device(), stored.scalar_type()));
  }
  return reference_->measure(model_, cancel_);
}

}  // namespace bitscape
