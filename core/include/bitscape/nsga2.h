// The evolutionary and surrogate machinery of AMQ's search (NOTES-amq.md section 3-4): NSGA-II
// (Deb et al. 2002) on integer genomes with pymoo's operators as AMQ configures them, the
// subset-selection GA that spreads new candidates over the memory axis, the cubic RBF predictor
// with a linear tail (pySOT's RBFInterpolant), and the rank statistics AMQ logs. Plain-value
// header (no LibTorch); all randomness from a caller-given std::mt19937_64.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <vector>

namespace bitscape {

// An individual: integer genes (one bit option index per searched module) and its objectives
// (all minimised), e.g. {predicted loss, average bits}.
using Genome = std::vector<int>;

struct Individual {
  Genome genes;
  std::vector<double> objectives;
  bool feasible = true;  // constraint satisfaction; infeasible ones rank after every feasible one
  int rank = 0;          // non-domination front, 0 = best (set by nondominated_sort)
  double crowding = 0.0; // crowding distance within its front (set by crowding_distance)
};

// a dominates b: no worse in every objective and strictly better in one.
bool dominates(const std::vector<double>& a, const std::vector<double>& b);

// Fast non-dominated sorting (Deb et al. 2002, section III-A): the fronts as lists of indices,
// front 0 first; sets each individual's `rank`. Infeasible individuals form fronts after all
// feasible ones (pymoo's constraint handling: feasible first, then by constraint violation;
// here every infeasible one is in one last front).
std::vector<std::vector<int>> nondominated_sort(std::vector<Individual>& population);

// Crowding distance of the individuals of one front (section III-B): boundary points get
// infinity; inner ones the sum over objectives of the normalised gap between their neighbours.
void crowding_distance(std::vector<Individual>& population, const std::vector<int>& front);

// Binary tournament on (rank, crowding): lower rank wins, then larger crowding, then a coin flip.
int tournament(const std::vector<Individual>& population, std::mt19937_64& rng);

// pymoo's BinomialCrossover as AMQ uses it: with probability `prob` the child takes each gene from
// parent a or b with probability 1/2 each, with at least one gene from b (one random position is
// forced); otherwise the child is a copy of a. One child.
Genome binomial_crossover(const Genome& a, const Genome& b, double prob, std::mt19937_64& rng);

// AMQ's IntMutation: with probability `prob` the whole genome is replaced by a uniformly random
// one within [lower[i], upper[i]] per gene (pinned genes have lower == upper).
Genome random_restart_mutation(const Genome& g, const std::vector<int>& lower,
                               const std::vector<int>& upper, double prob, std::mt19937_64& rng);

// NSGA-II on a problem given by an evaluation function (objectives and feasibility of a genome).
struct Nsga2Options {
  int population = 200;
  int offspring = 200;
  int generations = 20;
  double crossover_prob = 0.9;
  double mutation_prob = 0.1;
};
struct Nsga2Problem {
  std::vector<int> lower, upper;  // gene bounds (inclusive)
  // Fills objectives and feasibility.
  std::function<void(Individual&)> evaluate;
};
// Starts from `initial` (evaluated here), runs the generations with rank-and-crowding survival and
// duplicate elimination (an offspring equal to a member of the population or to another
// offspring is dropped), and returns the final population.
std::vector<Individual> nsga2(const Nsga2Problem& problem, std::vector<Genome> initial,
                              const Nsga2Options& options, std::mt19937_64& rng);

// AMQ's subset selection: chooses exactly k of the `candidates` (by index) so that the sorted
// union of `anchors` and the chosen candidates' values (e.g. average bits) has the smallest
// standard deviation of consecutive gaps, by a GA over k-subsets (population `population`,
// `generations` generations; crossover and mutation keep the size k). Returns sorted indices.
// When there are at most k candidates, all of them.
std::vector<int> select_spread_subset(const std::vector<double>& candidate_values,
                                      const std::vector<double>& anchors, int k,
                                      int population, int generations, std::mt19937_64& rng);

// pySOT's RBFInterpolant with a cubic kernel phi(r) = r^3 and a linear polynomial tail: fits
// [Phi + eta I, P; P^T, 0] [lambda; c] = [f; 0] on inputs scaled to the unit box by
// (x - lower) / (upper - lower). Needs at least dim + 1 points.
class CubicRbf {
 public:
  void fit(const std::vector<std::vector<double>>& x, const std::vector<double>& f,
           const std::vector<double>& lower, const std::vector<double>& upper, double eta = 1e-6);
  double predict(const std::vector<double>& x) const;
  bool fitted() const { return !centers_.empty(); }

 private:
  std::vector<std::vector<double>> centers_;  // scaled inputs
  std::vector<double> lambda_, tail_;          // tail_: constant then one per dimension
  std::vector<double> lower_, range_;
  std::vector<double> scale(const std::vector<double>& x) const;
};

// Kendall's tau-b between two equally long vectors; NaN when undefined.
double kendall_tau(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace bitscape
