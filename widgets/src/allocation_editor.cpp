#include "bitscape/widgets/allocation_editor.h"

#include <QAction>
#include <QComboBox>
#include <QUndoStack>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QMenu>
#include <QPushButton>
#include <QSpinBox>
#include <QStyledItemDelegate>
#include <QTableView>
#include <QToolButton>
#include <QVBoxLayout>
#include <set>

#include "bitscape/widgets/allocation_model.h"
#include "bitscape/widgets/format.h"

namespace bitscape::widgets {
namespace {

// Spin box for bits (2..8 and 16), combo boxes for the group size and the quantizer.
class SettingDelegate : public QStyledItemDelegate {
 public:
  using QStyledItemDelegate::QStyledItemDelegate;
  QWidget* createEditor(QWidget* parent, const QStyleOptionViewItem& option,
                        const QModelIndex& index) const override {
    if (index.column() == AllocationModel::BitsColumn) {
      auto* s = new QSpinBox(parent);
      s->setRange(2, 16);
      return s;
    }
    if (index.column() == AllocationModel::GroupColumn) {
      auto* c = new QComboBox(parent);
      c->addItem(QStringLiteral("32"), 32);
      c->addItem(QStringLiteral("64"), 64);
      c->addItem(QStringLiteral("128"), 128);
      c->addItem(AllocationModel::tr("per channel"), kPerChannel);
      return c;
    }
    if (index.column() == AllocationModel::QuantizerColumn) {
      auto* c = new QComboBox(parent);
      for (const char* q : {"rtn", "gptq", "hqq", "awq", "kmeans"}) c->addItem(QString::fromLatin1(q));
      return c;
    }
    return QStyledItemDelegate::createEditor(parent, option, index);
  }
  void setEditorData(QWidget* editor, const QModelIndex& index) const override {
    const QVariant v = index.data(Qt::EditRole);
    if (auto* s = qobject_cast<QSpinBox*>(editor)) s->setValue(v.toInt());
    else if (auto* c = qobject_cast<QComboBox*>(editor)) {
      const int i = index.column() == AllocationModel::GroupColumn ? c->findData(v.toInt()) : c->findText(v.toString());
      c->setCurrentIndex(std::max(0, i));
    }
  }
  void setModelData(QWidget* editor, QAbstractItemModel* model, const QModelIndex& index) const override {
    if (auto* s = qobject_cast<QSpinBox*>(editor)) model->setData(index, s->value());
    else if (auto* c = qobject_cast<QComboBox*>(editor))
      model->setData(index, index.column() == AllocationModel::GroupColumn ? c->currentData() : QVariant(c->currentText()));
  }
};

}  // namespace

AllocationEditor::AllocationEditor(QWidget* parent) : QWidget(parent) {
  model_ = new AllocationModel(this);
  table_ = new QTableView;
  table_->setObjectName(QStringLiteral("allocationTable"));
  table_->setModel(model_);
  table_->setItemDelegate(new SettingDelegate(table_));
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed |
                          QAbstractItemView::AnyKeyPressed);
  table_->verticalHeader()->setVisible(false);
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  // The module's name as wide as it needs (a stretched column elided it to "0 · ..." in a narrow
  // dock); the table scrolls sideways instead.
  table_->horizontalHeader()->setStretchLastSection(true);
  table_->horizontalHeader()->setMinimumSectionSize(48);
  table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 8);
  table_->setAlternatingRowColors(true);

  meter_ = new QLabel;
  meter_->setObjectName(QStringLiteral("budgetMeter"));
  QFont f = meter_->font();
  f.setBold(true);
  meter_->setFont(f);
  meter_->setWordWrap(true);

  bulkBits_ = new QSpinBox;
  bulkBits_->setObjectName(QStringLiteral("bulkBits"));
  bulkBits_->setRange(2, 16);
  bulkBits_->setValue(3);
  bulkBits_->setSuffix(tr(" bits"));
  scope_ = new QComboBox;
  scope_->setObjectName(QStringLiteral("bulkScope"));
  scope_->addItem(tr("to the selection"), QString());
  // Short names (the column's "q_proj" ...), so that the editor fits a narrow column.
  for (const char* leaf : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}) {
    const QString name = QString::fromLatin1(leaf);
    scope_->addItem(tr("to every %1").arg(name.mid(name.indexOf(QLatin1Char('.')) + 1)), name);
    scope_->setItemData(scope_->count() - 1, tr("Every block's %1").arg(name), Qt::ToolTipRole);
  }
  auto* apply = new QPushButton(tr("Set"));
  apply->setObjectName(QStringLiteral("bulkApply"));
  connect(apply, &QPushButton::clicked, this, [this] {
    const QString leaf = scope_->currentData().toString();
    if (leaf.isEmpty()) applyBitsToSelection();
    else model_->setBits(model_->rowsOfKind(leaf), bulkBits_->value());
  });
  // Undo/redo with short labels; what they would undo or redo is in their tooltips.
  QUndoStack* stack = model_->undoStack();
  auto* undoAction = new QAction(tr("Undo"), this);
  undoAction->setShortcut(QKeySequence::Undo);
  undoAction->setEnabled(false);
  connect(undoAction, &QAction::triggered, stack, &QUndoStack::undo);
  connect(stack, &QUndoStack::canUndoChanged, undoAction, &QAction::setEnabled);
  connect(stack, &QUndoStack::undoTextChanged, undoAction,
          [undoAction](const QString& t) { undoAction->setToolTip(tr("Undo %1").arg(t)); });
  auto* redoAction = new QAction(tr("Redo"), this);
  redoAction->setShortcut(QKeySequence::Redo);
  redoAction->setEnabled(false);
  connect(redoAction, &QAction::triggered, stack, &QUndoStack::redo);
  connect(stack, &QUndoStack::canRedoChanged, redoAction, &QAction::setEnabled);
  connect(stack, &QUndoStack::redoTextChanged, redoAction,
          [redoAction](const QString& t) { redoAction->setToolTip(tr("Redo %1").arg(t)); });
  auto* undo = new QToolButton;
  undo->setObjectName(QStringLiteral("undo"));
  undo->setDefaultAction(undoAction);
  auto* redo = new QToolButton;
  redo->setObjectName(QStringLiteral("redo"));
  redo->setDefaultAction(redoAction);
  addAction(undoAction);
  addAction(redoAction);
  evaluate_ = new QPushButton(tr("Evaluate"));
  evaluate_->setObjectName(QStringLiteral("evaluateAllocation"));
  evaluate_->setToolTip(tr("Measure this allocation as the search measures its candidates: KL, top-1 and "
                           "perplexity against the unquantized model on the search's windows; the point "
                           "joins the Pareto front"));
  connect(evaluate_, &QPushButton::clicked, this, [this] { Q_EMIT evaluateRequested(model_->allocation()); });
  auto* testPerplexity = new QPushButton(tr("Test PPL"));
  testPerplexity->setObjectName(QStringLiteral("testPerplexity"));
  testPerplexity->setToolTip(tr("The perplexity of this allocation on the Evaluate panel's data (e.g. test.txt, "
                                "all its windows), kept in Results"));
  connect(testPerplexity, &QPushButton::clicked, this, [this] { Q_EMIT testPerplexityRequested(); });

  // Side-by-side comparison with a reference allocation.
  auto* compare = new QToolButton;
  compare->setObjectName(QStringLiteral("compare"));
  compare->setText(tr("Compare"));
  compare->setPopupMode(QToolButton::InstantPopup);
  auto* compareMenu = new QMenu(compare);
  compareMenu->addAction(tr("Keep this allocation as the reference"), this, [this] {
    model_->setReference(model_->allocation(), tr("kept"));
  });
  compareMenu->addAction(tr("Compare with a file\u2026"), this, [this] { Q_EMIT compareWithFileRequested(); });
  compareMenu->addAction(tr("Clear the reference"), this, [this] { model_->clearReference(); });
  compare->setMenu(compareMenu);
  auto* bulk = new QHBoxLayout;
  bulk->addWidget(new QLabel(tr("Bits:")));
  bulk->addWidget(bulkBits_);
  bulk->addWidget(scope_, 1);
  bulk->addWidget(apply);
  bulk->addWidget(compare);
  auto* top = new QHBoxLayout;
  top->addWidget(meter_, 1);
  top->addWidget(undo);
  top->addWidget(redo);
  top->addWidget(evaluate_);
  top->addWidget(testPerplexity);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addLayout(top);
  layout->addLayout(bulk);
  layout->addWidget(table_, 1);

  connect(model_, &AllocationModel::totalsChanged, this, &AllocationEditor::updateMeter);
  table_->setColumnHidden(AllocationModel::ReferenceColumn, true);  // shown with a reference
  connect(model_, &AllocationModel::referenceChanged, this, [this] {
    table_->setColumnHidden(AllocationModel::ReferenceColumn, !model_->hasReference());
    const AllocationCost& c = model_->cost();
    updateMeter(c.average_bits, c.average_code_bits, c.total_bytes());
  });
  connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
          [this](const QModelIndex& current) {
            if (current.isValid() && current.row() < int(model_->shapes().size()))
              Q_EMIT moduleSelected(QString::fromStdString(model_->shapes()[size_t(current.row())].name));
          });
  updateMeter(0, 0, 0);
}

QString AllocationEditor::meterText() const { return meter_->text(); }

void AllocationEditor::updateMeter(double averageBits, double codeBits, qint64 totalBytes) {
  if (model_->rowCount() == 0) {
    meter_->setText(tr("Open a model to edit its allocation"));
    return;
  }
  QString text = tr("%1 bits per weight (code %2) \u00b7 %3")
                     .arg(averageBits, 0, 'f', 3)
                     .arg(codeBits, 0, 'f', 3)
                     .arg(formatBytes(totalBytes));
  if (model_->hasReference())
  {
    const size_t n = model_->differingRows().size();
    text += tr(" \u00b7 vs %1: %2%3 bits, %4 %5")
                .arg(model_->referenceLabel())
                .arg(averageBits >= model_->referenceCost().average_bits ? QStringLiteral("+") : QString())
                .arg(averageBits - model_->referenceCost().average_bits, 0, 'f', 3)
                .arg(n)
                .arg(n == 1 ? tr("module differs") : tr("modules differ"));
  }
  meter_->setText(text);
}

std::vector<int> AllocationEditor::selectedRows() const {
  std::set<int> rows;
  for (const QModelIndex& i : table_->selectionModel()->selectedIndexes()) rows.insert(i.row());
  return {rows.begin(), rows.end()};
}

int AllocationEditor::applyBitsToSelection() { return model_->setBits(selectedRows(), bulkBits_->value()); }

void AllocationEditor::selectModule(const QString& module) {
  const int row = model_->rowOf(module);
  if (row < 0) return;
  table_->setCurrentIndex(model_->index(row, 0));
  table_->selectRow(row);
  table_->scrollTo(model_->index(row, 0));
}

}  // namespace bitscape::widgets
