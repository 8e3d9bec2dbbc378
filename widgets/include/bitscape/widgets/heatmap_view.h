// A blocks x modules heatmap (QCustomPlot colour map): one cell per linear module, rows = decoder
// blocks, columns = the module kinds (q, k, v, o, gate, up, down). Used for the sensitivity
// heatmap (any per-module metric) and the allocation map (bits per module). A colour scale with
// its legend sits beside it; hovering shows the exact value; clicking a cell emits cellClicked.
#pragma once

#include <qcustomplot.h>

#include <QString>
#include <QStringList>
#include <functional>
#include <vector>

namespace bitscape::widgets {

class HeatmapView : public QCustomPlot {
  Q_OBJECT

 public:
  explicit HeatmapView(QWidget* parent = nullptr);

  // values[row][column]; NaN = no value (drawn empty). rowLabels / columnLabels name the axes'
  // ticks. `log` draws the colour scale logarithmically: values <= 0 cannot be placed on it and
  // are hatched (markedCells), with a note in the colour bar's title. Without `log`, data of both
  // signs is drawn with a diverging map over a range symmetric about zero (plot_scales.h).
  void setData(const QStringList& rowLabels, const QStringList& columnLabels,
               const std::vector<std::vector<double>>& values, const QString& measureLabel,
               bool log = false);
  // One colour per bit-width (plot_scales.h: bitsGradient) instead of the data's map.
  void setBitsPalette(bool on);
  void clear();
  // Every cell in view again.
  Q_INVOKABLE void resetView();
  void setPlaceholder(const QString& text);

  int rows() const { return int(values_.size()); }
  int columns() const { return values_.empty() ? 0 : int(values_[0].size()); }
  double value(int row, int column) const { return values_.at(size_t(row)).at(size_t(column)); }
  // The value the colour map holds for a cell (what is drawn).
  double drawnValue(int row, int column) const;
  QCPRange colourRange() const;
  bool diverging() const { return diverging_; }
  // Cells (row, column) hatched as "<= 0 on a log scale".
  const std::vector<std::pair<int, int>>& markedCells() const { return markedCells_; }
  QCPColorScale* colourScale() const { return scale_; }
  QColor cellColour(int row, int column) const;
  // The cell under a pixel, (-1, -1) outside.
  std::pair<int, int> cellAt(const QPointF& pixel) const;
  QString cellText(int row, int column) const;
  // Extra lines for a cell's tooltip (e.g. the channel classes of a module); none by default.
  void setCellDetail(std::function<QString(int row, int column)> detail) { detail_ = std::move(detail); }
  void setSelectedCell(int row, int column);
  // Text drawn on each cell (labels[row][column], "" = none; e.g. the bits of the allocation on
  // the sensitivity heatmap), in black or white, whichever reads better on the cell's colour.
  // Empty = no labels.
  void setCellLabels(const std::vector<std::vector<QString>>& labels);
  int cellLabelCount() const;
  QString cellLabel(int row, int column) const;

 Q_SIGNALS:
  void cellClicked(int row, int column);
  // While the left button is held after a click on a cell: each further cell the pointer enters,
  // then the release (for painting values by dragging).
  void cellDragged(int row, int column);
  void dragFinished();

 protected:
  void mouseMoveEvent(QMouseEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;

 private:
  QCPColorMap* map_ = nullptr;
  QCPColorScale* scale_ = nullptr;
  QCPItemRect* selection_ = nullptr;
  QCPItemText* placeholder_ = nullptr;
  QStringList rowLabels_, columnLabels_;
  std::vector<std::vector<double>> values_;
  QString measure_;
  bool log_ = false, bits_ = false;
  bool dragging_ = false;
  std::pair<int, int> lastCell_{-1, -1};
  std::function<QString(int, int)> detail_;
  std::vector<std::vector<QString>> labels_;
  std::vector<QCPItemText*> labelItems_;
  void placeLabels();
  void placeMarks(const std::vector<std::pair<int, int>>& cells);
  std::vector<QCPItemRect*> markItems_;
  std::vector<std::pair<int, int>> markedCells_;
  bool diverging_ = false;
};

}  // namespace bitscape::widgets
