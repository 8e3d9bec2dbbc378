// The jobs dock: every job the workbench's runners start, with how it stands (running, finished,
// failed, cancelled), a cancel button while it runs (next to its name, where a narrow dock still
// shows it), the time it has taken, the estimated time left, a progress bar, its stage and its
// log (the selected job's lines below the list). statusWidget() is the status bar's strip for the
// latest running job of any kind: what it does, elapsed and left, and Cancel.
#pragma once

#include <QElapsedTimer>
#include <QString>
#include <QWidget>
#include <vector>

class QLabel;
class QPlainTextEdit;
class QPushButton;
class QTimer;
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

  enum Column { kJobColumn, kStateColumn, kCancelColumn, kElapsedColumn, kEtaColumn, kProgressColumn, kStageColumn, kColumnCount };
  int jobCount() const;
  // A job's row: label, state ("running", "finished", "failed: ...", "cancelled"), elapsed,
  // time left, progress text ("3/8"), stage.
  QString text(int job, int column) const;
  // The status bar's strip (owned by the caller once added): hidden while nothing runs.
  QWidget* statusWidget() const { return status_; }
  QString statusText() const;
  // Cancels the job the strip shows.
  void cancelLatest();
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
    QString label, stage;
    qint64 done = 0, total = 0;
    double eta = -1;
    QElapsedTimer clock;
    double seconds = 0;
    // Stages that count through a series ("amq iteration 3/20"): when the series began (ms on
    // the clock) and its prefix, for an estimate of the time left in all of it.
    QString seriesPrefix;
    qint64 seriesStartMs = -1;
    int seriesFirst = 0, seriesAt = 0, seriesOf = 0;
  };
 public:
  // The time left in a whole series of stages ("iteration i/N", the last one N), from the time
  // it has taken since stage `first` and the share done since (at - first stages, done/total of
  // the current); < 0 when unknown.
  static double seriesEta(double secondsSoFar, int first, int at, int of, qint64 done, qint64 total);

 private:
  Entry* find(JobRunner* runner, quint64 id);
  void showLog();
  void tick();  // elapsed times and the strip, once a second while jobs run
  Entry* latestRunning();

  QWidget* status_ = nullptr;
  QLabel* statusLabel_ = nullptr;
  QPushButton* statusCancel_ = nullptr;
  QTimer* ticker_ = nullptr;

  QTreeWidget* list_ = nullptr;
  QPlainTextEdit* log_ = nullptr;
  std::vector<Entry> entries_;
};

}  // namespace bitscape::widgets
