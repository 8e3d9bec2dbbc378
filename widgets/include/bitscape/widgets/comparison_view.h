// Two allocations side by side: the editor's and its reference (editor > Compare: a kept
// allocation, a file, or the demo's searched point). On top their measures in two columns
// (label, average bits with overhead, code bits, size, and every measurement known for each:
// KL and perplexity on the search's windows, perplexity on named data from the results table);
// below, one row per module that differs, with its full name, both settings and the deltas in
// bits per weight and bytes. Follows every edit of either.
#pragma once

#include <QString>
#include <QStringList>
#include <QWidget>
#include <functional>

#include "bitscape/allocation.h"

class QLabel;
class QTableWidget;

namespace bitscape::widgets {

class AllocationModel;

// "3 bits g128 gptq", "16 bits", "4 bits g64 rtn + 2 classes", "+ 8 fp16 columns".
QString settingText(const ModuleAllocation& m);

class ComparisonView : public QWidget {
  Q_OBJECT

 public:
  enum Column { kModuleColumn, kCurrentColumn, kReferenceColumn, kBitsDeltaColumn, kBytesDeltaColumn, kColumnCount };
  explicit ComparisonView(QWidget* parent = nullptr);
  void setModel(AllocationModel* model);
  // What is known of an allocation's quality (lines such as "KL 0.0312, perplexity 37.78 on 16
  // windows of validation.txt"); none by default.
  void setMeasures(std::function<QStringList(const Allocation&)> measures);
  // Rebuilds the view now when it is shown, else when it is next shown (it follows every edit,
  // and a hidden view costs the GUI thread nothing).
  void refresh();

  int rowCount() const;
  QString text(int row, int column) const;
  QString summaryText() const;  // the measures side by side, as plain text

 protected:
  void showEvent(QShowEvent* event) override;

 private:
  void rebuild();
  bool stale_ = false;
  AllocationModel* model_ = nullptr;
  std::function<QStringList(const Allocation&)> measures_;
  QLabel* summary_ = nullptr;
  QTableWidget* table_ = nullptr;
};

}  // namespace bitscape::widgets
