#include "bitscape/widgets/probing_view.h"

#include <qcustomplot.h>

#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>
#include <algorithm>
#include <set>

#include "bitscape/widgets/plot_export.h"

namespace bitscape::widgets {

ProbingView::ProbingView(QWidget* parent) : QWidget(parent) {
  title_ = new QLabel(tr("Multi-source probing (TAMMP): which input columns are critical under each "
                         "calibration corpus. Run it on the open project (Project \u203a Run "
                         "multi-source probing) or with `bitscape-cli sensitivity --data A --data B ...`."));
  title_->setWordWrap(true);
  plot_ = new QCustomPlot;
  plot_->setObjectName(QStringLiteral("probing"));
  plot_->setMinimumHeight(160);
  plot_->xAxis->setLabel(tr("input channel"));
  plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  plot_->axisRect()->setRangeDrag(Qt::Horizontal);
  plot_->axisRect()->setRangeZoom(Qt::Horizontal);
  installExportMenu(plot_);
  run_ = new QPushButton(tr("Run probing\u2026"));
  run_->setObjectName(QStringLiteral("probingRun"));
  strategy1_ = new QPushButton(tr("TAMMP strategy 1 \u2192 editor"));
  strategy1_->setObjectName(QStringLiteral("tammpStrategy1"));
  strategy1_->setToolTip(tr("Columns critical for every source in fp16, those critical for some source "
                            "at 3 bits, the rest at 2 bits (RTN, group 128)"));
  strategy2_ = new QPushButton(tr("TAMMP strategy 2 \u2192 editor"));
  strategy2_->setObjectName(QStringLiteral("tammpStrategy2"));
  strategy2_->setToolTip(tr("Columns critical for every source in fp16, those non-critical for some "
                            "source at 2 bits, the rest at 3 bits (RTN, group 128)"));
  connect(run_, &QPushButton::clicked, this, &ProbingView::runRequested);
  connect(strategy1_, &QPushButton::clicked, this, [this] { Q_EMIT allocationRequested(1); });
  connect(strategy2_, &QPushButton::clicked, this, [this] { Q_EMIT allocationRequested(2); });
  setHasRun(false);
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(run_);
  buttons->addStretch(1);
  buttons->addWidget(strategy1_);
  buttons->addWidget(strategy2_);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(title_);
  layout->addLayout(buttons);
  layout->addWidget(plot_, 1);
}

void ProbingView::setHasRun(bool hasRun) {
  strategy1_->setEnabled(hasRun);
  strategy2_->setEnabled(hasRun);
}

void ProbingView::clear() {
  critical_.clear();
  overlap_.clear();
  unionCount_ = 0;
  plot_->clearGraphs();
  plot_->replot();
}

int ProbingView::drawnPoints(int row) const {
  return row < plot_->graphCount() ? plot_->graph(row)->dataCount() : 0;
}

void ProbingView::setProbe(const QString& module, const QStringList& sources,
                           const std::vector<std::vector<int64_t>>& critical, int64_t columns,
                           double compactness) {
  clear();
  critical_ = critical;
  // The overlap: columns critical for every source; the union: for any.
  std::set<int64_t> all;
  for (const auto& c : critical) all.insert(c.begin(), c.end());
  unionCount_ = int(all.size());
  for (int64_t c : all)
    if (std::all_of(critical.begin(), critical.end(),
                    [c](const std::vector<int64_t>& s) { return std::find(s.begin(), s.end(), c) != s.end(); }))
      overlap_.push_back(c);

  const QColor colours[] = {QColor(0x1f, 0x77, 0xb4), QColor(0xd6, 0x27, 0x28), QColor(0x2c, 0xa0, 0x2c),
                            QColor(0x94, 0x67, 0xbd), QColor(0xff, 0x7f, 0x0e)};
  QSharedPointer<QCPAxisTickerText> ticks(new QCPAxisTickerText);
  const int S = int(critical.size());
  for (int s = 0; s <= S; ++s) {
    const std::vector<int64_t>& cols = s < S ? critical[size_t(s)] : overlap_;
    QCPGraph* g = plot_->addGraph();
    g->setLineStyle(QCPGraph::lsNone);
    const QColor colour = s < S ? colours[s % 5] : palette().color(QPalette::Text);
    g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssSquare, colour, colour, 4));
    QVector<double> x, y;
    for (int64_t c : cols) {
      x << double(c);
      y << double(s);
    }
    g->setData(x, y, true);
    ticks->addTick(s, s < S ? (s < sources.size() ? sources[s] : QString::number(s)) : tr("all sources"));
  }
  plot_->yAxis->setTicker(ticks);
  plot_->yAxis->setRange(-0.7, S + 0.7);
  plot_->yAxis->setRangeReversed(true);
  plot_->xAxis->setRange(-0.5, double(std::max<int64_t>(1, columns)) - 0.5);
  title_->setText(tr("<b>%1</b>: critical columns of %2 sources; %3 in all, %4 in any; consensus "
                     "Jaccard compactness %5")
                      .arg(module)
                      .arg(S)
                      .arg(overlap_.size())
                      .arg(unionCount_)
                      .arg(compactness, 0, 'f', 3));
  plot_->replot();
}

}  // namespace bitscape::widgets
