// The cost model: the exact storage, in bits, of a module quantized with a ModuleAllocation, and
// the average bits and bytes of an allocation. The formula is in cost_model.h's header comment
// and in docs/cost-model.md; every count here is an integer number of bits.
#include "bitscape/cost_model.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace bitscape {
namespace {

constexpr int64_t kFp16Bits = 16;
constexpr int64_t kIndexBits = 32;    // a column index, a row pointer, a GPTQ column order entry
constexpr int64_t kClassMapBits = 8;  // the class of one channel

// bits 16 with no classes: the module is copied in fp16 and keeps no outliers or maps.
bool stored_as_fp16(const ModuleAllocation& m) { return !m.quantized() && m.channels.empty(); }

int64_t rounded_count(double fraction, int64_t n) {
  return std::llround(fraction * static_cast<double>(n));
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

double ModuleCost::code_bits_per_weight() const {
  return weights > 0 ? static_cast<double>(code_bits + fp16_bits) / static_cast<double>(weights)
                     : 0.0;
}

double ModuleCost::bits_per_weight() const {
  return weights > 0 ? static_cast<double>(total_bits()) / static_cast<double>(weights) : 0.0;
}

int64_t activation_outlier_columns(const ModuleAllocation& m, const ModuleShape& shape) {
  if (stored_as_fp16(m)) return 0;
  return std::clamp<int64_t>(rounded_count(m.outliers.activation_fraction, shape.in_features), 0,
                             shape.in_features);
}

int64_t quantization_outlier_count(const ModuleAllocation& m, const ModuleShape& shape) {
  if (stored_as_fp16(m)) return 0;
  const int64_t columns = shape.in_features - activation_outlier_columns(m, shape);
  return std::max<int64_t>(
      rounded_count(m.outliers.quantization_fraction, shape.out_features * columns), 0);
}

// Channels along the class axis: I' = I - k columns (axis in) or O rows (axis out). Index classes
// claim their listed channels first (in class order; a channel listed twice counts once, for the
// first class); the activation-outlier columns are chosen among the columns no index class lists.
// Then each fraction class, in class order, takes round(fraction * n) of the channels still
// unclaimed, where n is the channels along the axis minus those the index classes claimed (so
// fractions are of the same n whatever their order, and a later class gets what is left when
// they add up to more than 1). top_and_low counts the same total. One pair per class in class
// order, zero counts included, then the module's own bits with the rest (possibly zero).
std::vector<std::pair<int, int64_t>> channel_class_counts(const ModuleAllocation& m,
                                                          const ModuleShape& shape) {
  const bool axis_in = m.channels.axis == ChannelAxis::kIn;
  const int64_t n_axis =
      axis_in ? shape.in_features - activation_outlier_columns(m, shape) : shape.out_features;
  const auto& classes = m.channels.classes;
  std::vector<std::pair<int, int64_t>> counts(classes.size());

  std::set<int64_t> claimed;
  for (size_t i = 0; i < classes.size(); ++i) {
    counts[i] = {classes[i].bits, 0};
    if (classes[i].select != ChannelSelect::kIndices) continue;
    for (int64_t index : classes[i].indices)
      if (claimed.insert(index).second) ++counts[i].second;
  }
  const int64_t n_fraction = std::max<int64_t>(n_axis - static_cast<int64_t>(claimed.size()), 0);
  int64_t unclaimed = n_fraction;
  for (size_t i = 0; i < classes.size(); ++i) {
    if (classes[i].select == ChannelSelect::kIndices) continue;
    const int64_t take =
        std::clamp<int64_t>(rounded_count(classes[i].fraction, n_fraction), 0, unclaimed);
    counts[i].second = take;
    unclaimed -= take;
  }
  counts.emplace_back(m.bits, unclaimed);
  return counts;
}

ModuleCost module_cost(const ModuleShape& shape, const ModuleAllocation& m) {
  ModuleCost cost;
  cost.name = shape.name;
  const int64_t O = shape.out_features;
  const int64_t I = shape.in_features;
  cost.weights = O * I;
  if (stored_as_fp16(m)) {
    cost.fp16_bits = kFp16Bits * cost.weights;
    return cost;
  }

  // Activation outliers: k whole input columns in fp16, with their indices.
  const int64_t k = activation_outlier_columns(m, shape);
  cost.fp16_bits += kFp16Bits * O * k;
  cost.index_bits += kIndexBits * k;
  const int64_t I_rest = I - k;  // I'

  const bool axis_in = m.channels.axis == ChannelAxis::kIn;
  const bool has_classes = !m.channels.empty();
  if (has_classes) cost.index_bits += kClassMapBits * (axis_in ? I_rest : O);

  const bool uniform = m.quantizer != QuantizerKind::kKmeans;
  const bool asymmetric =
      !m.symmetric || m.quantizer == QuantizerKind::kHqq || m.quantizer == QuantizerKind::kAwq;
  const int64_t group_bits = kFp16Bits * (asymmetric ? 2 : 1);  // scale (+ zero)
  // The channels of one bit-width form one set (classes with equal bits and the module's own
  // bits share it: the packed form stores the columns sorted by bits).
  std::map<int, int64_t> sets;
  for (const auto& [bits, n] : channel_class_counts(m, shape)) sets[bits] += n;
  bool any_quantized = false;
  for (const auto& [bits, n] : sets) {
    if (n == 0) continue;
    // A set: n columns of all O rows (axis in), or n rows of all I' columns (axis out).
    const int64_t rows = axis_in ? O : n;
    const int64_t columns = axis_in ? n : I_rest;
    const int64_t weights = rows * columns;
    if (bits == kUnquantizedBits) {
      cost.fp16_bits += kFp16Bits * weights;
      continue;
    }
    any_quantized = true;
    cost.code_bits += bits * weights;
    if (uniform) {
      // Groups run along the input dimension inside each row of the set: a row of an axis-in
      // set holds its n columns, any other row all I' columns.
      const int64_t groups_per_row =
          m.group_size == kPerChannel ? 1 : ceil_div(columns, m.group_size);
      cost.scale_bits += rows * groups_per_row * group_bits;
    } else {
      const int64_t codebooks = m.codebook_axis == ChannelAxis::kOut ? rows : columns;
      cost.codebook_bits += codebooks * (int64_t{1} << bits) * kFp16Bits;
    }
  }
  if (any_quantized && m.quantizer == QuantizerKind::kGptq && m.act_order && !m.static_groups &&
      m.group_size != kPerChannel)
    cost.index_bits += kIndexBits * I_rest;

  // Quantization outliers: q single weights as CSR (values, column indices, row pointers).
  const int64_t q = quantization_outlier_count(m, shape);
  if (q > 0) cost.sparse_bits = kFp16Bits * q + kIndexBits * q + kIndexBits * (O + 1);
  return cost;
}

AllocationCost allocation_cost(const Allocation& allocation, const std::vector<ModuleShape>& shapes,
                               int64_t other_params, int other_bits) {
  AllocationCost cost;
  cost.other_params = other_params;
  cost.other_bits = other_bits;
  int64_t code_and_fp16_bits = 0;
  for (const ModuleShape& shape : shapes) {
    cost.modules.push_back(module_cost(shape, allocation.module(shape.name)));
    const ModuleCost& mc = cost.modules.back();
    cost.weights += mc.weights;
    cost.total_bits += mc.total_bits();
    code_and_fp16_bits += mc.code_bits + mc.fp16_bits;
  }
  if (cost.weights > 0) {
    cost.average_code_bits =
        static_cast<double>(code_and_fp16_bits) / static_cast<double>(cost.weights);
    cost.average_bits = static_cast<double>(cost.total_bits) / static_cast<double>(cost.weights);
  }
  return cost;
}

}  // namespace bitscape
