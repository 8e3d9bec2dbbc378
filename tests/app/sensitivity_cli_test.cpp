// End-to-end: sensitivity runs and multi-source probing on the sample model's project; runs are
// named and never overwritten; Ctrl-C keeps what was measured and --resume finishes it; `show`
// reads every stored map and curve.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "app/cli_util.h"
#include "bitscape/allocation.h"
#include "bitscape/project.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace bitscape::test;

namespace {

const std::string kValidation = std::string(BITSCAPE_SAMPLE_DIR) + "/validation.txt";
const std::string kTrain = std::string(BITSCAPE_SAMPLE_DIR) + "/train.txt";
const std::string kFast = " --eval-data " + kValidation +
                          " --eval-windows 4 --seqlen 64 --gradient-windows 2 --trace-samples 2";

// A small calibrated project in the test's scratch directory.
std::string calibrated_project(const std::string& dir) {
  const std::string p = dir + "/s.bsproj.h5";
  CliRun r = cli("calibrate --quiet --model " + kSample + " --data " + kTrain +
                 " --samples 8 --seqlen 64 --out " + p);
  EXPECT_EQ(r.code, 0) << r.err;
  return p;
}

TEST(SensitivityCliTest, RunsAreAddedNeverOverwrittenAndShowReadsThem) {
  if (!bitscape::project_support_available()) GTEST_SKIP() << "built without HDF5";
  const std::string dir = scratch_dir();
  const std::string p = calibrated_project(dir);
  CliRun r = cli("sensitivity --quiet --json --project " + p + " --bits 2,4" + kFast);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["run"], "run1");
  ASSERT_EQ(j["modules"].size(), 42u);
  for (const auto& m : j["modules"]) {
    EXPECT_EQ(m["bits"], nlohmann::json({2, 4}));
    EXPECT_GT(m["kl"][0].get<double>(), m["kl"][1].get<double>()) << m["module"];
    EXPECT_FALSE(m["hessian_trace"].is_null());
  }
  bool objective = false;
  for (const auto& c : j["correlations"]) objective = objective || c["proxy"] == "objective";
  EXPECT_TRUE(objective);
  // A second run is added as run2; naming an existing run is refused.
  CliRun r2 = cli("sensitivity --quiet --json --project " + p + " --bits 3 --no-curves" + kFast);
  ASSERT_EQ(r2.code, 0) << r2.err;
  EXPECT_EQ(nlohmann::json::parse(r2.out)["run"], "run2");
  expect_input_error(cli("sensitivity --quiet --project " + p + " --run run1" + kFast), {p, "run1"});

  const auto show = nlohmann::json::parse(cli("show --json --project " + p + " --run run1").out);
  EXPECT_EQ(show["sensitivity_runs"], nlohmann::json({"run1", "run2"}));
  EXPECT_EQ(show["run"]["status"], "complete");
  EXPECT_EQ(show["run"]["curves"].size(), 42u);
  const auto m = nlohmann::json::parse(
      cli("show --json --project " + p + " --run run1 --module model.layers.2.mlp.down_proj").out);
  ASSERT_EQ(m["saliency"].size(), 4u);  // obs, tammp, act, diag
  for (const auto& s : m["saliency"]) {
    EXPECT_EQ(s["column_sum"].size(), 768u);
    EXPECT_EQ(s["row_sum"].size(), 256u);
    EXPECT_EQ(s["group_sum"].size(), 256u * 6);
    EXPECT_EQ(s["pooled_mean"].size(), 128u * 128);
  }
  EXPECT_EQ(m["calibration"]["act_l2"].size(), 768u);
  EXPECT_EQ(m["curve"]["bits"], nlohmann::json({2, 4}));
  expect_input_error(cli("show --project " + p + " --module model.layers.9.mlp.up_proj"),
                     {"model.layers.9.mlp.up_proj"});
}

TEST(SensitivityCliTest, CtrlCKeepsTheMeasuredModulesAndResumeFinishesTheRun) {
  if (!bitscape::project_support_available()) GTEST_SKIP() << "built without HDF5";
  const std::string dir = scratch_dir();
  const std::string p = calibrated_project(dir);
  // Interrupt once a few modules are done: the progress line of the curves shows their count.
  ASSERT_EQ(signal_after({"sensitivity", "--project", p, "--eval-data", kValidation,
                          "--eval-windows", "4", "--seqlen", "128", "--trace-samples", "0", "--bits",
                          "2,3"},
                         "sensitivity  [", dir + "/err", SIGINT, std::chrono::milliseconds(1500)),
            130)
      << read_file(dir + "/err");
  EXPECT_NE(read_file(dir + "/err").find("--resume"), std::string::npos);
  auto show = nlohmann::json::parse(cli("show --json --project " + p).out);
  EXPECT_EQ(show["run"]["status"], "cancelled");
  const size_t saved = show["run"]["curves"].size();
  EXPECT_LT(saved, 42u);
  CliRun r = cli("sensitivity --quiet --json --resume --project " + p + " --eval-data " + kValidation +
                 " --eval-windows 4 --seqlen 128 --trace-samples 0 --bits 2,3");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["modules"].size(), 42u);
  show = nlohmann::json::parse(cli("show --json --project " + p).out);
  EXPECT_EQ(show["run"]["status"], "complete");
  EXPECT_EQ(show["sensitivity_runs"], nlohmann::json({"run1"}));
  // Resuming with other settings is refused.
  expect_input_error(cli("sensitivity --quiet --resume --project " + p + " --run run1 --bits 2"),
                     {"complete"});
}

TEST(SensitivityCliTest, MultiSourceProbingWritesTammpAllocationsThatEvalUses) {
  if (!bitscape::project_support_available()) GTEST_SKIP() << "built without HDF5";
  const std::string dir = scratch_dir();
  const std::string p = calibrated_project(dir);
  CliRun r = cli("sensitivity --quiet --json --project " + p + " --data " + kTrain + " --data " +
                 kValidation + " --data " + kTest + " --probe-samples 4 --seqlen 64 --tammp-out " +
                 dir + "/tammp");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["run"], "probe1");
  ASSERT_EQ(j["modules"].size(), 42u);
  for (const auto& m : j["modules"]) {
    EXPECT_GE(m["compactness"].get<double>(), 0.0);
    EXPECT_LE(m["compactness"].get<double>(), 1.0);
  }
  for (const char* s : {"1", "2"}) {
    const std::string alloc = dir + "/tammp.strategy" + s + ".alloc.json";
    ASSERT_TRUE(fs::exists(alloc)) << alloc;
    CliRun e = cli("eval --quiet --json --model " + kSample + " --data " + kTest +
                   " --max-windows 2 --seqlen 64 --alloc " + alloc);
    ASSERT_EQ(e.code, 0) << e.err;
    const double bits = nlohmann::json::parse(e.out)["quantization"]["average_bits"].get<double>();
    EXPECT_GT(bits, 2.2) << s;
    EXPECT_LT(bits, 4.0) << s;
  }
  const auto show = nlohmann::json::parse(
      cli("show --json --project " + p + " --module model.layers.0.mlp.up_proj").out);
  ASSERT_EQ(show["probing"].size(), 1u);
  EXPECT_EQ(show["probing"][0]["column_saliency"].size(), 3u);
}

}  // namespace
