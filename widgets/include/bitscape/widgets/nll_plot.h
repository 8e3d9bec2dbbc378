// A line chart of the mean negative log-likelihood of each evaluation window, with the mean over
// all windows as a dashed line: shows whether a perplexity comes from a few bad windows.
#pragma once

#include <qcustomplot.h>

#include <vector>

namespace bitscape::widgets {

class NllPlot : public QCustomPlot {
  Q_OBJECT

 public:
  explicit NllPlot(QWidget* parent = nullptr);

  void setWindowNll(const std::vector<double>& window_nll);
  void clear();
  int pointCount() const;
  double meanNll() const { return mean_; }

 private:
  QCPGraph* windows_ = nullptr;
  QCPItemStraightLine* meanLine_ = nullptr;
  QCPItemText* placeholder_ = nullptr;
  double mean_ = 0.0;
};

}  // namespace bitscape::widgets
