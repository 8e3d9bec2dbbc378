#include "bitscape/widgets/plot_export.h"

#include <qcustomplot.h>

#include <QFileDialog>
#include <QFileInfo>
#include <QDockWidget>
#include <algorithm>
#include <QMenu>
#include <QMessageBox>
#include <QSvgGenerator>

namespace bitscape::widgets {

QString exportPlot(QCustomPlot* plot, const QString& path, int dpi) {
  const QString suffix = QFileInfo(path).suffix().toLower();
  const int w = plot->width(), h = plot->height();
  bool ok = false;
  if (suffix == "png") {
    ok = plot->savePng(path, w, h, std::max(1, dpi) / 96.0, -1, dpi);
  } else if (suffix == "pdf") {
    ok = plot->savePdf(path, w, h, QCP::epNoCosmetic, QStringLiteral("Bitscape"));
  } else if (suffix == "svg") {
    QSvgGenerator svg;
    svg.setFileName(path);
    svg.setSize(QSize(w, h));
    svg.setViewBox(QRect(0, 0, w, h));
    svg.setTitle(QStringLiteral("Bitscape"));
    QCPPainter painter;
    ok = painter.begin(&svg);
    if (ok) {
      plot->toPainter(&painter, w, h);
      ok = painter.end();
    }
  } else {
    return QObject::tr("%1: unknown image format (use .png, .svg or .pdf)").arg(path);
  }
  if (!ok || !QFileInfo(path).exists() || QFileInfo(path).size() == 0)
    return QObject::tr("%1: could not be written").arg(path);
  return {};
}

QString exportWidgetPlot(QWidget* plot, const QString& path, int dpi) {
  auto* p = qobject_cast<QCustomPlot*>(plot);
  if (!p) return QObject::tr("%1: not a plot").arg(path);
  return exportPlot(p, path, dpi);
}

namespace {

void stylePlot(QCustomPlot* plot) {
  const QPalette& pal = plot->palette();
  const QColor text = pal.color(QPalette::Text), mid = pal.color(QPalette::Mid);
  plot->setBackground(pal.brush(QPalette::Base));
  for (QCPAxisRect* rect : plot->axisRects())
    for (QCPAxis* axis : rect->axes()) {
      axis->setLabelColor(text);
      axis->setTickLabelColor(text);
      axis->setBasePen(QPen(mid));
      if (axis->tickPen().style() != Qt::NoPen) axis->setTickPen(QPen(mid));
      if (axis->subTickPen().style() != Qt::NoPen) axis->setSubTickPen(QPen(mid));
      if (axis->grid()->visible()) axis->grid()->setPen(QPen(mid.lighter(130), 0, Qt::DotLine));
    }
  for (int i = 0; i < plot->plotLayout()->elementCount(); ++i)
    if (auto* scale = qobject_cast<QCPColorScale*>(plot->plotLayout()->elementAt(i))) {
      scale->axis()->setLabelColor(text);
      scale->axis()->setTickLabelColor(text);
    }
  if (plot->legend) {
    plot->legend->setBrush(pal.brush(QPalette::Base));
    plot->legend->setTextColor(text);
    plot->legend->setBorderPen(QPen(mid));
  }
  plot->replot(QCustomPlot::rpQueuedReplot);
}

class PaletteFollower : public QObject {
 public:
  using QObject::QObject;
  bool eventFilter(QObject* watched, QEvent* event) override {
    if (event->type() == QEvent::PaletteChange)
      if (auto* plot = qobject_cast<QCustomPlot*>(watched)) stylePlot(plot);
    return false;
  }
};

}  // namespace

void followPalette(QCustomPlot* plot) {
  plot->installEventFilter(new PaletteFollower(plot));
  stylePlot(plot);
}

void resetPlotView(QCustomPlot* plot) {
  // A plot that knows its own home view says so (ParetoView, HeatmapView: Q_INVOKABLE
  // resetView); any other shows all its data.
  if (plot->metaObject()->indexOfMethod("resetView()") >= 0) {
    QMetaObject::invokeMethod(plot, "resetView");
    return;
  }
  plot->rescaleAxes();
  plot->replot();
}

QMenu* exportMenu(QCustomPlot* plot, const AskPath& askPath) {
  auto* menu = new QMenu(plot);
  QAction* reset = menu->addAction(QObject::tr("Reset view"));
  reset->setObjectName(QStringLiteral("reset-view"));
  QObject::connect(reset, &QAction::triggered, plot, [plot] { resetPlotView(plot); });
  // The dock the plot lives in: popped out into a window of its own, or maximised.
  QDockWidget* dock = nullptr;
  for (QWidget* p = plot->parentWidget(); p != nullptr && dock == nullptr; p = p->parentWidget())
    dock = qobject_cast<QDockWidget*>(p);
  if (dock != nullptr) {
    QAction* pop = menu->addAction(dock->isFloating() ? QObject::tr("Dock again") : QObject::tr("Pop out"));
    pop->setObjectName(QStringLiteral("pop-out"));
    QObject::connect(pop, &QAction::triggered, dock, [dock] {
      const bool out = !dock->isFloating();
      dock->setFloating(out);
      if (out) dock->resize(std::max(dock->width(), 900), std::max(dock->height(), 600));
    });
    QAction* max = menu->addAction(QObject::tr("Maximise"));
    max->setObjectName(QStringLiteral("maximise"));
    QObject::connect(max, &QAction::triggered, dock, [dock] {
      dock->setFloating(true);
      dock->showMaximized();
    });
  }
  menu->addSeparator();
  struct Choice {
    QString label, suffix;
    int dpi;
  };
  const Choice choices[] = {{QObject::tr("Export as PNG (96 DPI)..."), "png", 96},
                            {QObject::tr("Export as PNG (192 DPI)..."), "png", 192},
                            {QObject::tr("Export as PNG (300 DPI)..."), "png", 300},
                            {QObject::tr("Export as SVG..."), "svg", 96},
                            {QObject::tr("Export as PDF..."), "pdf", 96}};
  for (const Choice& c : choices) {
    QAction* a = menu->addAction(c.label);
    a->setObjectName("export-" + c.suffix + (c.suffix == "png" ? QString::number(c.dpi) : ""));
    QObject::connect(a, &QAction::triggered, plot, [plot, c, askPath] {
      const QString name = plot->objectName().isEmpty() ? QStringLiteral("plot") : plot->objectName();
      const QString path = askPath(name + "." + c.suffix,
                                   c.suffix.toUpper() + QObject::tr(" files (*.") + c.suffix + ")");
      if (path.isEmpty()) return;
      const QString error = exportPlot(plot, path, c.dpi);
      if (!error.isEmpty()) QMessageBox::warning(plot, QObject::tr("Export failed"), error);
    });
  }
  return menu;
}

void installExportMenu(QCustomPlot* plot) {
  followPalette(plot);
  plot->setContextMenuPolicy(Qt::CustomContextMenu);
  plot->setProperty("bitscapeExportMenu", true);
  QObject::connect(plot, &QWidget::customContextMenuRequested, plot, [plot](const QPoint& pos) {
    QMenu* menu = exportMenu(plot, [plot](const QString& suggested, const QString& filter) {
      return QFileDialog::getSaveFileName(plot, QObject::tr("Export plot"), suggested, filter);
    });
    menu->exec(plot->mapToGlobal(pos));
    delete menu;
  });
}

}  // namespace bitscape::widgets
