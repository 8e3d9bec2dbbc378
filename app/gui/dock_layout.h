// The workbench's default dock layout, kept as a resource (resources/layout/default.json,
// compiled into the workbench as ":/layout/default.json") rather than spread over the code that
// creates the docks: the area of each view's dock, the tab groups and the tab in front of each,
// the window size and the docks' shares of it. A dock goes to an area ("area"), into an earlier
// dock's tab group ("tab_with") or beside / below an earlier dock ("split_with" with
// "orientation": "horizontal" or "vertical"); "hidden" docks are placed but shown on demand. A first start, a saved layout that cannot be
// restored, screenshots and View > Reset layout apply it.
#pragma once

#include <QByteArray>
#include <QSize>
#include <QString>
#include <QStringList>
#include <Qt>

#include <vector>

class QMainWindow;

namespace bitscape::gui {

struct DockPlacement {
  QString dock;                                   // the dock's object name
  Qt::DockWidgetArea area = Qt::LeftDockWidgetArea;
  QString tabWith;                                // an earlier dock whose tab group it joins
  QString splitWith;                              // an earlier dock whose space it shares
  Qt::Orientation orientation = Qt::Horizontal;   // of that split: beside it or below it
  bool hidden = false;                            // placed, but shown only on demand
  double width = 0, height = 0;                   // shares of the window (0: not set)
};

struct DockLayout {
  QSize window;
  std::vector<DockPlacement> docks;
  QStringList raised;  // the tab in front of each group
  // Side areas that run the window's full height (their corners); the top and bottom areas then
  // share the space between them (the workbench has no central widget of its own).
  bool leftFullHeight = false, rightFullHeight = false;
};

// Parses a layout document; throws std::runtime_error saying what is wrong (it is Bitscape's own
// resource: a mistake in it is a bug, found by the workbench tests).
DockLayout parseDockLayout(const QByteArray& json);
// The layout of ":/layout/default.json".
const DockLayout& defaultDockLayout();
// Puts the window's docks (found by object name) where the layout says, shown and docked; docks
// it does not name stay where they are.
void placeDocks(QMainWindow& window, const DockLayout& layout);
// Gives the docks their shares of the window; call once the window is laid out.
void sizeDocks(QMainWindow& window, const DockLayout& layout);

}  // namespace bitscape::gui
