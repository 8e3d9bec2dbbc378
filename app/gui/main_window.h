// The workbench's main window: the model tree (left dock), the architecture summary and the
// perplexity panel, the Pareto front, heatmap, editor, saliency, probing, jobs and demo docks.
// Long work goes through a JobRunner (one registry: registerRunner) into the Engine on a worker
// thread. Its definitions are split along its seams: main_window.cpp (construction, docks,
// menus, the model and its evaluation, palette, screenshots), main_window_project.cpp
// (projects, searches, points, edits, allocation files), main_window_analysis.cpp (calibration,
// sensitivity, probing), main_window_saliency.cpp (saliency and channel marks),
// main_window_demo.cpp (the guided demo), main_window_settings.cpp (the Settings dialog).
#pragma once

#include <QMainWindow>
#include <QString>
#include <QStringList>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bitscape/doctor.h"
#include "engine.h"
#include "bitscape/model_info.h"
#include "bitscape/widgets/start_page.h"

class QDockWidget;
class QLabel;
class QMenu;
class QProgressBar;
class QPushButton;
class QTextBrowser;
class QTimer;
class QTreeView;

namespace bitscape::widgets {
class JobRunner;
class ModelSummaryView;
class ModelTreeModel;
class PerplexityPanel;
class ParetoPanel;
class AllocationEditor;
class AllocationMap;
class JobsPanel;
class DemoPanel;
class SaliencyView;
class ProbingView;
class SensitivityPanel;
class StartPage;
class ResultsTable;
class ComparisonView;
}  // namespace bitscape::widgets

namespace bitscape::gui {

class Engine;

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  void openModel(const QString& dir);
  // Reads a project (*.bsproj.h5) in the background and shows its search runs in the Pareto
  // view and its last sensitivity run in the heatmap.
  void openProject(const QString& path);
  // Copies the open project to `path` in the background (job "save-project"), then opens the copy.
  void saveProjectAs(const QString& path);
  // Runs a search on the open project in the background; its points appear in the Pareto view
  // as they are measured. Needs an open project.
  void startSearch(SearchJobOptions request);
  void chooseSearch();  // the Search dialog
  QString projectPath() const { return projectPath_; }
  // Loads the allocation behind point `index` of the Pareto view's run `run` into the editor.
  void loadPoint(int run, int index);
  // Measures the editor's allocation in the background; the point joins the Pareto view.
  void evaluateAllocation(const Allocation& allocation);
  widgets::AllocationEditor* allocationEditor() const { return editor_; }
  widgets::AllocationMap* allocationMap() const { return map_; }
  widgets::JobsPanel* jobsPanel() const { return jobs_; }
  widgets::DemoPanel* demoPanel() const { return demo_; }
  widgets::SaliencyView* saliencyView() const { return saliency_; }
  widgets::ProbingView* probingView() const { return probing_; }
  widgets::StartPage* startPage() const { return start_; }
  widgets::ResultsTable* resultsTable() const { return results_; }
  widgets::ComparisonView* comparisonView() const { return comparison_; }
  // Project > Resume the cancelled sensitivity run / Search > Resume the cancelled search.
  QAction* resumeSensitivityAction() const { return resumeSensitivityAction_; }
  QAction* resumeSearchAction() const { return resumeSearchAction_; }
  // Shows a module's saliency maps from the open project (read in the background; job
  // "saliency"), with the channels the editor's allocation keeps at other bits marked.
  void showSaliency(const QString& module);
  // Calibrates the open model into a new project, then opens it (job "calibrate", then
  // "project"); runs a sensitivity analysis on the open project, then reloads it.
  void calibrate(CalibrationJobOptions request);
  void runSensitivity(SensitivityJobOptions request);
  // Runs TAMMP's multi-source probing on the open project (job "probing"), then shows the
  // selected module's probe.
  void runProbing(ProbingJobOptions request);
  // Loads TAMMP's allocation (strategy 1 or 2) of the project's last probing run into the editor.
  void loadTammpAllocation(int strategy);
  // The guided demo's step `step` (0-5); `demoDir` holds its project and figures.
  void runDemoStep(int step);
  void setDemoDir(const QString& dir) { demoDir_ = dir; }
  // Autoplay (`bitscape --demo DIR`): the demo makes the example edit itself (every down_proj to
  // 4 bits) instead of waiting for the student's, and replaces an open project without asking.
  void setDemoAutoplay(bool on) { demoAutoplay_ = on; }
  // The demo's answer to "did the edit pay for its bits?": the last measured edit against the
  // front of the search it edited, with the numbers ("" before both exist).
  QString demoVerdict() const;
  // Where every job runs: the device and dtype chosen in the evaluate panel (and in Settings),
  // the GPU memory from Settings. The jobs check them (CUDA missing is the job's error).
  DeviceOptions jobDevice() const;
  // Exports the Pareto front, the sensitivity heatmap and the allocation map (grid and bars) as
  // PNG, SVG and PDF into `dir`; returns the files written.
  QStringList exportFigures(const QString& dir);
  // The figures exportFigures and the demo write: each plot with its file name (no extension).
  std::vector<std::pair<QWidget*, QString>> figurePlots() const;
  // Brings a view's dock to the front: "model", "allocation", "pareto", "sensitivity",
  // "allocation-map", "saliency", "probing", "jobs", "explain", "architecture", "evaluate",
  // "start", "demo".
  void showView(const QString& view);
  // Loads an allocation file (*.alloc.json) into the editor / saves the editor's allocation.
  bool loadAllocationFile(const QString& path);
  bool saveAllocationFile(const QString& path);
  // Saves the whole window and each view (its dock raised) as PNG files in `dir`: workbench,
  // model, allocation, pareto, sensitivity, allocation-map, saliency, probing. Returns the files
  // written.
  QStringList saveScreenshots(const QString& dir);
  // Light or dark palette (View > Dark palette), kept in the settings.
  void setDarkPalette(bool dark);
  // The application palette alone (main() applies the saved one before the window exists, so
  // that the plots take it too).
  static void applyPalette(bool dark);
  QString explainedView() const { return explainedView_; }
  widgets::ParetoPanel* paretoPanel() const { return pareto_; }
  widgets::SensitivityPanel* sensitivityPanel() const { return sensitivity_; }
  void evaluate();
  // Window geometry and dock state from the last session, or the default layout.
  void restoreLayout();
  // The default layout (resources/layout/default.json; View > Reset layout): 1680 x 980, the
  // model tree and the Pareto front each ~34 % of the width.
  void useDefaultLayout();
  widgets::PerplexityPanel* perplexityPanel() const { return panel_; }

 Q_SIGNALS:
  void modelOpened(const QString& dir);
  void projectOpened(const QString& path);
  void demoStepEnded(int step, bool ok);
  // A job ended (finished, failed or cancelled); `what` is "open", "evaluate" or "project".
  void jobEnded(const QString& what, bool ok);
  // An error message was shown to the user (in a window-modal message box).
  void errorShown(const QString& title, const QString& message);

 protected:
  void closeEvent(QCloseEvent* event) override;
  void showEvent(QShowEvent* event) override;
  // A model directory dropped on the window opens it.
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;

 private:
  void buildMenus();
  void chooseModel();
  void chooseProject();
  void showAbout();
  void showError(const QString& title, const QString& message);
  void rememberRecent(const QString& dir);
  void fillRecentMenu();
  void setDoctor(const DoctorReport& report);
  void setModel(const QString& dir, const ModelSummary& summary);
  void saveEvaluationSettings() const;
  // The one registry of the window's job runners: every registered runner is cancelled when the
  // window closes; with a label it is shown in the Jobs panel; with `job`, its failure or cancel
  // emits jobEnded(job(), false), and a failure shows failTitle() with the message.
  void registerRunner(widgets::JobRunner* runner, const QString& label = QString(),
                      std::function<QString()> job = {}, std::function<QString()> failTitle = {});
  std::vector<widgets::JobRunner*> runners_;
  MeasureAllocationOptions measureOptions(const Allocation& allocation) const;
  // The editor's allocation, when it has edits not saved to a file or the project, is kept on
  // close (in the application's data folder) and restored when the same model opens next.
  void keepUnsavedAllocation();
  void restoreUnsavedAllocation(const QString& dir);

  std::shared_ptr<Engine> engine_;
  widgets::JobRunner* runner_ = nullptr;        // open model, evaluate
  widgets::JobRunner* doctorRunner_ = nullptr;  // the machine report at start
  widgets::JobRunner* projectRunner_ = nullptr; // reading a project, saving it as a copy
  QString projectJob_;                            // "project" or "save-project"
  widgets::JobRunner* searchRunner_ = nullptr;  // a search on the project
  QString projectPath_;
  QString explainedView_;
  std::vector<std::pair<QDockWidget*, QString>> views_;  // every dock by view name
  // A view's dock (object name for the saved layout and the layout resource, view name for
  // showView, screenshots and the explain panel); where it goes is the layout resource's
  // (dock_layout.h); `margins` wraps the content in a 4 px frame, `scroll` in a scroll area
  // (for content whose minimum size would force the window larger on a small screen).
  QDockWidget* addView(const QString& title, const char* objectName, const char* view, QWidget* content,
                       bool margins = true, bool scroll = false);
  QDockWidget* dockOf(const QString& view) const;
  widgets::JobRunner* analysisRunner_ = nullptr;  // calibration, sensitivity
  widgets::DemoPanel* demo_ = nullptr;
  widgets::SaliencyView* saliency_ = nullptr;
  QDockWidget* saliencyDock_ = nullptr;
  widgets::ProbingView* probing_ = nullptr;
  QDockWidget* probingDock_ = nullptr;
  widgets::JobRunner* saliencyRunner_ = nullptr;
  QDockWidget* demoDock_ = nullptr;
  QString demoDir_;
  int demoStep_ = -1;           // the running demo step
  QString demoWaitsFor_;        // the job whose end finishes it ("edit": the student's edit)
  bool demoAutoplay_ = false;
  int demoRun_ = -1;            // the Pareto run of the demo's search
  QMetaObject::Connection demoEdit_;  // waits for the student's edit (step 4)
  void startDemoStep(int step);
  QString runningAnalysis_;     // "calibrate" or "sensitivity"
  void chooseCalibration();
  void showSettings();
  void chooseSensitivity();
  void chooseProbing();
  // Starts a calibration, sensitivity or probing job (they share analysisRunner_): `job` names it
  // in jobEnded, `done` runs with its result on the GUI thread.
  void startAnalysis(const QString& job, const QString& status,
                     std::function<std::string(ProgressSink&, const CancelToken&)> work,
                     std::function<void(const std::string&)> done);
  // Reads the saliency and probe of `module` (job "saliency") / recomputes the marks of the
  // shown module from the editor's allocation (job "marks").
  void readSaliency(const QString& module);
  void refreshChannelMarks();
  widgets::JobRunner* marksRunner_ = nullptr;
  QTimer* marksTimer_ = nullptr;
  void finishDemoStep(bool ok, const QString& note = QString());
  widgets::JobRunner* measureRunner_ = nullptr;  // measuring an edited allocation
  widgets::AllocationEditor* editor_ = nullptr;
  QDockWidget* editorDock_ = nullptr;
  widgets::AllocationMap* map_ = nullptr;
  QDockWidget* mapDock_ = nullptr;
  widgets::JobsPanel* jobs_ = nullptr;
  QDockWidget* jobsDock_ = nullptr;
  QTextBrowser* explain_ = nullptr;
  QDockWidget* explainDock_ = nullptr;
  std::vector<QString> paretoRunNames_;  // stored run name per Pareto run id ("" = not stored)
  int editedRun_ = -1;                   // the Pareto run of measured edited allocations
  std::vector<QString> editNames_;       // their records in the project, by point index
  void addEditedPoint(const SearchPoint& point, const QString& name);
  int liveRun_ = -1;  // the Pareto view's run of the running search
  QAction* searchAction_ = nullptr;
  QAction* calibrateAction_ = nullptr;
  // Resume from the window (as the CLI's --resume): a cancelled sensitivity run or search of this
  // session continues with the same options; the actions are enabled while there is one.
  std::optional<SensitivityJobOptions> resumableSensitivity_;
  std::optional<SearchJobOptions> resumableSearch_;
  QAction* resumeSensitivityAction_ = nullptr;
  QAction* resumeSearchAction_ = nullptr;
  QAction* sensitivityAction_ = nullptr;
  QAction* probingAction_ = nullptr;
  QAction* saveProjectAction_ = nullptr;
  QProgressBar* searchProgress_ = nullptr;
  widgets::ParetoPanel* pareto_ = nullptr;
  QDockWidget* paretoDock_ = nullptr;
  widgets::SensitivityPanel* sensitivity_ = nullptr;
  QDockWidget* sensitivityDock_ = nullptr;
  widgets::ModelTreeModel* treeModel_ = nullptr;
  QTreeView* tree_ = nullptr;
  QDockWidget* treeDock_ = nullptr;
  QLabel* title_ = nullptr;
  QLabel* path_ = nullptr;
  widgets::ModelSummaryView* summary_ = nullptr;
  widgets::PerplexityPanel* panel_ = nullptr;
  QDockWidget* architectureDock_ = nullptr;
  QDockWidget* evaluateDock_ = nullptr;
  widgets::StartPage* start_ = nullptr;
  QDockWidget* startDock_ = nullptr;
  // Where the user is in the study (the start page's marks and which step it points at).
  void updateStudy(const std::function<void(widgets::StudyState&)>& change);
  widgets::StudyState study_;
  widgets::ResultsTable* results_ = nullptr;
  QDockWidget* resultsDock_ = nullptr;
  widgets::JobRunner* resultsRunner_ = nullptr;  // writing changed results back
  // Changed results not yet written, by (project, record name).
  std::map<std::pair<std::string, std::string>, EvaluationRecord> pendingResults_;
  void writeResults();
  static QString evaluationLabel(const EvaluationRecord& record);
  void updateOverlay();
  // What is known of an allocation's quality (the comparison view): measured points and edits
  // (KL, perplexity on the search's windows) by the allocation's settings, and the results.
  widgets::ComparisonView* comparison_ = nullptr;
  QDockWidget* comparisonDock_ = nullptr;
  std::map<std::string, QStringList> measures_;
  std::string allocationKey(const Allocation& a) const;
  void rememberMeasure(const Allocation& a, const QString& line);
  QStringList measuresOf(const Allocation& a) const;
  bool layoutPending_ = false;  // the default layout, applied before the first show, again after it
  // Help: the workbench guide (F1), the keyboard shortcuts.
  void showGuide();
  void showShortcuts();

 public:
  // The shortcut sheet (Help > Keyboard shortcuts), from the menus' actions.
  QString shortcutSheet() const;

 private:
  QLabel* blasWarning_ = nullptr;
  QMenu* recentMenu_ = nullptr;
  QString modelDir_;
  QString runningJob_;  // "open" or "evaluate"
  std::optional<DoctorReport> doctor_;
  QString doctorText_;  // format_doctor(*doctor_)
};

}  // namespace bitscape::gui
