#include "bitscape/widgets/plot_export.h"

#include <QApplication>
#include <QFile>
#include <QImage>
#include <QTemporaryDir>

#include <gtest/gtest.h>

#include "bitscape/widgets/pareto_view.h"

using bitscape::widgets::exportPlot;

namespace {

QByteArray head(const QString& path, int n) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  return f.read(n);
}

}  // namespace

TEST(PlotExportTest, PngAtTheChosenDpiSvgAndPdfAreWritten) {
  QTemporaryDir dir;
  ASSERT_TRUE(dir.isValid());
  bitscape::widgets::ParetoView view;
  view.resize(400, 300);
  bitscape::SearchPoint p;
  p.method = "dp";
  p.average_bits = 3.0;
  p.kl = 0.01;
  view.addPoint(view.addRun("dp"), p);

  const QString png = dir.filePath("front.png");
  EXPECT_EQ(exportPlot(&view, png, 192), "");
  QImage image(png);
  EXPECT_EQ(image.width(), 800);  // 400 logical pixels at 192 DPI
  EXPECT_EQ(image.height(), 600);

  const QString svg = dir.filePath("front.svg");
  EXPECT_EQ(exportPlot(&view, svg), "");
  EXPECT_TRUE(head(svg, 400).contains("<svg"));

  const QString pdf = dir.filePath("front.pdf");
  EXPECT_EQ(exportPlot(&view, pdf), "");
  EXPECT_TRUE(head(pdf, 5).startsWith("%PDF"));

  EXPECT_NE(exportPlot(&view, dir.filePath("front.bmpx")), "");
}

TEST(PlotExportTest, PlotsFollowAPaletteChange) {
  bitscape::widgets::ParetoView view;
  const QPalette before = QApplication::palette();
  QPalette dark = before;
  dark.setColor(QPalette::Base, QColor(0x1e, 0x1f, 0x22));
  dark.setColor(QPalette::Text, QColor(0xe6, 0xe6, 0xe6));
  QApplication::setPalette(dark);
  QApplication::processEvents();
  EXPECT_EQ(view.legend->brush().color(), QColor(0x1e, 0x1f, 0x22));
  EXPECT_EQ(view.xAxis->tickLabelColor(), QColor(0xe6, 0xe6, 0xe6));
  QApplication::setPalette(before);
  QApplication::processEvents();
  EXPECT_EQ(view.legend->brush().color(), before.color(QPalette::Base));
}
