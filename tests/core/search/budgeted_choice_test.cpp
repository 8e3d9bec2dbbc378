// The exact budgeted choice against brute force on small instances, and the Pareto archive on
// hand-checked points.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "bitscape/search_result.h"

namespace bitscape {
namespace {

// Brute force: the minimum loss with total size <= budget over all option combinations.
double brute_force(const std::vector<std::vector<int64_t>>& size,
                   const std::vector<std::vector<double>>& loss, int64_t budget) {
  const size_t M = size.size();
  std::vector<size_t> o(M, 0);
  double best = std::numeric_limits<double>::infinity();
  while (true) {
    int64_t s = 0;
    double l = 0;
    for (size_t m = 0; m < M; ++m) {
      s += size[m][o[m]];
      l += loss[m][o[m]];
    }
    if (s <= budget) best = std::min(best, l);
    size_t m = 0;
    while (m < M && ++o[m] == size[m].size()) o[m++] = 0;
    if (m == M) break;
  }
  return best;
}

TEST(BudgetedChoiceTest, OptimalForEveryBudgetOnRandomSmallInstances) {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 30; ++trial) {
    const size_t M = 2 + trial % 4, K = 2 + trial % 3;
    std::vector<std::vector<int64_t>> size(M);
    std::vector<std::vector<double>> loss(M);
    for (size_t m = 0; m < M; ++m) {
      const int64_t numel = 64 * static_cast<int64_t>(1 + rng() % 4);
      for (size_t k = 0; k < K; ++k) {
        const int bits = 2 + static_cast<int>(k);
        size[m].push_back(numel * bits + 16 * static_cast<int64_t>(rng() % 3));
        // Loss decreasing in bits, with noise so that trade-offs differ between modules.
        loss[m].push_back(std::ldexp(1.0, -bits) * (1.0 + static_cast<double>(rng() % 100) / 25.0));
      }
    }
    const BudgetedChoice dp = budgeted_choice(size, loss);
    ASSERT_TRUE(dp.exact);
    ASSERT_FALSE(dp.sizes.empty());
    int64_t lo = 0, hi = 0;
    for (size_t m = 0; m < M; ++m) {
      lo += *std::min_element(size[m].begin(), size[m].end());
      hi += *std::max_element(size[m].begin(), size[m].end());
    }
    for (int64_t budget = lo; budget <= hi; budget += 7) {
      // The DP's answer for this budget: the front point with the largest size <= budget.
      double dp_loss = std::numeric_limits<double>::infinity();
      for (size_t i = 0; i < dp.sizes.size(); ++i)
        if (dp.sizes[i] <= budget) dp_loss = std::min(dp_loss, dp.losses[i]);
      EXPECT_NEAR(dp_loss, brute_force(size, loss, budget), 1e-12) << "trial " << trial << " budget " << budget;
    }
    // Each front point's choice has exactly its size and loss.
    for (size_t i = 0; i < dp.sizes.size(); ++i) {
      int64_t s = 0;
      double l = 0;
      for (size_t m = 0; m < M; ++m) {
        s += size[m][static_cast<size_t>(dp.choices[i][m])];
        l += loss[m][static_cast<size_t>(dp.choices[i][m])];
      }
      EXPECT_EQ(s, dp.sizes[i]);
      EXPECT_NEAR(l, dp.losses[i], 1e-12);
    }
  }
}

TEST(BudgetedChoiceTest, ACoarseTableStaysFeasible) {
  const std::vector<std::vector<int64_t>> size = {{1000, 1777, 3001}, {999, 2500, 4003}, {1200, 1300, 5000}};
  const std::vector<std::vector<double>> loss = {{3, 2, 1}, {5, 1, 0.5}, {2, 1.9, 0.1}};
  const BudgetedChoice dp = budgeted_choice(size, loss, 30);  // 10 states per module
  EXPECT_FALSE(dp.exact);
  for (size_t i = 0; i < dp.sizes.size(); ++i)
    EXPECT_GE(dp.losses[i], brute_force(size, loss, dp.sizes[i]) - 1e-12);
}

TEST(ParetoArchiveTest, FrontOfHandCheckedPoints) {
  ParetoArchive a(ParetoArchive::Objective::kKl);
  auto point = [](double bits, double kl, const char* method) {
    SearchPoint p;
    p.average_bits = bits;
    p.kl = kl;
    p.method = method;
    return p;
  };
  EXPECT_TRUE(a.add(point(3.0, 0.5, "x")));
  EXPECT_TRUE(a.add(point(2.5, 0.9, "x")));
  EXPECT_FALSE(a.add(point(3.1, 0.6, "x")));   // dominated by (3.0, 0.5)
  EXPECT_TRUE(a.add(point(4.0, 0.1, "y")));
  EXPECT_TRUE(a.add(point(3.0, 0.4, "y")));    // dominates (3.0, 0.5)
  EXPECT_FALSE(a.add(point(2.5, 0.9, "z")));   // equal to an existing point: not better
  const std::vector<size_t> f = a.front();
  ASSERT_EQ(f.size(), 3u);
  EXPECT_DOUBLE_EQ(a.points()[f[0]].average_bits, 2.5);
  EXPECT_DOUBLE_EQ(a.points()[f[1]].kl, 0.4);
  EXPECT_DOUBLE_EQ(a.points()[f[2]].average_bits, 4.0);
  EXPECT_EQ(a.best_within(3.05), 4);
  EXPECT_EQ(a.best_within(3.05, "x"), 0);
  EXPECT_EQ(a.best_within(2.0), -1);
}

}  // namespace
}  // namespace bitscape
