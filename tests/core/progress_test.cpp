#include <gtest/gtest.h>

#include "bitscape/progress.h"

TEST(CancelTokenTest, CopiesShareTheFlag) {
  bitscape::CancelToken a;
  bitscape::CancelToken b = a;
  EXPECT_FALSE(b.cancelled());
  a.cancel();
  EXPECT_TRUE(b.cancelled());
  EXPECT_THROW(b.throw_if_cancelled(), bitscape::Cancelled);
}
