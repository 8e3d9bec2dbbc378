#include "bitscape/widgets/allocation_model.h"

#include <QApplication>
#include <QMouseEvent>
#include <QSignalSpy>
#include <QTest>

#include <gtest/gtest.h>

#include "bitscape/widgets/allocation_editor.h"
#include "bitscape/widgets/allocation_map.h"
#include "bitscape/widgets/heatmap_view.h"
#include "bitscape/widgets/sensitivity_panel.h"

using bitscape::ModuleShape;
using bitscape::widgets::AllocationEditor;
using bitscape::widgets::AllocationModel;

namespace {

// Two blocks shaped like the sample model's (hidden 256, kv 128, MLP 768).
std::vector<ModuleShape> shapes() {
  std::vector<ModuleShape> s;
  for (int b = 0; b < 2; ++b) {
    const std::string p = "model.layers." + std::to_string(b) + ".";
    s.push_back({p + "self_attn.q_proj", 256, 256});
    s.push_back({p + "self_attn.k_proj", 128, 256});
    s.push_back({p + "self_attn.v_proj", 128, 256});
    s.push_back({p + "self_attn.o_proj", 256, 256});
    s.push_back({p + "mlp.gate_proj", 768, 256});
    s.push_back({p + "mlp.up_proj", 768, 256});
    s.push_back({p + "mlp.down_proj", 256, 768});
  }
  return s;
}

// Average bits with overhead by hand: b code bits plus one fp16 scale and zero per group of 128.
double expectedAverage(const std::vector<ModuleShape>& s, const std::vector<int>& bits) {
  double total = 0, weights = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    total += double(s[i].numel()) * (bits[i] + 32.0 / 128.0);
    weights += double(s[i].numel());
  }
  return total / weights;
}

}  // namespace

TEST(AllocationModelTest, TotalsFollowEveryEditAndUndoRestoresThem) {
  AllocationModel model;
  const auto s = shapes();
  model.setModules(s);
  ASSERT_EQ(model.rowCount(), 14);
  std::vector<int> bits(14, 4);
  EXPECT_NEAR(model.cost().average_bits, expectedAverage(s, bits), 1e-12);  // 4.25
  QSignalSpy totals(&model, &AllocationModel::totalsChanged);

  // One cell by keyboard/delegate path: down_proj of block 0 to 2 bits.
  ASSERT_TRUE(model.setData(model.index(6, AllocationModel::BitsColumn), 2));
  bits[6] = 2;
  EXPECT_NEAR(model.cost().average_bits, expectedAverage(s, bits), 1e-12);
  EXPECT_EQ(totals.count(), 1);

  // A bulk edit: every q_proj to 3 bits, one undo step.
  EXPECT_EQ(model.setBits(model.rowsOfKind("self_attn.q_proj"), 3), 2);
  bits[0] = bits[7] = 3;
  EXPECT_NEAR(model.cost().average_bits, expectedAverage(s, bits), 1e-12);
  EXPECT_EQ(model.undoStack()->count(), 2);

  model.undoStack()->undo();
  bits[0] = bits[7] = 4;
  EXPECT_NEAR(model.cost().average_bits, expectedAverage(s, bits), 1e-12);
  EXPECT_EQ(model.module(0).bits, 4);
  model.undoStack()->redo();
  EXPECT_EQ(model.module(7).bits, 3);
}

TEST(AllocationModelTest, LockedModulesAreLeftOutOfEditsAndInvalidSettingsAreRefused) {
  AllocationModel model;
  model.setModules(shapes());
  ASSERT_TRUE(model.setData(model.index(8, AllocationModel::LockColumn), Qt::Checked, Qt::CheckStateRole));
  EXPECT_TRUE(model.locked(8));
  EXPECT_FALSE(model.flags(model.index(8, AllocationModel::BitsColumn)) & Qt::ItemIsEditable);
  EXPECT_EQ(model.setBits(model.rowsOfBlock(1), 2), 6);  // 7 modules, one locked
  EXPECT_EQ(model.module(8).bits, 4);
  EXPECT_FALSE(model.setData(model.index(8, AllocationModel::BitsColumn), 3));

  // Group 96 does not divide 256 input features; 9 bits is out of range.
  EXPECT_FALSE(model.setData(model.index(0, AllocationModel::GroupColumn), 96));
  EXPECT_FALSE(model.setData(model.index(0, AllocationModel::BitsColumn), 9));
  EXPECT_TRUE(model.setData(model.index(0, AllocationModel::GroupColumn), 64));
  EXPECT_EQ(model.module(0).group_size, 64);
  EXPECT_TRUE(model.setData(model.index(0, AllocationModel::QuantizerColumn), "gptq"));
  EXPECT_EQ(model.module(0).quantizer, bitscape::QuantizerKind::kGptq);
  EXPECT_FALSE(model.setData(model.index(0, AllocationModel::QuantizerColumn), "nonsense"));
  EXPECT_EQ(model.rowOf("layers.1.mlp.down_proj"), 13);
}

TEST(AllocationModelTest, AnAllocationLoadsAsOneStepAndComesBackTheSame) {
  AllocationModel model;
  const auto s = shapes();
  model.setModules(s);
  bitscape::ModuleAllocation two;
  two.bits = 2;
  two.group_size = 64;
  two.quantizer = bitscape::QuantizerKind::kHqq;
  bitscape::Allocation a = bitscape::Allocation::uniform(s, two);
  a.modules["model.layers.0.mlp.down_proj"].bits = bitscape::kUnquantizedBits;
  model.setAllocation(a);
  EXPECT_EQ(model.undoStack()->count(), 1);
  const bitscape::Allocation back = model.allocation();
  for (const ModuleShape& m : s) EXPECT_TRUE(back.module(m.name) == a.module(m.name)) << m.name;
  EXPECT_EQ(model.data(model.index(6, AllocationModel::BitsColumn)).toString(), "16 (fp16)");
}

TEST(AllocationEditorTest, TheMeterAndTheSelectionEditFollowTheModel) {
  AllocationEditor editor;
  const auto s = shapes();
  editor.model()->setModules(s);
  EXPECT_TRUE(editor.meterText().startsWith("4.250 bits per weight"));
  editor.selectModule("model.layers.1.self_attn.v_proj");
  EXPECT_EQ(editor.applyBitsToSelection(), 1);  // the bulk spin box starts at 3 bits
  std::vector<int> bits(14, 4);
  bits[9] = 3;
  EXPECT_TRUE(editor.meterText().startsWith(QString::number(expectedAverage(s, bits), 'f', 3)));
  QSignalSpy evaluate(&editor, &AllocationEditor::evaluateRequested);
  editor.findChild<QWidget*>("evaluateAllocation")->metaObject()->invokeMethod(
      editor.findChild<QWidget*>("evaluateAllocation"), "click");
  ASSERT_EQ(evaluate.count(), 1);
}

TEST(AllocationMapTest, TheGridAndTheBarsShowEachModulesBitsAndTheAverage) {
  bitscape::widgets::AllocationModel model;
  const auto s = shapes();
  model.setModules(s);
  bitscape::widgets::AllocationMap map;
  map.setModel(&model);
  model.setBits(model.rowsOfKind("mlp.down_proj"), 2);
  model.setBits({2}, 8);  // layers.0 v_proj
  ASSERT_EQ(map.grid()->rows(), 2);
  EXPECT_DOUBLE_EQ(map.grid()->drawnValue(0, 6), 2.0);
  EXPECT_DOUBLE_EQ(map.grid()->drawnValue(0, 2), 8.0);
  EXPECT_DOUBLE_EQ(map.grid()->drawnValue(1, 0), 4.0);
  const auto bars = map.barValues();
  ASSERT_EQ(bars.size(), 7u);
  EXPECT_EQ(bars[6], std::vector<double>({2.0, 2.0}));
  EXPECT_EQ(bars[2], std::vector<double>({8.0, 4.0}));
  EXPECT_DOUBLE_EQ(map.averageLine(), model.cost().average_code_bits);
}

TEST(AllocationMapTest, DraggingOverTheGridPaintsBitsInOneUndoStep) {
  bitscape::widgets::AllocationModel model;
  model.setModules(shapes());
  bitscape::widgets::AllocationMap map;
  map.resize(500, 700);
  map.setModel(&model);
  map.show();
  map.setPainting(true, 2);
  auto* grid = map.grid();
  grid->replot();
  auto at = [&](int row, int column) {
    return QPoint(int(grid->xAxis->coordToPixel(column)), int(grid->yAxis->coordToPixel(row)));
  };
  const int steps = model.undoStack()->count();
  QTest::mousePress(grid, Qt::LeftButton, Qt::NoModifier, at(0, 4));
  QMouseEvent move(QEvent::MouseMove, at(0, 5), grid->mapToGlobal(at(0, 5)), Qt::NoButton,
                   Qt::LeftButton, Qt::NoModifier);
  QApplication::sendEvent(grid, &move);
  QMouseEvent move2(QEvent::MouseMove, at(1, 5), grid->mapToGlobal(at(1, 5)), Qt::NoButton,
                    Qt::LeftButton, Qt::NoModifier);
  QApplication::sendEvent(grid, &move2);
  QTest::mouseRelease(grid, Qt::LeftButton, Qt::NoModifier, at(1, 5));
  EXPECT_EQ(model.module(4).bits, 2);   // layers.0 gate
  EXPECT_EQ(model.module(5).bits, 2);   // layers.0 up
  EXPECT_EQ(model.module(12).bits, 2);  // layers.1 up
  EXPECT_EQ(model.module(6).bits, 4);
  EXPECT_EQ(model.undoStack()->count(), steps + 1);
  model.undoStack()->undo();
  EXPECT_EQ(model.module(5).bits, 4);
  EXPECT_EQ(model.module(12).bits, 4);
}

TEST(AllocationModelTest, AReferenceShowsWhichModulesDifferAndByHowManyBits) {
  AllocationModel model;
  const auto s = shapes();
  model.setModules(s);
  model.setReference(model.allocation(), "kept");
  EXPECT_TRUE(model.differingRows().empty());
  EXPECT_EQ(model.data(model.index(3, AllocationModel::ReferenceColumn)).toString(), "=");
  model.setBits(model.rowsOfKind("mlp.up_proj"), 2);
  ASSERT_TRUE(model.setData(model.index(0, AllocationModel::GroupColumn), 64));
  EXPECT_EQ(model.differingRows(), std::vector<int>({0, 5, 12}));
  EXPECT_EQ(model.data(model.index(5, AllocationModel::ReferenceColumn)).toString(), "4");
  EXPECT_EQ(model.data(model.index(0, AllocationModel::ReferenceColumn)).toString(), "4 g128");
  EXPECT_TRUE(model.data(model.index(5, AllocationModel::BitsColumn), Qt::BackgroundRole).isValid());
  EXPECT_FALSE(model.data(model.index(6, AllocationModel::BitsColumn), Qt::BackgroundRole).isValid());
  EXPECT_NEAR(model.referenceCost().average_bits, 4.25, 1e-12);
  AllocationEditor editor;
  editor.model()->setModules(s);
  editor.model()->setReference(editor.model()->allocation(), "kept");
  editor.model()->setBits({0}, 8);
  EXPECT_TRUE(editor.meterText().contains("1 module differs")) << editor.meterText().toStdString();
  model.clearReference();
  EXPECT_TRUE(model.differingRows().empty());
}

TEST(AllocationMapTest, ACellWithChannelClassesShowsTheShareOfEach) {
  bitscape::widgets::AllocationModel model;
  const auto s = shapes();
  model.setModules(s);
  bitscape::ModuleAllocation mixed;
  mixed.bits = 2;
  mixed.group_size = 128;
  bitscape::ChannelClass four;
  four.bits = 4;
  four.select = bitscape::ChannelSelect::kIndices;
  for (int64_t c = 0; c < 64; ++c) four.indices.push_back(c);  // a quarter of 256 input channels
  mixed.channels.axis = bitscape::ChannelAxis::kIn;
  mixed.channels.classes = {four};
  bitscape::Allocation a = bitscape::Allocation::uniform(s, model.module(0));
  a.modules["model.layers.0.self_attn.q_proj"] = mixed;
  model.setAllocation(a);
  bitscape::widgets::AllocationMap map;
  map.setModel(&model);
  EXPECT_DOUBLE_EQ(map.grid()->drawnValue(0, 0), 2.5);  // 1/4 at 4 bits, 3/4 at 2
  const QString text = map.cellText(0, 0);
  EXPECT_TRUE(text.contains("25.0 % of the input channels at 4 bits")) << text.toStdString();
  EXPECT_TRUE(text.contains("75.0 % of the input channels at 2 bits")) << text.toStdString();
  EXPECT_FALSE(map.cellText(0, 1).contains("channels")) << map.cellText(0, 1).toStdString();
}

TEST(SensitivityPanelTest, CellsShowTheAllocationsBitsAndPaintingEditsIt) {
  bitscape::widgets::AllocationModel model;
  model.setModules(shapes());
  // A sensitivity run over the same two blocks.
  std::vector<bitscape::SensitivityCurve> curves;
  for (const ModuleShape& s : shapes()) {
    bitscape::SensitivityCurve c;
    c.module = s.name;
    c.bits = {2, 3};
    c.kl = {0.2, 0.02};
    curves.push_back(c);
  }
  bitscape::widgets::SensitivityPanel panel;
  panel.resize(600, 500);
  panel.show();
  panel.setCurves("run1", curves);
  panel.setAllocationModel(&model);
  auto* map = panel.heatmap();
  EXPECT_EQ(map->cellLabelCount(), 14);  // every module labelled with its bits
  panel.setPainting(true, 3);
  map->replot();
  auto at = [&](int row, int column) {
    return QPoint(int(map->xAxis->coordToPixel(column)), int(map->yAxis->coordToPixel(row)));
  };
  const int steps = model.undoStack()->count();
  QTest::mousePress(map, Qt::LeftButton, Qt::NoModifier, at(1, 6));
  QMouseEvent move(QEvent::MouseMove, at(0, 6), map->mapToGlobal(at(0, 6)), Qt::NoButton,
                   Qt::LeftButton, Qt::NoModifier);
  QApplication::sendEvent(map, &move);
  QTest::mouseRelease(map, Qt::LeftButton, Qt::NoModifier, at(0, 6));
  EXPECT_EQ(model.module(13).bits, 3);  // layers.1 down
  EXPECT_EQ(model.module(6).bits, 3);   // layers.0 down
  EXPECT_EQ(model.module(5).bits, 4);
  EXPECT_EQ(model.undoStack()->count(), steps + 1);
  EXPECT_EQ(map->cellLabel(1, 6), "3");  // the labels follow the edit
  EXPECT_EQ(map->cellLabel(1, 5), "4");
  // Without painting a click only selects.
  panel.setPainting(false, 2);
  QTest::mouseClick(map, Qt::LeftButton, Qt::NoModifier, at(0, 0));
  EXPECT_EQ(model.module(0).bits, 4);
  EXPECT_EQ(model.undoStack()->count(), steps + 1);
}
