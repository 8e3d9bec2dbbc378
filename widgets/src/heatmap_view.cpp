#include "bitscape/widgets/heatmap_view.h"

#include <QToolTip>
#include <algorithm>
#include <cmath>
#include <limits>

#include "bitscape/widgets/plot_export.h"
#include "bitscape/widgets/plot_scales.h"

namespace bitscape::widgets {

HeatmapView::HeatmapView(QWidget* parent) : QCustomPlot(parent) {
  setObjectName("heatmap");
  setMinimumSize(220, 150);
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
  map_->setGradient(sequentialGradient());
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
  for (QCPItemRect* m : markItems_) m->setVisible(false);
  markedCells_.clear();
  diverging_ = false;
  replot(QCustomPlot::rpQueuedReplot);  // one redraw per event-loop turn, however many changes
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
        const QRgb rgb = map_->gradient().color(v, map_->dataRange(), log_ || bits_);
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

void HeatmapView::placeMarks(const std::vector<std::pair<int, int>>& cells) {
  const QColor ink = palette().color(QPalette::Text);
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i == markItems_.size()) {
      auto* item = new QCPItemRect(this);
      item->setClipToAxisRect(true);
      item->setSelectable(false);
      markItems_.push_back(item);
    }
    QCPItemRect* item = markItems_[i];
    const auto [r, c] = cells[i];
    item->topLeft->setCoords(c - 0.5, r - 0.5);
    item->bottomRight->setCoords(c + 0.5, r + 0.5);
    item->setPen(QPen(ink, 1));
    item->setBrush(QBrush(ink, Qt::BDiagPattern));
    item->setVisible(true);
  }
  for (size_t i = cells.size(); i < markItems_.size(); ++i) markItems_[i]->setVisible(false);
  markedCells_ = cells;
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
  // Honest colour (plot_scales.h): a log scale cannot place values <= 0, so their cells are
  // hatched and said so in the colour bar's title (not left blank as if there were no value);
  // data of both signs on a linear scale gets a diverging map centred on zero.
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  bool negative = false, positive = false;
  std::vector<std::pair<int, int>> marked;
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      double v = values[size_t(r)][size_t(c)];
      if (std::isfinite(v)) {
        negative = negative || v < 0;
        positive = positive || v > 0;
      }
      if (log && std::isfinite(v) && !(v > 0)) {
        marked.emplace_back(r, c);
        v = std::nan("");
      }
      map_->data()->setCell(c, r, v);
      if (std::isfinite(v)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
  if (!std::isfinite(lo)) lo = hi = log ? 1 : 0;
  if (hi <= lo) hi = lo + (log ? lo : 1.0);
  diverging_ = false;
  QString scaleLabel = measureLabel;
  if (bits_) {
    map_->setGradient(bitsGradient());
    lo = 2;
    hi = 16;
  } else if (!log && negative && positive) {
    map_->setGradient(divergingGradient());
    const double m = std::max(std::abs(lo), std::abs(hi));
    lo = -m;
    hi = m;
    diverging_ = true;
  } else {
    map_->setGradient(sequentialGradient());
  }
  if (!marked.empty()) scaleLabel += tr("  (hatched: %n cell(s) \u2264 0, not on a log scale)", "", int(marked.size()));
  const bool logColour = log || bits_;  // bit-widths: log2 spacing (plot_scales.h)
  map_->setDataScaleType(logColour ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
  scale_->axis()->setScaleType(logColour ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
  if (bits_) {
    QSharedPointer<QCPAxisTickerText> ticks(new QCPAxisTickerText);
    for (int b : bitsPaletteWidths()) ticks->addTick(b, QString::number(b));
    scale_->axis()->setTicker(ticks);
  } else if (log) {
    scale_->axis()->setTicker(QSharedPointer<QCPAxisTicker>(new ReadableLogTicker));
  } else {
    QSharedPointer<QCPAxisTicker> ticks(new QCPAxisTicker);
    ticks->setTickCount(6);
    scale_->axis()->setTicker(ticks);
  }
  map_->setDataRange(QCPRange(lo, hi));
  scale_->axis()->setLabel(scaleLabel);
  placeMarks(marked);

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
  replot(QCustomPlot::rpQueuedReplot);  // one redraw per event-loop turn, however many changes
}

void HeatmapView::resetView() {
  xAxis->setRange(-0.5, std::max(1, columns()) - 0.5);
  yAxis->setRange(-0.5, std::max(1, rows()) - 0.5);
  replot(QCustomPlot::rpQueuedReplot);  // one redraw per event-loop turn, however many changes
}

double HeatmapView::drawnValue(int row, int column) const { return map_->data()->cell(column, row); }

QCPRange HeatmapView::colourRange() const { return map_->dataRange(); }

QColor HeatmapView::cellColour(int row, int column) const {
  const double v = drawnValue(row, column);
  if (!std::isfinite(v)) return QColor();
  return QColor::fromRgba(map_->gradient().color(v, map_->dataRange(), log_ || bits_));
}

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
  if (log_ && std::isfinite(v) && !(v > 0)) text += tr(" (hatched: a log scale has no place for it)");
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
