// The one interface of the search methods (search.h): each method is a function over a
// SearchContext, in its own file (method_dp.cpp, method_amq.cpp, method_automixq.cpp,
// method_cmpq.cpp), registered by name in search.cpp. A method proposes candidates in batches
// and hands each batch to measure(), which evaluates it through the shared Evaluator, turns every
// measurement into a point of the archive the moment it exists, and returns the points; it calls
// checkpoint() after each completed iteration (what a resume starts from). Internal to core.
#pragma once

#include <chrono>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bitscape/cost_model.h"
#include "bitscape/search.h"
#include "search/evaluator.h"

namespace bitscape::search {

class SearchContext {
 public:
  using Loss = std::function<double(const FidelityAccumulator&)>;

  SearchContext(const SearchOptions& options, SearchOutcome& outcome,
                const std::vector<ModuleShape>& shapes, int64_t other_parameters,
                Evaluator& evaluator, const std::function<void(const SearchPoint&)>& on_point,
                const std::function<void(const SearchOutcome&)>& on_checkpoint,
                ProgressSink& progress, const CancelToken& cancel,
                std::chrono::steady_clock::time_point t0);

  const SearchOptions& options;
  SearchOutcome& out;
  const std::vector<ModuleShape>& shapes;
  const int64_t other_parameters;
  Evaluator& evaluator;
  ProgressSink& progress;
  const CancelToken& cancel;

  size_t modules() const { return out.modules.size(); }
  int option_count() const { return static_cast<int>(out.options.size()); }

  // Average bits (with overhead) of the allocation a genome stands for.
  double bits(const std::vector<int>& genes) const;
  // Whether the archive already holds points of this iteration (a resumed run skips it).
  bool have_iteration(int iteration) const;

  // Measures the genomes (one Evaluator batch), announces each point as it is measured (loss and
  // predicted filled by `loss` and `predicted[k]`, NaN when absent; iteration `iterations[k]`,
  // or `iteration` for all) and advances the progress by one per point (after `progress_base`);
  // `after(k, point)` runs once point k is in the archive. Returns the points in order.
  struct Batch {
    std::vector<std::vector<int>> genomes;
    std::vector<double> predicted;  // optional, per genome
    std::vector<int> iterations;    // optional, per genome
  };
  std::vector<SearchPoint> measure(const Batch& batch, int iteration, const Loss& loss,
                                   int64_t progress_base = 0,
                                   const std::function<void(size_t, const SearchPoint&)>& after = {});
  // Adds a point measured elsewhere (baselines) to the archive and announces it.
  SearchPoint emit(SearchPoint p);
  // A point for a measurement of `genes`.
  SearchPoint make_point(const std::vector<int>& genes, const FidelityAccumulator& a, int iteration) const;
  // Records `completed` iterations and hands the outcome so far to the checkpoint callback.
  void checkpoint(int64_t completed);
  void log(const std::string& line);

 private:
  const std::function<void(const SearchPoint&)>& on_point_;
  const std::function<void(const SearchOutcome&)>& on_checkpoint_;
  std::chrono::steady_clock::time_point t0_;
};

double seconds_since(std::chrono::steady_clock::time_point t0);

// A reproducible stream per (seed, phase, iteration), so that a resumed run draws what an
// uninterrupted one would.
std::mt19937_64 stream(uint64_t seed, uint64_t phase, uint64_t iteration);

// The methods. Each runs from where out.completed_iterations says and returns when done.
void run_dp(SearchContext& ctx);
void run_amq(SearchContext& ctx);
void run_automixq(SearchContext& ctx);
void run_cmpq(SearchContext& ctx);

}  // namespace bitscape::search
