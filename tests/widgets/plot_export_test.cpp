#include "bitscape/widgets/plot_export.h"

#include <QApplication>
#include <QDockWidget>
#include <QMainWindow>
#include <QMenu>
#include <memory>
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

TEST(PlotExportTest, APlotInADockPopsOutMaximisesAndResets) {
  QMainWindow window;
  auto* dock = new QDockWidget("Pareto front", &window);
  auto* view = new bitscape::widgets::ParetoView;
  dock->setWidget(view);
  window.addDockWidget(Qt::LeftDockWidgetArea, dock);
  window.resize(800, 600);
  window.show();
  const int run = view->addRun("search0001 (dp)", "dp");
  bitscape::SearchPoint p;
  p.method = "dp";
  p.average_bits = 3;
  p.kl = 0.02;
  view->addPoint(run, p);
  p.average_bits = 4;
  p.kl = 0.01;
  view->addPoint(run, p);
  const QCPRange home = view->xAxis->range();
  auto never = [](const QString&, const QString&) { return QString(); };
  std::unique_ptr<QMenu> menu(bitscape::widgets::exportMenu(view, never));
  QAction* pop = menu->findChild<QAction*>("pop-out");
  ASSERT_NE(pop, nullptr);
  EXPECT_EQ(pop->text(), "Pop out");
  pop->trigger();
  EXPECT_TRUE(dock->isFloating());
  std::unique_ptr<QMenu> again(bitscape::widgets::exportMenu(view, never));
  EXPECT_EQ(again->findChild<QAction*>("pop-out")->text(), "Dock again");
  again->findChild<QAction*>("pop-out")->trigger();
  EXPECT_FALSE(dock->isFloating());
  menu->findChild<QAction*>("maximise")->trigger();
  EXPECT_TRUE(dock->isFloating());
  EXPECT_TRUE(dock->windowState() & Qt::WindowMaximized);
  // Reset view after a zoom: the home range again.
  view->xAxis->setRange(3.2, 3.4);
  menu->findChild<QAction*>("reset-view")->trigger();
  EXPECT_DOUBLE_EQ(view->xAxis->range().lower, home.lower);
  EXPECT_DOUBLE_EQ(view->xAxis->range().upper, home.upper);
}
