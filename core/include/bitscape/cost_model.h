// The one cost model of Bitscape: the exact storage of a quantized module and the average bits
// and bytes of a whole allocation. The CLI, the GUI's budget meter, the searches and the reports
// all call it, and every quantizer's packed form stores exactly what it counts (the tests check
// PackedModule::storage_bits() against module_cost()). Plain-value header (no LibTorch).
//
// For a module [O, I] (docs/cost-model.md has the same formula with examples):
//   k  = round(activation_fraction * I) input channels kept whole in fp16: 16*O*k + 32*k (indices)
//   I' = I - k remaining input channels; the channel classes split the channels along their axis
//   (I' columns or O rows) into sets with bits b and counts n (first the explicit index lists,
//   then each fraction class takes round(fraction * n_axis) of the channels still unclaimed;
//   the rest get the module's bits; channels of equal bits form one set); a class map costs
//   8 bits per channel along the axis.
//   A set at b = 16 stores its weights in fp16. Otherwise, per set:
//     uniform quantizers (rtn, gptq, hqq, awq), group size g (g = -1: the whole row):
//       codes  b per weight;
//       groups run along the input dimension inside each row and inside each column set, so a
//       row holds ceil(I'/g) groups (axis out) or ceil(n/g) per column set (axis in);
//       each group stores a 16-bit scale, plus a 16-bit zero unless symmetric.
//       GPTQ with act_order and without static_groups stores a 32-bit column order (I' x 32).
//       AWQ's per-input-channel scales are folded into the previous RMSNorm/linear in a
//       deployed model (as AWQ's released checkpoints do), so they cost nothing here.
//     k-means (non-uniform): codes b per weight, and a codebook of 2^b fp16 centroids per row
//       (codebook axis out, SqueezeLLM) or per input column (axis in, CMPQ).
//   q = round(quantization_fraction * O * I') single weights kept in fp16 as a CSR matrix:
//       16*q (values) + 32*q (column indices) + 32*(O + 1) (row pointers) when q > 0.
// With the defaults (asymmetric, g = 128), uniform b-bit costs b + 32/128 = b + 0.25 bits per
// weight: 3-bit g128 is 3.25 bits, as AMQ counts it (one fp16 scale and one fp16 zero per group).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bitscape/allocation.h"

namespace bitscape {

struct ModuleCost {
  std::string name;
  int64_t weights = 0;        // O * I
  int64_t code_bits = 0;      // integer codes
  int64_t fp16_bits = 0;      // weights kept in fp16 (16-bit modules/classes, outlier columns)
  int64_t scale_bits = 0;     // scales (and zeros) of the groups
  int64_t codebook_bits = 0;  // k-means centroids
  int64_t sparse_bits = 0;    // quantization outliers: values, column indices, row pointers
  int64_t index_bits = 0;     // class maps, fp16 column indices, GPTQ column order
  int64_t total_bits() const {
    return code_bits + fp16_bits + scale_bits + codebook_bits + sparse_bits + index_bits;
  }
  // "Code bits": bits of the weights' own values (codes and fp16 weights) per weight; the papers
  // quote this as "3-bit". "Bits with overhead": everything stored, per weight.
  double code_bits_per_weight() const;
  double bits_per_weight() const;
};

// The number of channels of each bit-width along the class axis of `m` for `shape`, after the
// fp16 outlier columns are taken out: pairs (bits, count), one per class in class order (zero
// counts included), the module's own bits last (with the channels no class takes, possibly 0).
std::vector<std::pair<int, int64_t>> channel_class_counts(const ModuleAllocation& m,
                                                          const ModuleShape& shape);

// Number of whole input channels kept in fp16 (activation outliers) and of single fp16
// outlier weights (quantization outliers) for a module.
int64_t activation_outlier_columns(const ModuleAllocation& m, const ModuleShape& shape);
int64_t quantization_outlier_count(const ModuleAllocation& m, const ModuleShape& shape);

ModuleCost module_cost(const ModuleShape& shape, const ModuleAllocation& m);

struct AllocationCost {
  std::vector<ModuleCost> modules;   // in the order of the shapes given
  int64_t weights = 0;               // all quantizable weights
  int64_t total_bits = 0;            // their storage
  double average_code_bits = 0.0;    // code bits per weight over the quantizable modules
  double average_bits = 0.0;         // bits with overhead per weight over the quantizable modules
  int64_t other_params = 0;          // parameters outside the quantizable modules
  int other_bits = 16;               // how those are stored
  int64_t module_bytes() const { return (total_bits + 7) / 8; }
  int64_t other_bytes() const { return (other_params * other_bits + 7) / 8; }
  // Total model bytes: quantized modules plus everything that stays unquantized (embeddings,
  // lm_head, norms, biases) at `other_bits` bits.
  int64_t total_bytes() const { return module_bytes() + other_bytes(); }
};

AllocationCost allocation_cost(const Allocation& allocation, const std::vector<ModuleShape>& shapes,
                               int64_t other_params = 0, int other_bits = 16);

}  // namespace bitscape
