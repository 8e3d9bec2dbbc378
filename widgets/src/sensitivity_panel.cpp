#include "bitscape/widgets/sensitivity_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSpinBox>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <regex>

#include "bitscape/widgets/allocation_map.h"
#include "bitscape/widgets/allocation_model.h"
#include "bitscape/widgets/heatmap_view.h"

namespace bitscape::widgets {
namespace {

const char* const kLeaves[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                               "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                               "mlp.down_proj"};

// A metric as offered: which measure, at which bits (-1: none).
struct MetricKey {
  QString kind;  // "kl", "delta_ppl", "objective", "hawq", "trace", "saliency"
  int bits = -1;
  QString saliency;  // the saliency metric ("obs", ...) for kind "saliency"
};

QString metricLabel(const MetricKey& k) {
  if (k.kind == "kl") return SensitivityPanel::tr("KL at %1 bits").arg(k.bits);
  if (k.kind == "delta_ppl") return SensitivityPanel::tr("perplexity increase at %1 bits").arg(k.bits);
  if (k.kind == "objective") return SensitivityPanel::tr("layer objective at %1 bits").arg(k.bits);
  if (k.kind == "hawq") return SensitivityPanel::tr("HAWQ-v2 measure at %1 bits").arg(k.bits);
  if (k.kind == "saliency") return SensitivityPanel::tr("saliency total (%1)").arg(k.saliency);
  return SensitivityPanel::tr("Hessian trace (Hutchinson)");
}

double metricValue(const SensitivityCurve& c, const MetricKey& k) {
  if (k.kind == "trace") return c.hessian_trace;
  for (size_t i = 0; i < c.bits.size(); ++i) {
    if (c.bits[i] != k.bits) continue;
    const std::vector<double>* v = k.kind == "kl"          ? &c.kl
                                   : k.kind == "delta_ppl" ? &c.delta_ppl
                                   : k.kind == "objective" ? &c.objective
                                                           : &c.hawq;
    return i < v->size() ? (*v)[i] : std::nan("");
  }
  return std::nan("");
}

std::vector<MetricKey> metricKeys(const std::vector<SensitivityCurve>& curves,
                                  const std::map<std::string, std::map<std::string, double>>& totals) {
  std::vector<MetricKey> keys;
  if (curves.empty()) return keys;
  const std::vector<int>& bits = curves.front().bits;
  for (const char* kind : {"kl", "delta_ppl", "objective", "hawq"})
    for (int b : bits) {
      MetricKey k{kind, b};
      bool any = false;
      for (const SensitivityCurve& c : curves) any = any || std::isfinite(metricValue(c, k));
      if (any) keys.push_back(k);
    }
  MetricKey t{"trace", -1};
  for (const SensitivityCurve& c : curves)
    if (std::isfinite(c.hessian_trace)) {
      keys.push_back(t);
      break;
    }
  std::vector<std::string> saliency;
  for (const auto& [module, byMetric] : totals)
    for (const auto& [metric, total] : byMetric)
      if (std::find(saliency.begin(), saliency.end(), metric) == saliency.end()) saliency.push_back(metric);
  for (const std::string& m : saliency) keys.push_back({"saliency", -1, QString::fromStdString(m)});
  return keys;
}

}  // namespace

std::pair<int, int> moduleCell(const std::string& module) {
  static const std::regex re(R"(^(?:model\.)?layers\.(\d+)\.(self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)$)");
  std::smatch m;
  if (!std::regex_match(module, m, re)) return {-1, -1};
  for (int c = 0; c < 7; ++c)
    if (m[2].str() == kLeaves[c]) return {std::stoi(m[1].str()), c};
  return {-1, -1};
}

QStringList moduleColumnLabels() { return {"q", "k", "v", "o", "gate", "up", "down"}; }

SensitivityPanel::SensitivityPanel(QWidget* parent) : QWidget(parent) {
  heatmap_ = new HeatmapView;
  metric_ = new QComboBox;
  // As wide as its longest entry, also once entries arrive after the first show (the default
  // policy measured the empty combo and cut "activation-weighted ..." to "activatio").
  metric_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  metric_->setObjectName("metric");
  log_ = new QCheckBox(tr("log scale"));
  log_->setObjectName("logScale");
  log_->setChecked(true);
  paint_ = new QCheckBox(tr("Paint"));
  paint_->setObjectName("paint");
  paint_->setToolTip(tr("Click or drag over cells to set those modules to the chosen bits"));
  paintBits_ = new QSpinBox;
  paintBits_->setObjectName("paintBits");
  paintBits_->setRange(2, 16);
  paintBits_->setValue(4);
  paintBits_->setSuffix(tr(" bits"));
  auto* controls = new QHBoxLayout;
  controls->addWidget(new QLabel(tr("Measure:")));
  controls->addWidget(metric_, 1);
  controls->addWidget(log_);
  controls->addWidget(paint_);
  controls->addWidget(paintBits_);
  installBitsPainting(heatmap_, [this] { return model_; },
                      [this](int r, int c) { return moduleAt(r, c); },
                      [this] { return paint_->isChecked() ? paintBits_->value() : 0; });
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addLayout(controls);
  layout->addWidget(heatmap_, 1);
  connect(metric_, &QComboBox::currentIndexChanged, this, [this] { redraw(); });
  connect(log_, &QCheckBox::toggled, this, [this] { redraw(); });
  connect(heatmap_, &HeatmapView::cellClicked, this, [this](int r, int c) {
    const QString m = moduleAt(r, c);
    if (!m.isEmpty()) Q_EMIT moduleSelected(m);
  });
}

void SensitivityPanel::setAllocationModel(AllocationModel* model) {
  model_ = model;
  connect(model_, &QAbstractItemModel::modelReset, this, [this] { relabel(); });
  connect(model_, &QAbstractItemModel::dataChanged, this, [this] { relabel(); });
  relabel();
}

void SensitivityPanel::setPlaceholder(const QString& text) { heatmap_->setPlaceholder(text); }

void SensitivityPanel::setPainting(bool on, int bits) {
  paint_->setChecked(on);
  paintBits_->setValue(bits);
}

void SensitivityPanel::relabel() {
  std::vector<std::vector<QString>> labels(size_t(heatmap_->rows()), std::vector<QString>(7));
  if (model_)
    for (int row = 0; row < model_->rowCount(); ++row) {
      const auto [block, column] = moduleCell(model_->shapes()[size_t(row)].name);
      if (block < 0 || size_t(block) >= labels.size()) continue;
      const ModuleAllocation& m = model_->module(row);
      labels[size_t(block)][size_t(column)] =
          QString::number(m.bits) + (m.channels.empty() && m.outliers.empty() ? QString() : QStringLiteral("*"));
    }
  heatmap_->setCellLabels(labels);
}

void SensitivityPanel::clear() {
  curves_.clear();
  totals_.clear();
  metric_->clear();
  heatmap_->clear();
  heatmap_->setPlaceholder(tr("Open a project with a sensitivity run"));
}

void SensitivityPanel::setCurves(const QString& title, const std::vector<SensitivityCurve>& curves,
                                 const std::map<std::string, std::map<std::string, double>>& saliencyTotals) {
  title_ = title;
  curves_ = curves;
  totals_ = saliencyTotals;
  blocks_ = 0;
  for (const SensitivityCurve& c : curves_) blocks_ = std::max(blocks_, moduleCell(c.module).first + 1);
  const QString previous = metric_->currentText();
  QStringList labels;
  for (const MetricKey& k : metricKeys(curves_, totals_)) labels << metricLabel(k);
  QStringList shown;
  for (int i = 0; i < metric_->count(); ++i) shown << metric_->itemText(i);
  if (labels != shown) {  // the same measures (a live run's next module): the combo stays as it is
    const QSignalBlocker block(metric_);
    metric_->clear();
    metric_->addItems(labels);
    // Default: the KL at 3 bits (the steadiest measure on small models), else the first.
    int index = metric_->findText(previous);
    if (index < 0) index = metric_->findText(tr("KL at %1 bits").arg(3));
    metric_->setCurrentIndex(std::max(0, index));
  }
  redraw();
}

QStringList SensitivityPanel::metrics() const {
  QStringList out;
  for (int i = 0; i < metric_->count(); ++i) out << metric_->itemText(i);
  return out;
}

void SensitivityPanel::setMetric(const QString& metric) {
  const int i = metric_->findText(metric);
  if (i >= 0) metric_->setCurrentIndex(i);
}

QWidget* SensitivityPanel::plotWidget() const { return heatmap_; }

QString SensitivityPanel::metric() const { return metric_->currentText(); }

QString SensitivityPanel::moduleAt(int row, int column) const {
  for (const SensitivityCurve& c : curves_)
    if (moduleCell(c.module) == std::make_pair(row, column)) return QString::fromStdString(c.module);
  return {};
}

void SensitivityPanel::redraw() {
  const std::vector<MetricKey> keys = metricKeys(curves_, totals_);
  const int index = metric_->currentIndex();
  if (curves_.empty() || blocks_ == 0 || index < 0 || index >= int(keys.size())) {
    heatmap_->clear();
    return;
  }
  const MetricKey& key = keys[size_t(index)];
  std::vector<std::vector<double>> grid(size_t(blocks_), std::vector<double>(7, std::nan("")));
  for (const SensitivityCurve& c : curves_) {
    const auto [r, col] = moduleCell(c.module);
    if (r < 0) continue;
    if (key.kind == "saliency") {
      double v = std::nan("");
      if (const auto m = totals_.find(c.module); m != totals_.end())
        if (const auto t = m->second.find(key.saliency.toStdString()); t != m->second.end()) v = t->second;
      grid[size_t(r)][size_t(col)] = v;
    } else {
      grid[size_t(r)][size_t(col)] = metricValue(c, key);
    }
  }
  QStringList rows;
  for (int b = 0; b < blocks_; ++b) rows << QString::number(b);
  heatmap_->setBitsPalette(false);
  heatmap_->setData(rows, moduleColumnLabels(), grid, metricLabel(key), log_->isChecked());
  relabel();
}

}  // namespace bitscape::widgets
