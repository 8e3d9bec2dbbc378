// End-to-end: calibrate, quantize and eval --alloc on the sample model; Ctrl-C during a
// calibration leaves no file behind and an existing project untouched; bad allocations give one
// clear error naming the file and the module.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ATen/ATen.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "app/cli_util.h"
#include "bitscape/project.h"
#include "bitscape/quantizer.h"
#include "bitscape/safetensors.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace bitscape::test;

namespace {

const std::string kTrain = std::string(BITSCAPE_SAMPLE_DIR) + "/validation.txt";
const std::string kSmallCalib = " --samples 8 --calib-seqlen 64";

double ppl_of(const CliRun& r) { return nlohmann::json::parse(r.out)["ppl"].get<double>(); }

TEST(QuantCliTest, CalibrateWritesAProjectWithEveryModule) {
  if (!bitscape::project_support_available()) GTEST_SKIP() << "built without HDF5";
  const std::string p = scratch_dir() + "/s.bsproj.h5";
  CliRun r = cli("calibrate --quiet --json --model " + kSample + " --data " + kTrain +
                 " --samples 8 --seqlen 64 --seed 5 --out " + p);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["modules"], 42);
  EXPECT_EQ(j["tokens"], 8 * 64);
  const auto project = bitscape::ProjectReader::open(p);
  const auto settings = project.calibration();
  EXPECT_EQ(settings.samples, 8);
  EXPECT_EQ(settings.seqlen, 64);
  EXPECT_EQ(settings.seed, 5u);
  EXPECT_EQ(settings.window_starts.size(), 8u);
  EXPECT_EQ(settings.corpus_sha256.size(), 64u);
  const auto modules = project.calibrated_modules();
  ASSERT_EQ(modules.size(), 42u);
  EXPECT_EQ(modules.front(), "model.layers.0.self_attn.q_proj");
  EXPECT_EQ(modules.back(), "model.layers.5.mlp.down_proj");
  const auto s = project.module_statistics("model.layers.3.mlp.down_proj");
  EXPECT_EQ(s.in_features, 768);
  EXPECT_EQ(s.act_l2.size(), 768u);
  EXPECT_EQ(s.out_abs_mean.size(), 256u);
  const auto h = project.hessian(s.hessian);
  EXPECT_TRUE(h.has_full());
  EXPECT_EQ(h.n, 768);
  EXPECT_EQ(h.tokens, 8 * 64);
}

TEST(QuantCliTest, CtrlCDuringCalibrationLeavesNoFileAndKeepsAnExistingProject) {
  if (!bitscape::project_support_available()) GTEST_SKIP() << "built without HDF5";
  const std::string dir = scratch_dir();

  std::vector<std::string> args = {"calibrate", "--model", kSample, "--data", kTrain,
                                   "--samples", "256", "--seqlen", "256", "--out", dir + "/new.bsproj.h5"};
  EXPECT_EQ(signal_after(args, "calibrate", dir + "/err1"), 130) << read_file(dir + "/err1");
  // An existing target stays byte for byte what it was.
  ASSERT_EQ(cli("calibrate --quiet --model " + kSample + " --data " + kTrain +
                " --samples 2 --seqlen 32 --out " + dir + "/old.bsproj.h5")
                .code,
            0);
  const std::string old = read_file(dir + "/old.bsproj.h5");
  args.back() = dir + "/old.bsproj.h5";
  EXPECT_EQ(signal_after(args, "calibrate", dir + "/err2"), 130) << read_file(dir + "/err2");
  EXPECT_EQ(read_file(dir + "/old.bsproj.h5"), old);
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    EXPECT_TRUE(name == "err1" || name == "err2" || name == "old.bsproj.h5") << "left behind: " << name;
  }
}

TEST(QuantCliTest, QuantizeWritesAModelThatEvalLoadsAndThePackedTensorsReproduceIt) {
  const std::string out = scratch_dir() + "/q";
  CliRun q = cli("quantize --quiet --json --model " + kSample + " --bits 3 --method gptq --calib-data " +
                 kTrain + kSmallCalib + " --out " + out);
  ASSERT_EQ(q.code, 0) << q.err;
  const auto summary = nlohmann::json::parse(q.out);
  EXPECT_DOUBLE_EQ(summary["average_bits"].get<double>(), 3.25);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "quantized.safetensors",
                        "allocation.alloc.json", "quantize_summary.json"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  // The packed tensors dequantize to exactly the saved weights.
  const auto packed = bitscape::SafetensorsFile::open(out + "/quantized.safetensors");
  const auto model = bitscape::SafetensorsFile::open(out + "/model.safetensors");
  std::map<std::string, at::Tensor> tensors;
  for (const auto& e : packed->entries()) tensors[e.info.name] = packed->tensor(e.info.name);
  int modules = 0;
  for (const auto& [name, meta] : packed->metadata()) {
    if (name.rfind("model.layers.", 0) != 0) continue;
    const auto p = bitscape::PackedModule::from_tensors(tensors, name, meta, out);
    EXPECT_TRUE(at::equal(p.dequantize(), model->tensor(name + ".weight"))) << name;
    ++modules;
  }
  EXPECT_EQ(modules, 42);
  // eval on the written model gives what eval --bits gives in memory.
  CliRun a = cli("eval --quiet --json --model " + out + " --data " + kTest + " --max-windows 8");
  CliRun b = cli("eval --quiet --json --model " + kSample + " --data " + kTest +
                 " --max-windows 8 --bits 3 --method gptq --calib-data " + kTrain + kSmallCalib);
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_NEAR(ppl_of(a), ppl_of(b), 1e-6 * ppl_of(a));
  // Refuses to overwrite without --force, and never writes into the input model.
  expect_input_error(cli("quantize --quiet --model " + kSample + " --bits 4 --out " + out), {out, "--force"});
  expect_input_error(cli("quantize --quiet --model " + kSample + " --bits 4 --out " + kSample + " --force"),
                     {"input model"});
}

TEST(QuantCliTest, EvalWithAHandWrittenAllocation) {
  const std::string dir = scratch_dir();
  write_file(dir + "/mix.alloc.json", R"({
    "format": "bitscape-allocation", "version": 1,
    "default": {"bits": 2, "group_size": 128, "quantizer": "rtn"},
    "rules": [{"match": "*.mlp.down_proj", "bits": 8}],
    "modules": {
      "model.layers.0.self_attn.q_proj": {"bits": 2, "quantizer": "hqq"},
      "layers.1.mlp.up_proj": {"bits": 2, "channels": {"axis": "out",
          "classes": [{"bits": 4, "strategy": 4, "fraction": 0.25}]}}
    }})");
  CliRun r = cli("eval --quiet --json --model " + kSample + " --data " + kTest +
                 " --max-windows 4 --alloc " + dir + "/mix.alloc.json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const auto& quant = j["quantization"];
  EXPECT_EQ(quant["calibration"], "none");
  EXPECT_GT(quant["average_bits"].get<double>(), 2.5);
  EXPECT_LT(quant["average_bits"].get<double>(), 4.5);
  bool seen = false;
  for (const auto& m : quant["modules"])
    if (m["name"] == "model.layers.0.self_attn.q_proj") {
      EXPECT_EQ(m["quantizer"], "hqq");
      EXPECT_EQ(m["bits"], 2);
      seen = true;
    }
  EXPECT_TRUE(seen);
  CliRun fp = cli("eval --quiet --json --model " + kSample + " --data " + kTest + " --max-windows 4");
  EXPECT_GT(ppl_of(r), ppl_of(fp));
}

TEST(QuantCliTest, BadAllocationsGiveOneErrorNamingTheFileAndTheModule) {
  const std::string dir = scratch_dir();
  write_file(dir + "/unknown.alloc.json", R"({"format": "bitscape-allocation", "version": 1,
    "modules": {"model.layers.9.mlp.down_proj": {"bits": 3}}})");
  expect_input_error(cli("eval --quiet --model " + kSample + " --data " + kTest +
                         " --alloc " + dir + "/unknown.alloc.json"),
                     {dir + "/unknown.alloc.json", "model.layers.9.mlp.down_proj"});
  write_file(dir + "/group.alloc.json", R"({"format": "bitscape-allocation", "version": 1,
    "modules": {"model.layers.0.mlp.down_proj": {"bits": 3, "group_size": 100}}})");
  expect_input_error(cli("quantize --quiet --model " + kSample + " --out " + dir + "/o --alloc " +
                         dir + "/group.alloc.json"),
                     {"group.alloc.json", "model.layers.0.mlp.down_proj", "group_size"});
  // GPTQ without a project or a corpus.
  expect_input_error(cli("eval --quiet --model " + kSample + " --data " + kTest + " --bits 3 --method gptq"),
                     {"calibration", "--project", "--calib-data"});
  EXPECT_FALSE(fs::exists(dir + "/o"));
}

}  // namespace
