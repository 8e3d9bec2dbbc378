#include "bitscape/widgets/pareto_panel.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QVBoxLayout>

#include "bitscape/widgets/pareto_view.h"

namespace bitscape::widgets {

ParetoPanel::ParetoPanel(QWidget* parent) : QWidget(parent) {
  view_ = new ParetoView;
  measure_ = new QComboBox;
  measure_->setObjectName(QStringLiteral("paretoMeasure"));
  measure_->addItems({tr("mean KL to the unquantized model"), tr("perplexity")});
  connect(measure_, &QComboBox::currentIndexChanged, this, [this](int i) {
    view_->setMeasure(i == 0 ? ParetoView::Measure::kKl : ParetoView::Measure::kPpl);
  });
  connect(view_, &ParetoView::pointClicked, this, &ParetoPanel::pointClicked);
  auto* controls = new QHBoxLayout;
  controls->addWidget(new QLabel(tr("Quality:")));
  controls->addWidget(measure_, 1);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addLayout(controls);
  layout->addWidget(view_, 1);
}

int ParetoPanel::addRun(const QString& name, const QString& method) { return view_->addRun(name, method); }
void ParetoPanel::renameRun(int run, const QString& name) { view_->renameRun(run, name); }
int ParetoPanel::runCount() const { return view_->runCount(); }
QString ParetoPanel::runName(int run) const { return view_->runName(run); }
void ParetoPanel::setOverlay(const QString& name, const std::vector<SearchPoint>& points) { view_->setOverlay(name, points); }
void ParetoPanel::setRunDetail(int run, const QString& detail) { view_->setRunDetail(run, detail); }
void ParetoPanel::addPoint(int run, const SearchPoint& point) { view_->addPoint(run, point); }
void ParetoPanel::clear() { view_->clear(); }
QString ParetoPanel::summary(int run, int index) const { return view_->summary(run, index); }
const SearchPoint& ParetoPanel::point(int run, int index) const { return view_->point(run, index); }
int ParetoPanel::pointCount(int run) const { return view_->pointCount(run); }
QWidget* ParetoPanel::plotWidget() const { return view_; }

}  // namespace bitscape::widgets
