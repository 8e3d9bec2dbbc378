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

  // A new run; returns its id. Its colour is its method's (dp, amq, automixq, cmpq, "edited" for
  // measured edits, drawn as large stars), a shade darker for each earlier run of the method, so
  // that a run keeps its colour from project to project. Uniform points of any run go to the
  // baselines.
  int addRun(const QString& name, const QString& method = QString());
  // A line for the run's tooltips (e.g. "group 128, quantizer rtn, KL on validation.txt");
  // the baselines that came with the run show it too.
  void setRunDetail(int run, const QString& detail);
  // Hidden runs (a click on their legend entry) are not drawn; their entry is struck out.
  void setRunVisible(int run, bool visible);
  bool runVisible(int run) const;
  bool baselinesVisible() const { return baselineGraph_->visible(); }
  QCPGraph* runScatter(int run) const { return runs_.at(size_t(run)).scatter; }
  QCPGraph* baselineGraph() const { return baselineGraph_; }
  // Evaluations drawn over the front (the results table's pinned allocations: their perplexity
  // on other data than the search's, so only in the perplexity view), as one run of crosses
  // named `name`; its points are replaced on each call.
  void setOverlay(const QString& name, const std::vector<SearchPoint>& points);
  int overlayRun() const { return overlayRun_; }
  // Back to the view that shows every point (after zooming; a double-click does it too).
  Q_INVOKABLE void resetView();
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
  void mouseReleaseEvent(QMouseEvent* event) override;
  void mouseDoubleClickEvent(QMouseEvent* event) override;
  void changeEvent(QEvent* event) override;

 private:
  struct Run {
    QString name, method, detail;
    bool edited = false;
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
  std::vector<int> baselineRuns_;  // the run each baseline came with
  int overlayRun_ = -1;
  void applyPaletteColours();
  void styleLegendItem(QCPAbstractPlottable* plottable);
  QCPGraph* baselineGraph_ = nullptr;
  QCPItemText* placeholder_ = nullptr;
};

}  // namespace bitscape::widgets
