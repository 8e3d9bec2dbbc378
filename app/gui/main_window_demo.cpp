// The main window, the guided demo: its six steps on the sample model.
#include "main_window.h"

#include "main_window_parts.h"

namespace bitscape::gui {

void MainWindow::finishDemoStep(bool ok, const QString& note) {
  if (demoStep_ < 0) return;
  const int step = demoStep_;
  demoStep_ = -1;
  demoWaitsFor_.clear();
  demo_->setState(step, ok ? widgets::DemoPanel::State::kDone : widgets::DemoPanel::State::kFailed, note);
  Q_EMIT demoStepEnded(step, ok);
}

void MainWindow::runDemoStep(int step) {
  if (demoStep_ >= 0) return;  // one at a time
  if (demoDir_.isEmpty())
    demoDir_ = QDir(QStandardPaths::writableLocation(QStandardPaths::TempLocation))
                   .filePath(QStringLiteral("bitscape-demo"));
  QDir().mkpath(demoDir_);
  demoStep_ = step;
  demo_->setState(step, widgets::DemoPanel::State::kRunning);
  switch (step) {
    case 0: {
      if (modelDir_.isEmpty()) return finishDemoStep(false, tr("Open the sample model first."));
      const QString data = besideModel(modelDir_, QStringLiteral("train.txt"));
      if (data.isEmpty()) return finishDemoStep(false, tr("No train.txt beside the model directory."));
      CalibrationJobOptions r;
      r.model_dir = modelDir_.toStdString();
      r.data = data.toStdString();
      r.out = QDir(demoDir_).filePath(QStringLiteral("demo.bsproj.h5")).toStdString();
      r.samples = 32;
      demoWaitsFor_ = QStringLiteral("calibrate");
      calibrate(r);
      return;
    }
    case 1: {
      if (projectPath_.isEmpty()) return finishDemoStep(false, tr("Calibrate first."));
      SensitivityJobOptions r;
      r.project = projectPath_.toStdString();
      r.sensitivity.bits = {2, 3, 4};
      r.sensitivity.metrics = {SaliencyMetric::kObs};
      r.sensitivity.trace_samples = 0;
      r.eval_windows = 16;
      demoWaitsFor_ = QStringLiteral("sensitivity");
      runSensitivity(r);
      return;
    }
    case 2: {
      SearchJobOptions r;
      r.project = projectPath_.toStdString();
      r.search.method = "dp";
      demoWaitsFor_ = QStringLiteral("search");
      paretoDock_->raise();
      startSearch(r);
      return;
    }
    case 3: {
      // The searched point nearest 3.0 bits (at most 3.0), then every down_proj to 4 bits.
      int pick = -1;
      double best = -1;
      if (liveRun_ >= 0)
        for (int i = 0; i < pareto_->pointCount(liveRun_); ++i) {
          const double b = pareto_->point(liveRun_, i).average_bits;
          if (b <= 3.0 + 1e-9 && b > best) {
            best = b;
            pick = i;
          }
        }
      if (pick < 0) return finishDemoStep(false, tr("Run the search first."));
      loadPoint(liveRun_, pick);
      auto* m = editor_->model();
      m->setBits(m->rowsOfKind(QStringLiteral("mlp.down_proj")), 4);
      editorDock_->raise();
      return finishDemoStep(true, tr("Loaded the %1-bit point; every down_proj now at 4 bits: %2 bits.")
                                      .arg(best, 0, 'f', 3)
                                      .arg(m->cost().average_bits, 0, 'f', 3));
    }
    case 4:
      demoWaitsFor_ = QStringLiteral("measure");
      paretoDock_->raise();
      evaluateAllocation(editor_->model()->allocation());
      return;
    case 5: {
      // One file per turn of the event loop, so that the window stays responsive.
      const QString dir = QDir(demoDir_).filePath(QStringLiteral("figures"));
      QDir().mkpath(dir);
      auto tasks = std::make_shared<std::vector<std::pair<QWidget*, QString>>>();
      for (const auto& [plot, name] : figurePlots())
        for (const char* ext : {"png", "svg", "pdf"})
          tasks->emplace_back(plot, QDir(dir).filePath(name + QStringLiteral(".") + QLatin1String(ext)));
      auto written = std::make_shared<int>(0);
      auto next = std::make_shared<std::function<void(size_t)>>();
      *next = [this, tasks, written, next, dir](size_t i) {
        if (i == tasks->size()) {
          finishDemoStep(*written == int(tasks->size()), tr("%1 files in %2").arg(*written).arg(dir));
          *next = nullptr;  // breaks the self-reference
          return;
        }
        if (widgets::exportWidgetPlot((*tasks)[i].first, (*tasks)[i].second, 192).isEmpty()) ++*written;
        QTimer::singleShot(0, this, [next, i] { if (*next) (*next)(i + 1); });
      };
      QTimer::singleShot(0, this, [next] { (*next)(0); });
      return;
    }
    default:
      return finishDemoStep(false);
  }
}

}  // namespace bitscape::gui
