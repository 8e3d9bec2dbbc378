#include "bitscape/widgets/saliency_view.h"

#include <cmath>

#include <gtest/gtest.h>

using bitscape::SaliencySummary;
using bitscape::widgets::SaliencyView;

namespace {

SaliencySummary summary(const char* metric, float scale) {
  SaliencySummary s;
  s.metric = metric;
  s.rows = 8;
  s.cols = 16;
  s.pooled_rows = 4;
  s.pooled_cols = 8;
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 8; ++c) {
      s.pooled_mean.push_back(scale * float(1 + r * 8 + c));
      s.pooled_max.push_back(scale * float(2 * (1 + r * 8 + c)));
    }
  for (int c = 0; c < 16; ++c) s.column_sum.push_back(scale * std::pow(10.0f, float(c % 4)));
  for (int r = 0; r < 8; ++r) s.row_sum.push_back(scale * float(r + 1));
  s.total = 123.0;
  return s;
}

}  // namespace

TEST(SaliencyViewTest, TheMapProfilesAndHistogramShowTheChosenMetric) {
  SaliencyView view;
  view.resize(600, 700);
  view.setModule("model.layers.0.mlp.down_proj", {{"obs", summary("obs", 1.0f)}, {"diag", summary("diag", 3.0f)}});
  EXPECT_EQ(view.metrics(), QStringList({"diag", "obs"}));
  view.setMetric("obs");
  ASSERT_EQ(view.mapRows(), 4);
  ASSERT_EQ(view.mapColumns(), 8);
  EXPECT_DOUBLE_EQ(view.mapCell(0, 0), 1.0);
  EXPECT_DOUBLE_EQ(view.mapCell(3, 7), 32.0);
  view.setMaxPooling(true);
  EXPECT_DOUBLE_EQ(view.mapCell(3, 7), 64.0);
  view.setMetric("diag");
  EXPECT_DOUBLE_EQ(view.mapCell(0, 0), 6.0);
  const auto profile = view.columnProfile();
  ASSERT_EQ(profile.size(), 16u);
  EXPECT_DOUBLE_EQ(profile[3], 3000.0);
  // log10 of the column sums takes 4 distinct values, 4 columns each: 16 columns in the bins.
  double columns = 0;
  for (double c : view.histogram()) columns += c;
  EXPECT_DOUBLE_EQ(columns, 16.0);
  view.setChannelMarks(bitscape::ChannelAxis::kIn, {1, 5, 99}, {}, {});
  EXPECT_EQ(view.protectedMarks(), 2);  // 99 is outside the module
  EXPECT_EQ(view.mapMarkLines(), 2);
}

TEST(SaliencyViewTest, MarksFollowTheAxisOfTheChannelClasses) {
  SaliencyView view;
  view.resize(600, 700);
  view.setModule("model.layers.0.mlp.down_proj", {{"obs", summary("obs", 1.0f)}});
  // Output channels (AutoMixQ's classes): rows 2 and 7 raised, row 3 lowered, one fp16 column.
  view.setChannelMarks(bitscape::ChannelAxis::kOut, {2, 7, 8}, {3}, {4});
  EXPECT_EQ(view.protectedMarks(), 3);  // rows 2 and 7 on the row profile, column 4 on the column one
  EXPECT_EQ(view.loweredMarks(), 1);
  EXPECT_EQ(view.mapMarkLines(), 3);    // two horizontal lines (row 8 is outside), one vertical
  // Switching the metric keeps the marks; clearing them removes every one.
  view.setMaxPooling(true);
  EXPECT_EQ(view.protectedMarks(), 3);
  view.clearChannelMarks();
  EXPECT_EQ(view.protectedMarks(), 0);
  EXPECT_EQ(view.loweredMarks(), 0);
  EXPECT_EQ(view.mapMarkLines(), 0);
}
