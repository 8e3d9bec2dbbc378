// Two allocations side by side (comparison_view.h): the differing modules by their full names
// (the editor's narrow column elided them to "0 · ..."), both settings, the deltas in bits per
// weight and size against a hand computation, the measures of each in its own column, and the
// view following an edit and the reference being cleared.
#include "bitscape/widgets/comparison_view.h"

#include <gtest/gtest.h>

#include "bitscape/widgets/allocation_model.h"

using bitscape::Allocation;
using bitscape::ModuleShape;
using bitscape::widgets::AllocationModel;
using bitscape::widgets::ComparisonView;

namespace {

std::vector<ModuleShape> shapes() {
  std::vector<ModuleShape> s;
  for (int b = 0; b < 2; ++b) {
    const std::string p = "model.layers." + std::to_string(b) + ".";
    s.push_back({p + "self_attn.q_proj", 256, 256});
    s.push_back({p + "mlp.down_proj", 256, 768});
  }
  return s;
}

}  // namespace

TEST(ComparisonViewTest, DifferingModulesByFullNameWithDeltasAndBothMeasures) {
  AllocationModel model;
  model.setModules(shapes());
  ComparisonView view;
  view.setModel(&model);
  EXPECT_EQ(view.rowCount(), 0);
  EXPECT_TRUE(view.summaryText().contains("Keep an allocation as the reference"));

  model.setReference(model.allocation(), "kept");  // everything at 4 bits, g128 (the default)
  EXPECT_EQ(view.rowCount(), 0);
  view.setMeasures([](const Allocation& a) {
    QStringList lines;
    const auto it = a.modules.find("model.layers.1.mlp.down_proj");
    lines << QStringLiteral("down_proj of block 1 at %1 bits").arg(it->second.bits);
    return lines;
  });
  model.setBits({3}, 2);  // model.layers.1.mlp.down_proj: 4 -> 2 bits
  ASSERT_EQ(view.rowCount(), 1);
  EXPECT_EQ(view.text(0, ComparisonView::kModuleColumn), "model.layers.1.mlp.down_proj");
  EXPECT_EQ(view.text(0, ComparisonView::kCurrentColumn), "2 bits g128 rtn");
  EXPECT_EQ(view.text(0, ComparisonView::kReferenceColumn), "4 bits g128 rtn");
  // 2 bits fewer per weight (the scales are the same); 256 x 768 weights x 2 bits = 49,152 bytes
  // = 48.0 KiB.
  EXPECT_EQ(view.text(0, ComparisonView::kBitsDeltaColumn), "-2.000");
  EXPECT_EQ(view.text(0, ComparisonView::kBytesDeltaColumn), QString::fromUtf8("\u221248.0 KiB"));
  // The measures side by side: the editor's (2 bits) and the reference's (4 bits).
  const QString summary = view.summaryText();
  EXPECT_TRUE(summary.contains("down_proj of block 1 at 2 bits")) << summary.toStdString();
  EXPECT_TRUE(summary.contains("down_proj of block 1 at 4 bits")) << summary.toStdString();
  EXPECT_TRUE(summary.contains("Reference: kept"));
  EXPECT_TRUE(summary.contains(QString::number(model.cost().average_bits, 'f', 3)));
  EXPECT_TRUE(summary.contains(QString::number(model.referenceCost().average_bits, 'f', 3)));

  model.clearReference();
  EXPECT_EQ(view.rowCount(), 0);
}
