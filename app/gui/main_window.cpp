// The main window: construction, the docks and menus, the layout, the model and its evaluation,
// the machine report, palette, screenshots and figures (the other seams: main_window.h).
#include "main_window.h"

#include "dock_layout.h"

#include <nlohmann/json.hpp>

#include "bitscape/json_input.h"
#include "main_window_parts.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace bitscape::gui {

namespace {

constexpr int kMaxRecent = 8;
// The generation of the dock layout saved on close: a state saved by a window with other docks
// (before the analysis moved to the centre: 0) is not restored, the default layout is.
constexpr int kLayoutVersion = 2;

// Core's stage names are terse ("perplexity"); the panel says what is happening.
QString stageText(const QString& stage) {
  if (stage == QLatin1String("perplexity")) return MainWindow::tr("Evaluating windows");
  return stage;
}

// The bundled sample model: beside the source tree the program was built in (build/app/..),
// installed beside the program (../share/bitscape), or in the working folder; "" if none.
QString sampleModelDir() {
  const QString app = QCoreApplication::applicationDirPath();
  for (const QString& candidate :
       {app + QStringLiteral("/../../sample_data/model"), app + QStringLiteral("/../share/bitscape/sample_data/model"),
        QDir::currentPath() + QStringLiteral("/sample_data/model")})
    if (QFileInfo::exists(candidate + QStringLiteral("/config.json"))) return QDir::cleanPath(candidate);
  return {};
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
  treeDock_ = addView(tr("Model"), "modelDock", "model", tree_, false);

  // Left, beside the model tree: the allocation editor.
  editor_ = new widgets::AllocationEditor;
  editorDock_ = addView(tr("Allocation"), "allocationDock", "allocation", editor_);
  connect(editor_, &widgets::AllocationEditor::evaluateRequested, this, &MainWindow::evaluateAllocation);
  connect(editor_, &widgets::AllocationEditor::testPerplexityRequested, this, [this] {
    widgets::PerplexityRequest r = panel_->request();
    r.subject = QStringLiteral("allocation");
    panel_->setRequest(r);
    evaluate();
  });
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
  paretoDock_ = addView(tr("Pareto front"), "paretoDock", "pareto", pareto_);

  sensitivity_ = new widgets::SensitivityPanel;
  sensitivityDock_ = addView(tr("Sensitivity"), "sensitivityDock", "sensitivity", sensitivity_);
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
  mapDock_ = addView(tr("Allocation map"), "allocationMapDock", "allocation-map", map_, true, true);
  connect(map_, &widgets::AllocationMap::moduleSelected, this, [this](const QString& module) {
    editor_->selectModule(module);
    showSaliency(module);
  });

  saliency_ = new widgets::SaliencyView;
  saliencyDock_ = addView(tr("Saliency"), "saliencyDock", "saliency", saliency_, false);
  connect(editor_, &widgets::AllocationEditor::moduleSelected, this, &MainWindow::showSaliency);
  probing_ = new widgets::ProbingView;
  probingDock_ = addView(tr("Probing"), "probingDock", "probing", probing_, false, true);
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

  // The runner registry: every runner is cancelled on close; these are shown in the Jobs panel,
  // and a failure or cancel of the last three ends their job (jobEnded) with an error shown.
  jobs_ = new widgets::JobsPanel;
  for (widgets::JobRunner* r : {doctorRunner_, saliencyRunner_, marksRunner_}) registerRunner(r);
  registerRunner(runner_, tr("Model"));
  registerRunner(searchRunner_, tr("Search"));
  registerRunner(projectRunner_, tr("Project"), [this] { return projectJob_; }, [this] {
    return projectJob_ == QLatin1String("save-project") ? tr("Could not save the project")
                                                        : tr("Could not open the project");
  });
  registerRunner(measureRunner_, tr("Evaluate allocation"), [] { return QStringLiteral("measure"); },
                 [] { return tr("Could not measure the allocation"); });
  registerRunner(analysisRunner_, tr("Calibrate / sensitivity / probing"),
                 [this] { return runningAnalysis_; },
                 [this] { return tr("The %1 failed").arg(runningAnalysis_); });
  jobsDock_ = addView(tr("Jobs"), "jobsDock", "jobs", jobs_, false);

  explain_ = new QTextBrowser;
  explain_->setObjectName(QStringLiteral("explain"));
  explainDock_ = addView(tr("Explain"), "explainDock", "explain", explain_, false);
  demo_ = new widgets::DemoPanel;
  demoDock_ = addView(tr("Guided demo"), "demoDock", "demo", demo_, false);
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
    } else if (what == QLatin1String("measure")) {
      finishDemoStep(true, demoVerdict());
    } else {
      finishDemoStep(true);
    }
  });
  explainedView_ = QStringLiteral("model");

  connect(sensitivity_, &widgets::SensitivityPanel::moduleSelected, this, [this](const QString& module) {
    statusBar()->showMessage(module, 8000);
    editor_->selectModule(module);
    showSaliency(module);
  });
  connect(pareto_, &widgets::ParetoPanel::pointClicked, this, &MainWindow::loadPoint);

  // Model facts and evaluation: docks in the left column (the centre is the analysis's).
  title_ = new QLabel(tr("No model open"));
  QFont titleFont = title_->font();
  titleFont.setPointSizeF(titleFont.pointSizeF() * 1.3);
  titleFont.setBold(true);
  title_->setFont(titleFont);
  title_->setWordWrap(true);
  path_ = new QLabel(tr("Open a Hugging Face model directory with File \u203A Open model\u2026"));
  path_->setForegroundRole(QPalette::PlaceholderText);
  path_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  path_->setWordWrap(true);
  summary_ = new widgets::ModelSummaryView;
  auto* facts = new QWidget;
  auto* factsLayout = new QVBoxLayout(facts);
  factsLayout->setContentsMargins(8, 6, 8, 6);
  factsLayout->addWidget(title_);
  factsLayout->addWidget(path_);
  factsLayout->addWidget(summary_, 1);
  auto* factsScroll = new QScrollArea;
  factsScroll->setWidget(facts);
  factsScroll->setWidgetResizable(true);
  factsScroll->setFrameShape(QFrame::NoFrame);
  architectureDock_ = addView(tr("Architecture"), "architectureDock", "architecture", factsScroll, false);
  panel_ = new widgets::PerplexityPanel;
  evaluateDock_ = addView(tr("Evaluate"), "evaluateDock", "evaluate", panel_, true, true);

  // The editor's allocation and its reference side by side, with what is known of each.
  comparison_ = new widgets::ComparisonView;
  comparison_->setModel(editor_->model());
  comparison_->setMeasures([this](const Allocation& a) { return measuresOf(a); });
  comparisonDock_ = addView(tr("Compare"), "comparisonDock", "compare", comparison_);
  connect(editor_->model(), &widgets::AllocationModel::referenceChanged, this, [this] {
    if (editor_->model()->hasReference()) showView(QStringLiteral("compare"));
  });

  // Every evaluation of the project, labelled; renames, pins and hides go back into the project.
  results_ = new widgets::ResultsTable;
  resultsDock_ = addView(tr("Results"), "resultsDock", "results", results_);
  resultsRunner_ = new widgets::JobRunner(this);
  registerRunner(resultsRunner_, QString(), [] { return QStringLiteral("results"); },
                 [] { return tr("Could not write the results into the project"); });
  connect(results_, &widgets::ResultsTable::recordChanged, this, [this](const EvaluationRecord& record) {
    updateOverlay();
    if (projectPath_.isEmpty()) return;
    pendingResults_[{projectPath_.toStdString(), record.name}] = record;
    writeResults();
  });

  // The start page: the study's steps and where the user is in them.
  start_ = new widgets::StartPage;
  auto* startScroll = new QScrollArea;
  startScroll->setWidget(start_);
  startScroll->setWidgetResizable(true);
  startScroll->setFrameShape(QFrame::NoFrame);
  startDock_ = addView(tr("Start"), "startDock", "start", startScroll, false);
  connect(start_, &widgets::StartPage::stepRequested, this, [this](int step) {
    switch (step) {
      case widgets::StartPage::kOpenModel: chooseModel(); break;
      case widgets::StartPage::kCalibrate: chooseCalibration(); break;
      case widgets::StartPage::kSensitivity: chooseSensitivity(); break;
      case widgets::StartPage::kSearch: chooseSearch(); break;
      case widgets::StartPage::kEdit: showView(QStringLiteral("allocation")); showView(QStringLiteral("pareto")); break;
      default: showView(QStringLiteral("demo")); break;
    }
  });
  connect(start_, &widgets::StartPage::openSampleRequested, this, [this] {
    const QString sample = sampleModelDir();
    if (sample.isEmpty())
      showError(tr("No sample model"), tr("The sample model (sample_data/model) was not found beside the program."));
    else
      openModel(sample);
  });
  placeDocks(*this, defaultDockLayout());  // areas and tab groups: resources/layout/default.json

  // No central widget of its own: the docks share the whole window (dock_layout.h).
  auto* central = new QWidget;
  central->setObjectName(QStringLiteral("centralPlaceholder"));
  setCentralWidget(central);
  central->hide();

  blasWarning_ = new QLabel;
  blasWarning_->setVisible(false);
  blasWarning_->setStyleSheet(QStringLiteral("color: #b3261e; font-weight: bold;"));
  statusBar()->addPermanentWidget(blasWarning_);
  searchProgress_ = new QProgressBar;
  searchProgress_->setObjectName(QStringLiteral("searchProgress"));
  searchProgress_->setMaximumWidth(260);
  searchProgress_->setVisible(false);
  statusBar()->addPermanentWidget(searchProgress_);
  // The latest running job of any kind, its elapsed and remaining time, and Cancel.
  statusBar()->addPermanentWidget(jobs_->statusWidget());
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
  // The NLL chart fills as windows are scored (perplexity.cpp's "window_nll" results).
  connect(runner_, &widgets::JobRunner::resultReported, this, [this](quint64, const QString& kind, const QString& json) {
    if (kind != QLatin1String("window_nll")) return;
    const QJsonObject o = QJsonDocument::fromJson(json.toUtf8()).object();
    std::vector<double> nll;
    for (const QJsonValue& v : o.value(QLatin1String("nll")).toArray()) nll.push_back(v.toDouble());
    panel_->appendWindowNll(o.value(QLatin1String("first")).toInteger(), nll, o.value(QLatin1String("windows")).toInteger());
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

void MainWindow::registerRunner(widgets::JobRunner* runner, const QString& label,
                                std::function<QString()> job, std::function<QString()> failTitle) {
  runners_.push_back(runner);
  if (!label.isEmpty()) jobs_->watch(runner, label);
  if (!job) return;
  connect(runner, &widgets::JobRunner::failed, this,
          [this, job, failTitle](quint64, const QString& message) {
            Q_EMIT jobEnded(job(), false);
            showError(failTitle(), message);
          });
  connect(runner, &widgets::JobRunner::cancelled, this, [this, job](quint64) {
    statusBar()->showMessage(tr("The %1 was cancelled").arg(job()), 8000);  // not "Sensitivity analysis..." left behind
    Q_EMIT jobEnded(job(), false);
  });
}

QDockWidget* MainWindow::addView(const QString& title, const char* objectName, const char* view,
                                 QWidget* content, bool margins, bool scroll) {
  QWidget* widget = content;
  if (margins) {
    widget = new QWidget;
    auto* layout = new QVBoxLayout(widget);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(content, 1);
  }
  if (scroll) {
    // Scrolls rather than forcing the window wider or taller than a small screen.
    auto* area = new QScrollArea;
    area->setWidget(widget);
    area->setWidgetResizable(true);
    area->setFrameShape(QFrame::NoFrame);
    widget = area;
  }
  auto* dock = new QDockWidget(title, this);
  dock->setObjectName(QLatin1String(objectName));  // the key of the saved layout
  dock->setWidget(widget);
  addDockWidget(Qt::LeftDockWidgetArea, dock);  // placed by the layout resource (placeDocks)
  views_.emplace_back(dock, QLatin1String(view));
  return dock;
}

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->setToolTipsVisible(true);
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
  projectMenu->setToolTipsVisible(true);
  QAction* calibrateAction = projectMenu->addAction(tr("&New project (calibrate)\u2026"), this,
                                                    &MainWindow::chooseCalibration);
  calibrateAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_N));
  calibrateAction_ = calibrateAction;
  sensitivityAction_ = projectMenu->addAction(tr("Run &sensitivity analysis\u2026"), this, &MainWindow::chooseSensitivity);
  probingAction_ = projectMenu->addAction(tr("Run multi-source &probing\u2026"), this, &MainWindow::chooseProbing);
  resumeSensitivityAction_ = projectMenu->addAction(tr("&Resume the cancelled sensitivity run"), this, [this] {
    if (!resumableSensitivity_) return;
    SensitivityJobOptions r = *resumableSensitivity_;
    r.resume = true;  // the last unfinished run of the project, with the same settings
    runSensitivity(r);
  });
  resumeSensitivityAction_->setEnabled(false);
  resumeSensitivityAction_->setToolTip(tr("Enabled after a sensitivity run of this window is cancelled"));

  QMenu* search = menuBar()->addMenu(tr("&Search"));
  search->setToolTipsVisible(true);
  searchAction_ = search->addAction(tr("&Run search\u2026"), this, &MainWindow::chooseSearch);
  searchAction_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
  resumeSearchAction_ = search->addAction(tr("R&esume the cancelled search"), this, [this] {
    if (!resumableSearch_) return;
    SearchJobOptions r = *resumableSearch_;
    r.resume = true;  // the last unfinished search run, with the same settings
    startSearch(r);
  });
  resumeSearchAction_->setEnabled(false);
  resumeSearchAction_->setToolTip(tr("Enabled after a search of this window is cancelled"));
  updateStudy([](widgets::StudyState&) {});  // what needs a model or a project says so

  QMenu* view = menuBar()->addMenu(tr("&View"));

  view->addAction(startDock_->toggleViewAction());
  view->addAction(treeDock_->toggleViewAction());
  view->addAction(architectureDock_->toggleViewAction());
  view->addAction(evaluateDock_->toggleViewAction());
  view->addAction(paretoDock_->toggleViewAction());
  view->addAction(sensitivityDock_->toggleViewAction());
  view->addAction(editorDock_->toggleViewAction());
  view->addAction(mapDock_->toggleViewAction());
  view->addAction(comparisonDock_->toggleViewAction());
  view->addAction(saliencyDock_->toggleViewAction());
  view->addAction(probingDock_->toggleViewAction());
  view->addAction(jobsDock_->toggleViewAction());
  view->addAction(resultsDock_->toggleViewAction());
  view->addAction(explainDock_->toggleViewAction());
  view->addAction(demoDock_->toggleViewAction());
  view->addAction(tr("&Reset layout"), this, &MainWindow::useDefaultLayout);
  view->addSeparator();
  QAction* dark = view->addAction(tr("&Dark palette"));
  dark->setCheckable(true);
  dark->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_D));
  dark->setChecked(QSettings().value(QStringLiteral("view/dark"), false).toBool());
  connect(dark, &QAction::toggled, this, &MainWindow::setDarkPalette);

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  QAction* guide = help->addAction(tr("Workbench &guide"), this, &MainWindow::showGuide);
  guide->setShortcut(QKeySequence::HelpContents);  // F1
  QAction* keys = help->addAction(tr("&Keyboard shortcuts"), this, &MainWindow::showShortcuts);
  keys->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Slash));
  help->addAction(tr("&Start page"), this, [this] { showView(QStringLiteral("start")); });
  help->addAction(tr("Guided &demo"), this, [this] { showView(QStringLiteral("demo")); });
  help->addSeparator();
  help->addAction(tr("&About Bitscape"), this, &MainWindow::showAbout);
  help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
}

void MainWindow::restoreLayout() {
  QSettings settings;
  const QByteArray geometry = settings.value(QStringLiteral("window/geometry")).toByteArray();
  const QByteArray state = settings.value(QStringLiteral("window/state")).toByteArray();
  if (geometry.isEmpty() || !restoreGeometry(geometry) || state.isEmpty() ||
      !restoreState(state, kLayoutVersion))
    useDefaultLayout();
}

void MainWindow::showEvent(QShowEvent* event) {
  QMainWindow::showEvent(event);
  if (!layoutPending_) return;
  // Qt lays the docks of a window shown for the first time out from their size hints and
  // ignores resizeDocks until then: the default layout is applied again now that the window is
  // visible, before its first paint.
  layoutPending_ = false;
  placeDocks(*this, defaultDockLayout());
  this->layout()->activate();
  sizeDocks(*this, defaultDockLayout());
}

void MainWindow::useDefaultLayout() {
  if (!isVisible()) layoutPending_ = true;
  const DockLayout& layout = defaultDockLayout();  // resources/layout/default.json
  placeDocks(*this, layout);
  this->layout()->activate();  // the minimum size of the new arrangement, not of the old one
  resize(layout.window);
  // Dock sizes apply once the window is laid out.
  QTimer::singleShot(0, this, [this] { sizeDocks(*this, defaultDockLayout()); });
}

void MainWindow::closeEvent(QCloseEvent* event) {
  keepUnsavedAllocation();
  QSettings settings;
  settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
  settings.setValue(QStringLiteral("window/state"), saveState(kLayoutVersion));
  saveEvaluationSettings();
  for (widgets::JobRunner* r : runners_) r->cancel();
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
  updateStudy([](widgets::StudyState& st) { st.model = true; });
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
  o.project = projectPath_.toStdString();  // kept in the project (the results table) when one is open
  if (r.subject == QLatin1String("allocation")) {
    if (editor_->model()->rowCount() == 0) {
      showError(tr("Evaluation"), tr("The editor holds no allocation yet."));
      return;
    }
    o.allocation = editor_->model()->allocation();
    if (o.allocation->name.empty()) o.allocation->name = "edited";
    o.label = QStringLiteral("%1 (%2 bits)")
                  .arg(QString::fromStdString(o.allocation->name))
                  .arg(editor_->model()->cost().average_bits, 0, 'f', 3)
                  .toStdString();
  }

  runningJob_ = QStringLiteral("evaluate");
  // The last result stays shown (labelled) until this one replaces it, also after a cancel.
  panel_->showMessage(tr("Starting\u2026"));
  showView(QStringLiteral("evaluate"));
  std::shared_ptr<Engine> engine = engine_;
  runner_->start(
      QStringLiteral("evaluate"),
      [engine, o](ProgressSink& progress, const CancelToken& cancel) {
        return engine->evaluate(o, progress, cancel);
      },
      [this](EvaluationOutcome outcome) {
        const PerplexityResult& result = outcome.result;
        panel_->showResult(result, evaluationLabel(outcome.record));
        panel_->showMessage(outcome.record.name.empty()
                                ? tr("Done (not kept: no project is open).")
                                : tr("Done; kept in the project as %1 (Results).")
                                      .arg(QString::fromStdString(outcome.record.name)));
        if (!outcome.record.name.empty()) {
          results_->addRecord(outcome.record);
          updateOverlay();
          comparison_->refresh();
        }
        statusBar()->showMessage(tr("Evaluation finished"), 5000);
        Q_EMIT jobEnded(QStringLiteral("evaluate"), true);
      });
}

QString MainWindow::evaluationLabel(const EvaluationRecord& r) {
  return QStringLiteral("%1  \u00B7  %2  \u00B7  %3 windows of %4 tokens  \u00B7  %5 %6")
      .arg(QString::fromStdString(r.label), QFileInfo(QString::fromStdString(r.data)).fileName())
      .arg(r.windows)
      .arg(r.seqlen)
      .arg(QString::fromStdString(r.device), QString::fromStdString(r.dtype));
}

std::string MainWindow::allocationKey(const Allocation& a) const {
  // The settings alone (not the name): equal allocations from a point, an edit or a result meet.
  nlohmann::json j = a.to_json(editor_->model()->shapes());
  j.erase("name");
  return j.dump();
}

void MainWindow::rememberMeasure(const Allocation& a, const QString& line) {
  if (editor_->model()->rowCount() == 0) return;
  QStringList& lines = measures_[allocationKey(a)];
  if (!lines.contains(line)) lines << line;
}

QStringList MainWindow::measuresOf(const Allocation& a) const {
  if (editor_->model()->rowCount() == 0) return {};
  const std::string key = allocationKey(a);
  QStringList lines;
  if (auto it = measures_.find(key); it != measures_.end()) lines = it->second;
  // Perplexities on named data from the results table.
  for (const EvaluationRecord& e : results_->records()) {
    if (e.allocation_json.empty()) continue;
    try {
      nlohmann::json j = parse_json(e.allocation_json, projectPath_.toStdString(), "evaluation " + e.name);
      j.erase("name");
      if (j.dump() != key) continue;
    } catch (const std::exception&) {
      continue;
    }
    lines << tr("perplexity %1 on %2 (%3 windows of %4, %5)")
                 .arg(e.ppl, 0, 'f', 3)
                 .arg(QFileInfo(QString::fromStdString(e.data)).fileName())
                 .arg(e.windows)
                 .arg(e.seqlen)
                 .arg(QString::fromStdString(e.label));
  }
  return lines;
}

void MainWindow::writeResults() {
  // One write job at a time (a new start would cancel the running one): the records changed
  // meanwhile go with the next.
  if (resultsRunner_->isRunning() || pendingResults_.empty()) return;
  // Each into the project it belongs to (the window may have opened another since).
  std::vector<std::pair<std::string, EvaluationRecord>> records;
  for (const auto& [key, record] : pendingResults_) records.emplace_back(key.first, record);
  pendingResults_.clear();
  resultsRunner_->start(
      QStringLiteral("results"),
      [records](ProgressSink&, const CancelToken&) {
        for (const auto& [project, r] : records) Engine::updateEvaluation(project, r);
        return true;
      },
      [this](bool) { QTimer::singleShot(0, this, &MainWindow::writeResults); });
}

void MainWindow::updateOverlay() {
  // The results table's pinned allocations over the front (perplexity view), one run per data.
  std::vector<SearchPoint> points;
  QStringList data;
  for (const EvaluationRecord& e : results_->records()) {
    if (!e.pinned || e.hidden || e.subject != "allocation" || !std::isfinite(e.average_bits)) continue;
    SearchPoint p;
    p.method = "evaluated";
    p.average_bits = e.average_bits;
    p.ppl = e.ppl;
    p.index = std::strtoll(e.name.c_str() + 4, nullptr, 10);
    points.push_back(p);
    const QString file = QFileInfo(QString::fromStdString(e.data)).fileName();
    if (!data.contains(file)) data << file;
  }
  pareto_->setOverlay(tr("pinned evaluations (%1)").arg(data.isEmpty() ? tr("none") : data.join(QStringLiteral(", "))),
                      points);
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
    // Disabled text greyed, as the light palette does (without this, disabled buttons and
    // menu entries looked enabled).
    const QColor disabled(0x7a, 0x7c, 0x80);
    for (QPalette::ColorRole role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
      p.setColor(QPalette::Disabled, role, disabled);
    p.setColor(QPalette::Disabled, QPalette::Button, QColor(0x33, 0x35, 0x39));
    p.setColor(QPalette::Disabled, QPalette::Base, QColor(0x26, 0x27, 0x2a));
    p.setColor(QPalette::Disabled, QPalette::Highlight, QColor(0x4a, 0x4c, 0x50));
    QApplication::setPalette(p);
  }
}

void MainWindow::updateStudy(const std::function<void(widgets::StudyState&)>& change) {
  change(study_);
  start_->setState(study_);
  // A disabled action says why (in its tooltip and the status bar), as the start page does.
  const QString why = widgets::StartPage::disabledReason(widgets::StartPage::kSearch, study_);
  searchAction_->setEnabled(why.isEmpty() && !searchRunner_->isRunning());
  searchAction_->setToolTip(searchRunner_->isRunning() ? tr("A search is running (cancel it in the status bar).") : why);
  searchAction_->setStatusTip(searchAction_->toolTip());
  for (QAction* a : {sensitivityAction_, probingAction_, saveProjectAction_}) {
    a->setEnabled(why.isEmpty());
    a->setToolTip(why);
    a->setStatusTip(why);
  }
  const QString needsModel = widgets::StartPage::disabledReason(widgets::StartPage::kCalibrate, study_);
  calibrateAction_->setEnabled(needsModel.isEmpty());
  calibrateAction_->setToolTip(needsModel);
  calibrateAction_->setStatusTip(needsModel);
}

void MainWindow::showGuide() {
  // docs/workbench.md, compiled in (resources/bitscape.qrc), so that Help works offline and
  // installed.
  QFile f(QStringLiteral(":/docs/workbench.md"));
  QString text = f.open(QIODevice::ReadOnly) ? QString::fromUtf8(f.readAll()) : tr("The guide is missing from this build.");
  auto* dialog = new QDialog(this);
  dialog->setObjectName(QStringLiteral("guide"));
  dialog->setWindowTitle(tr("Bitscape workbench guide"));
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  auto* browser = new QTextBrowser;
  browser->setObjectName(QStringLiteral("guideText"));
  browser->setMarkdown(text);
  browser->setOpenExternalLinks(true);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close);
  connect(buttons, &QDialogButtonBox::rejected, dialog, &QDialog::close);
  auto* layout = new QVBoxLayout(dialog);
  layout->addWidget(browser, 1);
  layout->addWidget(buttons);
  dialog->resize(900, 700);
  dialog->show();
}

QString MainWindow::shortcutSheet() const {
  // Every menu action with a shortcut, by menu, as the menus hold them (so the sheet cannot
  // drift from them).
  QString html = QStringLiteral("<table cellspacing=4>");
  for (QAction* menuAction : menuBar()->actions()) {
    QMenu* menu = menuAction->menu();
    if (!menu) continue;
    QString rows;
    for (QAction* a : menu->actions())
      if (!a->shortcut().isEmpty())
        rows += QStringLiteral("<tr><td><b>%1</b></td><td>%2</td></tr>")
                    .arg(a->shortcut().toString(QKeySequence::NativeText).toHtmlEscaped(),
                         QString(a->text()).remove(QLatin1Char('&')).toHtmlEscaped());
    if (!rows.isEmpty())
      html += QStringLiteral("<tr><td colspan=2><i>%1</i></td></tr>").arg(QString(menuAction->text()).remove(QLatin1Char('&'))) + rows;
  }
  html += QStringLiteral("<tr><td colspan=2><i>%1</i></td></tr>").arg(tr("Plots"));
  for (const auto& [key, what] : std::initializer_list<std::pair<const char*, const char*>>{
           {"drag", "zoom into a box (Pareto front)"},
           {"Ctrl+drag", "pan"},
           {"wheel", "zoom"},
           {"double-click", "reset the view (or right-click \u203A Reset view)"},
           {"click a legend entry", "hide or show that run"},
           {"right-click", "export as PNG, SVG or PDF"}})
    html += QStringLiteral("<tr><td><b>%1</b></td><td>%2</td></tr>").arg(tr(key), tr(what));
  return html + QStringLiteral("</table>");
}

void MainWindow::showShortcuts() {
  QMessageBox* box = new QMessageBox(QMessageBox::NoIcon, tr("Keyboard shortcuts"), shortcutSheet(), QMessageBox::Close, this);
  box->setObjectName(QStringLiteral("shortcuts"));
  box->setTextFormat(Qt::RichText);
  box->setAttribute(Qt::WA_DeleteOnClose);
  box->open();
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

}  // namespace bitscape::gui
