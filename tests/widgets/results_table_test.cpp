// The results table (results_table.h) as the user edits it: a label typed into its cell, the pin
// and hide boxes ticked; each change is reported once with the whole record; hidden rows leave
// the table until "Show hidden"; what each column shows.
#include "bitscape/widgets/results_table.h"

#include <QSignalSpy>
#include <QTableWidget>

#include <gtest/gtest.h>

#include <cmath>

using bitscape::EvaluationRecord;
using bitscape::widgets::ResultsTable;

namespace {

EvaluationRecord record(const char* name, const char* subject, double bits, double ppl) {
  EvaluationRecord e;
  e.name = name;
  e.label = std::string("label of ") + name;
  e.subject = subject;
  e.allocation_name = std::string(subject) == "allocation" ? "dp-3.0" : "";
  e.average_bits = bits;
  e.data = "/data/sample/test.txt";
  e.windows = 503;
  e.seqlen = 256;
  e.device = "cpu";
  e.dtype = "fp32";
  e.ppl = ppl;
  return e;
}

}  // namespace

TEST(ResultsTableTest, EditsInTheTableAreReportedAndHiddenRowsLeaveIt) {
  ResultsTable table;
  table.setRecords({record("eval0001", "unquantized", std::nan(""), 36.9),
                    record("eval0002", "allocation", 3.012, 41.25)});
  ASSERT_EQ(table.visibleRowCount(), 2);
  EXPECT_EQ(table.text(0, ResultsTable::kModelColumn), "unquantized");
  EXPECT_EQ(table.text(0, ResultsTable::kBitsColumn), "16");
  EXPECT_EQ(table.text(1, ResultsTable::kModelColumn), "allocation dp-3.0");
  EXPECT_EQ(table.text(1, ResultsTable::kBitsColumn), "3.012");
  EXPECT_EQ(table.text(1, ResultsTable::kDataColumn), "test.txt");
  EXPECT_EQ(table.text(1, ResultsTable::kWindowsColumn), QString::fromUtf8("503 \u00D7 256"));
  EXPECT_EQ(table.text(1, ResultsTable::kDeviceColumn), "cpu fp32");
  EXPECT_EQ(table.text(1, ResultsTable::kPplColumn), "41.250");

  QSignalSpy changed(&table, &ResultsTable::recordChanged);
  auto* grid = table.findChild<QTableWidget*>("resultsTable");
  ASSERT_NE(grid, nullptr);
  grid->item(1, ResultsTable::kLabelColumn)->setText("  my 3-bit point ");
  ASSERT_EQ(changed.count(), 1);
  EXPECT_EQ(changed.at(0).at(0).value<EvaluationRecord>().label, "my 3-bit point");
  EXPECT_EQ(table.records()[1].label, "my 3-bit point");
  grid->item(1, ResultsTable::kLabelColumn)->setText("   ");  // an empty label is not taken
  EXPECT_EQ(changed.count(), 1);
  EXPECT_EQ(table.records()[1].label, "my 3-bit point");

  grid->item(1, ResultsTable::kPinColumn)->setCheckState(Qt::Checked);
  ASSERT_EQ(changed.count(), 2);
  EXPECT_TRUE(table.records()[1].pinned);
  grid->item(0, ResultsTable::kHideColumn)->setCheckState(Qt::Checked);
  ASSERT_EQ(changed.count(), 3);
  EXPECT_TRUE(table.records()[0].hidden);
  EXPECT_EQ(table.visibleRowCount(), 1);
  EXPECT_EQ(table.text(0, ResultsTable::kLabelColumn), "my 3-bit point");
  table.setShowHidden(true);
  EXPECT_EQ(table.visibleRowCount(), 2);
  EXPECT_EQ(changed.count(), 3);  // showing hidden rows changes no record
}
