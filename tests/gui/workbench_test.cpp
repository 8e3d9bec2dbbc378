// The workbench's real main window driven end to end on the sample model (offscreen): a project
// calibrated and analysed by the CLI is opened with the model; the window runs a dp search whose
// points appear live, loads a point into the allocation editor, edits it, measures it (the point
// joins the Pareto view) and exports each plot to PNG, SVG and PDF.
#include <QApplication>
#include <QAbstractButton>
#include <QMenu>
#include <QMessageBox>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QUndoStack>
#include <QTest>
#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <filesystem>
#include <set>

#include <gtest/gtest.h>

#include "app/cli_util.h"
#include <QElapsedTimer>

#include "bitscape/project.h"
#include "bitscape/sensitivity_store.h"
#include "bitscape/widgets/allocation_editor.h"
#include "bitscape/widgets/allocation_model.h"
#include "bitscape/widgets/demo_panel.h"
#include "bitscape/widgets/heatmap_view.h"
#include "bitscape/widgets/jobs_panel.h"
#include "bitscape/widgets/pareto_panel.h"
#include "bitscape/widgets/pareto_view.h"
#include "bitscape/widgets/plot_export.h"
#include "bitscape/widgets/probing_view.h"
#include "bitscape/widgets/saliency_view.h"
#include "bitscape/widgets/sensitivity_panel.h"
#include "main_window.h"
#include "window_jobs.h"

using namespace bitscape::test;
using bitscape::gui::MainWindow;

namespace {

const std::string kTrain = std::string(BITSCAPE_SAMPLE_DIR) + "/train.txt";
const std::string kValidation = std::string(BITSCAPE_SAMPLE_DIR) + "/validation.txt";


}  // namespace

TEST(WorkbenchTest, SearchEditEvaluateAndExportInTheRealWindow) {
  if (!bitscape::project_support_available()) GTEST_SKIP() << "built without HDF5";
  const std::string dir = scratch_dir();
  const std::string p = dir + "/w.bsproj.h5";
  CliRun c = cli("calibrate --quiet --model " + kSample + " --data " + kTrain +
                 " --samples 4 --seqlen 64 --out " + p);
  ASSERT_EQ(c.code, 0) << c.err;
  CliRun s = cli("sensitivity --quiet --project " + p + " --metrics obs --bits 2,3,4 --eval-data " +
                 kValidation + " --eval-windows 2 --seqlen 64 --trace-samples 0");
  ASSERT_EQ(s.code, 0) << s.err;

  MainWindow w;
  w.useDefaultLayout();
  w.show();
  w.openModel(QString::fromStdString(kSample));
  ASSERT_TRUE(waitForJob(w, "open"));
  EXPECT_EQ(w.allocationEditor()->model()->rowCount(), 42);
  w.openProject(QString::fromStdString(p));
  ASSERT_TRUE(waitForJob(w, "project"));
  // The sensitivity run is on the heatmap.
  EXPECT_EQ(w.sensitivityPanel()->heatmap()->rows(), 6);
  EXPECT_EQ(w.sensitivityPanel()->metric(), "KL at 3 bits");

  // A module's saliency maps (the sensitivity run measured OBS).
  w.showSaliency("model.layers.0.mlp.down_proj");
  ASSERT_TRUE(waitForJob(w, "saliency"));
  EXPECT_EQ(w.saliencyView()->module(), "model.layers.0.mlp.down_proj");
  EXPECT_EQ(w.saliencyView()->metrics(), QStringList({"obs"}));
  EXPECT_GT(w.saliencyView()->mapRows(), 0);
  EXPECT_EQ(w.saliencyView()->columnProfile().size(), 768u);  // down_proj's input channels
  EXPECT_EQ(w.probingView()->sourceCount(), 0);  // no probing run yet

  // Multi-source probing from the window (Project > Run multi-source probing): the run is stored
  // and the shown module's probe appears: two sources and the columns they agree on.
  bitscape::ProbingJobOptions pr;
  pr.project = p;
  pr.sources = {kTrain, kValidation};
  pr.samples = 4;
  pr.seqlen = 64;
  w.runProbing(pr);
  ASSERT_TRUE(waitForJob(w, "probing"));
  ASSERT_TRUE(waitForJob(w, "saliency"));
  ASSERT_EQ(w.probingView()->sourceCount(), 2);
  EXPECT_GT(w.probingView()->criticalCount(0), 0);
  EXPECT_LE(w.probingView()->overlapCount(), w.probingView()->criticalCount(0));
  EXPECT_EQ(w.probingView()->drawnPoints(2), w.probingView()->overlapCount());
  {
    const bitscape::ProjectReader reader = bitscape::ProjectReader::open(p);
    EXPECT_EQ(bitscape::probing_runs(reader), std::vector<std::string>({"probe1"}));
  }

  // TAMMP's strategy 1 into the editor: the columns critical for both sources in fp16, those
  // critical for one at 3 bits, the rest at 2 bits; the saliency view marks the protected ones.
  auto* editorModel = w.allocationEditor()->model();
  w.loadTammpAllocation(1);
  const bitscape::ModuleAllocation tammp =
      editorModel->module(editorModel->rowOf("model.layers.0.mlp.down_proj"));
  EXPECT_EQ(tammp.bits, 2);
  int64_t fp16 = 0, sub = 0;
  for (const bitscape::ChannelClass& c : tammp.channels.classes)
    (c.bits == bitscape::kUnquantizedBits ? fp16 : sub) += int64_t(c.indices.size());
  EXPECT_EQ(fp16, w.probingView()->overlapCount());
  EXPECT_EQ(fp16 + sub, w.probingView()->unionCount());
  ASSERT_TRUE(waitForJob(w, "marks"));
  EXPECT_EQ(w.saliencyView()->protectedMarks(), w.probingView()->unionCount());
  EXPECT_EQ(w.saliencyView()->loweredMarks(), 0);

  // A class chosen by a statistic: the top 5 % of input channels by activation norm at 8 bits.
  // The marks are those channels, found here from the project's statistics.
  {
    bitscape::Allocation a = editorModel->allocation();
    bitscape::ModuleAllocation& m = a.modules["model.layers.0.mlp.down_proj"];
    m = bitscape::ModuleAllocation{};
    m.bits = 3;
    m.channels.axis = bitscape::ChannelAxis::kIn;
    bitscape::ChannelClass top;
    top.bits = 8;
    top.select = bitscape::ChannelSelect::kTop;
    top.by = bitscape::ChannelStatistic::kActivation;
    top.fraction = 0.05;
    m.channels.classes = {top};
    editorModel->setAllocation(a, "top 5 %");
    ASSERT_TRUE(waitForJob(w, "marks"));
    const std::vector<float> act =
        bitscape::ProjectReader::open(p).module_statistics("model.layers.0.mlp.down_proj").act_l2;
    ASSERT_EQ(act.size(), 768u);
    std::vector<int64_t> order(act.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t(i);
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return act[size_t(x)] > act[size_t(y)]; });
    const int64_t k = std::llround(0.05 * 768);
    std::vector<int64_t> expected(order.begin(), order.begin() + k);
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(w.saliencyView()->protectedMarks(), int(k));
    EXPECT_EQ(w.saliencyView()->markedChannels(), expected);
  }

  // A dp search from the window: its points arrive while it runs and are stored in the project.
  bitscape::SearchJobOptions r;
  r.project = p;
  r.search.method = "dp";
  r.eval_windows = 2;
  bitscape::widgets::ParetoView* pareto = w.paretoPanel()->view();
  w.startSearch(r);
  ASSERT_TRUE(waitForJob(w, "search"));
  ASSERT_EQ(pareto->runCount(), 1);
  EXPECT_EQ(pareto->pointCount(0), 9);  // budgets 2.25..4.25 by 0.25
  EXPECT_EQ(pareto->baselineCount(), 8);
  EXPECT_GE(pareto->front(0).size(), 3u);

  // Click the 3.0-bit point: the editor holds its allocation, with the cost the point reports.
  int pick = -1;
  for (int i = 0; i < pareto->pointCount(0); ++i)
    if (std::abs(pareto->point(0, i).average_bits - 3.0) < 0.13) pick = i;
  ASSERT_GE(pick, 0);
  w.loadPoint(0, pick);
  auto* model = w.allocationEditor()->model();
  EXPECT_NEAR(model->cost().average_bits, pareto->point(0, pick).average_bits, 1e-9);
  const bitscape::Allocation loaded = bitscape::gui::Engine::allocationOfPoint(p, "search1", pareto->point(0, pick).index);
  EXPECT_TRUE(model->allocation().module("model.layers.0.self_attn.v_proj") ==
              loaded.module("model.layers.0.self_attn.v_proj"));

  // Edit: every down_proj to 4 bits (one undo step); then measure it.
  const double before = model->cost().average_bits;
  EXPECT_GT(model->setBits(model->rowsOfKind("mlp.down_proj"), 4), 0);
  EXPECT_GT(model->cost().average_bits, before);
  w.evaluateAllocation(model->allocation());
  ASSERT_TRUE(waitForJob(w, "measure"));
  ASSERT_EQ(pareto->runCount(), 2);
  ASSERT_EQ(pareto->pointCount(1), 1);
  const bitscape::SearchPoint& edited = pareto->point(1, 0);
  EXPECT_NEAR(edited.average_bits, model->cost().average_bits, 1e-9);
  EXPECT_TRUE(std::isfinite(edited.kl) && edited.kl > 0);
  EXPECT_TRUE(std::isfinite(edited.ppl));
  // The measured allocation is stored in the project with its point: after reopening, the point
  // is back and a click on it loads the allocation that was measured.
  const bitscape::Allocation measured = model->allocation();
  const double measuredKl = edited.kl;
  model->setBits(model->rowsOfKind("mlp.up_proj"), 8);
  ASSERT_FALSE(model->allocation().module("model.layers.0.mlp.up_proj") ==
               measured.module("model.layers.0.mlp.up_proj"));
  w.openProject(QString::fromStdString(p));
  ASSERT_TRUE(waitForJob(w, "project"));
  ASSERT_EQ(pareto->runCount(), 2);  // the dp search and the edited allocations
  ASSERT_EQ(pareto->pointCount(1), 1);
  EXPECT_DOUBLE_EQ(pareto->point(1, 0).kl, measuredKl);
  w.loadPoint(1, 0);
  for (const bitscape::ModuleShape& shape : model->shapes())
    EXPECT_TRUE(model->allocation().module(shape.name) == measured.module(shape.name)) << shape.name;

  // The jobs dock lists what ran; the explain panel follows the view brought to the front.
  bitscape::widgets::JobsPanel* jobs = w.jobsPanel();
  ASSERT_EQ(jobs->jobCount(), 6);  // open, project, probing, search, measure, project
  for (int j = 0; j < 6; ++j) EXPECT_EQ(jobs->text(j, bitscape::widgets::JobsPanel::kStateColumn), "finished") << j;
  EXPECT_EQ(jobs->text(2, bitscape::widgets::JobsPanel::kJobColumn), "Calibrate / sensitivity / probing");
  EXPECT_EQ(jobs->text(3, bitscape::widgets::JobsPanel::kJobColumn), "Search");
  w.showView("allocation-map");
  QApplication::processEvents();
  EXPECT_EQ(w.explainedView(), "allocation-map");
  w.showView("pareto");
  w.showView("sensitivity");
  QApplication::processEvents();
  EXPECT_EQ(w.explainedView(), "sensitivity");

  // Every plot of the window exports to PNG, SVG and PDF from its context menu: the menu's
  // actions are triggered with the file names a user would type.
  const QList<QCustomPlot*> plots = w.findChildren<QCustomPlot*>();
  EXPECT_GE(plots.size(), 10);  // Pareto, heatmap, allocation grid and bars, 4 saliency, probing, NLL
  std::set<std::string> written;
  for (QCustomPlot* plot : plots) {
    ASSERT_TRUE(plot->property("bitscapeExportMenu").toBool()) << plot->objectName().toStdString();
    int n = 0;
    QMenu* menu = bitscape::widgets::exportMenu(plot, [&](const QString& suggested, const QString&) {
      const std::string path = dir + "/" + std::to_string(written.size()) + "-" + suggested.toStdString();
      written.insert(path);
      ++n;
      return QString::fromStdString(path);
    });
    for (const char* action : {"export-png192", "export-svg", "export-pdf"}) {
      QAction* a = menu->findChild<QAction*>(action);
      ASSERT_NE(a, nullptr) << action;
      a->trigger();
    }
    delete menu;
    EXPECT_EQ(n, 3) << plot->objectName().toStdString();
  }
  for (const std::string& path : written) EXPECT_GT(std::filesystem::file_size(path), 1000u) << path;

  // File > Save project as: the copy becomes the open project, with everything it held.
  const QString copy = QString::fromStdString(dir + "/copy.bsproj.h5");
  w.saveProjectAs(copy);
  ASSERT_TRUE(waitForJob(w, "save-project"));
  ASSERT_TRUE(waitForJob(w, "project"));
  EXPECT_EQ(w.projectPath(), copy);
  EXPECT_EQ(pareto->runCount(), 2);
  EXPECT_EQ(std::filesystem::file_size(copy.toStdString()), std::filesystem::file_size(p));
  EXPECT_FALSE(std::filesystem::exists(copy.toStdString() + ".part"));
}

TEST(WorkbenchTest, TheGuidedDemoRunsEveryStepOnTheSampleModel) {
  if (!bitscape::project_support_available()) GTEST_SKIP() << "built without HDF5";
  const std::string dir = scratch_dir();
  MainWindow w;
  w.useDefaultLayout();
  w.show();
  w.openModel(QString::fromStdString(kSample));
  ASSERT_TRUE(waitForJob(w, "open"));
  w.setDemoDir(QString::fromStdString(dir));
  auto* demo = w.demoPanel();
  ASSERT_EQ(demo->stepCount(), 6);
  for (int step = 0; step < 6; ++step) {
    QSignalSpy ended(&w, &MainWindow::demoStepEnded);
    w.runDemoStep(step);
    // The demo's panel stays in view whatever the step shows.
    EXPECT_FALSE(w.findChild<QWidget*>("demoDock")->visibleRegion().isEmpty()) << "step " << step;
    if (step == 1) {
      // The heatmap the sensitivity step talks about is in front, and fills as modules finish:
      // cells appear while the job still runs.
      EXPECT_FALSE(w.sensitivityPanel()->visibleRegion().isEmpty());
      ASSERT_TRUE(QTest::qWaitFor([&] { return w.sensitivityPanel()->heatmap()->rows() > 0 || !ended.isEmpty(); },
                                  scaled(300000)));
      EXPECT_TRUE(ended.isEmpty()) << "no cell before the run ended";
    }
    if (step == 3) {
      // The edit step waits for the student's own edit, with the searched point as reference.
      QTest::qWait(50);
      EXPECT_TRUE(ended.isEmpty()) << "the edit step ended before any edit";
      auto* m = w.allocationEditor()->model();
      EXPECT_TRUE(m->hasReference());
      m->setBits(m->rowsOfKind("mlp.down_proj"), 4);  // the student's edit
      EXPECT_FALSE(m->differingRows().empty());  // what changed is marked against the reference
    }
    if (ended.isEmpty()) {
      ASSERT_TRUE(ended.wait(scaled(300000))) << "step " << step;
    }
    ASSERT_EQ(ended.count(), 1);
    EXPECT_TRUE(ended.at(0).at(1).toBool()) << "step " << step << ": " << demo->note(step).toStdString();
    ASSERT_EQ(demo->state(step), bitscape::widgets::DemoPanel::State::kDone) << demo->note(step).toStdString();
  }
  EXPECT_EQ(demo->nextStep(), 6);
  EXPECT_TRUE(std::filesystem::exists(dir + "/demo.bsproj.h5"));
  EXPECT_EQ(w.sensitivityPanel()->heatmap()->rows(), 6);
  bitscape::widgets::ParetoView* pareto = w.paretoPanel()->view();
  ASSERT_EQ(pareto->runCount(), 2);  // the dp search and the edited allocation
  EXPECT_EQ(pareto->pointCount(1), 1);
  int figures = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir + "/figures"))
    if (std::filesystem::file_size(f.path()) > 1000) ++figures;
  EXPECT_EQ(figures, 12);  // 4 plots x PNG, SVG, PDF
  // Step 5 answered its question with the numbers: the edit against the dp front.
  const QString verdict = demo->note(4);
  EXPECT_TRUE(verdict.startsWith("Your edit: KL")) << verdict.toStdString();
  EXPECT_TRUE(verdict.contains("Yes, it paid") || verdict.contains("No, it did not pay")) << verdict.toStdString();
  EXPECT_EQ(verdict, w.demoVerdict());

  // With another project open, the demo asks before it replaces it; "No" keeps it.
  const std::string other = dir + "/other.bsproj.h5";
  std::filesystem::copy_file(dir + "/demo.bsproj.h5", other);
  w.openProject(QString::fromStdString(other));
  ASSERT_TRUE(waitForJob(w, "project"));
  QSignalSpy ended(&w, &MainWindow::demoStepEnded);
  w.runDemoStep(0);
  QTest::qWait(20);
  auto* ask = w.findChild<QMessageBox*>("demoReplaceProject");
  ASSERT_NE(ask, nullptr);
  ask->button(QMessageBox::No)->click();
  ASSERT_TRUE(QTest::qWaitFor([&] { return !ended.isEmpty(); }, 2000));
  EXPECT_FALSE(ended.at(0).at(1).toBool());
  EXPECT_EQ(w.projectPath(), QString::fromStdString(other));
}

TEST(WorkbenchTest, UnsavedEditsAreKeptOnCloseAndRestoredWithTheModel) {
  QStandardPaths::setTestModeEnabled(true);
  // A copy of the sample model, so that this test's autosave never meets other tests' windows.
  const std::string dir = scratch_dir();
  const std::string modelDir = dir + "/model";
  std::filesystem::copy(kSample, modelDir);
  const QString module = "model.layers.3.mlp.down_proj";
  int defaultBits = 0;
  {
    MainWindow w;
    w.show();
    w.openModel(QString::fromStdString(modelDir));
    ASSERT_TRUE(waitForJob(w, "open"));
    auto* m = w.allocationEditor()->model();
    defaultBits = m->module(m->rowOf(module)).bits;
    EXPECT_FALSE(w.isWindowModified());
    m->setBits(m->rowsOfKind("mlp.down_proj"), defaultBits == 2 ? 3 : 2);
    EXPECT_TRUE(w.isWindowModified());
    w.close();
  }
  {
    MainWindow w;
    w.show();
    w.openModel(QString::fromStdString(modelDir));
    ASSERT_TRUE(waitForJob(w, "open"));
    auto* m = w.allocationEditor()->model();
    EXPECT_EQ(m->module(m->rowOf(module)).bits, defaultBits == 2 ? 3 : 2);  // restored
    EXPECT_EQ(m->module(m->rowOf("model.layers.3.mlp.up_proj")).bits, defaultBits);
    // Undo brings back the default; saving to a file leaves nothing unsaved to keep.
    m->undoStack()->undo();
    EXPECT_EQ(m->module(m->rowOf(module)).bits, defaultBits);
    m->undoStack()->redo();
    EXPECT_TRUE(w.saveAllocationFile(QString::fromStdString(dir + "/saved.alloc.json")));
    EXPECT_FALSE(w.isWindowModified());
    w.close();
  }
  {
    MainWindow w;
    w.show();
    w.openModel(QString::fromStdString(modelDir));
    ASSERT_TRUE(waitForJob(w, "open"));
    auto* m = w.allocationEditor()->model();
    EXPECT_EQ(m->module(m->rowOf(module)).bits, defaultBits);  // nothing restored
    w.close();
  }
}
