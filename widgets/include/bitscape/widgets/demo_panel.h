// The guided demo: the steps of a quantization study on the sample model (calibrate ->
// sensitivity -> search -> edit -> evaluate -> save the figures), each with what it does and
// why; "Run next step" asks the workbench to run the next one, and the list shows each step's
// state. The workbench does the work (MainWindow::runDemoStep).
#pragma once

#include <QString>
#include <QStringList>
#include <QWidget>

class QListWidget;
class QPushButton;
class QTextBrowser;

namespace bitscape::widgets {

class DemoPanel : public QWidget {
  Q_OBJECT

 public:
  enum class State { kPending, kRunning, kDone, kFailed };

  explicit DemoPanel(QWidget* parent = nullptr);

  static QStringList stepTitles();
  int stepCount() const;
  State state(int step) const;
  void setState(int step, State state, const QString& note = QString());
  // The first step not done (stepCount() when all are).
  int nextStep() const;
  QString note(int step) const;
  void reset();

 Q_SIGNALS:
  void runStep(int step);

 private:
  void refresh();

  QListWidget* steps_ = nullptr;
  QTextBrowser* text_ = nullptr;
  QPushButton* run_ = nullptr;
  std::vector<State> states_;
  QStringList notes_;
};

}  // namespace bitscape::widgets
