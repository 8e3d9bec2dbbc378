// Tests of the HDF5 project store (core/src/io/project.cpp): round trips of every schema item,
// execution order, atomic writes, errors naming the file, the generic dataset/attribute access,
// and reading a project that h5py wrote by following docs/project-format.md.
#include "bitscape/project.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "bitscape/error.h"
#include "test_util.h"

using bitscape::CalibrationSettings;
using bitscape::HessianData;
using bitscape::InputError;
using bitscape::ModuleShape;
using bitscape::ModuleStatistics;
using bitscape::ProjectModelInfo;
using bitscape::ProjectReader;
using bitscape::ProjectWriter;
using bitscape::test::expect_error;
using bitscape::test::read_file;
using bitscape::test::scratch_dir;
using bitscape::test::write_file;

namespace fs = std::filesystem;

namespace {

#define REQUIRE_HDF5()                                                           \
  do {                                                                           \
    if (!bitscape::project_support_available())                                  \
      GTEST_SKIP() << "this build has no HDF5 support (BITSCAPE_WITH_HDF5 off)"; \
  } while (0)

// A symmetric n x n matrix with distinct entries: H[i][j] = H[j][i] = 1 + i + 0.001 j (i <= j).
std::vector<float> symmetric_matrix(int64_t n) {
  std::vector<float> m(static_cast<size_t>(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i; j < n; ++j) {
      float v = 1.0f + static_cast<float>(i) + 0.001f * static_cast<float>(j);
      m[static_cast<size_t>(i * n + j)] = v;
      m[static_cast<size_t>(j * n + i)] = v;
    }
  return m;
}

HessianData make_hessian(const std::string& key, int64_t n, bool full) {
  HessianData h;
  h.key = key;
  h.modules = {key + ".a", key + ".b"};
  h.n = n;
  h.tokens = 4096;
  std::vector<float> m = symmetric_matrix(n);
  for (int64_t i = 0; i < n; ++i) h.diag.push_back(m[static_cast<size_t>(i * n + i)]);
  if (full) h.upper = HessianData::pack_upper(m.data(), n);
  return h;
}

std::vector<float> ramp(int64_t n, float scale) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = scale * static_cast<float>(i + 1);
  return v;
}

ModuleStatistics make_statistics(const std::string& name, int64_t out, int64_t in) {
  ModuleStatistics s;
  s.name = name;
  s.out_features = out;
  s.in_features = in;
  s.hessian = name + ".input";
  s.tokens = 4096;
  s.act_abs_mean = ramp(in, 0.5f);
  s.act_abs_max = ramp(in, 2.0f);
  s.act_l2 = ramp(in, 3.0f);
  s.out_abs_mean = ramp(out, 0.25f);
  s.out_abs_max = ramp(out, 4.0f);
  s.out_mean = ramp(out, -1.0f);
  s.out_std = ramp(out, 0.125f);
  s.weight_row_norm = ramp(out, 1.5f);
  s.weight_row_abs_max = ramp(out, 0.75f);
  s.weight_col_norm = ramp(in, 1.25f);
  s.weight_mean = -0.001;
  s.weight_std = 0.02;
  s.weight_abs_max = 0.5;
  s.weight_kurtosis = 7.25;
  return s;
}

CalibrationSettings make_settings() {
  CalibrationSettings s;
  s.corpus = "sample_data/text/train.txt";
  s.corpus_sha256 = std::string(64, 'e');
  s.samples = 3;
  s.seqlen = 128;
  s.seed = (uint64_t{1} << 63) + 12345;  // above INT64_MAX: must survive as uint64
  s.window_starts = {0, 1000, 123456789012};
  s.mode = "quantized";
  s.allocation_json = R"({"default": {"bits": 4}})";
  s.hessians = "full";
  s.device = "cuda:0";
  s.dtype = "bf16";
  s.seconds = 12.5;
  s.created = "2025-01-02T03:04:05Z";
  return s;
}

ProjectModelInfo make_model() {
  ProjectModelInfo m;
  m.path = "/models/Llama-3.2-1B";
  m.fingerprint = std::string(64, 'a');
  // Larger than an HDF5 object header (64 KiB): string attributes must not be limited by it.
  m.config_json = R"({"model_type": "llama", "pad": ")" + std::string(200000, 'x') + "\"}";
  m.modules = {{"model.layers.0.self_attn.q_proj", 2048, 2048},
               {"model.layers.0.mlp.down_proj", 2048, 8192},
               {"model.layers.1.self_attn.q_proj", 2048, 2048}};
  m.other_params = 262668288;
  return m;
}

// A committed project with a model and nothing else.
std::string write_model_only(const std::string& dir, const std::string& name = "p.bsproj.h5") {
  std::string path = dir + "/" + name;
  auto w = ProjectWriter::create(path);
  w.write_model(make_model());
  w.commit();
  return path;
}

// The files in a directory (the temporary files are hidden dot files).
std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST(ProjectHessianDataTest, PackAndFullAreInverse) {
  // Plain helpers: no HDF5 needed.
  for (int64_t n : {1, 2, 5}) {
    std::vector<float> m = symmetric_matrix(n);
    HessianData h;
    h.n = n;
    h.upper = HessianData::pack_upper(m.data(), n);
    ASSERT_EQ(h.upper.size(), static_cast<size_t>(n * (n + 1) / 2));
    EXPECT_EQ(h.full(), m);
  }
  std::vector<float> m = {1, 2, 3, 2, 4, 5, 3, 5, 6};
  EXPECT_EQ(HessianData::pack_upper(m.data(), 3), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  HessianData diag_only;
  diag_only.n = 3;
  diag_only.diag = {1, 2, 3};
  EXPECT_FALSE(diag_only.has_full());
  EXPECT_THROW(diag_only.full(), InputError);
}

TEST(ProjectTest, ModelInfoRoundTrips) {
  REQUIRE_HDF5();
  std::string dir = scratch_dir();
  std::string path = write_model_only(dir);
  auto r = ProjectReader::open(path);
  EXPECT_EQ(r.path(), path);
  ProjectModelInfo want = make_model(), got = r.model();
  EXPECT_EQ(got.path, want.path);
  EXPECT_EQ(got.fingerprint, want.fingerprint);
  EXPECT_EQ(got.config_json, want.config_json);
  EXPECT_EQ(got.other_params, want.other_params);
  ASSERT_EQ(got.modules.size(), want.modules.size());
  for (size_t i = 0; i < want.modules.size(); ++i) {
    EXPECT_EQ(got.modules[i].name, want.modules[i].name);
    EXPECT_EQ(got.modules[i].out_features, want.modules[i].out_features);
    EXPECT_EQ(got.modules[i].in_features, want.modules[i].in_features);
  }
  EXPECT_FALSE(r.has_calibration());
  EXPECT_EQ(r.string_attribute("/", "format"), "bitscape-project");
  EXPECT_EQ(r.number_attribute("/", "format_version"), bitscape::kProjectFormatVersion);
  EXPECT_EQ(r.string_attribute("/", "bitscape_version"), BITSCAPE_VERSION);
  auto created = r.string_attribute("/", "created");
  ASSERT_TRUE(created);
  EXPECT_EQ(created->size(), 20u) << *created;  // 2025-01-02T03:04:05Z
  EXPECT_EQ(created->back(), 'Z');
}

TEST(ProjectTest, CalibrationSettingsRoundTripIncludingLargeSeed) {
  REQUIRE_HDF5();
  std::string path = scratch_dir() + "/p.bsproj.h5";
  {
    auto w = ProjectWriter::create(path);
    w.begin_calibration(make_settings());
    w.set_calibration_seconds(99.25);
    w.commit();
  }
  auto r = ProjectReader::open(path);
  ASSERT_TRUE(r.has_calibration());
  CalibrationSettings want = make_settings(), got = r.calibration();
  EXPECT_EQ(got.corpus, want.corpus);
  EXPECT_EQ(got.corpus_sha256, want.corpus_sha256);
  EXPECT_EQ(got.samples, want.samples);
  EXPECT_EQ(got.seqlen, want.seqlen);
  EXPECT_EQ(got.seed, want.seed);
  EXPECT_GT(got.seed, uint64_t{INT64_MAX});
  EXPECT_EQ(got.window_starts, want.window_starts);
  EXPECT_EQ(got.mode, want.mode);
  EXPECT_EQ(got.allocation_json, want.allocation_json);
  EXPECT_EQ(got.hessians, want.hessians);
  EXPECT_EQ(got.device, want.device);
  EXPECT_EQ(got.dtype, want.dtype);
  EXPECT_EQ(got.seconds, 99.25);
  EXPECT_EQ(got.created, want.created);
  EXPECT_TRUE(r.calibrated_modules().empty());
}

TEST(ProjectTest, BeginCalibrationReplacesTheEarlierOne) {
  REQUIRE_HDF5();
  std::string path = scratch_dir() + "/p.bsproj.h5";
  {
    auto w = ProjectWriter::create(path);
    w.begin_calibration(make_settings());
    w.write_hessian(make_hessian("h.old", 3, true));
    w.write_module_statistics(make_statistics("m.old", 2, 3));
    CalibrationSettings again = make_settings();
    again.samples = 7;
    again.window_starts.clear();
    w.begin_calibration(again);
    w.write_module_statistics(make_statistics("m.new", 2, 3));
    w.commit();
  }
  auto r = ProjectReader::open(path);
  EXPECT_EQ(r.calibration().samples, 7);
  EXPECT_TRUE(r.calibration().window_starts.empty());
  EXPECT_EQ(r.calibrated_modules(), std::vector<std::string>{"m.new"});
  EXPECT_FALSE(r.exists("/calibration/hessians/h.old"));
  EXPECT_FALSE(r.exists("/calibration/modules/m.old"));
}

TEST(ProjectTest, HessiansRoundTripFullAndDiagonal) {
  REQUIRE_HDF5();
  std::string path = scratch_dir() + "/p.bsproj.h5";
  const std::vector<std::pair<int64_t, bool>> cases = {
      {1, true}, {300, true}, {1, false}, {300, false}};
  auto key_of = [](int64_t n, bool full) {
    return "model.layers.0.self_attn.q_proj+k_proj+v_proj." + std::to_string(n) +
           (full ? ".full" : ".diag");
  };
  {
    auto w = ProjectWriter::create(path);
    w.begin_calibration(make_settings());
    for (auto [n, full] : cases) w.write_hessian(make_hessian(key_of(n, full), n, full));
    w.commit();
  }
  auto r = ProjectReader::open(path);
  for (auto [n, full] : cases) {
    SCOPED_TRACE(key_of(n, full));
    HessianData want = make_hessian(key_of(n, full), n, full);
    HessianData got = r.hessian(want.key);
    EXPECT_EQ(got.key, want.key);
    EXPECT_EQ(got.modules, want.modules);
    EXPECT_EQ(got.n, n);
    EXPECT_EQ(got.tokens, want.tokens);
    EXPECT_EQ(got.diag, want.diag);
    EXPECT_EQ(got.has_full(), full);
    if (full) {
      EXPECT_EQ(got.upper, want.upper);
      EXPECT_EQ(got.full(), symmetric_matrix(n));  // exact: float32 stored losslessly
    }
    HessianData diag_only = r.hessian(want.key, /*with_full=*/false);
    EXPECT_FALSE(diag_only.has_full());
    EXPECT_EQ(diag_only.diag, want.diag);
  }
  expect_error<InputError>([&] { r.hessian("no.such.key"); }, {path, "no Hessian 'no.such.key'"});
}

TEST(ProjectTest, ModuleStatisticsRoundTripWithEmptyAndFilledVectors) {
  REQUIRE_HDF5();
  std::string path = scratch_dir() + "/p.bsproj.h5";
  ModuleStatistics filled = make_statistics("model.layers.0.mlp.down_proj", 5, 7);
  ModuleStatistics sparse = make_statistics("model.layers.0.mlp.up_proj", 7, 5);
  sparse.act_abs_max.clear();
  sparse.out_std.clear();
  sparse.weight_col_norm.clear();
  sparse.hessian.clear();
  {
    auto w = ProjectWriter::create(path);
    w.begin_calibration(make_settings());
    w.write_module_statistics(filled);
    w.write_module_statistics(sparse);
    w.commit();
  }
  auto r = ProjectReader::open(path);
  for (const ModuleStatistics& want : {filled, sparse}) {
    SCOPED_TRACE(want.name);
    ModuleStatistics got = r.module_statistics(want.name);
    EXPECT_EQ(got.name, want.name);
    EXPECT_EQ(got.out_features, want.out_features);
    EXPECT_EQ(got.in_features, want.in_features);
    EXPECT_EQ(got.hessian, want.hessian);
    EXPECT_EQ(got.tokens, want.tokens);
    EXPECT_EQ(got.act_abs_mean, want.act_abs_mean);
    EXPECT_EQ(got.act_abs_max, want.act_abs_max);
    EXPECT_EQ(got.act_l2, want.act_l2);
    EXPECT_EQ(got.out_abs_mean, want.out_abs_mean);
    EXPECT_EQ(got.out_abs_max, want.out_abs_max);
    EXPECT_EQ(got.out_mean, want.out_mean);
    EXPECT_EQ(got.out_std, want.out_std);
    EXPECT_EQ(got.weight_row_norm, want.weight_row_norm);
    EXPECT_EQ(got.weight_row_abs_max, want.weight_row_abs_max);
    EXPECT_EQ(got.weight_col_norm, want.weight_col_norm);
    EXPECT_EQ(got.weight_mean, want.weight_mean);
    EXPECT_EQ(got.weight_std, want.weight_std);
    EXPECT_EQ(got.weight_abs_max, want.weight_abs_max);
    EXPECT_EQ(got.weight_kurtosis, want.weight_kurtosis);
  }
  EXPECT_FALSE(r.exists("/calibration/modules/model.layers.0.mlp.up_proj/out_std"));
}

TEST(ProjectTest, WritingStatisticsWithTheWrongLengthIsAnError) {
  REQUIRE_HDF5();
  std::string path = scratch_dir() + "/p.bsproj.h5";
  auto w = ProjectWriter::create(path);
  w.begin_calibration(make_settings());
  ModuleStatistics s = make_statistics("m", 4, 6);
  s.act_l2.pop_back();
  expect_error<InputError>([&] { w.write_module_statistics(s); },
                           {path, "module 'm': act_l2 has 5 values, expected 6"});
  HessianData h = make_hessian("h", 4, true);
  h.upper.pop_back();
  expect_error<InputError>([&] { w.write_hessian(h); }, {path, "upper has 9 values"});
}

TEST(ProjectTest, CalibratedModulesKeepExecutionOrder) {
  REQUIRE_HDF5();
  std::string path = scratch_dir() + "/p.bsproj.h5";
  // Alphabetically "model.layers.10..." sorts before "model.layers.2...".
  const std::vector<std::string> order = {
      "model.layers.2.self_attn.q_proj", "model.layers.2.mlp.down_proj",
      "model.layers.10.self_attn.q_proj", "model.layers.10.mlp.down_proj",
      "model.layers.1.self_attn.q_proj"};
  {
    auto w = ProjectWriter::create(path);
    w.begin_calibration(make_settings());
    for (const auto& name : order) w.write_module_statistics(make_statistics(name, 2, 3));
    // Writing a module again replaces its statistics and keeps its place.
    ModuleStatistics again = make_statistics(order[1], 2, 3);
    again.tokens = 1;
    w.write_module_statistics(again);
    w.commit();
  }
  auto r = ProjectReader::open(path);
  EXPECT_EQ(r.calibrated_modules(), order);
  EXPECT_EQ(r.module_statistics(order[1]).tokens, 1);
  std::vector<std::string> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(r.children("/calibration/modules"), sorted);
}

TEST(ProjectTest, WriterWithoutCommitLeavesNoFile) {
  REQUIRE_HDF5();
  std::string dir = scratch_dir();
  std::string path = dir + "/p.bsproj.h5";
  std::string temp;
  {
    auto w = ProjectWriter::create(path);
    temp = w.temp_path();
    EXPECT_EQ(fs::path(temp).parent_path(), fs::path(path).parent_path());
    w.write_model(make_model());
    EXPECT_TRUE(fs::exists(temp));
    EXPECT_FALSE(fs::exists(path));
  }
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_TRUE(files_in(dir).empty());
}

TEST(ProjectTest, UncommittedCreateLeavesAnExistingTargetByteIdentical) {
  REQUIRE_HDF5();
  std::string dir = scratch_dir();
  std::string path = write_model_only(dir);
  std::string before = read_file(path);
  {
    auto w = ProjectWriter::create(path);
    w.begin_calibration(make_settings());
  }
  EXPECT_EQ(read_file(path), before);
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"p.bsproj.h5"});
}

TEST(ProjectTest, UpdateAndCommitAddsDataAndKeepsTheOld) {
  REQUIRE_HDF5();
  std::string dir = scratch_dir();
  std::string path = write_model_only(dir);
  {
    auto w = ProjectWriter::update(path);
    EXPECT_NE(w.temp_path(), path);
    w.begin_calibration(make_settings());
    w.write_module_statistics(make_statistics("model.layers.0.mlp.down_proj", 2, 3));
    w.write_floats("/sensitivity/run1/curve", {1, 2, 3}, {3});
    w.commit();
  }
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"p.bsproj.h5"});
  auto r = ProjectReader::open(path);
  EXPECT_EQ(r.model().config_json, make_model().config_json);
  EXPECT_EQ(r.calibration().seed, make_settings().seed);
  EXPECT_EQ(r.calibrated_modules(), std::vector<std::string>{"model.layers.0.mlp.down_proj"});
  EXPECT_EQ(r.read_floats("/sensitivity/run1/curve"), (std::vector<float>{1, 2, 3}));
}

TEST(ProjectTest, UncommittedUpdateLeavesTheOriginalUntouched) {
  REQUIRE_HDF5();
  std::string dir = scratch_dir();
  std::string path = write_model_only(dir);
  std::string before = read_file(path);
  {
    auto w = ProjectWriter::update(path);
    w.remove("/model");
    w.begin_calibration(make_settings());
    w.write_floats("/x", {1}, {1});
  }
  EXPECT_EQ(read_file(path), before);
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"p.bsproj.h5"});
  auto r = ProjectReader::open(path);
  EXPECT_EQ(r.model().modules.size(), make_model().modules.size());
  EXPECT_FALSE(r.has_calibration());
}

TEST(ProjectTest, CommitTwiceOrWriteAfterCommitIsAnError) {
  REQUIRE_HDF5();
  std::string path = scratch_dir() + "/p.bsproj.h5";
  auto w = ProjectWriter::create(path);
  w.commit();
  expect_error<InputError>([&] { w.commit(); }, {path, "already committed"});
  expect_error<InputError>([&] { w.write_model(make_model()); }, {path, "already committed"});
  EXPECT_NO_THROW(ProjectReader::open(path));
}

TEST(ProjectTest, OpeningANonHdf5FileNamesIt) {
  REQUIRE_HDF5();
  std::string dir = scratch_dir();
  std::string path = dir + "/notes.bsproj.h5";
  write_file(path, "this is not an HDF5 file\n");
  expect_error<InputError>([&] { ProjectReader::open(path); }, {path, "not an HDF5 file"});
  expect_error<InputError>([&] { ProjectWriter::update(path); }, {path, "not an HDF5 file"});
  std::string missing = dir + "/missing.bsproj.h5";
  expect_error<InputError>([&] { ProjectReader::open(missing); }, {missing, "no such file"});
  expect_error<InputError>([&] { ProjectWriter::update(missing); }, {missing, "no such file"});
  std::string no_dir = dir + "/no/such/dir/p.bsproj.h5";
  expect_error<InputError>([&] { ProjectWriter::create(no_dir); }, {no_dir, "does not exist"});
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"notes.bsproj.h5"});
}

TEST(ProjectTest, OpeningAnHdf5FileWithoutFormatAttributeNamesIt) {
  REQUIRE_HDF5();
  std::string path = std::string(BITSCAPE_FIXTURE_DIR) + "/project/plain.h5";
  expect_error<InputError>([&] { ProjectReader::open(path); },
                           {path, "not a Bitscape project (no format attribute)"});
  // Copy it: a failed update must not leave a temporary file in the fixture directory.
  std::string dir = scratch_dir();
  std::string copy = dir + "/plain.h5";
  fs::copy_file(path, copy);
  expect_error<InputError>([&] { ProjectWriter::update(copy); },
                           {copy, "not a Bitscape project (no format attribute)"});
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"plain.h5"});
}

TEST(ProjectTest, OpeningANewerFormatVersionNamesIt) {
  REQUIRE_HDF5();
  std::string dir = scratch_dir();
  std::string path = dir + "/future.bsproj.h5";
  {
    auto w = ProjectWriter::create(path);
    w.set_attribute("/", "format_version", int64_t{3});
    w.commit();
  }
  expect_error<InputError>([&] { ProjectReader::open(path); },
                           {path, "project format version 3 is newer than this Bitscape (1)"});
  expect_error<InputError>([&] { ProjectWriter::update(path); },
                           {path, "project format version 3 is newer than this Bitscape (1)"});
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"future.bsproj.h5"});
  std::string other = dir + "/other.bsproj.h5";
  {
    auto w = ProjectWriter::create(other);
    w.set_attribute("/", "format", "something-else");
    w.commit();
  }
  expect_error<InputError>([&] { ProjectReader::open(other); },
                           {other, "not a Bitscape project (format is 'something-else')"});
}

TEST(ProjectTest, MissingCalibrationModuleOrModelNamesTheFile) {
  REQUIRE_HDF5();
  std::string dir = scratch_dir();
  std::string path = write_model_only(dir);
  {
    auto r = ProjectReader::open(path);
    expect_error<InputError>([&] { r.calibration(); }, {path, "no calibration in this project"});
    expect_error<InputError>([&] { r.calibrated_modules(); }, {path, "no calibration"});
    expect_error<InputError>([&] { r.module_statistics("x"); }, {path, "no calibration"});
    expect_error<InputError>([&] { r.hessian("x"); }, {path, "no calibration"});
  }
  std::string empty = dir + "/empty.bsproj.h5";
  {
    auto w = ProjectWriter::create(empty);
    expect_error<InputError>([&] { w.write_module_statistics(make_statistics("m", 1, 1)); },
                             {empty, "no calibration in this project"});
    w.begin_calibration(make_settings());
    w.write_module_statistics(make_statistics("model.layers.0.mlp.up_proj", 2, 3));
    w.commit();
  }
  auto r = ProjectReader::open(empty);
  expect_error<InputError>([&] { r.model(); }, {empty, "no model in this project"});
  expect_error<InputError>([&] { r.module_statistics("model.layers.9.mlp.up_proj"); },
                           {empty, "no statistics for module 'model.layers.9.mlp.up_proj'"});
  expect_error<InputError>([&] { r.read_floats("/nothing/here"); },
                           {empty, "no dataset '/nothing/here'"});
  expect_error<InputError>([&] { r.children("/nothing"); }, {empty, "no group '/nothing'"});
}

TEST(ProjectTest, GenericDatasetsAndAttributesRoundTrip) {
  REQUIRE_HDF5();
  std::string path = scratch_dir() + "/p.bsproj.h5";
  std::vector<float> curve = {0.5f, -1.25f, 3.0f, 1e-8f, 7.0f, 8.0f};
  std::vector<int64_t> bits = {2, 3, 4, INT64_MIN, INT64_MAX, -1};
  // Large enough to be chunked and compressed.
  std::vector<float> big(300000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = std::sin(static_cast<float>(i));
  {
    auto w = ProjectWriter::create(path);
    w.write_floats("/sensitivity/run1/curve", curve, {2, 3});
    w.write_int64s("/search/run1/bits", bits, {3, 2});
    w.write_floats("/sensitivity/run1/big", big, {1000, 300});
    w.write_floats("/sensitivity/run1/empty", {}, {0, 4});
    w.set_attribute("/sensitivity/run1", "metric", "kl");
    w.set_attribute("/sensitivity/run1", "budget_bits", 3.25);
    w.set_attribute("/sensitivity/run1/curve", "points", int64_t{6});
    w.set_attribute("/search/new/group", "note", "created by set_attribute");
    // Replacing: a dataset of another shape and type under the same name, an attribute again.
    w.write_floats("/search/run1/bits", {1.0f, 2.0f}, {});
    w.set_attribute("/sensitivity/run1", "metric", int64_t{42});
    w.write_floats("/to/remove", {1}, {1});
    w.remove("/to/remove");
    w.remove("/never/there");
    expect_error<InputError>(
        [&] {
          w.write_floats("/bad", {1, 2, 3}, {2, 2});
        },
        {path, "do not fill its shape"});
    expect_error<InputError>([&] { w.write_floats("relative", {1}, {1}); },
                             {path, "must start with '/'"});
    w.commit();
  }
  auto r = ProjectReader::open(path);
  std::vector<int64_t> shape;
  EXPECT_EQ(r.read_floats("/sensitivity/run1/curve", &shape), curve);
  EXPECT_EQ(shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(r.read_floats("/sensitivity/run1/big", &shape), big);
  EXPECT_EQ(shape, (std::vector<int64_t>{1000, 300}));
  EXPECT_TRUE(r.read_floats("/sensitivity/run1/empty", &shape).empty());
  EXPECT_EQ(shape, (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(r.read_floats("/search/run1/bits", &shape), (std::vector<float>{1, 2}));
  EXPECT_EQ(shape, std::vector<int64_t>{2});
  expect_error<InputError>([&] { r.read_int64s("/search/run1/bits"); },
                           {path, "does not hold integers"});
  EXPECT_EQ(r.number_attribute("/sensitivity/run1", "budget_bits"), 3.25);
  EXPECT_EQ(r.number_attribute("/sensitivity/run1", "metric"), 42.0);
  EXPECT_EQ(r.number_attribute("/sensitivity/run1/curve", "points"), 6.0);
  EXPECT_EQ(r.string_attribute("/search/new/group", "note"), "created by set_attribute");
  EXPECT_EQ(r.string_attribute("/search/new/group", "absent"), std::nullopt);
  EXPECT_EQ(r.string_attribute("/absent", "note"), std::nullopt);
  EXPECT_EQ(r.number_attribute("/absent", "x"), std::nullopt);
  expect_error<InputError>([&] { r.string_attribute("/sensitivity/run1", "budget_bits"); },
                           {path, "is not a string"});
  EXPECT_TRUE(r.exists("/"));
  EXPECT_TRUE(r.exists("/sensitivity/run1/curve"));
  EXPECT_FALSE(r.exists("/to/remove"));
  EXPECT_FALSE(r.exists("/sensitivity/run1/curve/deeper"));
  EXPECT_EQ(r.children("/"), (std::vector<std::string>{"search", "sensitivity", "to"}));
  EXPECT_EQ(r.children("/sensitivity/run1"), (std::vector<std::string>{"big", "curve", "empty"}));

  auto w = ProjectWriter::update(path);
  w.write_int64s("/search/run1/bits", bits, {6});
  w.commit();
  auto r2 = ProjectReader::open(path);
  EXPECT_EQ(r2.read_int64s("/search/run1/bits", &shape), bits);
  EXPECT_EQ(shape, std::vector<int64_t>{6});
}

TEST(ProjectTest, ReadsAProjectWrittenByH5py) {
  REQUIRE_HDF5();
  // tests/fixtures/project/make_fixtures.py wrote it from the schema in docs/project-format.md.
  std::string path = std::string(BITSCAPE_FIXTURE_DIR) + "/project/h5py_project.bsproj.h5";
  auto r = ProjectReader::open(path);
  ProjectModelInfo m = r.model();
  EXPECT_EQ(m.path, "models/tiny");
  EXPECT_EQ(m.other_params, 1234);
  ASSERT_EQ(m.modules.size(), 2u);
  EXPECT_EQ(m.modules[1].name, "model.layers.0.mlp.down_proj");
  EXPECT_EQ(m.modules[1].out_features, 4);
  EXPECT_EQ(m.modules[1].in_features, 6);
  CalibrationSettings c = r.calibration();
  EXPECT_EQ(c.seed, UINT64_MAX - 4);
  EXPECT_EQ(c.window_starts, (std::vector<int64_t>{0, 8}));
  EXPECT_EQ(c.seconds, 1.5);
  EXPECT_EQ(r.calibrated_modules(), (std::vector<std::string>{"model.layers.0.mlp.up_proj",
                                                              "model.layers.0.mlp.down_proj"}));
  HessianData h = r.hessian("model.layers.0.mlp.up_proj");
  EXPECT_EQ(h.modules, std::vector<std::string>{"model.layers.0.mlp.up_proj"});
  ASSERT_EQ(h.n, 4);
  std::vector<float> H = h.full();
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 4; ++j)
      EXPECT_EQ(H[static_cast<size_t>(i * 4 + j)], 1 + i + j + (i == j ? 10 : 0));
  ModuleStatistics s = r.module_statistics("model.layers.0.mlp.down_proj");
  EXPECT_EQ(s.act_l2, (std::vector<float>{0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f}));
  EXPECT_EQ(s.out_mean, (std::vector<float>{0, -1, -2, -3}));
  EXPECT_TRUE(s.act_abs_mean.empty());
  EXPECT_EQ(s.weight_kurtosis, 3.0);
}

TEST(ProjectTest, UpdatingAnH5pyProjectAppendsToItsFixedSizeModuleOrder) {
  REQUIRE_HDF5();
  std::string path = scratch_dir() + "/copy.bsproj.h5";
  fs::copy_file(std::string(BITSCAPE_FIXTURE_DIR) + "/project/h5py_project.bsproj.h5", path);
  {
    auto w = ProjectWriter::update(path);
    w.write_module_statistics(make_statistics("model.layers.1.mlp.up_proj", 6, 4));
    w.commit();
  }
  auto r = ProjectReader::open(path);
  EXPECT_EQ(r.calibrated_modules(),
            (std::vector<std::string>{"model.layers.0.mlp.up_proj", "model.layers.0.mlp.down_proj",
                                      "model.layers.1.mlp.up_proj"}));
  EXPECT_EQ(r.module_statistics("model.layers.1.mlp.up_proj").act_l2, ramp(4, 3.0f));
  EXPECT_EQ(r.hessian("model.layers.0.mlp.up_proj").n, 4);
}

TEST(ProjectTest, ReportsWhetherSupportIsBuiltIn) {
  if (bitscape::project_support_available()) {
    SUCCEED();
    return;
  }
  std::string path = scratch_dir() + "/p.bsproj.h5";
  expect_error<InputError>([&] { ProjectWriter::create(path); }, {path, "no HDF5 support"});
  expect_error<InputError>([&] { ProjectReader::open(path); }, {path, "no HDF5 support"});
}

TEST(ProjectTest, StringDatasetsHoldLongUtf8Text) {
  REQUIRE_HDF5();
  std::string path = scratch_dir() + "/p.bsproj.h5";
  // Longer than an HDF5 attribute may be (64 KiB), with multi-byte characters and newlines.
  std::string long_text;
  for (int i = 0; i < 20000; ++i) long_text += "bits \xc3\xa9t\xc3\xa9 " + std::to_string(i) + "\n";
  ASSERT_GT(long_text.size(), 200000u);
  {
    auto w = ProjectWriter::create(path);
    w.write_strings("/edits/a/allocation", {long_text});
    w.write_strings("/edits/b/list", {"one", "", "three"});
    w.write_strings("/edits/b/list", {"replaced"});
    w.commit();
  }
  auto r = ProjectReader::open(path);
  EXPECT_EQ(r.read_strings("/edits/a/allocation"), std::vector<std::string>{long_text});
  EXPECT_EQ(r.read_strings("/edits/b/list"), std::vector<std::string>{"replaced"});
  expect_error<InputError>([&] { r.read_strings("/edits/none"); }, {path, "/edits/none"});
}

TEST(ProjectTest, RunsAreListedOldestFirstThenInNaturalNameOrder) {
  REQUIRE_HDF5();
  std::string path = scratch_dir() + "/p.bsproj.h5";
  {
    auto w = ProjectWriter::create(path);
    // Created in the same second: natural order (run2 before run10); "later" was created after.
    for (const char* run : {"run10", "run2", "run1"})
      w.set_attribute(std::string("/search/") + run, "created", "2026-11-26T10:00:00Z");
    w.set_attribute("/search/later", "created", "2026-11-26T10:00:01Z");
    w.set_attribute("/search/earliest", "created", "2026-11-25T09:00:00Z");
    w.commit();
  }
  auto r = ProjectReader::open(path);
  EXPECT_EQ(bitscape::runs_in_order(r, "/search"),
            (std::vector<std::string>{"earliest", "run1", "run2", "run10", "later"}));
  EXPECT_TRUE(bitscape::runs_in_order(r, "/probing").empty());
}

// Two writers of one project would each rename their copy over the file, and the first one's
// commit would be lost: the second is refused until the first has committed or given up.
TEST(ProjectTest, OneWriterAtATimeAndReadersNeverBlockIt) {
  REQUIRE_HDF5();
  const std::string dir = scratch_dir();
  const std::string path = write_model_only(dir);
  {
    auto reader = ProjectReader::open(path);  // an open reader does not stand in the way
    auto first = ProjectWriter::update(path);
    expect_error<InputError>([&] { ProjectWriter::update(path); }, {path, "being written by another job"});
    expect_error<InputError>([&] { ProjectWriter::create(path); }, {path, "being written by another job"});
    first.set_attribute("/", "note", std::string("first"));
    first.commit();
  }
  {
    auto second = ProjectWriter::update(path);  // free again after the commit
    second.set_attribute("/", "other", std::string("second"));
    second.commit();
  }
  { auto abandoned = ProjectWriter::update(path); }  // and after a writer gives up
  auto r = ProjectReader::open(path);
  EXPECT_EQ(r.string_attribute("/", "note"), "first");
  EXPECT_EQ(r.string_attribute("/", "other"), "second");
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"p.bsproj.h5"});  // no lock file left
}
