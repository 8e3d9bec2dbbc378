// What the workbench's window tests share: waiting for a job of the real main window to end.
#pragma once

#include <QElapsedTimer>
#include <QSignalSpy>
#include <QString>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "main_window.h"

namespace bitscape::test {

// Waits scale with BITSCAPE_TEST_TIMEOUT_SCALE (scripts/sanitize.sh tsan sets it: the demo's
// calibration runs several times slower under ThreadSanitizer).
inline int scaled(int ms) {
  const char* v = std::getenv("BITSCAPE_TEST_TIMEOUT_SCALE");
  const int k = v != nullptr ? std::atoi(v) : 1;
  return ms * std::max(1, k);
}

// Waits for the window's jobEnded(what, ok) and returns ok.
inline bool waitForJob(gui::MainWindow& w, const QString& what, int timeoutMs = 240000) {
  timeoutMs = scaled(timeoutMs);
  QSignalSpy ended(&w, &gui::MainWindow::jobEnded);
  QElapsedTimer timer;
  timer.start();
  while (timer.elapsed() < timeoutMs) {
    if (ended.isEmpty()) ended.wait(200);
    while (!ended.isEmpty()) {
      const QList<QVariant> args = ended.takeFirst();
      if (args.at(0).toString() == what) return args.at(1).toBool();
    }
  }
  ADD_FAILURE() << "no end of job " << what.toStdString();
  return false;
}

}  // namespace bitscape::test
