// Discoverability in the real window: the start page points at the next step of the study and
// says why a step cannot run yet; Search and the project actions are disabled with the reason in
// their tooltips; Help holds the guide (F1, docs/workbench.md compiled in), the shortcut sheet
// (made from the menus' actions), the start page and the demo.
#include <QAction>
#include <QMenuBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QTest>
#include <QTextBrowser>

#include <gtest/gtest.h>

#include "bitscape/widgets/start_page.h"
#include "main_window.h"

using bitscape::gui::MainWindow;
using bitscape::widgets::StartPage;

namespace {

QAction* menuAction(MainWindow& w, const QString& menu, const QString& text) {
  for (QAction* m : w.menuBar()->actions())
    if (m->text().remove('&') == menu && m->menu())
      for (QAction* a : m->menu()->actions())
        if (a->text().remove('&').startsWith(text)) return a;
  return nullptr;
}

}  // namespace

TEST(StartPageTest, ItPointsAtTheNextStepAndSaysWhyALaterOneCannotRunYet) {
  MainWindow w;
  StartPage* page = w.startPage();
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(page->nextStep(), StartPage::kOpenModel);
  EXPECT_FALSE(page->button(StartPage::kCalibrate)->isEnabled());
  EXPECT_TRUE(page->button(StartPage::kCalibrate)->toolTip().contains("Needs an open model"));
  EXPECT_FALSE(page->button(StartPage::kSearch)->isEnabled());
  EXPECT_TRUE(page->button(StartPage::kSearch)->toolTip().contains("Needs a project"));
  // The menus say the same: Search is greyed out with the reason, not silently.
  QAction* search = menuAction(w, "Search", "Run search");
  ASSERT_NE(search, nullptr);
  EXPECT_FALSE(search->isEnabled());
  EXPECT_TRUE(search->toolTip().contains("Needs a project")) << search->toolTip().toStdString();
  QAction* calibrate = menuAction(w, "Project", "New project");
  ASSERT_NE(calibrate, nullptr);
  EXPECT_FALSE(calibrate->isEnabled());
  EXPECT_TRUE(calibrate->toolTip().contains("Needs an open model"));

  QSignalSpy opened(&w, &MainWindow::modelOpened);
  w.openModel(QStringLiteral(BITSCAPE_SAMPLE_DIR "/model"));
  ASSERT_TRUE(opened.wait(60000));
  EXPECT_EQ(page->nextStep(), StartPage::kCalibrate);
  EXPECT_TRUE(page->button(StartPage::kCalibrate)->isEnabled());
  EXPECT_TRUE(calibrate->isEnabled());
  EXPECT_FALSE(search->isEnabled());  // still no project
  EXPECT_TRUE(page->stepText(StartPage::kCalibrate).contains("project"));
}

TEST(StartPageTest, HelpHoldsTheGuideTheShortcutSheetTheStartPageAndTheDemo) {
  MainWindow w;
  w.show();
  QAction* guide = menuAction(w, "Help", "Workbench guide");
  ASSERT_NE(guide, nullptr);
  EXPECT_EQ(guide->shortcut(), QKeySequence(QKeySequence::HelpContents));
  guide->trigger();
  QTest::qWait(20);
  auto* text = w.findChild<QTextBrowser*>(QStringLiteral("guideText"));
  ASSERT_NE(text, nullptr);
  EXPECT_TRUE(text->toPlainText().contains("The workbench")) << "the guide is docs/workbench.md";
  EXPECT_TRUE(text->toPlainText().contains("Pareto front"));
  // The sheet lists the menus' shortcuts (Ctrl+R runs a search, F1 the guide) and the plots'.
  const QString sheet = w.shortcutSheet();
  EXPECT_TRUE(sheet.contains(QKeySequence(Qt::CTRL | Qt::Key_R).toString(QKeySequence::NativeText)));
  EXPECT_TRUE(sheet.contains("Run search"));
  EXPECT_TRUE(sheet.contains("F1"));
  EXPECT_TRUE(sheet.contains("Reset view") || sheet.contains("reset the view"));
  EXPECT_NE(menuAction(w, "Help", "Keyboard shortcuts"), nullptr);
  EXPECT_NE(menuAction(w, "Help", "Start page"), nullptr);
  EXPECT_NE(menuAction(w, "Help", "Guided demo"), nullptr);
}
