// The architecture facts of a model (config.json plus parameter counts) as a read-only form.
#pragma once

#include <QMap>
#include <QWidget>

#include "bitscape/model_info.h"

class QLabel;
class QFormLayout;

namespace bitscape::widgets {

class ModelSummaryView : public QWidget {
  Q_OBJECT

 public:
  explicit ModelSummaryView(QWidget* parent = nullptr);

  void setSummary(const ModelSummary& summary);
  void clear();

  // The shown text of one fact by key: "architecture", "hidden", "intermediate", "layers",
  // "heads", "head_dim", "vocab", "context", "rope", "sliding_window", "biases", "qk_norm",
  // "tie_embeddings", "dtype", "total_params", "linear_params", "file_size". For tests and
  // for copying into reports.
  QString value(const QString& key) const;

 private:
  QLabel* addRow(QFormLayout* form, const QString& key, const QString& label);
  QMap<QString, QLabel*> values_;
};

}  // namespace bitscape::widgets
