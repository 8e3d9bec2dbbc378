// The command line under hostile options, signals and kills (issue 14): nothing the user had is
// deleted or half-written, options outside their meaning are refused, and temporaries of a killed
// run are cleaned up by the next one.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "app/cli_util.h"
#include "bitscape/project.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace bitscape::test;

namespace {

const std::string kTrain = std::string(BITSCAPE_SAMPLE_DIR) + "/train.txt";

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string quantize_args(const std::string& model, const std::string& out) {
  return "quantize --quiet --model " + model + " --bits 4 --method rtn --out " + out;
}

}  // namespace

TEST(HostileCliTest, QuantizeForceReplacesOnlyAnEarlierQuantizeOutput) {
  const std::string dir = scratch_dir();
  // The model inside the folder given as --out: refused, the model untouched.
  const std::string parent = dir + "/parent";
  fs::create_directories(parent + "/model");
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"})
    fs::copy_file(kSample + "/" + f, parent + "/model/" + f);
  expect_input_error(cli(quantize_args(parent + "/model", parent) + " --force"),
                     {parent, "holds the input", "choose another folder"});
  EXPECT_TRUE(fs::exists(parent + "/model/model.safetensors"));
  // An unrelated folder and a regular file: never replaced, even with --force.
  fs::create_directories(dir + "/photos");
  write_file(dir + "/photos/cat.jpg", "meow");
  expect_input_error(cli(quantize_args(kSample, dir + "/photos") + " --force"),
                     {dir + "/photos", "did not write", "never replaced"});
  EXPECT_EQ(read_file(dir + "/photos/cat.jpg"), "meow");
  write_file(dir + "/notes.txt", "keep me");
  expect_input_error(cli(quantize_args(kSample, dir + "/notes.txt") + " --force"),
                     {dir + "/notes.txt", "not a folder"});
  EXPECT_EQ(read_file(dir + "/notes.txt"), "keep me");
  // An earlier quantize output: refused without --force, replaced whole with it.
  const std::string out = dir + "/q4";
  ASSERT_EQ(cli(quantize_args(kSample, out)).code, 0);
  write_file(out + "/stale.txt", "from the earlier output");
  expect_input_error(cli(quantize_args(kSample, out)), {out, "--force"});
  CliRun r = cli(quantize_args(kSample, out) + " --force --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(fs::exists(out + "/stale.txt"));
  EXPECT_TRUE(fs::exists(out + "/quantize_summary.json"));
  // Nothing but the outputs is left in the folder: no staging folders, no temporaries.
  EXPECT_EQ(names_in(dir), (std::vector<std::string>{"notes.txt", "parent", "photos", "q4"}));
}

TEST(HostileCliTest, CalibrateNeverReplacesAFileThatIsNotAProject) {
  const std::string dir = scratch_dir();
  write_file(dir + "/notes.txt", "the user's notes");
  expect_input_error(cli("calibrate --quiet --model " + kSample + " --data " + kTrain +
                         " --samples 2 --seqlen 32 --out " + dir + "/notes.txt"),
                     {dir + "/notes.txt", "not a readable Bitscape project", "never replaced"});
  EXPECT_EQ(read_file(dir + "/notes.txt"), "the user's notes");
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"notes.txt"});
}

TEST(HostileCliTest, OptionsOutsideTheirMeaningAreUsageErrors) {
  const std::string dir = scratch_dir();
  CliRun r = cli("calibrate --model " + kSample + " --data " + kTrain + " --seqlen -5 --out " + dir + "/p.h5");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("'--seqlen' must not be negative"), std::string::npos) << r.err;
  r = cli("eval --model " + kSample + " --data " + kTest + " --max-windows -1");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("'--max-windows' must not be negative"), std::string::npos) << r.err;
  for (const char* bad : {"nan", "inf", "-3"}) {
    r = cli("search --project " + dir + "/p.h5 --method dp --budget " + bad);
    EXPECT_EQ(r.code, 1) << bad << ": " << r.err;
    EXPECT_NE(r.err.find("--budget"), std::string::npos) << r.err;
  }
  r = cli("search --project " + dir + "/p.h5 --method dp --budgets 2:4:0.000001");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("at most 1000 budgets"), std::string::npos) << r.err;
}

TEST(HostileCliTest, WindowsBeyondTheModelsContextAreWarnedAbout) {
  // The sample model was trained on 256-token windows (max_position_embeddings 256).
  CliRun r = cli("eval --model " + kSample + " --data " + kTest + " --seqlen 512 --max-windows 1 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: windows of 512 tokens are longer than the 256 positions"),
            std::string::npos)
      << r.err;
  r = cli("eval --model " + kSample + " --data " + kTest + " --seqlen 256 --max-windows 1 --quiet");
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
}

TEST(HostileCliTest, TermAndHupCancelLikeCtrlCAndLeaveNoTemporary) {
  if (!bitscape::project_support_available()) GTEST_SKIP() << "built without HDF5";
  const std::string dir = scratch_dir();
  ASSERT_EQ(cli("calibrate --quiet --model " + kSample + " --data " + kTrain +
                " --samples 2 --seqlen 32 --out " + dir + "/old.bsproj.h5")
                .code,
            0);
  const std::string old = read_file(dir + "/old.bsproj.h5");
  const std::vector<std::string> args = {"calibrate", "--model", kSample, "--data", kTrain,
                                         "--samples", "256", "--seqlen", "256", "--out",
                                         dir + "/old.bsproj.h5"};
  EXPECT_EQ(signal_after(args, "calibrate", dir + "/err1", SIGTERM), 128 + SIGTERM)
      << read_file(dir + "/err1");
  EXPECT_EQ(signal_after(args, "calibrate", dir + "/err2", SIGHUP), 128 + SIGHUP)
      << read_file(dir + "/err2");
  EXPECT_EQ(read_file(dir + "/old.bsproj.h5"), old);
  EXPECT_EQ(names_in(dir), (std::vector<std::string>{"err1", "err2", "old.bsproj.h5"}));
}

TEST(HostileCliTest, TemporariesOfAKilledRunAreRemovedByTheNextWriter) {
  if (!bitscape::project_support_available()) GTEST_SKIP() << "built without HDF5";
  const std::string dir = scratch_dir();
  const std::string p = dir + "/p.bsproj.h5";
  const std::vector<std::string> args = {"calibrate", "--model", kSample, "--data", kTrain,
                                         "--samples", "256", "--seqlen", "256", "--out", p};
  EXPECT_EQ(signal_after(args, "calibrate", dir + "/err", SIGKILL), 128 + SIGKILL);
  // SIGKILL cannot be handled: the temporary stays, named after the dead process, and the
  // writer's lock file (the kernel released the lock itself)...
  std::vector<std::string> names = names_in(dir);
  ASSERT_EQ(names.size(), 3u);
  EXPECT_EQ(names[0], ".p.bsproj.h5.lock");
  EXPECT_EQ(names[1].rfind(".p.bsproj.h5.tmp-", 0), 0u) << names[1];
  // ...until the next run that writes the project.
  CliRun r = cli("calibrate --quiet --model " + kSample + " --data " + kTrain +
                 " --samples 4 --seqlen 32 --out " + p);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(names_in(dir), (std::vector<std::string>{"err", "p.bsproj.h5"}));
}

TEST(HostileCliTest, HostileFilesGiveOneErrorNotACrash) {
  const std::string dir = scratch_dir();
  const std::string m = model_copy();
  // A nested value where config.json expects an integer.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  std::string config = read_file(m + "/config.json");
  config.replace(config.find("\"hidden_size\": 256"), 18, "\"hidden_size\": " + deep);
  write_file(m + "/config.json", config);
  expect_input_error(cli("inspect --model " + m), {m + "/config.json", "nested deeper"});
  // The same in an allocation, given to eval.
  write_file(dir + "/a.alloc.json",
             R"({"format": "bitscape-allocation", "version": 1, "default": {"bits": )" + deep + "}}");
  expect_input_error(cli("eval --quiet --model " + kSample + " --data " + kTest +
                         " --max-windows 1 --seqlen 64 --alloc " + dir + "/a.alloc.json"),
                     {dir + "/a.alloc.json", "nested deeper"});
}
