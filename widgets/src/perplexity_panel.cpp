#include "bitscape/widgets/perplexity_panel.h"

#include <QComboBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QThread>
#include <QVBoxLayout>

#include <algorithm>
#include <climits>

#include "bitscape/widgets/format.h"
#include "bitscape/widgets/nll_plot.h"

namespace bitscape::widgets {

namespace {

QLabel* fieldLabel(const QString& text, QWidget* buddy, QWidget* parent) {
  auto* l = new QLabel(text, parent);
  l->setBuddy(buddy);
  l->setAlignment(Qt::AlignRight | Qt::AlignVCenter);
  return l;
}

}  // namespace

PerplexityPanel::PerplexityPanel(QWidget* parent) : QWidget(parent) {
  dataPath_ = new QLineEdit(this);
  dataPath_->setObjectName(QStringLiteral("dataPath"));
  dataPath_->setPlaceholderText(tr("text or JSONL file"));
  dataPath_->setClearButtonEnabled(true);
  browse_ = new QPushButton(tr("Browse\u2026"), this);

  seqlen_ = new QSpinBox(this);
  seqlen_->setObjectName(QStringLiteral("seqlen"));
  seqlen_->setRange(2, 1 << 20);
  seqlen_->setValue(256);
  seqlen_->setSuffix(tr(" tokens"));
  seqlen_->setToolTip(tr("Tokens per evaluation window"));

  maxWindows_ = new QSpinBox(this);
  maxWindows_->setObjectName(QStringLiteral("maxWindows"));
  maxWindows_->setRange(0, 1 << 24);
  maxWindows_->setSpecialValueText(tr("all"));
  maxWindows_->setToolTip(tr("Evaluate only the first N windows (0 = all)"));

  subject_ = new QComboBox(this);
  subject_->setObjectName(QStringLiteral("subject"));
  subject_->addItem(tr("unquantized model"), QStringLiteral("unquantized"));
  subject_->addItem(tr("the editor's allocation"), QStringLiteral("allocation"));
  subject_->setToolTip(tr("The editor's allocation is quantized in memory first (with the project's "
                          "calibration statistics), then evaluated on this data"));

  device_ = new QComboBox(this);
  device_->setObjectName(QStringLiteral("device"));
  device_->addItem(QStringLiteral("cpu"));

  dtype_ = new QComboBox(this);
  dtype_->setObjectName(QStringLiteral("dtype"));
  dtype_->addItems({QStringLiteral("float32"), QStringLiteral("bfloat16"),
                    QStringLiteral("float16")});
  dtype_->setToolTip(tr("Compute dtype of the model in every job (evaluation, calibration, sensitivity, search, measuring)"));

  threads_ = new QSpinBox(this);
  threads_->setObjectName(QStringLiteral("threads"));
  threads_->setRange(0, std::max(1, QThread::idealThreadCount()));
  threads_->setSpecialValueText(tr("auto"));
  threads_->setToolTip(tr("CPU threads for LibTorch (auto = its default)"));

  evaluate_ = new QPushButton(tr("Evaluate"), this);
  evaluate_->setObjectName(QStringLiteral("evaluate"));
  evaluate_->setDefault(true);
  cancel_ = new QPushButton(tr("Cancel"), this);
  cancel_->setObjectName(QStringLiteral("cancel"));

  progress_ = new QProgressBar(this);
  progress_->setObjectName(QStringLiteral("progress"));
  progress_->setRange(0, 1);
  progress_->setValue(0);
  progress_->setTextVisible(true);
  progress_->setFormat(QString());
  status_ = new QLabel(this);
  status_->setObjectName(QStringLiteral("status"));
  status_->setForegroundRole(QPalette::PlaceholderText);
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);

  ppl_ = new QLabel(this);
  ppl_->setObjectName(QStringLiteral("ppl"));
  QFont big = ppl_->font();
  big.setPointSizeF(big.pointSizeF() * 1.8);
  big.setBold(true);
  ppl_->setFont(big);
  ppl_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  details_ = new QLabel(this);
  details_->setObjectName(QStringLiteral("details"));
  details_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  details_->setWordWrap(true);

  plot_ = new NllPlot(this);
  plot_->setObjectName(QStringLiteral("nllPlot"));

  // Inputs: two columns of label / field.
  auto* grid = new QGridLayout;
  grid->setHorizontalSpacing(10);
  grid->setVerticalSpacing(6);
  auto* dataRow = new QHBoxLayout;
  dataRow->addWidget(dataPath_, 1);
  dataRow->addWidget(browse_);
  grid->addWidget(fieldLabel(tr("M&odel:"), subject_, this), 0, 0);
  grid->addWidget(subject_, 0, 1, 1, 3);
  grid->addWidget(fieldLabel(tr("&Data:"), dataPath_, this), 1, 0);
  grid->addLayout(dataRow, 1, 1, 1, 3);
  grid->addWidget(fieldLabel(tr("&Window length:"), seqlen_, this), 2, 0);
  grid->addWidget(seqlen_, 2, 1);
  grid->addWidget(fieldLabel(tr("&Max windows:"), maxWindows_, this), 2, 2);
  grid->addWidget(maxWindows_, 2, 3);
  grid->addWidget(fieldLabel(tr("De&vice:"), device_, this), 3, 0);
  grid->addWidget(device_, 3, 1);
  grid->addWidget(fieldLabel(tr("Dt&ype:"), dtype_, this), 3, 2);
  grid->addWidget(dtype_, 3, 3);
  grid->addWidget(fieldLabel(tr("&Threads:"), threads_, this), 4, 0);
  grid->addWidget(threads_, 4, 1);
  grid->setColumnStretch(1, 1);
  grid->setColumnStretch(3, 1);

  auto* buttons = new QHBoxLayout;
  buttons->addWidget(evaluate_);
  buttons->addWidget(cancel_);
  buttons->addWidget(progress_, 1);

  auto* result = new QHBoxLayout;
  result->addWidget(ppl_);
  result->addSpacing(12);
  result->addWidget(details_, 1);

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(grid);
  layout->addSpacing(4);
  layout->addLayout(buttons);
  layout->addWidget(status_);
  layout->addSpacing(6);
  layout->addLayout(result);
  layout->addWidget(plot_, 1);

  connect(browse_, &QPushButton::clicked, this, &PerplexityPanel::browseData);
  connect(evaluate_, &QPushButton::clicked, this, &PerplexityPanel::evaluateRequested);
  connect(cancel_, &QPushButton::clicked, this, &PerplexityPanel::cancelRequested);
  connect(dataPath_, &QLineEdit::textChanged, this, [this] { updateEnabled(); });
  clearResult();
  updateEnabled();
}

QString PerplexityPanel::defaultDataPath(const QString& modelDir) {
  if (modelDir.isEmpty()) return QString();
  const QFileInfo candidate(QDir(modelDir).absoluteFilePath(QStringLiteral("../test.txt")));
  if (!candidate.isFile()) return QString();
  return QDir::cleanPath(candidate.absoluteFilePath());
}

void PerplexityPanel::setModelDir(const QString& modelDir) {
  modelDir_ = modelDir;
  const QString current = dataPath_->text();
  if (current.isEmpty() || current == autoDataPath_) {
    autoDataPath_ = defaultDataPath(modelDir);
    dataPath_->setText(autoDataPath_);
  }
  updateEnabled();
}

void PerplexityPanel::setDevices(const QStringList& devices) {
  const QString current = device_->currentText();
  device_->clear();
  device_->addItem(QStringLiteral("cpu"));
  for (const QString& d : devices)
    if (d != QLatin1String("cpu")) device_->addItem(d);
  const int index = device_->findText(current);
  device_->setCurrentIndex(index >= 0 ? index : 0);
}

void PerplexityPanel::setMaxThreads(int threads) { threads_->setMaximum(std::max(1, threads)); }

PerplexityRequest PerplexityPanel::request() const {
  PerplexityRequest r;
  r.dataPath = dataPath_->text().trimmed();
  r.seqlen = seqlen_->value();
  r.maxWindows = maxWindows_->value();
  r.device = device_->currentText();
  r.dtype = dtype_->currentText();
  r.threads = threads_->value();
  r.subject = subject_->currentData().toString();
  return r;
}

void PerplexityPanel::setRequest(const PerplexityRequest& r) {
  if (!r.dataPath.isEmpty()) dataPath_->setText(r.dataPath);
  seqlen_->setValue(r.seqlen);
  maxWindows_->setValue(r.maxWindows);
  const int device = device_->findText(r.device);
  if (device >= 0) device_->setCurrentIndex(device);
  const int dtype = dtype_->findText(r.dtype);
  if (dtype >= 0) dtype_->setCurrentIndex(dtype);
  threads_->setValue(r.threads);
  const int subject = subject_->findData(r.subject);
  if (subject >= 0) subject_->setCurrentIndex(subject);
}

void PerplexityPanel::setBusy(bool busy) {
  busy_ = busy;
  if (busy) {
    progress_->setRange(0, 0);  // indeterminate until a stage reports its size
    progress_->setFormat(QString());
  } else if (progress_->maximum() == 0) {  // never got a size: show an empty bar
    progress_->setRange(0, 1);
    progress_->setValue(0);
    progress_->setFormat(QString());
  } else {
    progress_->setFormat(tr("%v / %m windows"));  // no ETA once nothing runs
  }
  updateEnabled();
}

void PerplexityPanel::setStage(const QString& stage, qint64 total) {
  showMessage(stage + QStringLiteral("\u2026"));
  if (total > 0) {
    progress_->setRange(0, int(std::min<qint64>(total, INT_MAX)));
    progress_->setValue(0);
    progress_->setFormat(tr("%v / %m"));
  } else {
    progress_->setRange(0, 0);
  }
}

void PerplexityPanel::setProgress(qint64 done, qint64 total, double eta_seconds) {
  if (total <= 0) return;
  if (progress_->maximum() != total) progress_->setRange(0, int(std::min<qint64>(total, INT_MAX)));
  progress_->setValue(int(std::min<qint64>(done, INT_MAX)));
  const QString eta = formatDuration(eta_seconds);
  progress_->setFormat(eta.isEmpty() || done >= total
                           ? tr("%v / %m windows")
                           : tr("%v / %m windows \u2014 %1 left").arg(eta));
}

void PerplexityPanel::showResult(const PerplexityResult& r, const QString& label) {
  ppl_->setText(tr("PPL %1").arg(r.ppl, 0, 'f', 3));
  const double rate = r.seconds > 0 ? double(r.tokens) / r.seconds : 0.0;
  details_->setText((label.isEmpty() ? QString() : label + QLatin1Char('\n')) +
                    tr("%1 tokens in %2 windows of %3  \u00B7  mean NLL %4 nats\n"
                       "%5  \u00B7  %6 tokens/s")
                        .arg(formatCount(r.tokens), formatCount(r.windows),
                             QString::number(r.seqlen))
                        .arg(r.nll, 0, 'f', 4)
                        .arg(formatDuration(r.seconds), formatCount(int64_t(rate))));
  plot_->setWindowNll(r.window_nll);
}

void PerplexityPanel::showMessage(const QString& text, bool error) {
  status_->setText(text);
  QPalette p = palette();
  if (error) p.setColor(QPalette::WindowText, QColor(0xb3, 0x26, 0x1e));
  status_->setForegroundRole(error ? QPalette::WindowText : QPalette::PlaceholderText);
  status_->setPalette(p);
}

void PerplexityPanel::clearResult() {
  ppl_->setText(tr("PPL \u2014"));
  details_->setText(tr("No evaluation yet."));
  plot_->clear();
}

void PerplexityPanel::appendWindowNll(int64_t first, const std::vector<double>& window_nll, int64_t total) {
  plot_->appendWindowNll(first, window_nll, total);
}

QString PerplexityPanel::resultText() const {
  return ppl_->text() + QLatin1Char(' ') + details_->text();
}

void PerplexityPanel::browseData() {
  QString start = dataPath_->text();
  if (start.isEmpty()) start = modelDir_;
  const QString path = QFileDialog::getOpenFileName(
      this, tr("Evaluation data"), start, tr("Text corpora (*.txt *.jsonl *.json);;All files (*)"));
  if (!path.isEmpty()) dataPath_->setText(path);
}

void PerplexityPanel::updateEnabled() {
  const bool ready = !modelDir_.isEmpty() && !busy_;
  for (QWidget* w : std::initializer_list<QWidget*>{dataPath_, browse_, seqlen_, maxWindows_,
                                                    device_, dtype_, threads_, subject_})
    w->setEnabled(!busy_);
  evaluate_->setEnabled(ready && !dataPath_->text().trimmed().isEmpty());
  cancel_->setEnabled(busy_);
}

}  // namespace bitscape::widgets
