#include "bitscape/widgets/start_page.h"

#include <QGridLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

namespace bitscape::widgets {
namespace {

struct StepInfo {
  const char* button;
  const char* text;
};

const StepInfo kSteps[] = {
    {QT_TRANSLATE_NOOP("StartPage", "Open model\u2026"),
     QT_TRANSLATE_NOOP("StartPage", "Open a Hugging Face model directory (File \u203A Open model, Ctrl+O), or a project you made before.")},
    {QT_TRANSLATE_NOOP("StartPage", "Calibrate\u2026"),
     QT_TRANSLATE_NOOP("StartPage", "Calibrate it into a project: the Hessians and activation statistics every method needs (Project \u203A New project).")},
    {QT_TRANSLATE_NOOP("StartPage", "Sensitivity\u2026"),
     QT_TRANSLATE_NOOP("StartPage", "Measure each module's sensitivity: the heatmap below shows where low bits hurt (Project \u203A Run sensitivity analysis).")},
    {QT_TRANSLATE_NOOP("StartPage", "Search\u2026"),
     QT_TRANSLATE_NOOP("StartPage", "Search mixed-precision allocations: dp, AMQ, AutoMixQ or CMPQ draw the Pareto front live (Search \u203A Run search, Ctrl+R).")},
    {QT_TRANSLATE_NOOP("StartPage", "Edit"),
     QT_TRANSLATE_NOOP("StartPage", "Click a front point to load it into the Allocation editor, change bits by hand or paint them on the heatmap, then Evaluate: your point joins the front.")},
    {QT_TRANSLATE_NOOP("StartPage", "Guided demo"),
     QT_TRANSLATE_NOOP("StartPage", "Or let the guided demo walk through all of it on the sample model, in a project of its own (Help \u203A Guided demo).")},
};

}  // namespace

StartPage::StartPage(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("startPage"));
  auto* title = new QLabel(tr("<h2>Start a study</h2><p>A study goes from a model to an allocation of bits per "
                              "module that you can defend: each step below uses the one before.</p>"));
  title->setWordWrap(true);
  auto* grid = new QGridLayout;
  grid->setColumnStretch(1, 1);
  grid->setHorizontalSpacing(12);
  for (int s = 0; s < kStepCount; ++s) {
    auto* mark = new QLabel;
    mark->setMinimumWidth(24);
    auto* text = new QLabel(tr(kSteps[s].text));
    text->setWordWrap(true);
    auto* button = new QPushButton(tr(kSteps[s].button));
    button->setObjectName(QStringLiteral("startStep%1").arg(s));
    connect(button, &QPushButton::clicked, this, [this, s] { Q_EMIT stepRequested(s); });
    grid->addWidget(mark, s, 0, Qt::AlignTop);
    grid->addWidget(text, s, 1);
    grid->addWidget(button, s, 2, Qt::AlignTop);
    marks_.push_back(mark);
    texts_.push_back(text);
    buttons_.push_back(button);
  }
  auto* sample = new QPushButton(tr("Open the sample model"));
  sample->setObjectName(QStringLiteral("openSample"));
  connect(sample, &QPushButton::clicked, this, &StartPage::openSampleRequested);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(16, 12, 16, 12);
  layout->addWidget(title);
  layout->addLayout(grid);
  auto* row = new QHBoxLayout;
  row->addWidget(sample);
  row->addStretch(1);
  layout->addLayout(row);
  layout->addStretch(1);
  setState({});
}

QString StartPage::stepText(Step step) const { return texts_.at(size_t(step))->text(); }

QString StartPage::disabledReason(Step step, const StudyState& s) {
  switch (step) {
    case kOpenModel:
    case kDemo:
      return {};
    case kCalibrate:
      return s.model ? QString() : tr("Needs an open model (File \u203A Open model).");
    case kSensitivity:
    case kSearch:
      return s.project ? QString()
                       : tr("Needs a project: calibrate the model (Project \u203A New project) or open one (File \u203A Open project).");
    case kEdit:
      return s.model ? QString() : tr("Needs an open model (File \u203A Open model).");
    case kStepCount:
      break;
  }
  return {};
}

void StartPage::setState(const StudyState& state) {
  state_ = state;
  const bool done[kStepCount] = {state.model, state.project, state.sensitivity, state.search, state.evaluated, false};
  next_ = kDemo;
  for (int s = 0; s < kEdit + 1; ++s)
    if (!done[s]) {
      next_ = Step(s);
      break;
    }
  for (int s = 0; s < kStepCount; ++s) {
    const QString why = disabledReason(Step(s), state);
    buttons_[size_t(s)]->setEnabled(why.isEmpty());
    buttons_[size_t(s)]->setToolTip(why);
    marks_[size_t(s)]->setText(s < kDemo && done[s] ? QStringLiteral("\u2714")
                                                    : (s == next_ ? QStringLiteral("\u25B6") : QString::number(s + 1)));
    QFont f = texts_[size_t(s)]->font();
    f.setBold(s == next_);
    texts_[size_t(s)]->setFont(f);
    buttons_[size_t(s)]->setDefault(s == next_);
  }
}

}  // namespace bitscape::widgets
