#include "bitscape/widgets/saliency_view.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QComboBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "bitscape/widgets/plot_export.h"

namespace bitscape::widgets {
namespace {

QString metricLabel(const QString& m) {
  if (m == "obs") return SaliencyView::tr("OBS  w\u00b2 / [H\u207b\u00b9]\u1d62\u1d62");
  if (m == "tammp") return SaliencyView::tr("TAMMP  w\u00b2 / [H\u207b\u00b9]\u1d62\u1d62\u00b2");
  if (m == "act") return SaliencyView::tr("activation-weighted  |w| \u00b7 \u2016x\u2016");
  if (m == "diag") return SaliencyView::tr("diag(H) w\u00b2");
  if (m == "fisher") return SaliencyView::tr("Fisher  (\u2202L/\u2202w)\u00b2");
  return m;
}

}  // namespace

SaliencyView::SaliencyView(QWidget* parent) : QWidget(parent) {
  metric_ = new QComboBox;
  // As wide as its longest entry, also once entries arrive after the first show (the default
  // policy measured the empty combo and cut "activation-weighted ..." to "activatio").
  metric_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  metric_->setObjectName(QStringLiteral("saliencyMetric"));
  max_ = new QCheckBox(tr("max pooling"));
  log_ = new QCheckBox(tr("log scale"));
  log_->setChecked(true);
  title_ = new QLabel(tr("Select a module (heatmap, editor or allocation map) of a project with a sensitivity run"));
  title_->setWordWrap(true);

  map_ = new QCustomPlot;
  map_->setObjectName(QStringLiteral("saliencyMap"));
  map_->setMinimumHeight(110);
  map_->xAxis->setLabel(tr("input channel"));
  map_->yAxis->setLabel(tr("output"));  // channel; short: the map can be low
  map_->yAxis->setRangeReversed(true);
  map_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  colour_ = new QCPColorMap(map_->xAxis, map_->yAxis);
  colour_->setInterpolate(false);
  scale_ = new QCPColorScale(map_);
  map_->plotLayout()->addElement(0, 1, scale_);
  colour_->setColorScale(scale_);
  colour_->setGradient(QCPColorGradient::gpHot);
  // Lines over the map through the protected channels (raised: cyan; fp16 columns: violet).
  mapMarks_ = new QCPCurve(map_->xAxis, map_->yAxis);
  mapMarks_->setPen(QPen(QColor(0x17, 0xbe, 0xcf, 170), 1.0));
  mapFp16_ = new QCPCurve(map_->xAxis, map_->yAxis);
  mapFp16_->setPen(QPen(QColor(0xd6, 0x27, 0xd6, 200), 1.0));
  for (QCPCurve* c : {mapMarks_, mapFp16_}) c->setScatterSkip(0);
  installExportMenu(map_);

  columns_ = new QCustomPlot;
  columns_->setObjectName(QStringLiteral("saliencyColumns"));
  // Small plots: what they show goes in the (long) x-axis title, not in a y-axis title longer
  // than the plot is high.
  columns_->xAxis->setLabel(tr("per input channel"));
  columns_->addGraph();
  columns_->graph(0)->setPen(QPen(QColor(0xd4, 0x6a, 0x2a), 1.2));
  installExportMenu(columns_);

  rows_ = new QCustomPlot;
  rows_->setObjectName(QStringLiteral("saliencyRows"));
  rows_->xAxis->setLabel(tr("per output channel"));
  rows_->addGraph();
  rows_->graph(0)->setPen(QPen(QColor(0x2c, 0xa0, 0x2c), 1.2));
  installExportMenu(rows_);
  // On both profiles: graph 1 the protected channels (more bits or fp16), graph 2 the lowered.
  for (QCustomPlot* p : {columns_, rows_}) {
    p->addGraph();
    p->graph(1)->setLineStyle(QCPGraph::lsImpulse);
    p->graph(1)->setPen(QPen(QColor(0x2a, 0x7f, 0xd4, 160), 1.5));
    p->graph(1)->setName(tr("kept at more bits / fp16"));
    p->addGraph();
    p->graph(2)->setLineStyle(QCPGraph::lsImpulse);
    p->graph(2)->setPen(QPen(QColor(0x7f, 0x7f, 0x7f, 110), 1.0));
    p->graph(2)->setName(tr("at fewer bits"));
  }

  histogram_ = new QCustomPlot;
  histogram_->setObjectName(QStringLiteral("saliencyHistogram"));
  histogram_->xAxis->setLabel(tr("columns by log10 saliency"));
  auto* bars = new QCPBars(histogram_->xAxis, histogram_->yAxis);
  bars->setPen(Qt::NoPen);
  bars->setBrush(QColor(0x94, 0x67, 0xbd));
  installExportMenu(histogram_);

  auto* controls = new QHBoxLayout;
  controls->addWidget(new QLabel(tr("Map:")));
  controls->addWidget(metric_, 1);
  controls->addWidget(max_);
  controls->addWidget(log_);
  auto* grid = new QGridLayout;
  grid->addWidget(columns_, 0, 0);
  grid->addWidget(rows_, 0, 1);
  grid->addWidget(histogram_, 1, 0, 1, 2);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(title_);
  layout->addLayout(controls);
  layout->addWidget(map_, 5);
  layout->addLayout(grid, 3);
  connect(metric_, &QComboBox::currentIndexChanged, this, [this] { redraw(); });
  connect(max_, &QCheckBox::toggled, this, [this] { redraw(); });
  connect(log_, &QCheckBox::toggled, this, [this] { redraw(); });
  clear();
}

void SaliencyView::clear() {
  module_.clear();
  summaries_.clear();
  {
    const QSignalBlocker b(metric_);
    metric_->clear();
  }
  colour_->data()->setSize(1, 1);
  colour_->data()->fill(std::nan(""));
  raised_.clear();
  lowered_.clear();
  fp16_.clear();
  for (QCustomPlot* p : {columns_, rows_})
    for (int g = 0; g < 3; ++g) p->graph(g)->data()->clear();
  for (QCPCurve* c : {mapMarks_, mapFp16_}) c->data()->clear();
  static_cast<QCPBars*>(histogram_->plottable(0))->data()->clear();
  for (QCustomPlot* p : {map_, columns_, rows_, histogram_}) p->replot();
}

void SaliencyView::setModule(const QString& module, const std::map<std::string, SaliencySummary>& byMetric) {
  const QString previous = metric_->currentData().toString();
  module_ = module;
  summaries_ = byMetric;
  {
    const QSignalBlocker b(metric_);
    metric_->clear();
    for (const auto& [name, s] : summaries_) metric_->addItem(metricLabel(QString::fromStdString(name)), QString::fromStdString(name));
    const int i = metric_->findData(previous);
    metric_->setCurrentIndex(i >= 0 ? i : 0);
  }
  redraw();
}

void SaliencyView::setChannelMarks(ChannelAxis axis, const std::vector<int64_t>& raised,
                                   const std::vector<int64_t>& lowered,
                                   const std::vector<int64_t>& fp16Columns) {
  markAxis_ = axis;
  raised_ = raised;
  lowered_ = lowered;
  fp16_ = fp16Columns;
  redraw();
}

QStringList SaliencyView::metrics() const {
  QStringList out;
  for (int i = 0; i < metric_->count(); ++i) out << metric_->itemData(i).toString();
  return out;
}

void SaliencyView::setMetric(const QString& metric) {
  const int i = metric_->findData(metric);
  if (i >= 0) metric_->setCurrentIndex(i);
}

void SaliencyView::setMaxPooling(bool on) { max_->setChecked(on); }

double SaliencyView::mapCell(int row, int column) const { return colour_->data()->cell(column, row); }
int SaliencyView::mapRows() const { return colour_->data()->valueSize(); }
int SaliencyView::mapColumns() const { return colour_->data()->keySize(); }

std::vector<double> SaliencyView::columnProfile() const {
  std::vector<double> v;
  for (auto it = columns_->graph(0)->data()->constBegin(); it != columns_->graph(0)->data()->constEnd(); ++it)
    v.push_back(it->value);
  return v;
}

std::vector<double> SaliencyView::histogram() const {
  std::vector<double> v;
  auto* bars = static_cast<QCPBars*>(histogram_->plottable(0));
  for (auto it = bars->data()->constBegin(); it != bars->data()->constEnd(); ++it) v.push_back(it->value);
  return v;
}

int SaliencyView::protectedMarks() const {
  return columns_->graph(1)->dataCount() + rows_->graph(1)->dataCount();
}
int SaliencyView::loweredMarks() const {
  return columns_->graph(2)->dataCount() + rows_->graph(2)->dataCount();
}
// Each line is three points: its two ends and a NaN gap.
int SaliencyView::mapMarkLines() const { return (mapMarks_->dataCount() + mapFp16_->dataCount()) / 3; }

void SaliencyView::redraw() {
  const auto it = summaries_.find(metric_->currentData().toString().toStdString());
  if (it == summaries_.end()) {
    title_->setText(module_.isEmpty() ? tr("Select a module of a project with a sensitivity run")
                                      : tr("%1: no saliency maps in the project").arg(module_));
    return;
  }
  const SaliencySummary& s = it->second;
  title_->setText(tr("<b>%1</b>: %2 x %3, total %4 (%5)")
                      .arg(module_)
                      .arg(s.rows)
                      .arg(s.cols)
                      .arg(s.total, 0, 'g', 4)
                      .arg(metricLabel(QString::fromStdString(s.metric))));
  const bool log = log_->isChecked();
  // The pooled map, drawn over the module's real coordinates.
  const std::vector<float>& pooled = max_->isChecked() ? s.pooled_max : s.pooled_mean;
  const int R = int(s.pooled_rows), C = int(s.pooled_cols);
  if (R > 0 && C > 0 && int(pooled.size()) == R * C) {
    colour_->data()->setSize(C, R);
    colour_->data()->setRange(QCPRange(0, double(s.cols - 1)), QCPRange(0, double(s.rows - 1)));
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) {
        double v = pooled[size_t(r) * size_t(C) + size_t(c)];
        if (log && !(v > 0)) v = std::nan("");
        colour_->data()->setCell(c, r, v);
        if (std::isfinite(v)) {
          lo = std::min(lo, v);
          hi = std::max(hi, v);
        }
      }
    if (!std::isfinite(lo)) lo = hi = 1;
    if (hi <= lo) hi = lo * 10;
    colour_->setDataScaleType(log ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
    scale_->axis()->setScaleType(log ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
    if (log) scale_->axis()->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    else scale_->axis()->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    colour_->setDataRange(QCPRange(lo, hi));
    map_->xAxis->setRange(-0.5, double(s.cols) - 0.5);
    map_->yAxis->setRange(-0.5, double(s.rows) - 0.5);
  }
  // Profiles.
  auto profile = [log](QCustomPlot* p, const std::vector<float>& v) {
    QVector<double> x, y;
    for (size_t i = 0; i < v.size(); ++i) {
      x << double(i);
      y << double(v[i]);
    }
    p->graph(0)->setData(x, y, true);
    p->yAxis->setScaleType(log ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
    if (log) p->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    else p->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    p->yAxis->ticker()->setTickCount(2);  // the profiles are short: two or three labels that do not overlap
    p->rescaleAxes();
  };
  profile(columns_, s.column_sum);
  profile(rows_, s.row_sum);
  // The allocation's channels: impulses at the profile's height, lines across the map.
  auto marks = [](QCPGraph* g, const std::vector<int64_t>& idx, const std::vector<float>& profile) {
    QVector<double> x, y;
    for (int64_t c : idx)
      if (c >= 0 && size_t(c) < profile.size()) {
        x << double(c);
        y << double(profile[size_t(c)]);
      }
    g->setData(x, y, true);
  };
  const bool in = markAxis_ == ChannelAxis::kIn;
  std::vector<int64_t> inRaised = fp16_, outRaised;
  (in ? inRaised : outRaised).insert((in ? inRaised : outRaised).end(), raised_.begin(), raised_.end());
  marks(columns_->graph(1), inRaised, s.column_sum);
  marks(rows_->graph(1), outRaised, s.row_sum);
  marks(columns_->graph(2), in ? lowered_ : std::vector<int64_t>{}, s.column_sum);
  marks(rows_->graph(2), in ? std::vector<int64_t>{} : lowered_, s.row_sum);
  auto lines = [&s](QCPCurve* curve, const std::vector<int64_t>& idx, bool vertical) {
    QVector<double> t, x, y;
    const double nan = std::nan("");
    const int64_t n = vertical ? s.cols : s.rows;
    const double lo = -0.5, hi = double(vertical ? s.rows : s.cols) - 0.5;
    for (int64_t c : idx) {
      if (c < 0 || c >= n) continue;
      for (double e : {lo, hi, nan}) {
        t << double(t.size());
        x << (vertical ? (std::isnan(e) ? nan : double(c)) : e);
        y << (vertical ? e : (std::isnan(e) ? nan : double(c)));
      }
    }
    curve->setData(t, x, y, true);
  };
  lines(mapMarks_, raised_, in);
  lines(mapFp16_, fp16_, true);
  if (!raised_.empty() || !fp16_.empty() || !lowered_.empty()) {
    QStringList parts;
    const QString what = in ? tr("input channels") : tr("output channels");
    if (!raised_.empty()) parts << tr("%1 %2 at more bits or fp16").arg(raised_.size()).arg(what);
    if (!fp16_.empty()) parts << tr("%1 fp16 outlier columns").arg(fp16_.size());
    if (!lowered_.empty()) parts << tr("%1 at fewer bits").arg(lowered_.size());
    title_->setText(title_->text() + QStringLiteral("<br>") + tr("Allocation: %1 (lines on the map)").arg(parts.join(QStringLiteral(", "))));
  }
  // Histogram of log10 of the per-column saliency, 30 bins.
  std::vector<double> logs;
  for (float v : s.column_sum)
    if (v > 0) logs.push_back(std::log10(double(v)));
  auto* bars = static_cast<QCPBars*>(histogram_->plottable(0));
  bars->data()->clear();
  if (!logs.empty()) {
    const auto [mn, mx] = std::minmax_element(logs.begin(), logs.end());
    const int bins = 30;
    const double lo = *mn, width = std::max(1e-9, (*mx - *mn) / bins);
    std::vector<double> counts(bins, 0.0);
    for (double v : logs) counts[size_t(std::min(bins - 1, int((v - lo) / width)))] += 1;
    QVector<double> x, y;
    for (int b = 0; b < bins; ++b) {
      x << lo + (b + 0.5) * width;
      y << counts[size_t(b)];
    }
    bars->setWidth(width * 0.9);
    bars->setData(x, y, true);
    histogram_->rescaleAxes();
    histogram_->yAxis->setRangeLower(0);
  }
  for (QCustomPlot* p : {map_, columns_, rows_, histogram_}) p->replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace bitscape::widgets
