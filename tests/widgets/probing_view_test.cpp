#include "bitscape/widgets/probing_view.h"

#include <gtest/gtest.h>

using bitscape::widgets::ProbingView;

TEST(ProbingViewTest, EachSourcesCriticalColumnsAndTheirOverlapAreDrawn) {
  ProbingView view;
  view.setProbe("model.layers.0.mlp.down_proj", {"wiki", "code"}, {{1, 5, 9, 12}, {5, 9, 30}}, 64, 0.4);
  ASSERT_EQ(view.sourceCount(), 2);
  EXPECT_EQ(view.criticalCount(0), 4);
  EXPECT_EQ(view.criticalCount(1), 3);
  EXPECT_EQ(view.overlapCount(), 2);  // 5 and 9
  EXPECT_EQ(view.unionCount(), 5);
  EXPECT_EQ(view.drawnPoints(0), 4);
  EXPECT_EQ(view.drawnPoints(1), 3);
  EXPECT_EQ(view.drawnPoints(2), 2);  // the overlap row
  view.clear();
  EXPECT_EQ(view.sourceCount(), 0);
}
