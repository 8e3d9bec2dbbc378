#include "bitscape/widgets/sensitivity_panel.h"

#include <QSignalSpy>
#include <QTest>
#include <cmath>

#include <gtest/gtest.h>

#include "bitscape/widgets/heatmap_view.h"

using bitscape::SensitivityCurve;
using bitscape::widgets::moduleCell;
using bitscape::widgets::SensitivityPanel;

namespace {

std::vector<SensitivityCurve> curves(int blocks) {
  const char* leaves[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                          "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                          "mlp.down_proj"};
  std::vector<SensitivityCurve> out;
  for (int b = 0; b < blocks; ++b)
    for (int c = 0; c < 7; ++c) {
      SensitivityCurve s;
      s.module = "model.layers." + std::to_string(b) + "." + leaves[c];
      s.bits = {2, 3};
      s.kl = {0.1 * (b * 7 + c + 1), 0.01 * (b * 7 + c + 1)};
      s.delta_ppl = {1.0 + b, 0.5 + c};
      s.objective = {2.0, 1.0};
      s.hawq = {std::nan(""), std::nan("")};  // no trace measured: not offered
      out.push_back(s);
    }
  return out;
}

}  // namespace

TEST(SensitivityPanelTest, ModuleNamesMapToBlocksAndColumns) {
  EXPECT_EQ(moduleCell("model.layers.12.mlp.down_proj"), std::make_pair(12, 6));
  EXPECT_EQ(moduleCell("model.layers.0.self_attn.v_proj"), std::make_pair(0, 2));
  EXPECT_EQ(moduleCell("lm_head"), std::make_pair(-1, -1));
  EXPECT_EQ(moduleCell("model.layers.x.mlp.up_proj"), std::make_pair(-1, -1));
}

TEST(SensitivityPanelTest, TheHeatmapShowsTheChosenMeasureOfEveryModule) {
  SensitivityPanel panel;
  panel.resize(600, 500);
  panel.setCurves("run1", curves(3));
  const QStringList m = panel.metrics();
  EXPECT_TRUE(m.contains("KL at 2 bits"));
  EXPECT_TRUE(m.contains("perplexity increase at 3 bits"));
  EXPECT_TRUE(m.contains("layer objective at 2 bits"));
  EXPECT_FALSE(m.contains("HAWQ-v2 measure at 2 bits"));
  EXPECT_EQ(panel.metric(), "KL at 3 bits");  // the default
  auto* map = panel.heatmap();
  ASSERT_EQ(map->rows(), 3);
  ASSERT_EQ(map->columns(), 7);
  EXPECT_DOUBLE_EQ(map->drawnValue(2, 6), 0.01 * 21);
  EXPECT_DOUBLE_EQ(map->drawnValue(0, 0), 0.01);

  panel.setMetric("perplexity increase at 3 bits");
  EXPECT_DOUBLE_EQ(map->drawnValue(1, 4), 4.5);
  EXPECT_EQ(panel.moduleAt(1, 4), "model.layers.1.mlp.gate_proj");

  map->replot();
  QSignalSpy selected(&panel, &SensitivityPanel::moduleSelected);
  const QPoint at(int(map->xAxis->coordToPixel(2)), int(map->yAxis->coordToPixel(1)));
  QTest::mouseClick(map, Qt::LeftButton, Qt::NoModifier, at);
  ASSERT_EQ(selected.count(), 1);
  EXPECT_EQ(selected.at(0).at(0).toString(), "model.layers.1.self_attn.v_proj");
}

TEST(SensitivityPanelTest, SaliencyTotalsAreAMeasureToo) {
  SensitivityPanel panel;
  std::map<std::string, std::map<std::string, double>> totals;
  for (const auto& c : curves(2)) totals[c.module]["obs"] = 1.0 + double(moduleCell(c.module).second);
  panel.setCurves("run1", curves(2), totals);
  ASSERT_TRUE(panel.metrics().contains("saliency total (obs)"));
  panel.setMetric("saliency total (obs)");
  EXPECT_DOUBLE_EQ(panel.heatmap()->drawnValue(1, 6), 7.0);
  EXPECT_DOUBLE_EQ(panel.heatmap()->drawnValue(0, 0), 1.0);
}
