#include "bitscape/widgets/nll_plot.h"

#include <algorithm>
#include <cmath>

#include "bitscape/widgets/plot_export.h"
#include <numeric>

namespace bitscape::widgets {

NllPlot::NllPlot(QWidget* parent) : QCustomPlot(parent) {
  setMinimumHeight(110);
  // Colours from the palette: installExportMenu (followPalette) below.
  xAxis->setLabel(tr("window"));
  yAxis->setLabel(tr("NLL (nats / token)"));
  axisRect()->setMinimumMargins(QMargins(8, 8, 8, 4));

  windows_ = addGraph();
  windows_->setName(tr("window NLL"));
  QPen line(QColor(0x2a, 0x7f, 0xd4), 1.6);
  windows_->setPen(line);
  windows_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 4));

  meanLine_ = new QCPItemStraightLine(this);
  meanLine_->setPen(QPen(QColor(0xd4, 0x6a, 0x2a), 1.2, Qt::DashLine));
  meanLine_->setVisible(false);

  placeholder_ = new QCPItemText(this);
  placeholder_->position->setType(QCPItemPosition::ptAxisRectRatio);
  placeholder_->position->setCoords(0.5, 0.5);
  placeholder_->setColor(palette().color(QPalette::PlaceholderText));
  placeholder_->setText(tr("Per-window NLL appears here after an evaluation"));
  installExportMenu(this);
  clear();
}

void NllPlot::clear() {
  windows_->data()->clear();
  meanLine_->setVisible(false);
  placeholder_->setVisible(true);
  mean_ = 0.0;
  xAxis->setRange(0, 10);
  yAxis->setRange(0, 10);
  replot(QCustomPlot::rpQueuedReplot);  // one redraw per event-loop turn, however many changes
}

void NllPlot::setWindowNll(const std::vector<double>& window_nll) {
  if (window_nll.empty()) {
    clear();
    return;
  }
  fill(window_nll);
  replot(QCustomPlot::rpQueuedReplot);  // one redraw per event-loop turn, however many changes
}

void NllPlot::fill(const std::vector<double>& window_nll) {
  QVector<double> x(int(window_nll.size())), y(int(window_nll.size()));
  for (size_t i = 0; i < window_nll.size(); ++i) {
    x[int(i)] = double(i + 1);
    y[int(i)] = window_nll[i];
  }
  windows_->setData(x, y, true);
  windows_->setScatterStyle(QCPScatterStyle(
      window_nll.size() <= 64 ? QCPScatterStyle::ssCircle : QCPScatterStyle::ssNone, 4));
  mean_ = std::accumulate(window_nll.begin(), window_nll.end(), 0.0) / double(window_nll.size());
  meanLine_->point1->setCoords(0, mean_);
  meanLine_->point2->setCoords(1, mean_);
  meanLine_->setVisible(true);
  placeholder_->setVisible(false);

  const auto [lo, hi] = std::minmax_element(window_nll.begin(), window_nll.end());
  const double pad = std::max((*hi - *lo) * 0.1, 0.05);
  xAxis->setRange(0.5, double(window_nll.size()) + 0.5);
  yAxis->setRange(std::max(0.0, *lo - pad), *hi + pad);
}

void NllPlot::appendWindowNll(int64_t first, const std::vector<double>& window_nll, int64_t total) {
  if (first == 0 || first != int64_t(live_.size())) live_.assign(size_t(std::max<int64_t>(0, first)), std::nan(""));
  live_.insert(live_.end(), window_nll.begin(), window_nll.end());
  if (live_.empty()) return;
  fill(live_);  // drawn on the next event-loop turn (one replot for several batches)
  // The x axis spans every window that will come, so that the chart fills from the left.
  if (total > int64_t(live_.size())) xAxis->setRange(0.5, double(total) + 0.5);
  replot(QCustomPlot::rpQueuedReplot);
}

int NllPlot::pointCount() const { return windows_->dataCount(); }

}  // namespace bitscape::widgets
