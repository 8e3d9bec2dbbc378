// The allocation editor: the module table (bits, group, quantizer, lock; keyboard editing with a
// spin-box/combo delegate), bulk edits of the selection, a block or a module kind, undo/redo,
// and a budget meter (average bits with overhead, code bits, model size) that follows every
// edit. "Evaluate" asks the workbench to measure the allocation in the background.
#pragma once

#include <QWidget>

#include "bitscape/allocation.h"

class QLabel;
class QTableView;
class QSpinBox;
class QComboBox;
class QPushButton;

namespace bitscape::widgets {

class AllocationModel;

class AllocationEditor : public QWidget {
  Q_OBJECT

 public:
  explicit AllocationEditor(QWidget* parent = nullptr);

  AllocationModel* model() const { return model_; }
  QTableView* table() const { return table_; }
  QString meterText() const;
  // Selects the rows of a module (e.g. clicked in the heatmap).
  void selectModule(const QString& module);
  // Applies the bulk controls' bits to the selected rows; returns the rows changed.
  int applyBitsToSelection();

 Q_SIGNALS:
  void evaluateRequested(const bitscape::Allocation& allocation);
  void moduleSelected(const QString& module);  // the current row's module (full HF name)
  void compareWithFileRequested();             // "Compare with a file..."
  // "Test PPL": the perplexity of the allocation on the evaluation data (the workbench runs the
  // Evaluate panel on it), as opposed to Evaluate's measurement on the search's windows.
  void testPerplexityRequested();

 private:
  void updateMeter(double averageBits, double codeBits, qint64 totalBytes);
  std::vector<int> selectedRows() const;

  AllocationModel* model_ = nullptr;
  QTableView* table_ = nullptr;
  QLabel* meter_ = nullptr;
  QSpinBox* bulkBits_ = nullptr;
  QComboBox* scope_ = nullptr;
  QPushButton* evaluate_ = nullptr;
};

}  // namespace bitscape::widgets
