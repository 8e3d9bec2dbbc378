// The allocation map: the current allocation as a blocks x modules grid coloured by bits (code
// bits per weight, so a module whose channel classes mix bit-widths shows their average), and
// the layer-wise bar chart of bits per module per block (as AutoMixQ's Figure 5) with the
// model's average as a line. Follows an AllocationModel: redrawn on every edit.
#pragma once

#include <QString>
#include <QWidget>
#include <functional>
#include <vector>

class QCustomPlot;
class QCPBars;
class QCPItemStraightLine;
class QCheckBox;
class QSpinBox;

namespace bitscape::widgets {

class AllocationModel;
class HeatmapView;

// Painting bits onto a blocks x modules heatmap: while `bits()` is above 0, a click on a cell and
// a drag over further cells set those modules' bits in `model()` (one undo step per stroke;
// locked modules are left alone). Used by the allocation map and the sensitivity heatmap.
void installBitsPainting(HeatmapView* view, std::function<AllocationModel*()> model,
                         std::function<QString(int row, int column)> moduleAt, std::function<int()> bits);

class AllocationMap : public QWidget {
  Q_OBJECT

 public:
  explicit AllocationMap(QWidget* parent = nullptr);
  void setModel(AllocationModel* model);

  HeatmapView* grid() const { return grid_; }
  QCustomPlot* bars() const { return bars_; }
  QWidget* gridWidget() const;  // the grid and the bars as QWidgets (QCustomPlots)
  QWidget* barsWidget() const;
  // Bits of each module kind (q, k, v, o, gate, up, down) per block, as drawn in the bar chart.
  std::vector<std::vector<double>> barValues() const;
  double averageLine() const;
  // A cell's tooltip: its code bits and, where bits vary inside the module, the share of each
  // channel class ("50% of the input channels at 4 bits, ...").
  QString cellText(int row, int column) const;
  // Painting: with it on, clicking or dragging over cells sets those modules to `bits` (one undo
  // step per stroke; locked modules are left alone).
  void setPainting(bool on, int bits);

 Q_SIGNALS:
  void moduleSelected(const QString& module);

 private:
  void redraw();

  AllocationModel* model_ = nullptr;
  HeatmapView* grid_ = nullptr;
  QCustomPlot* bars_ = nullptr;
  std::vector<QCPBars*> series_;
  QCPItemStraightLine* average_ = nullptr;
  QCheckBox* paint_ = nullptr;
  QSpinBox* paintBits_ = nullptr;
};

}  // namespace bitscape::widgets
