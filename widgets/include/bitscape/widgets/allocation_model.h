// The allocation editor's model: one row per quantizable module (execution order) with its
// bits, group size and quantizer, editable, plus a lock that keeps a module out of bulk edits.
// Every change goes through an undo stack (one step per edit; a bulk edit is one step). The
// totals (average bits with overhead, code bits, bytes) come from core's one cost model and are
// recomputed on every change. Channel classes and outliers of a loaded allocation are kept as
// they are; an edit of bits replaces the module's own bits only.
#pragma once

#include <QAbstractTableModel>
#include <QSet>
#include <QUndoStack>
#include <vector>

#include "bitscape/allocation.h"
#include "bitscape/cost_model.h"

namespace bitscape::widgets {

class AllocationModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column { ModuleColumn, ShapeColumn, BitsColumn, GroupColumn, QuantizerColumn, LockColumn, BytesColumn,
                ReferenceColumn, ColumnCount };

  explicit AllocationModel(QObject* parent = nullptr);

  // The model's modules; every module starts at `initial` (default: 4-bit RTN, group 128).
  void setModules(const std::vector<ModuleShape>& shapes, int64_t otherParams = 0);
  // Replaces the settings (an undoable step); modules the allocation leaves out stay fp16.
  void setAllocation(const Allocation& allocation, const QString& label = QString());
  Allocation allocation() const;
  const std::vector<ModuleShape>& shapes() const { return shapes_; }

  int rowCount(const QModelIndex& parent = QModelIndex()) const override;
  int columnCount(const QModelIndex& parent = QModelIndex()) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;
  Qt::ItemFlags flags(const QModelIndex& index) const override;
  // Bits (2..8 or 16), group (32/64/128 or 0 = per channel), quantizer (rtn, gptq, hqq, awq,
  // kmeans) or lock; an invalid value for the module is refused (returns false).
  bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;

  // Bulk edits, one undo step each; locked rows are left alone. Returns the rows changed.
  int setBits(const std::vector<int>& rows, int bits);
  int setGroup(const std::vector<int>& rows, int group);
  // Rows of one block ("model.layers.3.") or of one kind in every block ("mlp.down_proj").
  std::vector<int> rowsOfBlock(int block) const;
  std::vector<int> rowsOfKind(const QString& leaf) const;
  int rowOf(const QString& module) const;

  // A second allocation to compare with, side by side: the Reference column shows its setting
  // where it differs, and differing rows are highlighted.
  void setReference(const Allocation& reference, const QString& label);
  void clearReference();
  bool hasReference() const { return !reference_.empty(); }
  QString referenceLabel() const { return referenceLabel_; }
  // Rows whose setting differs from the reference; the reference's cost.
  std::vector<int> differingRows() const;
  const AllocationCost& referenceCost() const { return referenceCost_; }
  const ModuleAllocation& referenceModule(int row) const { return reference_.at(size_t(row)); }
  Allocation referenceAllocation() const;

  bool locked(int row) const { return locked_.contains(row); }
  const ModuleAllocation& module(int row) const { return settings_.at(size_t(row)); }
  const AllocationCost& cost() const { return cost_; }
  QUndoStack* undoStack() { return &undo_; }

 Q_SIGNALS:
  void totalsChanged(double averageBits, double codeBits, qint64 totalBytes);
  void referenceChanged();

 private:
  friend class SetModulesCommand;
  // Applies settings to rows (no undo step); used by the commands.
  void apply(const std::vector<int>& rows, const std::vector<ModuleAllocation>& settings);
  void applyLock(int row, bool on);
  int editRows(const std::vector<int>& rows, const std::function<bool(ModuleAllocation&, const ModuleShape&)>& edit,
               const QString& label);
  void recompute();

  std::vector<ModuleShape> shapes_;
  std::vector<ModuleAllocation> settings_;
  QSet<int> locked_;
  int64_t otherParams_ = 0;
  AllocationCost cost_;
  std::vector<ModuleAllocation> reference_;
  QString referenceLabel_;
  AllocationCost referenceCost_;
  QUndoStack undo_;
};

}  // namespace bitscape::widgets
