// The workbench at the sizes users have (1680x1050 and 1280x800, offscreen, the sample model
// open): the window keeps that size (no dock forces it larger) and, with each dock raised in
// turn, no label, button or combo box is narrower than its text needs (a cut label read
// "ndow length:"), and no plot's axis title is longer than its axis. Also the palettes: the dark
// one greys disabled text, as the light one does.
#include <QAbstractButton>
#include <QApplication>
#include <QComboBox>
#include <QDockWidget>
#include <QLabel>
#include <QSignalSpy>
#include <QTest>

#include <gtest/gtest.h>
#include <qcustomplot.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bitscape/widgets/allocation_editor.h"
#include "bitscape/widgets/allocation_model.h"
#include "main_window.h"

using bitscape::gui::MainWindow;

namespace {

// What does not fit in `root` as drawn now: one line per cut widget.
std::vector<std::string> cutWidgets(QWidget* root) {
  std::vector<std::string> cut;
  auto name = [](QWidget* w, const QString& text) {
    QString path;
    for (QWidget* p = w; p != nullptr && !qobject_cast<QDockWidget*>(p); p = p->parentWidget())
      if (!p->objectName().isEmpty()) {
        path = p->objectName();
        break;
      }
    return (QString::fromLatin1(w->metaObject()->className()) + QStringLiteral(" '") + text +
            QStringLiteral("' in ") + path).toStdString();
  };
  for (QWidget* w : root->findChildren<QWidget*>()) {
    if (!w->isVisible() || w->visibleRegion().isEmpty()) continue;
    if (auto* label = qobject_cast<QLabel*>(w)) {
      if (label->text().isEmpty() || label->wordWrap() || !label->pixmap().isNull()) continue;
      if (label->width() + 1 < label->sizeHint().width())
        cut.push_back(name(w, label->text()) + " (" + std::to_string(label->width()) + " of " +
                      std::to_string(label->sizeHint().width()) + " px)");
    } else if (auto* button = qobject_cast<QAbstractButton*>(w)) {
      if (button->text().isEmpty() || w->inherits("QToolButton")) continue;
      if (button->width() + 1 < button->minimumSizeHint().width())
        cut.push_back(name(w, button->text()) + " (" + std::to_string(button->width()) + " of " +
                      std::to_string(button->minimumSizeHint().width()) + " px)");
    } else if (auto* combo = qobject_cast<QComboBox*>(w)) {
      if (combo->width() + 1 < combo->minimumSizeHint().width())
        cut.push_back(name(w, combo->currentText()) + " (" + std::to_string(combo->width()) + " of " +
                      std::to_string(combo->minimumSizeHint().width()) + " px)");
    } else if (auto* plot = qobject_cast<QCustomPlot*>(w)) {
      plot->replot();
      for (QCPAxisRect* rect : plot->axisRects())
        for (QCPAxis* axis : rect->axes()) {
          if (axis->label().isEmpty() || !axis->visible()) continue;
          const int need = QFontMetrics(axis->labelFont()).horizontalAdvance(axis->label());
          const int have = axis->orientation() == Qt::Vertical ? rect->height() : rect->width();
          if (need > have + 2)
            cut.push_back(name(w, axis->label()) + " axis title (" + std::to_string(have) + " of " +
                          std::to_string(need) + " px)");
        }
    }
  }
  return cut;
}

void expectNothingCut(int width, int height, bool demo = false) {
  MainWindow w;
  QSignalSpy opened(&w, &MainWindow::modelOpened);
  w.openModel(QStringLiteral(BITSCAPE_SAMPLE_DIR "/model"));
  ASSERT_TRUE(opened.wait(60000));
  w.useDefaultLayout();
  w.show();
  QTest::qWait(100);  // the default layout is applied again once shown
  w.resize(width, height);
  QTest::qWait(100);
  if (demo) {
    // The guided demo's state: its dock shown below the left column, a reference in the editor
    // (its Reference column and the meter's comparison).
    w.showView("demo");
    auto* m = w.allocationEditor()->model();
    m->setReference(m->allocation(), "searched point");
    m->setBits(m->rowsOfKind("mlp.down_proj"), 3);
    QTest::qWait(100);
  }
  EXPECT_EQ(w.size(), QSize(width, height)) << "the docks' minimum sizes force the window larger";
  if (qEnvironmentVariableIsSet("BITSCAPE_FIT_DEBUG"))
    for (QDockWidget* dock : w.findChildren<QDockWidget*>(QString(), Qt::FindDirectChildrenOnly))
      std::fprintf(stderr, "%s: %dx%d, minimum %dx%d\n", dock->objectName().toUtf8().constData(), dock->width(),
                   dock->height(), dock->minimumSizeHint().width(), dock->minimumSizeHint().height());
  const std::vector<std::string> atStart = cutWidgets(&w);
  for (const std::string& c : atStart) ADD_FAILURE() << width << "x" << height << ": " << c;
  // Every dock in front of its tab group in turn.
  for (QDockWidget* dock : w.findChildren<QDockWidget*>(QString(), Qt::FindDirectChildrenOnly)) {
    if (dock->isHidden()) continue;
    dock->raise();
    QTest::qWait(20);
    for (const std::string& c : cutWidgets(dock))
      ADD_FAILURE() << width << "x" << height << ", " << dock->objectName().toStdString() << ": " << c;
  }
}

}  // namespace

TEST(WindowFitTest, NothingIsCutAt1680x1050) { expectNothingCut(1680, 1050); }

TEST(WindowFitTest, NothingIsCutAt1280x800) { expectNothingCut(1280, 800); }

TEST(WindowFitTest, NothingIsCutDuringTheGuidedDemo) { expectNothingCut(1680, 1000, /*demo=*/true); }

TEST(WindowFitTest, TheDarkPaletteGreysDisabledTextAsTheLightOneDoes) {
  const QPalette before = QApplication::palette();
  for (bool dark : {false, true}) {
    MainWindow::applyPalette(dark);
    const QPalette p = QApplication::palette();
    for (QPalette::ColorRole role : {QPalette::ButtonText, QPalette::WindowText, QPalette::Text}) {
      const QColor on = p.color(QPalette::Active, role), off = p.color(QPalette::Disabled, role);
      const QColor back = p.color(QPalette::Active, role == QPalette::Text ? QPalette::Base : QPalette::Button);
      // Disabled text is told from enabled text, and sits closer to the background.
      EXPECT_GT(std::abs(on.lightness() - off.lightness()), 40) << (dark ? "dark" : "light") << " role " << role;
      EXPECT_LT(std::abs(off.lightness() - back.lightness()), std::abs(on.lightness() - back.lightness()))
          << (dark ? "dark" : "light") << " role " << role;
    }
  }
  QApplication::setPalette(before);
}
