// Results of the searches as plain values: evaluated allocations (points), the Pareto archive
// every method feeds, and the exact budgeted choice over per-module curves. Plain-value header
// (no LibTorch).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace bitscape {

// One evaluated allocation. `genes` index each searched module's option (the run's option list,
// see SearchRunInfo) in execution order.
struct SearchPoint {
  std::string method;   // "uniform", "dp", "amq", "automixq", "cmpq"
  int64_t index = 0;    // order of evaluation within the run
  int iteration = -1;   // AMQ iteration, AutoMixQ cycle, DP/CMPQ budget index; -1: baseline
  std::vector<int> genes;
  double average_bits = 0.0;   // with overhead (cost model)
  double code_bits = 0.0;
  int64_t total_bytes = 0;
  double ppl = std::nan(""), kl = std::nan(""), jsd = std::nan(""), top1 = std::nan("");
  double loss = std::nan("");       // the method's own objective (JSD for AMQ, CE + KD for AutoMixQ)
  double predicted = std::nan("");  // AMQ's predictor / DP's summed curve, before measuring
  double seconds = 0.0;             // since the run started
};

// A point as one JSON object (the CLI's --json lines and the GUI's live stream): method, index,
// iteration, average_bits, code_bits, total_bytes, ppl, kl, jsd, top1, loss, predicted (null
// when NaN), seconds, genes. search_point_from_json reads it back; throws InputError.
std::string search_point_json(const SearchPoint& p);
SearchPoint search_point_from_json(const std::string& json);

// The non-dominated points over (average bits, objective), both minimised.
class ParetoArchive {
 public:
  enum class Objective { kKl, kPpl, kJsd, kLoss };
  explicit ParetoArchive(Objective objective = Objective::kKl) : objective_(objective) {}
  // Adds a point; returns true when no earlier point is as good in both (it joins the front).
  bool add(const SearchPoint& p);
  const std::vector<SearchPoint>& points() const { return points_; }
  // Indices of the front, by increasing average bits.
  std::vector<size_t> front() const;
  double value(const SearchPoint& p) const;
  // The best point (lowest objective) with average bits <= budget among `method` ("" = any);
  // -1 when none.
  int64_t best_within(double budget, const std::string& method = "") const;

 private:
  Objective objective_;
  std::vector<SearchPoint> points_;
};

// Exact budgeted choice over additive per-module costs (the multiple-choice knapsack): choose one
// option per module minimising sum loss[m][o] subject to sum size[m][o] <= budget. Sizes are
// integers (bits). Solved for every budget at once by dynamic programming over the total size
// in units of the greatest common divisor of the size differences; `max_states` bounds the table
// (sizes are then rounded up to a coarser unit, and `exact` is false).
struct BudgetedChoice {
  std::vector<int64_t> sizes;  // achievable total sizes on the front, increasing
  std::vector<double> losses;  // the minimum summed loss for each (decreasing)
  std::vector<std::vector<int>> choices;  // option per module for each
  bool exact = true;
};
BudgetedChoice budgeted_choice(const std::vector<std::vector<int64_t>>& size,
                               const std::vector<std::vector<double>>& loss,
                               int64_t max_states = 20'000'000);

}  // namespace bitscape
