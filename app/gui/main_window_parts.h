// What the main window's source files share (main_window.cpp and main_window_<seam>.cpp: project,
// analysis, saliency, demo, settings): the Qt and widget headers they use and two small helpers.
// Internal to the workbench's Qt side (LibTorch-free).
#pragma once

#include <cmath>
#include <functional>
#include <cstdio>
#include <tuple>

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QMimeData>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QScrollArea>
#include <QSettings>
#include <QStatusBar>
#include <QLineEdit>
#include <QStandardPaths>
#include <QStyleFactory>
#include <QTextBrowser>
#include <QTimer>
#include <QTreeView>
#include <QUndoStack>
#include <QVBoxLayout>

#include "bitscape/search_methods.h"
#include "bitscape/widgets/about_text.h"
#include "bitscape/widgets/format.h"
#include "bitscape/widgets/job_runner.h"
#include "bitscape/widgets/model_summary_view.h"
#include "bitscape/widgets/model_tree_model.h"
#include "bitscape/widgets/allocation_editor.h"
#include "bitscape/widgets/allocation_map.h"
#include "bitscape/widgets/demo_panel.h"
#include "bitscape/widgets/explain.h"
#include "bitscape/widgets/jobs_panel.h"
#include "bitscape/widgets/allocation_model.h"
#include "bitscape/widgets/pareto_panel.h"
#include "bitscape/widgets/probing_view.h"
#include "bitscape/widgets/saliency_view.h"
#include "bitscape/widgets/plot_export.h"
#include "bitscape/widgets/sensitivity_panel.h"
#include "bitscape/widgets/perplexity_panel.h"
#include "bitscape/widgets/results_table.h"
#include "bitscape/widgets/comparison_view.h"
#include "bitscape/widgets/share_delegate.h"
#include "engine.h"
#include "main_window.h"

namespace bitscape::gui {

// Adds OK (labelled `ok` when given) and Cancel to a form dialog and runs it; true on OK. Every
// dialog the window builds (search, calibration, sensitivity, probing, settings) goes through it.
inline bool runFormDialog(QDialog& dialog, QFormLayout* form, const QString& ok = QString()) {
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
  if (!ok.isEmpty()) buttons->button(QDialogButtonBox::Ok)->setText(ok);
  form->addRow(buttons);
  QObject::connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
  QObject::connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
  return dialog.exec() == QDialog::Accepted;
}

// The job defaults the Settings dialog keeps (QSettings), falling back on core's option defaults
// (the workbench's search method is dp): read by the dialogs that start jobs and by jobDevice().
struct JobDefaults {
  int calibrationWindows = int(CalibrationJobOptions{}.samples);
  QString method = QStringLiteral("dp");
  int searchWindows = int(SearchJobOptions{}.eval_windows);
  double budgetLo = SearchOptions{}.budget_lo, budgetHi = SearchOptions{}.budget_hi;
  double gpuMemoryGib = DeviceOptions{}.gpu_memory_gib;

  static JobDefaults read() {
    QSettings s;
    JobDefaults d;
    d.calibrationWindows = s.value(QStringLiteral("defaults/calibrationWindows"), d.calibrationWindows).toInt();
    d.method = s.value(QStringLiteral("defaults/method"), d.method).toString();
    d.searchWindows = s.value(QStringLiteral("defaults/searchWindows"), d.searchWindows).toInt();
    d.budgetLo = s.value(QStringLiteral("defaults/budgetLo"), d.budgetLo).toDouble();
    d.budgetHi = s.value(QStringLiteral("defaults/budgetHi"), d.budgetHi).toDouble();
    d.gpuMemoryGib = s.value(QStringLiteral("jobs/gpuMemory"), d.gpuMemoryGib).toDouble();
    return d;
  }
  void write() const {
    QSettings s;
    s.setValue(QStringLiteral("defaults/calibrationWindows"), calibrationWindows);
    s.setValue(QStringLiteral("defaults/method"), method);
    s.setValue(QStringLiteral("defaults/searchWindows"), searchWindows);
    s.setValue(QStringLiteral("defaults/budgetLo"), budgetLo);
    s.setValue(QStringLiteral("defaults/budgetHi"), std::max(budgetLo, budgetHi));
    s.setValue(QStringLiteral("jobs/gpuMemory"), gpuMemoryGib);
  }
};

// A spin box for an average bit budget (2 to 16 bits in steps of 0.25).
inline QDoubleSpinBox* budgetBox(double value) {
  auto* b = new QDoubleSpinBox;
  b->setRange(2.0, 16.0);
  b->setSingleStep(0.25);
  b->setDecimals(2);
  b->setSuffix(MainWindow::tr(" bits"));
  b->setValue(value);
  return b;
}

// A file beside the model directory (sample_data/model -> sample_data/NAME), if it exists.
inline QString besideModel(const QString& modelDir, const QString& name) {
  const QString path = QDir(modelDir).filePath(QStringLiteral("../") + name);
  return QFileInfo::exists(path) ? QDir::cleanPath(path) : QString();
}

}  // namespace bitscape::gui
