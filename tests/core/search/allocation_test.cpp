// Allocation: the `*.alloc.json` format (resolution of default, rules and module entries; short
// names; AutoMixQ's strategy shorthand), validation errors, writing and the round trip.
#include "bitscape/allocation.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "bitscape/error.h"
#include "test_util.h"

namespace {

using bitscape::Allocation;
using bitscape::ChannelAxis;
using bitscape::ChannelClass;
using bitscape::ChannelSelect;
using bitscape::ChannelStatistic;
using bitscape::InputError;
using bitscape::ModuleAllocation;
using bitscape::ModuleShape;
using bitscape::QuantizerKind;
using nlohmann::json;

const char* kPath = "test.alloc.json";

// The sample model's quantizable modules: 6 blocks x 7 projections, hidden 256, intermediate
// 768, 2 KV heads of 64.
std::vector<ModuleShape> sample_shapes() {
  const std::pair<const char*, std::pair<int64_t, int64_t>> kModules[] = {
      {"self_attn.q_proj", {256, 256}}, {"self_attn.k_proj", {128, 256}},
      {"self_attn.v_proj", {128, 256}}, {"self_attn.o_proj", {256, 256}},
      {"mlp.gate_proj", {768, 256}},    {"mlp.up_proj", {768, 256}},
      {"mlp.down_proj", {256, 768}}};
  std::vector<ModuleShape> shapes;
  for (int block = 0; block < 6; ++block)
    for (const auto& [leaf, shape] : kModules)
      shapes.push_back(
          {"model.layers." + std::to_string(block) + "." + leaf, shape.first, shape.second});
  return shapes;
}

Allocation parse(const std::string& text) {
  return Allocation::from_json(json::parse(text), sample_shapes(), kPath);
}

// A document with the header fields and `body` (members after "version").
std::string doc(const std::string& body) {
  return R"({"format": "bitscape-allocation", "version": 1)" +
         (body.empty() ? std::string() : ", " + body) + "}";
}

// Expects from_json(doc) to fail with an InputError for kPath whose one-line message contains
// every needle.
void expect_rejected(const std::string& text, std::initializer_list<std::string> needles) {
  bitscape::test::expect_error<InputError>([&] { parse(text); }, needles);
  try {
    parse(text);
  } catch (const InputError& e) {
    EXPECT_EQ(e.path(), kPath);
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
}

// The complete example of docs/allocation-format.md.
const char* kFullExample = R"({
  "format": "bitscape-allocation",
  "version": 1,
  "name": "cmpq-3.1",
  "model": "sample_data/model",
  "comment": "CMPQ-style 3-bit k-means with 4-bit salient columns; attention in GPTQ 4-bit",
  "default": {
    "bits": 3,
    "quantizer": "kmeans",
    "codebook_axis": "in",
    "channels": {"axis": "in",
                 "classes": [{"bits": 4, "select": "top", "by": "activation", "fraction": 0.1}]},
    "outliers": {"activation_fraction": 0.0045, "quantization_fraction": 0.0005}
  },
  "rules": [
    {"match": "*.self_attn.*", "bits": 4, "quantizer": "gptq", "act_order": true,
     "symmetric": true, "channels": {"classes": []}, "outliers": {"activation_fraction": 0}},
    {"match": "model.layers.5.*", "bits": 4}
  ],
  "modules": {
    "layers.0.mlp.down_proj": {"bits": 16, "channels": {"classes": []}},
    "model.layers.1.mlp.up_proj": {
      "codebook_axis": "out",
      "channels": {"axis": "out", "classes": [{"bits": 8, "strategy": 2, "fraction": 0.05}]}},
    "model.layers.2.mlp.gate_proj": {
      "channels": {"classes": [{"bits": 16, "indices": [0, 7, 42]},
                               {"bits": 4, "select": "top", "fraction": 0.1}]}}
  }
})";

TEST(AllocationTest, FullExampleParses) {
  const Allocation a = parse(kFullExample);
  EXPECT_EQ(a.name, "cmpq-3.1");
  EXPECT_EQ(a.model, "sample_data/model");
  ASSERT_TRUE(a.default_module.has_value());

  // Only the default applies: k-means 3-bit per column, 10% top columns at 4 bits, outliers.
  const ModuleAllocation mlp = a.module("model.layers.3.mlp.up_proj");
  EXPECT_EQ(mlp.bits, 3);
  EXPECT_EQ(mlp.quantizer, QuantizerKind::kKmeans);
  EXPECT_EQ(mlp.codebook_axis, ChannelAxis::kIn);
  ASSERT_EQ(mlp.channels.classes.size(), 1u);
  EXPECT_EQ(mlp.channels.classes[0].bits, 4);
  EXPECT_EQ(mlp.channels.classes[0].select, ChannelSelect::kTop);
  EXPECT_EQ(mlp.channels.classes[0].by, ChannelStatistic::kActivation);
  EXPECT_DOUBLE_EQ(mlp.channels.classes[0].fraction, 0.1);
  EXPECT_DOUBLE_EQ(mlp.outliers.activation_fraction, 0.0045);
  EXPECT_DOUBLE_EQ(mlp.outliers.quantization_fraction, 0.0005);

  // The attention rule: GPTQ 4-bit, no classes, activation outliers off, the rest inherited.
  const ModuleAllocation attn = a.module("model.layers.3.self_attn.k_proj");
  EXPECT_EQ(attn.bits, 4);
  EXPECT_EQ(attn.quantizer, QuantizerKind::kGptq);
  EXPECT_TRUE(attn.act_order);
  EXPECT_TRUE(attn.symmetric);
  EXPECT_TRUE(attn.channels.empty());
  EXPECT_DOUBLE_EQ(attn.outliers.activation_fraction, 0.0);
  EXPECT_DOUBLE_EQ(attn.outliers.quantization_fraction, 0.0005);
  EXPECT_EQ(attn.group_size, 128);

  // Both rules match block 5's attention, in order; block 5's MLP only gets the second.
  EXPECT_EQ(a.module("model.layers.5.self_attn.q_proj").quantizer, QuantizerKind::kGptq);
  EXPECT_EQ(a.module("model.layers.5.mlp.gate_proj").bits, 4);
  EXPECT_EQ(a.module("model.layers.5.mlp.gate_proj").quantizer, QuantizerKind::kKmeans);

  // Module entries, one given by its short name.
  const ModuleAllocation down0 = a.module("model.layers.0.mlp.down_proj");
  EXPECT_EQ(down0.bits, 16);
  EXPECT_TRUE(down0.channels.empty());
  const ModuleAllocation up1 = a.module("model.layers.1.mlp.up_proj");
  EXPECT_EQ(up1.channels.axis, ChannelAxis::kOut);
  EXPECT_EQ(up1.codebook_axis, ChannelAxis::kOut);
  ASSERT_EQ(up1.channels.classes.size(), 1u);
  EXPECT_EQ(up1.channels.classes[0].bits, 8);
  const ModuleAllocation gate2 = a.module("model.layers.2.mlp.gate_proj");
  ASSERT_EQ(gate2.channels.classes.size(), 2u);
  EXPECT_EQ(gate2.channels.axis, ChannelAxis::kIn);  // inherited from the default
  EXPECT_EQ(gate2.channels.classes[0].select, ChannelSelect::kIndices);
  EXPECT_EQ(gate2.channels.classes[0].indices, (std::vector<int64_t>{0, 7, 42}));
  EXPECT_EQ(gate2.channels.classes[1].by, ChannelStatistic::kActivation);  // "by" defaults
}

TEST(AllocationTest, ResolutionOrderIsBuiltInDefaultRulesThenModuleEntry) {
  const Allocation a = parse(doc(R"(
    "default": {"bits": 3, "symmetric": true},
    "rules": [{"match": "*.mlp.*", "bits": 4},
              {"match": "*.down_proj", "group_size": 64}],
    "modules": {"model.layers.0.mlp.down_proj": {"bits": 8}})"));
  const ModuleAllocation down0 = a.module("model.layers.0.mlp.down_proj");
  EXPECT_EQ(down0.bits, 8);
  EXPECT_EQ(down0.group_size, 64);
  EXPECT_TRUE(down0.symmetric);
  const ModuleAllocation down1 = a.module("model.layers.1.mlp.down_proj");
  EXPECT_EQ(down1.bits, 4);
  EXPECT_EQ(down1.group_size, 64);
  const ModuleAllocation up1 = a.module("model.layers.1.mlp.up_proj");
  EXPECT_EQ(up1.bits, 4);
  EXPECT_EQ(up1.group_size, 128);  // built-in default
  const ModuleAllocation q1 = a.module("model.layers.1.self_attn.q_proj");
  EXPECT_EQ(q1.bits, 3);
  EXPECT_TRUE(q1.symmetric);
  EXPECT_EQ(q1.quantizer, QuantizerKind::kRtn);
}

TEST(AllocationTest, LaterRulesOverrideEarlierOnes) {
  const Allocation a = parse(doc(R"(
    "rules": [{"match": "*", "bits": 3}, {"match": "model.layers.?.mlp.gate_proj", "bits": 5}])"));
  EXPECT_EQ(a.module("model.layers.2.mlp.gate_proj").bits, 5);
  EXPECT_EQ(a.module("model.layers.2.mlp.up_proj").bits, 3);
}

TEST(AllocationTest, WithoutDefaultUnmatchedModulesStayFp16) {
  const Allocation a = parse(doc(R"(
    "rules": [{"match": "*.self_attn.*", "bits": 3}],
    "modules": {"model.layers.4.mlp.up_proj": {"bits": 2, "group_size": 64}})"));
  EXPECT_FALSE(a.default_module.has_value());
  EXPECT_EQ(a.module("model.layers.0.mlp.down_proj").bits, 16);
  EXPECT_FALSE(a.module("model.layers.0.mlp.down_proj").quantized());
  // A matched module starts from the built-in defaults.
  EXPECT_EQ(a.module("model.layers.0.self_attn.o_proj").bits, 3);
  EXPECT_EQ(a.module("model.layers.0.self_attn.o_proj").group_size, 128);
  EXPECT_EQ(a.module("model.layers.4.mlp.up_proj").bits, 2);
  EXPECT_EQ(a.module("model.layers.4.mlp.up_proj").group_size, 64);
  EXPECT_EQ(a.modules.size(), 6u * 4 + 1);  // rules and entries are expanded at load
}

TEST(AllocationTest, ShortModuleNamesAreNormalised) {
  const Allocation a = parse(doc(R"(
    "default": {"bits": 4},
    "rules": [{"match": "layers.3.*", "bits": 2, "group_size": 64}],
    "modules": {"layers.0.self_attn.v_proj": {"bits": 8}})"));
  EXPECT_EQ(a.module("model.layers.0.self_attn.v_proj").bits, 8);
  EXPECT_EQ(a.module("layers.0.self_attn.v_proj").bits, 8);
  EXPECT_EQ(a.module("model.layers.3.mlp.down_proj").bits, 2);
  EXPECT_EQ(a.modules.count("model.layers.0.self_attn.v_proj"), 1u);
  EXPECT_EQ(bitscape::normalize_module_name("layers.1.mlp.up_proj"), "model.layers.1.mlp.up_proj");
  EXPECT_EQ(bitscape::normalize_module_name("model.layers.1.mlp.up_proj"),
            "model.layers.1.mlp.up_proj");
}

TEST(AllocationTest, ChannelsAndOutliersInheritFieldByField) {
  const Allocation a = parse(doc(R"(
    "default": {"bits": 3, "outliers": {"activation_fraction": 0.0045},
                "channels": {"axis": "out",
                             "classes": [{"bits": 4, "select": "low", "by": "weight",
                                          "fraction": 0.2}]}},
    "modules": {"model.layers.0.mlp.up_proj": {
                  "outliers": {"quantization_fraction": 0.0005},
                  "channels": {"axis": "in"}}})"));
  const ModuleAllocation m = a.module("model.layers.0.mlp.up_proj");
  EXPECT_DOUBLE_EQ(m.outliers.activation_fraction, 0.0045);
  EXPECT_DOUBLE_EQ(m.outliers.quantization_fraction, 0.0005);
  EXPECT_EQ(m.channels.axis, ChannelAxis::kIn);
  ASSERT_EQ(m.channels.classes.size(), 1u);
  EXPECT_EQ(m.channels.classes[0].select, ChannelSelect::kLow);
  EXPECT_EQ(m.channels.classes[0].by, ChannelStatistic::kWeight);
}

TEST(AllocationTest, AutoMixQStrategiesExpandToSelectAndStatistic) {
  const Allocation a = parse(doc(R"(
    "default": {"bits": 3, "channels": {"axis": "out", "classes": [
      {"bits": 8, "strategy": 1, "fraction": 0.01}, {"bits": 8, "strategy": 2, "fraction": 0.01},
      {"bits": 8, "strategy": 3, "fraction": 0.01}, {"bits": 8, "strategy": 4, "fraction": 0.01}
    ]}})"));
  const auto& c = a.module("model.layers.0.mlp.up_proj").channels.classes;
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0].select, ChannelSelect::kTopAndLow);
  EXPECT_EQ(c[0].by, ChannelStatistic::kActivation);
  EXPECT_EQ(c[1].select, ChannelSelect::kTop);
  EXPECT_EQ(c[1].by, ChannelStatistic::kActivation);
  EXPECT_EQ(c[2].select, ChannelSelect::kTopAndLow);
  EXPECT_EQ(c[2].by, ChannelStatistic::kWeight);
  EXPECT_EQ(c[3].select, ChannelSelect::kTop);
  EXPECT_EQ(c[3].by, ChannelStatistic::kWeight);
  for (const ChannelClass& k : c) EXPECT_DOUBLE_EQ(k.fraction, 0.01);
}

// --- errors -------------------------------------------------------------------------------------

TEST(AllocationTest, RejectsUnknownModule) {
  expect_rejected(doc(R"("modules": {"model.layers.9.mlp.down_proj": {"bits": 3}})"),
                  {"unknown module", "model.layers.9.mlp.down_proj", "6 blocks", "42 modules"});
  expect_rejected(doc(R"("modules": {"model.layers.0.mlp.dwn_proj": {"bits": 3}})"),
                  {"model.layers.0.mlp.dwn_proj", "6 blocks"});
}

TEST(AllocationTest, RejectsRuleMatchingNoModule) {
  expect_rejected(doc(R"("rules": [{"match": "*.mlp.down_prj", "bits": 3}])"),
                  {"rules[0]", "*.mlp.down_prj", "matches no module", "field 'match'"});
}

TEST(AllocationTest, RejectsUnknownFieldsAnywhere) {
  expect_rejected(doc(R"("modules": {"model.layers.0.mlp.down_proj": {"bitz": 3}})"),
                  {"module model.layers.0.mlp.down_proj", "unknown field 'bitz'"});
  expect_rejected(doc(R"("default": {"group": 64})"), {"default", "unknown field 'group'"});
  expect_rejected(doc(R"("rules": [{"match": "*", "quantiser": "gptq"}])"),
                  {"rules[0]", "unknown field 'quantiser'"});
  expect_rejected(doc(R"("modulez": {})"), {"unknown field 'modulez'"});
  expect_rejected(doc(R"("default": {"outliers": {"activation": 0.01}})"),
                  {"default", "unknown field 'outliers.activation'"});
  expect_rejected(doc(R"("default": {"channels": {"classes": [
                {"bits": 4, "fraction": 0.1, "selct": "top"}]}})"),
                  {"default", "unknown field 'channels.classes[0].selct'"});
}

TEST(AllocationTest, RejectsBitsOutOfRange) {
  expect_rejected(doc(R"("modules": {"model.layers.0.mlp.down_proj": {"bits": 9}})"),
                  {"module model.layers.0.mlp.down_proj", "bits 9", "field 'bits'"});
  expect_rejected(doc(R"("modules": {"model.layers.0.mlp.down_proj": {"bits": 1}})"),
                  {"module model.layers.0.mlp.down_proj", "bits 1", "field 'bits'"});
  expect_rejected(doc(R"("modules": {"model.layers.0.mlp.down_proj": {"bits": "4"}})"),
                  {"module model.layers.0.mlp.down_proj", "expected an integer", "field 'bits'"});
}

TEST(AllocationTest, RejectsGroupSizeThatDoesNotDivideInFeatures) {
  // gate_proj has in_features 256; down_proj (768) would accept 96.
  expect_rejected(doc(R"("modules": {"model.layers.0.mlp.gate_proj": {"group_size": 96}})"),
                  {"module model.layers.0.mlp.gate_proj",
                   "group_size 96 does not divide in_features 256", "field 'group_size'"});
  EXPECT_NO_THROW(parse(doc(R"("modules": {"model.layers.0.mlp.down_proj": {"group_size": 96}})")));
  expect_rejected(doc(R"("modules": {"model.layers.0.mlp.gate_proj": {"group_size": 0}})"),
                  {"module model.layers.0.mlp.gate_proj", "group_size 0", "field 'group_size'"});
}

TEST(AllocationTest, RejectsFractionOutsideUnitInterval) {
  expect_rejected(doc(R"("modules": {"model.layers.0.mlp.up_proj": {"channels": {"classes": [
                        {"bits": 4, "select": "top", "fraction": 1.5}]}}})"),
                  {"module model.layers.0.mlp.up_proj", "fraction 1.5 outside [0, 1]",
                   "field 'channels.classes[0].fraction'"});
  expect_rejected(
      doc(R"("modules": {"model.layers.0.mlp.up_proj": {"outliers": {"activation_fraction": 1}}})"),
      {"module model.layers.0.mlp.up_proj", "outside [0, 1)",
       "field 'outliers.activation_fraction'"});
  expect_rejected(doc(R"("modules": {"model.layers.0.mlp.up_proj": {"damp": -0.1}})"),
                  {"module model.layers.0.mlp.up_proj", "damp -0.1", "field 'damp'"});
}

TEST(AllocationTest, RejectsChannelIndexOutOfRangeOrRepeated) {
  // Axis in of gate_proj [768, 256]: indices 0..255; axis out: 0..767.
  expect_rejected(doc(R"("modules": {"model.layers.0.mlp.gate_proj": {"channels": {"classes": [
                        {"bits": 16, "indices": [3, 256]}]}}})"),
                  {"module model.layers.0.mlp.gate_proj", "index 256 out of range [0, 256)",
                   "field 'channels.classes[0].indices'"});
  EXPECT_NO_THROW(parse(doc(R"("modules": {"model.layers.0.mlp.gate_proj": {"channels": {
                        "axis": "out", "classes": [{"bits": 16, "indices": [3, 700]}]}}})")));
  expect_rejected(doc(R"("modules": {"model.layers.0.mlp.gate_proj": {"channels": {"classes": [
                        {"bits": 16, "indices": [-1]}]}}})"),
                  {"index -1 out of range", "field 'channels.classes[0].indices'"});
  expect_rejected(doc(R"("modules": {"model.layers.0.mlp.gate_proj": {"channels": {"classes": [
                        {"bits": 16, "indices": [5, 6, 5]}]}}})"),
                  {"module model.layers.0.mlp.gate_proj", "index 5 repeated",
                   "field 'channels.classes[0].indices'"});
  expect_rejected(
      doc(R"("modules": {"model.layers.0.mlp.gate_proj": {"channels": {"classes": [
                        {"bits": 16, "indices": [5]}, {"bits": 8, "indices": [5]}]}}})"),
      {"index 5 repeated (also in channels.classes[0])", "field 'channels.classes[1].indices'"});
}

TEST(AllocationTest, RejectsOptionsTheQuantizerDoesNotHave) {
  expect_rejected(doc(R"("modules": {"model.layers.0.mlp.up_proj": {"act_order": true}})"),
                  {"module model.layers.0.mlp.up_proj", "act_order needs quantizer gptq, not rtn",
                   "field 'act_order'"});
  expect_rejected(doc(R"("modules": {"model.layers.0.mlp.up_proj":
                        {"quantizer": "awq", "static_groups": true}})"),
                  {"static_groups needs quantizer gptq, not awq", "field 'static_groups'"});
  expect_rejected(doc(R"("modules": {"model.layers.0.mlp.up_proj":
                        {"quantizer": "hqq", "symmetric": true}})"),
                  {"module model.layers.0.mlp.up_proj",
                   "symmetric is not supported by quantizer hqq", "field 'symmetric'"});
  expect_rejected(doc(R"("modules": {"model.layers.0.mlp.up_proj":
                        {"quantizer": "kmeans", "symmetric": true}})"),
                  {"quantizer kmeans", "field 'symmetric'"});
  expect_rejected(doc(R"("modules": {"model.layers.0.mlp.up_proj":
                        {"quantizer": "hqq", "clip_search": true}})"),
                  {"clip_search is not supported by quantizer hqq", "field 'clip_search'"});
  expect_rejected(
      doc(R"("modules": {"model.layers.0.mlp.up_proj": {"quantizer": "gtpq"}})"),
      {"module model.layers.0.mlp.up_proj", "unknown quantizer 'gtpq'", "field 'quantizer'"});
  EXPECT_NO_THROW(parse(doc(R"("modules": {"model.layers.0.mlp.up_proj":
                        {"quantizer": "gptq", "act_order": true, "static_groups": true,
                         "symmetric": true, "clip_search": true}})")));
}

TEST(AllocationTest, RejectsKmeansClassesAcrossTheCodebookAxis) {
  expect_rejected(doc(R"("modules": {"model.layers.0.mlp.up_proj": {
                        "quantizer": "kmeans", "codebook_axis": "out",
                        "channels": {"axis": "in", "classes": [
                          {"bits": 4, "select": "top", "fraction": 0.1}]}}})"),
                  {"module model.layers.0.mlp.up_proj", "classes on axis in but codebook_axis out",
                   "field 'channels.axis'"});
}

TEST(AllocationTest, RejectsMalformedClasses) {
  expect_rejected(doc(R"("default": {"channels": {"classes": [{"bits": 4, "fraction": 0.1}]}})"),
                  {"default", "needs 'select'", "field 'channels.classes[0]'"});
  expect_rejected(
      doc(R"("default": {"channels": {"classes": [{"bits": 4, "strategy": 5, "fraction": 0.1}]}})"),
      {"default", "unknown strategy 5", "field 'channels.classes[0].strategy'"});
  expect_rejected(doc(R"("default": {"channels": {"classes": [
                {"bits": 4, "indices": [1], "fraction": 0.1}]}})"),
                  {"default", "field 'channels.classes[0]'"});
  expect_rejected(
      doc(R"("default": {"channels": {"classes": [{"select": "top", "fraction": 0.1}]}})"),
      {"default", "field 'channels.classes[0].bits'"});
  expect_rejected(doc(R"("default": {"channels": {"classes": [{"bits": 1, "indices": []}]}})"),
                  {"class bits 1", "field 'channels.classes[0].bits'"});
}

TEST(AllocationTest, RejectsWrongFormatAndNewerVersion) {
  expect_rejected(R"({"format": "gptq-config", "version": 1})",
                  {"not a Bitscape allocation", "gptq-config", "field 'format'"});
  expect_rejected(R"({"version": 1})", {"field 'format'", "missing"});
  expect_rejected(R"({"format": "bitscape-allocation", "version": 2})",
                  {"version 2 is newer", "field 'version'"});
  expect_rejected(R"({"format": "bitscape-allocation"})", {"field 'version'", "missing"});
  expect_rejected(R"([1, 2])", {"expected a JSON object"});
}

TEST(AllocationTest, LoadReportsMalformedJsonWithItsPosition) {
  const std::string dir = bitscape::test::scratch_dir();
  const std::string path = dir + "/broken.alloc.json";
  bitscape::test::write_file(path, "{\"format\": \"bitscape-allocation\",\n  \"version\": 1,\n}\n");
  bitscape::test::expect_error<InputError>([&] { Allocation::load(path, sample_shapes()); },
                                           {path, "malformed JSON", "line 3, column 1"});
  bitscape::test::expect_error<InputError>(
      [&] { Allocation::load(dir + "/missing.alloc.json", sample_shapes()); },
      {dir + "/missing.alloc.json", "cannot open allocation file: no such file"});
  bitscape::test::write_file(path,
                             doc(R"("modules": {"model.layers.0.mlp.up_proj": {"bits": 9}})"));
  bitscape::test::expect_error<InputError>([&] { Allocation::load(path, sample_shapes()); },
                                           {path, "module model.layers.0.mlp.up_proj", "bits 9"});
}

// --- writing ------------------------------------------------------------------------------------

// An allocation that uses every field: default, rules, every class form, outliers, fp16 modules.
Allocation rich_allocation() {
  return parse(doc(R"(
    "name": "rich", "model": "sample", "comment": "every field",
    "default": {"bits": 3, "group_size": 64, "quantizer": "gptq", "act_order": true,
                "damp": 0.05, "symmetric": true, "clip_search": true,
                "outliers": {"activation_fraction": 0.0045, "quantization_fraction": 0.0005}},
    "rules": [
      {"match": "*.mlp.down_proj", "quantizer": "kmeans", "codebook_axis": "in", "symmetric": false,
       "act_order": false, "clip_search": false, "channels": {"axis": "in", "classes": [
         {"bits": 16, "indices": [1, 2, 3]},
         {"bits": 4, "select": "top", "by": "activation", "fraction": 0.25},
         {"bits": 2, "select": "low", "by": "weight", "fraction": 0.125}]}},
      {"match": "*.self_attn.o_proj", "quantizer": "hqq", "symmetric": false, "act_order": false,
       "clip_search": false, "channels": {"axis": "out", "classes": [
         {"bits": 8, "strategy": 3, "fraction": 0.03}]}},
      {"match": "model.layers.5.*", "bits": 16}
    ],
    "modules": {"model.layers.2.self_attn.k_proj": {"group_size": -1, "static_groups": true}})"));
}

TEST(AllocationTest, RoundTripReproducesEveryModule) {
  const auto shapes = sample_shapes();
  const Allocation a = rich_allocation();
  const json j = a.to_json(shapes);
  const Allocation b = Allocation::from_json(j, shapes, kPath);
  for (const ModuleShape& s : shapes) EXPECT_EQ(a.module(s.name), b.module(s.name)) << s.name;
  EXPECT_EQ(b.name, "rich");
  EXPECT_EQ(b.model, "sample");
  EXPECT_EQ(b.comment, "every field");

  // Also through text, as save() writes it.
  const Allocation c = Allocation::from_json(json::parse(j.dump(2)), shapes, kPath);
  for (const ModuleShape& s : shapes) EXPECT_EQ(a.module(s.name), c.module(s.name)) << s.name;

  // A uniform allocation and one with unlisted fp16 modules round-trip too.
  ModuleAllocation m;
  m.bits = 2;
  m.outliers.quantization_fraction = 0.001;
  const Allocation u = Allocation::uniform(shapes, m);
  const Allocation u2 = Allocation::from_json(u.to_json(shapes), shapes, kPath);
  for (const ModuleShape& s : shapes) EXPECT_EQ(u2.module(s.name), m) << s.name;
}

TEST(AllocationTest, ToJsonWritesEveryModuleExplicitly) {
  const auto shapes = sample_shapes();
  const json j = rich_allocation().to_json(shapes);
  EXPECT_EQ(j.at("format"), "bitscape-allocation");
  EXPECT_EQ(j.at("version"), 1);
  EXPECT_FALSE(j.contains("default"));
  EXPECT_FALSE(j.contains("rules"));
  ASSERT_EQ(j.at("modules").size(), shapes.size());

  // fp16 modules are just their bits.
  EXPECT_EQ(j.at("modules").at("model.layers.5.mlp.up_proj"), json({{"bits", 16}}));
  // bits, group_size and quantizer always; other fields only where they differ from the
  // built-in defaults.
  const json& k2 = j.at("modules").at("model.layers.2.self_attn.k_proj");
  EXPECT_EQ(k2.at("bits"), 3);
  EXPECT_EQ(k2.at("group_size"), -1);
  EXPECT_EQ(k2.at("quantizer"), "gptq");
  EXPECT_EQ(k2.at("static_groups"), true);
  EXPECT_FALSE(k2.contains("channels"));
  const json& o1 = j.at("modules").at("model.layers.1.self_attn.o_proj");
  EXPECT_FALSE(o1.contains("symmetric"));
  EXPECT_FALSE(o1.contains("act_order"));
  // Strategy shorthand and index lists are written in their explicit forms.
  EXPECT_EQ(o1.at("channels"), json::parse(R"({"axis": "out", "classes": [
                {"bits": 8, "select": "top_and_low", "by": "weight", "fraction": 0.03}]})"));
  const json& d0 = j.at("modules").at("model.layers.0.mlp.down_proj");
  EXPECT_EQ(d0.at("channels").at("classes")[0],
            json::parse(R"({"bits": 16, "indices": [1, 2, 3]})"));
  EXPECT_EQ(d0.at("outliers"), json::parse(R"({"activation_fraction": 0.0045,
                                                "quantization_fraction": 0.0005})"));
}

TEST(AllocationTest, SaveWritesAtomicallyAndLoadsBack) {
  const auto shapes = sample_shapes();
  const std::string dir = bitscape::test::scratch_dir();
  const std::string path = dir + "/rich.alloc.json";
  const Allocation a = rich_allocation();
  a.save(path, shapes);
  const std::string text = bitscape::test::read_file(path);
  EXPECT_EQ(text.rfind("{\n  \"format\": \"bitscape-allocation\"", 0), 0u) << text.substr(0, 80);
  EXPECT_EQ(text.back(), '\n');
  // Modules in the model's order (not sorted by name), bits first.
  EXPECT_LT(text.find("\"model.layers.0.self_attn.q_proj\""),
            text.find("\"model.layers.0.mlp.down_proj\""));
  EXPECT_NE(text.find("\"model.layers.5.mlp.up_proj\": {\n      \"bits\": 16\n    }"),
            std::string::npos);
  // Nothing but the file is left in the directory.
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1);
  const Allocation b = Allocation::load(path, shapes);
  for (const ModuleShape& s : shapes) EXPECT_EQ(a.module(s.name), b.module(s.name)) << s.name;

  // An invalid allocation is refused before anything is written: the old file stays.
  Allocation bad = a;
  bad.modules["model.layers.0.mlp.up_proj"].bits = 9;
  bitscape::test::expect_error<InputError>([&] { bad.save(path, shapes); },
                                           {path, "module model.layers.0.mlp.up_proj", "bits 9"});
  EXPECT_EQ(bitscape::test::read_file(path), text);
}

// --- the rest of the API ------------------------------------------------------------------------

TEST(AllocationTest, QuantizerNamesRoundTrip) {
  for (QuantizerKind k : {QuantizerKind::kRtn, QuantizerKind::kGptq, QuantizerKind::kHqq,
                          QuantizerKind::kAwq, QuantizerKind::kKmeans})
    EXPECT_EQ(bitscape::parse_quantizer(bitscape::quantizer_name(k)), k);
  EXPECT_EQ(bitscape::quantizer_name(QuantizerKind::kKmeans), "kmeans");
  EXPECT_FALSE(bitscape::parse_quantizer("GPTQ").has_value());
  EXPECT_FALSE(bitscape::parse_quantizer("").has_value());
}

TEST(AllocationTest, CalibrationNeeds) {
  using bitscape::module_needs_calibration;
  using bitscape::quantizer_needs_calibration;
  EXPECT_FALSE(quantizer_needs_calibration(QuantizerKind::kRtn));
  EXPECT_FALSE(quantizer_needs_calibration(QuantizerKind::kHqq));
  EXPECT_TRUE(quantizer_needs_calibration(QuantizerKind::kGptq));
  EXPECT_TRUE(quantizer_needs_calibration(QuantizerKind::kAwq));
  EXPECT_TRUE(quantizer_needs_calibration(QuantizerKind::kKmeans));

  ModuleAllocation m;  // rtn
  EXPECT_FALSE(module_needs_calibration(m));
  m.channels.classes.push_back({8, ChannelSelect::kTop, ChannelStatistic::kWeight, 0.1, {}});
  EXPECT_FALSE(module_needs_calibration(m));
  m.channels.classes.push_back({8, ChannelSelect::kIndices, ChannelStatistic::kActivation, 0, {1}});
  EXPECT_FALSE(module_needs_calibration(m));  // an index list needs no statistic
  m.channels.classes.push_back({8, ChannelSelect::kLow, ChannelStatistic::kActivation, 0.1, {}});
  EXPECT_TRUE(module_needs_calibration(m));
  ModuleAllocation outliers;
  outliers.outliers.activation_fraction = 0.0045;
  EXPECT_TRUE(module_needs_calibration(outliers));
  ModuleAllocation gptq;
  gptq.quantizer = QuantizerKind::kGptq;
  EXPECT_TRUE(module_needs_calibration(gptq));
  gptq.bits = bitscape::kUnquantizedBits;  // nothing is quantized
  EXPECT_FALSE(module_needs_calibration(gptq));
}

TEST(AllocationTest, UniformAndModuleLookup) {
  const auto shapes = sample_shapes();
  ModuleAllocation m;
  m.bits = 3;
  const Allocation a = Allocation::uniform(shapes, m);
  EXPECT_EQ(a.modules.size(), shapes.size());
  EXPECT_FALSE(a.default_module.has_value());
  EXPECT_EQ(a.module("model.layers.4.mlp.gate_proj"), m);
  EXPECT_EQ(a.module("layers.4.mlp.gate_proj"), m);
  EXPECT_EQ(a.module("lm_head").bits, 16);  // not listed, no default: fp16

  Allocation d;
  d.default_module = m;
  EXPECT_EQ(d.module("model.layers.0.mlp.up_proj"), m);
  EXPECT_NO_THROW(a.validate(shapes, kPath));
  Allocation extra = a;
  extra.modules["model.layers.6.mlp.up_proj"] = m;
  bitscape::test::expect_error<InputError>(
      [&] { extra.validate(shapes, kPath); },
      {"unknown module 'model.layers.6.mlp.up_proj'", "6 blocks and 42 modules"});
}

TEST(AllocationTest, EqualityComparesEveryFieldIncludingClasses) {
  ModuleAllocation a;
  a.channels.classes.push_back({4, ChannelSelect::kTop, ChannelStatistic::kActivation, 0.1, {}});
  ModuleAllocation b = a;
  EXPECT_EQ(a, b);
  b.channels.classes[0].fraction = 0.2;
  EXPECT_NE(a, b);
  b = a;
  b.channels.classes[0].by = ChannelStatistic::kWeight;
  EXPECT_NE(a, b);
  b = a;
  b.channels.axis = ChannelAxis::kOut;
  EXPECT_NE(a, b);
  b = a;
  b.outliers.quantization_fraction = 0.0005;
  EXPECT_NE(a, b);
  b = a;
  b.damp = 0.1;
  EXPECT_NE(a, b);
  b = a;
  b.codebook_axis = ChannelAxis::kIn;
  EXPECT_NE(a, b);
  b = a;
  b.channels.classes.push_back(a.channels.classes[0]);
  EXPECT_NE(a, b);
  // Index classes compare by their indices.
  ModuleAllocation c;
  c.channels.classes.push_back(
      {16, ChannelSelect::kIndices, ChannelStatistic::kActivation, 0, {1, 2}});
  ModuleAllocation e = c;
  e.channels.classes[0].indices = {1, 3};
  EXPECT_NE(c, e);
}

}  // namespace
