#include "bitscape/widgets/pareto_view.h"

#include <QToolTip>
#include <algorithm>
#include <cmath>
#include <limits>

#include "bitscape/widgets/plot_export.h"
#include "bitscape/widgets/plot_scales.h"

namespace bitscape::widgets {
namespace {

// Stable colours: each method has its own (Tableau 10), so that a dp run is blue in every
// project; the k-th run of one method is drawn a shade darker; other names take the remaining
// colours by a hash of the name.
QColor methodColour(const QString& method) {
  if (method == QLatin1String("dp")) return QColor(0x1f, 0x77, 0xb4);
  if (method == QLatin1String("amq")) return QColor(0xd6, 0x27, 0x28);
  if (method == QLatin1String("automixq")) return QColor(0x2c, 0xa0, 0x2c);
  if (method == QLatin1String("cmpq")) return QColor(0x94, 0x67, 0xbd);
  if (method == QLatin1String("edited")) return QColor(0xff, 0x7f, 0x0e);
  if (method == QLatin1String("evaluated")) return QColor(0x17, 0xbe, 0xcf);
  const QColor others[] = {QColor(0x8c, 0x56, 0x4b), QColor(0xe3, 0x77, 0xc2), QColor(0x17, 0xbe, 0xcf),
                           QColor(0xbc, 0xbd, 0x22), QColor(0x7f, 0x7f, 0x7f)};
  return others[qHash(method) % (sizeof others / sizeof others[0])];
}

bool finitePositive(double v) { return std::isfinite(v) && v > 0; }

}  // namespace

ParetoView::ParetoView(QWidget* parent) : QCustomPlot(parent) {
  setObjectName("pareto");
  setMinimumSize(260, 170);
  setMouseTracking(true);
  // Background, axes, grid and legend follow the palette (installExportMenu below).
  const QColor text = palette().color(QPalette::Text);
  xAxis->setLabel(tr("average bits (with scales and zeros)"));
  legend->setVisible(true);
  // The legend sits outside the axes, on the right (inside them it covered AMQ's scattered
  // samples); clicking an entry hides or shows its run (its name struck out while hidden).
  auto* side = new QCPLayoutGrid;
  plotLayout()->addElement(0, 1, side);
  axisRect()->insetLayout()->take(legend);
  side->addElement(0, 0, legend);
  side->addElement(1, 0, new QCPLayoutElement(this));  // pushes the legend to the top
  side->setRowStretchFactor(0, 0.001);
  side->setMargins(QMargins(0, 6, 6, 0));
  plotLayout()->setColumnStretchFactor(1, 0.001);
  legend->setSelectableParts(QCPLegend::spItems);
  // As in TensorBoard and W&B: dragging draws a box to zoom into, the wheel zooms, Ctrl+drag
  // pans, a double-click (or the context menu's Reset view) shows everything again.
  setInteractions(QCP::iRangeDrag | QCP::iRangeZoom | QCP::iSelectLegend);
  setSelectionRectMode(QCP::srmZoom);
  selectionRect()->setPen(QPen(palette().color(QPalette::Highlight), 1, Qt::DashLine));
  connect(this, &QCustomPlot::legendClick, this, [this](QCPLegend*, QCPAbstractLegendItem* item, QMouseEvent*) {
    auto* pl = qobject_cast<QCPPlottableLegendItem*>(item);
    if (!pl) return;
    for (int i = 0; i < int(runs_.size()); ++i)
      if (runs_[size_t(i)].scatter == pl->plottable()) setRunVisible(i, !runVisible(i));
    if (pl->plottable() == baselineGraph_) {
      baselineGraph_->setVisible(!baselineGraph_->visible());
      styleLegendItem(baselineGraph_);
      replot(QCustomPlot::rpQueuedReplot);
    }
    legend->setSelectedParts(QCPLegend::spNone);
  });

  baselineGraph_ = addGraph();
  baselineGraph_->setName(tr("uniform"));
  baselineGraph_->setLineStyle(QCPGraph::lsNone);
  baselineGraph_->setScatterStyle(
      QCPScatterStyle(QCPScatterStyle::ssDiamond, QPen(text, 1.5), QBrush(Qt::NoBrush), 10));

  placeholder_ = new QCPItemText(this);
  placeholder_->position->setType(QCPItemPosition::ptAxisRectRatio);
  placeholder_->position->setCoords(0.5, 0.5);
  placeholder_->setColor(palette().color(QPalette::PlaceholderText));
  placeholder_->setText(tr("Points appear here as a search evaluates allocations"));
  installExportMenu(this);
  setMeasure(Measure::kKl);
  applyPaletteColours();
}

int ParetoView::addRun(const QString& name, const QString& method) {
  Run r;
  r.name = name;
  r.method = method;
  int same = 0;
  for (const Run& o : runs_) same += o.method == method;
  r.colour = methodColour(method).darker(100 + 30 * (same % 4));
  r.edited = method == QLatin1String("edited");
  QColor light = r.colour;
  light.setAlpha(90);
  r.scatter = addGraph();
  r.scatter->setName(name);
  r.scatter->setLineStyle(QCPGraph::lsNone);
  // Measured edits are what the user made: drawn large (stars with an outline), not as one more
  // small disc among a search's hundreds.
  if (r.edited)
    r.scatter->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssStar, QPen(r.colour, 2.5), QBrush(r.colour), 14));
  else
    r.scatter->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, QPen(light), QBrush(light), 5));
  r.frontLine = addGraph();
  r.frontLine->setName(name + tr(" front"));
  r.frontLine->removeFromLegend();
  r.frontLine->setLineStyle(QCPGraph::lsStepLeft);
  r.frontLine->setPen(QPen(r.colour, 2));
  r.frontLine->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(r.colour, 1.5),
                                               QBrush(palette().color(QPalette::Base)), 6));
  if (r.edited) r.frontLine->setPen(QPen(r.colour, 1.2, Qt::DotLine));
  runs_.push_back(r);
  return int(runs_.size()) - 1;
}

void ParetoView::setRunVisible(int run, bool visible) {
  Run& r = runs_.at(size_t(run));
  r.scatter->setVisible(visible);
  r.frontLine->setVisible(visible);
  styleLegendItem(r.scatter);
  replot(QCustomPlot::rpQueuedReplot);
}

bool ParetoView::runVisible(int run) const { return runs_.at(size_t(run)).scatter->visible(); }

void ParetoView::styleLegendItem(QCPAbstractPlottable* plottable) {
  if (QCPPlottableLegendItem* item = legend->itemWithPlottable(plottable)) {
    QColor c = palette().color(QPalette::Text);
    if (!plottable->visible()) c = palette().color(QPalette::PlaceholderText);
    item->setTextColor(c);
    QFont f = item->font();
    f.setStrikeOut(!plottable->visible());
    item->setFont(f);
  }
}

void ParetoView::setOverlay(const QString& name, const std::vector<SearchPoint>& points) {
  if (overlayRun_ < 0) {
    if (points.empty()) return;
    overlayRun_ = addRun(name, QStringLiteral("evaluated"));
    Run& r = runs_[size_t(overlayRun_)];
    r.scatter->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCrossSquare, QPen(r.colour, 2), QBrush(Qt::NoBrush), 11));
    r.frontLine->setVisible(false);  // single evaluations, not a front
  }
  Run& r = runs_[size_t(overlayRun_)];
  renameRun(overlayRun_, name);
  r.points.clear();
  r.scatter->data()->clear();
  for (const SearchPoint& p : points) {
    r.points.push_back(p);
    const double v = value(p);
    if (std::isfinite(v)) r.scatter->addData(p.average_bits, v);
  }
  r.frontLine->data()->clear();
  replot(QCustomPlot::rpQueuedReplot);
}

void ParetoView::setRunDetail(int run, const QString& detail) { runs_.at(size_t(run)).detail = detail; }

void ParetoView::resetView() {
  rescale();
  replot(QCustomPlot::rpQueuedReplot);  // one redraw per event-loop turn, however many changes
}

void ParetoView::applyPaletteColours() {
  // What the plot draws in the palette's colours (the axes and legend follow it in
  // plot_export.cpp): the baselines' outline, the front corners' fill, the legend's entries.
  const QColor text = palette().color(QPalette::Text);
  baselineGraph_->setScatterStyle(
      QCPScatterStyle(QCPScatterStyle::ssDiamond, QPen(text, 1.5), QBrush(Qt::NoBrush), 10));
  for (Run& r : runs_) {
    QCPScatterStyle st = r.frontLine->scatterStyle();
    st.setBrush(palette().color(QPalette::Base));
    r.frontLine->setScatterStyle(st);
    styleLegendItem(r.scatter);
  }
  styleLegendItem(baselineGraph_);
  placeholder_->setColor(palette().color(QPalette::PlaceholderText));
  selectionRect()->setPen(QPen(palette().color(QPalette::Highlight), 1, Qt::DashLine));
}

void ParetoView::changeEvent(QEvent* event) {
  QCustomPlot::changeEvent(event);
  if (event->type() == QEvent::PaletteChange) {
    applyPaletteColours();
    replot(QCustomPlot::rpQueuedReplot);
  }
}

void ParetoView::mouseDoubleClickEvent(QMouseEvent* event) {
  if (event->button() == Qt::LeftButton && pointAt(event->position()).first < -1) {
    resetView();
    event->accept();
    return;
  }
  QCustomPlot::mouseDoubleClickEvent(event);
}

void ParetoView::mouseReleaseEvent(QMouseEvent* event) {
  QCustomPlot::mouseReleaseEvent(event);
  setSelectionRectMode(QCP::srmZoom);  // after a Ctrl+drag pan
}

void ParetoView::renameRun(int run, const QString& name) {
  Run& r = runs_.at(size_t(run));
  r.name = name;
  r.scatter->setName(name);
  r.frontLine->setName(name + tr(" front"));
  replot(QCustomPlot::rpQueuedReplot);
}

void ParetoView::addPoint(int run, const SearchPoint& p) {
  if (p.method == "uniform") {
    // The same baseline can come with every run; keep one of each size.
    for (const SearchPoint& b : baselines_)
      if (b.total_bytes == p.total_bytes && std::abs(b.average_bits - p.average_bits) < 1e-9) return;
    baselines_.push_back(p);
    baselineRuns_.push_back(run);
    const double v = value(p);
    if (std::isfinite(v)) baselineGraph_->addData(p.average_bits, v);
  } else {
    Run& r = runs_.at(size_t(run));
    r.points.push_back(p);
    const double v = value(p);
    if (std::isfinite(v)) r.scatter->addData(p.average_bits, v);
    const auto f = front(run);
    QVector<double> x, y;
    for (const auto& [b, q] : f) {
      x.push_back(b);
      y.push_back(q);
    }
    r.frontLine->setData(x, y, true);
  }
  placeholder_->setVisible(false);
  rescale();
  replot(QCustomPlot::rpQueuedReplot);
}

void ParetoView::clear() {
  for (Run& r : runs_) {
    removeGraph(r.scatter);
    removeGraph(r.frontLine);
  }
  runs_.clear();
  overlayRun_ = -1;
  baselines_.clear();
  baselineRuns_.clear();
  baselineGraph_->data()->clear();
  placeholder_->setVisible(true);
  replot(QCustomPlot::rpQueuedReplot);  // one redraw per event-loop turn, however many changes
}

double ParetoView::value(const SearchPoint& p) const {
  return measure_ == Measure::kKl ? p.kl : p.ppl;
}

void ParetoView::setMeasure(Measure m) {
  measure_ = m;
  if (m == Measure::kKl) {
    yAxis->setLabel(tr("mean KL (nats / token)"));  // to the unquantized model: the quality combo says so
    yAxis->setScaleType(QCPAxis::stLogarithmic);
    yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new ReadableLogTicker));
  } else {
    yAxis->setLabel(tr("perplexity"));
    yAxis->setScaleType(QCPAxis::stLinear);
    yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
  }
  rebuild();
}

void ParetoView::rebuild() {
  baselineGraph_->data()->clear();
  for (const SearchPoint& b : baselines_)
    if (std::isfinite(value(b))) baselineGraph_->addData(b.average_bits, value(b));
  for (int i = 0; i < int(runs_.size()); ++i) {
    Run& r = runs_[size_t(i)];
    r.scatter->data()->clear();
    for (const SearchPoint& p : r.points)
      if (std::isfinite(value(p))) r.scatter->addData(p.average_bits, value(p));
    QVector<double> x, y;
    if (i != overlayRun_)
      for (const auto& [b, q] : front(i)) {
        x.push_back(b);
        y.push_back(q);
      }
    r.frontLine->setData(x, y, true);
  }
  rescale();
  replot(QCustomPlot::rpQueuedReplot);  // one redraw per event-loop turn, however many changes
}

void ParetoView::rescale() {
  // The runs' points set the view; baselines count when they lie within their bits (plus half a
  // bit), so that the 8- and 16-bit baselines do not squeeze the front into a corner (they
  // stay reachable by dragging and zooming). Without run points, the baselines set it.
  const double inf = std::numeric_limits<double>::infinity();
  double xlo = inf, xhi = -inf, ylo = inf, yhi = -inf;
  auto take = [&](const SearchPoint& p) {
    const double v = value(p);
    if (!std::isfinite(v) || (measure_ == Measure::kKl && !finitePositive(v))) return;
    xlo = std::min(xlo, p.average_bits);
    xhi = std::max(xhi, p.average_bits);
    ylo = std::min(ylo, v);
    yhi = std::max(yhi, v);
  };
  for (const Run& r : runs_)
    for (const SearchPoint& p : r.points) take(p);
  if (std::isfinite(xlo)) {
    const double lo = xlo - 0.5, hi = xhi + 0.5;
    for (const SearchPoint& p : baselines_)
      if (p.average_bits >= lo && p.average_bits <= hi) take(p);
  } else {
    for (const SearchPoint& p : baselines_) take(p);
  }
  if (!std::isfinite(xlo)) {
    xAxis->setRange(2, 8);
    yAxis->setRange(measure_ == Measure::kKl ? 1e-3 : 0, measure_ == Measure::kKl ? 1 : 100);
    return;
  }
  const double xpad = std::max(0.1, (xhi - xlo) * 0.05);
  xAxis->setRange(xlo - xpad, xhi + xpad);
  if (measure_ == Measure::kKl)
    yAxis->setRange(ylo / 1.3, yhi * 1.3);
  else
    yAxis->setRange(ylo - std::max(1e-3, (yhi - ylo) * 0.05), yhi + std::max(1e-3, (yhi - ylo) * 0.05));
}

int ParetoView::pointCount(int run) const { return int(runs_.at(size_t(run)).points.size()); }

std::vector<std::pair<double, double>> ParetoView::front(int run) const {
  // Non-dominated over (bits, value), both minimised: by increasing bits, keep a point when its
  // value is below every point of fewer or equal bits.
  std::vector<std::pair<double, double>> pts;
  for (const SearchPoint& p : runs_.at(size_t(run)).points) {
    const double v = value(p);
    if (std::isfinite(v)) pts.emplace_back(p.average_bits, v);
  }
  std::sort(pts.begin(), pts.end());
  std::vector<std::pair<double, double>> f;
  double best = std::numeric_limits<double>::infinity();
  for (const auto& [b, v] : pts) {
    if (v >= best) continue;
    if (!f.empty() && f.back().first == b) f.pop_back();  // same bits, lower value
    f.emplace_back(b, v);
    best = v;
  }
  return f;
}

std::pair<int, int> ParetoView::pointAt(const QPointF& pixel) const {
  std::pair<int, int> found{-2, -1};
  double best = 8.0 * 8.0;
  auto consider = [&](const SearchPoint& p, int run, int index) {
    const double v = value(p);
    if (!std::isfinite(v)) return;
    const double dx = xAxis->coordToPixel(p.average_bits) - pixel.x();
    const double dy = yAxis->coordToPixel(v) - pixel.y();
    if (dx * dx + dy * dy < best) {
      best = dx * dx + dy * dy;
      found = {run, index};
    }
  };
  for (int i = 0; i < int(baselines_.size()); ++i) consider(baselines_[size_t(i)], -1, i);
  for (int r = 0; r < int(runs_.size()); ++r)
    for (int i = 0; i < int(runs_[size_t(r)].points.size()); ++i)
      consider(runs_[size_t(r)].points[size_t(i)], r, i);
  return found;
}

const SearchPoint& ParetoView::point(int run, int index) const {
  return run < 0 ? baselines_.at(size_t(index)) : runs_.at(size_t(run)).points.at(size_t(index));
}

QString ParetoView::summary(int run, int index) const {
  const SearchPoint& p = point(run, index);
  QString s;
  QString detail;
  if (run < 0) {
    // A baseline: every weight at one bit-width, with the group and quantizer of the run it
    // came with.
    const int from = size_t(index) < baselineRuns_.size() ? baselineRuns_[size_t(index)] : -1;
    s = tr("uniform baseline, %1 bits").arg(std::lround(p.code_bits));
    if (from >= 0 && size_t(from) < runs_.size()) {
      detail = runs_[size_t(from)].detail;
      s += tr(" (with %1)").arg(runs_[size_t(from)].name);
    }
  } else {
    s = runs_.at(size_t(run)).name;
    detail = runs_.at(size_t(run)).detail;
  }
  if (!detail.isEmpty()) s += QStringLiteral("\n") + detail;
  s += tr("\n%1: point %2").arg(QString::fromStdString(p.method)).arg(p.index);
  if (p.iteration >= 0) s += tr(", iteration %1").arg(p.iteration);
  s += tr("\naverage bits %1 (code bits %2), %3 MB")
           .arg(p.average_bits, 0, 'f', 3)
           .arg(p.code_bits, 0, 'f', 3)
           .arg(double(p.total_bytes) / 1e6, 0, 'f', 2);
  if (std::isfinite(p.kl)) s += tr("\nKL %1").arg(p.kl, 0, 'g', 4);
  if (std::isfinite(p.ppl)) s += tr("   perplexity %1").arg(p.ppl, 0, 'f', 3);
  if (std::isfinite(p.top1)) s += tr("\ntop-1 agreement %1 %").arg(100 * p.top1, 0, 'f', 2);
  return s;
}

void ParetoView::mouseMoveEvent(QMouseEvent* event) {
  QCustomPlot::mouseMoveEvent(event);
  const auto [run, index] = pointAt(event->position());
  if (run >= -1)
    QToolTip::showText(event->globalPosition().toPoint(), summary(run, index), this);
  else
    QToolTip::hideText();
}

void ParetoView::mousePressEvent(QMouseEvent* event) {
  // Ctrl+drag pans; outside the axes (the legend) a press is a click (QCustomPlot sends no
  // click signals while a selection-rectangle mode is set).
  if ((event->modifiers() & Qt::ControlModifier) || !axisRect()->rect().contains(event->position().toPoint()))
    setSelectionRectMode(QCP::srmNone);
  if (event->button() == Qt::LeftButton) {
    const auto [run, index] = pointAt(event->position());
    if (run >= -1) {
      Q_EMIT pointClicked(run, index);
      event->accept();
      return;
    }
  }
  QCustomPlot::mousePressEvent(event);
}

}  // namespace bitscape::widgets
