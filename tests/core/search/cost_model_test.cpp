// The cost model pinned to hand-computed storage: uniform grids with and without zero-points,
// per-channel groups, k-means codebooks, channel classes on both axes, fp16 outlier columns,
// sparse outliers, GPTQ's column order, and a whole allocation of the sample model in bytes.
#include "bitscape/cost_model.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace {

using bitscape::Allocation;
using bitscape::ChannelAxis;
using bitscape::ChannelClass;
using bitscape::ChannelSelect;
using bitscape::ChannelStatistic;
using bitscape::ModuleAllocation;
using bitscape::ModuleCost;
using bitscape::ModuleShape;
using bitscape::QuantizerKind;

// down_proj of the sample model: O = 256 rows, I = 768 input columns.
const ModuleShape kDown{"model.layers.0.mlp.down_proj", 256, 768};
const int64_t kDownWeights = 256 * 768;  // 196,608

ModuleAllocation rtn(int bits, int group_size = 128) {
  ModuleAllocation m;
  m.bits = bits;
  m.group_size = group_size;
  return m;
}

ChannelClass fraction_class(int bits, ChannelSelect select, double fraction,
                            ChannelStatistic by = ChannelStatistic::kActivation) {
  ChannelClass c;
  c.bits = bits;
  c.select = select;
  c.by = by;
  c.fraction = fraction;
  return c;
}

ChannelClass index_class(int bits, std::vector<int64_t> indices) {
  ChannelClass c;
  c.bits = bits;
  c.select = ChannelSelect::kIndices;
  c.indices = std::move(indices);
  return c;
}

using Counts = std::vector<std::pair<int, int64_t>>;

TEST(CostModelTest, Uniform3BitG128IsThreePointTwoFiveBits) {
  const ModuleCost c = bitscape::module_cost(kDown, rtn(3));
  EXPECT_EQ(c.weights, kDownWeights);
  EXPECT_EQ(c.code_bits, 3 * kDownWeights);         // 589,824
  EXPECT_EQ(c.scale_bits, 256 * (768 / 128) * 32);  // 6 groups per row, fp16 scale + zero
  EXPECT_EQ(c.fp16_bits + c.codebook_bits + c.sparse_bits + c.index_bits, 0);
  EXPECT_EQ(c.total_bits(), 638976);
  EXPECT_DOUBLE_EQ(c.bits_per_weight(), 3.25);
  EXPECT_DOUBLE_EQ(c.code_bits_per_weight(), 3.0);
  // The same for GPTQ, and for HQQ and AWQ, which always store a zero-point.
  for (QuantizerKind q : {QuantizerKind::kGptq, QuantizerKind::kHqq, QuantizerKind::kAwq}) {
    ModuleAllocation m = rtn(3);
    m.quantizer = q;
    EXPECT_DOUBLE_EQ(bitscape::module_cost(kDown, m).bits_per_weight(), 3.25);
    m.symmetric = true;
    EXPECT_DOUBLE_EQ(bitscape::module_cost(kDown, m).bits_per_weight(),
                     q == QuantizerKind::kGptq ? 3.125 : 3.25);
  }
}

TEST(CostModelTest, Symmetric4BitG128StoresOnlyScales) {
  ModuleAllocation m = rtn(4);
  m.symmetric = true;
  const ModuleCost c = bitscape::module_cost(kDown, m);
  EXPECT_EQ(c.scale_bits, 256 * 6 * 16);
  EXPECT_DOUBLE_EQ(c.bits_per_weight(), 4.125);  // 4 + 16/128
}

TEST(CostModelTest, PerChannel4BitStoresOneGroupPerRow) {
  const ModuleCost c = bitscape::module_cost(kDown, rtn(4, bitscape::kPerChannel));
  EXPECT_EQ(c.scale_bits, 256 * 32);
  EXPECT_DOUBLE_EQ(c.bits_per_weight(), 4.0 + 32.0 / 768.0);
}

TEST(CostModelTest, KmeansStoresOneCodebookPerRowOrColumn) {
  ModuleAllocation m = rtn(2);
  m.quantizer = QuantizerKind::kKmeans;  // SqueezeLLM: per row; group_size is ignored
  ModuleCost c = bitscape::module_cost(kDown, m);
  EXPECT_EQ(c.code_bits, 2 * kDownWeights);
  EXPECT_EQ(c.codebook_bits, 256 * 4 * 16);  // 2^2 fp16 centroids per row
  EXPECT_EQ(c.scale_bits, 0);
  EXPECT_DOUBLE_EQ(c.bits_per_weight(), 2.0 + 4.0 * 16.0 / 768.0);

  m.bits = 3;
  m.codebook_axis = ChannelAxis::kIn;  // CMPQ: per input column
  c = bitscape::module_cost(kDown, m);
  EXPECT_EQ(c.codebook_bits, 768 * 8 * 16);
  EXPECT_DOUBLE_EQ(c.bits_per_weight(), 3.5);  // 3 + 8*16/256
}

TEST(CostModelTest, ClassSplitOnInputColumnsGroupsEachColumnSet) {
  // 25% of the 768 columns at 4 bits (192), the rest at 3 (576), g128:
  //   codes  256 * (192*4 + 576*3)            = 256 * 2496 = 638,976
  //   groups per row: ceil(192/128) = 2 for the 4-bit set, ceil(576/128) = 5 for the 3-bit set
  //   scales 256 rows * 7 groups * 32 bits    = 57,344
  //   class map 8 bits * 768 columns          = 6,144
  //   total                                   = 702,464 bits = 3.5729166... bits per weight
  ModuleAllocation m = rtn(3);
  m.channels.classes.push_back(fraction_class(4, ChannelSelect::kTop, 0.25));
  EXPECT_EQ(bitscape::channel_class_counts(m, kDown), (Counts{{4, 192}, {3, 576}}));
  const ModuleCost c = bitscape::module_cost(kDown, m);
  EXPECT_EQ(c.code_bits, 638976);
  EXPECT_EQ(c.scale_bits, 57344);
  EXPECT_EQ(c.index_bits, 6144);
  EXPECT_EQ(c.total_bits(), 702464);
  EXPECT_DOUBLE_EQ(c.bits_per_weight(), 702464.0 / 196608.0);
  EXPECT_DOUBLE_EQ(c.code_bits_per_weight(), 3.25);  // 0.25 * 4 + 0.75 * 3

  // Per channel: one group per row per column set.
  m.group_size = bitscape::kPerChannel;
  EXPECT_EQ(bitscape::module_cost(kDown, m).scale_bits, 256 * 2 * 32);
}

TEST(CostModelTest, ClassesWithEqualBitsShareOneColumnSet) {
  // Top 25% and low 25% of the 768 columns at 4 bits, the middle 384 at 3 bits, g128: the two
  // 4-bit classes form one set of 384 columns, so each row holds ceil(384/128) = 3 groups of 4-bit
  // columns and 3 of 3-bit columns (not ceil(192/128) * 2 + 3 = 7):
  //   codes 256 * (384*4 + 384*3) = 688,128;  scales 256 * 6 * 32 = 49,152;  map 6,144
  ModuleAllocation m = rtn(3);
  m.channels.classes.push_back(fraction_class(4, ChannelSelect::kTop, 0.25));
  m.channels.classes.push_back(fraction_class(4, ChannelSelect::kLow, 0.25));
  EXPECT_EQ(bitscape::channel_class_counts(m, kDown), (Counts{{4, 192}, {4, 192}, {3, 384}}));
  const ModuleCost c = bitscape::module_cost(kDown, m);
  EXPECT_EQ(c.code_bits, 688128);
  EXPECT_EQ(c.scale_bits, 49152);
  EXPECT_EQ(c.total_bits(), 688128 + 49152 + 6144);

  // A class at the module's own bits joins the module's set too.
  ModuleAllocation same = rtn(3);
  same.channels.classes.push_back(index_class(3, {0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(bitscape::module_cost(kDown, same).scale_bits, 256 * 6 * 32);
}

TEST(CostModelTest, ClassSplitOnOutputRowsKeepsRowGroups) {
  // AutoMixQ-style: 10% of the 256 rows (llround(25.6) = 26) at 8 bits, 230 rows at 3, g128:
  //   codes 26*768*8 + 230*768*3 = 159,744 + 529,920 = 689,664
  //   every row holds ceil(768/128) = 6 groups: 256 * 6 * 32 = 49,152
  //   class map 8 * 256 rows = 2,048;  total 740,864
  ModuleAllocation m = rtn(3);
  m.channels.axis = ChannelAxis::kOut;
  m.channels.classes.push_back(fraction_class(8, ChannelSelect::kTopAndLow, 0.1));
  EXPECT_EQ(bitscape::channel_class_counts(m, kDown), (Counts{{8, 26}, {3, 230}}));
  const ModuleCost c = bitscape::module_cost(kDown, m);
  EXPECT_EQ(c.code_bits, 689664);
  EXPECT_EQ(c.scale_bits, 49152);
  EXPECT_EQ(c.index_bits, 2048);
  EXPECT_EQ(c.total_bits(), 740864);
}

TEST(CostModelTest, Fp16ClassesCostSixteenBitsPerWeight) {
  // TAMMP-style on [256, 256]: critical 1% (llround(2.56) = 3 columns) in fp16, sub-critical
  // 10% (llround(25.6) = 26) at 3 bits, the remaining 227 at 2 bits, g128:
  //   fp16 16 * 256 * 3 = 12,288;  codes 256 * (26*3 + 227*2) = 136,192
  //   groups per row: 1 (26 columns) + 2 (227 columns) -> 256 * 3 * 32 = 24,576
  //   class map 8 * 256 = 2,048;  total 175,104
  const ModuleShape q{"model.layers.0.self_attn.q_proj", 256, 256};
  ModuleAllocation m = rtn(2);
  m.channels.classes.push_back(fraction_class(16, ChannelSelect::kTop, 0.01));
  m.channels.classes.push_back(fraction_class(3, ChannelSelect::kTop, 0.1));
  EXPECT_EQ(bitscape::channel_class_counts(m, q), (Counts{{16, 3}, {3, 26}, {2, 227}}));
  const ModuleCost c = bitscape::module_cost(q, m);
  EXPECT_EQ(c.fp16_bits, 12288);
  EXPECT_EQ(c.code_bits, 136192);
  EXPECT_EQ(c.scale_bits, 24576);
  EXPECT_EQ(c.index_bits, 2048);
  EXPECT_EQ(c.total_bits(), 175104);
}

TEST(CostModelTest, ActivationAndQuantizationOutliers) {
  // CMPQ's outliers on [256, 768], 3-bit g128:
  //   k = llround(0.0045 * 768) = llround(3.456) = 3 fp16 columns: 16*256*3 = 12,288 + 32*3 = 96
  //   I' = 765: codes 3 * 256 * 765 = 587,520; ceil(765/128) = 6 groups per row: 49,152
  //   q = llround(0.0005 * 256 * 765) = llround(97.92) = 98 sparse weights:
  //       16*98 + 32*98 + 32*(256 + 1) = 1,568 + 3,136 + 8,224 = 12,928
  ModuleAllocation m = rtn(3);
  m.outliers.activation_fraction = 0.0045;
  m.outliers.quantization_fraction = 0.0005;
  EXPECT_EQ(bitscape::activation_outlier_columns(m, kDown), 3);
  EXPECT_EQ(bitscape::quantization_outlier_count(m, kDown), 98);
  const ModuleCost c = bitscape::module_cost(kDown, m);
  EXPECT_EQ(c.weights, kDownWeights);
  EXPECT_EQ(c.fp16_bits, 12288);
  EXPECT_EQ(c.code_bits, 587520);
  EXPECT_EQ(c.scale_bits, 49152);
  EXPECT_EQ(c.index_bits, 96);
  EXPECT_EQ(c.sparse_bits, 12928);
  EXPECT_EQ(c.total_bits(), 587520 + 12288 + 49152 + 96 + 12928);
  EXPECT_DOUBLE_EQ(c.code_bits_per_weight(), (587520.0 + 12288.0) / 196608.0);

  // No sparse storage (not even row pointers) when q rounds to 0.
  m.outliers.quantization_fraction = 1e-6;
  EXPECT_EQ(bitscape::quantization_outlier_count(m, kDown), 0);
  EXPECT_EQ(bitscape::module_cost(kDown, m).sparse_bits, 0);
}

TEST(CostModelTest, IndexClassesClaimFirstAndFractionsShareTheRest) {
  // [256, 256] with 13 activation-outlier columns (llround(0.05 * 256) = llround(12.8)):
  // I' = 243. The index class claims its 4 listed columns (never outlier columns), so fractions
  // are of 243 - 4 = 239: llround(0.5 * 239) = llround(119.5) = 120; the module's bits get 119.
  const ModuleShape q{"model.layers.0.self_attn.q_proj", 256, 256};
  ModuleAllocation m = rtn(3);
  m.outliers.activation_fraction = 0.05;
  m.channels.classes.push_back(fraction_class(4, ChannelSelect::kTop, 0.5));
  m.channels.classes.push_back(index_class(16, {0, 1, 2, 3}));
  EXPECT_EQ(bitscape::activation_outlier_columns(m, q), 13);
  EXPECT_EQ(bitscape::channel_class_counts(m, q), (Counts{{4, 120}, {16, 4}, {3, 119}}));

  // Fractions adding up to more than 1: a later class gets what is left, in class order, and
  // the module's own bits may get nothing (the count is still listed).
  ModuleAllocation over = rtn(3);
  over.channels.classes.push_back(fraction_class(4, ChannelSelect::kTop, 0.6));
  over.channels.classes.push_back(fraction_class(2, ChannelSelect::kLow, 0.6));
  over.channels.classes.push_back(fraction_class(8, ChannelSelect::kLow, 0.1));
  EXPECT_EQ(bitscape::channel_class_counts(over, q), (Counts{{4, 154}, {2, 102}, {8, 0}, {3, 0}}));

  // An index list on axis out counts rows; outlier columns do not change n.
  ModuleAllocation rows = rtn(3);
  rows.outliers.activation_fraction = 0.05;
  rows.channels.axis = ChannelAxis::kOut;
  rows.channels.classes.push_back(index_class(8, {5, 6}));
  rows.channels.classes.push_back(fraction_class(4, ChannelSelect::kTop, 0.25));
  EXPECT_EQ(bitscape::channel_class_counts(rows, kDown), (Counts{{8, 2}, {4, 64}, {3, 190}}));

  // No classes: one set with all channels at the module's bits.
  EXPECT_EQ(bitscape::channel_class_counts(rtn(4), kDown), (Counts{{4, 768}}));
}

TEST(CostModelTest, GptqActOrderStoresTheColumnOrder) {
  ModuleAllocation m = rtn(4);
  m.quantizer = QuantizerKind::kGptq;
  m.act_order = true;
  EXPECT_EQ(bitscape::module_cost(kDown, m).index_bits, 32 * 768);
  m.static_groups = true;  // group parameters fixed in the original column order
  EXPECT_EQ(bitscape::module_cost(kDown, m).index_bits, 0);
  m.static_groups = false;
  m.group_size = bitscape::kPerChannel;  // one group per row: the order does not matter
  EXPECT_EQ(bitscape::module_cost(kDown, m).index_bits, 0);
}

TEST(CostModelTest, Fp16ModuleIsSixteenBitsPerWeight) {
  ModuleAllocation m = rtn(bitscape::kUnquantizedBits);
  m.outliers.activation_fraction = 0.0045;  // no effect on a module kept in fp16
  m.outliers.quantization_fraction = 0.0005;
  const ModuleCost c = bitscape::module_cost(kDown, m);
  EXPECT_EQ(c.fp16_bits, 16 * kDownWeights);
  EXPECT_EQ(c.total_bits(), 16 * kDownWeights);
  EXPECT_DOUBLE_EQ(c.code_bits_per_weight(), 16.0);
  EXPECT_EQ(bitscape::activation_outlier_columns(m, kDown), 0);
  EXPECT_EQ(bitscape::quantization_outlier_count(m, kDown), 0);
}

TEST(CostModelTest, SampleModelAllocationInBytes) {
  // 6 blocks x 7 modules: q [256,256], k/v [128,256], o [256,256], gate/up [768,256],
  // down [256,768]: 786,432 weights per block, 4,718,592 in all.
  std::vector<ModuleShape> shapes;
  const std::pair<const char*, std::pair<int64_t, int64_t>> kModules[] = {
      {"self_attn.q_proj", {256, 256}}, {"self_attn.k_proj", {128, 256}},
      {"self_attn.v_proj", {128, 256}}, {"self_attn.o_proj", {256, 256}},
      {"mlp.gate_proj", {768, 256}},    {"mlp.up_proj", {768, 256}},
      {"mlp.down_proj", {256, 768}}};
  for (int block = 0; block < 6; ++block)
    for (const auto& [leaf, shape] : kModules)
      shapes.push_back(
          {"model.layers." + std::to_string(block) + "." + leaf, shape.first, shape.second});

  // 3-bit g128 everywhere (3.25 bits), down_proj at 4 bits (4.25), block 0's q_proj in fp16.
  const Allocation a = Allocation::from_json(nlohmann::json::parse(R"({
      "format": "bitscape-allocation", "version": 1,
      "default": {"bits": 3, "group_size": 128},
      "rules": [{"match": "*.mlp.down_proj", "bits": 4}],
      "modules": {"layers.0.self_attn.q_proj": {"bits": 16}}})"),
                                             shapes, "mixed.alloc.json");
  // The sample model's other parameters: embeddings 4096 x 256 = 1,048,576 (tied lm_head) and
  // 13 RMSNorm weights of 256 (2 per block + the final norm) = 3,328: 1,051,904.
  const int64_t other_params = 4096 * 256 + 13 * 256;
  const bitscape::AllocationCost cost = bitscape::allocation_cost(a, shapes, other_params);

  // Per block: 589,824 weights at 3.25 = 1,916,928 bits, 196,608 at 4.25 = 835,584: 2,752,512;
  // six blocks 16,515,072; block 0's q_proj at 16 instead of 3.25 bits: + 65,536 * 12.75
  // = 835,584 -> 17,350,656 bits = 2,168,832 bytes. Other: 1,051,904 * 2 = 2,103,808 bytes.
  ASSERT_EQ(cost.modules.size(), 42u);
  EXPECT_EQ(cost.modules[0].name, "model.layers.0.self_attn.q_proj");
  EXPECT_EQ(cost.modules[0].fp16_bits, 16 * 65536);
  EXPECT_EQ(cost.weights, 4718592);
  EXPECT_EQ(cost.total_bits, 17350656);
  EXPECT_EQ(cost.module_bytes(), 2168832);
  EXPECT_EQ(cost.other_bytes(), 2103808);
  EXPECT_EQ(cost.total_bytes(), 4272640);
  EXPECT_DOUBLE_EQ(cost.average_bits, 17350656.0 / 4718592.0);  // 3.6770833...
  // Code bits: 3 * (3,538,944 - 65,536) + 4 * 1,179,648 + 16 * 65,536 = 16,187,392.
  EXPECT_DOUBLE_EQ(cost.average_code_bits, 16187392.0 / 4718592.0);  // 3.4305555...

  // Uniform 4-bit g128: 4.25 bits; bytes 4,718,592 * 4.25 / 8 = 2,506,752.
  const bitscape::AllocationCost u =
      bitscape::allocation_cost(Allocation::uniform(shapes, rtn(4)), shapes, other_params);
  EXPECT_DOUBLE_EQ(u.average_bits, 4.25);
  EXPECT_EQ(u.total_bytes(), 2506752 + 2103808);
}

TEST(CostModelTest, EmptyAllocationIsAllFp16AndBytesRoundUp) {
  const std::vector<ModuleShape> shapes = {kDown};
  const bitscape::AllocationCost c = bitscape::allocation_cost(Allocation{}, shapes, 3, 4);
  EXPECT_DOUBLE_EQ(c.average_bits, 16.0);
  EXPECT_EQ(c.other_bytes(), 2);  // 12 bits round up to 2 bytes
  EXPECT_EQ(bitscape::allocation_cost(Allocation{}, {}).average_bits, 0.0);
}

}  // namespace
