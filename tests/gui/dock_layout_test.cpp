// The default dock layout as a resource (app/gui/dock_layout.h): the window's docks are where
// resources/layout/default.json puts them, every dock of the window is named there, View > Reset
// layout brings moved docks back, and a broken layout document is refused with what is wrong.
#include <QDockWidget>
#include <QTest>

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>

#include "dock_layout.h"
#include "main_window.h"

using bitscape::gui::DockLayout;
using bitscape::gui::MainWindow;

namespace {

// Where every dock of the layout is in the window: area, and the same tab group as its group's
// first dock.
void expect_placed(MainWindow& w, const DockLayout& layout) {
  for (const auto& p : layout.docks) {
    auto* dock = w.findChild<QDockWidget*>(p.dock);
    ASSERT_NE(dock, nullptr) << p.dock.toStdString();
    EXPECT_FALSE(dock->isFloating()) << p.dock.toStdString();
    EXPECT_EQ(w.dockWidgetArea(dock), p.area) << p.dock.toStdString();
    EXPECT_EQ(dock->isHidden(), p.hidden) << p.dock.toStdString();
    if (!p.tabWith.isEmpty()) {
      auto* group = w.findChild<QDockWidget*>(p.tabWith);
      EXPECT_TRUE(w.tabifiedDockWidgets(group).contains(dock))
          << p.dock.toStdString() << " is not in the tab group of " << p.tabWith.toStdString();
    }
  }
}

TEST(DockLayoutTest, TheWindowsDocksAreWhereTheResourcePutsThemAndResetBringsThemBack) {
  const DockLayout& layout = bitscape::gui::defaultDockLayout();
  ASSERT_GE(layout.docks.size(), 10u);
  MainWindow w;
  w.useDefaultLayout();
  w.show();
  QTest::qWait(50);
  EXPECT_EQ(w.size(), layout.window);
  expect_placed(w, layout);
  // Every dock of the window is placed by the resource.
  std::set<QString> named;
  for (const auto& p : layout.docks) named.insert(p.dock);
  for (QDockWidget* d : w.findChildren<QDockWidget*>(QString(), Qt::FindDirectChildrenOnly))
    EXPECT_TRUE(named.count(d->objectName())) << d->objectName().toStdString() << " has no place";
  // The analysis at the centre: the left column (editor, model facts) takes its share of the
  // width, the Pareto front the rest at the top and half the height; the heatmap and the
  // saliency side by side below it, both visible at once.
  auto* tree = w.findChild<QDockWidget*>(QStringLiteral("modelDock"));
  auto* editor = w.findChild<QDockWidget*>(QStringLiteral("allocationDock"));
  auto* pareto = w.findChild<QDockWidget*>(QStringLiteral("paretoDock"));
  auto* heatmap = w.findChild<QDockWidget*>(QStringLiteral("sensitivityDock"));
  auto* saliency = w.findChild<QDockWidget*>(QStringLiteral("saliencyDock"));
  EXPECT_NEAR(tree->width(), 0.3 * w.width(), 0.05 * w.width());
  EXPECT_NEAR(pareto->height(), 0.5 * w.height(), 0.08 * w.height());
  // The Pareto front (behind the start page at a first start) is the largest view.
  pareto->raise();
  QTest::qWait(20);
  for (QDockWidget* d : w.findChildren<QDockWidget*>(QString(), Qt::FindDirectChildrenOnly))
    if (d != pareto && !d->visibleRegion().isEmpty()) {
      EXPECT_GE(pareto->width() * pareto->height(), d->width() * d->height()) << d->objectName().toStdString();
    }
  EXPECT_TRUE(w.tabifiedDockWidgets(editor).contains(tree));
  EXPECT_FALSE(w.tabifiedDockWidgets(heatmap).contains(saliency));
  EXPECT_TRUE(heatmap->isVisible() && saliency->isVisible());
  EXPECT_FALSE(heatmap->visibleRegion().isEmpty());
  EXPECT_FALSE(saliency->visibleRegion().isEmpty());
  EXPECT_LT(heatmap->geometry().right(), saliency->geometry().left() + 1);
  EXPECT_GT(heatmap->geometry().top(), pareto->geometry().bottom() - 1);
  // No central widget takes space from the docks.
  EXPECT_TRUE(w.centralWidget()->isHidden());

  // Moved, floated and hidden docks come back with View > Reset layout.
  auto* jobs = w.findChild<QDockWidget*>(QStringLiteral("jobsDock"));
  w.addDockWidget(Qt::BottomDockWidgetArea, pareto);
  jobs->setFloating(true);
  tree->hide();
  EXPECT_EQ(w.dockWidgetArea(pareto), Qt::BottomDockWidgetArea);
  w.useDefaultLayout();
  QTest::qWait(50);
  expect_placed(w, layout);
  EXPECT_TRUE(tree->isVisible());
  EXPECT_NEAR(tree->width(), 0.3 * w.width(), 0.05 * w.width());
  EXPECT_GT(pareto->width(), 0.6 * w.width());
}

TEST(DockLayoutTest, ABrokenLayoutDocumentIsRefusedWithWhatIsWrong) {
  auto problem = [](const char* json) {
    try {
      bitscape::gui::parseDockLayout(QByteArray(json));
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string head = R"({"format": "bitscape-layout", "version": 1, "window": {"width": 1280, "height": 800}, )";
  EXPECT_NE(problem("{"), "");
  EXPECT_NE(problem(R"({"format": "other", "version": 1})").find("bitscape-layout"), std::string::npos);
  EXPECT_NE(problem((head + R"("docks": [{"dock": "a", "area": "middle"}]})").c_str()).find("middle"), std::string::npos);
  EXPECT_NE(problem((head + R"("docks": [{"dock": "b", "tab_with": "a"}, {"dock": "a", "area": "left"}]})").c_str())
                .find("not placed before"), std::string::npos);
  EXPECT_NE(problem((head + R"("docks": [{"dock": "a", "area": "left", "width": 1.5}]})").c_str()).find("share"),
            std::string::npos);
  EXPECT_NE(problem((head + R"("docks": [{"dock": "a", "area": "left"}, {"dock": "a", "area": "right"}]})").c_str())
                .find("twice"), std::string::npos);
  EXPECT_NE(problem((head + R"("docks": [{"dock": "a", "area": "left"}], "raised": ["z"]})").c_str()).find("z"),
            std::string::npos);
  EXPECT_EQ(problem((head + R"("docks": [{"dock": "a", "area": "left"}, {"dock": "b", "tab_with": "a"}], "raised": ["a"]})").c_str()),
            "");
  // A split after the split dock got tabs (Qt would make it one more tab), a split without an
  // orientation, both a tab group and a split.
  EXPECT_NE(problem((head + R"("docks": [{"dock": "a", "area": "left"}, {"dock": "b", "tab_with": "a"}, {"dock": "c", "split_with": "a", "orientation": "vertical"}]})").c_str())
                .find("split first"), std::string::npos);
  EXPECT_NE(problem((head + R"("docks": [{"dock": "a", "area": "left"}, {"dock": "c", "split_with": "a"}]})").c_str())
                .find("orientation"), std::string::npos);
  EXPECT_NE(problem((head + R"("docks": [{"dock": "a", "area": "left"}, {"dock": "c", "split_with": "a", "tab_with": "a"}]})").c_str())
                .find("both"), std::string::npos);
  EXPECT_NE(problem((head + R"("docks": [{"dock": "a", "area": "left"}], "full_height": ["top"]})").c_str())
                .find("full_height"), std::string::npos);
}

}  // namespace
