// The storage layout of a quantized module, shared by the quantizers and the packed form: which
// input columns are kept whole in fp16, the order the other columns are stored in (grouped by
// bit-width for input-channel classes), the bit-width of every (row, column set), and the
// groups inside each row. Internal to core.
#pragma once

#include <cstdint>
#include <vector>

#include "bitscape/allocation.h"

namespace bitscape::detail {

struct Segment {
  int64_t begin = 0, end = 0;  // range of storage positions (columns in storage order)
  int bits = 4;                // bit-width of its columns (axis in); the module's bits otherwise
  int64_t size() const { return end - begin; }
};

struct Layout {
  int64_t O = 0, I = 0;
  int bits = 4;                       // the module's own bits
  int group_size = 128;               // kPerChannel: one group per segment
  ChannelAxis class_axis = ChannelAxis::kIn;
  bool has_classes = false;
  std::vector<int64_t> fp16_columns;  // activation outliers, sorted (not in storage order)
  std::vector<int64_t> storage_columns;  // original index of each stored column (I' of them)
  std::vector<Segment> segments;      // consecutive, covering [0, I')
  std::vector<uint8_t> row_bits;      // [O]: axis out classes (else empty)
  std::vector<uint8_t> class_bits;    // the class map as stored (axis in: per non-fp16 column in
                                      // original order; axis out: per row)

  int64_t stored_columns() const { return static_cast<int64_t>(storage_columns.size()); }
  // Bits of row r in segment s.
  int bits_at(int64_t r, const Segment& s) const {
    return row_bits.empty() ? s.bits : static_cast<int>(row_bits[static_cast<size_t>(r)]);
  }
  // Groups of a segment: ceil(size / g), or 1 for per-channel.
  // A 16-bit segment (axis-in class) has none.
  int64_t groups_in(const Segment& s) const {
    if (s.size() == 0 || (row_bits.empty() && s.bits >= kUnquantizedBits)) return 0;
    return group_size == kPerChannel ? 1 : (s.size() + group_size - 1) / group_size;
  }
  int64_t group_width() const;  // group_size, or I' for per-channel
};

// Builds the layout: fp16 columns, class bits along the axis (as resolved), storage order =
// the non-fp16 columns sorted by their bits (stable, ascending) for axis-in classes, else the
// original order.
Layout make_layout(int64_t O, int64_t I, const ModuleAllocation& m,
                   const std::vector<int64_t>& fp16_columns, const std::vector<uint8_t>& class_bits,
                   bool has_classes, ChannelAxis axis);

}  // namespace bitscape::detail
