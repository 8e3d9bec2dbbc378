// Formatting of counts, shapes, shares, sizes and durations for the workbench's views. One place,
// so every view writes "1,234,567" and "2048 × 256" the same way.
#pragma once

#include <QString>

#include <cstdint>
#include <vector>

namespace bitscape::widgets {

// 1234567 -> "1,234,567" (independent of the system locale, so views and tests agree).
QString formatCount(int64_t value);
// 1234567 -> "1.23 M", 950 -> "950"; for compact labels next to an exact count.
QString formatCountShort(int64_t value);
// {2048, 256} -> "2048 × 256"; {} -> "".
QString formatShape(const std::vector<int64_t>& shape);
// 0.1234 (a fraction) -> "12.34 %"; a share too small to show -> "< 0.01 %".
QString formatShare(double fraction);
// 1536 -> "1.5 KiB".
QString formatBytes(int64_t bytes);
// 3.2 -> "3.2 s", 125 -> "2 min 05 s", 3725 -> "1 h 02 min"; negative -> "".
QString formatDuration(double seconds);

}  // namespace bitscape::widgets
