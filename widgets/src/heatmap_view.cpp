#include "bitscape/widgets/heatmap_view.h"

#include <QToolTip>
#include <algorithm>
#include <cmath>
#include <limits>

#include "bitscape/widgets/plot_export.h"

namespace bitscape::widgets {
namespace {

// Perceptually uniform, dark to light without reaching white (a white cell would read as
// empty): stops sampled from matplotlib's viridis.
QCPColorGradient viridis() {
  QCPColorGradient g;
  g.clearColorStops();
  g.setColorStopAt(0.00, QColor(0x44, 0x01, 0x54));
  g.setColorStopAt(0.25, QColor(0x3b, 0x52, 0x8b));
  g.setColorStopAt(0.50, QColor(0x21, 0x91, 0x8c));
  g.setColorStopAt(0.75, QColor(0x5e, 0xc9, 0x62));
  g.setColorStopAt(1.00, QColor(0xfd, 0xe7, 0x25));
  g.setColorInterpolation(QCPColorGradient::ciRGB);
  g.setNanHandling(QCPColorGradient::nhTransparent);
  return g;
}

}  // namespace

HeatmapView::HeatmapView(QWidget* parent) : QCustomPlot(parent) {
  setObjectName("heatmap");
  setMinimumSize(280, 220);
  setMouseTracking(true);
  // Colours follow the palette (installExportMenu below); a grid of cells needs no ticks.
  for (QCPAxis* axis : {xAxis, yAxis}) {
    axis->setTickPen(Qt::NoPen);
    axis->setSubTickPen(Qt::NoPen);
    axis->grid()->setVisible(false);
  }
  yAxis->setRangeReversed(true);  // block 0 at the top
  xAxis->setLabel(tr("module"));
  yAxis->setLabel(tr("block"));
  map_ = new QCPColorMap(xAxis, yAxis);
  map_->setInterpolate(false);
  map_->setTightBoundary(false);  // cells centred on their block and module ticks
  scale_ = new QCPColorScale(this);
  plotLayout()->addElement(0, 1, scale_);
  scale_->setType(QCPAxis::atRight);
  map_->setColorScale(scale_);
  map_->setGradient(viridis());
  QCPMarginGroup* margins = new QCPMarginGroup(this);
  axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
  scale_->setMarginGroup(QCP::msBottom | QCP::msTop, margins);

  selection_ = new QCPItemRect(this);
  selection_->setPen(QPen(QColor(0x00, 0xa0, 0xff), 2.5));
  selection_->setBrush(Qt::NoBrush);
  selection_->setVisible(false);
  placeholder_ = new QCPItemText(this);
  placeholder_->position->setType(QCPItemPosition::ptAxisRectRatio);
  placeholder_->position->setCoords(0.5, 0.5);
  placeholder_->setColor(palette().color(QPalette::PlaceholderText));
  placeholder_->setText(tr("Open a project with a sensitivity run"));
  installExportMenu(this);
  clear();
}

void HeatmapView::clear() {
  values_.clear();
  rowLabels_.clear();
  columnLabels_.clear();
  map_->data()->setSize(1, 1);
  map_->data()->fill(std::nan(""));
  map_->setVisible(false);
  selection_->setVisible(false);
  placeholder_->setVisible(true);
  for (QCPItemText* t : labelItems_) t->setVisible(false);
  replot();
}

void HeatmapView::setBitsPalette(bool on) { bits_ = on; }

void HeatmapView::setCellLabels(const std::vector<std::vector<QString>>& labels) {
  labels_ = labels;
  placeLabels();
  replot(QCustomPlot::rpQueuedReplot);
}

int HeatmapView::cellLabelCount() const {
  int n = 0;
  for (const QCPItemText* t : labelItems_) n += t->visible() && !t->text().isEmpty();
  return n;
}

QString HeatmapView::cellLabel(int row, int column) const {
  if (row < 0 || size_t(row) >= labels_.size() || column < 0 || size_t(column) >= labels_[size_t(row)].size())
    return {};
  return labels_[size_t(row)][size_t(column)];
}

void HeatmapView::placeLabels() {
  size_t used = 0;
  const int R = rows(), C = columns();
  for (int r = 0; r < R && size_t(r) < labels_.size(); ++r)
    for (int c = 0; c < C && size_t(c) < labels_[size_t(r)].size(); ++c) {
      const QString& text = labels_[size_t(r)][size_t(c)];
      if (text.isEmpty()) continue;
      if (used == labelItems_.size()) {
        auto* item = new QCPItemText(this);
        item->setClipToAxisRect(true);
        item->setSelectable(false);
        labelItems_.push_back(item);
      }
      QCPItemText* item = labelItems_[used++];
      item->position->setCoords(c, r);
      item->setText(text);
      // Black on light cells, white on dark ones (relative luminance of the cell's colour).
      const double v = map_->data()->cell(c, r);
      QColor colour = Qt::black;
      if (std::isfinite(v)) {
        const QRgb rgb = map_->gradient().color(v, map_->dataRange(), log_);
        const double lum = 0.2126 * qRed(rgb) + 0.7152 * qGreen(rgb) + 0.0722 * qBlue(rgb);
        colour = lum < 128 ? QColor(Qt::white) : QColor(Qt::black);
      } else {
        colour = palette().color(QPalette::Text);
      }
      item->setColor(colour);
      item->setVisible(true);
    }
  for (size_t i = used; i < labelItems_.size(); ++i) labelItems_[i]->setVisible(false);
}

void HeatmapView::setPlaceholder(const QString& text) {
  placeholder_->setText(text);
  replot(QCustomPlot::rpQueuedReplot);
}

void HeatmapView::setData(const QStringList& rowLabels, const QStringList& columnLabels,
                          const std::vector<std::vector<double>>& values,
                          const QString& measureLabel, bool log) {
  rowLabels_ = rowLabels;
  columnLabels_ = columnLabels;
  values_ = values;
  measure_ = measureLabel;
  log_ = log;
  const int R = int(values.size()), C = R ? int(values[0].size()) : 0;
  if (R == 0 || C == 0) {
    clear();
    return;
  }
  map_->data()->setSize(C, R);
  map_->data()->setRange(QCPRange(0, C - 1), QCPRange(0, R - 1));
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      double v = values[size_t(r)][size_t(c)];
      if (log && !(v > 0)) v = std::nan("");
      map_->data()->setCell(c, r, v);
      if (std::isfinite(v)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
  if (!std::isfinite(lo)) lo = hi = 0;
  if (hi <= lo) hi = lo + (log ? lo : 1.0);
  if (bits_) {
    // Discrete colours per bit-width: 2 dark red, 3 orange, 4 yellow-green, 8 green, 16 grey.
    QCPColorGradient g;
    g.clearColorStops();
    g.setColorStopAt(0.0, QColor(0x99, 0x1b, 0x1b));
    g.setColorStopAt(1.0 / 14, QColor(0xe0, 0x6c, 0x1a));
    g.setColorStopAt(2.0 / 14, QColor(0xd8, 0xc8, 0x2a));
    g.setColorStopAt(6.0 / 14, QColor(0x3a, 0x9a, 0x4a));
    g.setColorStopAt(1.0, QColor(0x9a, 0x9a, 0x9a));
    g.setColorInterpolation(QCPColorGradient::ciRGB);
    g.setLevelCount(350);
    g.setNanHandling(QCPColorGradient::nhTransparent);
    map_->setGradient(g);
    lo = 2;
    hi = 16;
  } else {
    map_->setGradient(viridis());
  }
  map_->setDataScaleType(log ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
  scale_->axis()->setScaleType(log ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
  if (log)
    scale_->axis()->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
  else
    scale_->axis()->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
  map_->setDataRange(QCPRange(lo, hi));
  scale_->axis()->setLabel(measureLabel);

  QSharedPointer<QCPAxisTickerText> xt(new QCPAxisTickerText);
  for (int c = 0; c < C; ++c) xt->addTick(c, c < columnLabels.size() ? columnLabels[c] : QString());
  xAxis->setTicker(xt);
  QSharedPointer<QCPAxisTickerText> yt(new QCPAxisTickerText);
  const int step = std::max(1, R / 16);
  for (int r = 0; r < R; r += step) yt->addTick(r, r < rowLabels.size() ? rowLabels[r] : QString());
  yAxis->setTicker(yt);
  xAxis->setRange(-0.5, C - 0.5);
  yAxis->setRange(-0.5, R - 0.5);
  map_->setVisible(true);
  placeholder_->setVisible(false);
  selection_->setVisible(false);
  placeLabels();
  replot();
}

double HeatmapView::drawnValue(int row, int column) const { return map_->data()->cell(column, row); }

QCPRange HeatmapView::colourRange() const { return map_->dataRange(); }

std::pair<int, int> HeatmapView::cellAt(const QPointF& pixel) const {
  if (values_.empty() || !axisRect()->rect().contains(pixel.toPoint())) return {-1, -1};
  const int c = int(std::lround(xAxis->pixelToCoord(pixel.x())));
  const int r = int(std::lround(yAxis->pixelToCoord(pixel.y())));
  if (r < 0 || c < 0 || r >= rows() || c >= columns()) return {-1, -1};
  return {r, c};
}

QString HeatmapView::cellText(int row, int column) const {
  const double v = value(row, column);
  const QString rl = row < rowLabels_.size() ? rowLabels_[row] : QString::number(row);
  const QString cl = column < columnLabels_.size() ? columnLabels_[column] : QString::number(column);
  QString text = tr("block %1, %2\n%3: %4")
                     .arg(rl, cl, measure_, std::isfinite(v) ? QString::number(v, 'g', 6) : tr("none"));
  if (detail_) {
    const QString extra = detail_(row, column);
    if (!extra.isEmpty()) text += QStringLiteral("\n") + extra;
  }
  return text;
}

void HeatmapView::setSelectedCell(int row, int column) {
  if (row < 0 || column < 0 || row >= rows() || column >= columns()) {
    selection_->setVisible(false);
  } else {
    selection_->topLeft->setCoords(column - 0.5, row - 0.5);
    selection_->bottomRight->setCoords(column + 0.5, row + 0.5);
    selection_->setVisible(true);
  }
  replot(QCustomPlot::rpQueuedReplot);
}

void HeatmapView::mouseMoveEvent(QMouseEvent* event) {
  if (dragging_) {
    const auto cell = cellAt(event->position());
    if (cell.first >= 0 && cell != lastCell_) {
      lastCell_ = cell;
      Q_EMIT cellDragged(cell.first, cell.second);
    }
    event->accept();
    return;
  }
  QCustomPlot::mouseMoveEvent(event);
  const auto [r, c] = cellAt(event->position());
  if (r >= 0)
    QToolTip::showText(event->globalPosition().toPoint(), cellText(r, c), this);
  else
    QToolTip::hideText();
}

void HeatmapView::mousePressEvent(QMouseEvent* event) {
  const auto [r, c] = cellAt(event->position());
  if (event->button() == Qt::LeftButton && r >= 0) {
    setSelectedCell(r, c);
    dragging_ = true;
    lastCell_ = {r, c};
    Q_EMIT cellClicked(r, c);
    event->accept();
    return;
  }
  QCustomPlot::mousePressEvent(event);
}

void HeatmapView::mouseReleaseEvent(QMouseEvent* event) {
  if (dragging_ && event->button() == Qt::LeftButton) {
    dragging_ = false;
    lastCell_ = {-1, -1};
    Q_EMIT dragFinished();
    event->accept();
    return;
  }
  QCustomPlot::mouseReleaseEvent(event);
}

}  // namespace bitscape::widgets
