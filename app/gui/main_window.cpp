#include "main_window.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QMimeData>
#include <QFileDialog>
#include <QFileInfo>
#include <QGroupBox>
#include <QHeaderView>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QScrollArea>
#include <QSettings>
#include <QStatusBar>
#include <QTimer>
#include <QTreeView>
#include <QVBoxLayout>

#include "bitscape/widgets/about_text.h"
#include "bitscape/widgets/format.h"
#include "bitscape/widgets/job_runner.h"
#include "bitscape/widgets/model_summary_view.h"
#include "bitscape/widgets/model_tree_model.h"
#include "bitscape/widgets/pareto_panel.h"
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
      projectRunner_(new widgets::JobRunner(this)) {
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
  header->setSectionResizeMode(widgets::ModelTreeModel::NameColumn, QHeaderView::Stretch);
  for (int c = widgets::ModelTreeModel::KindColumn; c < widgets::ModelTreeModel::ColumnCount; ++c)
    header->setSectionResizeMode(c, QHeaderView::ResizeToContents);
  header->setMinimumSectionSize(60);
  treeDock_ = new QDockWidget(tr("Model"), this);
  treeDock_->setObjectName(QStringLiteral("modelDock"));
  treeDock_->setWidget(tree_);
  treeDock_->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable |
                         QDockWidget::DockWidgetClosable);
  addDockWidget(Qt::LeftDockWidgetArea, treeDock_);

  // Right: the Pareto front of the project's searches and the sensitivity heatmap.
  pareto_ = new widgets::ParetoPanel;
  auto* paretoBox = new QWidget;
  auto* paretoLayout = new QVBoxLayout(paretoBox);
  paretoLayout->setContentsMargins(4, 4, 4, 4);
  paretoLayout->addWidget(pareto_, 1);
  paretoDock_ = new QDockWidget(tr("Pareto front"), this);
  paretoDock_->setObjectName(QStringLiteral("paretoDock"));
  paretoDock_->setWidget(paretoBox);
  addDockWidget(Qt::RightDockWidgetArea, paretoDock_);

  sensitivity_ = new widgets::SensitivityPanel;
  auto* sensitivityBox = new QWidget;
  auto* sensitivityLayout = new QVBoxLayout(sensitivityBox);
  sensitivityLayout->setContentsMargins(4, 4, 4, 4);
  sensitivityLayout->addWidget(sensitivity_);
  sensitivityDock_ = new QDockWidget(tr("Sensitivity"), this);
  sensitivityDock_->setObjectName(QStringLiteral("sensitivityDock"));
  sensitivityDock_->setWidget(sensitivityBox);
  addDockWidget(Qt::RightDockWidgetArea, sensitivityDock_);
  connect(sensitivity_, &widgets::SensitivityPanel::moduleSelected, this,
          [this](const QString& module) { statusBar()->showMessage(module, 8000); });
  connect(pareto_, &widgets::ParetoPanel::pointClicked, this, [this](int run, int index) {
    statusBar()->showMessage(pareto_->summary(run, index).replace('\n', QStringLiteral("; ")), 15000);
  });
  connect(projectRunner_, &widgets::JobRunner::failed, this, [this](quint64, const QString& message) {
    Q_EMIT jobEnded(QStringLiteral("project"), false);
    showError(tr("Could not open the project"), message);
  });
  connect(projectRunner_, &widgets::JobRunner::cancelled, this,
          [this](quint64) { Q_EMIT jobEnded(QStringLiteral("project"), false); });

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

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  QAction* open = file->addAction(tr("&Open model\u2026"), this, &MainWindow::chooseModel);
  open->setShortcut(QKeySequence::Open);
  QAction* openProjectAction =
      file->addAction(tr("Open &project\u2026"), this, &MainWindow::chooseProject);
  openProjectAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
  recentMenu_ = file->addMenu(tr("Open &recent"));
  fillRecentMenu();
  file->addSeparator();
  QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
  quit->setShortcut(QKeySequence::Quit);

  QMenu* view = menuBar()->addMenu(tr("&View"));
  view->addAction(treeDock_->toggleViewAction());
  view->addAction(paretoDock_->toggleViewAction());
  view->addAction(sensitivityDock_->toggleViewAction());

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

void MainWindow::closeEvent(QCloseEvent* event) {
  QSettings settings;
  settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
  settings.setValue(QStringLiteral("window/state"), saveState());
  saveEvaluationSettings();
  runner_->cancel();
  projectRunner_->cancel();
  QMainWindow::closeEvent(event);
}

namespace {
QString droppedDirectory(const QMimeData* mime) {
  if (mime == nullptr || !mime->hasUrls() || mime->urls().size() != 1) return QString();
  const QString path = mime->urls().first().toLocalFile();
  return QFileInfo(path).isDir() ? path : QString();
}
}  // namespace

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  if (!droppedDirectory(event->mimeData()).isEmpty()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
  const QString dir = droppedDirectory(event->mimeData());
  if (dir.isEmpty()) return;
  event->acceptProposedAction();
  openModel(dir);
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
  setWindowTitle(tr("%1 \u2014 Bitscape").arg(name));
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
  o.device = r.device.toStdString();
  o.dtype = r.dtype.toStdString();
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
  QMessageBox::warning(this, title, message);
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
  for (const QString& dir : recent)
    recentMenu_->addAction(dir, this, [this, dir] { openModel(dir); });
  recentMenu_->setEnabled(!recent.isEmpty());
}

void MainWindow::chooseProject() {
  const QString path = QFileDialog::getOpenFileName(
      this, tr("Open project"), QString(), tr("Bitscape projects (*.bsproj.h5 *.h5)"));
  if (!path.isEmpty()) openProject(path);
}

void MainWindow::openProject(const QString& path) {
  statusBar()->showMessage(tr("Reading %1\u2026").arg(path));
  projectRunner_->start(
      QStringLiteral("project"),
      [p = path.toStdString()](ProgressSink& progress, const CancelToken& cancel) {
        return Engine::readProject(p, progress, cancel);
      },
      [this, path](ProjectContents contents) {
        pareto_->clear();
        for (const SearchRunRecord& run : contents.search_runs) {
          const int id = pareto_->addRun(QString::fromStdString(run.name + " (" + run.method + ")"));
          for (const SearchPoint& p : run.points) pareto_->addPoint(id, p);
        }
        sensitivity_->clear();
        // The last complete sensitivity run (else the last one).
        const ProjectContents::Sensitivity* shown = nullptr;
        for (const auto& s : contents.sensitivity_runs)
          if (s.info.status == "complete" || !shown) shown = &s;
        if (shown)
          sensitivity_->setCurves(QString::fromStdString(shown->info.name), shown->curves);
        statusBar()->showMessage(
            tr("%1: %2 search runs, %3 sensitivity runs")
                .arg(QFileInfo(path).fileName())
                .arg(contents.search_runs.size())
                .arg(contents.sensitivity_runs.size()),
            8000);
        Q_EMIT projectOpened(path);
        Q_EMIT jobEnded(QStringLiteral("project"), true);
      });
}

}  // namespace bitscape::gui
