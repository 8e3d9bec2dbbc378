// The workbench's main window: the model tree (left dock), the architecture summary and the
// perplexity panel. Long work goes through a JobRunner into the Engine on a worker thread.
#pragma once

#include <QMainWindow>
#include <QString>
#include <QStringList>

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "bitscape/doctor.h"
#include "bitscape/model_info.h"

class QDockWidget;
class QLabel;
class QMenu;
class QTreeView;

namespace bitscape::widgets {
class JobRunner;
class ModelSummaryView;
class ModelTreeModel;
class PerplexityPanel;
class ParetoPanel;
class SensitivityPanel;
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
  widgets::ParetoPanel* paretoPanel() const { return pareto_; }
  widgets::SensitivityPanel* sensitivityPanel() const { return sensitivity_; }
  void evaluate();
  // Window geometry and dock state from the last session, or the default layout.
  void restoreLayout();
  void useDefaultLayout();  // 1360 x 860, the model tree taking ~46 % of the width
  widgets::PerplexityPanel* perplexityPanel() const { return panel_; }

 Q_SIGNALS:
  void modelOpened(const QString& dir);
  void projectOpened(const QString& path);
  // A job ended (finished, failed or cancelled); `what` is "open", "evaluate" or "project".
  void jobEnded(const QString& what, bool ok);

 protected:
  void closeEvent(QCloseEvent* event) override;
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

  std::shared_ptr<Engine> engine_;
  widgets::JobRunner* runner_ = nullptr;        // open model, evaluate
  widgets::JobRunner* doctorRunner_ = nullptr;  // the machine report at start
  widgets::JobRunner* projectRunner_ = nullptr; // reading a project
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
  QLabel* blasWarning_ = nullptr;
  QMenu* recentMenu_ = nullptr;
  QString modelDir_;
  QString runningJob_;  // "open" or "evaluate"
  std::optional<DoctorReport> doctor_;
  QString doctorText_;  // format_doctor(*doctor_)
};

}  // namespace bitscape::gui
