// Exporting a plot to PNG (at a chosen DPI), SVG and PDF, and the context menu every plot of the
// workbench offers for it ("Export as PNG / SVG / PDF...").
#pragma once

#include <QString>

#include <functional>

class QCustomPlot;
class QMenu;
class QWidget;

namespace bitscape::widgets {

// Writes the plot as it is drawn now; the format follows the file's extension (.png, .svg or
// .pdf). PNG is rendered at `dpi` (the plot's logical size x dpi / 96); SVG and PDF are vector.
// Returns an empty string on success, else what went wrong.
QString exportPlot(QCustomPlot* plot, const QString& path, int dpi = 192);

// The same for a widget that is a QCustomPlot (for code that cannot include QCustomPlot, built
// with QT_NO_KEYWORDS); an error when it is not one.
QString exportWidgetPlot(QWidget* plot, const QString& path, int dpi = 192);

// Restyles the plot (background, axes, grid, legend) from its palette now and whenever the
// palette changes (light/dark switch without a restart).
void followPalette(QCustomPlot* plot);

// Adds the right-click menu (PNG at 96/192/300 DPI, SVG, PDF) that asks for a file name and
// reports an error in a message box; marks the plot (property "bitscapeExportMenu").
void installExportMenu(QCustomPlot* plot);

// That menu (owned by the plot): "reset-view" (resetPlotView), then actions "export-png96", "export-png192", "export-png300",
// "export-svg", "export-pdf"; each asks `askPath(suggested file name, filter)` for the file
// ("" = cancelled) and writes it. installExportMenu asks with a file dialog; tests answer
// themselves and trigger the actions.
using AskPath = std::function<QString(const QString& suggested, const QString& filter)>;
QMenu* exportMenu(QCustomPlot* plot, const AskPath& askPath);

// Back to the plot's home view after zooming or panning: its Q_INVOKABLE resetView() where it
// has one, else every data point in view.
void resetPlotView(QCustomPlot* plot);

}  // namespace bitscape::widgets
