#include "bitscape/safetensors.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "bitscape/error.h"
#include "test_util.h"

using bitscape::Checkpoint;
using bitscape::InputError;
using bitscape::SafetensorsFile;
using bitscape::test::expect_error;
using bitscape::test::read_file;
using bitscape::test::scratch_dir;
using bitscape::test::write_file;

namespace {

// A safetensors file from a header object and a raw data block.
std::string raw_file(const nlohmann::json& header, const std::string& data) {
  std::string h = header.dump();
  std::string out(8, '\0');
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + h + data;
}

std::string write_raw(const std::string& dir, const nlohmann::json& header, const std::string& data) {
  std::string p = dir + "/bad.safetensors";
  write_file(p, raw_file(header, data));
  return p;
}

}  // namespace

TEST(SafetensorsTest, ReadsEveryDtypeWrittenByTheReferenceLibrary) {
  std::string dir = std::string(BITSCAPE_FIXTURE_DIR) + "/safetensors";
  auto f = SafetensorsFile::open(dir + "/reference.safetensors");
  auto ref = nlohmann::json::parse(read_file(dir + "/reference.json"));
  ASSERT_EQ(f->entries().size(), ref.size());
  EXPECT_EQ(f->metadata().at("note"), "fixture");
  for (auto it = ref.begin(); it != ref.end(); ++it) {
    SCOPED_TRACE(it.key());
    at::Tensor t = f->tensor(it.key());
    EXPECT_EQ(t.sizes().vec(), it.value()["shape"].get<std::vector<int64_t>>());
    auto values = it.value()["values"].get<std::vector<double>>();
    at::Tensor flat = t.to(at::kDouble).flatten();
    ASSERT_EQ(flat.numel(), static_cast<int64_t>(values.size()));
    for (size_t i = 0; i < values.size(); ++i)
      EXPECT_EQ(flat[static_cast<int64_t>(i)].item<double>(), values[i]);
  }
}

TEST(SafetensorsTest, WriterRoundTripsAllDtypesAndMetadata) {
  std::string dir = scratch_dir();
  std::vector<std::pair<std::string, at::Tensor>> ts = {
      {"a", at::randn({7, 3})},
      {"b", at::randn({5}).to(at::kHalf)},
      {"c", at::randn({2, 2, 2}).to(at::kBFloat16)},
      {"d", at::arange(10, at::kLong)},
      {"e", at::randint(-100, 100, {6}).to(at::kChar)},
      {"f", at::randn({4, 6}).t()},  // non-contiguous input
  };
  std::string p = dir + "/m.safetensors";
  bitscape::write_safetensors(p, ts, {{"format", "pt"}});
  auto f = SafetensorsFile::open(p);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  for (const auto& [name, t] : ts) {
    SCOPED_TRACE(name);
    at::Tensor r = f->tensor(name);
    EXPECT_EQ(r.scalar_type(), t.scalar_type());
    EXPECT_TRUE(at::equal(r, t.contiguous()));
  }
  // The header is padded to 8 bytes so that the data is aligned.
  std::string bytes = read_file(p);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  // No temporary file is left behind.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST(SafetensorsTest, WriterFailureLeavesExistingFileUntouched) {
  std::string dir = scratch_dir();
  expect_error<InputError>(
      [&] { bitscape::write_safetensors(dir + "/no/such/dir/x.safetensors", {{"a", at::ones({2})}}); },
      {"no/such/dir/x.safetensors"});
  // A file that exists keeps its content when the new content cannot be produced.
  std::string p = dir + "/keep.safetensors";
  bitscape::write_safetensors(p, {{"a", at::ones({2})}});
  std::string before = read_file(p);
  EXPECT_THROW(bitscape::write_safetensors(p, {{"a", at::ones({2})}, {"a", at::ones({3})}}),
               std::invalid_argument);
  EXPECT_EQ(read_file(p), before);
}

TEST(SafetensorsTest, RejectsMissingFile) {
  expect_error<InputError>([] { SafetensorsFile::open("/nonexistent/model.safetensors"); },
                           {"/nonexistent/model.safetensors", "cannot open"});
}

TEST(SafetensorsTest, RejectsFileShorterThanHeaderLength) {
  std::string p = scratch_dir() + "/t.safetensors";
  write_file(p, "abc");
  expect_error<InputError>([&] { SafetensorsFile::open(p); }, {p, "truncated"});
}

TEST(SafetensorsTest, RejectsHeaderLengthBeyondFile) {
  std::string p = scratch_dir() + "/t.safetensors";
  std::string bytes(8, '\0');
  bytes[0] = static_cast<char>(200);
  write_file(p, bytes + "{}");
  expect_error<InputError>([&] { SafetensorsFile::open(p); }, {p, "exceeds the file size"});
}

TEST(SafetensorsTest, RejectsHeaderThatIsNotJson) {
  std::string p = scratch_dir() + "/t.safetensors";
  std::string h = "{not json";
  std::string bytes(8, '\0');
  bytes[0] = static_cast<char>(h.size());
  write_file(p, bytes + h);
  expect_error<InputError>([&] { SafetensorsFile::open(p); }, {p, "malformed JSON"});
}

TEST(SafetensorsTest, RejectsOffsetsBeyondDataBlock) {
  nlohmann::json h = {{"w", {{"dtype", "F32"}, {"shape", {4}}, {"data_offsets", {0, 16}}}}};
  std::string p = write_raw(scratch_dir(), h, std::string(8, '\0'));  // truncated data
  expect_error<InputError>([&] { SafetensorsFile::open(p); }, {p, "'w'", "beyond the data block"});
}

TEST(SafetensorsTest, RejectsOverlappingOffsets) {
  nlohmann::json h = {{"a", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {0, 8}}}},
                      {"b", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {4, 12}}}}};
  std::string p = write_raw(scratch_dir(), h, std::string(12, '\0'));
  expect_error<InputError>([&] { SafetensorsFile::open(p); }, {p, "overlapping", "'a'", "'b'"});
}

TEST(SafetensorsTest, RejectsShapeThatDisagreesWithByteSize) {
  nlohmann::json h = {{"w", {{"dtype", "BF16"}, {"shape", {3, 3}}, {"data_offsets", {0, 16}}}}};
  std::string p = write_raw(scratch_dir(), h, std::string(16, '\0'));
  expect_error<InputError>([&] { SafetensorsFile::open(p); }, {p, "'w'", "needs 18 bytes", "span 16"});
}

TEST(SafetensorsTest, RejectsUnknownDtype) {
  nlohmann::json h = {{"w", {{"dtype", "Q4"}, {"shape", {2}}, {"data_offsets", {0, 2}}}}};
  std::string p = write_raw(scratch_dir(), h, std::string(2, '\0'));
  expect_error<InputError>([&] { SafetensorsFile::open(p); }, {p, "unsupported dtype 'Q4'"});
}

TEST(SafetensorsTest, RejectsEntryWithoutOffsets) {
  nlohmann::json h = {{"w", {{"dtype", "F32"}, {"shape", {2}}}}};
  std::string p = write_raw(scratch_dir(), h, std::string(8, '\0'));
  expect_error<InputError>([&] { SafetensorsFile::open(p); }, {p, "'w'", "data_offsets"});
}

TEST(CheckpointTest, ReadsShardedCheckpointThroughIndex) {
  std::string dir = scratch_dir();
  at::Tensor a = at::randn({3, 4}), b = at::randn({5});
  bitscape::write_safetensors(dir + "/model-00001-of-00002.safetensors", {{"a", a}});
  bitscape::write_safetensors(dir + "/model-00002-of-00002.safetensors", {{"b", b}});
  nlohmann::json index = {{"metadata", {{"total_size", 68}}},
                          {"weight_map", {{"a", "model-00001-of-00002.safetensors"},
                                          {"b", "model-00002-of-00002.safetensors"}}}};
  write_file(dir + "/model.safetensors.index.json", index.dump());
  auto c = Checkpoint::open_dir(dir);
  EXPECT_EQ(c.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(at::equal(c.tensor("a"), a));
  EXPECT_TRUE(at::equal(c.tensor("b"), b));
  EXPECT_EQ(c.info("a").shape, (std::vector<int64_t>{3, 4}));
}

TEST(CheckpointTest, RejectsMissingShard) {
  std::string dir = scratch_dir();
  bitscape::write_safetensors(dir + "/model-00001-of-00002.safetensors", {{"a", at::ones({2})}});
  nlohmann::json index = {{"weight_map", {{"a", "model-00001-of-00002.safetensors"},
                                          {"b", "model-00002-of-00002.safetensors"}}}};
  write_file(dir + "/model.safetensors.index.json", index.dump());
  expect_error<InputError>([&] { Checkpoint::open_dir(dir); },
                           {"model-00002-of-00002.safetensors", "missing shard"});
}

TEST(CheckpointTest, RejectsIndexNamingAbsentTensor) {
  std::string dir = scratch_dir();
  bitscape::write_safetensors(dir + "/s1.safetensors", {{"a", at::ones({2})}});
  nlohmann::json index = {{"weight_map", {{"a", "s1.safetensors"}, {"ghost", "s1.safetensors"}}}};
  write_file(dir + "/model.safetensors.index.json", index.dump());
  expect_error<InputError>([&] { Checkpoint::open_dir(dir); }, {"s1.safetensors", "'ghost'"});
}

TEST(CheckpointTest, RejectsDirectoryWithoutWeights) {
  std::string dir = scratch_dir();
  expect_error<InputError>([&] { Checkpoint::open_dir(dir); }, {dir, "no model.safetensors"});
  expect_error<InputError>([&] { Checkpoint::open_dir(dir + "/missing"); }, {"missing", "cannot open"});
}
