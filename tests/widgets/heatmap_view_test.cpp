#include "bitscape/widgets/heatmap_view.h"

#include <QSignalSpy>
#include <QTest>
#include <cmath>

#include <gtest/gtest.h>

using bitscape::widgets::HeatmapView;

namespace {

const QStringList kColumns = {"q", "k", "v", "o", "gate", "up", "down"};

std::vector<std::vector<double>> grid(int rows) {
  std::vector<std::vector<double>> v(size_t(rows), std::vector<double>(7));
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < 7; ++c) v[size_t(r)][size_t(c)] = 0.001 * (1 + r * 7 + c);
  return v;
}

}  // namespace

TEST(HeatmapViewTest, TheColourMapHoldsEveryCellAndTheScaleSpansTheValues) {
  HeatmapView view;
  view.resize(500, 400);
  const auto v = grid(3);
  view.setData({"0", "1", "2"}, kColumns, v, "KL at 3 bits");
  ASSERT_EQ(view.rows(), 3);
  ASSERT_EQ(view.columns(), 7);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 7; ++c) EXPECT_DOUBLE_EQ(view.drawnValue(r, c), v[size_t(r)][size_t(c)]);
  EXPECT_DOUBLE_EQ(view.colourRange().lower, 0.001);
  EXPECT_DOUBLE_EQ(view.colourRange().upper, 0.021);
  EXPECT_TRUE(view.cellText(2, 6).contains("down"));
  EXPECT_TRUE(view.cellText(2, 6).contains("0.021"));
}

TEST(HeatmapViewTest, LogScaleLeavesNonPositiveCellsEmpty) {
  HeatmapView view;
  auto v = grid(2);
  v[0][0] = 0.0;
  v[1][3] = -1.0;
  view.setData({"0", "1"}, kColumns, v, "ppl increase", /*log=*/true);
  EXPECT_TRUE(std::isnan(view.drawnValue(0, 0)));
  EXPECT_TRUE(std::isnan(view.drawnValue(1, 3)));
  EXPECT_DOUBLE_EQ(view.colourRange().lower, 0.002);
  EXPECT_DOUBLE_EQ(view.value(1, 3), -1.0);  // the value itself is kept for the tooltip
}

TEST(HeatmapViewTest, AClickOnACellSelectsItAndEmitsIt) {
  HeatmapView view;
  view.resize(500, 400);
  view.setData({"0", "1", "2", "3"}, kColumns, grid(4), "bits");
  view.replot();
  const QPoint at(int(view.xAxis->coordToPixel(5)), int(view.yAxis->coordToPixel(2)));
  EXPECT_EQ(view.cellAt(at), std::make_pair(2, 5));
  QSignalSpy clicked(&view, &HeatmapView::cellClicked);
  QTest::mouseClick(&view, Qt::LeftButton, Qt::NoModifier, at);
  ASSERT_EQ(clicked.count(), 1);
  EXPECT_EQ(clicked.at(0).at(0).toInt(), 2);
  EXPECT_EQ(clicked.at(0).at(1).toInt(), 5);
  EXPECT_EQ(view.cellAt(QPointF(-5, -5)), std::make_pair(-1, -1));
}
