// The modules of a model as a tree: embeddings, one row per decoder block (its modules as
// children), the final norm and lm_head, with shape, dtype, parameter count and share of the
// total. Built from core's plain ModelSummary; read-only.
#pragma once

#include <QAbstractItemModel>

#include <QColor>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bitscape/model_info.h"

namespace bitscape::widgets {

class ModelTreeModel : public QAbstractItemModel {
  Q_OBJECT

 public:
  enum Column { NameColumn, KindColumn, ShapeColumn, DtypeColumn, ParametersColumn, ShareColumn,
                BitsColumn, ColumnCount };
  enum Role {
    // The unformatted value of a cell: qint64 parameters, double share (0..1), QString otherwise.
    RawValueRole = Qt::UserRole + 1,
    // The full HF module name ("model.layers.3.mlp.down_proj"); empty for group rows.
    ModuleNameRole,
  };

  explicit ModelTreeModel(QObject* parent = nullptr);
  ~ModelTreeModel() override;

  void setSummary(const ModelSummary& summary);
  void clear();
  // The current allocation's code bits per weight of each module (HF name); a block row shows
  // the parameter-weighted average of its modules. Cells are coloured by bit-width.
  void setModuleBits(const std::map<std::string, double>& bits);
  static QColor bitsColour(double bits);
  int64_t totalParameters() const { return total_; }

  QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
  QModelIndex parent(const QModelIndex& child) const override;
  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation,
                      int role = Qt::DisplayRole) const override;

  struct Node;  // one row; defined in the .cpp

 private:
  const Node* nodeFor(const QModelIndex& index) const;
  std::unique_ptr<Node> root_;
  int64_t total_ = 0;
  std::map<std::string, double> bits_;
  double bitsOf(const Node* n) const;
};

}  // namespace bitscape::widgets
