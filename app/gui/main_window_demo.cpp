// The main window, the guided demo: its six steps on the sample model.
#include "main_window.h"

#include "dock_layout.h"
#include "main_window_parts.h"

namespace bitscape::gui {

void MainWindow::finishDemoStep(bool ok, const QString& note) {
  if (demoStep_ < 0) return;
  QObject::disconnect(demoEdit_);
  const int step = demoStep_;
  demoStep_ = -1;
  demoWaitsFor_.clear();
  demo_->setState(step, ok ? widgets::DemoPanel::State::kDone : widgets::DemoPanel::State::kFailed, note);
  Q_EMIT demoStepEnded(step, ok);
}

QString MainWindow::demoVerdict() const {
  if (editedRun_ < 0 || demoRun_ < 0 || demoRun_ >= pareto_->runCount()) return {};
  const widgets::ParetoPanel* view = pareto_;
  const int n = view->pointCount(editedRun_);
  if (n == 0) return {};
  const SearchPoint& edit = view->point(editedRun_, n - 1);
  if (!std::isfinite(edit.kl)) return {};
  // The search it edited, by KL whatever the view shows: its best point at no more bits, and the
  // fewest bits at which it is as good as the edit.
  std::optional<std::pair<double, double>> atBitsValue, asGoodValue;
  for (int i = 0; i < view->pointCount(demoRun_); ++i) {
    const SearchPoint& p = view->point(demoRun_, i);
    if (!std::isfinite(p.kl)) continue;
    if (p.average_bits <= edit.average_bits + 1e-9 && (!atBitsValue || p.kl < atBitsValue->second))
      atBitsValue = std::make_pair(p.average_bits, p.kl);
    if (p.kl <= edit.kl && (!asGoodValue || p.average_bits < asGoodValue->first))
      asGoodValue = std::make_pair(p.average_bits, p.kl);
  }
  const std::pair<double, double>* atBits = atBitsValue ? &*atBitsValue : nullptr;
  const std::pair<double, double>* asGood = asGoodValue ? &*asGoodValue : nullptr;
  const QString name = view->runName(demoRun_);
  QString text = tr("Your edit: KL %1 at %2 bits. ").arg(edit.kl, 0, 'g', 4).arg(edit.average_bits, 0, 'f', 3);
  if (!atBits) return text + tr("The %1 front has no point at so few bits: nothing to compare with.").arg(name);
  if (edit.kl < atBits->second) {
    text += tr("Yes, it paid: the best point of %1 at no more bits (KL %2 at %3 bits) is %4 % worse.")
                .arg(name)
                .arg(atBits->second, 0, 'g', 4)
                .arg(atBits->first, 0, 'f', 3)
                .arg(100.0 * (atBits->second - edit.kl) / edit.kl, 0, 'f', 1);
  } else {
    text += tr("No, it did not pay: %1 reaches KL %2 at %3 bits, %4 % lower than the edit's at no more bits")
                .arg(name)
                .arg(atBits->second, 0, 'g', 4)
                .arg(atBits->first, 0, 'f', 3)
                .arg(100.0 * (edit.kl - atBits->second) / edit.kl, 0, 'f', 1);
    if (asGood && asGood->first < edit.average_bits)
      text += tr("; it is as good as the edit with %1 bits (%2 fewer)")
                  .arg(asGood->first, 0, 'f', 3)
                  .arg(edit.average_bits - asGood->first, 0, 'f', 3);
    text += QStringLiteral(".");
  }
  return text;
}

void MainWindow::runDemoStep(int step) {
  if (demoStep_ >= 0) return;  // one at a time
  if (demoDir_.isEmpty())
    demoDir_ = QDir(QStandardPaths::writableLocation(QStandardPaths::TempLocation))
                   .filePath(QStringLiteral("bitscape-demo"));
  QDir().mkpath(demoDir_);
  if (demoDock_->isHidden()) {
    // Its panel stays in view, a dock of its own below the left column; showing it makes Qt
    // share the columns out by size hints again, so the layout's shares are restored after.
    showView(QStringLiteral("demo"));
    QTimer::singleShot(0, this, [this] { sizeDocks(*this, defaultDockLayout()); });
  }
  const QString demoProject = QDir(demoDir_).filePath(QStringLiteral("demo.bsproj.h5"));
  if (step == 0 && !demoAutoplay_ && !projectPath_.isEmpty() &&
      QFileInfo(projectPath_).absoluteFilePath() != QFileInfo(demoProject).absoluteFilePath()) {
    // The demo works in a project of its own; the user's stays on disk, but it leaves the window.
    auto* box = new QMessageBox(QMessageBox::Question, tr("Guided demo"),
                                tr("The guided demo works in a project of its own (%1). Your project %2 "
                                   "stays as it is on disk, and File \u203A Open recent brings it back.\n\n"
                                   "Start the demo now?")
                                    .arg(demoProject, QFileInfo(projectPath_).fileName()),
                                QMessageBox::Yes | QMessageBox::No, this);
    box->setObjectName(QStringLiteral("demoReplaceProject"));
    box->setAttribute(Qt::WA_DeleteOnClose);
    connect(box, &QMessageBox::finished, this, [this](int result) {
      if (result == QMessageBox::Yes) {
        startDemoStep(0);
      } else {
        demoStep_ = 0;
        finishDemoStep(false, tr("Not started: your project stays open."));
      }
    });
    box->open();
    return;
  }
  startDemoStep(step);
}

void MainWindow::startDemoStep(int step) {
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
      demoRun_ = -1;
      calibrate(r);
      showView(QStringLiteral("jobs"));
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
      showView(QStringLiteral("sensitivity"));  // the heatmap the step talks about
      return;
    }
    case 2: {
      SearchJobOptions r;
      r.project = projectPath_.toStdString();
      r.search.method = "dp";
      demoWaitsFor_ = QStringLiteral("search");
      showView(QStringLiteral("pareto"));
      startSearch(r);
      demoRun_ = liveRun_;
      return;
    }
    case 3: {
      // The searched point nearest 3.0 bits (at most 3.0), kept as the reference; then the
      // student's own edit (autoplay: every down_proj to 4 bits).
      const int run = demoRun_ >= 0 ? demoRun_ : liveRun_;
      int pick = -1;
      double best = -1;
      if (run >= 0)
        for (int i = 0; i < pareto_->pointCount(run); ++i) {
          const double b = pareto_->point(run, i).average_bits;
          if (b <= 3.0 + 1e-9 && b > best) {
            best = b;
            pick = i;
          }
        }
      if (pick < 0) return finishDemoStep(false, tr("Run the search first."));
      demoRun_ = run;
      loadPoint(run, pick);
      auto* m = editor_->model();
      m->setReference(m->allocation(), tr("searched point"));
      showView(QStringLiteral("sensitivity"));
      showView(QStringLiteral("allocation"));
      const QString loaded = tr("Loaded the %1-bit point of %2 (kept as the reference: the editor marks what you change).")
                                 .arg(best, 0, 'f', 3)
                                 .arg(pareto_->runName(run));
      auto finishEdit = [this, m, loaded] {
        finishDemoStep(true, loaded + QLatin1Char(' ') +
                                 tr("Your edit: %1 bits on average, %2 modules differ from the searched point.")
                                     .arg(m->cost().average_bits, 0, 'f', 3)
                                     .arg(int(m->differingRows().size())));
      };
      if (demoAutoplay_) {
        m->setBits(m->rowsOfKind(QStringLiteral("mlp.down_proj")), 4);
        return finishEdit();
      }
      // Waits for the student: the step ends with the first edit (an undo step of the editor).
      demoWaitsFor_ = QStringLiteral("edit");
      demo_->setState(step, widgets::DemoPanel::State::kRunning,
                      loaded + QLatin1Char(' ') +
                          tr("Now change it yourself: e.g. every down_proj to 4 bits (Bits: 4, \"to every down_proj\", "
                             "Set), or tick Paint on the heatmap and paint the darkest cells' modules."));
      demoEdit_ = connect(m->undoStack(), &QUndoStack::indexChanged, this, [finishEdit](int) { finishEdit(); });
      return;
    }
    case 4:
      // Finished in the jobEnded handler with demoVerdict(): did the edit pay for its bits?
      demoWaitsFor_ = QStringLiteral("measure");
      showView(QStringLiteral("pareto"));
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
