// The main window, analysis jobs: calibration, sensitivity and multi-source probing (their
// dialogs and their shared runner), and TAMMP's allocation from a probing run.
#include "main_window.h"

#include "main_window_parts.h"

namespace bitscape::gui {

void MainWindow::chooseCalibration() {
  if (modelDir_.isEmpty()) {
    showError(tr("No model open"), tr("Open a model to calibrate (File \u203A Open model)."));
    return;
  }
  QDialog dialog(this);
  dialog.setWindowTitle(tr("New project: calibrate the model"));
  auto* data = new QLineEdit(besideModel(modelDir_, QStringLiteral("train.txt")));
  auto* browse = new QPushButton(tr("Browse\u2026"));
  connect(browse, &QPushButton::clicked, &dialog, [&] {
    const QString f = QFileDialog::getOpenFileName(&dialog, tr("Calibration corpus"));
    if (!f.isEmpty()) data->setText(f);
  });
  auto* samples = new QSpinBox;
  samples->setRange(1, 4096);
  samples->setValue(JobDefaults::read().calibrationWindows);
  auto* seqlen = new QSpinBox;
  seqlen->setRange(0, 32768);
  seqlen->setSpecialValueText(tr("model context (at most 2048)"));
  auto* form = new QFormLayout(&dialog);
  auto* dataRow = new QHBoxLayout;
  dataRow->addWidget(data, 1);
  dataRow->addWidget(browse);
  form->addRow(tr("Corpus:"), dataRow);
  form->addRow(tr("Windows:"), samples);
  form->addRow(tr("Window length:"), seqlen);
  if (!runFormDialog(dialog, form, tr("Calibrate\u2026"))) return;
  const QString out = QFileDialog::getSaveFileName(this, tr("Save the project as"),
                                                   QStringLiteral("model.bsproj.h5"),
                                                   tr("Bitscape projects (*.bsproj.h5)"));
  if (out.isEmpty()) return;
  CalibrationJobOptions r;
  r.model_dir = modelDir_.toStdString();
  r.data = data->text().toStdString();
  r.out = out.toStdString();
  r.samples = samples->value();
  r.seqlen = seqlen->value();
  calibrate(r);
}

void MainWindow::startAnalysis(const QString& job, const QString& status,
                               std::function<std::string(ProgressSink&, const CancelToken&)> work,
                               std::function<void(const std::string&)> done) {
  runningAnalysis_ = job;
  statusBar()->showMessage(status);
  jobsDock_->raise();
  analysisRunner_->start(job, std::move(work), [done = std::move(done)](std::string result) { done(result); });
}

void MainWindow::calibrate(CalibrationJobOptions request) {
  request.device = jobDevice();
  startAnalysis(
      QStringLiteral("calibrate"), tr("Calibrating\u2026"),
      [request](ProgressSink& progress, const CancelToken& cancel) {
        return Engine::calibrate(request, progress, cancel);
      },
      [this, out = QString::fromStdString(request.out)](const std::string& summary) {
        statusBar()->showMessage(tr("Calibrated: %1").arg(QString::fromStdString(summary)), 10000);
        Q_EMIT jobEnded(QStringLiteral("calibrate"), true);
        openProject(out);
      });
}

void MainWindow::chooseSensitivity() {
  if (projectPath_.isEmpty()) {
    showError(tr("No project"), tr("Open or create a calibrated project first."));
    return;
  }
  QDialog dialog(this);
  dialog.setWindowTitle(tr("Sensitivity analysis"));
  auto* bits = new QLineEdit(QStringLiteral("2,3,4,8"));
  auto* windows = new QSpinBox;
  windows->setRange(1, 4096);
  windows->setValue(32);
  auto* traces = new QSpinBox;
  traces->setRange(0, 256);
  traces->setValue(0);
  traces->setSpecialValueText(tr("none"));
  auto* form = new QFormLayout(&dialog);
  form->addRow(tr("Bits:"), bits);
  form->addRow(tr("Evaluation windows:"), windows);
  form->addRow(tr("Hutchinson samples (HAWQ):"), traces);
  if (!runFormDialog(dialog, form, tr("Run"))) return;
  SensitivityJobOptions r;
  r.project = projectPath_.toStdString();
  r.sensitivity.metrics = {SaliencyMetric::kObs, SaliencyMetric::kHessianDiagonal};
  r.sensitivity.bits.clear();
  for (const QString& b : bits->text().split(',', Qt::SkipEmptyParts)) {
    bool ok = false;
    const int v = b.trimmed().toInt(&ok);
    if (!ok) {
      showError(tr("Bad bits"), tr("Bits are a comma-separated list such as 2,3,4,8."));
      return;
    }
    r.sensitivity.bits.push_back(v);
  }
  r.eval_windows = windows->value();
  r.sensitivity.trace_samples = traces->value();
  runSensitivity(r);
}

void MainWindow::runSensitivity(SensitivityJobOptions request) {
  request.device = jobDevice();
  resumableSensitivity_.reset();
  resumeSensitivityAction_->setEnabled(false);
  // A cancel keeps the modules measured so far; Project > Resume continues the run.
  auto onCancel = std::make_shared<QMetaObject::Connection>();
  *onCancel = connect(analysisRunner_, &widgets::JobRunner::cancelled, this, [this, request, onCancel](quint64) {
    QObject::disconnect(*onCancel);
    SensitivityJobOptions again = request;
    again.resume = false;
    resumableSensitivity_ = again;
    resumeSensitivityAction_->setEnabled(true);
    statusBar()->showMessage(tr("Sensitivity run cancelled: its measured modules are kept; Project \u203A Resume "
                                "the cancelled sensitivity run continues it"), 15000);
  });
  connect(analysisRunner_, &widgets::JobRunner::finished, this, [onCancel](quint64) { QObject::disconnect(*onCancel); },
          Qt::SingleShotConnection);
  connect(analysisRunner_, &widgets::JobRunner::failed, this,
          [onCancel](quint64, const QString&) { QObject::disconnect(*onCancel); }, Qt::SingleShotConnection);
  // The heatmap fills as modules finish (the job's "sensitivity_curve" results), not only when
  // the run is stored.
  auto live = std::make_shared<std::vector<SensitivityCurve>>();
  // Redrawn at most every 300 ms (a module can finish every few ms on a small model).
  auto redraw = std::make_shared<QTimer>();
  redraw->setSingleShot(true);
  redraw->setInterval(300);
  connect(redraw.get(), &QTimer::timeout, this, [this, live] {
    sensitivity_->setCurves(tr("running (%1 modules)").arg(live->size()), *live, {});
  });
  sensitivity_->clear();
  sensitivity_->setPlaceholder(tr("Sensitivity analysis running: cells appear as modules finish"));
  auto connection = std::make_shared<QMetaObject::Connection>();
  *connection = connect(analysisRunner_, &widgets::JobRunner::resultReported, this,
                        [live, redraw](quint64, const QString& kind, const QString& json) {
                          if (kind != QLatin1String("sensitivity_curve")) return;
                          try {
                            live->push_back(sensitivity_curve_from_json(json.toStdString()));
                          } catch (const std::exception&) {
                            return;
                          }
                          if (!redraw->isActive()) redraw->start();
                        });
  for (auto signal : {&widgets::JobRunner::finished, &widgets::JobRunner::cancelled})
    connect(analysisRunner_, signal, this, [connection, redraw](quint64) {
      QObject::disconnect(*connection);
      redraw->stop();
    }, Qt::SingleShotConnection);
  connect(analysisRunner_, &widgets::JobRunner::failed, this, [connection, redraw](quint64, const QString&) {
    QObject::disconnect(*connection);
    redraw->stop();
  }, Qt::SingleShotConnection);
  startAnalysis(
      QStringLiteral("sensitivity"), tr("Sensitivity analysis\u2026"),
      [request](ProgressSink& progress, const CancelToken& cancel) {
        return Engine::sensitivity(request, progress, cancel);
      },
      [this, project = QString::fromStdString(request.project)](const std::string& run) {
        statusBar()->showMessage(tr("Sensitivity run %1 stored").arg(QString::fromStdString(run)), 10000);
        Q_EMIT jobEnded(QStringLiteral("sensitivity"), true);
        openProject(project);
      });
}

void MainWindow::chooseProbing() {
  if (projectPath_.isEmpty()) {
    showError(tr("No project"), tr("Open or create a calibrated project first."));
    return;
  }
  QDialog dialog(this);
  dialog.setWindowTitle(tr("Multi-source probing (TAMMP)"));
  auto* sources = new QListWidget;
  sources->setObjectName(QStringLiteral("probingSources"));
  // The corpora beside the model by default (the sample model's train/validation/test).
  for (const char* name : {"train.txt", "validation.txt", "test.txt"}) {
    const QString path = besideModel(modelDir_, QLatin1String(name));
    if (!path.isEmpty()) sources->addItem(path);
  }
  auto* add = new QPushButton(tr("Add\u2026"));
  auto* remove = new QPushButton(tr("Remove"));
  connect(add, &QPushButton::clicked, &dialog, [&dialog, sources] {
    for (const QString& f : QFileDialog::getOpenFileNames(&dialog, tr("Add corpora"), QString(),
                                                          tr("Text or JSONL (*.txt *.jsonl *.json);;All files (*)")))
      sources->addItem(f);
  });
  connect(remove, &QPushButton::clicked, &dialog, [sources] { qDeleteAll(sources->selectedItems()); });
  auto* sourceButtons = new QHBoxLayout;
  sourceButtons->addWidget(add);
  sourceButtons->addWidget(remove);
  sourceButtons->addStretch(1);
  auto* sourceBox = new QVBoxLayout;
  sourceBox->addWidget(sources);
  sourceBox->addLayout(sourceButtons);
  auto* metric = new QComboBox;
  metric->addItem(tr("TAMMP  w\u00b2 / [H\u207b\u00b9]\u1d62\u1d62\u00b2"), "tammp");
  metric->addItem(tr("OBS  w\u00b2 / [H\u207b\u00b9]\u1d62\u1d62"), "obs");
  metric->addItem(tr("activation-weighted  |w| \u00b7 \u2016x\u2016"), "act");
  metric->addItem(tr("diag(H) w\u00b2"), "diag");
  auto* samples = new QSpinBox;
  samples->setRange(1, 4096);
  samples->setValue(32);
  auto* critical = new QDoubleSpinBox;
  critical->setRange(0.1, 50.0);
  critical->setDecimals(1);
  critical->setValue(1.0);
  critical->setSuffix(tr(" % of columns"));
  auto* nonCritical = new QDoubleSpinBox;
  nonCritical->setRange(0.0, 90.0);
  nonCritical->setDecimals(1);
  nonCritical->setValue(50.0);
  nonCritical->setSuffix(tr(" % of columns"));
  auto* form = new QFormLayout(&dialog);
  form->addRow(tr("Sources (one corpus each):"), sourceBox);
  form->addRow(tr("Saliency:"), metric);
  form->addRow(tr("Windows per source:"), samples);
  form->addRow(tr("Critical share per source:"), critical);
  form->addRow(tr("Non-critical share per source:"), nonCritical);
  if (!runFormDialog(dialog, form, tr("Run"))) return;
  ProbingJobOptions r;
  r.project = projectPath_.toStdString();
  for (int i = 0; i < sources->count(); ++i) r.sources.push_back(sources->item(i)->text().toStdString());
  if (!parse_saliency_metric(metric->currentData().toString().toStdString(), &r.probing.metric)) return;
  r.samples = samples->value();
  r.probing.critical_fraction = critical->value() / 100.0;
  r.probing.non_critical_fraction = nonCritical->value() / 100.0;
  runProbing(r);
}

void MainWindow::runProbing(ProbingJobOptions request) {
  request.device = jobDevice();
  startAnalysis(
      QStringLiteral("probing"), tr("Multi-source probing\u2026"),
      [request](ProgressSink& progress, const CancelToken& cancel) {
        return Engine::probe(request, progress, cancel);
      },
      [this](const std::string& run) {
        statusBar()->showMessage(tr("Probing run %1 stored").arg(QString::fromStdString(run)), 10000);
        probing_->setHasRun(true);
        probingDock_->raise();
        readSaliency(saliency_->module());
        Q_EMIT jobEnded(QStringLiteral("probing"), true);
      });
}

void MainWindow::loadTammpAllocation(int strategy) {
  if (projectPath_.isEmpty()) return;
  if (editor_->model()->rowCount() == 0) {
    showError(tr("No model open"), tr("Open the project's model to edit its allocations."));
    return;
  }
  try {
    const Allocation a = Engine::tammpAllocation(projectPath_.toStdString(), strategy);
    editor_->model()->setAllocation(a, tr("Load %1").arg(QString::fromStdString(a.name)));
    editor_->model()->undoStack()->setClean();  // derived from the project
    editorDock_->raise();
    statusBar()->showMessage(tr("%1: %2 bits on average")
                                 .arg(QString::fromStdString(a.name))
                                 .arg(editor_->model()->cost().average_bits, 0, 'f', 3),
                             10000);
  } catch (const std::exception& e) {
    showError(tr("Could not derive TAMMP's allocation"), QString::fromStdString(e.what()));
  }
}

}  // namespace bitscape::gui
