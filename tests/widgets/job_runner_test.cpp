#include "bitscape/widgets/job_runner.h"

#include <QCoreApplication>
#include <QTest>
#include <QThread>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "bitscape/error.h"
#include "qt_printers.h"

using bitscape::CancelToken;
using bitscape::ProgressSink;
using bitscape::widgets::JobRunner;

namespace {

// Everything a runner says, in arrival order, and whether it arrived on the GUI thread.
struct Recorder {
  QStringList events;
  bool allOnGuiThread = true;
  bool done = false;

  void note(const QString& e) {
    allOnGuiThread = allOnGuiThread && QThread::currentThread() == qApp->thread();
    events << e;
  }

  void attach(JobRunner& runner) {
    QObject::connect(&runner, &JobRunner::stageStarted, [this](quint64 j, QString s, qint64 t) {
      note(QStringLiteral("%1 stage %2 %3").arg(j).arg(s).arg(t));
    });
    QObject::connect(&runner, &JobRunner::progressed,
                     [this](quint64 j, qint64 d, qint64 t, double) {
                       note(QStringLiteral("%1 advance %2/%3").arg(j).arg(d).arg(t));
                     });
    QObject::connect(&runner, &JobRunner::logLine, [this](quint64 j, QString l) {
      note(QStringLiteral("%1 log %2").arg(j).arg(l));
    });
    QObject::connect(&runner, &JobRunner::finished, [this](quint64 j) {
      note(QStringLiteral("%1 finished").arg(j));
      done = true;
    });
    QObject::connect(&runner, &JobRunner::failed, [this](quint64 j, QString m) {
      note(QStringLiteral("%1 failed %2").arg(j).arg(m));
      done = true;
    });
    QObject::connect(&runner, &JobRunner::cancelled, [this](quint64 j) {
      note(QStringLiteral("%1 cancelled").arg(j));
      done = true;
    });
  }
};

bool waitFor(const std::function<bool()>& condition) {
  return QTest::qWaitFor(condition, 10000);
}

}  // namespace

TEST(JobRunnerTest, ProgressArrivesInOrderOnTheGuiThreadThenTheResult) {
  JobRunner runner;
  Recorder rec;
  rec.attach(runner);
  std::atomic<bool> ranOnWorker{false};
  int result = 0;
  const quint64 job = runner.start(
      QStringLiteral("count"),
      [&](ProgressSink& sink, const CancelToken&) {
        ranOnWorker = QThread::currentThread() != qApp->thread();
        sink.stage("counting", 3);
        for (int i = 1; i <= 3; ++i) sink.advance(i);
        sink.log("[3]done");
        return 42;
      },
      [&](int value) {
        rec.note(QStringLiteral("result %1").arg(value));
        result = value;
      });
  EXPECT_EQ(job, 1u);
  EXPECT_TRUE(runner.isRunning());
  ASSERT_TRUE(waitFor([&] { return rec.done; }));
  EXPECT_TRUE(ranOnWorker);
  EXPECT_TRUE(rec.allOnGuiThread);
  EXPECT_EQ(result, 42);
  EXPECT_EQ(rec.events, QStringList({"1 stage counting 3", "1 advance 1/3", "1 advance 2/3",
                                     "1 advance 3/3", "1 log [3]done", "result 42",
                                     "1 finished"}));
  EXPECT_FALSE(runner.isRunning());
}

TEST(JobRunnerTest, ProgressReportsAnEtaOnceStepsAreDone) {
  JobRunner runner;
  std::vector<double> etas;
  QObject::connect(&runner, &JobRunner::progressed,
                   [&](quint64, qint64, qint64, double eta) { etas.push_back(eta); });
  bool done = false;
  runner.start(
      QStringLiteral("eta"),
      [](ProgressSink& sink, const CancelToken&) {
        sink.stage("steps", 4);
        sink.advance(0);
        for (int i = 1; i <= 4; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          sink.advance(i);
        }
        return 0;
      },
      [&](int) { done = true; });
  ASSERT_TRUE(waitFor([&] { return done; }));
  ASSERT_EQ(etas.size(), 5u);
  EXPECT_LT(etas[0], 0.0);  // nothing done: unknown
  EXPECT_GT(etas[1], 0.0);
  EXPECT_EQ(etas[4], 0.0);  // all done
}

TEST(JobRunnerTest, CancelStopsTheJobAndNoResultArrives) {
  JobRunner runner;
  Recorder rec;
  rec.attach(runner);
  std::atomic<int> steps{0};
  bool gotResult = false;
  runner.start(
      QStringLiteral("forever"),
      [&](ProgressSink& sink, const CancelToken& cancel) {
        sink.stage("looping", 0);
        for (;;) {
          cancel.throw_if_cancelled();
          sink.advance(++steps);
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return 0;
      },
      [&](int) { gotResult = true; });
  ASSERT_TRUE(waitFor([&] { return steps.load() >= 3; }));
  runner.cancel();
  ASSERT_TRUE(waitFor([&] { return rec.done; }));
  EXPECT_FALSE(gotResult);
  EXPECT_EQ(rec.events.last(), "1 cancelled");
  EXPECT_FALSE(runner.isRunning());
}

TEST(JobRunnerTest, AJobThatReturnsAfterCancelIsReportedCancelled) {
  JobRunner runner;
  Recorder rec;
  rec.attach(runner);
  std::atomic<bool> started{false};
  bool gotResult = false;
  runner.start(
      QStringLiteral("polite"),
      [&](ProgressSink&, const CancelToken& cancel) {
        started = true;
        while (!cancel.cancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return 7;
      },
      [&](int) { gotResult = true; });
  ASSERT_TRUE(waitFor([&] { return started.load(); }));
  runner.cancel();
  ASSERT_TRUE(waitFor([&] { return rec.done; }));
  EXPECT_FALSE(gotResult);
  EXPECT_EQ(rec.events, QStringList({"1 cancelled"}));
}

TEST(JobRunnerTest, ErrorsAreDeliveredWithTheirMessage) {
  JobRunner runner;
  Recorder rec;
  rec.attach(runner);
  runner.start(
      QStringLiteral("bad input"),
      [](ProgressSink& sink, const CancelToken&) -> int {
        sink.stage("reading", 1);
        throw bitscape::InputError("data/test.txt", "shorter than one window of 256 tokens");
      },
      [&](int) { rec.note(QStringLiteral("result")); });
  ASSERT_TRUE(waitFor([&] { return rec.done; }));
  EXPECT_EQ(rec.events, QStringList({"1 stage reading 1",
                                     "1 failed data/test.txt: shorter than one window of 256 "
                                     "tokens"}));
  EXPECT_FALSE(runner.isRunning());
}

TEST(JobRunnerTest, ANewerJobMakesTheOlderOnesProgressAndResultStale) {
  JobRunner runner;
  Recorder rec;
  rec.attach(runner);
  std::atomic<bool> release{false};
  std::atomic<bool> firstStarted{false};
  QStringList results;
  // The first job ignores cancellation and reports after the second one was started.
  const quint64 first = runner.start(
      QStringLiteral("old"),
      [&](ProgressSink& sink, const CancelToken&) {
        firstStarted = true;
        while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        sink.stage("old stage", 1);
        sink.advance(1);
        return QStringLiteral("old");
      },
      [&](QString r) { results << r; });
  ASSERT_TRUE(waitFor([&] { return firstStarted.load(); }));
  const quint64 second = runner.start(
      QStringLiteral("new"),
      [](ProgressSink& sink, const CancelToken&) {
        sink.stage("new stage", 1);
        sink.advance(1);
        return QStringLiteral("new");
      },
      [&](QString r) { results << r; });
  EXPECT_EQ(first, 1u);
  EXPECT_EQ(second, 2u);
  EXPECT_EQ(runner.currentJob(), second);
  release = true;
  ASSERT_TRUE(waitFor([&] { return rec.done; }));
  QCoreApplication::processEvents();
  EXPECT_EQ(results, QStringList({"new"}));
  EXPECT_EQ(rec.events, QStringList({"2 stage new stage 1", "2 advance 1/1", "2 finished"}));
  EXPECT_FALSE(runner.isRunning());
}

TEST(JobRunnerTest, DestroyingTheRunnerDropsAResultAlreadyOnItsWay) {
  auto runner = std::make_unique<JobRunner>();
  std::atomic<bool> returned{false};
  bool gotResult = false;
  runner->start(
      QStringLiteral("quick"),
      [&](ProgressSink& sink, const CancelToken&) {
        sink.log("working");
        returned = true;
        return 1;
      },
      [&](int) { gotResult = true; });
  // Let the job finish and queue its result without running the event loop.
  while (!returned) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  runner.reset();
  QCoreApplication::processEvents();
  QCoreApplication::processEvents();
  EXPECT_FALSE(gotResult);
}

TEST(JobRunnerTest, DestroyingTheRunnerCancelsARunningJobAndWaitsForIt) {
  auto runner = std::make_unique<JobRunner>();
  std::atomic<bool> started{false};
  std::atomic<bool> sawCancel{false};
  bool gotResult = false;
  runner->start(
      QStringLiteral("long"),
      [&](ProgressSink& sink, const CancelToken& cancel) {
        started = true;
        while (!cancel.cancelled()) {
          sink.advance(1);
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        sawCancel = true;
        return 1;
      },
      [&](int) { gotResult = true; });
  ASSERT_TRUE(waitFor([&] { return started.load(); }));
  runner.reset();
  EXPECT_TRUE(sawCancel);  // the destructor waited for the job to see the cancellation
  QCoreApplication::processEvents();
  EXPECT_FALSE(gotResult);
}

TEST(JobRunnerTest, IntermediateResultsArriveInOrderBeforeTheEnd) {
  JobRunner runner;
  QStringList seen;
  bool finished = false;
  QObject::connect(&runner, &JobRunner::resultReported, &runner,
                   [&](quint64, const QString& kind, const QString& json) { seen << kind + " " + json; });
  QObject::connect(&runner, &JobRunner::finished, &runner, [&](quint64) { finished = true; });
  runner.start(
      QStringLiteral("points"),
      [](ProgressSink& sink, const CancelToken&) {
        for (int i = 0; i < 3; ++i) sink.result("search_point", "{\"index\":" + std::to_string(i) + "}");
        return 0;
      },
      [&](int) { seen << QStringLiteral("result"); });
  ASSERT_TRUE(waitFor([&] { return finished; }));
  EXPECT_EQ(seen, QStringList({"search_point {\"index\":0}", "search_point {\"index\":1}",
                               "search_point {\"index\":2}", "result"}));
}
