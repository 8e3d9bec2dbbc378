#include <gtest/gtest.h>

#include <cmath>

#include "bitscape/error.h"
#include "bitscape/search_result.h"

TEST(SearchPointJsonTest, RoundTripsEveryFieldAndNanAsNull) {
  bitscape::SearchPoint p;
  p.method = "amq";
  p.index = 17;
  p.iteration = 3;
  p.genes = {0, 2, 1};
  p.average_bits = 3.125;
  p.code_bits = 2.875;
  p.total_bytes = 123456789012;
  p.ppl = 37.5;
  p.kl = 0.0123;
  p.top1 = 0.91;
  p.seconds = 12.5;
  const std::string j = bitscape::search_point_json(p);
  EXPECT_NE(j.find("\"jsd\":null"), std::string::npos);
  const bitscape::SearchPoint q = bitscape::search_point_from_json(j);
  EXPECT_EQ(q.method, "amq");
  EXPECT_EQ(q.index, 17);
  EXPECT_EQ(q.iteration, 3);
  EXPECT_EQ(q.genes, p.genes);
  EXPECT_DOUBLE_EQ(q.average_bits, 3.125);
  EXPECT_DOUBLE_EQ(q.code_bits, 2.875);
  EXPECT_EQ(q.total_bytes, 123456789012);
  EXPECT_DOUBLE_EQ(q.ppl, 37.5);
  EXPECT_DOUBLE_EQ(q.kl, 0.0123);
  EXPECT_TRUE(std::isnan(q.jsd));
  EXPECT_TRUE(std::isnan(q.loss));
  EXPECT_DOUBLE_EQ(q.seconds, 12.5);
  EXPECT_THROW(bitscape::search_point_from_json("{\"method\": 3}"), bitscape::InputError);
  EXPECT_THROW(bitscape::search_point_from_json("not json"), bitscape::InputError);
}
