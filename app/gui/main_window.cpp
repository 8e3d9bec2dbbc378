#include "main_window.h"

#include <cmath>
#include <functional>
#include <cstdio>
#include <tuple>

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QMimeData>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QScrollArea>
#include <QSettings>
#include <QStatusBar>
#include <QLineEdit>
#include <QStandardPaths>
#include <QStyleFactory>
#include <QTextBrowser>
#include <QTimer>
#include <QTreeView>
#include <QUndoStack>
#include <QVBoxLayout>

#include "bitscape/search_methods.h"
#include "bitscape/widgets/about_text.h"
#include "bitscape/widgets/format.h"
#include "bitscape/widgets/job_runner.h"
#include "bitscape/widgets/model_summary_view.h"
#include "bitscape/widgets/model_tree_model.h"
#include "bitscape/widgets/allocation_editor.h"
#include "bitscape/widgets/allocation_map.h"
#include "bitscape/widgets/demo_panel.h"
#include "bitscape/widgets/explain.h"
#include "bitscape/widgets/jobs_panel.h"
#include "bitscape/widgets/allocation_model.h"
#include "bitscape/widgets/pareto_panel.h"
#include "bitscape/widgets/probing_view.h"
#include "bitscape/widgets/saliency_view.h"
#include "bitscape/widgets/plot_export.h"
#include "bitscape/widgets/sensitivity_panel.h"
#include "bitscape/widgets/perplexity_panel.h"
#include "bitscape/widgets/share_delegate.h"
#include "engine.h"

namespace bitscape::gui {

namespace {

constexpr int kMaxRecent = 8;

// Core's stage names are terse ("perplexity"); the panel says what is happening.
QString stageText(const QString& stage) {
  if (stage == QLatin1String("perplexity")) return MainWindow::tr("Evaluating windows");
  return stage;
}

// Adds OK (labelled `ok` when given) and Cancel to a form dialog and runs it; true on OK.
bool runFormDialog(QDialog& dialog, QFormLayout* form, const QString& ok = QString()) {
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
  if (!ok.isEmpty()) buttons->button(QDialogButtonBox::Ok)->setText(ok);
  form->addRow(buttons);
  QObject::connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
  QObject::connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
  return dialog.exec() == QDialog::Accepted;
}

QGroupBox* group(const QString& title, QWidget* content) {
  auto* box = new QGroupBox(title);
  auto* layout = new QVBoxLayout(box);
  layout->setContentsMargins(10, 8, 10, 10);
  layout->addWidget(content);
  return box;
}

}  // namespace

MainWindow::MainWindow(QWidget* parent)
    : QMainWindow(parent),
      engine_(std::make_shared<Engine>()),
      runner_(new widgets::JobRunner(this)),
      doctorRunner_(new widgets::JobRunner(this)),
      projectRunner_(new widgets::JobRunner(this)),
      searchRunner_(new widgets::JobRunner(this)),
      measureRunner_(new widgets::JobRunner(this)) {
  analysisRunner_ = new widgets::JobRunner(this);
  saliencyRunner_ = new widgets::JobRunner(this);
  marksRunner_ = new widgets::JobRunner(this);
  setWindowTitle(tr("Bitscape"));
  setObjectName(QStringLiteral("MainWindow"));

  // Left: the model's modules.
  treeModel_ = new widgets::ModelTreeModel(this);
  tree_ = new QTreeView;
  tree_->setObjectName(QStringLiteral("modelTree"));
  tree_->setModel(treeModel_);
  tree_->setUniformRowHeights(true);
  tree_->setAlternatingRowColors(true);
  tree_->setItemDelegateForColumn(widgets::ModelTreeModel::ShareColumn,
                                  new widgets::ShareDelegate(tree_));
  QHeaderView* header = tree_->header();
  header->setStretchLastSection(false);
  // Every column as wide as its contents (the tree scrolls sideways in a narrow dock); the
  // dtype column is the one hidden first.
  for (int c = 0; c < widgets::ModelTreeModel::ColumnCount; ++c)
    header->setSectionResizeMode(c, QHeaderView::ResizeToContents);
  header->setMinimumSectionSize(40);
  tree_->setColumnHidden(widgets::ModelTreeModel::DtypeColumn, true);
  header->moveSection(header->visualIndex(widgets::ModelTreeModel::BitsColumn), 1);  // next to the name
  treeDock_ = addView(tr("Model"), "modelDock", "model", tree_, Qt::LeftDockWidgetArea, nullptr, false);

  // Left, beside the model tree: the allocation editor.
  editor_ = new widgets::AllocationEditor;
  editorDock_ = addView(tr("Allocation"), "allocationDock", "allocation", editor_, Qt::LeftDockWidgetArea, treeDock_);
  treeDock_->raise();
  connect(editor_, &widgets::AllocationEditor::evaluateRequested, this, &MainWindow::evaluateAllocation);
  connect(editor_, &widgets::AllocationEditor::compareWithFileRequested, this, [this] {
    const QString path = QFileDialog::getOpenFileName(this, tr("Compare with an allocation"), QString(),
                                                      tr("Allocations (*.alloc.json *.json)"));
    if (path.isEmpty()) return;
    try {
      editor_->model()->setReference(Allocation::load(path.toStdString(), editor_->model()->shapes()),
                                     QFileInfo(path).fileName());
    } catch (const std::exception& e) {
      showError(tr("Could not load the allocation"), QString::fromStdString(e.what()));
    }
  });

  // Right: the Pareto front of the project's searches and the sensitivity heatmap.
  pareto_ = new widgets::ParetoPanel;
  paretoDock_ = addView(tr("Pareto front"), "paretoDock", "pareto", pareto_, Qt::RightDockWidgetArea, nullptr);

  sensitivity_ = new widgets::SensitivityPanel;
  sensitivityDock_ = addView(tr("Sensitivity"), "sensitivityDock", "sensitivity", sensitivity_,
                             Qt::RightDockWidgetArea, nullptr);
  // The model tree's Bits column follows the editor's allocation.
  connect(editor_->model(), &widgets::AllocationModel::totalsChanged, this, [this] {
    std::map<std::string, double> bits;
    const widgets::AllocationModel* m = editor_->model();
    for (size_t i = 0; i < m->shapes().size() && i < m->cost().modules.size(); ++i)
      bits[m->shapes()[i].name] = m->cost().modules[i].code_bits_per_weight();
    treeModel_->setModuleBits(bits);
  });

  map_ = new widgets::AllocationMap;
  map_->setModel(editor_->model());
  sensitivity_->setAllocationModel(editor_->model());
  mapDock_ = addView(tr("Allocation map"), "allocationMapDock", "allocation-map", map_, Qt::RightDockWidgetArea,
                     sensitivityDock_);
  sensitivityDock_->raise();
  connect(map_, &widgets::AllocationMap::moduleSelected, this, [this](const QString& module) {
    editor_->selectModule(module);
    showSaliency(module);
  });

  saliency_ = new widgets::SaliencyView;
  saliencyDock_ = addView(tr("Saliency"), "saliencyDock", "saliency", saliency_, Qt::RightDockWidgetArea,
                          sensitivityDock_, false);
  connect(editor_, &widgets::AllocationEditor::moduleSelected, this, &MainWindow::showSaliency);
  probing_ = new widgets::ProbingView;
  probingDock_ = addView(tr("Probing"), "probingDock", "probing", probing_, Qt::RightDockWidgetArea,
                         sensitivityDock_, false);
  connect(probing_, &widgets::ProbingView::runRequested, this, &MainWindow::chooseProbing);
  connect(probing_, &widgets::ProbingView::allocationRequested, this, &MainWindow::loadTammpAllocation);
  // The saliency view's marks follow the editor's allocation (once edits pause for 150 ms).
  marksTimer_ = new QTimer(this);
  marksTimer_->setSingleShot(true);
  marksTimer_->setInterval(150);
  connect(marksTimer_, &QTimer::timeout, this, &MainWindow::refreshChannelMarks);
  connect(editor_->model(), &QAbstractItemModel::modelReset, marksTimer_, qOverload<>(&QTimer::start));
  // The title's "*" while the editor holds edits not saved to a file or measured into the project.
  connect(editor_->model()->undoStack(), &QUndoStack::cleanChanged, this,
          [this](bool clean) { setWindowModified(!clean); });
  connect(editor_->model(), &QAbstractItemModel::dataChanged, marksTimer_, qOverload<>(&QTimer::start));

  jobs_ = new widgets::JobsPanel;
  jobs_->watch(runner_, tr("Model"));
  jobs_->watch(projectRunner_, tr("Project"));
  jobs_->watch(searchRunner_, tr("Search"));
  jobs_->watch(measureRunner_, tr("Evaluate allocation"));
  jobs_->watch(analysisRunner_, tr("Calibrate / sensitivity / probing"));
  jobsDock_ = addView(tr("Jobs"), "jobsDock", "jobs", jobs_, Qt::RightDockWidgetArea, sensitivityDock_, false);

  explain_ = new QTextBrowser;
  explain_->setObjectName(QStringLiteral("explain"));
  explainDock_ = addView(tr("Explain"), "explainDock", "explain", explain_, Qt::LeftDockWidgetArea, treeDock_, false);
  treeDock_->raise();
  sensitivityDock_->raise();
  demo_ = new widgets::DemoPanel;
  demoDock_ = addView(tr("Guided demo"), "demoDock", "demo", demo_, Qt::LeftDockWidgetArea, treeDock_, false);
  treeDock_->raise();
  connect(demo_, &widgets::DemoPanel::runStep, this, &MainWindow::runDemoStep);

  // The explain panel follows the view that was last brought to the front.
  const QStringList explained = widgets::explainedViews();
  for (const auto& [dock, view] : views_)
    if (explained.contains(view))
      connect(dock, &QDockWidget::visibilityChanged, this, [this, view = view](bool visible) {
        if (!visible) return;
        explainedView_ = view;
        explain_->setHtml(widgets::explainHtml(view));
      });
  explain_->setHtml(widgets::explainHtml("model"));
  connect(this, &MainWindow::jobEnded, this, [this](const QString& what, bool ok) {
    if (demoStep_ < 0 || what != demoWaitsFor_) return;
    if (!ok) {
      finishDemoStep(false, tr("The %1 job did not finish.").arg(what));
    } else if (what == QLatin1String("calibrate") || what == QLatin1String("sensitivity")) {
      demoWaitsFor_ = QStringLiteral("project");  // then the project is (re)opened
    } else {
      finishDemoStep(true);
    }
  });
  connect(analysisRunner_, &widgets::JobRunner::failed, this, [this](quint64, const QString& message) {
    Q_EMIT jobEnded(runningAnalysis_, false);
    showError(tr("The %1 failed").arg(runningAnalysis_), message);
  });
  connect(analysisRunner_, &widgets::JobRunner::cancelled, this,
          [this](quint64) { Q_EMIT jobEnded(runningAnalysis_, false); });
  explainedView_ = QStringLiteral("model");

  connect(sensitivity_, &widgets::SensitivityPanel::moduleSelected, this, [this](const QString& module) {
    statusBar()->showMessage(module, 8000);
    editor_->selectModule(module);
    showSaliency(module);
  });
  connect(pareto_, &widgets::ParetoPanel::pointClicked, this, &MainWindow::loadPoint);
  connect(projectRunner_, &widgets::JobRunner::failed, this, [this](quint64, const QString& message) {
    Q_EMIT jobEnded(projectJob_, false);
    showError(projectJob_ == QLatin1String("save-project") ? tr("Could not save the project")
                                                           : tr("Could not open the project"),
              message);
  });
  connect(measureRunner_, &widgets::JobRunner::failed, this, [this](quint64, const QString& message) {
    Q_EMIT jobEnded(QStringLiteral("measure"), false);
    showError(tr("Could not measure the allocation"), message);
  });
  connect(measureRunner_, &widgets::JobRunner::cancelled, this,
          [this](quint64) { Q_EMIT jobEnded(QStringLiteral("measure"), false); });
  connect(projectRunner_, &widgets::JobRunner::cancelled, this,
          [this](quint64) { Q_EMIT jobEnded(projectJob_, false); });

  // Centre: what the model is, and its evaluation.
  title_ = new QLabel(tr("No model open"));
  QFont titleFont = title_->font();
  titleFont.setPointSizeF(titleFont.pointSizeF() * 1.5);
  titleFont.setBold(true);
  title_->setFont(titleFont);
  path_ = new QLabel(tr("Open a Hugging Face model directory with File \u203A Open model\u2026"));
  path_->setForegroundRole(QPalette::PlaceholderText);
  path_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  summary_ = new widgets::ModelSummaryView;
  panel_ = new widgets::PerplexityPanel;

  auto* central = new QWidget;
  auto* layout = new QVBoxLayout(central);
  layout->setContentsMargins(12, 10, 12, 10);
  layout->setSpacing(8);
  layout->addWidget(title_);
  layout->addWidget(path_);
  layout->addWidget(group(tr("Architecture"), summary_));
  layout->addWidget(group(tr("Evaluate perplexity"), panel_), 1);
  setCentralWidget(central);

  blasWarning_ = new QLabel;
  blasWarning_->setVisible(false);
  blasWarning_->setStyleSheet(QStringLiteral("color: #b3261e; font-weight: bold;"));
  statusBar()->addPermanentWidget(blasWarning_);
  searchProgress_ = new QProgressBar;
  searchProgress_->setObjectName(QStringLiteral("searchProgress"));
  searchProgress_->setMaximumWidth(260);
  searchProgress_->setVisible(false);
  searchCancel_ = new QPushButton(tr("Cancel search"));
  searchCancel_->setObjectName(QStringLiteral("searchCancel"));
  searchCancel_->setVisible(false);
  statusBar()->addPermanentWidget(searchProgress_);
  statusBar()->addPermanentWidget(searchCancel_);
  connect(searchCancel_, &QPushButton::clicked, searchRunner_, &widgets::JobRunner::cancel);
  statusBar()->showMessage(tr("Ready"));

  buildMenus();
  setAcceptDrops(true);

  // Evaluation settings from the last session.
  QSettings settings;
  widgets::PerplexityRequest saved = panel_->request();
  saved.seqlen = settings.value(QStringLiteral("evaluate/seqlen"), saved.seqlen).toInt();
  saved.maxWindows = settings.value(QStringLiteral("evaluate/maxWindows"), 0).toInt();
  saved.dtype = settings.value(QStringLiteral("evaluate/dtype"), saved.dtype).toString();
  saved.threads = settings.value(QStringLiteral("evaluate/threads"), 0).toInt();
  panel_->setRequest(saved);

  // Progress and results of the runner's jobs.
  connect(runner_, &widgets::JobRunner::runningChanged, panel_,
          &widgets::PerplexityPanel::setBusy);
  connect(runner_, &widgets::JobRunner::stageStarted, this,
          [this](quint64, const QString& stage, qint64 total) {
            panel_->setStage(stageText(stage), total);
            statusBar()->showMessage(stageText(stage) + QStringLiteral("\u2026"));
          });
  connect(runner_, &widgets::JobRunner::progressed, panel_,
          [this](quint64, qint64 done, qint64 total, double eta) {
            panel_->setProgress(done, total, eta);
          });
  connect(runner_, &widgets::JobRunner::failed, this, [this](quint64, const QString& message) {
    const QString what = runningJob_;
    panel_->showMessage(tr("Failed: %1").arg(message), /*error=*/true);
    statusBar()->showMessage(tr("Failed"), 5000);
    Q_EMIT jobEnded(what, false);
    showError(what == QLatin1String("open") ? tr("Could not open the model")
                                           : tr("Evaluation failed"),
              message);
  });
  connect(runner_, &widgets::JobRunner::cancelled, this, [this](quint64) {
    panel_->showMessage(tr("Cancelled."));
    statusBar()->showMessage(tr("Cancelled"), 5000);
    Q_EMIT jobEnded(runningJob_, false);
  });
  connect(panel_, &widgets::PerplexityPanel::evaluateRequested, this, &MainWindow::evaluate);
  connect(panel_, &widgets::PerplexityPanel::cancelRequested, runner_,
          &widgets::JobRunner::cancel);

  // The machine report (BLAS, devices) without blocking the GUI thread.
  doctorRunner_->start(
      QStringLiteral("doctor"),
      [](ProgressSink&, const CancelToken&) {
        DoctorReport report = Engine::doctor();
        std::string text = format_doctor(report);
        return std::make_pair(std::move(report), std::move(text));
      },
      [this](std::pair<DoctorReport, std::string> result) {
        doctorText_ = QString::fromStdString(result.second);
        setDoctor(result.first);
      });
}

MainWindow::~MainWindow() = default;

QDockWidget* MainWindow::addView(const QString& title, const char* objectName, const char* view,
                                 QWidget* content, Qt::DockWidgetArea area, QDockWidget* tabWith,
                                 bool margins) {
  QWidget* widget = content;
  if (margins) {
    widget = new QWidget;
    auto* layout = new QVBoxLayout(widget);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(content, 1);
  }
  auto* dock = new QDockWidget(title, this);
  dock->setObjectName(QLatin1String(objectName));  // the key of the saved layout
  dock->setWidget(widget);
  addDockWidget(area, dock);
  if (tabWith) tabifyDockWidget(tabWith, dock);
  views_.emplace_back(dock, QLatin1String(view));
  return dock;
}

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  QAction* open = file->addAction(tr("&Open model\u2026"), this, &MainWindow::chooseModel);
  open->setShortcut(QKeySequence::Open);
  QAction* openProjectAction =
      file->addAction(tr("Open &project\u2026"), this, &MainWindow::chooseProject);
  openProjectAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
  saveProjectAction_ = file->addAction(tr("Save project &as\u2026"), this, [this] {
    const QString path = QFileDialog::getSaveFileName(this, tr("Save project as"), projectPath_,
                                                      tr("Bitscape projects (*.bsproj.h5)"));
    if (!path.isEmpty()) saveProjectAs(path);
  });
  saveProjectAction_->setEnabled(false);  // needs a project
  file->addAction(tr("Open &allocation\u2026"), this, [this] {
    const QString path = QFileDialog::getOpenFileName(this, tr("Open allocation"), QString(),
                                                      tr("Allocations (*.alloc.json *.json)"));
    if (!path.isEmpty()) loadAllocationFile(path);
  });
  QAction* saveAlloc = file->addAction(tr("&Save allocation\u2026"), this, [this] {
    const QString path = QFileDialog::getSaveFileName(this, tr("Save allocation"), QStringLiteral("edited.alloc.json"),
                                                      tr("Allocations (*.alloc.json)"));
    if (!path.isEmpty()) saveAllocationFile(path);
  });
  saveAlloc->setShortcut(QKeySequence::Save);
  recentMenu_ = file->addMenu(tr("Open &recent"));
  fillRecentMenu();
  file->addSeparator();
  QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
  quit->setShortcut(QKeySequence::Quit);

  QMenu* edit = menuBar()->addMenu(tr("&Edit"));
  QAction* settingsAction = edit->addAction(tr("&Settings\u2026"), this, &MainWindow::showSettings);
  settingsAction->setShortcut(QKeySequence::Preferences);

  QMenu* projectMenu = menuBar()->addMenu(tr("&Project"));
  QAction* calibrateAction = projectMenu->addAction(tr("&New project (calibrate)\u2026"), this,
                                                    &MainWindow::chooseCalibration);
  calibrateAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_N));
  projectMenu->addAction(tr("Run &sensitivity analysis\u2026"), this, &MainWindow::chooseSensitivity);
  projectMenu->addAction(tr("Run multi-source &probing\u2026"), this, &MainWindow::chooseProbing);

  QMenu* search = menuBar()->addMenu(tr("&Search"));
  searchAction_ = search->addAction(tr("&Run search\u2026"), this, &MainWindow::chooseSearch);
  searchAction_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
  searchAction_->setEnabled(false);  // needs a project

  QMenu* view = menuBar()->addMenu(tr("&View"));

  view->addAction(treeDock_->toggleViewAction());
  view->addAction(paretoDock_->toggleViewAction());
  view->addAction(sensitivityDock_->toggleViewAction());
  view->addAction(editorDock_->toggleViewAction());
  view->addAction(mapDock_->toggleViewAction());
  view->addAction(saliencyDock_->toggleViewAction());
  view->addAction(probingDock_->toggleViewAction());
  view->addAction(jobsDock_->toggleViewAction());
  view->addAction(explainDock_->toggleViewAction());
  view->addAction(demoDock_->toggleViewAction());
  view->addSeparator();
  QAction* dark = view->addAction(tr("&Dark palette"));
  dark->setCheckable(true);
  dark->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_D));
  dark->setChecked(QSettings().value(QStringLiteral("view/dark"), false).toBool());
  connect(dark, &QAction::toggled, this, &MainWindow::setDarkPalette);

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&About Bitscape"), this, &MainWindow::showAbout);
  help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
}

void MainWindow::restoreLayout() {
  QSettings settings;
  const QByteArray geometry = settings.value(QStringLiteral("window/geometry")).toByteArray();
  const QByteArray state = settings.value(QStringLiteral("window/state")).toByteArray();
  if (geometry.isEmpty() || !restoreGeometry(geometry) || state.isEmpty() ||
      !restoreState(state))
    useDefaultLayout();
}

void MainWindow::useDefaultLayout() {
  resize(1680, 980);
  // Dock sizes apply once the window is laid out: the model tree ~34 % of the width on the left,
  // the Pareto front above the sensitivity heatmap ~34 % on the right.
  QTimer::singleShot(0, this, [this] {
    resizeDocks({treeDock_, paretoDock_}, {int(width() * 0.34), int(width() * 0.34)},
                Qt::Horizontal);
    resizeDocks({paretoDock_, sensitivityDock_}, {height() / 2, height() / 2}, Qt::Vertical);
  });
}

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

void MainWindow::closeEvent(QCloseEvent* event) {
  keepUnsavedAllocation();
  QSettings settings;
  settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
  settings.setValue(QStringLiteral("window/state"), saveState());
  saveEvaluationSettings();
  runner_->cancel();
  projectRunner_->cancel();
  searchRunner_->cancel();
  measureRunner_->cancel();
  analysisRunner_->cancel();
  QMainWindow::closeEvent(event);
}

namespace {
// A dropped model directory, project file (*.h5) or allocation file (*.json); "" otherwise.
QString droppedPath(const QMimeData* mime) {
  if (mime == nullptr || !mime->hasUrls() || mime->urls().size() != 1) return QString();
  const QString path = mime->urls().first().toLocalFile();
  const QFileInfo info(path);
  if (info.isDir()) return path;
  if (info.isFile() && (path.endsWith(QLatin1String(".h5")) || path.endsWith(QLatin1String(".json"))))
    return path;
  return QString();
}
}  // namespace

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  if (!droppedPath(event->mimeData()).isEmpty()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
  const QString path = droppedPath(event->mimeData());
  if (path.isEmpty()) return;
  event->acceptProposedAction();
  if (QFileInfo(path).isDir()) openModel(path);
  else if (path.endsWith(QLatin1String(".h5"))) openProject(path);
  else loadAllocationFile(path);
}

DeviceOptions MainWindow::jobDevice() const {
  const widgets::PerplexityRequest r = panel_->request();
  DeviceOptions d;
  d.device = r.device.toStdString();
  d.dtype = r.dtype.toStdString();
  d.gpu_memory_gib = QSettings().value(QStringLiteral("jobs/gpuMemory"), d.gpu_memory_gib).toDouble();
  return d;
}

MeasureAllocationOptions MainWindow::measureOptions(const Allocation& allocation) const {
  MeasureAllocationOptions o;
  o.project = projectPath_.toStdString();
  o.allocation = allocation;
  o.device = jobDevice();
  return o;
}

void MainWindow::saveEvaluationSettings() const {
  QSettings settings;
  const widgets::PerplexityRequest r = panel_->request();
  settings.setValue(QStringLiteral("evaluate/seqlen"), r.seqlen);
  settings.setValue(QStringLiteral("evaluate/maxWindows"), r.maxWindows);
  settings.setValue(QStringLiteral("evaluate/dtype"), r.dtype);
  settings.setValue(QStringLiteral("evaluate/threads"), r.threads);
}

void MainWindow::chooseModel() {
  QSettings settings;
  const QStringList recent = settings.value(QStringLiteral("recent/models")).toStringList();
  QString start = modelDir_.isEmpty() ? (recent.isEmpty() ? QDir::homePath() : recent.first())
                                      : modelDir_;
  start = QFileInfo(start).absolutePath();
  const QString dir = QFileDialog::getExistingDirectory(
      this, tr("Open a Hugging Face model directory"), start, QFileDialog::ShowDirsOnly);
  if (!dir.isEmpty()) openModel(dir);
}

void MainWindow::openModel(const QString& dirIn) {
  const QString dir = QDir::cleanPath(QFileInfo(dirIn).absoluteFilePath());
  runningJob_ = QStringLiteral("open");
  panel_->showMessage(tr("Opening %1").arg(dir));
  std::shared_ptr<Engine> engine = engine_;
  const std::string path = dir.toStdString();
  runner_->start(
      QStringLiteral("open"),
      [engine, path](ProgressSink& progress, const CancelToken& cancel) {
        return engine->open(path, progress, cancel);
      },
      [this, dir](ModelSummary summary) {
        setModel(dir, summary);
        Q_EMIT jobEnded(QStringLiteral("open"), true);
      });
}

void MainWindow::setModel(const QString& dir, const ModelSummary& summary) {
  modelDir_ = dir;
  std::vector<ModuleShape> shapes;
  int64_t other = summary.total_params;
  for (const ModuleInfo& m : summary.modules)
    if (m.kind == "linear" && !m.tensors.empty() && m.tensors[0].shape.size() == 2) {
      shapes.push_back({m.name, m.tensors[0].shape[0], m.tensors[0].shape[1]});
      other -= m.tensors[0].numel();
    }
  editor_->model()->setModules(shapes, other);
  treeModel_->setSummary(summary);
  // Show what a block holds: the first block starts expanded.
  for (int row = 0; row < treeModel_->rowCount(); ++row) {
    const QModelIndex index = treeModel_->index(row, 0);
    if (treeModel_->rowCount(index) > 0) {
      tree_->expand(index);
      break;
    }
  }
  summary_->setSummary(summary);
  panel_->setModelDir(dir);
  panel_->clearResult();
  // "sample_data/model" says more than "model".
  QString name = QFileInfo(dir).fileName();
  if (name == QLatin1String("model"))
    name = QFileInfo(QFileInfo(dir).path()).fileName() + QLatin1Char('/') + name;
  title_->setText(QStringLiteral("%1  \u00B7  %2  \u00B7  %3 parameters")
                      .arg(name, QString::fromStdString(summary.config.architecture),
                           widgets::formatCountShort(summary.total_params)));
  path_->setText(dir);
  setWindowTitle(tr("%1[*] \u2014 Bitscape").arg(name));
  restoreUnsavedAllocation(dir);
  panel_->showMessage(tr("Model ready: %1 modules in %2 blocks.")
                          .arg(summary.modules.size())
                          .arg(summary.config.num_hidden_layers));
  statusBar()->showMessage(tr("Opened %1").arg(dir), 5000);
  rememberRecent(dir);
  Q_EMIT modelOpened(dir);
}

void MainWindow::evaluate() {
  if (modelDir_.isEmpty()) return;
  const widgets::PerplexityRequest r = panel_->request();
  if (r.dataPath.isEmpty()) {
    showError(tr("Evaluation"), tr("Choose a text or JSONL file to evaluate on."));
    return;
  }
  saveEvaluationSettings();
  EvaluationOptions o;
  o.model_dir = modelDir_.toStdString();
  o.data_path = r.dataPath.toStdString();
  o.seqlen = r.seqlen;
  o.max_windows = r.maxWindows;
  o.device = jobDevice();
  o.threads = r.threads;

  runningJob_ = QStringLiteral("evaluate");
  panel_->clearResult();
  panel_->showMessage(tr("Starting\u2026"));
  std::shared_ptr<Engine> engine = engine_;
  runner_->start(
      QStringLiteral("evaluate"),
      [engine, o](ProgressSink& progress, const CancelToken& cancel) {
        return engine->evaluate(o, progress, cancel);
      },
      [this](PerplexityResult result) {
        panel_->showResult(result);
        panel_->showMessage(tr("Done: PPL %1 on %2 windows of %3 tokens.")
                                .arg(result.ppl, 0, 'f', 4)
                                .arg(result.windows)
                                .arg(result.seqlen));
        statusBar()->showMessage(tr("Evaluation finished"), 5000);
        Q_EMIT jobEnded(QStringLiteral("evaluate"), true);
      });
}

void MainWindow::setDoctor(const DoctorReport& report) {
  doctor_ = report;
  QStringList devices;
  for (const auto& d : report.cuda_devices) devices << QString::fromStdString(d);
  panel_->setDevices(devices);
  if (report.reference_blas) {
    blasWarning_->setText(tr("\u26A0 Reference BLAS in use: CPU work will be very slow "
                             "(Help \u203A About)"));
    blasWarning_->setVisible(true);
  }
}

void MainWindow::showAbout() {
  QMessageBox box(this);
  box.setWindowTitle(tr("About Bitscape"));
  box.setIconPixmap(windowIcon().pixmap(64, 64));
  box.setTextFormat(Qt::RichText);
  box.setText(widgets::aboutHtml(QString::fromLatin1(BITSCAPE_VERSION),
                                 doctor_ ? &*doctor_ : nullptr, doctorText_));
  box.exec();
}

void MainWindow::showError(const QString& title, const QString& message) {
  // Window-modal but not blocking: jobs keep reporting while the message is read, and a test
  // (or the demo) can read and close it.
  auto* box = new QMessageBox(QMessageBox::Warning, title, message, QMessageBox::Ok, this);
  box->setAttribute(Qt::WA_DeleteOnClose);
  box->setObjectName(QStringLiteral("errorMessage"));
  box->open();
  Q_EMIT errorShown(title, message);
}

void MainWindow::rememberRecent(const QString& dir) {
  QSettings settings;
  QStringList recent = settings.value(QStringLiteral("recent/models")).toStringList();
  recent.removeAll(dir);
  recent.prepend(dir);
  while (recent.size() > kMaxRecent) recent.removeLast();
  settings.setValue(QStringLiteral("recent/models"), recent);
  fillRecentMenu();
}

void MainWindow::fillRecentMenu() {
  recentMenu_->clear();
  const QStringList recent = QSettings().value(QStringLiteral("recent/models")).toStringList();
  // Model directories and project files (*.bsproj.h5), most recent first.
  for (const QString& path : recent)
    recentMenu_->addAction(path, this, [this, path] {
      if (QFileInfo(path).isFile()) openProject(path);
      else openModel(path);
    });
  recentMenu_->setEnabled(!recent.isEmpty());
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
          const int id = pareto_->addRun(QString::fromStdString(run.name + " (" + run.method + ")"));
          paretoRunNames_.resize(size_t(id) + 1);
          paretoRunNames_[size_t(id)] = QString::fromStdString(run.name);
          for (const SearchPoint& p : run.points) pareto_->addPoint(id, p);
        }
        // The edited allocations measured earlier (stored in the project as they were measured).
        for (const EditRecord& e : contents.edits) addEditedPoint(e.point, QString::fromStdString(e.name));
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
        searchAction_->setEnabled(true);
        saveProjectAction_->setEnabled(true);
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
  auto* lo = new QDoubleSpinBox;
  auto* hi = new QDoubleSpinBox;
  for (QDoubleSpinBox* b : {lo, hi}) {
    b->setRange(2.0, 16.0);
    b->setSingleStep(0.25);
    b->setDecimals(2);
    b->setSuffix(tr(" bits"));
  }
  QSettings settings;
  lo->setValue(settings.value(QStringLiteral("defaults/budgetLo"), 2.25).toDouble());
  hi->setValue(settings.value(QStringLiteral("defaults/budgetHi"), 4.25).toDouble());
  method->setCurrentIndex(std::max(0, method->findData(settings.value(QStringLiteral("defaults/method"), "dp"))));
  auto* seed = new QSpinBox;
  seed->setRange(0, 1 << 30);
  auto* windows = new QSpinBox;
  windows->setRange(1, 4096);
  windows->setValue(settings.value(QStringLiteral("defaults/searchWindows"), 16).toInt());
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
  liveRun_ = pareto_->addRun(tr("new %1 search").arg(QString::fromStdString(request.search.method)));
  paretoRunNames_.resize(size_t(liveRun_) + 1);
  searchProgress_->setRange(0, 0);
  searchProgress_->setVisible(true);
  searchCancel_->setVisible(true);
  searchAction_->setEnabled(false);
  auto finish = [this] {
    searchProgress_->setVisible(false);
    searchCancel_->setVisible(false);
    searchAction_->setEnabled(!projectPath_.isEmpty());
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
                                 [this, finish, disconnectAll](quint64) {
                                   finish();
                                   disconnectAll();
                                   statusBar()->showMessage(tr("Search cancelled; its completed iterations are kept in the project"), 10000);
                                   Q_EMIT jobEnded(QStringLiteral("search"), false);
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
        }
        statusBar()->showMessage(tr("Search %1 (%2): %3 points in %4 s")
                                     .arg(QString::fromStdString(record.name),
                                          QString::fromStdString(record.method))
                                     .arg(record.points.size())
                                     .arg(record.seconds, 0, 'f', 1),
                                 15000);
        Q_EMIT jobEnded(QStringLiteral("search"), true);
      });
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
    editor_->model()->setAllocation(a, tr("Load %1").arg(QString::fromStdString(a.name)));
    editor_->model()->undoStack()->setClean();  // stored in the project
    editorDock_->raise();
  } catch (const std::exception& e) {
    statusBar()->showMessage(QString::fromStdString(e.what()), 10000);
  }
}

void MainWindow::addEditedPoint(const SearchPoint& point, const QString& name) {
  if (editedRun_ < 0) {
    editedRun_ = pareto_->addRun(tr("edited allocations"));
    paretoRunNames_.resize(size_t(editedRun_) + 1);
  }
  pareto_->addPoint(editedRun_, point);
  editNames_.push_back(name);
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
  measureRunner_->start(
      QStringLiteral("measure"),
      [options = measureOptions(allocation)](ProgressSink& progress, const CancelToken& cancel) {
        return Engine::measureAllocation(options, progress, cancel);
      },
      [this, undoIndex](MeasuredEdit m) {
        const SearchPoint& p = m.point;
        addEditedPoint(p, QString::fromStdString(m.name));
        if (editor_->model()->undoStack()->index() == undoIndex) editor_->model()->undoStack()->setClean();
        statusBar()->showMessage(tr("Edited allocation: %1 bits, KL %2, perplexity %3 (%4 s)")
                                     .arg(p.average_bits, 0, 'f', 3)
                                     .arg(p.kl, 0, 'g', 4)
                                     .arg(p.ppl, 0, 'f', 3)
                                     .arg(p.seconds, 0, 'f', 1),
                                 20000);
        Q_EMIT jobEnded(QStringLiteral("measure"), true);
      });
}

QStringList MainWindow::saveScreenshots(const QString& dir) {
  QDir().mkpath(dir);
  QStringList written;
  auto save = [&](QWidget* w, const QString& name) {
    QApplication::processEvents();
    const QString path = QDir(dir).filePath(name + QStringLiteral(".png"));
    if (w->grab().save(path)) written << path;
  };
  save(this, QStringLiteral("workbench"));
  for (const char* name : {"model", "allocation", "pareto", "sensitivity", "allocation-map", "saliency", "probing"}) {
    QDockWidget* dock = dockOf(QLatin1String(name));
    dock->raise();
    QApplication::processEvents();
    save(dock->widget(), QLatin1String(name));
  }
  treeDock_->raise();
  sensitivityDock_->raise();
  return written;
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

void MainWindow::setDarkPalette(bool dark) {
  QSettings().setValue(QStringLiteral("view/dark"), dark);
  applyPalette(dark);
  statusBar()->showMessage(dark ? tr("Dark palette") : tr("Light palette"), 5000);
}

void MainWindow::applyPalette(bool dark) {
  if (!dark) {
    QApplication::setPalette(QApplication::style()->standardPalette());
  } else {
    QPalette p;
    const QColor window(0x2b, 0x2d, 0x31), base(0x1e, 0x1f, 0x22), text(0xe6, 0xe6, 0xe6);
    p.setColor(QPalette::Window, window);
    p.setColor(QPalette::WindowText, text);
    p.setColor(QPalette::Base, base);
    p.setColor(QPalette::AlternateBase, window);
    p.setColor(QPalette::Text, text);
    p.setColor(QPalette::Button, window);
    p.setColor(QPalette::ButtonText, text);
    p.setColor(QPalette::ToolTipBase, base);
    p.setColor(QPalette::ToolTipText, text);
    p.setColor(QPalette::PlaceholderText, QColor(0x8a, 0x8c, 0x90));
    p.setColor(QPalette::Mid, QColor(0x60, 0x62, 0x66));
    p.setColor(QPalette::Highlight, QColor(0x2a, 0x7f, 0xd4));
    p.setColor(QPalette::HighlightedText, Qt::white);
    QApplication::setPalette(p);
  }
}

QDockWidget* MainWindow::dockOf(const QString& view) const {
  for (const auto& [dock, name] : views_)
    if (name == view) return dock;
  return nullptr;
}

void MainWindow::showView(const QString& view) {
  if (QDockWidget* dock = dockOf(view)) {
    dock->show();
    dock->raise();
  }
}

namespace {

// A file beside the model directory (sample_data/model -> sample_data/NAME), if it exists.
QString besideModel(const QString& modelDir, const QString& name) {
  const QString path = QDir(modelDir).filePath(QStringLiteral("../") + name);
  return QFileInfo::exists(path) ? QDir::cleanPath(path) : QString();
}

}  // namespace

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
  samples->setValue(QSettings().value(QStringLiteral("defaults/calibrationWindows"), 128).toInt());
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

std::vector<std::pair<QWidget*, QString>> MainWindow::figurePlots() const {
  return {{pareto_->plotWidget(), QStringLiteral("pareto")},
          {sensitivity_->plotWidget(), QStringLiteral("sensitivity")},
          {map_->gridWidget(), QStringLiteral("allocation-grid")},
          {map_->barsWidget(), QStringLiteral("allocation-bars")}};
}

QStringList MainWindow::exportFigures(const QString& dir) {
  QDir().mkpath(dir);
  QStringList written;
  for (const auto& [plot, name] : figurePlots())
    for (const char* ext : {"png", "svg", "pdf"}) {
      const QString path = QDir(dir).filePath(name + QStringLiteral(".") + QLatin1String(ext));
      if (widgets::exportWidgetPlot(plot, path, 192).isEmpty()) written << path;
    }
  return written;
}

void MainWindow::showSaliency(const QString& module) {
  if (projectPath_.isEmpty() || module == saliency_->module()) return;
  readSaliency(module);
}

namespace {

// The editor's setting of a module, if the editor has it.
std::optional<ModuleAllocation> settingOf(widgets::AllocationModel* model, const QString& module) {
  const int row = model->rowOf(module);
  if (row < 0) return std::nullopt;
  return model->module(row);
}

}  // namespace

void MainWindow::readSaliency(const QString& module) {
  if (projectPath_.isEmpty() || module.isEmpty()) return;
  const std::optional<ModuleAllocation> setting = settingOf(editor_->model(), module);
  saliencyRunner_->start(
      QStringLiteral("saliency"),
      [project = projectPath_.toStdString(), name = module.toStdString(), setting](ProgressSink&, const CancelToken&) {
        ChannelMarks marks;
        std::string marksError;
        if (setting) {
          try {
            marks = Engine::channelMarks(project, name, *setting);
          } catch (const std::exception& e) {
            marksError = e.what();  // e.g. the model moved: the maps still show
          }
        }
        return std::make_tuple(Engine::readSaliency(project, name), Engine::readProbe(project, name), marks, marksError);
      },
      [this, module](std::tuple<std::map<std::string, SaliencySummary>,
                                std::optional<std::pair<ProbingRunInfo, StoredProbe>>, ChannelMarks, std::string> read) {
        auto& [maps, probeRead, marks, marksError] = read;
        saliency_->setModule(module, maps);
        saliency_->setChannelMarks(marks.axis, marks.raised, marks.lowered, marks.fp16_columns);
        if (!marksError.empty())
          statusBar()->showMessage(tr("Channel marks: %1").arg(QString::fromStdString(marksError)), 10000);
        if (probeRead) {
          const auto& [info, probe] = *probeRead;
          QStringList sources;
          for (const std::string& s : info.sources) sources << QFileInfo(QString::fromStdString(s)).fileName();
          const int64_t columns = probe.column_saliency.empty() ? 0 : int64_t(probe.column_saliency[0].size());
          probing_->setProbe(module, sources, probe.critical, columns, probe.compactness);
        } else {
          probing_->clear();
        }
        Q_EMIT jobEnded(QStringLiteral("saliency"), true);
      });
}

void MainWindow::refreshChannelMarks() {
  const QString module = saliency_->module();
  if (projectPath_.isEmpty() || module.isEmpty()) return;
  const std::optional<ModuleAllocation> setting = settingOf(editor_->model(), module);
  if (!setting) return saliency_->clearChannelMarks();
  marksRunner_->start(
      QStringLiteral("marks"),
      [project = projectPath_.toStdString(), name = module.toStdString(), setting](ProgressSink&, const CancelToken&) {
        return Engine::channelMarks(project, name, *setting);
      },
      [this, module](ChannelMarks marks) {
        if (saliency_->module() != module) return;  // another module was selected meanwhile
        saliency_->setChannelMarks(marks.axis, marks.raised, marks.lowered, marks.fp16_columns);
        Q_EMIT jobEnded(QStringLiteral("marks"), true);
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

void MainWindow::showSettings() {
  QSettings settings;
  QDialog dialog(this);
  dialog.setWindowTitle(tr("Settings"));
  auto* device = new QComboBox;
  device->addItem(tr("CPU"), "cpu");
  if (doctor_ && doctor_->cuda_built)
    for (const std::string& d : doctor_->cuda_devices) device->addItem(QString::fromStdString(d), QString::fromStdString(d));
  device->setCurrentIndex(std::max(0, device->findData(panel_->request().device)));
  auto* gpuMemory = new QDoubleSpinBox;
  gpuMemory->setRange(0.0, 4096.0);
  gpuMemory->setDecimals(1);
  gpuMemory->setSuffix(tr(" GiB"));
  gpuMemory->setValue(settings.value(QStringLiteral("jobs/gpuMemory"), 2.0).toDouble());
  gpuMemory->setToolTip(tr("CUDA: a model whose weights fit stays on the GPU; a larger one streams its blocks from host memory"));
  auto* threads = new QSpinBox;
  threads->setRange(0, 1024);
  threads->setSpecialValueText(tr("one per core"));
  threads->setValue(panel_->request().threads);
  auto* calibration = new QSpinBox;
  calibration->setRange(1, 4096);
  calibration->setValue(settings.value(QStringLiteral("defaults/calibrationWindows"), 128).toInt());
  auto* method = new QComboBox;
  for (const SearchMethodInfo& m : search_methods())
    method->addItem(QString::fromStdString(m.name), QString::fromStdString(m.name));
  method->setCurrentIndex(std::max(0, method->findData(settings.value(QStringLiteral("defaults/method"), "dp"))));
  auto* windows = new QSpinBox;
  windows->setRange(1, 4096);
  windows->setValue(settings.value(QStringLiteral("defaults/searchWindows"), 16).toInt());
  auto* lo = new QDoubleSpinBox;
  auto* hi = new QDoubleSpinBox;
  for (QDoubleSpinBox* b : {lo, hi}) {
    b->setRange(2.0, 16.0);
    b->setSingleStep(0.25);
    b->setSuffix(tr(" bits"));
  }
  lo->setValue(settings.value(QStringLiteral("defaults/budgetLo"), 2.25).toDouble());
  hi->setValue(settings.value(QStringLiteral("defaults/budgetHi"), 4.25).toDouble());
  auto* form = new QFormLayout(&dialog);
  form->addRow(tr("Device (every job):"), device);
  form->addRow(tr("GPU memory for weights:"), gpuMemory);
  form->addRow(tr("CPU threads:"), threads);
  form->addRow(tr("Calibration windows:"), calibration);
  form->addRow(tr("Search method:"), method);
  form->addRow(tr("Search evaluation windows:"), windows);
  form->addRow(tr("Search budgets from:"), lo);
  form->addRow(tr("to:"), hi);
  if (!runFormDialog(dialog, form)) return;
  widgets::PerplexityRequest r = panel_->request();
  r.device = device->currentData().toString();
  r.threads = threads->value();
  panel_->setRequest(r);
  saveEvaluationSettings();
  settings.setValue(QStringLiteral("jobs/gpuMemory"), gpuMemory->value());
  settings.setValue(QStringLiteral("defaults/calibrationWindows"), calibration->value());
  settings.setValue(QStringLiteral("defaults/method"), method->currentData().toString());
  settings.setValue(QStringLiteral("defaults/searchWindows"), windows->value());
  settings.setValue(QStringLiteral("defaults/budgetLo"), lo->value());
  settings.setValue(QStringLiteral("defaults/budgetHi"), std::max(lo->value(), hi->value()));
}

}  // namespace bitscape::gui
