// The main window, the Settings dialog (device for every job, threads, defaults).
#include "main_window.h"

#include "main_window_parts.h"

namespace bitscape::gui {

void MainWindow::showSettings() {
  QSettings settings;
  QDialog dialog(this);
  dialog.setWindowTitle(tr("Settings"));
  auto* device = new QComboBox;
  device->addItem(tr("CPU"), "cpu");
  if (doctor_ && doctor_->cuda_built)
    for (const std::string& d : doctor_->cuda_devices) device->addItem(QString::fromStdString(d), QString::fromStdString(d));
  device->setCurrentIndex(std::max(0, device->findData(panel_->request().device)));
  auto* gpuMemory = new QDoubleSpinBox;
  gpuMemory->setRange(0.0, 4096.0);
  gpuMemory->setDecimals(1);
  gpuMemory->setSuffix(tr(" GiB"));
  gpuMemory->setValue(settings.value(QStringLiteral("jobs/gpuMemory"), 2.0).toDouble());
  gpuMemory->setToolTip(tr("CUDA: a model whose weights fit stays on the GPU; a larger one streams its blocks from host memory"));
  auto* threads = new QSpinBox;
  threads->setRange(0, 1024);
  threads->setSpecialValueText(tr("one per core"));
  threads->setValue(panel_->request().threads);
  auto* calibration = new QSpinBox;
  calibration->setRange(1, 4096);
  calibration->setValue(settings.value(QStringLiteral("defaults/calibrationWindows"), 128).toInt());
  auto* method = new QComboBox;
  for (const SearchMethodInfo& m : search_methods())
    method->addItem(QString::fromStdString(m.name), QString::fromStdString(m.name));
  method->setCurrentIndex(std::max(0, method->findData(settings.value(QStringLiteral("defaults/method"), "dp"))));
  auto* windows = new QSpinBox;
  windows->setRange(1, 4096);
  windows->setValue(settings.value(QStringLiteral("defaults/searchWindows"), 16).toInt());
  auto* lo = new QDoubleSpinBox;
  auto* hi = new QDoubleSpinBox;
  for (QDoubleSpinBox* b : {lo, hi}) {
    b->setRange(2.0, 16.0);
    b->setSingleStep(0.25);
    b->setSuffix(tr(" bits"));
  }
  lo->setValue(settings.value(QStringLiteral("defaults/budgetLo"), 2.25).toDouble());
  hi->setValue(settings.value(QStringLiteral("defaults/budgetHi"), 4.25).toDouble());
  auto* form = new QFormLayout(&dialog);
  form->addRow(tr("Device (every job):"), device);
  form->addRow(tr("GPU memory for weights:"), gpuMemory);
  form->addRow(tr("CPU threads:"), threads);
  form->addRow(tr("Calibration windows:"), calibration);
  form->addRow(tr("Search method:"), method);
  form->addRow(tr("Search evaluation windows:"), windows);
  form->addRow(tr("Search budgets from:"), lo);
  form->addRow(tr("to:"), hi);
  if (!runFormDialog(dialog, form)) return;
  widgets::PerplexityRequest r = panel_->request();
  r.device = device->currentData().toString();
  r.threads = threads->value();
  panel_->setRequest(r);
  saveEvaluationSettings();
  settings.setValue(QStringLiteral("jobs/gpuMemory"), gpuMemory->value());
  settings.setValue(QStringLiteral("defaults/calibrationWindows"), calibration->value());
  settings.setValue(QStringLiteral("defaults/method"), method->currentData().toString());
  settings.setValue(QStringLiteral("defaults/searchWindows"), windows->value());
  settings.setValue(QStringLiteral("defaults/budgetLo"), lo->value());
  settings.setValue(QStringLiteral("defaults/budgetHi"), std::max(lo->value(), hi->value()));
}

}  // namespace bitscape::gui
