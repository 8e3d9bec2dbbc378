// The Bitscape workbench. `bitscape --model DIR` opens a model at start, `--project FILE` a
// project; `--screenshot FILE`
// saves the window once the requested work is done and quits (for docs and visual checks).
#include <QApplication>
#include <QCommandLineParser>
#include <QSettings>
#include <QIcon>
#include <QPixmap>
#include <QTimer>

#include <cstdio>

#include "bitscape/runtime.h"
#include "bitscape/widgets/perplexity_panel.h"
#include "main_window.h"

int main(int argc, char** argv) {
  bitscape::reexec_with_passive_openmp(argv);  // see runtime.h: before any thread starts
  bitscape::keep_freed_memory_for_reuse();
  QApplication app(argc, argv);
  QApplication::setOrganizationName(QStringLiteral("Bitscape"));
  QApplication::setApplicationName(QStringLiteral("Bitscape"));
  QApplication::setApplicationVersion(QStringLiteral(BITSCAPE_VERSION));
  QIcon icon;
  for (int size : {16, 32, 48, 64, 128, 256})
    icon.addFile(QStringLiteral(":/icons/bitscape-%1.png").arg(size), QSize(size, size));
  icon.addFile(QStringLiteral(":/icons/bitscape.svg"));
  QApplication::setWindowIcon(icon);

  QCommandLineParser parser;
  parser.setApplicationDescription(
      QStringLiteral("Workbench for mixed-precision weight quantization of LLMs."));
  parser.addHelpOption();
  parser.addVersionOption();
  const QCommandLineOption model({QStringLiteral("m"), QStringLiteral("model")},
                                 QStringLiteral("Open the Hugging Face model directory DIR."),
                                 QStringLiteral("DIR"));
  const QCommandLineOption data(QStringLiteral("data"),
                                QStringLiteral("Evaluate on FILE (default: ../test.txt)."),
                                QStringLiteral("FILE"));
  const QCommandLineOption seqlen(QStringLiteral("seqlen"),
                                  QStringLiteral("Window length in tokens."), QStringLiteral("N"));
  const QCommandLineOption maxWindows(QStringLiteral("max-windows"),
                                      QStringLiteral("Evaluate at most K windows (0 = all)."),
                                      QStringLiteral("K"));
  const QCommandLineOption evaluate(QStringLiteral("evaluate"),
                                    QStringLiteral("Evaluate perplexity once the model is open."));
  const QCommandLineOption screenshot(
      QStringLiteral("screenshot"),
      QStringLiteral("Save the window to FILE when the work is done, then quit."),
      QStringLiteral("FILE"));
  const QCommandLineOption project(
      {QStringLiteral("p"), QStringLiteral("project")},
      QStringLiteral("Open a project (*.bsproj.h5): its search fronts and sensitivity heatmap."),
      QStringLiteral("FILE"));
  const QCommandLineOption search(
      QStringLiteral("search"),
      QStringLiteral("With --project: run a search (dp, amq, automixq or cmpq) once it is open."),
      QStringLiteral("METHOD"));
  const QCommandLineOption screenshots(
      QStringLiteral("screenshots"),
      QStringLiteral("Save the window and each view as PNG files in DIR when the work is done, then quit."),
      QStringLiteral("DIR"));
  const QCommandLineOption alloc(
      QStringLiteral("alloc"),
      QStringLiteral("With --model: load this allocation (*.alloc.json) into the editor once the model is open."),
      QStringLiteral("FILE"));
  const QCommandLineOption demo(
      QStringLiteral("demo"),
      QStringLiteral("With --model: run every step of the guided demo once the model is open (its project and figures go to DIR)."),
      QStringLiteral("DIR"));
  const QCommandLineOption palette(
      QStringLiteral("palette"),
      QStringLiteral("light or dark (default: the one saved with View > Dark palette; light for screenshots)."),
      QStringLiteral("NAME"));
  parser.addOptions({model, data, seqlen, maxWindows, evaluate, screenshot, project, search, screenshots, alloc, demo, palette});
  parser.process(app);
  const bool autoDemo = parser.isSet(demo) && parser.isSet(model);

  // The palette, before any widget exists: --palette, else the saved one (screenshots: light).
  if (parser.isSet(palette) && parser.value(palette) != QLatin1String("light") &&
      parser.value(palette) != QLatin1String("dark")) {
    std::fprintf(stderr, "bitscape: --palette takes light or dark, not '%s'\n", qPrintable(parser.value(palette)));
    return 1;
  }
  const bool shots = parser.isSet(screenshot) || parser.isSet(screenshots);
  if (parser.isSet(palette) ? parser.value(palette) == QLatin1String("dark")
                            : !shots && QSettings().value(QStringLiteral("view/dark"), false).toBool())
    bitscape::gui::MainWindow::applyPalette(true);
  bitscape::gui::MainWindow window;
  const QString shotPath = parser.isSet(screenshots) ? parser.value(screenshots) : parser.value(screenshot);
  const bool manyShots = parser.isSet(screenshots);
  // Screenshots use the default layout, independent of the user's settings.
  if (shotPath.isEmpty()) window.restoreLayout();
  else window.useDefaultLayout();
  window.show();

  auto* panel = window.perplexityPanel();
  bitscape::widgets::PerplexityRequest request = panel->request();
  if (parser.isSet(seqlen)) request.seqlen = parser.value(seqlen).toInt();
  if (parser.isSet(maxWindows)) request.maxWindows = parser.value(maxWindows).toInt();
  panel->setRequest(request);

  int exitCode = 0;
  bool shotTaken = false;
  auto takeShot = [&] {
    if (shotTaken) return;  // once, after the last of the jobs the command line started
    shotTaken = true;
    QTimer::singleShot(400, &window, [&] {
      if (manyShots) {
        const QStringList files = window.saveScreenshots(shotPath);
        for (const QString& f : files) std::printf("%s\n", qPrintable(f));
        if (files.size() < 6) exitCode = 1;
      } else if (!window.grab().save(shotPath)) {
        std::fprintf(stderr, "bitscape: could not write %s\n", qPrintable(shotPath));
        exitCode = 1;
      }
      QApplication::quit();
    });
  };
  const bool autoEvaluate = parser.isSet(evaluate);
  QObject::connect(&window, &bitscape::gui::MainWindow::modelOpened, &window, [&] {
    if (parser.isSet(alloc)) window.loadAllocationFile(parser.value(alloc));
    if (autoDemo) {
      window.setDemoDir(parser.value(demo));
      window.setDemoAutoplay(true);
      window.showView(QStringLiteral("demo"));
      window.runDemoStep(0);
    }
    if (parser.isSet(data)) {
      bitscape::widgets::PerplexityRequest r = panel->request();
      r.dataPath = parser.value(data);
      panel->setRequest(r);
    }
    if (autoEvaluate) window.evaluate();
  });
  // The screenshot waits for every job the command line started (open, evaluate, project).
  const bool autoSearch = parser.isSet(search) && parser.isSet(project);
  int pending = (parser.isSet(model) ? 1 + (autoEvaluate ? 1 : 0) : 0) +
                (parser.isSet(project) ? 1 + (autoSearch ? 1 : 0) : 0);
  QObject::connect(&window, &bitscape::gui::MainWindow::projectOpened, &window,
                   [&](const QString& path) {
                     if (!autoSearch) return;
                     bitscape::SearchJobOptions r;
                     r.project = path.toStdString();
                     r.search.method = parser.value(search).toStdString();
                     window.startSearch(r);
                   });
  QObject::connect(&window, &bitscape::gui::MainWindow::jobEnded, &window,
                   [&](const QString& what, bool ok) {
                     if (shotPath.isEmpty()) return;
                     if (autoDemo && what != QLatin1String("open")) return;  // the demo counts itself
                     // The saliency view's reads follow the project and the allocation.
                     if (what == QLatin1String("saliency") || what == QLatin1String("marks")) return;
                     --pending;
                     if (what == QLatin1String("open") && !ok && autoEvaluate) --pending;
                     if (what == QLatin1String("project") && !ok && autoSearch) --pending;
                     if (pending <= 0) takeShot();
                   });

  if (autoDemo) {
    ++pending;  // the whole demo
    QObject::connect(&window, &bitscape::gui::MainWindow::demoStepEnded, &window, [&](int step, bool ok) {
      if (ok && step + 1 < 6) {
        QTimer::singleShot(0, &window, [&window, step] { window.runDemoStep(step + 1); });
        return;
      }
      if (!ok) exitCode = 1;
      if (!shotPath.isEmpty() && --pending <= 0) takeShot();
      if (shotPath.isEmpty() && !ok) std::fprintf(stderr, "bitscape: demo step %d failed\n", step + 1);
    });
  }
  if (parser.isSet(model)) window.openModel(parser.value(model));
  if (parser.isSet(project)) window.openProject(parser.value(project));
  if (pending == 0 && !shotPath.isEmpty()) takeShot();
  const int rc = app.exec();
  return exitCode != 0 ? exitCode : rc;
}
