// The main window, the Settings dialog (device for every job, threads, defaults).
#include "main_window.h"

#include "main_window_parts.h"

namespace bitscape::gui {

void MainWindow::showSettings() {
  JobDefaults defaults = JobDefaults::read();
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
  gpuMemory->setValue(defaults.gpuMemoryGib);
  gpuMemory->setToolTip(tr("CUDA: a model whose weights fit stays on the GPU; a larger one streams its blocks from host memory"));
  auto* threads = new QSpinBox;
  threads->setRange(0, 1024);
  threads->setSpecialValueText(tr("one per core"));
  threads->setValue(panel_->request().threads);
  auto* calibration = new QSpinBox;
  calibration->setRange(1, 4096);
  calibration->setValue(defaults.calibrationWindows);
  auto* method = new QComboBox;
  for (const SearchMethodInfo& m : search_methods())
    method->addItem(QString::fromStdString(m.name), QString::fromStdString(m.name));
  method->setCurrentIndex(std::max(0, method->findData(defaults.method)));
  auto* windows = new QSpinBox;
  windows->setRange(1, 4096);
  windows->setValue(defaults.searchWindows);
  auto* lo = budgetBox(defaults.budgetLo);
  auto* hi = budgetBox(defaults.budgetHi);
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
  defaults.gpuMemoryGib = gpuMemory->value();
  defaults.calibrationWindows = calibration->value();
  defaults.method = method->currentData().toString();
  defaults.searchWindows = windows->value();
  defaults.budgetLo = lo->value();
  defaults.budgetHi = hi->value();
  defaults.write();
}

}  // namespace bitscape::gui
