// How long the workbench's GUI thread is ever busy at a stretch while it works: the guided demo
// (calibrate, sensitivity, dp search with live points, edit, evaluate, figures) runs on the
// sample model while a 2 ms timer on the GUI thread records the gaps between its ticks. A gap
// is the longest the event loop was blocked (plus the timer period). Issue 7's bar: no GUI-thread
// operation over 50 ms on the sample model. Then, on the demo's project, each kind of job is
// started from the window and cancelled from the jobs dock after 2 s (as a user clicks its
// cancel button); the time from the click to the job's end is its cancel latency (bar: 1 s).
//
// usage: QT_QPA_PLATFORM=offscreen bitscape_bench_gui_latency --model sample_data/model
//            [--work DIR] [--json FILE]
#include <QApplication>
#include <QElapsedTimer>
#include <QTimer>

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bitscape/widgets/jobs_panel.h"
#include "bitscape/widgets/perplexity_panel.h"
#include "main_window.h"

int main(int argc, char** argv) {
  std::map<std::string, std::string> a = {{"--model", "sample_data/model"}, {"--work", "/tmp/bitscape-gui-latency"}};
  for (int i = 1; i + 1 < argc; i += 2) a[argv[i]] = argv[i + 1];
  QApplication app(argc, argv);
  QApplication::setOrganizationName(QStringLiteral("BitscapeBench"));
  bitscape::gui::MainWindow w;
  w.useDefaultLayout();
  w.show();
  w.setDemoDir(QString::fromStdString(a["--work"]));
  w.setDemoAutoplay(true);  // the edit step makes the example edit itself

  std::vector<double> gaps;  // ms between consecutive ticks
  std::map<int, double> worstPerStep;
  // The GUI thread's own CPU time within each gap: a long gap with little CPU time is the thread
  // waiting for a core (2 cores, busy workers), not an operation of the GUI thread.
  std::vector<double> busy;
  std::map<int, double> worstBusyPerStep;
  auto threadCpuNs = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return qint64(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  };
  qint64 lastCpu = threadCpuNs();
  int step = -1;
  QElapsedTimer clock;
  clock.start();
  qint64 last = clock.nsecsElapsed();
  QTimer probe;
  probe.setTimerType(Qt::PreciseTimer);
  QObject::connect(&probe, &QTimer::timeout, [&] {
    const qint64 now = clock.nsecsElapsed();
    const double gap = double(now - last) / 1e6;
    last = now;
    gaps.push_back(gap);
    worstPerStep[step] = std::max(worstPerStep[step], gap);
    const qint64 cpu = threadCpuNs();
    const double used = double(cpu - lastCpu) / 1e6;
    lastCpu = cpu;
    busy.push_back(used);
    worstBusyPerStep[step] = std::max(worstBusyPerStep[step], used);
  });
  bool failed = false;
  // Cancel latencies, after the demo: each job started, cancelled 2 s later from the jobs dock.
  const QString work = QString::fromStdString(a["--work"]);
  const QString project = work + QStringLiteral("/demo.bsproj.h5");
  const QString sample = QString::fromStdString(a["--model"]) + QStringLiteral("/..");
  struct CancelCase {
    QString job;  // the jobEnded name
    std::function<void()> start;
  };
  std::vector<CancelCase> cases = {
      {"calibrate", [&] {
         bitscape::CalibrationJobOptions r;
         r.model_dir = a["--model"];
         r.data = (sample + "/train.txt").toStdString();
         r.out = (work + "/cancelled.bsproj.h5").toStdString();
         w.calibrate(r);
       }},
      {"sensitivity", [&] {
         bitscape::SensitivityJobOptions r;
         r.project = project.toStdString();
         r.sensitivity.metrics = {bitscape::SaliencyMetric::kObs, bitscape::SaliencyMetric::kHessianDiagonal};
         r.sensitivity.trace_samples = 0;
         w.runSensitivity(r);
       }},
      {"probing", [&] {
         bitscape::ProbingJobOptions r;
         r.project = project.toStdString();
         for (const char* f : {"/train.txt", "/validation.txt", "/test.txt"}) r.sources.push_back((sample + f).toStdString());
         w.runProbing(r);
       }},
      {"search", [&] {
         bitscape::SearchJobOptions r;
         r.project = project.toStdString();
         r.search.method = "amq";
         w.startSearch(r);
       }},
      {"evaluate", [&] {
         bitscape::widgets::PerplexityRequest r = w.perplexityPanel()->request();
         r.dataPath = sample + "/test.txt";
         w.perplexityPanel()->setRequest(r);
         w.evaluate();
       }},
  };
  std::map<std::string, double> cancelMs;
  size_t current = 0;
  QElapsedTimer cancelClock;
  std::function<void()> nextCase = [&] {
    if (current == cases.size()) { app.quit(); return; }
    step = 6;
    cases[current].start();
    QTimer::singleShot(2000, [&, started = current] {
      if (current != started) return;  // it ended already
      bitscape::widgets::JobsPanel* jobs = w.jobsPanel();
      cancelClock.start();
      jobs->cancel(jobs->jobCount() - 1);  // the newest job: the one just started
    });
  };
  QObject::connect(&w, &bitscape::gui::MainWindow::jobEnded, [&](const QString& what, bool ok) {
    if (step == 6 && current < cases.size() && what == cases[current].job) {
      cancelMs[what.toStdString()] = cancelClock.isValid() ? double(cancelClock.nsecsElapsed()) / 1e6 : -1;
      if (ok) cancelMs[what.toStdString()] = -1;  // it finished before the cancel
      cancelClock.invalidate();
      ++current;
      QTimer::singleShot(500, [&] { nextCase(); });
      return;
    }
    if (what == QLatin1String("open")) {
      if (!ok) { failed = true; app.quit(); return; }
      step = 0;
      w.runDemoStep(0);
    }
  });
  QObject::connect(&w, &bitscape::gui::MainWindow::demoStepEnded, [&](int s, bool ok) {
    if (!ok) { failed = true; app.quit(); return; }
    if (s + 1 < 6) {
      step = s + 1;
      QTimer::singleShot(0, [&w, s] { w.runDemoStep(s + 1); });
    } else {
      QTimer::singleShot(500, [&] { nextCase(); });
    }
  });
  probe.start(2);
  w.openModel(QString::fromStdString(a["--model"]));
  app.exec();
  if (failed) {
    std::fprintf(stderr, "the demo failed\n");
    return 1;
  }
  std::vector<double> sorted = gaps;
  std::sort(sorted.begin(), sorted.end());
  const double worst = sorted.empty() ? 0 : sorted.back();
  const double p99 = sorted.empty() ? 0 : sorted[size_t(0.99 * double(sorted.size() - 1))];
  const char* names[] = {"open", "calibrate", "sensitivity", "search", "edit", "evaluate", "figures", "cancelling"};
  const double worstBusy = busy.empty() ? 0 : *std::max_element(busy.begin(), busy.end());
  std::printf("ticks %zu, worst gap %.1f ms, 99th percentile %.1f ms, most GUI-thread CPU time in one gap %.1f ms\n",
              gaps.size(), worst, p99, worstBusy);
  std::string json = "{\"ticks\": " + std::to_string(gaps.size()) + ", \"worst_ms\": " + std::to_string(worst) +
                     ", \"p99_ms\": " + std::to_string(p99) + ", \"worst_busy_ms\": " + std::to_string(worstBusy) +
                     ", \"worst_ms_per_step\": {";
  bool first = true;
  for (const auto& [s, g] : worstPerStep) {
    std::printf("  %-12s worst gap %5.1f ms, GUI-thread CPU in it at most %5.1f ms\n", names[s + 1], g,
                worstBusyPerStep[s]);
    json += std::string(first ? "" : ", ") + "\"" + names[s + 1] + "\": " + std::to_string(g);
    first = false;
  }
  json += "}, \"worst_busy_ms_per_step\": {";
  first = true;
  for (const auto& [s, g] : worstBusyPerStep) {
    json += std::string(first ? "" : ", ") + "\"" + names[s + 1] + "\": " + std::to_string(g);
    first = false;
  }
  json += "}, \"cancel_ms\": {";
  first = true;
  for (const auto& [job, ms] : cancelMs) {
    std::printf("  cancel %-12s %.0f ms\n", job.c_str(), ms);
    json += std::string(first ? "" : ", ") + "\"" + job + "\": " + std::to_string(ms);
    first = false;
  }
  json += "}}\n";
  if (a.count("--json")) std::ofstream(a["--json"]) << json;
  return 0;
}
