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
  ASSERT_TRUE(QTest::qWaitFor([&] { return done && panel.jobCount() == 1 && panel.text(0, 4) == "finished"; }, 10000));
  EXPECT_EQ(panel.text(0, 0), "Evaluate");
  EXPECT_EQ(panel.text(0, 1), "perplexity");
  EXPECT_EQ(panel.text(0, 2), "4/4");
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
  EXPECT_EQ(panel.text(0, 4), "running");
  panel.cancel(0);
  ASSERT_TRUE(QTest::qWaitFor([&] { return panel.text(0, 4) == "cancelled"; }, 5000));
}
