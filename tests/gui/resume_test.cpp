// Resume from the window, as the CLI's --resume: a sensitivity run cancelled in the window keeps
// its measured modules, Project > Resume the cancelled sensitivity run continues the same run
// (not a new one) to the end, and the action is only enabled while there is such a run.
#include <QAction>
#include <QSignalSpy>
#include <QTest>

#include <gtest/gtest.h>

#include "app/cli_util.h"
#include "bitscape/project.h"
#include "bitscape/sensitivity_store.h"
#include "bitscape/widgets/jobs_panel.h"
#include "bitscape/widgets/sensitivity_panel.h"
#include "bitscape/widgets/heatmap_view.h"
#include "main_window.h"
#include "window_jobs.h"

using namespace bitscape::test;
using bitscape::gui::MainWindow;

TEST(ResumeTest, ACancelledSensitivityRunIsContinuedFromTheWindow) {
  if (!bitscape::project_support_available()) GTEST_SKIP() << "built without HDF5";
  const std::string p = scratch_dir() + "/s.bsproj.h5";
  CliRun c = cli("calibrate --quiet --model " + kSample + " --data " + std::string(BITSCAPE_SAMPLE_DIR) +
                 "/train.txt --samples 4 --seqlen 64 --out " + p);
  ASSERT_EQ(c.code, 0) << c.err;
  MainWindow w;
  w.show();
  w.openModel(QString::fromStdString(kSample));
  ASSERT_TRUE(waitForJob(w, "open"));
  w.openProject(QString::fromStdString(p));
  ASSERT_TRUE(waitForJob(w, "project"));
  EXPECT_FALSE(w.resumeSensitivityAction()->isEnabled());

  bitscape::SensitivityJobOptions r;
  r.project = p;
  r.sensitivity.bits = {2, 4};
  r.sensitivity.metrics = {bitscape::SaliencyMetric::kObs};
  r.sensitivity.trace_samples = 0;
  r.eval_windows = 4;
  r.seqlen = 64;
  w.runSensitivity(r);
  // Cancelled once the first modules are in (the heatmap fills as they finish).
  ASSERT_TRUE(QTest::qWaitFor([&] { return w.sensitivityPanel()->heatmap()->rows() > 0; }, 240000));
  w.jobsPanel()->cancelLatest();
  EXPECT_FALSE(waitForJob(w, "sensitivity"));
  ASSERT_TRUE(w.resumeSensitivityAction()->isEnabled());
  {
    const bitscape::ProjectReader reader = bitscape::ProjectReader::open(p);
    ASSERT_EQ(bitscape::sensitivity_runs(reader), std::vector<std::string>({"run1"}));
    EXPECT_NE(bitscape::read_sensitivity_run(reader, "run1", {}).status, "complete");
  }

  w.resumeSensitivityAction()->trigger();
  ASSERT_TRUE(waitForJob(w, "sensitivity"));
  EXPECT_FALSE(w.resumeSensitivityAction()->isEnabled());
  const bitscape::ProjectReader reader = bitscape::ProjectReader::open(p);
  EXPECT_EQ(bitscape::sensitivity_runs(reader), std::vector<std::string>({"run1"}));  // the same run
  EXPECT_EQ(bitscape::read_sensitivity_run(reader, "run1", {}).status, "complete");
}
