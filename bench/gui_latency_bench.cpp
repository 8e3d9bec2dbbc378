// How long the workbench's GUI thread is ever busy at a stretch while it works: the guided demo
// (calibrate, sensitivity, dp search with live points, edit, evaluate, figures) runs on the
// sample model while a 2 ms timer on the GUI thread records the gaps between its ticks. A gap
// is the longest the event loop was blocked (plus the timer period). Issue 7's bar: no GUI-thread
// operation over 50 ms on the sample model.
//
// usage: QT_QPA_PLATFORM=offscreen bitscape_bench_gui_latency --model sample_data/model
//            [--work DIR] [--json FILE]
#include <QApplication>
#include <QElapsedTimer>
#include <QTimer>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

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

  std::vector<double> gaps;  // ms between consecutive ticks
  std::map<int, double> worstPerStep;
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
  });
  bool failed = false;
  QObject::connect(&w, &bitscape::gui::MainWindow::jobEnded, [&](const QString& what, bool ok) {
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
      app.quit();
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
  const char* names[] = {"open", "calibrate", "sensitivity", "search", "edit", "evaluate", "figures"};
  std::printf("ticks %zu, worst gap %.1f ms, 99th percentile %.1f ms\n", gaps.size(), worst, p99);
  std::string json = "{\"ticks\": " + std::to_string(gaps.size()) + ", \"worst_ms\": " + std::to_string(worst) +
                     ", \"p99_ms\": " + std::to_string(p99) + ", \"worst_ms_per_step\": {";
  bool first = true;
  for (const auto& [s, g] : worstPerStep) {
    std::printf("  %-12s worst %.1f ms\n", names[s + 1], g);
    json += std::string(first ? "" : ", ") + "\"" + names[s + 1] + "\": " + std::to_string(g);
    first = false;
  }
  json += "}}\n";
  if (a.count("--json")) std::ofstream(a["--json"]) << json;
  return 0;
}
