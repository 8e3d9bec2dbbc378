// Hostile input, as a user downloading files from the internet may meet it: each case was found
// by trying ~270 such inputs (issue 14) and crashed, hung or gave a silently wrong result
// before. Every one must now give one InputError naming the file and the problem, quickly and
// without allocating from absurd sizes.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "bitscape/allocation.h"
#include "bitscape/calibration.h"
#include "bitscape/config.h"
#include "bitscape/corpus.h"
#include "bitscape/error.h"
#include "bitscape/json_input.h"
#include "bitscape/model.h"
#include "bitscape/perplexity.h"
#include "bitscape/project.h"
#include "bitscape/quantizer.h"
#include "bitscape/safetensors.h"
#include "bitscape/search_store.h"
#include "bitscape/sensitivity_store.h"
#include "bitscape/tokenizer.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace bitscape;
using bitscape::test::expect_error;
using bitscape::test::read_file;
using bitscape::test::scratch_dir;
using bitscape::test::write_file;

namespace {

const std::string kFixtureModel = std::string(BITSCAPE_FIXTURE_DIR) + "/models/llama";
const std::string kSampleModel = std::string(BITSCAPE_SAMPLE_DIR) + "/model";

std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// A copy of the llama fixture (2 blocks, lm_head) whose tensors `edit` may change.
std::string fixture_copy(const std::string& dir,
                         const std::function<void(std::vector<std::pair<std::string, at::Tensor>>&)>& edit) {
  const std::string out = dir + "/model";
  fs::create_directories(out);
  fs::copy_file(kFixtureModel + "/config.json", out + "/config.json");
  auto f = SafetensorsFile::open(kFixtureModel + "/model.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& e : f->entries()) tensors.emplace_back(e.info.name, f->tensor(e.info.name).clone());
  edit(tensors);
  write_safetensors(out + "/model.safetensors", tensors);
  return out;
}

void set_config(const std::string& model_dir, const std::string& key, const nlohmann::json& value) {
  nlohmann::json j = nlohmann::json::parse(read_file(model_dir + "/config.json"));
  j[key] = value;
  write_file(model_dir + "/config.json", j.dump());
}

at::Tensor fixture_windows(int64_t n, int64_t T) {
  return at::arange(n * T, at::kLong).remainder(100).view({n, T});
}

}  // namespace

// --- JSON: nesting, duplicate keys, messages ------------------------------------------------------

TEST(HostileJsonTest, DeepNestingIsRefusedWhileParsingNotOverflowingTheStack) {
  const std::string deep = "{\"bits\": " + nested(100000) + "}";
  expect_error<InputError>([&] { parse_json(deep, "f.json"); }, {"f.json", "nested deeper than 128"});
  // The same depth inside a value whose type is checked: the message stays short.
  try {
    parse_json("[" + nested(100) + "]", "g.json");  // 101 levels: fine
  } catch (const InputError& e) {
    FAIL() << e.what();
  }
}

TEST(HostileJsonTest, DuplicateKeysAreRefusedAtAnyDepth) {
  expect_error<InputError>([] { parse_json(R"({"a": 1, "b": {"x": 1, "x": 2}})", "d.json"); },
                           {"d.json", "duplicate key 'x'"});
  // The same key in different objects is fine.
  EXPECT_NO_THROW(parse_json(R"({"a": {"x": 1}, "b": {"x": 2}})", "d.json"));
}

TEST(HostileJsonTest, MessagesQuoteValuesBriefly) {
  EXPECT_EQ(describe_json(nlohmann::json::parse(nested(50))), "array of 1 value");
  const std::string text = describe_json(std::string(100000, 'x'));
  EXPECT_LT(text.size(), 100u) << text;
  const std::string big = std::string(1 << 20, 'y');
  try {
    parse_json("\"" + big, "s.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_LT(std::string(e.what()).size(), 400u);
  }
}

TEST(HostileJsonTest, OversizedFilesAreRefusedBeforeReading) {
  const std::string dir = scratch_dir();
  const std::string path = dir + "/config.json";
  { std::ofstream(path) << "{}"; }
  fs::resize_file(path, (uint64_t(17) << 20));  // sparse: 17 MiB of zeros, beyond config.json's 16
  expect_error<InputError>([&] { ModelConfig::from_json_file(path); },
                           {path, "larger than the 16 MiB"});
}

TEST(HostileJsonTest, NestedValuesInEveryJsonReaderGiveOneShortError) {
  const std::string dir = scratch_dir();
  const std::string deep = nested(100000);
  // config.json with a nested hidden_size.
  write_file(dir + "/config.json", "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": " + deep + "}");
  expect_error<InputError>([&] { ModelConfig::from_json_file(dir + "/config.json"); }, {"nested"});
  // tokenizer.json with nested merges.
  expect_error<InputError>(
      [&] { Tokenizer::from_json_string("{\"model\": {\"merges\": " + deep + "}}", "tok.json"); },
      {"tok.json", "nested"});
  // An allocation with nested bits (at a depth that parses: the message must stay short).
  const std::vector<ModuleShape> shapes = {{"model.layers.0.mlp.up_proj", 64, 64}};
  write_file(dir + "/a.alloc.json", R"({"format": "bitscape-allocation", "version": 1, "default": {"bits": )" +
                                        nested(100) + "}}");
  try {
    Allocation::load(dir + "/a.alloc.json", shapes);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_LT(std::string(e.what()).size(), 300u) << e.what();
  }
  // A JSONL corpus line.
  expect_error<InputError>([&] { parse_corpus("{\"text\": " + deep + "}\n", "c.jsonl"); },
                           {"c.jsonl", "line 1", "nested"});
}

// --- config.json ---------------------------------------------------------------------------------

TEST(HostileConfigTest, AbsurdSizesAreRefusedByBoundAndAgainstTheCheckpoint) {
  const std::string dir = scratch_dir();
  const std::string m = fixture_copy(dir, [](auto&) {});
  set_config(m, "num_hidden_layers", int64_t(2147483648));
  const auto t0 = std::chrono::steady_clock::now();
  expect_error<InputError>([&] { Model::load(m); }, {"num_hidden_layers", "beyond any real model"});
  set_config(m, "num_hidden_layers", 4000);  // within the bound, but not in the file
  expect_error<InputError>([&] { Model::load(m); },
                           {m, "num_hidden_layers 4000", "tensors of 2 blocks"});
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
  set_config(m, "num_hidden_layers", 2);
  set_config(m, "vocab_size", int64_t(1) << 40);
  expect_error<InputError>([&] { Model::load(m); }, {"vocab_size", "beyond any real model"});
}

TEST(HostileConfigTest, RopeThetaAndNumbersMustBeUsable) {
  const std::string dir = scratch_dir();
  const std::string m = fixture_copy(dir, [](auto&) {});
  nlohmann::json j = nlohmann::json::parse(read_file(m + "/config.json"));
  j.erase("rope_parameters");
  for (double theta : {0.0, -10000.0}) {
    j["rope_theta"] = theta;
    write_file(m + "/config.json", j.dump());
    expect_error<InputError>([&] { ModelConfig::from_json_file(m + "/config.json"); },
                             {"rope_theta", "must be positive"});
  }
  j["rope_theta"] = 10000.0;
  write_file(m + "/config.json", j.dump());
  // JSON cannot spell infinity; 1e999 is refused by the parser.
  std::string text = j.dump();
  text.replace(text.find("1e-05"), 5, "1e999");
  write_file(m + "/config.json", text);
  expect_error<InputError>([&] { ModelConfig::from_json_file(m + "/config.json"); },
                           {"malformed JSON", "1e999"});
  // An integer beyond int64 is out of range, not wrapped.
  text = j.dump();
  text.replace(text.find("\"hidden_size\":48"), 16, "\"hidden_size\":1e300");
  write_file(m + "/config.json", text);
  expect_error<InputError>([&] { ModelConfig::from_json_file(m + "/config.json"); },
                           {"hidden_size", "expected an integer"});
}

// --- safetensors -----------------------------------------------------------------------------------

namespace {
std::string safetensors_bytes(const std::string& header, size_t data_bytes) {
  std::string h = header;
  std::string out(8, '\0');
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + h + std::string(data_bytes, '\0');
}
}  // namespace

TEST(HostileSafetensorsTest, DuplicateNamesGapsAndTrailingBytesAreRefused) {
  const std::string dup = R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                          R"( "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})";
  const std::string a = safetensors_bytes(dup, 8);
  expect_error<InputError>([&] { parse_safetensors_header(a.data(), a.size(), "d.st"); },
                           {"d.st", "duplicate key 'w'"});
  const std::string gap = R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                          R"( "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})";
  const std::string b = safetensors_bytes(gap, 12);
  expect_error<InputError>([&] { parse_safetensors_header(b.data(), b.size(), "g.st"); },
                           {"g.st", "'b'", "contiguous"});
  const std::string one = R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})";
  const std::string c = safetensors_bytes(one, 12);
  expect_error<InputError>([&] { parse_safetensors_header(c.data(), c.size(), "t.st"); },
                           {"t.st", "cover 4 of the 12 bytes"});
  const std::string d = safetensors_bytes(" " + one, 4);
  expect_error<InputError>([&] { parse_safetensors_header(d.data(), d.size(), "s.st"); },
                           {"s.st", "does not start with '{'"});
  const std::string e = safetensors_bytes(one, 4);
  EXPECT_EQ(parse_safetensors_header(e.data(), e.size(), "ok.st").entries.size(), 1u);
}

TEST(HostileModelTest, IntegerWeightsAreRefusedNotConverted) {
  const std::string dir = scratch_dir();
  const std::string m = fixture_copy(dir, [](auto& t) {
    for (auto& [name, v] : t)
      if (name == "model.layers.1.mlp.up_proj.weight") v = (v * 100).to(at::kInt);
  });
  expect_error<InputError>([&] { Model::load(m); },
                           {m, "model.layers.1.mlp.up_proj.weight", "dtype I32", "floating point"});
}

TEST(HostileModelTest, AMissingHeadIsAnErrorUnlessEmbeddingsAreTied) {
  const std::string dir = scratch_dir();
  const std::string m = fixture_copy(dir, [](auto& t) {
    t.erase(std::remove_if(t.begin(), t.end(), [](auto& p) { return p.first == "lm_head.weight"; }),
            t.end());
  });
  expect_error<InputError>([&] { Model::load(m); }, {m, "lm_head.weight", "tie_word_embeddings"});
  set_config(m, "tie_word_embeddings", true);
  EXPECT_NO_THROW(Model::load(m));
}

// Weights of 3e38 are finite, but the forward overflows float32: every consumer says where.
TEST(HostileModelTest, OverflowingWeightsAreNamedByEvalCalibrationAndQuantization) {
  const std::string dir = scratch_dir();
  const std::string m = fixture_copy(dir, [](auto& t) {
    for (auto& [name, v] : t)
      if (name == "model.layers.1.mlp.down_proj.weight") {
        v[0][0] = 3e38;
        v[3][5] = -3e38;
      }
  });
  Model model = Model::load(m);
  ProgressSink quiet;
  const at::Tensor windows = fixture_windows(2, 16);
  expect_error<InputError>([&] { evaluate_perplexity(model, windows, quiet, CancelToken()); },
                           {m, "the loss of window", "model.layers.1.mlp.down_proj", "3e+38"});
  expect_error<InputError>(
      [&] { run_calibration(model, windows, true, nullptr, quiet, CancelToken()); },
      {m, "statistics of", "model.layers.1.mlp.down_proj", "not finite"});
  ModuleAllocation rtn;
  rtn.bits = 4;
  rtn.group_size = 32;
  expect_error<InputError>(
      [&] {
        quantize_module(model.weight("model.layers.1.mlp.down_proj.weight"), rtn, ModuleCalibration{},
                        "model.layers.1.mlp.down_proj");
      },
      {"model.layers.1.mlp.down_proj", "non-finite", "3e+38"});
}

// --- projects ----------------------------------------------------------------------------------

namespace {

std::string tiny_project(const std::string& dir) {
  const std::string path = dir + "/p.bsproj.h5";
  auto w = ProjectWriter::create(path);
  ProjectModelInfo info;
  info.path = "m";
  info.fingerprint = std::string(64, 'a');
  info.config_json = "{}";
  info.modules = {{"model.layers.0.mlp.up_proj", 8, 4}};
  w.write_model(info);
  CalibrationSettings s;
  s.corpus = "c.txt";
  s.corpus_sha256 = std::string(64, 'b');
  s.samples = 1;
  s.seqlen = 16;
  s.window_starts = {0};
  s.created = "2026-01-01T00:00:00Z";
  w.begin_calibration(s);
  HessianData h;
  h.key = "model.layers.0.mlp.up_proj";
  h.modules = {h.key};
  h.n = 4;
  h.tokens = 16;
  h.diag = {1, 2, 3, 4};
  std::vector<float> full(16, 0.5f);
  h.upper = HessianData::pack_upper(full.data(), 4);
  w.write_hessian(h);
  ModuleStatistics st;
  st.name = h.key;
  st.out_features = 8;
  st.in_features = 4;
  st.hessian = h.key;
  st.tokens = 16;
  w.write_module_statistics(st);
  w.commit();
  return path;
}

}  // namespace

TEST(HostileProjectTest, NonFiniteHessiansAndStatisticsAreRefusedWhereTheyEnter) {
  if (!project_support_available()) GTEST_SKIP();
  const std::string dir = scratch_dir();
  const std::string p = tiny_project(dir);
  {
    auto w = ProjectWriter::update(p);
    w.write_floats("/calibration/hessians/model.layers.0.mlp.up_proj/upper",
                   {1, 2, std::nanf(""), 4, 5, 6, 7, 8, 9, 10}, {10});
    w.commit();
  }
  const ProjectReader r = ProjectReader::open(p);
  expect_error<InputError>([&] { r.hessian("model.layers.0.mlp.up_proj"); },
                           {p, "upper", "non-finite", "calibrate again"});
  {
    auto w = ProjectWriter::update(p);
    w.write_floats("/calibration/modules/model.layers.0.mlp.up_proj/act_abs_mean",
                   {1, std::numeric_limits<float>::infinity(), 1, 1}, {4});
    w.set_attribute("/calibration/modules/model.layers.0.mlp.up_proj", "in_features", int64_t(1) << 40);
    w.commit();
  }
  expect_error<InputError>([&] { ProjectReader::open(p).module_statistics("model.layers.0.mlp.up_proj"); },
                           {p, "in_features", "outside"});
}

TEST(HostileProjectTest, MalformedRunAttributesAndShapesNameTheProblem) {
  if (!project_support_available()) GTEST_SKIP();
  const std::string dir = scratch_dir();
  const std::string p = tiny_project(dir);
  const std::string module = "model.layers.0.mlp.up_proj";
  {
    auto w = ProjectWriter::update(p);
    SensitivityRunInfo info;
    info.name = "run1";
    info.status = "complete";
    info.bits = {2, 4};
    write_sensitivity_run(w, info);
    w.set_attribute("/sensitivity/run1", "bits", std::string("2,x,99999999999"));
    w.commit();
  }
  expect_error<InputError>([&] { read_sensitivity_run(ProjectReader::open(p), "run1", {module}); },
                           {p, "attribute 'bits'", "bit-widths"});
  {
    auto w = ProjectWriter::update(p);
    w.set_attribute("/sensitivity/run1", "bits", std::string("2,4"));
    w.set_attribute("/sensitivity/run1", "seqlen", std::nan(""));
    w.commit();
  }
  expect_error<InputError>([&] { read_sensitivity_run(ProjectReader::open(p), "run1", {module}); },
                           {p, "seqlen", "not an integer"});
  // A curve whose KL is -inf, and one whose lengths disagree with its bits.
  SensitivityCurve c;
  c.module = module;
  c.bits = {2, 4};
  c.ppl = {30, 25};
  c.delta_ppl = {5, 0.1};
  c.kl = {-std::numeric_limits<double>::infinity(), 0.01};
  c.jsd = {0.1, 0.01};
  c.top1 = {0.5, 0.9};
  c.objective = {1, 0.1};
  c.hawq = {std::nan(""), std::nan("")};
  {
    auto w = ProjectWriter::update(p);
    w.set_attribute("/sensitivity/run1", "seqlen", int64_t(64));
    write_module_curve(w, "run1", c);
    w.commit();
  }
  expect_error<InputError>([&] { read_module_curve(ProjectReader::open(p), "run1", module); },
                           {p, module, "'kl' holds -inf"});
  c.kl = {0.1, 0.01};
  {
    auto w = ProjectWriter::update(p);
    write_module_curve(w, "run1", c);
    w.write_floats("/sensitivity/run1/modules/" + module + "/curve/jsd", {0.1f}, {1});
    w.commit();
  }
  expect_error<InputError>([&] { read_module_curve(ProjectReader::open(p), "run1", module); },
                           {p, "'jsd' has 1 values for 2 bit-widths"});
  // A pooled saliency map whose size disagrees with its rows and columns.
  SaliencySummary s;
  s.metric = "obs";
  s.rows = 8;
  s.cols = 4;
  s.group_size = 4;
  s.column_sum.assign(4, 1);
  s.row_sum.assign(8, 1);
  s.group_sum.assign(8, 1);
  s.pooled_rows = 2;
  s.pooled_cols = 2;
  s.pooled_mean.assign(4, 1);
  s.pooled_max.assign(4, 1);
  {
    auto w = ProjectWriter::update(p);
    write_module_saliency(w, "run1", module, s);
    w.write_floats("/sensitivity/run1/modules/" + module + "/saliency/obs/pooled_max", {1, 2, 3}, {3});
    w.commit();
  }
  expect_error<InputError>([&] { read_module_saliency(ProjectReader::open(p), "run1", module, "obs"); },
                           {p, "pooled_max", "3 values, expected 4"});
}

TEST(HostileProjectTest, SearchRunsWithDatasetsOfDifferentLengthsAreRefused) {
  if (!project_support_available()) GTEST_SKIP();
  const std::string dir = scratch_dir();
  const std::string p = tiny_project(dir);
  SearchRunRecord run;
  run.name = "search1";
  run.method = "dp";
  run.status = "complete";
  SearchPoint a;
  a.method = "dp";
  a.average_bits = 3;
  a.genes = {0};
  run.points = {a, a};
  {
    auto w = ProjectWriter::update(p);
    write_search_run(w, run);
    w.write_doubles("/search/search1/points/kl", {0.1}, {1});  // one value for two points
    w.commit();
  }
  expect_error<InputError>([&] { read_search_run(ProjectReader::open(p), "search1"); },
                           {p, "search1", "differ in length"});
}
