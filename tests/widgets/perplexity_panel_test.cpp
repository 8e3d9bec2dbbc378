#include "bitscape/widgets/perplexity_panel.h"

#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>

#include <gtest/gtest.h>

#include "bitscape/widgets/nll_plot.h"
#include "qt_printers.h"

using bitscape::PerplexityResult;
using bitscape::widgets::PerplexityPanel;

namespace {

template <typename W>
W* child(PerplexityPanel& panel, const char* name) {
  W* w = panel.findChild<W*>(QLatin1String(name));
  EXPECT_NE(w, nullptr) << name;
  return w;
}

}  // namespace

TEST(PerplexityPanelTest, DefaultsAreWindowsOf256AllWindowsOnCpu) {
  PerplexityPanel panel;
  const auto r = panel.request();
  EXPECT_EQ(r.seqlen, 256);
  EXPECT_EQ(r.maxWindows, 0);
  EXPECT_EQ(r.device, "cpu");
  EXPECT_EQ(r.dtype, "float32");
  EXPECT_EQ(child<QSpinBox>(panel, "maxWindows")->text(), "all");
}

TEST(PerplexityPanelTest, DataDefaultsToTheTestFileBesideTheModelDirectory) {
  QTemporaryDir root;
  ASSERT_TRUE(root.isValid());
  QDir(root.path()).mkdir("model");
  const QString modelDir = root.filePath("model");
  EXPECT_EQ(PerplexityPanel::defaultDataPath(modelDir), "");  // no test.txt yet

  QFile test(root.filePath("test.txt"));
  ASSERT_TRUE(test.open(QIODevice::WriteOnly));
  test.write("hello\n");
  test.close();
  EXPECT_EQ(PerplexityPanel::defaultDataPath(modelDir), QDir::cleanPath(root.filePath("test.txt")));

  PerplexityPanel panel;
  panel.setModelDir(modelDir);
  EXPECT_EQ(panel.request().dataPath, QDir::cleanPath(root.filePath("test.txt")));
}

TEST(PerplexityPanelTest, AFileTheUserChoseIsKeptWhenAnotherModelOpens) {
  QTemporaryDir root;
  QDir(root.path()).mkdir("model");
  QFile test(root.filePath("test.txt"));
  ASSERT_TRUE(test.open(QIODevice::WriteOnly));
  test.close();
  PerplexityPanel panel;
  child<QLineEdit>(panel, "dataPath")->setText("/data/wiki.test.txt");
  panel.setModelDir(root.filePath("model"));
  EXPECT_EQ(panel.request().dataPath, "/data/wiki.test.txt");
}

TEST(PerplexityPanelTest, EvaluateIsPossibleOnlyWithAModelAndDataAndNotWhileBusy) {
  PerplexityPanel panel;
  auto* evaluate = child<QPushButton>(panel, "evaluate");
  auto* cancel = child<QPushButton>(panel, "cancel");
  EXPECT_FALSE(evaluate->isEnabled());
  panel.setModelDir("/models/tiny");
  child<QLineEdit>(panel, "dataPath")->setText("/data/test.txt");
  EXPECT_TRUE(evaluate->isEnabled());
  EXPECT_FALSE(cancel->isEnabled());

  QSignalSpy requested(&panel, &PerplexityPanel::evaluateRequested);
  evaluate->click();
  EXPECT_EQ(requested.count(), 1);

  panel.setBusy(true);
  EXPECT_FALSE(evaluate->isEnabled());
  EXPECT_TRUE(cancel->isEnabled());
  EXPECT_FALSE(child<QSpinBox>(panel, "seqlen")->isEnabled());
  QSignalSpy cancelled(&panel, &PerplexityPanel::cancelRequested);
  cancel->click();
  EXPECT_EQ(cancelled.count(), 1);
  panel.setBusy(false);
  EXPECT_TRUE(evaluate->isEnabled());
}

TEST(PerplexityPanelTest, DevicesFromTheDoctorReportFollowCpu) {
  PerplexityPanel panel;
  panel.setDevices({"cuda:0", "cuda:1"});
  auto* device = child<QComboBox>(panel, "device");
  ASSERT_EQ(device->count(), 3);
  EXPECT_EQ(device->itemText(0), "cpu");
  EXPECT_EQ(device->itemText(2), "cuda:1");
  device->setCurrentIndex(1);
  EXPECT_EQ(panel.request().device, "cuda:0");
}

TEST(PerplexityPanelTest, RequestRoundTripsThroughTheInputs) {
  PerplexityPanel panel;
  panel.setDevices({"cuda:0"});
  bitscape::widgets::PerplexityRequest r;
  r.dataPath = "/data/c4.jsonl";
  r.seqlen = 2048;
  r.maxWindows = 40;
  r.device = "cuda:0";
  r.dtype = "bfloat16";
  r.threads = 1;
  panel.setRequest(r);
  const auto back = panel.request();
  EXPECT_EQ(back.dataPath, r.dataPath);
  EXPECT_EQ(back.seqlen, 2048);
  EXPECT_EQ(back.maxWindows, 40);
  EXPECT_EQ(back.device, "cuda:0");
  EXPECT_EQ(back.dtype, "bfloat16");
  EXPECT_EQ(back.threads, 1);
}

TEST(PerplexityPanelTest, ProgressShowsWindowsDoneOfTotalAndTheEta) {
  PerplexityPanel panel;
  panel.setBusy(true);
  panel.setStage("Evaluating", 40);
  panel.setProgress(10, 40, 125.0);
  auto* bar = child<QProgressBar>(panel, "progress");
  EXPECT_EQ(bar->maximum(), 40);
  EXPECT_EQ(bar->value(), 10);
  EXPECT_EQ(bar->text(), QString::fromUtf8("10 / 40 windows — 2 min 05 s left"));
}

TEST(PerplexityPanelTest, ResultShowsPerplexityCountsAndPlotsEveryWindow) {
  PerplexityPanel panel;
  PerplexityResult r;
  r.ppl = 12.3456;
  r.nll = 2.5133;
  r.tokens = 2550;
  r.windows = 10;
  r.seqlen = 256;
  r.seconds = 2.0;
  r.window_nll = {2.4, 2.6, 2.5, 2.45, 2.55, 2.5, 2.52, 2.48, 2.51, 2.62};
  panel.show();
  panel.resize(700, 500);
  panel.showResult(r);
  const QString text = panel.resultText();
  EXPECT_TRUE(text.startsWith("PPL 12.346")) << text.toStdString();
  EXPECT_TRUE(text.contains("2,550 tokens in 10 windows of 256")) << text.toStdString();
  EXPECT_TRUE(text.contains("2.0 s")) << text.toStdString();
  EXPECT_EQ(panel.plot()->pointCount(), 10);
  EXPECT_NEAR(panel.plot()->meanNll(), 2.513, 1e-9);

  // The chart really draws the line: its blue appears in the rendered plot.
  const QImage image = const_cast<bitscape::widgets::NllPlot*>(panel.plot())->toPixmap().toImage();
  int blue = 0;
  for (int y = 0; y < image.height(); ++y)
    for (int x = 0; x < image.width(); ++x) {
      const QColor c = image.pixelColor(x, y);
      if (c.blue() > 150 && c.red() < 90) ++blue;
    }
  EXPECT_GT(blue, 50);

  panel.clearResult();
  EXPECT_EQ(panel.plot()->pointCount(), 0);
}

TEST(PerplexityPanelTest, TheNllChartFillsAsWindowsAreScored) {
  bitscape::widgets::PerplexityPanel panel;
  panel.appendWindowNll(0, {3.0, 3.5}, 4);
  EXPECT_EQ(panel.plot()->pointCount(), 2);
  EXPECT_DOUBLE_EQ(panel.plot()->meanNll(), 3.25);
  panel.appendWindowNll(2, {2.5, 3.0}, 4);
  EXPECT_EQ(panel.plot()->pointCount(), 4);
  EXPECT_DOUBLE_EQ(panel.plot()->meanNll(), 3.0);
  // A new evaluation starts over.
  panel.appendWindowNll(0, {1.0}, 8);
  EXPECT_EQ(panel.plot()->pointCount(), 1);
}
