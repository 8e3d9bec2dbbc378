// AMQ's search machinery pinned to hand computations and brute force: Pareto dominance and Deb's
// non-dominated sorting and crowding distance (NSGA-II, Deb et al. 2002), pymoo's binary
// tournament, binomial crossover and AMQ's random-restart mutation, NSGA-II against the
// exhaustively computed Pareto front of a small integer problem, AMQ's subset-selection GA against
// all k-subsets, pySOT's cubic RBF with a linear tail against Cramer's rule, and Kendall's tau-b by
// hand.
#include "bitscape/nsga2.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#include "test_util.h"

namespace {

using bitscape::CubicRbf;
using bitscape::Genome;
using bitscape::Individual;
using bitscape::Nsga2Options;
using bitscape::Nsga2Problem;

constexpr double kInf = std::numeric_limits<double>::infinity();

Individual point(double f1, double f2, bool feasible = true) {
  Individual ind;
  ind.objectives = {f1, f2};
  ind.feasible = feasible;
  return ind;
}

std::set<int> as_set(const std::vector<int>& v) { return {v.begin(), v.end()}; }

// ----------------------------------------------------------------------------------------------
// Dominance, non-dominated sorting, crowding distance, tournament.

TEST(Nsga2Test, DominatesMeansNoWorseEverywhereAndStrictlyBetterSomewhere) {
  EXPECT_TRUE(bitscape::dominates({1, 2}, {2, 2}));
  EXPECT_TRUE(bitscape::dominates({1, 1}, {2, 2}));
  EXPECT_FALSE(bitscape::dominates({2, 2}, {1, 2}));
  EXPECT_FALSE(bitscape::dominates({2, 2}, {2, 2}));  // equal: neither dominates
  EXPECT_FALSE(bitscape::dominates({1, 3}, {2, 2}));  // incomparable
  EXPECT_FALSE(bitscape::dominates({2, 2}, {1, 3}));
  EXPECT_TRUE(bitscape::dominates({0, 5, 1}, {0, 5, 2}));
  EXPECT_THROW(bitscape::dominates({1, 2}, {1, 2, 3}), std::invalid_argument);
}

TEST(Nsga2Test, NondominatedSortFindsHandCheckedFronts) {
  // Minimising (f1, f2):
  //   0 (1,5)  1 (2,3)  2 (4,1)  3 (2,3) = duplicate of 1          -> front 0
  //   4 (3,4) by 1;  5 (2,6) by 0 and 1;  6 (5,2) by 2;
  //   8 (4,3) by 1 (tie in f2); none of 4, 5, 6, 8 dominates another -> front 1
  //   7 (4,5) by 4 and 8 (tie in f1)                                 -> front 2
  //   9 (0,0) and 10 (9,9) are infeasible: last, whatever their objectives -> front 3
  std::vector<Individual> pop = {point(1, 5), point(2, 3),        point(4, 1),       point(2, 3),
                                 point(3, 4), point(2, 6),        point(5, 2),       point(4, 5),
                                 point(4, 3), point(0, 0, false), point(9, 9, false)};
  const auto fronts = bitscape::nondominated_sort(pop);
  ASSERT_EQ(fronts.size(), 4u);
  EXPECT_EQ(as_set(fronts[0]), (std::set<int>{0, 1, 2, 3}));
  EXPECT_EQ(as_set(fronts[1]), (std::set<int>{4, 5, 6, 8}));
  EXPECT_EQ(as_set(fronts[2]), (std::set<int>{7}));
  EXPECT_EQ(as_set(fronts[3]), (std::set<int>{9, 10}));
  const std::array<int, 11> expected_rank = {0, 0, 0, 0, 1, 1, 1, 2, 1, 3, 3};
  for (size_t i = 0; i < pop.size(); ++i) EXPECT_EQ(pop[i].rank, expected_rank[i]) << i;
}

TEST(Nsga2Test, NondominatedSortAgreesWithBruteForceRanks) {
  // Rank by peeling: front r = the points not dominated by any point of rank >= r.
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> value(0, 6);
  std::vector<Individual> pop(60);
  for (auto& ind : pop)
    ind.objectives = {double(value(rng)), double(value(rng)), double(value(rng))};
  auto sorted = pop;
  const auto fronts = bitscape::nondominated_sort(sorted);
  std::vector<int> rank(pop.size(), -1);
  for (int r = 0, assigned = 0; assigned < int(pop.size()); ++r) {
    std::vector<int> front;
    for (size_t i = 0; i < pop.size(); ++i) {
      if (rank[i] >= 0) continue;
      bool dominated = false;
      for (size_t j = 0; j < pop.size() && !dominated; ++j) {
        dominated = rank[j] < 0 && bitscape::dominates(pop[j].objectives, pop[i].objectives);
      }
      if (!dominated) front.push_back(int(i));
    }
    for (int i : front) rank[i] = r;
    assigned += int(front.size());
  }
  for (size_t i = 0; i < pop.size(); ++i) EXPECT_EQ(sorted[i].rank, rank[i]) << i;
  size_t total = 0;
  for (const auto& f : fronts) total += f.size();
  EXPECT_EQ(total, pop.size());
}

TEST(Nsga2Test, CrowdingDistanceMatchesHandComputation) {
  // Front A(0,10) B(1,6) C(3,5) D(4,0), stored out of order, with an outsider (index 2) that must
  // keep its crowding. Ranges: f1 4, f2 10.
  //   B: f1 neighbours A, C: (3 - 0) / 4 = 0.75; f2 order D0 C5 B6 A10: (10 - 5) / 10 = 0.5 -> 1.25
  //   C: f1 neighbours B, D: (4 - 1) / 4 = 0.75; f2 neighbours D, B: (6 - 0) / 10 = 0.6 -> 1.35
  std::vector<Individual> pop = {point(3, 5), point(0, 10), point(7, 7), point(4, 0), point(1, 6)};
  pop[2].crowding = -3.0;
  bitscape::crowding_distance(pop, {0, 1, 3, 4});
  EXPECT_NEAR(pop[4].crowding, 1.25, 1e-12);
  EXPECT_NEAR(pop[0].crowding, 1.35, 1e-12);
  EXPECT_EQ(pop[1].crowding, kInf);
  EXPECT_EQ(pop[3].crowding, kInf);
  EXPECT_EQ(pop[2].crowding, -3.0);
}

TEST(Nsga2Test, CrowdingDistanceSkipsObjectivesWithZeroRangeAndSmallFronts) {
  // f2 constant: only f1 counts. Middle point: (5 - 0) / 5 = 1.
  std::vector<Individual> pop = {point(0, 1), point(1, 1), point(5, 1)};
  bitscape::crowding_distance(pop, {0, 1, 2});
  EXPECT_EQ(pop[0].crowding, kInf);
  EXPECT_NEAR(pop[1].crowding, 1.0, 1e-12);
  EXPECT_EQ(pop[2].crowding, kInf);

  std::vector<Individual> two = {point(0, 1), point(1, 0)};
  bitscape::crowding_distance(two, {0, 1});
  EXPECT_EQ(two[0].crowding, kInf);
  EXPECT_EQ(two[1].crowding, kInf);
  std::vector<Individual> one = {point(2, 2)};
  bitscape::crowding_distance(one, {0});
  EXPECT_EQ(one[0].crowding, kInf);
}

TEST(Nsga2Test, TournamentPrefersLowerRankThenLargerCrowding) {
  std::vector<Individual> by_rank = {point(0, 0), point(0, 0)};
  by_rank[0].rank = 1;
  by_rank[0].crowding = kInf;
  by_rank[1].rank = 0;
  by_rank[1].crowding = 0.1;
  std::vector<Individual> by_crowding = {point(0, 0), point(0, 0)};
  by_crowding[0].crowding = 2.0;
  by_crowding[1].crowding = 1.0;
  std::vector<Individual> tied = {point(0, 0), point(0, 0)};
  std::mt19937_64 rng(1);
  int tied_wins_0 = 0;
  for (int t = 0; t < 200; ++t) {
    EXPECT_EQ(bitscape::tournament(by_rank, rng), 1);
    EXPECT_EQ(bitscape::tournament(by_crowding, rng), 0);
    tied_wins_0 += bitscape::tournament(tied, rng) == 0;
  }
  EXPECT_GT(tied_wins_0, 60);  // a coin flip, not a fixed side
  EXPECT_LT(tied_wins_0, 140);

  // The two contestants are distinct: the strictly worst individual can never win.
  std::vector<Individual> four = {point(0, 0), point(0, 0), point(0, 0), point(0, 0)};
  for (int i = 0; i < 4; ++i) four[i].rank = i;
  std::set<int> winners;
  for (int t = 0; t < 500; ++t) winners.insert(bitscape::tournament(four, rng));
  EXPECT_EQ(winners, (std::set<int>{0, 1, 2}));
}

// ----------------------------------------------------------------------------------------------
// Variation operators.

TEST(Nsga2Test, BinomialCrossoverMixesParentsWithAtLeastOneGeneFromB) {
  const Genome a(8, 0), b(8, 1);
  int from_b = 0, genes = 0;
  for (uint64_t seed = 0; seed < 500; ++seed) {
    std::mt19937_64 rng(seed);
    EXPECT_EQ(bitscape::binomial_crossover(a, b, 0.0, rng), a);
    const Genome child = bitscape::binomial_crossover(a, b, 1.0, rng);
    ASSERT_EQ(child.size(), a.size());
    int ones = 0;
    for (int g : child) {
      EXPECT_TRUE(g == 0 || g == 1);
      ones += g;
    }
    EXPECT_GE(ones, 1) << "seed " << seed;
    from_b += ones;
    genes += int(child.size());
  }
  // Each gene comes from b with probability 1/2 (slightly more from the forced position).
  EXPECT_NEAR(double(from_b) / genes, 0.5, 0.03);

  // With prob 0.9 about a tenth of the children are plain copies of a.
  std::mt19937_64 rng(3);
  int copies = 0;
  for (int t = 0; t < 2000; ++t) copies += bitscape::binomial_crossover(a, b, 0.9, rng) == a;
  EXPECT_NEAR(copies / 2000.0, 0.1, 0.025);
  EXPECT_THROW(bitscape::binomial_crossover(a, Genome(3, 1), 1.0, rng), std::invalid_argument);
}

TEST(Nsga2Test, RandomRestartMutationRespectsBoundsAndPinnedGenes) {
  const std::vector<int> lower = {0, 2, 1, 3}, upper = {2, 2, 4, 3};  // genes 1 and 3 pinned
  const Genome g = {1, 2, 3, 3};
  std::mt19937_64 rng(11);
  std::set<int> seen0, seen2;
  for (int t = 0; t < 1000; ++t) {
    EXPECT_EQ(bitscape::random_restart_mutation(g, lower, upper, 0.0, rng), g);
    const Genome m = bitscape::random_restart_mutation(g, lower, upper, 1.0, rng);
    ASSERT_EQ(m.size(), g.size());
    for (size_t i = 0; i < m.size(); ++i) {
      EXPECT_GE(m[i], lower[i]);
      EXPECT_LE(m[i], upper[i]);
    }
    seen0.insert(m[0]);
    seen2.insert(m[2]);
  }
  EXPECT_EQ(seen0, (std::set<int>{0, 1, 2}));  // the whole range is reached
  EXPECT_EQ(seen2, (std::set<int>{1, 2, 3, 4}));
  EXPECT_THROW(bitscape::random_restart_mutation({1, 2}, lower, upper, 1.0, rng),
               std::invalid_argument);
}

// ----------------------------------------------------------------------------------------------
// NSGA-II on a problem whose Pareto front is known by brute force: 6 genes in {0, 1, 2},
// cost f1 = sum g_i, loss f2 = sum w_i (2 - g_i) with distinct positive weights.

const std::array<double, 6> kWeights = {1.0, 1.3, 1.9, 2.6, 3.4, 4.7};

std::vector<double> toy_objectives(const Genome& g) {
  double cost = 0.0, loss = 0.0;
  for (size_t i = 0; i < g.size(); ++i) {
    cost += g[i];
    loss += kWeights[i] * (2 - g[i]);
  }
  return {cost, loss};
}

std::vector<Genome> all_genomes() {
  std::vector<Genome> all;
  for (int code = 0; code < 729; ++code) {
    Genome g(6);
    for (int i = 0, c = code; i < 6; ++i, c /= 3) g[i] = c % 3;
    all.push_back(g);
  }
  return all;
}

TEST(Nsga2Test, FindsTheBruteForceParetoFrontOfASmallIntegerProblem) {
  int evaluations = 0;
  Nsga2Problem problem;
  problem.lower.assign(6, 0);
  problem.upper.assign(6, 2);
  problem.evaluate = [&](Individual& ind) {
    ++evaluations;
    ind.objectives = toy_objectives(ind.genes);
  };
  // A small start, like AMQ's archive front: the population grows to 40 through survival.
  const std::vector<Genome> initial = {{1, 1, 1, 1, 1, 1}, {0, 2, 0, 2, 0, 2}, {2, 1, 0, 0, 1, 2}};
  Nsga2Options options;
  options.population = 40;
  options.offspring = 40;
  options.generations = 30;
  std::mt19937_64 rng(2024);
  const auto result = bitscape::nsga2(problem, initial, options, rng);
  ASSERT_EQ(result.size(), 40u);

  std::set<Genome> distinct;
  for (const auto& ind : result) distinct.insert(ind.genes);
  EXPECT_EQ(distinct.size(), result.size()) << "duplicates survived";
  EXPECT_LE(evaluations, 3 + 30 * 40);

  // The true front by brute force over all 3^6 genomes.
  const auto all = all_genomes();
  std::set<double> true_costs;
  for (const auto& g : all) {
    const auto f = toy_objectives(g);
    bool dominated = false;
    for (const auto& h : all) dominated = dominated || bitscape::dominates(toy_objectives(h), f);
    if (!dominated) true_costs.insert(f[0]);
  }
  ASSERT_EQ(true_costs.size(), 13u);  // every cost 0..12 has its best loss on the front

  std::set<double> found_costs;
  for (const auto& ind : result) {
    EXPECT_EQ(ind.objectives, toy_objectives(ind.genes));
    EXPECT_GE(ind.rank, 0);
    if (ind.rank != 0) continue;
    for (const auto& h : all) {
      ASSERT_FALSE(bitscape::dominates(toy_objectives(h), ind.objectives))
          << "a returned rank-0 genome is dominated by a genome of the brute-force search";
    }
    found_costs.insert(ind.objectives[0]);
  }
  EXPECT_GE(found_costs.size(), 12u) << "covers " << found_costs.size() << " of 13 costs";

  // Ranks and crowding are those of the returned population.
  auto resorted = result;
  bitscape::nondominated_sort(resorted);
  for (size_t i = 0; i < result.size(); ++i) EXPECT_EQ(resorted[i].rank, result[i].rank);

  // Deterministic for a given generator state.
  std::mt19937_64 rng2(2024);
  const auto again = bitscape::nsga2(problem, initial, options, rng2);
  ASSERT_EQ(again.size(), result.size());
  for (size_t i = 0; i < result.size(); ++i) EXPECT_EQ(again[i].genes, result[i].genes);
}

TEST(Nsga2Test, TruncatesAnOverflowingFrontByCrowdingKeepingItsExtremes) {
  // The true front has 13 points and the population only 5: survival truncates the first front
  // by crowding distance, so the boundary points (infinite crowding: cost 0 and cost 12) are
  // kept once found.
  Nsga2Problem problem;
  problem.lower.assign(6, 0);
  problem.upper.assign(6, 2);
  problem.evaluate = [](Individual& ind) { ind.objectives = toy_objectives(ind.genes); };
  Nsga2Options options;
  options.population = 5;
  options.offspring = 20;
  options.generations = 40;
  std::mt19937_64 rng(17);
  const auto result = bitscape::nsga2(problem, {{1, 1, 1, 1, 1, 1}}, options, rng);
  ASSERT_EQ(result.size(), 5u);
  std::vector<double> costs;
  for (const auto& ind : result) {
    EXPECT_EQ(ind.rank, 0);
    costs.push_back(ind.objectives[0]);
  }
  std::sort(costs.begin(), costs.end());
  EXPECT_EQ(costs.front(), 0.0);
  EXPECT_EQ(costs.back(), 12.0);
  int infinite = 0;
  for (const auto& ind : result) infinite += std::isinf(ind.crowding);
  EXPECT_GE(infinite, 2);
}

TEST(Nsga2Test, RanksInfeasibleLastAndKeepsPinnedGenes) {
  // 7 genes, the last pinned at 1; feasible only when cost >= 5 (like AMQ's bits >= 2.25).
  Nsga2Problem problem;
  problem.lower = {0, 0, 0, 0, 0, 0, 1};
  problem.upper = {2, 2, 2, 2, 2, 2, 1};
  problem.evaluate = [](Individual& ind) {
    const Genome six(ind.genes.begin(), ind.genes.begin() + 6);
    ind.objectives = toy_objectives(six);
    ind.feasible = ind.objectives[0] >= 5;
  };
  Nsga2Options options;
  options.population = 30;
  options.offspring = 30;
  options.generations = 15;
  options.mutation_prob = 0.3;
  std::mt19937_64 rng(5);
  const auto result =
      bitscape::nsga2(problem, {{0, 0, 0, 0, 0, 0, 1}, {0, 0, 1, 0, 0, 0, 1}}, options, rng);
  ASSERT_EQ(result.size(), 30u);
  int worst_feasible_rank = -1, best_infeasible_rank = 1 << 30;
  for (const auto& ind : result) {
    EXPECT_EQ(ind.genes[6], 1);
    if (ind.feasible) {
      worst_feasible_rank = std::max(worst_feasible_rank, ind.rank);
    } else {
      best_infeasible_rank = std::min(best_infeasible_rank, ind.rank);
    }
  }
  ASSERT_GE(worst_feasible_rank, 0) << "no feasible individual found";
  EXPECT_LT(worst_feasible_rank, best_infeasible_rank);
  // Rank-0 members are feasible and truly non-dominated among feasible genomes.
  for (const auto& ind : result) {
    if (ind.rank != 0) continue;
    ASSERT_TRUE(ind.feasible);
    for (const auto& h : all_genomes()) {
      const auto f = toy_objectives(h);
      if (f[0] >= 5) {
        ASSERT_FALSE(bitscape::dominates(f, ind.objectives));
      }
    }
  }
}

TEST(Nsga2Test, RejectsBadInput) {
  Nsga2Problem problem;
  problem.lower = {0, 0};
  problem.upper = {2, 2};
  problem.evaluate = [](Individual& ind) { ind.objectives = {0.0, 0.0}; };
  std::mt19937_64 rng(0);
  bitscape::test::expect_error<std::invalid_argument>(
      [&] { bitscape::nsga2(problem, {}, Nsga2Options{}, rng); }, {"initial", "empty"});
  bitscape::test::expect_error<std::invalid_argument>(
      [&] {
        bitscape::nsga2(problem, {{0, 3}}, Nsga2Options{}, rng);
      },
      {"outside its bounds"});
  bitscape::test::expect_error<std::invalid_argument>(
      [&] {
        bitscape::nsga2(problem, {{0, 1, 2}}, Nsga2Options{}, rng);
      },
      {"3 genes"});
}

// ----------------------------------------------------------------------------------------------
// Subset selection.

double gap_std(const std::vector<double>& values, const std::vector<double>& anchors,
               const std::vector<int>& subset) {
  std::vector<double> v = anchors;
  for (int i : subset) v.push_back(values[i]);
  std::sort(v.begin(), v.end());
  std::vector<double> gaps;
  for (size_t i = 1; i < v.size(); ++i) gaps.push_back(v[i] - v[i - 1]);
  const double mean = std::accumulate(gaps.begin(), gaps.end(), 0.0) / double(gaps.size());
  double var = 0.0;
  for (double g : gaps) var += (g - mean) * (g - mean);
  return std::sqrt(var / double(gaps.size()));
}

TEST(Nsga2Test, SpreadSubsetReachesTheBruteForceOptimum) {
  const std::vector<double> values = {1, 2, 3, 4, 5, 6, 7, 8, 9, 5.1};
  const std::vector<double> anchors = {0, 10};
  double best = kInf;
  for (int a = 0; a < 10; ++a)
    for (int b = a + 1; b < 10; ++b)
      for (int c = b + 1; c < 10; ++c)
        for (int d = c + 1; d < 10; ++d)
          best = std::min(best, gap_std(values, anchors, {a, b, c, d}));
  EXPECT_NEAR(best, 0.0, 1e-12);  // {2, 4, 6, 8}: every gap is 2

  std::mt19937_64 rng(42);
  const auto chosen = bitscape::select_spread_subset(values, anchors, 4, 100, 60, rng);
  ASSERT_EQ(chosen.size(), 4u);
  EXPECT_TRUE(std::is_sorted(chosen.begin(), chosen.end()));
  EXPECT_EQ(as_set(chosen).size(), 4u);
  for (int i : chosen) {
    EXPECT_GE(i, 0);
    EXPECT_LT(i, 10);
  }
  EXPECT_NEAR(gap_std(values, anchors, chosen), best, 1e-12);
  EXPECT_EQ(chosen, (std::vector<int>{1, 3, 5, 7}));

  std::mt19937_64 rng2(42);
  EXPECT_EQ(bitscape::select_spread_subset(values, anchors, 4, 100, 60, rng2), chosen);
}

TEST(Nsga2Test, SpreadSubsetMovesByMutationAlone) {
  // With one member, crossover of a subset with itself returns it unchanged: only the swap
  // mutation (and elitist survival) can reach the optimum {2, 4, 6, 8}.
  const std::vector<double> values = {1, 2, 3, 4, 5, 6, 7, 8, 9, 5.1};
  std::mt19937_64 rng(8);
  EXPECT_EQ(bitscape::select_spread_subset(values, {0, 10}, 4, 1, 200, rng),
            (std::vector<int>{1, 3, 5, 7}));
}

TEST(Nsga2Test, SpreadSubsetReturnsEveryCandidateWhenThereAreAtMostK) {
  std::mt19937_64 rng(0);
  EXPECT_EQ(bitscape::select_spread_subset({3.0, 2.5, 4.0}, {2.25}, 3, 100, 60, rng),
            (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(bitscape::select_spread_subset({3.0, 2.5}, {}, 5, 100, 60, rng),
            (std::vector<int>{0, 1}));
  EXPECT_TRUE(bitscape::select_spread_subset({}, {2.25}, 5, 100, 60, rng).empty());
}

// ----------------------------------------------------------------------------------------------
// Cubic RBF with a linear tail.

double determinant(std::vector<std::vector<double>> m) {
  // Leibniz formula over all permutations: independent of any elimination.
  const int n = int(m.size());
  std::vector<int> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  double det = 0.0;
  do {
    int inversions = 0;
    for (int i = 0; i < n; ++i)
      for (int j = i + 1; j < n; ++j) inversions += perm[i] > perm[j];
    double term = inversions % 2 ? -1.0 : 1.0;
    for (int i = 0; i < n; ++i) term *= m[i][perm[i]];
    det += term;
  } while (std::next_permutation(perm.begin(), perm.end()));
  return det;
}

TEST(RbfTest, OneDimensionalCaseMatchesCramersRule) {
  // Raw points 2, 3, 4 in [2, 4] scale to s = 0, 0.5, 1; f = 1, 0, 2; eta = 0.
  // Unknowns z = (lambda_0, lambda_1, lambda_2, c_0, c_1):
  //   [ 0     1/8   1    1  0  ]       [1]
  //   [ 1/8   0     1/8  1  1/2]       [0]
  //   [ 1     1/8   0    1  1  ] z  =  [2]
  //   [ 1     1     1    0  0  ]       [0]
  //   [ 0     1/2   1    0  0  ]       [0]
  const std::vector<std::vector<double>> a = {{0, 0.125, 1, 1, 0},
                                              {0.125, 0, 0.125, 1, 0.5},
                                              {1, 0.125, 0, 1, 1},
                                              {1, 1, 1, 0, 0},
                                              {0, 0.5, 1, 0, 0}};
  const std::vector<double> rhs = {1, 0, 2, 0, 0};
  const double det = determinant(a);
  ASSERT_GT(std::abs(det), 1e-6);
  std::vector<double> z(5);
  for (int k = 0; k < 5; ++k) {
    auto ak = a;
    for (int i = 0; i < 5; ++i) ak[i][k] = rhs[i];
    z[k] = determinant(ak) / det;
  }
  auto by_hand = [&](double raw) {
    const double s = (raw - 2.0) / 2.0;
    const std::array<double, 3> centers = {0.0, 0.5, 1.0};
    double v = z[3] + z[4] * s;
    for (int i = 0; i < 3; ++i) v += z[i] * std::pow(std::abs(s - centers[i]), 3);
    return v;
  };

  CubicRbf rbf;
  EXPECT_FALSE(rbf.fitted());
  rbf.fit({{2.0}, {3.0}, {4.0}}, {1.0, 0.0, 2.0}, {2.0}, {4.0}, 0.0);
  ASSERT_TRUE(rbf.fitted());
  for (double raw : {2.0, 2.5, 3.0, 3.3, 4.0, 5.0, 1.0}) {
    EXPECT_NEAR(rbf.predict({raw}), by_hand(raw), 1e-12) << raw;
  }
  EXPECT_NEAR(rbf.predict({2.0}), 1.0, 1e-12);
  EXPECT_NEAR(rbf.predict({3.0}), 0.0, 1e-12);
  EXPECT_NEAR(rbf.predict({4.0}), 2.0, 1e-12);
}

std::vector<std::vector<double>> random_points(int n, const std::vector<double>& lower,
                                               const std::vector<double>& upper, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<double>> x(n, std::vector<double>(lower.size()));
  for (auto& p : x) {
    for (size_t j = 0; j < p.size(); ++j) {
      p[j] = std::uniform_real_distribution<double>(lower[j], upper[j])(rng);
    }
  }
  return x;
}

double smooth(const std::vector<double>& p) {
  return std::sin(2.0 * p[0]) + p[1] * p[1] - 0.5 * p[0] * p[2] + std::exp(-p[2]);
}

TEST(RbfTest, InterpolatesItsTrainingPoints) {
  const std::vector<double> lower = {0, 0, 0}, upper = {2, 2, 2};
  const auto x = random_points(40, lower, upper, 3);
  std::vector<double> f;
  for (const auto& p : x) f.push_back(smooth(p));

  CubicRbf exact;
  exact.fit(x, f, lower, upper, 1e-12);
  CubicRbf damped;  // pySOT's default eta: the residual is eta * lambda_i, tiny but not zero
  damped.fit(x, f, lower, upper);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(exact.predict(x[i]), f[i], 1e-6 * std::max(1.0, std::abs(f[i]))) << i;
    EXPECT_NEAR(damped.predict(x[i]), f[i], 1e-3) << i;
  }
  // Between the training points it is a reasonable approximation of a smooth function.
  double err = 0.0;
  const auto probes = random_points(50, lower, upper, 4);
  for (const auto& p : probes) err = std::max(err, std::abs(exact.predict(p) - smooth(p)));
  EXPECT_LT(err, 0.5);
}

TEST(RbfTest, ReproducesAnAffineFunctionExactly) {
  const std::vector<double> lower = {-1, 0}, upper = {3, 5};
  const auto affine = [](const std::vector<double>& p) { return 3.0 + 2.0 * p[0] - p[1]; };
  const auto x = random_points(12, lower, upper, 9);
  std::vector<double> f;
  for (const auto& p : x) f.push_back(affine(p));
  CubicRbf rbf;
  rbf.fit(x, f, lower, upper);
  auto probes = random_points(30, lower, upper, 10);
  probes.push_back({-4.0, 9.0});  // outside the box: the tail extrapolates
  for (const auto& p : probes) EXPECT_NEAR(rbf.predict(p), affine(p), 1e-9);
}

TEST(RbfTest, PinnedDimensionsDropOutOfTheModel) {
  // Dimension 1 is pinned (lower == upper): the fit equals one on the other two dimensions, and
  // needs only 2 + 1 points.
  const std::vector<double> lower2 = {0, 0}, upper2 = {2, 2};
  const auto x2 = random_points(15, lower2, upper2, 21);
  std::vector<std::vector<double>> x3;
  std::vector<double> f;
  for (const auto& p : x2) {
    x3.push_back({p[0], 4.0, p[1]});
    f.push_back(smooth({p[0], p[1], 0.3}));
  }
  CubicRbf full, reduced;
  full.fit(x3, f, {0, 4, 0}, {2, 4, 2});
  reduced.fit(x2, f, lower2, upper2);
  for (const auto& p : random_points(20, lower2, upper2, 22)) {
    EXPECT_NEAR(full.predict({p[0], 4.0, p[1]}), reduced.predict(p), 1e-9);
  }
  CubicRbf minimal;
  EXPECT_NO_THROW(minimal.fit({{0, 1, 0}, {1, 1, 0}, {0, 1, 1}}, {1, 2, 3}, {0, 1, 0}, {1, 1, 1}));
}

TEST(RbfTest, RejectsTooFewPointsMismatchesAndSingularSystems) {
  using bitscape::test::expect_error;
  CubicRbf rbf;
  expect_error<std::invalid_argument>(
      [&] {
        rbf.fit({{0, 0}, {1, 1}}, {1, 2}, {0, 0}, {1, 1});
      },
      {"too few", "3"});
  expect_error<std::invalid_argument>(
      [&] {
        rbf.fit({{0, 0}, {1, 1}, {0, 1}}, {1, 2}, {0, 0}, {1, 1});
      },
      {"3 points", "2 values"});
  expect_error<std::invalid_argument>(
      [&] {
        rbf.fit({{0, 0}, {1, 1}, {0}}, {1, 2, 3}, {0, 0}, {1, 1});
      },
      {"point 2"});
  // A duplicated point makes the system singular only without the eta regularisation.
  const std::vector<std::vector<double>> dup = {{0, 0}, {1, 0}, {0, 1}, {1, 0}};
  expect_error<std::invalid_argument>(
      [&] {
        rbf.fit(dup, {1, 2, 3, 2}, {0, 0}, {1, 1}, 0.0);
      },
      {"singular"});
  EXPECT_FALSE(rbf.fitted());
  EXPECT_NO_THROW(rbf.fit(dup, {1, 2, 3, 2}, {0, 0}, {1, 1}, 1e-6));
  EXPECT_NEAR(rbf.predict({1, 0}), 2.0, 1e-6);
  EXPECT_THROW(rbf.predict({1, 0, 0}), std::invalid_argument);
  EXPECT_THROW(CubicRbf().predict({0.0}), std::logic_error);
}

// ----------------------------------------------------------------------------------------------
// Kendall's tau-b.

TEST(KendallTest, HandValues) {
  EXPECT_DOUBLE_EQ(bitscape::kendall_tau({1, 2, 3, 4, 5}, {10, 20, 30, 40, 50}), 1.0);
  EXPECT_DOUBLE_EQ(bitscape::kendall_tau({1, 2, 3, 4, 5}, {5, 4, 3, 2, 1}), -1.0);
  // a = (1, 2, 2, 3), b = (1, 3, 2, 2). Pairs: (0,1) C, (0,2) C, (0,3) C, (1,2) tied in a,
  // (1,3) D, (2,3) tied in b. n0 = 6, n1 = n2 = 1: tau_b = (3 - 1) / sqrt(5 * 5) = 0.4.
  EXPECT_NEAR(bitscape::kendall_tau({1, 2, 2, 3}, {1, 3, 2, 2}), 0.4, 1e-15);
  // A pair tied on both sides counts in n1 and n2: (0,1) tied both, (0,2) C, (1,2) C:
  // (2 - 0) / sqrt((3 - 1) * (3 - 1)) = 1.
  EXPECT_NEAR(bitscape::kendall_tau({1, 1, 2}, {5, 5, 7}), 1.0, 1e-15);
  // No ties: (n_c - n_d) / 6 with a = (1,2,3,4), b = (2,1,4,3): C = 4, D = 2 -> 1/3.
  EXPECT_NEAR(bitscape::kendall_tau({1, 2, 3, 4}, {2, 1, 4, 3}), 1.0 / 3.0, 1e-15);
}

TEST(KendallTest, UndefinedCasesAreNan) {
  EXPECT_TRUE(std::isnan(bitscape::kendall_tau({2, 2, 2}, {1, 2, 3})));
  EXPECT_TRUE(std::isnan(bitscape::kendall_tau({1, 2, 3}, {0, 0, 0})));
  EXPECT_TRUE(std::isnan(bitscape::kendall_tau({1}, {1})));
  EXPECT_TRUE(std::isnan(bitscape::kendall_tau({}, {})));
  EXPECT_THROW(bitscape::kendall_tau({1, 2}, {1, 2, 3}), std::invalid_argument);
}

}  // namespace
