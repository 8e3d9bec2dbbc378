// The Pareto dock's content: the Pareto view with its quality chooser (mean KL or perplexity).
// A plain QWidget header (no QCustomPlot), so that the app, built with QT_NO_KEYWORDS for
// LibTorch, can include it.
#pragma once

#include <QString>
#include <QWidget>
#include <vector>

#include "bitscape/search_result.h"

class QComboBox;

namespace bitscape::widgets {

class ParetoView;

class ParetoPanel : public QWidget {
  Q_OBJECT

 public:
  explicit ParetoPanel(QWidget* parent = nullptr);

  int addRun(const QString& name, const QString& method = QString());
  void renameRun(int run, const QString& name);
  void setRunDetail(int run, const QString& detail);
  void setOverlay(const QString& name, const std::vector<SearchPoint>& points);
  void addPoint(int run, const SearchPoint& point);
  void clear();
  QString summary(int run, int index) const;
  // A point of a run (run -1: a baseline), as added.
  const SearchPoint& point(int run, int index) const;
  int pointCount(int run) const;
  int runCount() const;
  QString runName(int run) const;
  QWidget* plotWidget() const;  // the ParetoView (a QCustomPlot)
  ParetoView* view() const { return view_; }

 Q_SIGNALS:
  void pointClicked(int run, int index);

 private:
  ParetoView* view_ = nullptr;
  QComboBox* measure_ = nullptr;
};

}  // namespace bitscape::widgets
