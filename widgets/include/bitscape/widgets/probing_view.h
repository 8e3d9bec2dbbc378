// TAMMP's multi-source probing for one module: the critical input columns each source (corpus)
// found, one row per source, and the columns they agree on (the intersection row), with the
// consensus-Jaccard compactness of the run. Zoom and pan along the columns. Its buttons start a
// probing run and load TAMMP's allocations (strategy 1 or 2) into the editor.
#pragma once

#include <QString>
#include <QStringList>
#include <QWidget>
#include <cstdint>
#include <vector>

class QCustomPlot;
class QLabel;
class QPushButton;

namespace bitscape::widgets {

class ProbingView : public QWidget {
  Q_OBJECT

 public:
  explicit ProbingView(QWidget* parent = nullptr);

  void setProbe(const QString& module, const QStringList& sources,
                const std::vector<std::vector<int64_t>>& critical, int64_t columns, double compactness);
  void clear();

  int sourceCount() const { return int(critical_.size()); }
  int criticalCount(int source) const { return int(critical_.at(size_t(source)).size()); }
  // Columns critical for every source, and for at least one.
  int overlapCount() const { return int(overlap_.size()); }
  int unionCount() const { return unionCount_; }
  // Points drawn in a row (a source, or the overlap row at index sourceCount()).
  int drawnPoints(int row) const;
  QCustomPlot* plot() const { return plot_; }
  // Whether the TAMMP buttons are enabled (there is a probing run to derive allocations from).
  void setHasRun(bool hasRun);

 Q_SIGNALS:
  void runRequested();                 // "Run probing..."
  void allocationRequested(int strategy);  // "Strategy 1/2 -> editor"

 private:
  QPushButton* run_ = nullptr;
  QPushButton* strategy1_ = nullptr;
  QPushButton* strategy2_ = nullptr;
  QLabel* title_ = nullptr;
  QCustomPlot* plot_ = nullptr;
  std::vector<std::vector<int64_t>> critical_;
  std::vector<int64_t> overlap_;
  int unionCount_ = 0;
};

}  // namespace bitscape::widgets
