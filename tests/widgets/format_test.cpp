#include "bitscape/widgets/format.h"

#include <gtest/gtest.h>

#include "qt_printers.h"

#include <cstdint>
#include <limits>

using namespace bitscape::widgets;

TEST(FormatTest, CountsGroupThousandsWithCommas) {
  EXPECT_EQ(formatCount(0), "0");
  EXPECT_EQ(formatCount(999), "999");
  EXPECT_EQ(formatCount(1000), "1,000");
  EXPECT_EQ(formatCount(524288), "524,288");
  EXPECT_EQ(formatCount(1234567), "1,234,567");
  EXPECT_EQ(formatCount(-1234), "-1,234");
  EXPECT_EQ(formatCount(std::numeric_limits<int64_t>::min()), "-9,223,372,036,854,775,808");
}

TEST(FormatTest, ShortCountsUseMetricSuffixes) {
  EXPECT_EQ(formatCountShort(950), "950");
  EXPECT_EQ(formatCountShort(1234567), "1.23 M");
  EXPECT_EQ(formatCountShort(7241732096), "7.24 B");
}

TEST(FormatTest, ShapesJoinDimensionsWithTimesSign) {
  EXPECT_EQ(formatShape({2048, 256}), QString::fromUtf8("2048 × 256"));
  EXPECT_EQ(formatShape({64}), "64");
  EXPECT_EQ(formatShape({}), "");
}

TEST(FormatTest, SharesArePercentagesWithTwoDecimals) {
  EXPECT_EQ(formatShare(0.1234), "12.34 %");
  EXPECT_EQ(formatShare(1.0), "100.00 %");
  EXPECT_EQ(formatShare(0.0), "0.00 %");
  EXPECT_EQ(formatShare(0.00004), "< 0.01 %");
}

TEST(FormatTest, BytesUseBinaryUnits) {
  EXPECT_EQ(formatBytes(512), "512 B");
  EXPECT_EQ(formatBytes(1536), "1.5 KiB");
  EXPECT_EQ(formatBytes(int64_t(3) << 30), "3.0 GiB");
}

TEST(FormatTest, DurationsReadNaturallyAndUnknownIsEmpty) {
  EXPECT_EQ(formatDuration(3.24), "3.2 s");
  EXPECT_EQ(formatDuration(125), "2 min 05 s");
  EXPECT_EQ(formatDuration(3725), "1 h 02 min");
  EXPECT_EQ(formatDuration(-1), "");
}
