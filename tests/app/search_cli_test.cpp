// End-to-end: searches on the sample model's project stream every point, store the run, are
// reproducible from their seed, resume after Ctrl-C to the same front, and write allocations
// that eval uses.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "app/cli_util.h"
#include "bitscape/project.h"
#include "bitscape/search_store.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace bitscape::test;

namespace {

const std::string kValidation = std::string(BITSCAPE_SAMPLE_DIR) + "/validation.txt";
const std::string kTrain = std::string(BITSCAPE_SAMPLE_DIR) + "/train.txt";
// Small evaluations: 2 windows of 64 tokens.
const std::string kSmall = " --eval-data " + kValidation + " --eval-windows 2 --seqlen 64";
const std::string kAmq = " --method amq --iterations 2 --candidates 4 --initial-samples 50";

std::string calibrated_project(const std::string& dir) {
  fs::create_directories(dir);
  const std::string p = dir + "/s.bsproj.h5";
  CliRun r = cli("calibrate --quiet --model " + kSample + " --data " + kTrain +
                 " --samples 4 --seqlen 64 --out " + p);
  EXPECT_EQ(r.code, 0) << r.err;
  return p;
}

// The JSON lines of a search: the streamed points and the final summary.
struct Lines {
  std::vector<nlohmann::json> points;
  nlohmann::json summary;
};
Lines parse(const std::string& out) {
  Lines l;
  std::stringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j["kind"] == "search_point") l.points.push_back(j);
    if (j["kind"] == "summary") l.summary = j;
  }
  return l;
}

TEST(SearchCliTest, AmqStreamsEveryPointAndTheSameSeedGivesTheSameFront) {
  if (!bitscape::project_support_available()) GTEST_SKIP() << "built without HDF5";
  const std::string dir = scratch_dir();
  const std::string p = calibrated_project(dir);
  CliRun a = cli("search --quiet --json --project " + p + kAmq + kSmall + " --seed 3");
  ASSERT_EQ(a.code, 0) << a.err;
  const Lines la = parse(a.out);
  EXPECT_EQ(la.summary["run"], "search1");
  EXPECT_EQ(la.points.size(), la.summary["points"].get<size_t>());
  // Uniform baselines: 2/3/4/8 bits at g128 plus 2/3 bits at g64 and g32.
  int uniform = 0;
  for (const auto& pt : la.points) uniform += pt["method"] == "uniform";
  EXPECT_EQ(uniform, 8);
  // Initial samples, then 2 iterations of 4 candidates.
  EXPECT_GE(la.points.size(), 8u + 50u + 2u * 4u);
  CliRun b = cli("search --quiet --json --project " + p + kAmq + kSmall + " --seed 3");
  ASSERT_EQ(b.code, 0) << b.err;
  const Lines lb = parse(b.out);
  EXPECT_EQ(lb.summary["run"], "search2");
  ASSERT_EQ(la.points.size(), lb.points.size());
  for (size_t i = 0; i < la.points.size(); ++i) {
    EXPECT_EQ(la.points[i]["genes"], lb.points[i]["genes"]) << i;
    EXPECT_DOUBLE_EQ(la.points[i]["kl"].get<double>(), lb.points[i]["kl"].get<double>()) << i;
  }
  const auto show = nlohmann::json::parse(cli("show --json --project " + p).out);
  ASSERT_EQ(show["search_runs"].size(), 2u);
  EXPECT_EQ(show["search_runs"][0]["status"], "complete");
  EXPECT_EQ(show["search_runs"][0]["front"].size(), la.summary["front"].size());
}

TEST(SearchCliTest, CtrlCKeepsTheCompletedIterationsAndResumeReachesTheSameFront) {
  if (!bitscape::project_support_available()) GTEST_SKIP() << "built without HDF5";
  const std::string dir = scratch_dir();
  const std::string p = calibrated_project(dir);
  const std::string args = kAmq.substr(0, kAmq.find("--iterations")) + "--iterations 6 --candidates 4 --initial-samples 50" + kSmall;
  // An uninterrupted run for reference.
  CliRun ref = cli("search --quiet --json --project " + p + args + " --run whole");
  ASSERT_EQ(ref.code, 0) << ref.err;
  const Lines whole = parse(ref.out);
  // The same search, interrupted once its first iterations are done.
  std::vector<std::string> argv_s = {"search", "--project", p, "--run", "cut"};
  std::stringstream in(args);
  for (std::string w; in >> w;) argv_s.push_back(w);
  ASSERT_EQ(signal_after(argv_s, "amq iteration 2/", dir + "/err", SIGINT,
                         std::chrono::milliseconds(0)),
            130)
      << read_file(dir + "/err");
  auto show = nlohmann::json::parse(cli("show --json --project " + p).out);
  nlohmann::json cut;
  for (const auto& r : show["search_runs"])
    if (r["name"] == "cut") cut = r;
  ASSERT_FALSE(cut.is_null());
  EXPECT_EQ(cut["status"], "cancelled");
  EXPECT_LT(cut["points"].get<size_t>(), whole.points.size());
  CliRun resumed = cli("search --json --resume --run cut --project " + p + args);
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  // The reference predictions were stored with the first run and are not computed again.
  EXPECT_NE(resumed.err.find("reference predictions read from " + p + ".cache/reference-"), std::string::npos)
      << resumed.err;
  const Lines rest = parse(resumed.out);
  EXPECT_EQ(rest.summary["points"], whole.summary["points"]);
  ASSERT_EQ(rest.summary["front"].size(), whole.summary["front"].size());
  for (size_t i = 0; i < whole.summary["front"].size(); ++i)
    EXPECT_EQ(rest.summary["front"][i]["genes"], whole.summary["front"][i]["genes"]) << i;
}

TEST(SearchCliTest, DpOverASensitivityRunAndTheChosenAllocationEvaluates) {
  if (!bitscape::project_support_available()) GTEST_SKIP() << "built without HDF5";
  const std::string dir = scratch_dir();
  const std::string p = calibrated_project(dir);
  CliRun s = cli("sensitivity --quiet --project " + p + " --metrics obs --bits 2,3,4" + kSmall +
                 " --trace-samples 0");
  ASSERT_EQ(s.code, 0) << s.err;
  CliRun r = cli("search --quiet --json --project " + p + " --method dp --budget 3.0 --out " + dir +
                 "/dp.alloc.json" + kSmall);
  ASSERT_EQ(r.code, 0) << r.err;
  const Lines l = parse(r.out);
  ASSERT_FALSE(l.summary["chosen"].is_null());
  EXPECT_LE(l.summary["chosen"]["average_bits"].get<double>(), 3.0 + 1e-9);
  EXPECT_GT(l.summary["chosen"]["average_bits"].get<double>(), 2.7);
  // The written allocation (GPTQ by default) evaluates.
  CliRun e = cli("eval --quiet --json --model " + kSample + " --data " + kTest + " --max-windows 2 --seqlen 64" +
                 " --alloc " + dir + "/dp.alloc.json --calib-data " + kTrain + " --samples 4 --calib-seqlen 64");
  ASSERT_EQ(e.code, 0) << e.err;
  const auto j = nlohmann::json::parse(e.out);
  EXPECT_NEAR(j["quantization"]["average_bits"].get<double>(),
              l.summary["chosen"]["average_bits"].get<double>(), 1e-9);
  EXPECT_EQ(j["quantization"]["modules"][0]["quantizer"], "gptq");
#ifdef BITSCAPE_GUI_BIN
  // The workbench opens the project (its Pareto front and sensitivity heatmap), runs a dp search
  // of its own (points drawn live, the run stored in the project) and renders the window.
  const std::string shots = dir + "/shots";
  const int rc = std::system(("env QT_QPA_PLATFORM=offscreen " + std::string(BITSCAPE_GUI_BIN) +
                              " --model " + kSample + " --project " + p + " --search dp --screenshots " +
                              shots + " > " + dir + "/gui.log 2>&1").c_str());
  EXPECT_EQ(rc, 0) << read_file(dir + "/gui.log");
  for (const char* view : {"workbench", "model", "allocation", "pareto", "sensitivity", "allocation-map"}) {
    const std::string shot = shots + "/" + view + ".png";
    EXPECT_GT(std::filesystem::exists(shot) ? std::filesystem::file_size(shot) : 0u, 5000u) << shot;
  }
  CliRun shown = cli("show --json --project " + p);
  ASSERT_EQ(shown.code, 0) << shown.err;
  const auto runs = nlohmann::json::parse(shown.out)["search_runs"];
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1]["method"], "dp");
  EXPECT_EQ(runs[1]["status"], "complete");
  // The dialog's defaults: budgets 2.25..4.25 by 0.25 (9 dp points) and the 8 uniform baselines.
  EXPECT_EQ(runs[1]["points"], 17);
#endif
  // dp without a sensitivity run is a clear error.
  const std::string q = calibrated_project(dir + "/other");
  expect_input_error(cli("search --quiet --project " + q + " --method dp" + kSmall), {"sensitivity"});
}

TEST(SearchCliTest, MeasureStoresTheAllocationAsAnEditWithThePerplexityEvalMeasures) {
  if (!bitscape::project_support_available()) GTEST_SKIP() << "built without HDF5";
  const std::string dir = scratch_dir();
  const std::string p = calibrated_project(dir);
  CliRun m = cli("measure --quiet --json --project " + p + " --bits 4 --method rtn --label four" + kSmall);
  ASSERT_EQ(m.code, 0) << m.err;
  const auto j = nlohmann::json::parse(m.out);
  EXPECT_EQ(j["method"], "edited");
  EXPECT_EQ(j["edit"], "edit0001");
  EXPECT_EQ(j["label"], "four");
  EXPECT_GT(j["kl"].get<double>(), 0.0);
  EXPECT_LT(j["top1"].get<double>(), 1.0);
  // The perplexity of the quantized model on the same windows, as eval computes it.
  CliRun e = cli("eval --quiet --json --model " + kSample + " --data " + kValidation +
                 " --max-windows 2 --seqlen 64 --bits 4 --method rtn");
  ASSERT_EQ(e.code, 0) << e.err;
  const auto ej = nlohmann::json::parse(e.out);
  EXPECT_NEAR(j["ppl"].get<double>(), ej["ppl"].get<double>(), 1e-4 * ej["ppl"].get<double>());
  EXPECT_NEAR(j["average_bits"].get<double>(), ej["quantization"]["average_bits"].get<double>(), 1e-9);
  // Stored: a second measurement is the next edit, both read back with their points.
  CliRun m2 = cli("measure --quiet --project " + p + " --bits 2 --method rtn" + kSmall);
  ASSERT_EQ(m2.code, 0) << m2.err;
  EXPECT_NE(m2.out.find("stored as edit 'edit0002'"), std::string::npos) << m2.out;
  const bitscape::ProjectReader r = bitscape::ProjectReader::open(p);
  ASSERT_EQ(bitscape::edit_records(r), (std::vector<std::string>{"edit0001", "edit0002"}));
  const bitscape::EditRecord e1 = bitscape::read_edit(r, "edit0001");
  EXPECT_EQ(e1.label, "four");
  EXPECT_DOUBLE_EQ(e1.point.kl, j["kl"].get<double>());
  EXPECT_GT(bitscape::read_edit(r, "edit0002").point.kl, e1.point.kl);
  // show lists them.
  CliRun shown = cli("show --json --project " + p);
  ASSERT_EQ(shown.code, 0) << shown.err;
  const auto edits = nlohmann::json::parse(shown.out)["edits"];
  ASSERT_EQ(edits.size(), 2u);
  EXPECT_EQ(edits[0]["label"], "four");
  EXPECT_DOUBLE_EQ(edits[0]["kl"].get<double>(), j["kl"].get<double>());
  CliRun text = cli("show --project " + p);
  EXPECT_NE(text.out.find("edit          edit0001: four"), std::string::npos) << text.out;
  // Bad input: a clear error, nothing stored.
  expect_input_error(cli("measure --quiet --project " + dir + "/missing.bsproj.h5 --bits 4" + kSmall),
                     {"missing.bsproj.h5"});
  CliRun none = cli("measure --quiet --project " + p + kSmall);
  EXPECT_EQ(none.code, 1) << none.err;  // a usage error
  EXPECT_NE(none.err.find("give --alloc FILE, --bits B or --cmpq B"), std::string::npos) << none.err;
  EXPECT_EQ(bitscape::edit_records(bitscape::ProjectReader::open(p)).size(), 2u);
}

}  // namespace

// Every job takes --device/--dtype/--gpu-memory (issue: every job on any device). Without CUDA,
// `--device cuda` is one clear error with exit 2 before any work, and the project is unchanged;
// a bad dtype is refused the same way (a negative GPU memory as a usage error); the dtype reaches the model (a bf16
// measurement differs from the fp32 one, by little).
TEST(SearchCliTest, EveryJobTakesTheDeviceAndCudaWithoutAGpuIsOneClearError) {
  if (!bitscape::project_support_available()) GTEST_SKIP() << "built without HDF5";
  CliRun doctor = cli("doctor --json");
  ASSERT_EQ(doctor.code, 0) << doctor.err;
  if (nlohmann::json::parse(doctor.out)["cuda_devices"].get<int>() > 0) GTEST_SKIP() << "this machine has CUDA";
  const std::string dir = scratch_dir();
  const std::string p = calibrated_project(dir);
  const std::string alloc = " --bits 4 --method rtn";
  const auto before = fs::last_write_time(p);
  const std::vector<std::string> commands = {
      "calibrate --model " + kSample + " --data " + kTrain + " --samples 4 --seqlen 64 --out " + dir + "/c.bsproj.h5",
      "sensitivity --project " + p + " --bits 2,4" + kSmall,
      "sensitivity --project " + p + " --data " + kTrain + " --data " + kValidation + " --probe-samples 2 --seqlen 64",
      "search --project " + p + kAmq + kSmall,
      "search --project " + p + " --method cmpq" + kSmall,
      "quantize --model " + kSample + " --bits 4 --method rtn --out " + dir + "/q2",
      "eval --model " + kSample + " --data " + kValidation + " --max-windows 2 --seqlen 64",
      "measure --project " + p + alloc + kSmall,
  };
  for (const std::string& c : commands) {
    SCOPED_TRACE(c);
    CliRun r = cli(c + " --device cuda");
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find("error: device 'cuda' requested but CUDA is not available"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;  // one line
    CliRun d = cli(c + " --dtype fp64");
    EXPECT_EQ(d.code, 2) << d.err;
    EXPECT_NE(d.err.find("unknown dtype 'fp64'"), std::string::npos) << d.err;
    CliRun g = cli(c + " --gpu-memory -1");  // a usage error
    EXPECT_EQ(g.code, 1) << g.err;
    EXPECT_NE(g.err.find("option '--gpu-memory' must not be negative"), std::string::npos) << g.err;
  }
  EXPECT_FALSE(fs::exists(dir + "/c.bsproj.h5"));
  EXPECT_FALSE(fs::exists(dir + "/q2"));
  EXPECT_EQ(fs::last_write_time(p), before);  // no run, no edit added
  // The dtype reaches the model: measured in bf16 the same allocation gives another, close KL.
  CliRun f = cli("measure --quiet --json --project " + p + alloc + kSmall);
  CliRun b = cli("measure --quiet --json --project " + p + alloc + kSmall + " --dtype bf16");
  ASSERT_EQ(f.code, 0) << f.err;
  ASSERT_EQ(b.code, 0) << b.err;
  const double kl_f = nlohmann::json::parse(f.out)["kl"].get<double>();
  const double kl_b = nlohmann::json::parse(b.out)["kl"].get<double>();
  EXPECT_NE(kl_f, kl_b);
  EXPECT_NEAR(kl_b, kl_f, 0.5 * kl_f);
}
