#include "bitscape/widgets/pareto_view.h"

#include <QApplication>
#include <QSignalSpy>
#include <QTest>
#include <cmath>

#include <gtest/gtest.h>

using bitscape::SearchPoint;
using bitscape::widgets::ParetoView;

namespace {

SearchPoint pt(const char* method, double bits, double kl, double ppl = 30.0, int index = 0) {
  SearchPoint p;
  p.method = method;
  p.average_bits = bits;
  p.kl = kl;
  p.ppl = ppl;
  p.index = index;
  p.total_bytes = int64_t(bits * 1000);
  return p;
}

}  // namespace

TEST(ParetoViewTest, PointsAppearOneByOneAndTheFrontKeepsOnlyTheNonDominated) {
  ParetoView view;
  view.resize(640, 420);
  const int run = view.addRun("amq");
  view.addPoint(run, pt("amq", 3.0, 0.02, 31.0, 0));
  EXPECT_EQ(view.pointCount(run), 1);
  view.addPoint(run, pt("amq", 2.5, 0.05, 33.0, 1));
  view.addPoint(run, pt("amq", 3.0, 0.03, 30.5, 2));  // dominated in KL by point 0
  view.addPoint(run, pt("amq", 3.5, 0.025, 30.2, 3)); // dominated in KL by point 0
  view.addPoint(run, pt("amq", 4.0, 0.01, 30.0, 4));
  EXPECT_EQ(view.pointCount(run), 5);
  const auto f = view.front(run);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_DOUBLE_EQ(f[0].first, 2.5);
  EXPECT_DOUBLE_EQ(f[1].first, 3.0);
  EXPECT_DOUBLE_EQ(f[1].second, 0.02);
  EXPECT_DOUBLE_EQ(f[2].first, 4.0);

  // By perplexity point 3 (30.2 at 3.5 bits) and point 2 join the front instead of point 0.
  view.setMeasure(ParetoView::Measure::kPpl);
  const auto g = view.front(run);
  ASSERT_EQ(g.size(), 4u);
  EXPECT_DOUBLE_EQ(g[1].second, 30.5);
  EXPECT_DOUBLE_EQ(g[2].second, 30.2);
}

TEST(ParetoViewTest, UniformBaselinesAreKeptApartAndOnceEach) {
  ParetoView view;
  const int a = view.addRun("dp");
  const int b = view.addRun("amq");
  view.addPoint(a, pt("uniform", 4.25, 0.004));
  view.addPoint(b, pt("uniform", 4.25, 0.004));  // the same baseline from the second run
  view.addPoint(b, pt("uniform", 3.25, 0.02));
  view.addPoint(a, pt("dp", 3.0, 0.015));
  EXPECT_EQ(view.baselineCount(), 2);
  EXPECT_EQ(view.pointCount(a), 1);
  EXPECT_EQ(view.pointCount(b), 0);
  EXPECT_EQ(view.runCount(), 2);
  EXPECT_EQ(view.runName(1), "amq");
}

TEST(ParetoViewTest, HoverFindsThePointAndAClickEmitsIt) {
  ParetoView view;
  view.resize(640, 420);
  const int run = view.addRun("dp");
  view.addPoint(run, pt("dp", 2.5, 0.05, 33.0, 0));
  view.addPoint(run, pt("dp", 3.5, 0.01, 30.0, 1));
  view.replot();
  const QPointF at(view.xAxis->coordToPixel(3.5), view.yAxis->coordToPixel(0.01));
  const auto [r, i] = view.pointAt(at);
  EXPECT_EQ(r, run);
  EXPECT_EQ(i, 1);
  EXPECT_TRUE(view.summary(r, i).contains("3.500"));
  EXPECT_EQ(view.pointAt(at + QPointF(40, 40)).first, -2);

  QSignalSpy clicked(&view, &ParetoView::pointClicked);
  QTest::mouseClick(&view, Qt::LeftButton, Qt::NoModifier, at.toPoint());
  ASSERT_EQ(clicked.count(), 1);
  EXPECT_EQ(clicked.at(0).at(0).toInt(), run);
  EXPECT_EQ(clicked.at(0).at(1).toInt(), 1);
}

TEST(ParetoViewTest, KlIsDrawnOnALogAxisAndPointsWithoutAValueAreSkipped) {
  ParetoView view;
  const int run = view.addRun("cmpq");
  EXPECT_EQ(view.yAxis->scaleType(), QCPAxis::stLogarithmic);
  view.addPoint(run, pt("cmpq", 3.0, std::nan("")));
  view.addPoint(run, pt("cmpq", 3.25, 0.02));
  EXPECT_EQ(view.front(run).size(), 1u);
  EXPECT_LT(view.yAxis->range().lower, 0.02);
  EXPECT_GT(view.yAxis->range().upper, 0.02);
}

TEST(ParetoViewTest, RunsKeepTheirMethodsColourAndEditsAreDrawnLarge) {
  // The colour is the method's, not the run's order: a dp run is the same blue whether it is
  // the first run of a project or the third.
  ParetoView a, b;
  const int dpFirst = a.addRun("search0001 (dp)", "dp");
  b.addRun("search0001 (amq)", "amq");
  b.addRun("search0002 (cmpq)", "cmpq");
  const int dpThird = b.addRun("search0003 (dp)", "dp");
  EXPECT_EQ(a.runScatter(dpFirst)->scatterStyle().pen().color().rgb(),
            b.runScatter(dpThird)->scatterStyle().pen().color().rgb());
  EXPECT_NE(b.runScatter(0)->scatterStyle().pen().color().rgb(), b.runScatter(2)->scatterStyle().pen().color().rgb());
  // A second dp run in one project: a shade of the same colour, told apart.
  const int dpSecond = a.addRun("search0002 (dp)", "dp");
  EXPECT_NE(a.runScatter(dpFirst)->scatterStyle().pen().color().rgb(),
            a.runScatter(dpSecond)->scatterStyle().pen().color().rgb());
  // Measured edits: large stars, not one more small disc.
  const int edits = a.addRun("edited allocations", "edited");
  EXPECT_EQ(a.runScatter(edits)->scatterStyle().shape(), QCPScatterStyle::ssStar);
  EXPECT_GE(a.runScatter(edits)->scatterStyle().size(), 2 * a.runScatter(dpFirst)->scatterStyle().size());
}

TEST(ParetoViewTest, AClickOnALegendEntryHidesAndShowsItsRun) {
  ParetoView view;
  view.resize(720, 420);
  const int dp = view.addRun("search0001 (dp)", "dp");
  const int amq = view.addRun("search0002 (amq)", "amq");
  view.addPoint(dp, pt("dp", 3.0, 0.02));
  view.addPoint(amq, pt("amq", 3.5, 0.01));
  view.addPoint(dp, pt("uniform", 4.25, 0.004));
  view.replot();
  QCPPlottableLegendItem* item = view.legend->itemWithPlottable(view.runScatter(amq));
  ASSERT_NE(item, nullptr);
  // The legend is outside the axes (inside, it covered AMQ's points).
  EXPECT_FALSE(view.axisRect()->rect().intersects(item->outerRect()));
  const QPoint at = item->outerRect().center();
  QTest::mouseClick(&view, Qt::LeftButton, Qt::NoModifier, at);
  EXPECT_FALSE(view.runVisible(amq));
  EXPECT_TRUE(view.runVisible(dp));
  EXPECT_TRUE(item->font().strikeOut());
  view.replot();
  QTest::mouseClick(&view, Qt::LeftButton, Qt::NoModifier, item->outerRect().center());
  EXPECT_TRUE(view.runVisible(amq));
  EXPECT_FALSE(item->font().strikeOut());
  // The baselines' entry toggles them too.
  QCPPlottableLegendItem* uniform = view.legend->itemWithPlottable(view.baselineGraph());
  ASSERT_NE(uniform, nullptr);
  QTest::mouseClick(&view, Qt::LeftButton, Qt::NoModifier, uniform->outerRect().center());
  EXPECT_FALSE(view.baselinesVisible());
}

TEST(ParetoViewTest, ABoxZoomsInAndResetViewShowsEverythingAgain) {
  ParetoView view;
  view.resize(720, 420);
  const int run = view.addRun("search0001 (dp)", "dp");
  for (int i = 0; i < 8; ++i) view.addPoint(run, pt("dp", 2.5 + 0.25 * i, 0.05 / (1 + i), 30, i));
  view.replot();
  const QCPRange x0 = view.xAxis->range(), y0 = view.yAxis->range();
  // Drag a box over the middle of the axes (no point under the press: a press on a point loads it).
  const QRect axes = view.axisRect()->rect();
  const QPoint from(axes.left() + axes.width() * 3 / 10, axes.top() + axes.height() / 10);
  const QPoint to(axes.left() + axes.width() * 6 / 10, axes.top() + axes.height() * 9 / 10);
  ASSERT_LT(view.pointAt(from).first, -1);
  QTest::mousePress(&view, Qt::LeftButton, Qt::NoModifier, from);
  QMouseEvent move(QEvent::MouseMove, QPointF(to), view.mapToGlobal(QPointF(to)), Qt::NoButton, Qt::LeftButton, Qt::NoModifier);
  QApplication::sendEvent(&view, &move);
  QTest::mouseRelease(&view, Qt::LeftButton, Qt::NoModifier, to);
  EXPECT_LT(view.xAxis->range().size(), x0.size() * 0.5);
  EXPECT_GT(view.xAxis->range().lower, x0.lower);
  view.resetView();
  EXPECT_DOUBLE_EQ(view.xAxis->range().lower, x0.lower);
  EXPECT_DOUBLE_EQ(view.xAxis->range().upper, x0.upper);
  EXPECT_DOUBLE_EQ(view.yAxis->range().upper, y0.upper);
}

TEST(ParetoViewTest, ABaselinesTooltipNamesItsGroupAndQuantizer) {
  ParetoView view;
  const int run = view.addRun("search0001 (dp)", "dp");
  view.setRunDetail(run, "group 128, quantizer rtn, KL on validation.txt (16 windows)");
  SearchPoint u = pt("uniform", 3.25, 0.03);
  u.code_bits = 3;
  view.addPoint(run, u);
  const QString tip = view.summary(-1, 0);
  EXPECT_TRUE(tip.contains("uniform baseline, 3 bits")) << tip.toStdString();
  EXPECT_TRUE(tip.contains("group 128, quantizer rtn")) << tip.toStdString();
  EXPECT_TRUE(tip.contains("search0001 (dp)")) << tip.toStdString();
}

TEST(ParetoViewTest, TheBaselinesAndFrontFollowADarkPalette) {
  // The baselines' diamonds were drawn in the light palette's black on the dark background.
  ParetoView view;
  const int run = view.addRun("search0001 (dp)", "dp");
  view.addPoint(run, pt("uniform", 4.25, 0.004));
  QPalette dark = view.palette();
  dark.setColor(QPalette::Base, QColor(0x1e, 0x1f, 0x22));
  dark.setColor(QPalette::Text, QColor(0xe6, 0xe6, 0xe6));
  view.setPalette(dark);
  EXPECT_EQ(view.baselineGraph()->scatterStyle().pen().color(), QColor(0xe6, 0xe6, 0xe6));
}
