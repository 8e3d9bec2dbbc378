// The storage layout of a quantized module (see layout.h).
#include "quant/layout.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace bitscape::detail {

int64_t Layout::group_width() const {
  return group_size == kPerChannel ? std::max<int64_t>(1, stored_columns()) : group_size;
}

Layout make_layout(int64_t O, int64_t I, const ModuleAllocation& m,
                   const std::vector<int64_t>& fp16_columns, const std::vector<uint8_t>& class_bits,
                   bool has_classes, ChannelAxis axis) {
  Layout L;
  L.O = O;
  L.I = I;
  L.bits = m.bits;
  L.group_size = m.group_size;
  L.class_axis = axis;
  L.has_classes = has_classes;
  L.fp16_columns = fp16_columns;
  L.class_bits = class_bits;
  std::vector<char> is_fp16(static_cast<size_t>(I), 0);
  for (int64_t c : fp16_columns) is_fp16[static_cast<size_t>(c)] = 1;
  std::vector<int64_t> kept;
  for (int64_t c = 0; c < I; ++c)
    if (!is_fp16[static_cast<size_t>(c)]) kept.push_back(c);

  if (has_classes && axis == ChannelAxis::kIn) {
    if (class_bits.size() != kept.size())
      throw std::logic_error("make_layout: class map does not match the non-fp16 columns");
    std::vector<size_t> order(kept.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return class_bits[a] < class_bits[b]; });
    for (size_t k = 0; k < order.size(); ++k) {
      L.storage_columns.push_back(kept[order[k]]);
      const int b = class_bits[order[k]];
      if (L.segments.empty() || L.segments.back().bits != b)
        L.segments.push_back({static_cast<int64_t>(k), static_cast<int64_t>(k), b});
      L.segments.back().end = static_cast<int64_t>(k) + 1;
    }
  } else {
    L.storage_columns = kept;
    L.segments.push_back({0, static_cast<int64_t>(kept.size()), m.bits});
    if (has_classes && axis == ChannelAxis::kOut) {
      if (class_bits.size() != static_cast<size_t>(O))
        throw std::logic_error("make_layout: class map does not match the rows");
      L.row_bits = class_bits;
    }
  }
  return L;
}

}  // namespace bitscape::detail
