#include "bitscape/widgets/pareto_view.h"

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
