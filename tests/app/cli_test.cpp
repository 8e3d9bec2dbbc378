// End-to-end tests: bitscape-cli on sample_data/ and on broken copies of it. Every kind of bad
// input must give one clear message naming the file, exit code 2, and no crash.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "app/cli_util.h"
#include "test_util.h"

namespace fs = std::filesystem;
using bitscape::test::cli;
using bitscape::test::CliRun;
using bitscape::test::expect_input_error;
using bitscape::test::kSample;
using bitscape::test::kTest;
using bitscape::test::model_copy;
using bitscape::test::read_file;
using bitscape::test::scratch_dir;
using bitscape::test::write_file;

namespace {

std::string eval_args(const std::string& model, const std::string& data = kTest) {
  return "eval --quiet --model " + model + " --data " + data + " --seqlen 64 --max-windows 2";
}

}  // namespace

TEST(CliTest, EvalOnSampleModelGivesJsonWithPerplexity) {
  CliRun r = cli("eval --model " + kSample + " --data " + kTest + " --seqlen 128 --max-windows 4 --json --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["windows"], 4);
  EXPECT_EQ(j["tokens"], 4 * 127);
  EXPECT_GT(j["ppl"].get<double>(), 1.0);
  EXPECT_LT(j["ppl"].get<double>(), 200.0);  // a trained model, far below the 4096-token vocab
  EXPECT_GT(j["seconds"].get<double>(), 0.0);
}

TEST(CliTest, InspectListsEveryLinearModuleWithShape) {
  CliRun r = cli("inspect --json --model " + kSample);
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  int64_t blocks = j["config"]["num_hidden_layers"];
  int linear = 0;
  int64_t total = 0;
  for (const auto& m : j["modules"]) {
    linear += m["kind"] == "linear";
    total += m["params"].get<int64_t>();
  }
  EXPECT_EQ(linear, 7 * blocks);
  EXPECT_EQ(total, j["total_params"].get<int64_t>());
}

TEST(CliTest, DoctorReportsBlas) {
  CliRun r = cli("doctor --json --no-measure");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_FALSE(j["blas"].get<std::string>().empty());
  EXPECT_FALSE(j["reference_blas"].get<bool>()) << "setup must install an optimised BLAS";
}

TEST(CliTest, EveryCommandHasHelp) {
  for (const char* c : {"eval", "inspect", "doctor", "train-lm", "calibrate", "quantize"}) {
    CliRun r = cli(std::string(c) + " --help");
    EXPECT_EQ(r.code, 0) << c;
    EXPECT_NE(r.out.find("usage: bitscape-cli"), std::string::npos) << c;
  }
}

TEST(CliTest, UnknownOptionIsAUsageError) {
  CliRun r = cli("eval --model x --data y --bogus 1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--bogus"), std::string::npos);
}

TEST(CliBadInputTest, MissingModelDirectory) {
  expect_input_error(cli(eval_args("/nonexistent/model")), {"/nonexistent/model"});
}

TEST(CliBadInputTest, MissingDataFile) {
  expect_input_error(cli(eval_args(kSample, "/nonexistent/data.txt")), {"/nonexistent/data.txt", "cannot open"});
}

TEST(CliBadInputTest, UnreadableDataPathIsADirectory) {
  std::string d = scratch_dir();
  expect_input_error(cli(eval_args(kSample, d)), {d});
}

TEST(CliBadInputTest, CorpusShorterThanOneWindow) {
  std::string p = scratch_dir() + "/short.txt";
  write_file(p, "In the beginning.");
  expect_input_error(cli(eval_args(kSample, p)), {p, "shorter than one window"});
}

TEST(CliBadInputTest, TruncatedSafetensors) {
  std::string m = model_copy();
  fs::resize_file(m + "/model.safetensors", 4);
  expect_input_error(cli(eval_args(m)), {m + "/model.safetensors", "truncated"});
}

TEST(CliBadInputTest, TruncatedSafetensorsData) {
  std::string m = model_copy();
  fs::resize_file(m + "/model.safetensors", fs::file_size(m + "/model.safetensors") / 2);
  expect_input_error(cli(eval_args(m)), {m + "/model.safetensors", "beyond the data block"});
}

TEST(CliBadInputTest, HeaderLengthBeyondFile) {
  std::string m = model_copy();
  std::string bytes = read_file(m + "/model.safetensors");
  bytes[6] = '\x7f';  // header length ~ 2^55
  write_file(m + "/model.safetensors", bytes);
  expect_input_error(cli(eval_args(m)), {m + "/model.safetensors", "header length"});
}

namespace {
// Rewrites the header of a safetensors file with `edit` applied (keeping the data block, whose
// offsets are relative to its own start).
template <class F>
void edit_header(const std::string& path, F edit) {
  std::string bytes = read_file(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  auto h = nlohmann::json::parse(bytes.substr(8, n));
  edit(h);
  std::string nh = h.dump();
  while (nh.size() % 8) nh.push_back(' ');
  std::string len(8, '\0');
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((nh.size() >> (8 * i)) & 0xff);
  write_file(path, len + nh + bytes.substr(8 + n));
}
}  // namespace

TEST(CliBadInputTest, OverlappingOffsets) {
  std::string m = model_copy();
  edit_header(m + "/model.safetensors", [](nlohmann::json& h) {
    h["model.norm.weight"]["data_offsets"] = h["model.embed_tokens.weight"]["data_offsets"];
    h["model.norm.weight"]["shape"] = h["model.embed_tokens.weight"]["shape"];
  });
  expect_input_error(cli(eval_args(m)), {m + "/model.safetensors", "overlapping"});
}

TEST(CliBadInputTest, OffsetsOutOfRange) {
  std::string m = model_copy();
  edit_header(m + "/model.safetensors", [](nlohmann::json& h) {
    auto& o = h["model.norm.weight"]["data_offsets"];
    o[0] = o[0].get<uint64_t>() + (1ull << 40);
    o[1] = o[1].get<uint64_t>() + (1ull << 40);
  });
  expect_input_error(cli(eval_args(m)), {m + "/model.safetensors", "model.norm.weight", "beyond"});
}

TEST(CliBadInputTest, DtypeShapeSizeMismatch) {
  std::string m = model_copy();
  edit_header(m + "/model.safetensors", [](nlohmann::json& h) { h["model.norm.weight"]["dtype"] = "F16"; });
  expect_input_error(cli(eval_args(m)), {m + "/model.safetensors", "model.norm.weight", "bytes"});
}

TEST(CliBadInputTest, MissingShard) {
  std::string m = model_copy();
  fs::rename(m + "/model.safetensors", m + "/model-00001-of-00002.safetensors");
  nlohmann::json index = {{"weight_map", {{"model.norm.weight", "model-00002-of-00002.safetensors"},
                                          {"model.embed_tokens.weight", "model-00001-of-00002.safetensors"}}}};
  write_file(m + "/model.safetensors.index.json", index.dump());
  expect_input_error(cli(eval_args(m)), {"model-00002-of-00002.safetensors", "missing shard"});
}

TEST(CliBadInputTest, MalformedConfig) {
  std::string m = model_copy();
  write_file(m + "/config.json", "{\"architectures\": [\"LlamaForCausalLM\"], ");
  expect_input_error(cli(eval_args(m)), {m + "/config.json"});
}

TEST(CliBadInputTest, UnsupportedArchitecture) {
  std::string m = model_copy();
  auto c = nlohmann::json::parse(read_file(m + "/config.json"));
  c["architectures"] = {"GPT2LMHeadModel"};
  c["model_type"] = "gpt2";
  write_file(m + "/config.json", c.dump());
  expect_input_error(cli(eval_args(m)), {m + "/config.json", "GPT2LMHeadModel"});
}

TEST(CliBadInputTest, MalformedTokenizer) {
  std::string m = model_copy();
  write_file(m + "/tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
  expect_input_error(cli(eval_args(m)), {m + "/tokenizer.json"});
}

TEST(CliBadInputTest, WeightWithWrongShape) {
  std::string m = model_copy();
  auto c = nlohmann::json::parse(read_file(m + "/config.json"));
  c["intermediate_size"] = c["intermediate_size"].get<int64_t>() + 8;
  write_file(m + "/config.json", c.dump());
  expect_input_error(cli(eval_args(m)), {"mlp", "shape"});
}

TEST(CliTest, DoctorWarnsLoudlyAboutTheReferenceBlas) {
  const std::string reference_dir = "/usr/lib/x86_64-linux-gnu/blas";
  if (!fs::exists(reference_dir + "/libblas.so.3")) GTEST_SKIP() << "reference BLAS not installed";
  // LibTorch's libblas.so.3 is resolved through the library path: point it at the reference BLAS.
  CliRun r = cli("doctor --json --no-measure", "LD_LIBRARY_PATH=" + reference_dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["blas"], "reference");
  EXPECT_TRUE(j["reference_blas"].get<bool>());
  ASSERT_FALSE(j["warnings"].empty());
  EXPECT_NE(j["warnings"][0].get<std::string>().find("REFERENCE BLAS"), std::string::npos);
}
