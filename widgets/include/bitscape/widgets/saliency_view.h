// The saliency view: one module's saliency map as a colour map (pooled to display resolution,
// mean or max pooling; zoom and pan; linear or log colour scale), its per-input-channel and
// per-output-channel profiles, a histogram of the per-channel saliency (log10 bins), and an
// overlay of the channels an allocation keeps at other bits: lines over the map and marks on the
// profile of their axis (input channels on the column profile, output channels on the row
// profile) for the channels raised above the module's bits, kept in fp16, or lowered.
#pragma once

#include <QString>
#include <QWidget>
#include <map>
#include <string>
#include <vector>

#include "bitscape/allocation.h"
#include "bitscape/sensitivity_result.h"

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QCPColorMap;
class QCPColorScale;
class QCPCurve;
class QLabel;

namespace bitscape::widgets {

class SaliencyView : public QWidget {
  Q_OBJECT

 public:
  explicit SaliencyView(QWidget* parent = nullptr);

  // The summaries of one module by metric name ("obs", "tammp", "act", "diag", "fisher").
  void setModule(const QString& module, const std::map<std::string, SaliencySummary>& byMetric);
  // The channels the allocation of the shown module keeps at other bits, by original index along
  // `axis` (kIn: input channels = columns; kOut: output channels = rows); fp16 outlier columns
  // are input channels whatever the axis.
  void setChannelMarks(ChannelAxis axis, const std::vector<int64_t>& raised,
                       const std::vector<int64_t>& lowered, const std::vector<int64_t>& fp16Columns);
  void clearChannelMarks() { setChannelMarks(ChannelAxis::kIn, {}, {}, {}); }
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
  // Marks drawn: protected (raised or fp16) channels on the profiles, lowered ones, and the
  // lines over the map (one per protected channel).
  int protectedMarks() const;
  int loweredMarks() const;
  int mapMarkLines() const;
  const std::vector<int64_t>& markedChannels() const { return raised_; }  // raised, along the axis
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
  ChannelAxis markAxis_ = ChannelAxis::kIn;
  std::vector<int64_t> raised_, lowered_, fp16_;
  QCPCurve* mapMarks_ = nullptr;
  QCPCurve* mapFp16_ = nullptr;
};

}  // namespace bitscape::widgets
