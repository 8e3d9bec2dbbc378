// The jobs dock: every job the workbench's runners start, with its stage, a progress bar, the
// estimated time left, a cancel button while it runs, how it ended, and its log (the selected
// job's lines below the list).
#pragma once

#include <QString>
#include <QWidget>
#include <vector>

class QPlainTextEdit;
class QTreeWidget;
class QTreeWidgetItem;

namespace bitscape::widgets {

class JobRunner;

class JobsPanel : public QWidget {
  Q_OBJECT

 public:
  explicit JobsPanel(QWidget* parent = nullptr);
  // Shows the jobs of a runner under `label` ("Evaluate", "Search", ...).
  void watch(JobRunner* runner, const QString& label);

  int jobCount() const;
  // Columns of a job's row: label, stage, progress text, ETA, state ("running", "finished",
  // "failed: ...", "cancelled").
  QString text(int job, int column) const;
  QString log(int job) const;
  // Cancels a running job as its row's button does.
  void cancel(int job);

 private:
  struct Entry {
    JobRunner* runner = nullptr;
    quint64 id = 0;
    QTreeWidgetItem* item = nullptr;
    QStringList log;
    bool running = true;
  };
  Entry* find(JobRunner* runner, quint64 id);
  void showLog();

  QTreeWidget* list_ = nullptr;
  QPlainTextEdit* log_ = nullptr;
  std::vector<Entry> entries_;
};

}  // namespace bitscape::widgets
