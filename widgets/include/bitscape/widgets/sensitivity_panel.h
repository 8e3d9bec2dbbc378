// The sensitivity heatmap with its controls: the blocks x modules grid of one per-module measure
// of a sensitivity run (measured KL or perplexity increase at b bits, the layer objective, HAWQ's
// measure, the Hutchinson Hessian trace), a metric chooser and a log-scale switch.
#pragma once

#include <QString>
#include <QStringList>
#include <QWidget>
#include <map>
#include <string>
#include <vector>

#include "bitscape/sensitivity_result.h"

class QCheckBox;
class QComboBox;
class QSpinBox;

namespace bitscape::widgets {

class AllocationModel;
class HeatmapView;

// "model.layers.12.mlp.down_proj" -> {12, 6} (columns q, k, v, o, gate, up, down); {-1, -1}
// for a name outside that pattern.
std::pair<int, int> moduleCell(const std::string& module);
QStringList moduleColumnLabels();

class SensitivityPanel : public QWidget {
  Q_OBJECT

 public:
  explicit SensitivityPanel(QWidget* parent = nullptr);

  // The curves of one run (any order); `title` names the run.
  void setCurves(const QString& title, const std::vector<SensitivityCurve>& curves,
                 const std::map<std::string, std::map<std::string, double>>& saliencyTotals = {});
  void clear();
  // The heatmap's text while it has no cells (e.g. "running: cells appear as modules finish").
  void setPlaceholder(const QString& text);
  // Metrics offered for the current curves, as shown in the chooser ("KL at 3 bits", ...).
  QStringList metrics() const;
  void setMetric(const QString& metric);
  QString metric() const;
  HeatmapView* heatmap() const { return heatmap_; }
  QWidget* plotWidget() const;  // the heatmap (a QCustomPlot)
  // The module under a cell, "" when none.
  QString moduleAt(int row, int column) const;
  // The allocation the cells are labelled with (each module's bits, "*" where channel classes
  // give some channels other bits) and that painting edits: with "Paint" on, a click or a drag
  // over cells sets those modules to the chosen bits (one undo step per stroke).
  void setAllocationModel(AllocationModel* model);
  void setPainting(bool on, int bits);

 Q_SIGNALS:
  void moduleSelected(const QString& module);

 private:
  void redraw();
  void relabel();

  AllocationModel* model_ = nullptr;
  QCheckBox* paint_ = nullptr;
  QSpinBox* paintBits_ = nullptr;
  HeatmapView* heatmap_ = nullptr;
  QComboBox* metric_ = nullptr;
  QCheckBox* log_ = nullptr;
  QString title_;
  std::vector<SensitivityCurve> curves_;
  std::map<std::string, std::map<std::string, double>> totals_;
  int blocks_ = 0;
};

}  // namespace bitscape::widgets
