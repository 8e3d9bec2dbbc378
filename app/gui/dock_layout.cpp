// The default dock layout from its resource (dock_layout.h).
#include "dock_layout.h"

#include <QDockWidget>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QList>
#include <QMainWindow>

#include <map>
#include <stdexcept>

// The resource lives in a static library: its initialiser is called explicitly (at global
// scope, as Q_INIT_RESOURCE requires).
static void initLayoutResource() { Q_INIT_RESOURCE(layout); }

namespace bitscape::gui {
namespace {

[[noreturn]] void bad(const QString& what) {
  throw std::runtime_error(("dock layout: " + what).toStdString());
}

Qt::DockWidgetArea areaNamed(const QString& name) {
  if (name == QLatin1String("left")) return Qt::LeftDockWidgetArea;
  if (name == QLatin1String("right")) return Qt::RightDockWidgetArea;
  if (name == QLatin1String("top")) return Qt::TopDockWidgetArea;
  if (name == QLatin1String("bottom")) return Qt::BottomDockWidgetArea;
  bad(QStringLiteral("unknown area '%1' (left, right, top, bottom)").arg(name));
}

double share(const QJsonObject& o, const char* key, const QString& dock) {
  if (!o.contains(QLatin1String(key))) return 0;
  const double v = o.value(QLatin1String(key)).toDouble(-1);
  if (!(v > 0 && v < 1)) bad(QStringLiteral("%1 of %2 must be a share between 0 and 1").arg(QLatin1String(key), dock));
  return v;
}

}  // namespace

DockLayout parseDockLayout(const QByteArray& json) {
  QJsonParseError error{};
  const QJsonDocument doc = QJsonDocument::fromJson(json, &error);
  if (error.error != QJsonParseError::NoError) bad(error.errorString());
  const QJsonObject root = doc.object();
  if (root.value(QLatin1String("format")).toString() != QLatin1String("bitscape-layout") ||
      root.value(QLatin1String("version")).toInt() != 1)
    bad(QStringLiteral("not a bitscape-layout document of version 1"));
  DockLayout layout;
  const QJsonObject window = root.value(QLatin1String("window")).toObject();
  layout.window = QSize(window.value(QLatin1String("width")).toInt(), window.value(QLatin1String("height")).toInt());
  if (layout.window.width() < 640 || layout.window.height() < 480) bad(QStringLiteral("window size missing or below 640 x 480"));
  std::map<QString, Qt::DockWidgetArea> placed;
  for (const QJsonValue& v : root.value(QLatin1String("docks")).toArray()) {
    const QJsonObject o = v.toObject();
    DockPlacement p;
    p.dock = o.value(QLatin1String("dock")).toString();
    if (p.dock.isEmpty()) bad(QStringLiteral("a dock without a name"));
    if (placed.count(p.dock)) bad(QStringLiteral("%1 placed twice").arg(p.dock));
    p.tabWith = o.value(QLatin1String("tab_with")).toString();
    p.splitWith = o.value(QLatin1String("split_with")).toString();
    if (!p.tabWith.isEmpty() && !p.splitWith.isEmpty())
      bad(QStringLiteral("%1 has both a tab group and a split").arg(p.dock));
    const QString with = p.tabWith.isEmpty() ? p.splitWith : p.tabWith;
    if (!with.isEmpty()) {
      const auto it = placed.find(with);
      if (it == placed.end()) bad(QStringLiteral("%1 joins %2, which is not placed before it").arg(p.dock, with));
      if (o.contains(QLatin1String("area"))) bad(QStringLiteral("%1 has both an area and a tab group or split").arg(p.dock));
      p.area = it->second;
      if (!p.splitWith.isEmpty()) {
        // Qt adds a dock split from a tabbed dock as one more tab: a split must come before
        // the dock it splits gets tabs.
        for (const DockPlacement& q : layout.docks)
          if (q.tabWith == p.splitWith)
            bad(QStringLiteral("%1 splits %2 after %3 joined its tab group (split first)").arg(p.dock, p.splitWith, q.dock));
        const QString orientation = o.value(QLatin1String("orientation")).toString();
        if (orientation == QLatin1String("horizontal")) p.orientation = Qt::Horizontal;
        else if (orientation == QLatin1String("vertical")) p.orientation = Qt::Vertical;
        else bad(QStringLiteral("%1: orientation '%2' (horizontal or vertical)").arg(p.dock, orientation));
      }
    } else {
      p.area = areaNamed(o.value(QLatin1String("area")).toString());
    }
    p.hidden = o.value(QLatin1String("hidden")).toBool(false);
    p.width = share(o, "width", p.dock);
    p.height = share(o, "height", p.dock);
    placed[p.dock] = p.area;
    layout.docks.push_back(p);
  }
  if (layout.docks.empty()) bad(QStringLiteral("no docks"));
  for (const QJsonValue& v : root.value(QLatin1String("full_height")).toArray()) {
    if (v.toString() == QLatin1String("left")) layout.leftFullHeight = true;
    else if (v.toString() == QLatin1String("right")) layout.rightFullHeight = true;
    else bad(QStringLiteral("full_height: '%1' (left or right)").arg(v.toString()));
  }
  for (const QJsonValue& v : root.value(QLatin1String("raised")).toArray()) {
    if (!placed.count(v.toString())) bad(QStringLiteral("raised dock %1 is not placed").arg(v.toString()));
    layout.raised << v.toString();
  }
  return layout;
}

const DockLayout& defaultDockLayout() {
  static const DockLayout layout = [] {
    initLayoutResource();
    QFile f(QStringLiteral(":/layout/default.json"));
    if (!f.open(QIODevice::ReadOnly)) bad(QStringLiteral("the resource :/layout/default.json is missing"));
    return parseDockLayout(f.readAll());
  }();
  return layout;
}

void placeDocks(QMainWindow& window, const DockLayout& layout) {
  auto find = [&window](const QString& name) {
    return window.findChild<QDockWidget*>(name, Qt::FindDirectChildrenOnly);
  };
  const Qt::DockWidgetArea topCorner = Qt::TopDockWidgetArea, bottomCorner = Qt::BottomDockWidgetArea;
  window.setCorner(Qt::TopLeftCorner, layout.leftFullHeight ? Qt::LeftDockWidgetArea : topCorner);
  window.setCorner(Qt::BottomLeftCorner, layout.leftFullHeight ? Qt::LeftDockWidgetArea : bottomCorner);
  window.setCorner(Qt::TopRightCorner, layout.rightFullHeight ? Qt::RightDockWidgetArea : topCorner);
  window.setCorner(Qt::BottomRightCorner, layout.rightFullHeight ? Qt::RightDockWidgetArea : bottomCorner);
  // Every dock out of its tab group and split first, so that the groups are rebuilt as written.
  for (const DockPlacement& p : layout.docks)
    if (QDockWidget* dock = find(p.dock)) {
      dock->setFloating(false);
      window.removeDockWidget(dock);
    }
  for (const DockPlacement& p : layout.docks) {
    QDockWidget* dock = find(p.dock);
    if (dock == nullptr) continue;
    if (QDockWidget* group = p.tabWith.isEmpty() ? nullptr : find(p.tabWith)) {
      window.tabifyDockWidget(group, dock);
    } else if (QDockWidget* beside = p.splitWith.isEmpty() ? nullptr : find(p.splitWith)) {
      window.splitDockWidget(beside, dock, p.orientation);
    } else {
      window.addDockWidget(p.area, dock);
    }
    dock->setVisible(!p.hidden);
  }
  for (const QString& name : layout.raised)
    if (QDockWidget* dock = find(name)) dock->raise();
}

void sizeDocks(QMainWindow& window, const DockLayout& layout) {
  QList<QDockWidget*> across, down;
  QList<int> widths, heights;
  for (const DockPlacement& p : layout.docks) {
    QDockWidget* dock = window.findChild<QDockWidget*>(p.dock, Qt::FindDirectChildrenOnly);
    if (dock == nullptr) continue;
    // A tab behind another is not laid out: size the group through its tab in front.
    if (dock->visibleRegion().isEmpty())
      for (QDockWidget* tab : window.tabifiedDockWidgets(dock))
        if (!tab->visibleRegion().isEmpty()) dock = tab;
    if (p.width > 0) {
      across << dock;
      widths << int(window.width() * p.width);
    }
    if (p.height > 0) {
      down << dock;
      heights << int(window.height() * p.height);
    }
  }
  if (!down.isEmpty()) window.resizeDocks(down, heights, Qt::Vertical);
  if (!across.isEmpty()) window.resizeDocks(across, widths, Qt::Horizontal);
}

}  // namespace bitscape::gui
