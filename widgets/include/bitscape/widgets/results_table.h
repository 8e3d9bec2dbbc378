// The results table: every perplexity evaluation of the project (evaluation_store.h), labelled
// with what was evaluated (the unquantized model or an allocation and its bits), the data, the
// windows, the device and dtype, and the result. A label can be renamed in place; a result can
// be pinned (pinned allocations are overlaid on the Pareto front, perplexity view) or hidden (shown
// again with "Show hidden"); the table exports as CSV. Every change is reported (recordChanged)
// so that the workbench writes it back into the project.
#pragma once

#include <QString>
#include <QWidget>
#include <vector>

#include "bitscape/evaluation_store.h"

class QCheckBox;
class QTableWidget;

namespace bitscape::widgets {

class ResultsTable : public QWidget {
  Q_OBJECT

 public:
  enum Column { kPinColumn, kLabelColumn, kModelColumn, kBitsColumn, kDataColumn, kWindowsColumn,
                kDeviceColumn, kPplColumn, kHideColumn, kCreatedColumn, kColumnCount };

  explicit ResultsTable(QWidget* parent = nullptr);
  void setRecords(const std::vector<EvaluationRecord>& records);
  void addRecord(const EvaluationRecord& record);
  const std::vector<EvaluationRecord>& records() const { return records_; }
  // Rows shown now (hidden results left out unless "Show hidden" is on), newest last.
  int visibleRowCount() const;
  QString text(int row, int column) const;  // of the table as shown
  void setShowHidden(bool on);
  // Edits, as the user makes them in the table (tests): a new label, pin, hide.
  void rename(int record, const QString& label);
  void setPinned(int record, bool pinned);
  void setHidden(int record, bool hidden);
  QString csv() const;  // evaluations_csv of every record, hidden ones included
  bool exportCsv(const QString& path) const;

 Q_SIGNALS:
  void recordChanged(const bitscape::EvaluationRecord& record);

 private:
  void rebuild();
  void changed(size_t index);
  std::vector<EvaluationRecord> records_;
  std::vector<size_t> shown_;  // record index per table row
  QTableWidget* table_ = nullptr;
  QCheckBox* showHidden_ = nullptr;
  bool rebuilding_ = false;
};

}  // namespace bitscape::widgets
