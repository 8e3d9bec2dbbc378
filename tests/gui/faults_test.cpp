// The workbench under faults (issue 14): a job that fails, a project that disappears while it is
// open, a project another process is writing. Each gives an error message, the window keeps
// working, and nothing committed is lost. On a small model trained on the spot (2 blocks,
// hidden 128), so that every job takes a second or two.
#include <QApplication>
#include <QElapsedTimer>
#include <QMessageBox>
#include <QSignalSpy>
#include <QStandardPaths>

#include <gtest/gtest.h>

#include <filesystem>

#include "app/cli_util.h"
#include "bitscape/project.h"
#include "bitscape/project_check.h"
#include "bitscape/sensitivity_store.h"
#include "main_window.h"

namespace fs = std::filesystem;
using namespace bitscape::test;
using bitscape::gui::MainWindow;

namespace {

const std::string kValidation = std::string(BITSCAPE_SAMPLE_DIR) + "/validation.txt";
const std::string kTokenizer = std::string(BITSCAPE_SAMPLE_DIR) + "/model/tokenizer.json";

// Records what the window reports: ended jobs and error messages (closing each message box).
struct Observer {
  explicit Observer(MainWindow& w) : ended(&w, &MainWindow::jobEnded), errors(&w, &MainWindow::errorShown) {}
  QSignalSpy ended, errors;

  // Waits for the end of job `what`; its ok flag.
  bool job(const QString& what, int timeoutMs = 120000) {
    QElapsedTimer timer;
    timer.start();
    while (timer.elapsed() < timeoutMs) {
      if (ended.isEmpty()) ended.wait(100);
      while (!ended.isEmpty()) {
        const QList<QVariant> args = ended.takeFirst();
        if (args.at(0).toString() == what) return args.at(1).toBool();
      }
    }
    ADD_FAILURE() << "no end of job " << what.toStdString();
    return false;
  }
  // The message of the next error shown (closing its box), or "" when none comes.
  std::string error(int timeoutMs = 10000) {
    if (errors.isEmpty()) errors.wait(timeoutMs);
    if (errors.isEmpty()) return "";
    const QList<QVariant> args = errors.takeFirst();
    for (QWidget* top : QApplication::topLevelWidgets())
      if (auto* box = qobject_cast<QMessageBox*>(top); box && box->objectName() == "errorMessage")
        box->close();
    QApplication::processEvents();
    return (args.at(0).toString() + ": " + args.at(1).toString()).toStdString();
  }
};

std::string tiny_model(const std::string& dir) {
  const std::string m = dir + "/model";
  CliRun r = cli("train-lm --quiet --data " + kValidation + " --tokenizer " + kTokenizer + " --out " + m +
                 " --hidden 128 --intermediate 256 --layers 2 --heads 2 --kv-heads 1 --seqlen 32"
                 " --batch 4 --steps 10 --warmup 2 --eval-every 0");
  EXPECT_EQ(r.code, 0) << r.err;
  return m;
}

bitscape::SensitivityJobOptions quick_sensitivity(const std::string& project, int64_t windows = 2) {
  bitscape::SensitivityJobOptions s;
  s.project = project;
  s.sensitivity.bits = {2, 4};
  s.sensitivity.metrics = {bitscape::SaliencyMetric::kObs};
  s.sensitivity.trace_samples = 0;
  s.eval_windows = windows;
  return s;
}

// Waits (processing the window's events) until `path` exists.
bool wait_for_text_or_file(const std::string& path, int timeoutMs = 60000) {
  QElapsedTimer timer;
  timer.start();
  while (!fs::exists(path) && timer.elapsed() < timeoutMs) {
    QApplication::processEvents();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return fs::exists(path);
}

std::vector<std::string> runs_of(const std::string& project) {
  return bitscape::sensitivity_runs(bitscape::ProjectReader::open(project));
}

}  // namespace

TEST(WorkbenchFaultTest, AFailingJobShowsAnErrorAndTheWindowKeepsWorking) {
  if (!bitscape::project_support_available()) GTEST_SKIP() << "built without HDF5";
  QStandardPaths::setTestModeEnabled(true);
  const std::string dir = scratch_dir();
  const std::string model = tiny_model(dir);
  write_file(dir + "/bad.txt", std::string("text, then a byte that is no UTF-8: \xff\xfe"));
  MainWindow w;
  Observer seen(w);
  w.show();
  w.openModel(QString::fromStdString(model));
  ASSERT_TRUE(seen.job("open"));
  bitscape::CalibrationJobOptions c;
  c.model_dir = model;
  c.data = dir + "/bad.txt";
  c.out = dir + "/p.bsproj.h5";
  c.samples = 4;
  w.calibrate(c);
  EXPECT_FALSE(seen.job("calibrate"));
  const std::string message = seen.error();
  EXPECT_NE(message.find("bad.txt"), std::string::npos) << message;
  EXPECT_NE(message.find("UTF-8"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(c.out));
  // The window goes on: the same job with good data, then an analysis of its project.
  c.data = kValidation;
  w.calibrate(c);
  ASSERT_TRUE(seen.job("calibrate"));
  EXPECT_NO_THROW(bitscape::check_project(c.out));
  w.openProject(QString::fromStdString(c.out));
  ASSERT_TRUE(seen.job("project"));
  w.runSensitivity(quick_sensitivity(c.out));
  EXPECT_TRUE(seen.job("sensitivity"));
  EXPECT_EQ(runs_of(c.out).size(), 1u);
  EXPECT_EQ(seen.error(100), "");
  w.close();
}

TEST(WorkbenchFaultTest, AProjectThatDisappearsWhileOpenIsReportedAndNothingElseIsLost) {
  if (!bitscape::project_support_available()) GTEST_SKIP() << "built without HDF5";
  QStandardPaths::setTestModeEnabled(true);
  const std::string dir = scratch_dir();
  const std::string model = tiny_model(dir);
  const std::string p = dir + "/p.bsproj.h5";
  ASSERT_EQ(cli("calibrate --quiet --model " + model + " --data " + kValidation +
                " --samples 4 --out " + p).code, 0);
  fs::copy_file(p, dir + "/backup.bsproj.h5");
  MainWindow w;
  Observer seen(w);
  w.show();
  w.openModel(QString::fromStdString(model));
  ASSERT_TRUE(seen.job("open"));
  w.openProject(QString::fromStdString(p));
  ASSERT_TRUE(seen.job("project"));
  fs::remove(p);  // deleted by the user, or a sync tool, while the window shows it
  w.runSensitivity(quick_sensitivity(p));
  EXPECT_FALSE(seen.job("sensitivity"));
  const std::string message = seen.error();
  EXPECT_NE(message.find(p), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(p));  // not recreated half-empty
  // The window keeps working on another copy.
  const std::string q = dir + "/backup.bsproj.h5";
  w.openProject(QString::fromStdString(q));
  ASSERT_TRUE(seen.job("project"));
  w.runSensitivity(quick_sensitivity(q));
  EXPECT_TRUE(seen.job("sensitivity"));
  EXPECT_EQ(runs_of(q).size(), 1u);
  w.close();
}

TEST(WorkbenchFaultTest, AProjectAnotherProcessWritesLosesNeithersRuns) {
  if (!bitscape::project_support_available()) GTEST_SKIP() << "built without HDF5";
  QStandardPaths::setTestModeEnabled(true);
  const std::string dir = scratch_dir();
  const std::string model = tiny_model(dir);
  const std::string p = dir + "/p.bsproj.h5";
  ASSERT_EQ(cli("calibrate --quiet --model " + model + " --data " + kValidation +
                " --samples 4 --out " + p).code, 0);
  MainWindow w;
  Observer seen(w);
  w.show();
  w.openModel(QString::fromStdString(model));
  ASSERT_TRUE(seen.job("open"));
  w.openProject(QString::fromStdString(p));
  ASSERT_TRUE(seen.job("project"));
  // Another process adds a run while the window has the project open: the window's next run
  // is added to that version, not to the one it opened.
  const std::string cliRun = "sensitivity --quiet --project " + p + " --bits 2 --metrics obs" +
                             " --eval-windows 2 --trace-samples 0 --gradient-windows 1 --run ";
  ASSERT_EQ(cli(cliRun + "from_cli").code, 0);
  w.runSensitivity(quick_sensitivity(p));
  ASSERT_TRUE(seen.job("sensitivity"));
  EXPECT_EQ(runs_of(p).size(), 2u);
  // While another process writes the project, the window's job is refused with a clear message
  // (instead of both writing and one run being lost); the window keeps working, and its run
  // succeeds once the other process is done.
  const pid_t writer = spawn_cli({"sensitivity", "--quiet", "--project", p, "--bits", "2,3,4,8",
                                  "--metrics", "obs,tammp", "--eval-windows", "64",
                                  "--trace-samples", "4", "--run", "long_cli"},
                                 dir + "/writer.err");
  const std::string lock = dir + "/.p.bsproj.h5.lock";
  ASSERT_TRUE(wait_for_text_or_file(lock));
  w.runSensitivity(quick_sensitivity(p));
  EXPECT_FALSE(seen.job("sensitivity"));
  const std::string message = seen.error();
  EXPECT_NE(message.find("being written by another job"), std::string::npos) << message;
  EXPECT_EQ(wait_exit_code(writer), 0) << read_file(dir + "/writer.err");
  w.runSensitivity(quick_sensitivity(p));
  ASSERT_TRUE(seen.job("sensitivity"));
  const std::vector<std::string> runs = runs_of(p);
  EXPECT_EQ(runs.size(), 4u);  // from_cli, the window's first, long_cli, the window's second
  EXPECT_NE(std::find(runs.begin(), runs.end(), "from_cli"), runs.end());
  EXPECT_NE(std::find(runs.begin(), runs.end(), "long_cli"), runs.end());
  w.close();
}
