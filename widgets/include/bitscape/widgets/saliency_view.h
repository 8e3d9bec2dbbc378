// The saliency view: one module's saliency map as a colour map (pooled to display resolution,
// mean or max pooling; zoom and pan; linear or log colour scale), its per-input-channel and
// per-output-channel profiles, a histogram of the per-channel saliency (log10 bins), and an
// overlay of the input channels an allocation keeps at other bits (index classes).
#pragma once

#include <QString>
#include <QWidget>
#include <map>
#include <string>
#include <vector>

#include "bitscape/sensitivity_result.h"

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QCPColorMap;
class QCPColorScale;
class QLabel;

namespace bitscape::widgets {

class SaliencyView : public QWidget {
  Q_OBJECT

 public:
  explicit SaliencyView(QWidget* parent = nullptr);

  // The summaries of one module by metric name ("obs", "tammp", "act", "diag", "fisher").
  void setModule(const QString& module, const std::map<std::string, SaliencySummary>& byMetric);
  // Input channels to mark on the column profile (e.g. the allocation's protected channels).
  void setProtectedColumns(const std::vector<int64_t>& columns);
  void clear();

  QString module() const { return module_; }
  QStringList metrics() const;
  void setMetric(const QString& metric);
  void setMaxPooling(bool on);
  // What is drawn: the colour map's cell (pooled row, pooled column), the column profile's
  // points, the histogram's bin counts.
  double mapCell(int row, int column) const;
  int mapRows() const;
  int mapColumns() const;
  std::vector<double> columnProfile() const;
  std::vector<double> histogram() const;
  int protectedMarks() const;
  QCustomPlot* mapPlot() const { return map_; }

 private:
  void redraw();

  QComboBox* metric_ = nullptr;
  QCheckBox* max_ = nullptr;
  QCheckBox* log_ = nullptr;
  QLabel* title_ = nullptr;
  QCustomPlot* map_ = nullptr;
  QCPColorMap* colour_ = nullptr;
  QCPColorScale* scale_ = nullptr;
  QCustomPlot* columns_ = nullptr;
  QCustomPlot* rows_ = nullptr;
  QCustomPlot* histogram_ = nullptr;
  QString module_;
  std::map<std::string, SaliencySummary> summaries_;
  std::vector<int64_t> protected_;
};

}  // namespace bitscape::widgets
