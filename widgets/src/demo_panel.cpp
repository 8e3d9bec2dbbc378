#include "bitscape/widgets/demo_panel.h"

#include <QListWidget>
#include <QPushButton>
#include <QTextBrowser>
#include <QVBoxLayout>

namespace bitscape::widgets {
namespace {

const char* const kTexts[] = {
    QT_TRANSLATE_NOOP("DemoPanel",
                      "<b>Calibrate.</b> Run the sample model on 32 windows of its training text and "
                      "record, for every linear module, the Hessian <code>H = 2/N &Sigma; x "
                      "x<sup>T</sup></code> of its inputs and activation statistics. GPTQ, AWQ and the "
                      "saliency maps need them. The result is a project file."),
    QT_TRANSLATE_NOOP("DemoPanel",
                      "<b>Sensitivity.</b> Quantize each module <i>alone</i> to 2, 3 and 4 bits and "
                      "measure how far the model's predictions move (mean KL to the unquantized model). "
                      "The heatmap shows which modules are fragile: usually the first block."),
    QT_TRANSLATE_NOOP("DemoPanel",
                      "<b>Search.</b> From those curves, choose the bits of every module to minimise "
                      "the summed KL within each budget (an exact knapsack, dp). The front appears "
                      "point by point; diamonds are uniform allocations of the same size."),
    QT_TRANSLATE_NOOP("DemoPanel",
                      "<b>Edit.</b> Load the searched allocation nearest 3 bits into the editor (kept as "
                      "the reference, so that the editor marks what you change), then change it yourself: "
                      "for example every down_proj to 4 bits, or paint bits on the heatmap where it is "
                      "darkest. The budget meter follows the edit; the step ends with your first edit."),
    QT_TRANSLATE_NOOP("DemoPanel",
                      "<b>Evaluate.</b> Quantize the edited allocation and measure it like the search's "
                      "candidates. Its point (a star) joins the front: did the hand edit pay for its bits? "
                      "The answer below compares it with the search's best point at no more bits."),
    QT_TRANSLATE_NOOP("DemoPanel",
                      "<b>Save the figures.</b> Export the Pareto front, the sensitivity heatmap and "
                      "the allocation map as PNG, SVG and PDF."),
};

}  // namespace

QStringList DemoPanel::stepTitles() {
  return {tr("1. Calibrate"), tr("2. Sensitivity"), tr("3. Search"), tr("4. Edit"),
          tr("5. Evaluate"), tr("6. Save the figures")};
}

DemoPanel::DemoPanel(QWidget* parent) : QWidget(parent) {
  steps_ = new QListWidget;
  steps_->setObjectName(QStringLiteral("demoSteps"));
  text_ = new QTextBrowser;
  text_->setObjectName(QStringLiteral("demoText"));
  run_ = new QPushButton(tr("Run next step"));
  run_->setObjectName(QStringLiteral("demoRun"));
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(steps_, 1);
  layout->addWidget(text_, 2);
  layout->addWidget(run_);
  connect(run_, &QPushButton::clicked, this, [this] {
    const int n = nextStep();
    if (n < stepCount()) Q_EMIT runStep(n);
  });
  connect(steps_, &QListWidget::currentRowChanged, this, [this](int row) {
    if (row < 0 || row >= stepCount()) return;
    QString html = tr(kTexts[row]);
    if (!notes_[row].isEmpty()) html += QStringLiteral("<p><i>%1</i></p>").arg(notes_[row].toHtmlEscaped());
    text_->setHtml(html);
  });
  reset();
}

int DemoPanel::stepCount() const { return int(stepTitles().size()); }
DemoPanel::State DemoPanel::state(int step) const { return states_.at(size_t(step)); }
QString DemoPanel::note(int step) const { return notes_.value(step); }

void DemoPanel::reset() {
  states_.assign(size_t(stepCount()), State::kPending);
  notes_ = QStringList(QList<QString>(stepCount()));
  refresh();
  steps_->setCurrentRow(0);
}

int DemoPanel::nextStep() const {
  for (int i = 0; i < stepCount(); ++i)
    if (states_[size_t(i)] != State::kDone) return i;
  return stepCount();
}

void DemoPanel::setState(int step, State state, const QString& note) {
  states_.at(size_t(step)) = state;
  if (!note.isEmpty()) notes_[step] = note;
  refresh();
  steps_->setCurrentRow(state == State::kDone ? std::min(step + 1, stepCount() - 1) : step);
}

void DemoPanel::refresh() {
  const QStringList titles = stepTitles();
  const int current = steps_->currentRow();
  steps_->clear();
  bool running = false;
  for (int i = 0; i < stepCount(); ++i) {
    QString mark;
    switch (states_[size_t(i)]) {
      case State::kPending: mark = QStringLiteral("\u25cb "); break;
      case State::kRunning: mark = QStringLiteral("\u25d4 "); running = true; break;
      case State::kDone: mark = QStringLiteral("\u2714 "); break;
      case State::kFailed: mark = QStringLiteral("\u2716 "); break;
    }
    steps_->addItem(mark + titles[i]);
  }
  steps_->setCurrentRow(current < 0 ? 0 : current);
  run_->setEnabled(!running && nextStep() < stepCount());
  run_->setText(nextStep() < stepCount() ? tr("Run step %1").arg(nextStep() + 1) : tr("Done"));
}

}  // namespace bitscape::widgets
