#include "bitscape/widgets/jobs_panel.h"

#include <QTest>
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "bitscape/widgets/job_runner.h"

using bitscape::CancelToken;
using bitscape::ProgressSink;
using bitscape::widgets::JobRunner;
using bitscape::widgets::JobsPanel;

TEST(JobsPanelTest, AJobShowsItsStageProgressLogAndHowItEnded) {
  JobRunner runner;
  JobsPanel panel;
  panel.watch(&runner, "Evaluate");
  bool done = false;
  runner.start(
      QStringLiteral("evaluate"),
      [](ProgressSink& sink, const CancelToken&) {
        sink.stage("perplexity", 4);
        for (int i = 1; i <= 4; ++i) sink.advance(i);
        sink.log("ppl 37.15");
        return 1;
      },
      [&](int) { done = true; });
  ASSERT_TRUE(QTest::qWaitFor([&] { return done && panel.jobCount() == 1 && panel.text(0, JobsPanel::kStateColumn) == "finished"; }, 10000));
  EXPECT_EQ(panel.text(0, JobsPanel::kJobColumn), "Evaluate");
  EXPECT_EQ(panel.text(0, JobsPanel::kStageColumn), "perplexity");
  EXPECT_EQ(panel.text(0, JobsPanel::kProgressColumn), "4/4");
  EXPECT_EQ(panel.log(0), "ppl 37.15");
}

TEST(JobsPanelTest, TheCancelButtonStopsTheRunningJob) {
  JobRunner runner;
  JobsPanel panel;
  panel.watch(&runner, "Search");
  std::atomic<bool> started{false};
  runner.start(
      QStringLiteral("search"),
      [&](ProgressSink& sink, const CancelToken& cancel) {
        sink.stage("amq", 100);
        started = true;
        for (int i = 0; i < 1000; ++i) {
          cancel.throw_if_cancelled();
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return 0;
      },
      [](int) {});
  ASSERT_TRUE(QTest::qWaitFor([&] { return started.load() && panel.jobCount() == 1; }, 10000));
  EXPECT_EQ(panel.text(0, JobsPanel::kStateColumn), "running");
  panel.cancel(0);
  ASSERT_TRUE(QTest::qWaitFor([&] { return panel.text(0, JobsPanel::kStateColumn) == "cancelled"; }, 5000));
  EXPECT_FALSE(panel.text(0, JobsPanel::kElapsedColumn).isEmpty());
}

TEST(JobsPanelTest, TheStatusStripFollowsTheLatestRunningJobAndCancelsIt) {
  JobsPanel panel;
  JobRunner runner;
  panel.watch(&runner, "Sensitivity");
  EXPECT_TRUE(panel.statusWidget()->isHidden());
  std::atomic<bool> started{false};
  runner.start(
      QStringLiteral("sensitivity"),
      [&](ProgressSink& sink, const CancelToken& cancel) {
        sink.stage("module", 8);
        sink.advance(3);
        started = true;
        for (int i = 0; i < 2000; ++i) {
          cancel.throw_if_cancelled();
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return 0;
      },
      [](int) {});
  ASSERT_TRUE(QTest::qWaitFor([&] { return started.load() && panel.statusText().contains("3/8"); }, 10000));
  EXPECT_FALSE(panel.statusWidget()->isHidden());
  EXPECT_TRUE(panel.statusText().startsWith("Sensitivity: module")) << panel.statusText().toStdString();
  EXPECT_TRUE(panel.statusText().contains("elapsed")) << panel.statusText().toStdString();
  // Elapsed time counts while it runs.
  ASSERT_TRUE(QTest::qWaitFor([&] { return panel.text(0, JobsPanel::kElapsedColumn).startsWith("1."); }, 5000))
      << panel.text(0, JobsPanel::kElapsedColumn).toStdString();
  panel.cancelLatest();
  ASSERT_TRUE(QTest::qWaitFor([&] { return panel.text(0, JobsPanel::kStateColumn) == "cancelled"; }, 5000));
  EXPECT_TRUE(panel.statusWidget()->isHidden());  // no status left behind after a cancel
  EXPECT_TRUE(panel.statusText().isEmpty());
}

TEST(JobsPanelTest, ASeriesOfStagesGetsAnEstimateForAllOfIt) {
  // AMQ's "iteration i/20": 2 stages and a half done since iteration 1 in 50 s, so 20 s a stage;
  // 17.5 stages left: 350 s.
  EXPECT_DOUBLE_EQ(JobsPanel::seriesEta(50.0, 1, 3, 20, 5, 10), 350.0);
  // Resumed at iteration 7: the estimate counts from there.
  EXPECT_DOUBLE_EQ(JobsPanel::seriesEta(10.0, 7, 8, 10, 0, 4), 30.0);
  // Nothing finished yet, or nonsense: unknown.
  EXPECT_LT(JobsPanel::seriesEta(5.0, 1, 1, 20, 0, 10), 0);
  EXPECT_LT(JobsPanel::seriesEta(5.0, 3, 2, 20, 0, 10), 0);
  EXPECT_LT(JobsPanel::seriesEta(0.0, 1, 3, 20, 0, 10), 0);
}
