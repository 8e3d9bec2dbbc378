#include "bitscape/widgets/results_table.h"

#include <QCheckBox>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QMessageBox>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

#include <cmath>

namespace bitscape::widgets {

ResultsTable::ResultsTable(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("results"));
  table_ = new QTableWidget(0, kColumnCount);
  table_->setObjectName(QStringLiteral("resultsTable"));
  table_->setHorizontalHeaderLabels({tr("Pin"), tr("Label"), tr("Model"), tr("Bits"), tr("Data"), tr("Windows"),
                                     tr("Device"), tr("Perplexity"), tr("Hide"), tr("Created")});
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  table_->horizontalHeader()->setSectionResizeMode(kLabelColumn, QHeaderView::Stretch);
  table_->verticalHeader()->setVisible(false);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setToolTip(tr("Double-click a label to rename it; pinned allocations are drawn on the Pareto front "
                        "(perplexity view)"));
  showHidden_ = new QCheckBox(tr("Show hidden"));
  showHidden_->setObjectName(QStringLiteral("showHidden"));
  auto* exportButton = new QPushButton(tr("Export CSV\u2026"));
  exportButton->setObjectName(QStringLiteral("exportCsv"));
  auto* row = new QHBoxLayout;
  row->addWidget(showHidden_);
  row->addStretch(1);
  row->addWidget(exportButton);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(table_, 1);
  layout->addLayout(row);
  connect(showHidden_, &QCheckBox::toggled, this, [this] { rebuild(); });
  connect(exportButton, &QPushButton::clicked, this, [this] {
    const QString path = QFileDialog::getSaveFileName(this, tr("Export results"), QStringLiteral("results.csv"),
                                                      tr("CSV files (*.csv)"));
    if (!path.isEmpty() && !exportCsv(path))
      QMessageBox::warning(this, tr("Export failed"), tr("Could not write %1").arg(path));
  });
  connect(table_, &QTableWidget::itemChanged, this, [this](QTableWidgetItem* item) {
    if (rebuilding_ || item->row() < 0 || size_t(item->row()) >= shown_.size()) return;
    const size_t index = shown_[size_t(item->row())];
    EvaluationRecord& r = records_[index];
    if (item->column() == kLabelColumn) {
      const QString label = item->text().trimmed();
      if (label.isEmpty() || label.toStdString() == r.label) return;
      r.label = label.toStdString();
    } else if (item->column() == kPinColumn) {
      if ((item->checkState() == Qt::Checked) == r.pinned) return;
      r.pinned = item->checkState() == Qt::Checked;
    } else if (item->column() == kHideColumn) {
      if ((item->checkState() == Qt::Checked) == r.hidden) return;
      r.hidden = item->checkState() == Qt::Checked;
    } else {
      return;
    }
    changed(index);
  });
}

void ResultsTable::setRecords(const std::vector<EvaluationRecord>& records) {
  records_ = records;
  rebuild();
}

void ResultsTable::addRecord(const EvaluationRecord& record) {
  records_.push_back(record);
  rebuild();
}

void ResultsTable::setShowHidden(bool on) { showHidden_->setChecked(on); }

int ResultsTable::visibleRowCount() const { return table_->rowCount(); }

QString ResultsTable::text(int row, int column) const {
  const QTableWidgetItem* item = table_->item(row, column);
  return item ? item->text() : QString();
}

void ResultsTable::rename(int record, const QString& label) {
  if (label.trimmed().isEmpty()) return;
  records_.at(size_t(record)).label = label.trimmed().toStdString();
  changed(size_t(record));
}

void ResultsTable::setPinned(int record, bool pinned) {
  records_.at(size_t(record)).pinned = pinned;
  changed(size_t(record));
}

void ResultsTable::setHidden(int record, bool hidden) {
  records_.at(size_t(record)).hidden = hidden;
  changed(size_t(record));
}

void ResultsTable::changed(size_t index) {
  rebuild();
  Q_EMIT recordChanged(records_[index]);
}

QString ResultsTable::csv() const { return QString::fromStdString(evaluations_csv(records_)); }

bool ResultsTable::exportCsv(const QString& path) const {
  QFile f(path);
  if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate)) return false;
  const QByteArray bytes = csv().toUtf8();
  return f.write(bytes) == bytes.size() && f.flush();
}

void ResultsTable::rebuild() {
  rebuilding_ = true;
  shown_.clear();
  for (size_t i = 0; i < records_.size(); ++i)
    if (!records_[i].hidden || showHidden_->isChecked()) shown_.push_back(i);
  table_->setRowCount(int(shown_.size()));
  for (int row = 0; row < int(shown_.size()); ++row) {
    const EvaluationRecord& r = records_[shown_[size_t(row)]];
    auto cell = [&](int column, const QString& text, bool editable = false) {
      auto* item = new QTableWidgetItem(text);
      Qt::ItemFlags flags = Qt::ItemIsEnabled | Qt::ItemIsSelectable;
      if (editable) flags |= Qt::ItemIsEditable;
      item->setFlags(flags);
      table_->setItem(row, column, item);
      return item;
    };
    auto check = [&](int column, bool on, const QString& tip) {
      auto* item = cell(column, QString());
      item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemIsUserCheckable);
      item->setCheckState(on ? Qt::Checked : Qt::Unchecked);
      item->setToolTip(tip);
    };
    check(kPinColumn, r.pinned, tr("Pinned: drawn on the Pareto front (perplexity view) when it is an allocation"));
    cell(kLabelColumn, QString::fromStdString(r.label), true)->setToolTip(QString::fromStdString(r.name));
    cell(kModelColumn, r.subject == "unquantized" ? tr("unquantized")
                                                  : tr("allocation %1").arg(QString::fromStdString(r.allocation_name)));
    cell(kBitsColumn, std::isfinite(r.average_bits) ? QString::number(r.average_bits, 'f', 3) : tr("16"));
    cell(kDataColumn, QFileInfo(QString::fromStdString(r.data)).fileName())->setToolTip(QString::fromStdString(r.data));
    cell(kWindowsColumn, tr("%1 \u00D7 %2").arg(r.windows).arg(r.seqlen));
    cell(kDeviceColumn, QString::fromStdString(r.device + " " + r.dtype));
    cell(kPplColumn, std::isfinite(r.ppl) ? QString::number(r.ppl, 'f', 3) : QString());
    check(kHideColumn, r.hidden, tr("Hidden from this table (Show hidden lists it again)"));
    cell(kCreatedColumn, QString::fromStdString(r.created));
  }
  rebuilding_ = false;
}

}  // namespace bitscape::widgets
