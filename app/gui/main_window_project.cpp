// The main window, project seam: opening and saving projects, searches on them, loading a
// searched point into the editor, measuring edits, allocation files, the unsaved edits kept on
// close, and where jobs run (jobDevice).
#include "main_window.h"

#include "main_window_parts.h"

#include <QJsonDocument>
#include <QJsonObject>

namespace bitscape::gui {

namespace {

// A search run's settings as a tooltip line: the quantizer and group of its allocations and
// where it measured them ("group 128, quantizer rtn, KL on validation.txt (16 windows of 128)").
QString runDetail(const SearchRunRecord& run) {
  const QJsonObject settings = QJsonDocument::fromJson(QByteArray::fromStdString(run.settings_json)).object();
  QStringList parts;
  if (settings.contains(QLatin1String("group"))) {
    const int group = settings.value(QLatin1String("group")).toInt();
    parts << (group > 0 ? MainWindow::tr("group %1").arg(group) : MainWindow::tr("per-channel"));
  }
  if (settings.contains(QLatin1String("quantizer")))
    parts << MainWindow::tr("quantizer %1").arg(settings.value(QLatin1String("quantizer")).toString());
  if (!run.eval_data.empty())
    parts << MainWindow::tr("measured on %1 (%2 windows of %3 tokens)")
                 .arg(QFileInfo(QString::fromStdString(run.eval_data)).fileName())
                 .arg(run.eval_windows)
                 .arg(run.seqlen);
  return parts.join(QStringLiteral(", "));
}

}  // namespace

namespace {

// Where the editor's unsaved allocation is kept when the window closes.
QString autosaveFile() {
  return QDir(QStandardPaths::writableLocation(QStandardPaths::AppDataLocation))
      .filePath(QStringLiteral("unsaved.alloc.json"));
}

}  // namespace

void MainWindow::keepUnsavedAllocation() {
  QSettings settings;
  auto* model = editor_->model();
  if (model->rowCount() == 0 || modelDir_.isEmpty()) return;
  const QString dir = QFileInfo(modelDir_).absoluteFilePath();
  if (model->undoStack()->isClean()) {
    // Nothing unsaved: an earlier autosave of this model is stale.
    if (settings.value(QStringLiteral("autosave/model")).toString() == dir) {
      QFile::remove(autosaveFile());
      settings.remove(QStringLiteral("autosave"));
    }
    return;
  }
  try {
    QDir().mkpath(QFileInfo(autosaveFile()).path());
    Allocation a = model->allocation();
    a.name = "unsaved edits";
    a.model = dir.toStdString();
    a.save(autosaveFile().toStdString(), model->shapes());
    settings.setValue(QStringLiteral("autosave/model"), dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bitscape: could not keep the edited allocation: %s\n", e.what());
  }
}

void MainWindow::restoreUnsavedAllocation(const QString& dir) {
  QSettings settings;
  if (settings.value(QStringLiteral("autosave/model")).toString() != QFileInfo(dir).absoluteFilePath() ||
      !QFileInfo::exists(autosaveFile()))
    return;
  auto* model = editor_->model();
  try {
    model->setAllocation(Allocation::load(autosaveFile().toStdString(), model->shapes()),
                         tr("Restore the unsaved allocation"));
    statusBar()->showMessage(tr("Restored the allocation you were editing when Bitscape last closed "
                                "(Undo brings back the default)."),
                             15000);
  } catch (const std::exception& e) {
    statusBar()->showMessage(tr("Could not restore the unsaved allocation: %1").arg(QString::fromStdString(e.what())), 15000);
  }
}

DeviceOptions MainWindow::jobDevice() const {
  const widgets::PerplexityRequest r = panel_->request();
  DeviceOptions d;
  d.device = r.device.toStdString();
  d.dtype = r.dtype.toStdString();
  d.gpu_memory_gib = JobDefaults::read().gpuMemoryGib;
  return d;
}

MeasureAllocationOptions MainWindow::measureOptions(const Allocation& allocation) const {
  MeasureAllocationOptions o;
  o.project = projectPath_.toStdString();
  o.allocation = allocation;
  o.device = jobDevice();
  return o;
}

void MainWindow::chooseProject() {
  const QString path = QFileDialog::getOpenFileName(
      this, tr("Open project"), QString(), tr("Bitscape projects (*.bsproj.h5 *.h5)"));
  if (!path.isEmpty()) openProject(path);
}

void MainWindow::saveProjectAs(const QString& path) {
  if (projectPath_.isEmpty()) return;
  // The project holds everything computed and measured; the copy becomes the open project.
  statusBar()->showMessage(tr("Saving the project as %1\u2026").arg(path));
  projectJob_ = QStringLiteral("save-project");
  projectRunner_->start(
      QStringLiteral("save-project"),
      [from = projectPath_.toStdString(), to = path.toStdString()](ProgressSink& progress, const CancelToken& cancel) {
        Engine::copyProject(from, to, progress, cancel);
        return true;
      },
      [this, path](bool) {
        Q_EMIT jobEnded(QStringLiteral("save-project"), true);
        openProject(path);
      });
}

void MainWindow::openProject(const QString& path) {
  statusBar()->showMessage(tr("Reading %1\u2026").arg(path));
  projectJob_ = QStringLiteral("project");
  projectRunner_->start(
      QStringLiteral("project"),
      [p = path.toStdString()](ProgressSink& progress, const CancelToken& cancel) {
        return Engine::readProject(p, progress, cancel);
      },
      [this, path](ProjectContents contents) {
        pareto_->clear();
        paretoRunNames_.clear();
        editedRun_ = -1;
        editNames_.clear();
        for (const SearchRunRecord& run : contents.search_runs) {
          QString label = QString::fromStdString(run.name + " (" + run.method);
          if (run.status != "complete" && !run.status.empty()) label += QStringLiteral(", ") + QString::fromStdString(run.status);
          const int id = pareto_->addRun(label + QStringLiteral(")"), QString::fromStdString(run.method));
          pareto_->setRunDetail(id, runDetail(run));
          paretoRunNames_.resize(size_t(id) + 1);
          paretoRunNames_[size_t(id)] = QString::fromStdString(run.name);
          for (const SearchPoint& p : run.points) pareto_->addPoint(id, p);
        }
        // The edited allocations measured earlier (stored in the project as they were measured).
        for (const EditRecord& e : contents.edits) addEditedPoint(e.point, QString::fromStdString(e.name));
        measures_.clear();  // measured on another project's windows
        results_->setRecords(contents.evaluations);
        updateOverlay();
        sensitivity_->clear();
        saliency_->clear();
        // The sensitivity run shown: the one rule of run_choice.h.
        const ProjectContents::Sensitivity* shown = contents.shown_sensitivity();
        if (shown) {
          sensitivity_->setCurves(QString::fromStdString(shown->info.name), shown->curves,
                                  shown->saliency_totals);
          // The saliency view starts on the module the run found most sensitive (largest KL at
          // the lowest bit option).
          const SensitivityCurve* worst = nullptr;
          for (const SensitivityCurve& c : shown->curves)
            if (!c.kl.empty() && std::isfinite(c.kl.front()) && (!worst || c.kl.front() > worst->kl.front()))
              worst = &c;
          projectPath_ = path;
          if (worst) showSaliency(QString::fromStdString(worst->module));
        }
        statusBar()->showMessage(
            tr("%1: %2 search runs, %3 sensitivity runs")
                .arg(QFileInfo(path).fileName())
                .arg(contents.search_runs.size())
                .arg(contents.sensitivity_runs.size()),
            8000);
        projectPath_ = path;
        const bool hasSensitivity = shown != nullptr;
        updateStudy([&](widgets::StudyState& st) {
          st.project = true;
          st.sensitivity = hasSensitivity;
          st.search = !contents.search_runs.empty();
          st.evaluated = !contents.edits.empty();
        });
        if (!contents.search_runs.empty() || hasSensitivity) paretoDock_->raise();  // past the start page
        probing_->setHasRun(!contents.probing_runs.empty());
        rememberRecent(QFileInfo(path).absoluteFilePath());
        Q_EMIT projectOpened(path);
        Q_EMIT jobEnded(QStringLiteral("project"), true);
      });
}

void MainWindow::chooseSearch() {
  if (projectPath_.isEmpty()) return;
  QDialog dialog(this);
  dialog.setWindowTitle(tr("Run search"));
  auto* method = new QComboBox;
  for (const SearchMethodInfo& m : search_methods())
    method->addItem(QString::fromStdString(m.title), QString::fromStdString(m.name));
  const JobDefaults defaults = JobDefaults::read();
  auto* lo = budgetBox(defaults.budgetLo);
  auto* hi = budgetBox(defaults.budgetHi);
  method->setCurrentIndex(std::max(0, method->findData(defaults.method)));
  auto* seed = new QSpinBox;
  seed->setRange(0, 1 << 30);
  auto* windows = new QSpinBox;
  windows->setRange(1, 4096);
  windows->setValue(defaults.searchWindows);
  auto* form = new QFormLayout(&dialog);
  form->addRow(tr("Method:"), method);
  form->addRow(tr("Budgets from:"), lo);
  form->addRow(tr("to:"), hi);
  form->addRow(tr("Seed:"), seed);
  form->addRow(tr("Evaluation windows:"), windows);
  if (!runFormDialog(dialog, form, tr("Search"))) return;
  SearchJobOptions r;
  r.project = projectPath_.toStdString();
  r.search.method = method->currentData().toString().toStdString();
  r.search.budget_lo = lo->value();
  r.search.budget_hi = std::max(lo->value(), hi->value());
  r.search.seed = uint64_t(seed->value());
  r.eval_windows = windows->value();
  startSearch(r);
}

void MainWindow::startSearch(SearchJobOptions request) {
  if (searchRunner_->isRunning()) {
    showError(tr("A search is running"), tr("Cancel it first, or wait for it to finish."));
    return;
  }
  if (request.project.empty()) {
    showError(tr("No project"), tr("Open a project (File \u203A Open project) first."));
    return;
  }
  request.device = jobDevice();
  resumableSearch_.reset();
  resumeSearchAction_->setEnabled(false);
  liveRun_ = pareto_->addRun(tr("new %1 search").arg(QString::fromStdString(request.search.method)),
                             QString::fromStdString(request.search.method));
  paretoRunNames_.resize(size_t(liveRun_) + 1);
  searchProgress_->setRange(0, 0);
  searchProgress_->setVisible(true);
  paretoDock_->raise();
  auto finish = [this] {
    searchProgress_->setVisible(false);
    QTimer::singleShot(0, this, [this] { updateStudy([](widgets::StudyState&) {}); });  // once the runner has stopped
  };
  // One connection per search, removed when it ends.
  auto connections = std::make_shared<std::vector<QMetaObject::Connection>>();
  auto disconnectAll = [connections] {
    for (const auto& c : *connections) QObject::disconnect(c);
    connections->clear();
  };
  connections->push_back(connect(searchRunner_, &widgets::JobRunner::resultReported, this,
                                 [this](quint64, const QString& kind, const QString& json) {
                                   if (kind != QLatin1String("search_point") || liveRun_ < 0) return;
                                   try {
                                     pareto_->addPoint(liveRun_, search_point_from_json(json.toStdString()));
                                   } catch (const std::exception&) {
                                   }
                                 }));
  connections->push_back(connect(searchRunner_, &widgets::JobRunner::stageStarted, this,
                                 [this](quint64, const QString& stage, qint64 total) {
                                   searchProgress_->setRange(0, int(std::max<qint64>(total, 0)));
                                   searchProgress_->setFormat(stage + QStringLiteral(" %v/%m"));
                                   statusBar()->showMessage(tr("Search: %1").arg(stage));
                                 }));
  connections->push_back(connect(searchRunner_, &widgets::JobRunner::progressed, this,
                                 [this](quint64, qint64 done, qint64 total, double) {
                                   if (total > 0) searchProgress_->setRange(0, int(total));
                                   searchProgress_->setValue(int(done));
                                 }));
  connections->push_back(connect(searchRunner_, &widgets::JobRunner::failed, this,
                                 [this, finish, disconnectAll](quint64, const QString& message) {
                                   finish();
                                   disconnectAll();
                                   Q_EMIT jobEnded(QStringLiteral("search"), false);
                                   showError(tr("The search failed"), message);
                                 }));
  connections->push_back(connect(searchRunner_, &widgets::JobRunner::cancelled, this,
                                 [this, finish, disconnectAll, request](quint64) {
                                   finish();
                                   disconnectAll();
                                   statusBar()->showMessage(tr("Search cancelled; its completed iterations are kept in the project "
                                                               "(Search \u203A Resume the cancelled search continues it)"), 15000);
                                   Q_EMIT jobEnded(QStringLiteral("search"), false);
                                   // The run as stored (its name, "cancelled", its points loadable),
                                   // not "new ... search".
                                   liveRun_ = -1;
                                   resumableSearch_ = request;
                                   resumableSearch_->resume = false;
                                   resumeSearchAction_->setEnabled(true);
                                   if (!projectPath_.isEmpty()) openProject(projectPath_);
                                 }));
  searchRunner_->start(
      QStringLiteral("search"),
      [request](ProgressSink& progress, const CancelToken& cancel) {
        return Engine::search(request, progress, cancel);
      },
      [this, finish, disconnectAll](SearchRunRecord record) {
        finish();
        disconnectAll();
        if (liveRun_ >= 0 && size_t(liveRun_) < paretoRunNames_.size()) {
          paretoRunNames_[size_t(liveRun_)] = QString::fromStdString(record.name);
          pareto_->renameRun(liveRun_, QString::fromStdString(record.name + " (" + record.method + ")"));
          pareto_->setRunDetail(liveRun_, runDetail(record));
        }
        updateStudy([](widgets::StudyState& st) { st.search = true; });
        statusBar()->showMessage(tr("Search %1 (%2): %3 points in %4 s")
                                     .arg(QString::fromStdString(record.name),
                                          QString::fromStdString(record.method))
                                     .arg(record.points.size())
                                     .arg(record.seconds, 0, 'f', 1),
                                 15000);
        Q_EMIT jobEnded(QStringLiteral("search"), true);
      });
  updateStudy([](widgets::StudyState&) {});  // Search disabled while it runs, saying why
}

void MainWindow::loadPoint(int run, int index) {
  const QString summary = pareto_->summary(run, index);
  statusBar()->showMessage(QString(summary).replace('\n', QStringLiteral("; ")), 15000);
  const bool edited = run >= 0 && run == editedRun_ && index >= 0 && size_t(index) < editNames_.size();
  if (!edited && (run < 0 || size_t(run) >= paretoRunNames_.size() || paretoRunNames_[size_t(run)].isEmpty() ||
                  projectPath_.isEmpty()))
    return;  // a baseline or a search still running: nothing stored to load
  if (editor_->model()->rowCount() == 0) {
    showError(tr("No model open"), tr("Open the project's model to edit its allocations."));
    return;
  }
  try {
    const Allocation a =
        edited ? Engine::allocationOfEdit(projectPath_.toStdString(), editNames_[size_t(index)].toStdString())
               : Engine::allocationOfPoint(projectPath_.toStdString(), paretoRunNames_[size_t(run)].toStdString(),
                                           pareto_->point(run, index).index);
    {
      const SearchPoint& p = pareto_->point(run, index);
      rememberMeasure(a, tr("KL %1, perplexity %2 on the search's windows (%3)")
                             .arg(p.kl, 0, 'g', 4)
                             .arg(p.ppl, 0, 'f', 3)
                             .arg(pareto_->runName(run)));
    }
    editor_->model()->setAllocation(a, tr("Load %1").arg(QString::fromStdString(a.name)));
    editor_->model()->undoStack()->setClean();  // stored in the project
    editorDock_->raise();
  } catch (const std::exception& e) {
    statusBar()->showMessage(QString::fromStdString(e.what()), 10000);
  }
}

void MainWindow::addEditedPoint(const SearchPoint& point, const QString& name) {
  if (editedRun_ < 0) {
    editedRun_ = pareto_->addRun(tr("edited allocations"), QStringLiteral("edited"));
    paretoRunNames_.resize(size_t(editedRun_) + 1);
  }
  pareto_->addPoint(editedRun_, point);
  editNames_.push_back(name);
  updateStudy([](widgets::StudyState& st) { st.evaluated = true; });
}

void MainWindow::evaluateAllocation(const Allocation& allocation) {
  if (projectPath_.isEmpty()) {
    showError(tr("No project"), tr("Open a calibrated project (File \u203A Open project) to measure an allocation against the unquantized model."));
    return;
  }
  statusBar()->showMessage(tr("Measuring the edited allocation\u2026"));
  // Measured allocations are stored in the project: the editor is clean once it is, unless it
  // changed meanwhile.
  const int undoIndex = editor_->model()->undoStack()->index();
  const MeasureAllocationOptions options = measureOptions(allocation);
  measureRunner_->start(
      QStringLiteral("measure"),
      [options](ProgressSink& progress, const CancelToken& cancel) {
        return Engine::measureAllocation(options, progress, cancel);
      },
      [this, undoIndex, options](MeasuredEdit m) {
        const SearchPoint& p = m.point;
        rememberMeasure(options.allocation, tr("KL %1, perplexity %2 on %3 windows (%4)")
                                                .arg(p.kl, 0, 'g', 4)
                                                .arg(p.ppl, 0, 'f', 3)
                                                .arg(options.eval_windows)
                                                .arg(QString::fromStdString(m.name)));
        comparison_->refresh();
        addEditedPoint(p, QString::fromStdString(m.name));
        if (editor_->model()->undoStack()->index() == undoIndex) editor_->model()->undoStack()->setClean();
        // Says what it measured: the search's windows, not the test data (Test PPL does that).
        statusBar()->showMessage(tr("Edited allocation: %1 bits, KL %2, perplexity %3 on %4 windows of %5 "
                                    "(%6 s); Test PPL measures it on the evaluation data")
                                     .arg(p.average_bits, 0, 'f', 3)
                                     .arg(p.kl, 0, 'g', 4)
                                     .arg(p.ppl, 0, 'f', 3)
                                     .arg(options.eval_windows)
                                     .arg(options.eval_data.empty() ? tr("the calibration corpus")
                                                                    : QFileInfo(QString::fromStdString(options.eval_data)).fileName())
                                     .arg(p.seconds, 0, 'f', 1),
                                 20000);
        Q_EMIT jobEnded(QStringLiteral("measure"), true);
      });
}

bool MainWindow::loadAllocationFile(const QString& path) {
  if (editor_->model()->rowCount() == 0) {
    showError(tr("No model open"), tr("Open a model before loading an allocation for it."));
    return false;
  }
  try {
    const Allocation a = Allocation::load(path.toStdString(), editor_->model()->shapes());
    editor_->model()->setAllocation(a, tr("Load %1").arg(QFileInfo(path).fileName()));
    editor_->model()->undoStack()->setClean();  // as in the file
    editorDock_->raise();
    statusBar()->showMessage(tr("Loaded %1").arg(path), 8000);
    return true;
  } catch (const std::exception& e) {
    showError(tr("Could not load the allocation"), QString::fromStdString(e.what()));
    return false;
  }
}

bool MainWindow::saveAllocationFile(const QString& path) {
  try {
    Allocation a = editor_->model()->allocation();
    a.name = QFileInfo(path).completeBaseName().toStdString();
    a.model = modelDir_.toStdString();
    a.save(path.toStdString(), editor_->model()->shapes());
    editor_->model()->undoStack()->setClean();
    statusBar()->showMessage(tr("Saved %1").arg(path), 8000);
    return true;
  } catch (const std::exception& e) {
    showError(tr("Could not save the allocation"), QString::fromStdString(e.what()));
    return false;
  }
}

}  // namespace bitscape::gui
