#include "bitscape/widgets/heatmap_view.h"
#include "bitscape/widgets/plot_scales.h"

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

TEST(HeatmapViewTest, LogScaleHatchesNonPositiveCellsAndSaysSo) {
  HeatmapView view;
  auto v = grid(2);
  v[0][0] = 0.0;
  v[1][3] = -1.0;
  view.setData({"0", "1"}, kColumns, v, "ppl increase", /*log=*/true);
  EXPECT_TRUE(std::isnan(view.drawnValue(0, 0)));
  EXPECT_TRUE(std::isnan(view.drawnValue(1, 3)));
  EXPECT_DOUBLE_EQ(view.colourRange().lower, 0.002);
  EXPECT_DOUBLE_EQ(view.value(1, 3), -1.0);  // the value itself is kept for the tooltip
  // Not blank as if there were no value: both cells are hatched, the colour bar says why, and
  // so does the tooltip; a missing value (NaN) is neither.
  const std::vector<std::pair<int, int>> marked = {{0, 0}, {1, 3}};
  EXPECT_EQ(view.markedCells(), marked);
  EXPECT_TRUE(view.colourScale()->axis()->label().contains("hatched: 2 cell(s)"))
      << view.colourScale()->axis()->label().toStdString();
  EXPECT_TRUE(view.cellText(1, 3).contains("hatched"));
  auto w = grid(2);
  w[0][1] = std::nan("");
  view.setData({"0", "1"}, kColumns, w, "ppl increase", /*log=*/true);
  EXPECT_TRUE(view.markedCells().empty());
  EXPECT_EQ(view.colourScale()->axis()->label(), QString("ppl increase"));
}

TEST(HeatmapViewTest, SignedDataGetsADivergingMapCentredOnZero) {
  HeatmapView view;
  view.resize(500, 400);
  auto v = grid(2);
  v[0][0] = -0.004;  // e.g. perplexity falling at 8 bits
  view.setData({"0", "1"}, kColumns, v, "perplexity increase at 8 bits");
  ASSERT_TRUE(view.diverging());
  // Symmetric about zero, so that zero is the centre colour and equal magnitudes look alike.
  EXPECT_DOUBLE_EQ(view.colourRange().lower, -0.014);
  EXPECT_DOUBLE_EQ(view.colourRange().upper, 0.014);
  const QColor negative = view.cellColour(0, 0), positive = view.cellColour(1, 6);
  EXPECT_GT(negative.blue(), negative.red());  // below zero: blue
  EXPECT_GT(positive.red(), positive.blue());  // above zero: red
  // One sign: the sequential map again.
  view.setData({"0", "1"}, kColumns, grid(2), "KL at 3 bits");
  EXPECT_FALSE(view.diverging());
  EXPECT_DOUBLE_EQ(view.colourRange().lower, 0.001);
}

TEST(HeatmapViewTest, AShortLogRangeStillCarriesSeveralTickLabels) {
  // A colour bar over 0.02 .. 0.09 used to show one label (or none): powers of ten only.
  bitscape::widgets::ReadableLogTicker ticker;
  const QVector<double> ticks = bitscape::widgets::ticksOf(ticker, QCPRange(0.02, 0.09));
  int inside = 0;
  for (double t : ticks) inside += t >= 0.02 && t <= 0.09;
  EXPECT_GE(inside, 3);
  EXPECT_LE(inside, 8);
  // Over six decades: powers of ten, not a crowd.
  const QVector<double> wide = bitscape::widgets::ticksOf(ticker, QCPRange(1e-6, 1));
  EXPECT_GE(wide.size(), 4);
  EXPECT_LE(wide.size(), 8);
  // The heatmap's log colour bar uses it: after drawing, its axis has three or more ticks.
  HeatmapView view;
  view.resize(500, 400);
  std::vector<std::vector<double>> v(2, std::vector<double>(7, 0.05));
  v[0][0] = 0.02;
  v[1][6] = 0.09;
  view.setData({"0", "1"}, kColumns, v, "KL", /*log=*/true);
  view.replot();
  int drawn = 0;
  for (double t : view.colourScale()->axis()->tickVector()) drawn += t >= 0.02 && t <= 0.09;
  EXPECT_GE(drawn, 3);
}

TEST(HeatmapViewTest, EveryBitWidthHasItsOwnColour) {
  // 2 and 3 bits used to be two nearly equal reds.
  const std::vector<int>& widths = bitscape::widgets::bitsPaletteWidths();
  ASSERT_GE(widths.size(), 6u);
  for (size_t i = 0; i < widths.size(); ++i)
    for (size_t j = i + 1; j < widths.size(); ++j) {
      const QColor a = bitscape::widgets::bitsColour(widths[i]), b = bitscape::widgets::bitsColour(widths[j]);
      const double d = std::sqrt(std::pow(a.red() - b.red(), 2) + std::pow(a.green() - b.green(), 2) +
                                 std::pow(a.blue() - b.blue(), 2));
      EXPECT_GT(d, 60) << widths[i] << " vs " << widths[j] << " bits";
    }
  // The allocation map draws those colours, with the bit-widths as the colour bar's ticks.
  HeatmapView view;
  view.resize(500, 400);
  view.setBitsPalette(true);
  std::vector<std::vector<double>> v(1, std::vector<double>(7, 4));
  v[0][0] = 2;
  v[0][1] = 3;
  view.setData({"0"}, kColumns, v, "bits");
  EXPECT_EQ(view.cellColour(0, 0), bitscape::widgets::bitsColour(2));
  EXPECT_EQ(view.cellColour(0, 1), bitscape::widgets::bitsColour(3));
  view.replot();
  QVector<double> ticks = view.colourScale()->axis()->tickVector();
  EXPECT_TRUE(ticks.contains(2) && ticks.contains(3) && ticks.contains(4) && ticks.contains(8));
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
