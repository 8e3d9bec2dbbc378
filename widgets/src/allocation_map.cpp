#include "bitscape/widgets/allocation_map.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSpinBox>
#include <QSplitter>
#include <QVBoxLayout>
#include <cmath>
#include <memory>

#include "bitscape/cost_model.h"
#include "bitscape/widgets/allocation_model.h"
#include "bitscape/widgets/heatmap_view.h"
#include "bitscape/widgets/plot_export.h"
#include "bitscape/widgets/sensitivity_panel.h"

namespace bitscape::widgets {
namespace {

const QColor kKindColours[] = {QColor(0x1f, 0x77, 0xb4), QColor(0x6b, 0xae, 0xd6), QColor(0x9e, 0xca, 0xe1),
                               QColor(0x31, 0x82, 0xbd), QColor(0xe6, 0x55, 0x0d), QColor(0xfd, 0x8d, 0x3c),
                               QColor(0xa6, 0x36, 0x03)};

}  // namespace

AllocationMap::AllocationMap(QWidget* parent) : QWidget(parent) {
  grid_ = new HeatmapView;
  grid_->setObjectName(QStringLiteral("allocationGrid"));
  grid_->setBitsPalette(true);
  grid_->setPlaceholder(tr("Open a model to see its allocation"));
  bars_ = new QCustomPlot;
  bars_->setObjectName(QStringLiteral("allocationBars"));
  bars_->setMinimumHeight(120);
  const QColor text = palette().color(QPalette::Text);  // the rest follows the palette
  bars_->xAxis->setLabel(tr("block"));
  bars_->yAxis->setLabel(tr("bits / weight"));
  bars_->legend->setVisible(true);
  // The legend in one row above the bars.
  bars_->legend->setFillOrder(QCPLegend::foColumnsFirst);
  bars_->legend->setWrap(7);
  bars_->plotLayout()->insertRow(0);
  bars_->plotLayout()->addElement(0, 0, bars_->legend);
  bars_->plotLayout()->setRowStretchFactor(0, 0.001);
  auto* group = new QCPBarsGroup(bars_);
  const QStringList kinds = moduleColumnLabels();
  for (int k = 0; k < kinds.size(); ++k) {
    auto* b = new QCPBars(bars_->xAxis, bars_->yAxis);
    b->setName(kinds[k]);
    b->setPen(Qt::NoPen);
    b->setBrush(kKindColours[k]);
    b->setWidth(0.11);
    b->setBarsGroup(group);
    series_.push_back(b);
  }
  average_ = new QCPItemStraightLine(bars_);
  average_->setPen(QPen(text, 1.5, Qt::DashLine));
  installExportMenu(bars_);

  paint_ = new QCheckBox(tr("Paint bits by dragging over the grid:"));
  paint_->setObjectName(QStringLiteral("paint"));
  paintBits_ = new QSpinBox;
  paintBits_->setObjectName(QStringLiteral("paintBits"));
  paintBits_->setRange(2, 16);
  paintBits_->setValue(2);
  paintBits_->setSuffix(tr(" bits"));
  auto* controls = new QHBoxLayout;
  controls->addWidget(paint_);
  controls->addWidget(paintBits_);
  controls->addStretch(1);

  auto* split = new QSplitter(Qt::Vertical);
  split->addWidget(grid_);
  split->addWidget(bars_);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addLayout(controls);
  layout->addWidget(split, 1);
  auto moduleAt = [](int row, int column) {
    static const char* const leaves[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                         "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                         "mlp.down_proj"};
    return QStringLiteral("model.layers.%1.%2").arg(row).arg(QLatin1String(leaves[column]));
  };
  grid_->setCellDetail([this, moduleAt](int row, int column) -> QString {
    if (!model_) return {};
    const int r = model_->rowOf(moduleAt(row, column));
    if (r < 0) return {};
    const ModuleAllocation& m = model_->module(r);
    const ModuleShape& shape = model_->shapes()[size_t(r)];
    QStringList lines;
    const auto counts = channel_class_counts(m, shape);
    int64_t total = 0;
    for (const auto& [bits, n] : counts) total += n;
    if (counts.size() > 1 && total > 0) {
      const QString axis = m.channels.axis == ChannelAxis::kIn ? tr("input") : tr("output");
      for (const auto& [bits, n] : counts)
        if (n > 0)
          lines << tr("%1 % of the %2 channels at %3 bits")
                       .arg(100.0 * double(n) / double(total), 0, 'f', 1)
                       .arg(axis)
                       .arg(bits == kUnquantizedBits ? QStringLiteral("16") : QString::number(bits));
    }
    if (const int64_t fp16 = activation_outlier_columns(m, shape); fp16 > 0)
      lines << tr("%1 input channels kept in fp16").arg(fp16);
    return lines.join('\n');
  });
  installBitsPainting(grid_, [this] { return model_; }, moduleAt,
                      [this] { return paint_->isChecked() ? paintBits_->value() : 0; });
  connect(grid_, &HeatmapView::cellClicked, this,
          [this, moduleAt](int row, int column) { Q_EMIT moduleSelected(moduleAt(row, column)); });
}

void installBitsPainting(HeatmapView* view, std::function<AllocationModel*()> model,
                         std::function<QString(int, int)> moduleAt, std::function<int()> bits) {
  auto stroke = std::make_shared<int>(0);  // the bits of the stroke in progress, 0 = none
  auto paintCell = [model, moduleAt, stroke](int row, int column) {
    const int r = model()->rowOf(moduleAt(row, column));
    if (r >= 0) model()->setBits({r}, *stroke);
  };
  QObject::connect(view, &HeatmapView::cellClicked, view, [=](int row, int column) {
    if (!model() || bits() <= 0) return;
    *stroke = bits();
    model()->undoStack()->beginMacro(QObject::tr("Paint %1 bits").arg(*stroke));
    paintCell(row, column);
  });
  QObject::connect(view, &HeatmapView::cellDragged, view, [=](int row, int column) {
    if (model() && *stroke > 0) paintCell(row, column);
  });
  QObject::connect(view, &HeatmapView::dragFinished, view, [=] {
    if (model() && *stroke > 0) model()->undoStack()->endMacro();
    *stroke = 0;
  });
}

QWidget* AllocationMap::gridWidget() const { return grid_; }
QWidget* AllocationMap::barsWidget() const { return bars_; }

void AllocationMap::setPainting(bool on, int bits) {
  paint_->setChecked(on);
  paintBits_->setValue(bits);
}

QString AllocationMap::cellText(int row, int column) const { return grid_->cellText(row, column); }

void AllocationMap::setModel(AllocationModel* model) {
  model_ = model;
  connect(model, &AllocationModel::totalsChanged, this, [this] { redraw(); });
  connect(model, &QAbstractItemModel::modelReset, this, [this] { redraw(); });
  redraw();
}

std::vector<std::vector<double>> AllocationMap::barValues() const {
  std::vector<std::vector<double>> v(series_.size());
  for (size_t k = 0; k < series_.size(); ++k)
    for (auto it = series_[k]->data()->constBegin(); it != series_[k]->data()->constEnd(); ++it)
      v[k].push_back(it->value);
  return v;
}

double AllocationMap::averageLine() const { return average_->point1->coords().y(); }

void AllocationMap::redraw() {
  if (!model_ || model_->rowCount() == 0) {
    grid_->clear();
    return;
  }
  int blocks = 0;
  for (const ModuleShape& s : model_->shapes()) blocks = std::max(blocks, moduleCell(s.name).first + 1);
  std::vector<std::vector<double>> cells(size_t(blocks), std::vector<double>(7, std::nan("")));
  const AllocationCost& cost = model_->cost();
  for (size_t i = 0; i < model_->shapes().size() && i < cost.modules.size(); ++i) {
    const auto [r, c] = moduleCell(model_->shapes()[i].name);
    if (r >= 0) cells[size_t(r)][size_t(c)] = cost.modules[i].code_bits_per_weight();
  }
  QStringList rows;
  for (int b = 0; b < blocks; ++b) rows << QString::number(b);
  grid_->setData(rows, moduleColumnLabels(), cells, tr("code bits per weight"));

  double top = 4.0;
  for (size_t k = 0; k < series_.size(); ++k) {
    QVector<double> x, y;
    for (int b = 0; b < blocks; ++b) {
      x << b;
      y << (std::isfinite(cells[size_t(b)][k]) ? cells[size_t(b)][k] : 0.0);
      top = std::max(top, y.back());
    }
    series_[k]->setData(x, y, true);
  }
  average_->point1->setCoords(0, cost.average_code_bits);
  average_->point2->setCoords(1, cost.average_code_bits);
  QSharedPointer<QCPAxisTickerFixed> ticker(new QCPAxisTickerFixed);
  ticker->setTickStep(std::max(1, blocks / 16));
  bars_->xAxis->setTicker(ticker);
  bars_->xAxis->setRange(-0.6, blocks - 0.4);
  bars_->yAxis->setRange(0, top * 1.1);
  bars_->replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace bitscape::widgets
