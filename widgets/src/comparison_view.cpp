#include "bitscape/widgets/comparison_view.h"

#include <QHeaderView>
#include <QLabel>
#include <QTableWidget>
#include <QTextDocument>
#include <QVBoxLayout>

#include <algorithm>
#include <cstdlib>

#include "bitscape/widgets/allocation_model.h"
#include "bitscape/widgets/format.h"

namespace bitscape::widgets {

QString settingText(const ModuleAllocation& m) {
  if (!m.quantized()) return ComparisonView::tr("16 bits");
  QString t = ComparisonView::tr("%1 bits").arg(m.bits);
  t += m.group_size == kPerChannel ? ComparisonView::tr(" per channel") : QStringLiteral(" g%1").arg(m.group_size);
  t += QStringLiteral(" ") + QString::fromStdString(quantizer_name(m.quantizer));
  if (!m.channels.classes.empty()) t += ComparisonView::tr(" + %n class(es)", "", int(m.channels.classes.size()));
  if (!m.outliers.empty()) t += ComparisonView::tr(" + fp16 columns");
  return t;
}

ComparisonView::ComparisonView(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("comparison"));
  summary_ = new QLabel;
  summary_->setObjectName(QStringLiteral("comparisonSummary"));
  summary_->setTextFormat(Qt::RichText);
  summary_->setWordWrap(true);
  summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  table_ = new QTableWidget(0, kColumnCount);
  table_->setObjectName(QStringLiteral("comparisonTable"));
  table_->setHorizontalHeaderLabels({tr("Module"), tr("Editor"), tr("Reference"), tr("\u0394 bits/weight"), tr("\u0394 size")});
  table_->verticalHeader()->setVisible(false);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setTextElideMode(Qt::ElideNone);  // full module names (they were elided to "0 · ...")
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(summary_);
  layout->addWidget(table_, 1);
  refresh();
}

void ComparisonView::setModel(AllocationModel* model) {
  model_ = model;
  connect(model_, &AllocationModel::referenceChanged, this, &ComparisonView::refresh);
  connect(model_, &AllocationModel::totalsChanged, this, &ComparisonView::refresh);
  connect(model_, &QAbstractItemModel::modelReset, this, &ComparisonView::refresh);
  refresh();
}

void ComparisonView::setMeasures(std::function<QStringList(const Allocation&)> measures) {
  measures_ = std::move(measures);
  refresh();
}

void ComparisonView::refresh() {
  if (isVisible()) {
    rebuild();
  } else {
    stale_ = true;
  }
}

void ComparisonView::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  if (stale_) rebuild();
}

int ComparisonView::rowCount() const {
  if (stale_) const_cast<ComparisonView*>(this)->rebuild();  // read while hidden (tests, the window)
  return table_->rowCount();
}

QString ComparisonView::text(int row, int column) const {
  if (stale_) const_cast<ComparisonView*>(this)->rebuild();
  const QTableWidgetItem* item = table_->item(row, column);
  return item ? item->text() : QString();
}

QString ComparisonView::summaryText() const {
  if (stale_) const_cast<ComparisonView*>(this)->rebuild();
  QTextDocument doc;
  doc.setHtml(summary_->text());
  return doc.toPlainText();
}

void ComparisonView::rebuild() {
  stale_ = false;
  if (!model_ || !model_->hasReference() || model_->rowCount() == 0) {
    summary_->setText(tr("<p>Keep an allocation as the reference (Allocation editor \u203A Compare), then load or "
                         "edit another: the two are compared here, measures side by side and module by module.</p>"));
    table_->setRowCount(0);
    return;
  }
  const AllocationCost& a = model_->cost();
  const AllocationCost& b = model_->referenceCost();
  const Allocation current = model_->allocation();
  const Allocation reference = model_->referenceAllocation();
  const QStringList ma = measures_ ? measures_(current) : QStringList();
  const QStringList mb = measures_ ? measures_(reference) : QStringList();
  auto row = [](const QString& what, const QString& x, const QString& y) {
    return QStringLiteral("<tr><td><b>%1</b></td><td>%2</td><td>%3</td></tr>").arg(what, x, y);
  };
  QString html = QStringLiteral("<table cellspacing=2 cellpadding=2>");
  html += row(QString(), tr("<b>Editor</b>"), tr("<b>Reference: %1</b>").arg(model_->referenceLabel().toHtmlEscaped()));
  html += row(tr("bits / weight"), QString::number(a.average_bits, 'f', 3), QString::number(b.average_bits, 'f', 3));
  html += row(tr("code bits"), QString::number(a.average_code_bits, 'f', 3), QString::number(b.average_code_bits, 'f', 3));
  html += row(tr("size"), formatBytes(qint64(a.total_bytes())), formatBytes(qint64(b.total_bytes())));
  const int n = std::max(ma.size(), mb.size());
  for (int i = 0; i < n; ++i)
    html += row(i == 0 ? tr("measured") : QString(), i < ma.size() ? ma[i].toHtmlEscaped() : QString(),
                i < mb.size() ? mb[i].toHtmlEscaped() : QString());
  if (n == 0) html += row(tr("measured"), tr("not yet (Evaluate, Test PPL)"), tr("not yet"));
  html += QStringLiteral("</table>");
  summary_->setText(html);

  const std::vector<int> rows = model_->differingRows();
  table_->setRowCount(int(rows.size()));
  for (int i = 0; i < int(rows.size()); ++i) {
    const int r = rows[size_t(i)];
    const QString name = QString::fromStdString(model_->shapes()[size_t(r)].name);
    const double bits = r < int(a.modules.size()) ? a.modules[size_t(r)].bits_per_weight() : 0;
    const double refBits = r < int(b.modules.size()) ? b.modules[size_t(r)].bits_per_weight() : 0;
    const qint64 bytes = r < int(a.modules.size()) ? qint64(a.modules[size_t(r)].total_bits() / 8) : 0;
    const qint64 refBytes = r < int(b.modules.size()) ? qint64(b.modules[size_t(r)].total_bits() / 8) : 0;
    auto put = [&](int column, const QString& text) { table_->setItem(i, column, new QTableWidgetItem(text)); };
    put(kModuleColumn, name);
    put(kCurrentColumn, settingText(model_->module(r)));
    put(kReferenceColumn, settingText(model_->referenceModule(r)));
    put(kBitsDeltaColumn, QStringLiteral("%1%2").arg(bits >= refBits ? QStringLiteral("+") : QString()).arg(bits - refBits, 0, 'f', 3));
    put(kBytesDeltaColumn, (bytes >= refBytes ? QStringLiteral("+") : QStringLiteral("\u2212")) +
                               formatBytes(std::abs(bytes - refBytes)));
  }
}

}  // namespace bitscape::widgets
