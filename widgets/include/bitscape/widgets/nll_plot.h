// A line chart of the mean negative log-likelihood of each evaluation window, with the mean over
// all windows as a dashed line: shows whether a perplexity comes from a few bad windows.
#pragma once

#include <qcustomplot.h>

#include <cstdint>
#include <vector>

namespace bitscape::widgets {

class NllPlot : public QCustomPlot {
  Q_OBJECT

 public:
  explicit NllPlot(QWidget* parent = nullptr);

  void setWindowNll(const std::vector<double>& window_nll);
  // Windows as they are scored (window `first` onwards, of `total`): the chart fills while the
  // evaluation runs; `first` 0 starts a new one.
  void appendWindowNll(int64_t first, const std::vector<double>& window_nll, int64_t total);
  void clear();
  int pointCount() const;
  double meanNll() const { return mean_; }

 private:
  QCPGraph* windows_ = nullptr;
  QCPItemStraightLine* meanLine_ = nullptr;
  QCPItemText* placeholder_ = nullptr;
  double mean_ = 0.0;
  std::vector<double> live_;
  void fill(const std::vector<double>& window_nll);  // the data and ranges, no replot
};

}  // namespace bitscape::widgets
