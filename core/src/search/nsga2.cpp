// The evolutionary and surrogate machinery of AMQ's search (NOTES-amq.md sections 3-4). NSGA-II
// follows Deb, Pratap, Agarwal and Meyarivan, "A fast and elitist multiobjective genetic
// algorithm: NSGA-II" (IEEE TEVC 2002) with the operators and survival of pymoo >= 0.6
// (BinomialCrossover, RankAndCrowding, duplicate elimination in the mating loop) as AMQ configures
// them; the subset-selection GA follows AMQ's utils/ga.py (SubsetProblem, its crossover, mutation
// and sampling); CubicRbf follows pySOT's RBFInterpolant (CubicKernel + LinearTail, unit-box
// scaling, eta on the diagonal, LU solve); kendall_tau is the tau-b of Kendall (1945) as in
// scipy.stats.kendalltau. Written from the papers and those libraries' semantics; no code copied.
#include "bitscape/nsga2.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>

namespace bitscape {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double uniform01(std::mt19937_64& rng) { return std::uniform_real_distribution<double>(0, 1)(rng); }

int uniform_index(int n, std::mt19937_64& rng) {
  return std::uniform_int_distribution<int>(0, n - 1)(rng);
}

bool coin_flip(std::mt19937_64& rng) { return std::uniform_int_distribution<int>(0, 1)(rng) == 1; }

void check_probability(double p, const char* what) {
  if (!(p >= 0.0 && p <= 1.0)) {
    throw std::invalid_argument(std::string(what) + " must be in [0, 1], got " + std::to_string(p));
  }
}

void check_bounds(const std::vector<int>& lower, const std::vector<int>& upper) {
  if (lower.size() != upper.size()) {
    throw std::invalid_argument("gene bounds: " + std::to_string(lower.size()) +
                                " lower bounds but " + std::to_string(upper.size()) +
                                " upper bounds");
  }
  for (size_t i = 0; i < lower.size(); ++i) {
    if (lower[i] > upper[i]) {
      throw std::invalid_argument("gene bounds: gene " + std::to_string(i) + " has lower " +
                                  std::to_string(lower[i]) + " > upper " +
                                  std::to_string(upper[i]));
    }
  }
}

// Evaluates one genome through the problem and checks that it gave `n_objectives` objectives
// (any count when n_objectives < 0).
Individual evaluate(const Nsga2Problem& problem, Genome genes, int n_objectives) {
  Individual ind;
  ind.genes = std::move(genes);
  problem.evaluate(ind);
  if (ind.objectives.empty()) {
    throw std::invalid_argument("nsga2: the evaluation function set no objectives");
  }
  if (n_objectives >= 0 && static_cast<int>(ind.objectives.size()) != n_objectives) {
    throw std::invalid_argument("nsga2: the evaluation function set " +
                                std::to_string(ind.objectives.size()) + " objectives, expected " +
                                std::to_string(n_objectives));
  }
  return ind;
}

// pymoo's RankAndCrowding survival: non-dominated sort, crowding distance per front, fronts
// taken whole in order, the front that does not fit truncated by descending crowding distance
// (ties broken at random, like pymoo's randomized_argsort). Survivors keep the rank and crowding
// computed in `merged`.
std::vector<Individual> rank_and_crowding_survival(std::vector<Individual> merged, int n_survive,
                                                   std::mt19937_64& rng) {
  const auto fronts = nondominated_sort(merged);
  std::vector<Individual> survivors;
  survivors.reserve(std::min<size_t>(merged.size(), static_cast<size_t>(n_survive)));
  for (const auto& front : fronts) {
    const size_t room = static_cast<size_t>(n_survive) - survivors.size();
    if (room == 0) break;
    crowding_distance(merged, front);
    if (front.size() <= room) {
      for (int i : front) survivors.push_back(std::move(merged[i]));
      continue;
    }
    std::vector<int> order = front;
    std::shuffle(order.begin(), order.end(), rng);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return merged[a].crowding > merged[b].crowding; });
    for (size_t j = 0; j < room; ++j) survivors.push_back(std::move(merged[order[j]]));
    break;
  }
  return survivors;
}

// Population standard deviation of the gaps between the sorted anchors and chosen values
// (AMQ's SubsetProblem objective: np.std(np.diff(np.sort(...)))). 0 when there is no gap.
double gap_spread(const std::vector<double>& candidate_values, const std::vector<double>& anchors,
                  const std::vector<int>& subset) {
  std::vector<double> values = anchors;
  for (int i : subset) values.push_back(candidate_values[i]);
  std::sort(values.begin(), values.end());
  if (values.size() < 2) return 0.0;
  const size_t n = values.size() - 1;
  double mean = 0.0;
  for (size_t i = 0; i < n; ++i) mean += values[i + 1] - values[i];
  mean /= static_cast<double>(n);
  double var = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double d = values[i + 1] - values[i] - mean;
    var += d * d;
  }
  return std::sqrt(var / static_cast<double>(n));
}

// Solves A z = rhs in place by LU with partial pivoting (A row-major, n x n). Throws on a
// pivot that is zero relative to the matrix's largest entry.
std::vector<double> lu_solve(std::vector<double> a, std::vector<double> rhs, size_t n) {
  double max_abs = 0.0;
  for (double v : a) max_abs = std::max(max_abs, std::abs(v));
  const double tol = static_cast<double>(n) * std::numeric_limits<double>::epsilon() * max_abs;
  for (size_t k = 0; k < n; ++k) {
    size_t p = k;
    for (size_t i = k + 1; i < n; ++i) {
      if (std::abs(a[i * n + k]) > std::abs(a[p * n + k])) p = i;
    }
    if (!(std::abs(a[p * n + k]) > tol)) {
      throw std::invalid_argument(
          "CubicRbf: the RBF system is singular (duplicated points with eta = 0, or points that "
          "do not span the input space)");
    }
    if (p != k) {
      for (size_t j = 0; j < n; ++j) std::swap(a[k * n + j], a[p * n + j]);
      std::swap(rhs[k], rhs[p]);
    }
    const double pivot = a[k * n + k];
    for (size_t i = k + 1; i < n; ++i) {
      const double m = a[i * n + k] / pivot;
      if (m == 0.0) continue;
      a[i * n + k] = 0.0;
      for (size_t j = k + 1; j < n; ++j) a[i * n + j] -= m * a[k * n + j];
      rhs[i] -= m * rhs[k];
    }
  }
  for (size_t k = n; k-- > 0;) {
    double s = rhs[k];
    for (size_t j = k + 1; j < n; ++j) s -= a[k * n + j] * rhs[j];
    rhs[k] = s / a[k * n + k];
  }
  return rhs;
}

double cubic(double r) { return r * r * r; }

double distance(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (size_t j = 0; j < a.size(); ++j) s += (a[j] - b[j]) * (a[j] - b[j]);
  return std::sqrt(s);
}

}  // namespace

bool dominates(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) {
    throw std::invalid_argument("dominates: objective vectors of sizes " +
                                std::to_string(a.size()) + " and " + std::to_string(b.size()));
  }
  bool strictly_better = false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] > b[i]) return false;
    if (a[i] < b[i]) strictly_better = true;
  }
  return strictly_better;
}

std::vector<std::vector<int>> nondominated_sort(std::vector<Individual>& population) {
  std::vector<int> feasible, infeasible;
  for (int i = 0; i < static_cast<int>(population.size()); ++i) {
    (population[i].feasible ? feasible : infeasible).push_back(i);
  }
  // Deb et al. 2002, section III-A: n_p = how many dominate p, S_p = whom p dominates.
  const size_t n = feasible.size();
  std::vector<int> dominated_count(n, 0);
  std::vector<std::vector<int>> dominated_set(n);
  for (size_t p = 0; p < n; ++p) {
    for (size_t q = p + 1; q < n; ++q) {
      const auto& fp = population[feasible[p]].objectives;
      const auto& fq = population[feasible[q]].objectives;
      if (dominates(fp, fq)) {
        dominated_set[p].push_back(static_cast<int>(q));
        ++dominated_count[q];
      } else if (dominates(fq, fp)) {
        dominated_set[q].push_back(static_cast<int>(p));
        ++dominated_count[p];
      }
    }
  }
  std::vector<std::vector<int>> fronts;
  std::vector<int> current;
  for (size_t p = 0; p < n; ++p) {
    if (dominated_count[p] == 0) current.push_back(static_cast<int>(p));
  }
  while (!current.empty()) {
    std::vector<int> next;
    for (int p : current) {
      for (int q : dominated_set[p]) {
        if (--dominated_count[q] == 0) next.push_back(q);
      }
    }
    std::vector<int> front;
    for (int p : current) front.push_back(feasible[p]);
    std::sort(front.begin(), front.end());
    fronts.push_back(std::move(front));
    current = std::move(next);
  }
  if (!infeasible.empty()) fronts.push_back(infeasible);
  for (size_t r = 0; r < fronts.size(); ++r) {
    for (int i : fronts[r]) population[i].rank = static_cast<int>(r);
  }
  return fronts;
}

void crowding_distance(std::vector<Individual>& population, const std::vector<int>& front) {
  if (front.empty()) return;
  if (front.size() <= 2) {
    for (int i : front) population[i].crowding = kInf;
    return;
  }
  for (int i : front) population[i].crowding = 0.0;
  const size_t n_obj = population[front[0]].objectives.size();
  std::vector<int> order(front);
  for (size_t m = 0; m < n_obj; ++m) {
    order = front;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return population[a].objectives[m] < population[b].objectives[m];
    });
    const double f_min = population[order.front()].objectives[m];
    const double f_max = population[order.back()].objectives[m];
    const double range = f_max - f_min;
    // pymoo: an objective with zero range adds nothing, not even the boundary infinities.
    if (!(range > 0.0)) continue;
    population[order.front()].crowding = kInf;
    population[order.back()].crowding = kInf;
    for (size_t j = 1; j + 1 < order.size(); ++j) {
      population[order[j]].crowding +=
          (population[order[j + 1]].objectives[m] - population[order[j - 1]].objectives[m]) / range;
    }
  }
}

int tournament(const std::vector<Individual>& population, std::mt19937_64& rng) {
  const int n = static_cast<int>(population.size());
  if (n == 0) throw std::invalid_argument("tournament: empty population");
  if (n == 1) return 0;
  // Two distinct contestants, as pymoo's TournamentSelection draws them from a permutation.
  const int a = uniform_index(n, rng);
  int b = uniform_index(n - 1, rng);
  if (b >= a) ++b;
  const Individual& ia = population[a];
  const Individual& ib = population[b];
  if (ia.rank != ib.rank) return ia.rank < ib.rank ? a : b;
  if (ia.crowding != ib.crowding) return ia.crowding > ib.crowding ? a : b;
  return coin_flip(rng) ? a : b;
}

Genome binomial_crossover(const Genome& a, const Genome& b, double prob, std::mt19937_64& rng) {
  if (a.size() != b.size()) {
    throw std::invalid_argument("binomial_crossover: parents of lengths " +
                                std::to_string(a.size()) + " and " + std::to_string(b.size()));
  }
  check_probability(prob, "binomial_crossover: prob");
  if (!(uniform01(rng) < prob) || a.empty()) return a;
  Genome child = a;
  bool any_from_b = false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (uniform01(rng) < 0.5) {
      child[i] = b[i];
      any_from_b = true;
    }
  }
  if (!any_from_b) {
    const int i = uniform_index(static_cast<int>(a.size()), rng);
    child[i] = b[i];
  }
  return child;
}

Genome random_restart_mutation(const Genome& g, const std::vector<int>& lower,
                               const std::vector<int>& upper, double prob, std::mt19937_64& rng) {
  check_bounds(lower, upper);
  if (g.size() != lower.size()) {
    throw std::invalid_argument("random_restart_mutation: genome of length " +
                                std::to_string(g.size()) + " but " + std::to_string(lower.size()) +
                                " gene bounds");
  }
  check_probability(prob, "random_restart_mutation: prob");
  if (!(uniform01(rng) < prob)) return g;
  Genome out(g.size());
  for (size_t i = 0; i < g.size(); ++i) {
    out[i] = std::uniform_int_distribution<int>(lower[i], upper[i])(rng);
  }
  return out;
}

std::vector<Individual> nsga2(const Nsga2Problem& problem, std::vector<Genome> initial,
                              const Nsga2Options& options, std::mt19937_64& rng) {
  check_bounds(problem.lower, problem.upper);
  if (!problem.evaluate)
    throw std::invalid_argument("nsga2: the problem has no evaluation function");
  if (options.population < 1 || options.offspring < 0 || options.generations < 0) {
    throw std::invalid_argument("nsga2: population must be >= 1, offspring and generations >= 0");
  }
  check_probability(options.crossover_prob, "nsga2: crossover_prob");
  check_probability(options.mutation_prob, "nsga2: mutation_prob");
  if (initial.empty()) throw std::invalid_argument("nsga2: the initial population is empty");
  const size_t n_genes = problem.lower.size();
  for (size_t k = 0; k < initial.size(); ++k) {
    const Genome& g = initial[k];
    if (g.size() != n_genes) {
      throw std::invalid_argument("nsga2: initial genome " + std::to_string(k) + " has " +
                                  std::to_string(g.size()) + " genes, the bounds " +
                                  std::to_string(n_genes));
    }
    for (size_t i = 0; i < n_genes; ++i) {
      if (g[i] < problem.lower[i] || g[i] > problem.upper[i]) {
        throw std::invalid_argument("nsga2: initial genome " + std::to_string(k) + " gene " +
                                    std::to_string(i) + " = " + std::to_string(g[i]) +
                                    " is outside its bounds");
      }
    }
  }

  // pymoo's initialization drops duplicates, evaluates, and ranks without truncation.
  std::vector<Individual> population;
  {
    std::set<Genome> seen;
    int n_objectives = -1;
    for (auto& g : initial) {
      if (!seen.insert(g).second) continue;
      population.push_back(evaluate(problem, std::move(g), n_objectives));
      n_objectives = static_cast<int>(population.back().objectives.size());
    }
  }
  const int n_objectives = static_cast<int>(population.front().objectives.size());
  const int n_initial = static_cast<int>(population.size());
  population = rank_and_crowding_survival(std::move(population), n_initial, rng);

  const long max_attempts = 10L * options.offspring;
  for (int gen = 0; gen < options.generations; ++gen) {
    // Mating with duplicate elimination against the population and earlier offspring.
    std::set<Genome> seen;
    for (const auto& ind : population) seen.insert(ind.genes);
    std::vector<Genome> children;
    for (long attempt = 0;
         attempt < max_attempts && static_cast<int>(children.size()) < options.offspring;
         ++attempt) {
      const Genome& a = population[tournament(population, rng)].genes;
      const Genome& b = population[tournament(population, rng)].genes;
      Genome child = binomial_crossover(a, b, options.crossover_prob, rng);
      child =
          random_restart_mutation(child, problem.lower, problem.upper, options.mutation_prob, rng);
      if (seen.insert(child).second) children.push_back(std::move(child));
    }
    for (auto& child : children) {
      population.push_back(evaluate(problem, std::move(child), n_objectives));
    }
    population = rank_and_crowding_survival(std::move(population), options.population, rng);
  }
  return population;
}

std::vector<int> select_spread_subset(const std::vector<double>& candidate_values,
                                      const std::vector<double>& anchors, int k, int population,
                                      int generations, std::mt19937_64& rng) {
  const int n = static_cast<int>(candidate_values.size());
  if (k < 0) throw std::invalid_argument("select_spread_subset: k must be >= 0");
  if (n <= k) {
    std::vector<int> all(n);
    std::iota(all.begin(), all.end(), 0);
    return all;
  }
  if (k == 0) return {};
  if (population < 1 || generations < 0) {
    throw std::invalid_argument(
        "select_spread_subset: population must be >= 1 and generations >= 0");
  }

  struct Member {
    std::vector<int> subset;  // sorted, k distinct indices
    double spread;
  };
  auto make_member = [&](std::vector<int> subset) {
    std::sort(subset.begin(), subset.end());
    const double spread = gap_spread(candidate_values, anchors, subset);
    return Member{std::move(subset), spread};
  };
  auto better = [](const Member& a, const Member& b) { return a.spread < b.spread; };

  std::vector<int> indices(n);
  std::iota(indices.begin(), indices.end(), 0);
  // AMQ's sampling: k random indices per member; duplicates eliminated (bounded retries).
  std::vector<Member> members;
  std::set<std::vector<int>> seen;
  for (long attempt = 0;
       attempt < 10L * population && static_cast<int>(members.size()) < population; ++attempt) {
    std::shuffle(indices.begin(), indices.end(), rng);
    Member m = make_member(std::vector<int>(indices.begin(), indices.begin() + k));
    if (seen.insert(m.subset).second) members.push_back(std::move(m));
  }
  std::stable_sort(members.begin(), members.end(), better);

  auto pick = [&]() -> const Member& {
    // Binary tournament on the spread (every subset has exactly k members: all feasible).
    const int size = static_cast<int>(members.size());
    if (size == 1) return members[0];
    const int a = uniform_index(size, rng);
    int b = uniform_index(size - 1, rng);
    if (b >= a) ++b;
    if (members[a].spread != members[b].spread)
      return better(members[a], members[b]) ? members[a] : members[b];
    return coin_flip(rng) ? members[a] : members[b];
  };

  std::vector<char> chosen(n);
  for (int gen = 0; gen < generations; ++gen) {
    seen.clear();
    for (const auto& m : members) seen.insert(m.subset);
    std::vector<Member> offspring;
    for (long attempt = 0;
         attempt < 10L * population && static_cast<int>(offspring.size()) < population; ++attempt) {
      const std::vector<int>& p1 = pick().subset;
      const std::vector<int>& p2 = pick().subset;
      // AMQ's crossover: keep the indices both parents chose, fill up to k at random from the
      // indices only one of them chose.
      std::vector<int> both, either;
      std::set_intersection(p1.begin(), p1.end(), p2.begin(), p2.end(), std::back_inserter(both));
      std::set_symmetric_difference(p1.begin(), p1.end(), p2.begin(), p2.end(),
                                    std::back_inserter(either));
      std::shuffle(either.begin(), either.end(), rng);
      std::vector<int> child = both;
      child.insert(child.end(), either.begin(),
                   either.begin() + (k - static_cast<int>(both.size())));
      // AMQ's mutation: swap one chosen index for one unchosen index.
      std::fill(chosen.begin(), chosen.end(), 0);
      for (int i : child) chosen[i] = 1;
      std::vector<int> unchosen;
      for (int i = 0; i < n; ++i) {
        if (!chosen[i]) unchosen.push_back(i);
      }
      child[uniform_index(k, rng)] =
          unchosen[uniform_index(static_cast<int>(unchosen.size()), rng)];
      Member m = make_member(std::move(child));
      if (seen.insert(m.subset).second) offspring.push_back(std::move(m));
    }
    // pymoo GA's fitness survival: the best `population` of parents and offspring.
    members.insert(members.end(), std::make_move_iterator(offspring.begin()),
                   std::make_move_iterator(offspring.end()));
    std::stable_sort(members.begin(), members.end(), better);
    if (static_cast<int>(members.size()) > population) members.resize(population);
  }
  return members.front().subset;
}

std::vector<double> CubicRbf::scale(const std::vector<double>& x) const {
  std::vector<double> s(x.size());
  for (size_t j = 0; j < x.size(); ++j) {
    s[j] = range_[j] > 0.0 ? (x[j] - lower_[j]) / range_[j] : 0.0;
  }
  return s;
}

void CubicRbf::fit(const std::vector<std::vector<double>>& x, const std::vector<double>& f,
                   const std::vector<double>& lower, const std::vector<double>& upper, double eta) {
  const size_t dim = lower.size();
  if (upper.size() != dim) {
    throw std::invalid_argument("CubicRbf: " + std::to_string(dim) + " lower bounds but " +
                                std::to_string(upper.size()) + " upper bounds");
  }
  for (size_t j = 0; j < dim; ++j) {
    if (!(upper[j] >= lower[j])) {
      throw std::invalid_argument("CubicRbf: dimension " + std::to_string(j) +
                                  " has upper bound below its lower bound");
    }
  }
  if (x.size() != f.size()) {
    throw std::invalid_argument("CubicRbf: " + std::to_string(x.size()) + " points but " +
                                std::to_string(f.size()) + " values");
  }
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i].size() != dim) {
      throw std::invalid_argument("CubicRbf: point " + std::to_string(i) + " has " +
                                  std::to_string(x[i].size()) + " coordinates, the bounds " +
                                  std::to_string(dim));
    }
    if (!std::isfinite(f[i]) ||
        !std::all_of(x[i].begin(), x[i].end(), [](double v) { return std::isfinite(v); })) {
      throw std::invalid_argument("CubicRbf: point " + std::to_string(i) +
                                  " or its value is not finite");
    }
  }
  if (!(eta >= 0.0)) throw std::invalid_argument("CubicRbf: eta must be >= 0");
  // Pinned dimensions (lower == upper) scale to 0 and drop out of the linear tail, whose column
  // would otherwise be all zero and make the system singular.
  std::vector<size_t> free_dims;
  for (size_t j = 0; j < dim; ++j) {
    if (upper[j] > lower[j]) free_dims.push_back(j);
  }
  const size_t n = x.size();
  const size_t n_tail = free_dims.size() + 1;
  if (n < n_tail) {
    throw std::invalid_argument("CubicRbf: " + std::to_string(n) +
                                " points are too few for the linear tail, which needs at least " +
                                std::to_string(n_tail) + " (non-pinned dimensions + 1)");
  }

  CubicRbf model;
  model.lower_ = lower;
  model.range_.assign(dim, 0.0);
  for (size_t j = 0; j < dim; ++j) model.range_[j] = upper[j] - lower[j];
  std::vector<std::vector<double>> centers(n);
  for (size_t i = 0; i < n; ++i) centers[i] = model.scale(x[i]);

  // [Phi + eta I, P; P^T, 0] [lambda; c] = [f; 0], P = [1, x_scaled (free dimensions)].
  const size_t size = n + n_tail;
  std::vector<double> a(size * size, 0.0), rhs(size, 0.0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) a[i * size + j] = cubic(distance(centers[i], centers[j]));
    a[i * size + i] += eta;
    a[i * size + n] = a[n * size + i] = 1.0;
    for (size_t t = 0; t < free_dims.size(); ++t) {
      a[i * size + n + 1 + t] = a[(n + 1 + t) * size + i] = centers[i][free_dims[t]];
    }
    rhs[i] = f[i];
  }
  const std::vector<double> z = lu_solve(std::move(a), std::move(rhs), size);

  model.centers_ = std::move(centers);
  model.lambda_.assign(z.begin(), z.begin() + static_cast<std::ptrdiff_t>(n));
  model.tail_.assign(dim + 1, 0.0);
  model.tail_[0] = z[n];
  for (size_t t = 0; t < free_dims.size(); ++t) model.tail_[1 + free_dims[t]] = z[n + 1 + t];
  *this = std::move(model);  // a failed fit leaves the previous model untouched
}

double CubicRbf::predict(const std::vector<double>& x) const {
  if (!fitted()) throw std::logic_error("CubicRbf: predict called before fit");
  if (x.size() != lower_.size()) {
    throw std::invalid_argument("CubicRbf: predict got " + std::to_string(x.size()) +
                                " coordinates, the model has " + std::to_string(lower_.size()));
  }
  const std::vector<double> s = scale(x);
  double value = tail_[0];
  for (size_t j = 0; j < s.size(); ++j) value += tail_[1 + j] * s[j];
  for (size_t i = 0; i < centers_.size(); ++i)
    value += lambda_[i] * cubic(distance(s, centers_[i]));
  return value;
}

double kendall_tau(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) {
    throw std::invalid_argument("kendall_tau: vectors of sizes " + std::to_string(a.size()) +
                                " and " + std::to_string(b.size()));
  }
  constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
  const size_t n = a.size();
  if (n < 2) return kNan;
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) return kNan;
  }
  // tau_b = (n_c - n_d) / sqrt((n_0 - n_1)(n_0 - n_2)), n_1 / n_2 = pairs tied in a / in b.
  long long concordant = 0, discordant = 0, tied_a = 0, tied_b = 0;
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      const int sa = (a[i] > a[j]) - (a[i] < a[j]);
      const int sb = (b[i] > b[j]) - (b[i] < b[j]);
      if (sa == 0) ++tied_a;
      if (sb == 0) ++tied_b;
      if (sa == 0 || sb == 0) continue;
      if (sa == sb) {
        ++concordant;
      } else {
        ++discordant;
      }
    }
  }
  const double pairs = static_cast<double>(n) * static_cast<double>(n - 1) / 2.0;
  const double denom =
      std::sqrt((pairs - static_cast<double>(tied_a)) * (pairs - static_cast<double>(tied_b)));
  if (!(denom > 0.0)) return kNan;
  return static_cast<double>(concordant - discordant) / denom;
}

}  // namespace bitscape
