// The search's evaluator, in three parts that every method shares:
// - ReferencePredictions: the unquantized model's predictions on the held-out windows, computed
//   once per (model, windows, temperature) and reused by every method, every budget and every
//   measurement of an allocation;
// - OptionCache: each module's quantized weight for each option, computed once (and kept in a
//   memory-mapped safetensors file beside the project when given a path); thread-safe;
// - Evaluator: measures allocations, several per call (evaluate_batch), by swapping the cached
//   weights into the model and comparing its predictions with the reference. Candidates of one
//   batch are measured one after another on the shared model here; the batch is the seam where a
//   GPU engine measures several at once and a distributed one fans them out, without the methods
//   changing. Internal to core (tensor-facing).
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bitscape/allocation.h"
#include "bitscape/fidelity.h"
#include "bitscape/progress.h"
#include "bitscape/quantizer.h"
#include "eval/reference.h"

namespace bitscape {

class Model;
class SafetensorsFile;

class ReferencePredictions {
 public:
  // windows: [N, L] int64. Batches of about 2048 tokens. temperature: AutoMixQ's distillation
  // temperature (1 for the other methods). path: where the unquantized final hidden states are
  // kept (a safetensors file; "" = in memory only): read from it when it holds them for this
  // model (`identity`, e.g. its fingerprint), dtype, temperature and these windows, else
  // computed and written to it (a resumed run, and every later run or measurement on the same
  // windows, skips the reference forward passes).
  ReferencePredictions(const Model& model, const at::Tensor& windows, double temperature,
                       const CancelToken& cancel, const std::string& path = {},
                       const std::string& identity = {});

  // Compares the model's current weights with the reference on every window.
  FidelityAccumulator measure(const Model& model, const CancelToken& cancel) const;
  // The unquantized model against itself (its perplexity is the run's baseline).
  const FidelityAccumulator& baseline() const { return baseline_; }
  const at::Tensor& windows() const { return windows_; }
  double temperature() const { return temperature_; }
  bool read_from_file() const { return read_; }  // true when `path` held them

 private:
  at::Tensor windows_;
  int64_t batch_ = 1;
  double temperature_ = 1.0;
  bool read_ = false;
  std::vector<detail::BatchReference> refs_;
  FidelityAccumulator baseline_;
};

// The final block outputs of `ids` with the model's current weights.
at::Tensor final_hidden(const Model& model, const at::Tensor& ids, const CancelToken& cancel);

class OptionCache {
 public:
  using CalibrationOf = std::function<ModuleCalibration(const std::string& module)>;
  // Every (module, option) weight, quantized from the model's current (unquantized) weights, in
  // the stored dtype and device of each weight. cache_path "": in memory only; otherwise reused
  // when it was made for this model and these options, and written when it was not.
  OptionCache(const Model& model, std::vector<std::string> modules,
              std::vector<ModuleAllocation> options, const CalibrationOf& calibration,
              const std::string& cache_path, ProgressSink& progress, const CancelToken& cancel);

  const std::vector<std::string>& modules() const { return modules_; }
  const std::vector<ModuleAllocation>& options() const { return options_; }
  at::Tensor weight(size_t module, int option) const;

 private:
  std::vector<std::string> modules_;
  std::vector<ModuleAllocation> options_;
  mutable std::mutex mutex_;
  std::vector<at::Tensor> weights_;  // module * options + option
  std::shared_ptr<SafetensorsFile> file_;
};

class Evaluator {
 public:
  // The model is shared with the caller; its weights are restored after every measurement.
  Evaluator(Model& model, std::shared_ptr<const ReferencePredictions> reference,
            std::shared_ptr<const OptionCache> cache, OptionCache::CalibrationOf calibration,
            const CancelToken& cancel);

  const ReferencePredictions& reference() const { return *reference_; }
  const OptionCache& cache() const { return *cache_; }

  // Measures the candidates whose module i uses option genomes[k][i], in order; `on_each(k, acc)`
  // is called the moment candidate k is measured (points appear live, progress advances).
  std::vector<FidelityAccumulator> evaluate_batch(
      const std::vector<std::vector<int>>& genomes,
      const std::function<void(size_t, const FidelityAccumulator&)>& on_each = {});
  FidelityAccumulator evaluate(const std::vector<int>& genes);

  // Measures an allocation that is not made of cached options (a uniform baseline outside them,
  // a CMPQ budget): its modules are quantized for this measurement only. Modules the allocation
  // does not name stay unquantized.
  FidelityAccumulator evaluate_allocation(const Allocation& allocation);

 private:
  Model& model_;
  std::shared_ptr<const ReferencePredictions> reference_;
  std::shared_ptr<const OptionCache> cache_;
  OptionCache::CalibrationOf calibration_;
  const CancelToken& cancel_;
  std::mutex model_mutex_;  // one measurement at a time on the shared model
};

}  // namespace bitscape
