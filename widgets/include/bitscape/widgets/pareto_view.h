// The Pareto view: quality (mean KL to the unquantized model, or perplexity) against average
// bits for every evaluated allocation of one or more search runs. Points are added one at a
// time as a search streams them; each run's front (its non-dominated points) is drawn as a step
// line; the uniform baselines are marked apart. Hovering shows a point's summary; clicking a
// point emits pointClicked (the workbench loads that allocation into the editor).
#pragma once

#include <qcustomplot.h>

#include <QString>
#include <utility>
#include <vector>

#include "bitscape/search_result.h"

namespace bitscape::widgets {

class ParetoView : public QCustomPlot {
  Q_OBJECT

 public:
  enum class Measure { kKl, kPpl };

  explicit ParetoView(QWidget* parent = nullptr);

  // A new run (colour by order); returns its id. Uniform points of any run go to the baselines.
  int addRun(const QString& name);
  void renameRun(int run, const QString& name);
  void addPoint(int run, const SearchPoint& point);
  void clear();

  void setMeasure(Measure m);
  Measure measure() const { return measure_; }

  int runCount() const { return int(runs_.size()); }
  QString runName(int run) const { return runs_.at(size_t(run)).name; }
  // Points of a run (not counting baselines), baselines, and the corners of a run's front as
  // drawn: (average bits, value) by increasing bits.
  int pointCount(int run) const;
  int baselineCount() const { return int(baselines_.size()); }
  std::vector<std::pair<double, double>> front(int run) const;
  // The point under `pixel` (within 8 px), as (run, index into the run's points; run -1 for a
  // baseline); (-2, -1) when none.
  std::pair<int, int> pointAt(const QPointF& pixel) const;
  QString summary(int run, int index) const;
  const SearchPoint& point(int run, int index) const;

 Q_SIGNALS:
  void pointClicked(int run, int index);

 protected:
  void mouseMoveEvent(QMouseEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;

 private:
  struct Run {
    QString name;
    QColor colour;
    std::vector<SearchPoint> points;
    QCPGraph* scatter = nullptr;
    QCPGraph* frontLine = nullptr;
  };
  double value(const SearchPoint& p) const;
  void rebuild();
  void rescale();

  Measure measure_ = Measure::kKl;
  std::vector<Run> runs_;
  std::vector<SearchPoint> baselines_;
  QCPGraph* baselineGraph_ = nullptr;
  QCPItemText* placeholder_ = nullptr;
};

}  // namespace bitscape::widgets
