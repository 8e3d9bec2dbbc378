// The quantizers against independent computations: RTN against a brute-force nearest grid
// point, k-means against exhaustive search, GPTQ against RTN on the layer objective, AWQ's
// Hessian-based objective against the direct output error, and every packed form against the
// dequantized weight (bit for bit) and the cost model (exactly).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>

#include "bitscape/cost_model.h"
#include "bitscape/error.h"
#include "bitscape/quantizer.h"
#include "test_util.h"

namespace bitscape {
namespace {

// Weights with a few large entries, like trained LLM weights.
at::Tensor heavy_tailed(int64_t rows, int64_t cols, uint64_t seed) {
  at::manual_seed(seed);
  at::Tensor w = at::randn({rows, cols});
  const at::Tensor big = at::rand({rows, cols}) < 0.02;
  return w * (1 + 3 * big.to(at::kFloat)) * 0.02;
}

// Correlated inputs with some high-variance channels, and H = 2/N X^T X.
at::Tensor correlated_inputs(int64_t n, int64_t cols, uint64_t seed) {
  at::manual_seed(seed);
  at::Tensor z = at::randn({n, cols});
  at::Tensor a = at::randn({cols, cols}) / std::sqrt(static_cast<double>(cols)) + at::eye(cols);
  at::Tensor x = z.matmul(a);
  x.slice(1, 0, 4).mul_(8.0);
  return x;
}
at::Tensor hessian_of(const at::Tensor& x) { return x.t().matmul(x) * (2.0 / x.size(0)); }

ModuleCalibration calibration_of(const at::Tensor& x, const at::Tensor& W) {
  ModuleCalibration c;
  c.hessian = hessian_of(x);
  c.hessian_diag = c.hessian.diagonal().clone();
  c.act_abs_mean = x.abs().mean(0);
  c.act_l2 = x.pow(2).sum(0).sqrt();
  c.out_abs_mean = x.matmul(W.t()).abs().mean(0);
  return c;
}

ModuleAllocation alloc(QuantizerKind q, int bits, int group) {
  ModuleAllocation m;
  m.quantizer = q;
  m.bits = bits;
  m.group_size = group;
  return m;
}

// Nearest grid point by exhaustive search over the codes 0..maxq of GPTQ's grid for a group.
float brute_force_rtn(float x, const std::vector<float>& group, int bits) {
  float lo = 0, hi = 0;
  for (float v : group) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const float maxq = static_cast<float>((1 << bits) - 1);
  const float scale = static_cast<float>(c10::Half((hi - lo) / maxq));
  const float zero = std::nearbyint(-lo / scale);
  float best = 0, best_err = std::numeric_limits<float>::infinity();
  for (int c = 0; c <= (1 << bits) - 1; ++c) {
    const float v = (static_cast<float>(c) - zero) * scale;
    if (std::fabs(v - x) < best_err) {
      best_err = std::fabs(v - x);
      best = v;
    }
  }
  return best;
}

TEST(RtnTest, EqualsTheNearestGridPointFoundByExhaustiveSearch) {
  for (int bits : {2, 3, 4, 8}) {
    for (int group : {4, 8, kPerChannel}) {
      const at::Tensor W = heavy_tailed(6, 16, 10 + bits);
      const QuantizedModule q = quantize_module(W, alloc(QuantizerKind::kRtn, bits, group), {}, "m");
      const int64_t g = group == kPerChannel ? 16 : group;
      for (int64_t r = 0; r < 6; ++r)
        for (int64_t c = 0; c < 16; ++c) {
          std::vector<float> grp;
          for (int64_t k = (c / g) * g; k < (c / g + 1) * g; ++k) grp.push_back(W[r][k].item<float>());
          EXPECT_FLOAT_EQ(q.weight[r][c].item<float>(), brute_force_rtn(W[r][c].item<float>(), grp, bits))
              << "bits " << bits << " group " << group << " at " << r << "," << c;
        }
    }
  }
}

TEST(RtnTest, ClipSearchLowersTheNorm24ErrorItMinimises) {
  const at::Tensor W = heavy_tailed(32, 128, 3);
  ModuleAllocation m = alloc(QuantizerKind::kRtn, 3, kPerChannel);
  const QuantizedModule plain = quantize_module(W, m, {}, "m");
  m.clip_search = true;
  const QuantizedModule clipped = quantize_module(W, m, {}, "m");
  const double e_plain = (plain.weight - W).abs().pow(2.4).sum().item<double>();
  const double e_clip = (clipped.weight - W).abs().pow(2.4).sum().item<double>();
  EXPECT_LT(e_clip, e_plain);
}

TEST(GptqTest, ErrorNoWorseThanRtnOnCorrelatedInputs) {
  const at::Tensor x = correlated_inputs(1024, 128, 5);
  const at::Tensor W = heavy_tailed(64, 128, 6);
  const ModuleCalibration c = calibration_of(x, W);
  for (int bits : {2, 3, 4}) {
    for (int group : {32, 128, kPerChannel}) {
      const QuantizedModule rtn = quantize_module(W, alloc(QuantizerKind::kRtn, bits, group), c, "m");
      ModuleAllocation g = alloc(QuantizerKind::kGptq, bits, group);
      const QuantizedModule gptq = quantize_module(W, g, c, "m");
      const double e_rtn = layer_objective(W, rtn.weight, c.hessian);
      const double e_gptq = layer_objective(W, gptq.weight, c.hessian);
      EXPECT_LT(e_gptq, e_rtn) << bits << " bits, group " << group;
      g.act_order = true;
      const double e_act = layer_objective(W, quantize_module(W, g, c, "m").weight, c.hessian);
      EXPECT_LT(e_act, e_rtn) << bits << " bits, group " << group << ", act-order";
    }
  }
}

TEST(GptqTest, WithoutAHessianIsAnInputErrorNamingTheModule) {
  test::expect_error<InputError>(
      [] { quantize_module(heavy_tailed(4, 128, 1), alloc(QuantizerKind::kGptq, 4, 128), {}, "model.layers.0.mlp.up_proj"); },
      {"model.layers.0.mlp.up_proj", "Hessian"});
}

TEST(HqqTest, LowersTheMeanAbsoluteErrorOfMinMaxRtn) {
  for (int bits : {2, 3, 4}) {
    const at::Tensor W = heavy_tailed(64, 256, 20 + bits);
    const QuantizedModule hqq = quantize_module(W, alloc(QuantizerKind::kHqq, bits, 64), {}, "m");
    const QuantizedModule rtn = quantize_module(W, alloc(QuantizerKind::kRtn, bits, 64), {}, "m");
    EXPECT_LT((hqq.weight - W).abs().mean().item<double>(), (rtn.weight - W).abs().mean().item<double>())
        << bits << " bits";
  }
}

// Exhaustive weighted k-means: every assignment of n points to k labels.
double brute_force_kmeans(const std::vector<double>& x, const std::vector<double>& w, int k) {
  const int n = static_cast<int>(x.size());
  double best = std::numeric_limits<double>::infinity();
  std::vector<int> label(n, 0);
  while (true) {
    std::vector<double> s0(k, 0), s1(k, 0);
    for (int i = 0; i < n; ++i) {
      s0[label[i]] += w[i];
      s1[label[i]] += w[i] * x[i];
    }
    double cost = 0;
    for (int i = 0; i < n; ++i) {
      const double c = s0[label[i]] > 0 ? s1[label[i]] / s0[label[i]] : 0;
      cost += w[i] * (x[i] - c) * (x[i] - c);
    }
    best = std::min(best, cost);
    int i = 0;
    while (i < n && ++label[i] == k) label[i++] = 0;
    if (i == n) break;
  }
  return best;
}

double kmeans_cost(const std::vector<double>& x, const std::vector<double>& w,
                   const std::vector<double>& centroids) {
  double cost = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    double d = std::numeric_limits<double>::infinity();
    for (double c : centroids) d = std::min(d, (x[i] - c) * (x[i] - c));
    cost += w[i] * d;
  }
  return cost;
}

TEST(KmeansTest, OptimalOneDimensionalKmeansMatchesExhaustiveSearch) {
  std::mt19937 rng(7);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform(0.1, 3.0);
  for (int trial = 0; trial < 40; ++trial) {
    const int n = 5 + trial % 5, k = 2 + trial % 3;
    std::vector<double> x(n), w(n);
    for (int i = 0; i < n; ++i) {
      x[i] = normal(rng) * (trial % 2 ? 1.0 : 5.0);
      w[i] = trial % 4 < 2 ? 1.0 : uniform(rng);
    }
    const std::vector<double> c = optimal_kmeans_1d(x, w, k);
    EXPECT_NEAR(kmeans_cost(x, w, c), brute_force_kmeans(x, w, k), 1e-9) << "trial " << trial;
  }
}

TEST(KmeansTest, FewerDistinctValuesThanClustersAreReproducedExactly) {
  const std::vector<double> c = optimal_kmeans_1d({1, 1, 2, 2, 2}, {}, 4);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_DOUBLE_EQ(c[0], 1.0);
  EXPECT_DOUBLE_EQ(c[1], 2.0);
}

TEST(KmeansTest, SensitivityWeightedCodebooksLowerTheLayerObjectiveOfRtn) {
  const at::Tensor x = correlated_inputs(1024, 128, 8);
  const at::Tensor W = heavy_tailed(32, 128, 9);
  const ModuleCalibration c = calibration_of(x, W);
  const QuantizedModule km = quantize_module(W, alloc(QuantizerKind::kKmeans, 3, kPerChannel), c, "m");
  const QuantizedModule rtn = quantize_module(W, alloc(QuantizerKind::kRtn, 3, kPerChannel), c, "m");
  // A per-row codebook of 8 centroids can represent at most 8 distinct values per row.
  for (int64_t r = 0; r < 32; ++r) EXPECT_LE(std::get<0>(at::_unique(km.weight[r])).numel(), 8);
  EXPECT_LT(layer_objective(W, km.weight, at::diag(c.hessian_diag)),
            layer_objective(W, rtn.weight, at::diag(c.hessian_diag)));
}

TEST(KmeansTest, FisherWeightsPullACentroidOntoTheMostSensitiveWeight) {
  const at::Tensor W = heavy_tailed(4, 64, 21);
  ModuleCalibration c;
  c.fisher = at::ones({4, 64});
  c.fisher[2][17] = 1e6;  // one weight far more sensitive than the rest
  const QuantizedModule q = quantize_module(W, alloc(QuantizerKind::kKmeans, 2, kPerChannel), c, "m");
  const float w = W[2][17].item<float>();
  EXPECT_NEAR(q.weight[2][17].item<float>(), w, 1e-3 * std::fabs(w) + 1e-6);
  // Unweighted by Fisher (diag(H) = 1 everywhere) the same weight is not reproduced.
  ModuleCalibration flat;
  flat.hessian_diag = at::ones({64});
  const QuantizedModule u = quantize_module(W, alloc(QuantizerKind::kKmeans, 2, kPerChannel), flat, "m");
  EXPECT_GT(std::fabs(u.weight[2][17].item<float>() - w), 1e-3 * std::fabs(w));
}

TEST(AwqTest, HessianObjectiveEqualsTheDirectOutputError) {
  const at::Tensor x = correlated_inputs(512, 64, 11);
  const at::Tensor W = heavy_tailed(16, 64, 12);
  const at::Tensor Q = quantize_module(W, alloc(QuantizerKind::kRtn, 3, 32), {}, "m").weight;
  const double direct = (x.matmul(W.t()) - x.matmul(Q.t())).pow(2).sum().item<double>();
  // ||X W^T - X Q^T||^2 = N/2 tr(dW H dW^T) with H = 2/N X^T X.
  EXPECT_NEAR(layer_objective(W, Q, hessian_of(x)) * 512 / 2, direct, 1e-3 * direct);
}

TEST(AwqTest, ScaledQuantizationBeatsPlainRtnOnTheOutputError) {
  const at::Tensor x = correlated_inputs(1024, 128, 13);
  const at::Tensor W = heavy_tailed(64, 128, 14);
  const ModuleCalibration c = calibration_of(x, W);
  for (int bits : {2, 3, 4}) {
    const QuantizedModule awq = quantize_module(W, alloc(QuantizerKind::kAwq, bits, 32), c, "m");
    const QuantizedModule rtn = quantize_module(W, alloc(QuantizerKind::kRtn, bits, 32), c, "m");
    EXPECT_LE(layer_objective(W, awq.weight, c.hessian), layer_objective(W, rtn.weight, c.hessian))
        << bits << " bits";
  }
}

TEST(ChannelClassTest, AutoMixQStrategiesPickTheExtremeChannels) {
  const at::Tensor W = heavy_tailed(16, 64, 15);
  ModuleCalibration c;
  c.out_abs_mean = at::arange(16, at::kFloat);  // row r has statistic r
  ModuleAllocation m = alloc(QuantizerKind::kRtn, 2, 32);
  m.channels.axis = ChannelAxis::kOut;
  ChannelClass top_low;
  top_low.bits = 4;
  top_low.select = ChannelSelect::kTopAndLow;
  top_low.by = ChannelStatistic::kActivation;
  top_low.fraction = 0.25;  // 4 rows: 2 top, 2 low
  m.channels.classes = {top_low};
  ChannelResolution r = resolve_channels(W, m, c, "m");
  ASSERT_EQ(r.class_bits.size(), 16u);
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(r.class_bits[i], (i < 2 || i >= 14) ? 4 : 2) << "row " << i;
  m.channels.classes[0].select = ChannelSelect::kTop;
  r = resolve_channels(W, m, c, "m");
  for (int i = 0; i < 16; ++i) EXPECT_EQ(r.class_bits[i], i >= 12 ? 4 : 2) << "row " << i;
  // By weight: the rows with the largest L2 norm.
  m.channels.classes[0].by = ChannelStatistic::kWeight;
  r = resolve_channels(W, m, {}, "m");
  const at::Tensor norms = W.norm(2, 1);
  const at::Tensor top4 = std::get<1>(norms.topk(4));
  for (int64_t k = 0; k < 4; ++k) EXPECT_EQ(r.class_bits[top4[k].item<int64_t>()], 4);
}

TEST(ChannelClassTest, ActivationOutliersAreTheColumnsWithTheLargestNorm) {
  const at::Tensor W = heavy_tailed(8, 200, 16);
  ModuleCalibration c;
  c.act_l2 = at::ones({200});
  c.act_l2[17] = 50;
  c.act_l2[3] = 40;
  ModuleAllocation m = alloc(QuantizerKind::kKmeans, 3, kPerChannel);
  m.codebook_axis = ChannelAxis::kIn;
  m.outliers.activation_fraction = 0.01;  // 2 columns
  const ChannelResolution r = resolve_channels(W, m, c, "m");
  EXPECT_EQ(r.fp16_columns, (std::vector<int64_t>{3, 17}));
  const QuantizedModule q = quantize_module(W, m, c, "m");
  EXPECT_TRUE(at::equal(q.weight.select(1, 17), W.select(1, 17).to(at::kHalf).to(at::kFloat)));
}

TEST(ChannelClassTest, CmpqAlgorithmOneGivesTheBudgetOnAverage) {
  const at::Tensor W = heavy_tailed(64, 512, 19);
  at::manual_seed(20);
  ModuleCalibration c;
  c.act_l2 = at::rand({512}) + 0.1;
  for (double budget : {2.0, 2.5, 3.0, 3.25, 3.8, 4.0}) {
    const ModuleAllocation m = cmpq_module_allocation(budget);
    ASSERT_EQ(check_module_allocation(m, {"m", 64, 512}), "") << budget;
    const ChannelResolution r = resolve_channels(W, m, c, "m");
    EXPECT_EQ(r.fp16_columns.size(), 2u);  // llround(0.0045 * 512)
    double sum = 0;
    for (uint8_t b : r.class_bits) sum += b;
    EXPECT_NEAR(sum / r.class_bits.size(), budget, 1.0 / r.class_bits.size()) << budget;
    // Higher bits go to the channels with the larger activation norm.
    const at::Tensor a = c.act_l2;
    std::vector<int64_t> kept;
    std::vector<bool> is16(512, false);
    for (int64_t f : r.fp16_columns) is16[f] = true;
    for (int64_t j = 0; j < 512; ++j)
      if (!is16[j]) kept.push_back(j);
    std::map<int, std::pair<float, float>> range;  // bits -> (min, max) activation norm
    for (size_t i = 0; i < kept.size(); ++i) {
      const float v = a[kept[i]].item<float>();
      auto it = range.emplace(r.class_bits[i], std::make_pair(v, v)).first;
      it->second.first = std::min(it->second.first, v);
      it->second.second = std::max(it->second.second, v);
    }
    for (auto lo = range.begin(); lo != range.end(); ++lo)
      for (auto hi = std::next(lo); hi != range.end(); ++hi) {
        EXPECT_GT(hi->second.first, lo->second.second) << budget;
      }
  }
  test::expect_error<InputError>([] { cmpq_module_allocation(4.5); }, {"between 2 and 4"});
}

// Every quantizer and layout: the packed form dequantizes to the weight bit for bit, stores
// exactly what the cost model counts, and survives its safetensors representation.
TEST(PackedModuleTest, RoundTripsAndMatchesTheCostModelForEveryQuantizerAndLayout) {
  const at::Tensor x = correlated_inputs(512, 128, 17);
  const at::Tensor W = heavy_tailed(48, 128, 18);
  const ModuleCalibration c = calibration_of(x, W);
  std::vector<std::pair<std::string, ModuleAllocation>> cases;
  for (QuantizerKind q : {QuantizerKind::kRtn, QuantizerKind::kGptq, QuantizerKind::kHqq,
                          QuantizerKind::kAwq, QuantizerKind::kKmeans}) {
    const std::string n = quantizer_name(q);
    for (int bits : {2, 3, 4, 8}) cases.push_back({n + " " + std::to_string(bits), alloc(q, bits, 32)});
    cases.push_back({n + " per-channel", alloc(q, 3, kPerChannel)});
    ModuleAllocation in = alloc(q, 3, 32);
    in.channels.axis = ChannelAxis::kIn;
    in.codebook_axis = ChannelAxis::kIn;
    ChannelClass hi;
    hi.bits = 4;
    hi.fraction = 0.2;
    ChannelClass lo;
    lo.bits = 2;
    lo.select = ChannelSelect::kLow;
    lo.fraction = 0.3;
    ChannelClass keep;
    keep.bits = kUnquantizedBits;
    keep.select = ChannelSelect::kIndices;
    keep.indices = {5, 77};
    in.channels.classes = {keep, hi, lo};
    in.outliers.activation_fraction = 0.02;
    in.outliers.quantization_fraction = 0.005;
    cases.push_back({n + " input classes + outliers", in});
    ModuleAllocation out = alloc(q, 2, 64);
    out.channels.axis = ChannelAxis::kOut;
    ChannelClass top = hi;
    top.select = ChannelSelect::kTopAndLow;
    top.fraction = 0.25;
    ChannelClass half = keep;
    half.indices = {0};
    out.channels.classes = {half, top};
    cases.push_back({n + " output classes", out});
  }
  ModuleAllocation act = alloc(QuantizerKind::kGptq, 3, 32);
  act.act_order = true;
  cases.push_back({"gptq act-order", act});
  act.static_groups = true;
  cases.push_back({"gptq act-order static groups", act});
  ModuleAllocation sym = alloc(QuantizerKind::kGptq, 4, 32);
  sym.symmetric = true;
  sym.clip_search = true;
  cases.push_back({"gptq symmetric clip", sym});
  cases.push_back({"fp16", alloc(QuantizerKind::kRtn, kUnquantizedBits, 128)});

  for (const auto& [label, m] : cases) {
    SCOPED_TRACE(label);
    ASSERT_EQ(check_module_allocation(m, {"m", 48, 128}), "");
    QuantizedModule q;
    try {
      q = quantize_module(W, m, c, "m");
    } catch (const std::exception& e) {
      ADD_FAILURE() << label << ": " << e.what();
      continue;
    }
    EXPECT_TRUE(at::equal(q.packed.dequantize(), q.weight));
    EXPECT_EQ(q.packed.storage_bits(), module_cost({"m", 48, 128}, m).total_bits());
    std::map<std::string, at::Tensor> named;
    for (const auto& [name, t] : q.packed.tensors("m")) named[name] = t;
    const PackedModule back = PackedModule::from_tensors(named, "m", q.packed.metadata_json(), "file");
    EXPECT_TRUE(at::equal(back.dequantize(), q.weight));
    EXPECT_EQ(back.storage_bits(), q.packed.storage_bits());
    // Codes are within their bit-width's range.
    EXPECT_LE((q.weight - W).abs().max().item<double>(), W.abs().max().item<double>() * 2);
  }
}

TEST(PackedModuleTest, CodeStreamRoundTripsMixedWidths) {
  std::mt19937 rng(3);
  std::vector<uint8_t> codes, bits;
  for (int i = 0; i < 1000; ++i) {
    const uint8_t b = static_cast<uint8_t>(2 + rng() % 7);
    bits.push_back(b);
    codes.push_back(static_cast<uint8_t>(rng() % (1u << b)));
  }
  const at::Tensor stream = pack_codes(codes, bits);
  int64_t total = 0;
  for (uint8_t b : bits) total += b;
  EXPECT_EQ(stream.numel(), (total + 7) / 8);
  EXPECT_EQ(unpack_codes(stream, bits), codes);
}

TEST(PackedModuleTest, InconsistentTensorsAreAnInputErrorNamingTheFile) {
  const QuantizedModule q = quantize_module(heavy_tailed(8, 64, 2), alloc(QuantizerKind::kRtn, 4, 32), {}, "m");
  std::map<std::string, at::Tensor> named;
  for (const auto& [name, t] : q.packed.tensors("m")) named[name] = t;
  named["m.scales"] = named["m.scales"].slice(0, 0, 3);
  test::expect_error<InputError>(
      [&] { PackedModule::from_tensors(named, "m", q.packed.metadata_json(), "out/quantized.safetensors"); },
      {"out/quantized.safetensors", "scales"});
}

}  // namespace
}  // namespace bitscape
