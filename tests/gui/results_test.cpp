// Results that are kept, in the real window: every evaluation is labelled with what was
// evaluated (the unquantized model or the editor's allocation), the data, windows and device;
// it is kept in the project and listed in the results table, which renames, pins (the pinned
// allocation joins the Pareto front's perplexity view), hides and exports as CSV; the editor's
// Test PPL measures the allocation on the evaluation data; a cancel keeps the last result shown.
#include <QComboBox>
#include <QSignalSpy>
#include <QTest>

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <string>

#include "app/cli_util.h"
#include "bitscape/evaluation_store.h"
#include "bitscape/project.h"
#include "bitscape/widgets/allocation_editor.h"
#include "bitscape/widgets/allocation_model.h"
#include "bitscape/widgets/comparison_view.h"
#include "bitscape/widgets/pareto_panel.h"
#include "bitscape/widgets/pareto_view.h"
#include "bitscape/widgets/perplexity_panel.h"
#include "bitscape/widgets/results_table.h"
#include "main_window.h"
#include "window_jobs.h"

using namespace bitscape::test;
using bitscape::gui::MainWindow;
using bitscape::widgets::ResultsTable;

TEST(ResultsTest, EvaluationsAreLabelledKeptListedAndComparedInTheWindow) {
  if (!bitscape::project_support_available()) GTEST_SKIP() << "built without HDF5";
  const std::string dir = scratch_dir();
  const std::string p = dir + "/r.bsproj.h5";
  CliRun c = cli("calibrate --quiet --model " + kSample + " --data " + std::string(BITSCAPE_SAMPLE_DIR) +
                 "/train.txt --samples 4 --seqlen 64 --out " + p);
  ASSERT_EQ(c.code, 0) << c.err;

  MainWindow w;
  w.useDefaultLayout();
  w.show();
  w.openModel(QString::fromStdString(kSample));
  ASSERT_TRUE(waitForJob(w, "open"));
  w.openProject(QString::fromStdString(p));
  ASSERT_TRUE(waitForJob(w, "project"));
  ResultsTable* results = w.resultsTable();
  EXPECT_EQ(results->visibleRowCount(), 0);

  bitscape::widgets::PerplexityPanel* panel = w.perplexityPanel();
  bitscape::widgets::PerplexityRequest r = panel->request();
  r.dataPath = QString::fromStdString(kTest);
  r.maxWindows = 4;
  r.seqlen = 128;
  r.subject = "unquantized";
  panel->setRequest(r);
  w.evaluate();
  ASSERT_TRUE(waitForJob(w, "evaluate"));
  // Labelled: what, data, windows, device.
  EXPECT_TRUE(panel->resultText().contains("unquantized model")) << panel->resultText().toStdString();
  EXPECT_TRUE(panel->resultText().contains("test.txt"));
  EXPECT_TRUE(panel->resultText().contains("4 windows of 128 tokens"));
  EXPECT_TRUE(panel->resultText().contains("cpu"));
  ASSERT_EQ(results->records().size(), 1u);
  const bitscape::EvaluationRecord base = results->records()[0];
  EXPECT_EQ(base.subject, "unquantized");
  EXPECT_EQ(base.windows, 4);
  EXPECT_TRUE(std::isfinite(base.ppl));

  // The editor's allocation (3 bits everywhere) on the same test data: Test PPL.
  auto* m = w.allocationEditor()->model();
  std::vector<int> all;
  for (int row = 0; row < m->rowCount(); ++row) all.push_back(row);
  m->setBits(all, 3);
  Q_EMIT w.allocationEditor()->testPerplexityRequested();
  ASSERT_TRUE(waitForJob(w, "evaluate"));
  ASSERT_EQ(results->records().size(), 2u);
  const bitscape::EvaluationRecord q = results->records()[1];
  EXPECT_EQ(q.subject, "allocation");
  EXPECT_NEAR(q.average_bits, m->cost().average_bits, 1e-9);
  EXPECT_GT(q.ppl, base.ppl);  // 3-bit RTN is worse than the unquantized model
  EXPECT_EQ(q.data, kTest);
  EXPECT_TRUE(panel->resultText().contains(QString::number(m->cost().average_bits, 'f', 3)))
      << panel->resultText().toStdString();

  // Kept in the project, as the window shows them.
  {
    const bitscape::ProjectReader reader = bitscape::ProjectReader::open(p);
    ASSERT_EQ(bitscape::evaluation_records(reader).size(), 2u);
    EXPECT_DOUBLE_EQ(bitscape::read_evaluation(reader, q.name).ppl, q.ppl);
  }

  // Pin it: the allocation joins the front (perplexity), as crosses of their own.
  results->setPinned(1, true);
  bitscape::widgets::ParetoView* view = w.paretoPanel()->view();
  ASSERT_GE(view->overlayRun(), 0);
  EXPECT_EQ(view->pointCount(view->overlayRun()), 1);
  EXPECT_DOUBLE_EQ(view->point(view->overlayRun(), 0).ppl, q.ppl);
  EXPECT_TRUE(view->runName(view->overlayRun()).contains("test.txt"));
  // Compared side by side: the 3-bit allocation kept as the reference, then edited; the rows
  // name the modules in full, the reference's column carries its test perplexity.
  m->setReference(m->allocation(), "3 bits");
  m->setBits(m->rowsOfKind("mlp.down_proj"), 4);
  bitscape::widgets::ComparisonView* cmp = w.comparisonView();
  EXPECT_EQ(cmp->rowCount(), 6);
  EXPECT_TRUE(cmp->text(0, bitscape::widgets::ComparisonView::kModuleColumn).startsWith("model.layers."));
  EXPECT_TRUE(cmp->summaryText().contains(QString("perplexity %1 on test.txt").arg(q.ppl, 0, 'f', 3)))
      << cmp->summaryText().toStdString();
  // Rename the other, hide it.
  results->rename(0, "baseline fp32");
  results->setHidden(0, true);
  EXPECT_EQ(results->visibleRowCount(), 1);
  results->setShowHidden(true);
  EXPECT_EQ(results->visibleRowCount(), 2);
  // CSV: a header and both records, hidden included.
  const QString csv = results->csv();
  EXPECT_EQ(csv.count('\n'), 3);
  EXPECT_TRUE(csv.contains("baseline fp32"));

  // A cancelled evaluation keeps the last result shown.
  const QString before = panel->resultText();
  w.evaluate();
  panel->findChild<QWidget*>("cancel")->metaObject()->invokeMethod(panel->findChild<QWidget*>("cancel"), "click");
  EXPECT_FALSE(waitForJob(w, "evaluate"));
  EXPECT_EQ(panel->resultText(), before);

  // The changes are in the project: reopened, the table lists them as they were left.
  QTest::qWait(500);  // the results runner writes them back
  w.openProject(QString::fromStdString(p));
  ASSERT_TRUE(waitForJob(w, "project"));
  ASSERT_EQ(results->records().size(), 2u);
  EXPECT_EQ(results->records()[0].label, "baseline fp32");
  EXPECT_TRUE(results->records()[0].hidden);
  EXPECT_TRUE(results->records()[1].pinned);
  EXPECT_GE(view->overlayRun(), 0);
}
