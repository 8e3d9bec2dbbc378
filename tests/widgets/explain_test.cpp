#include "bitscape/widgets/explain.h"

#include <gtest/gtest.h>

using bitscape::widgets::explainedViews;
using bitscape::widgets::explainHtml;

TEST(ExplainTest, EveryViewHasItsOwnTextWithAFormulaOrAPaper) {
  QStringList seen;
  for (const QString& v : explainedViews()) {
    const QString html = explainHtml(v);
    EXPECT_TRUE(html.startsWith("<h3>")) << v.toStdString();
    EXPECT_FALSE(seen.contains(html)) << v.toStdString();
    seen << html;
  }
  EXPECT_TRUE(explainHtml("pareto").contains("NSGA-II"));
  EXPECT_TRUE(explainHtml("allocation").contains("b + 32/g"));
  EXPECT_TRUE(explainHtml("sensitivity").contains("Hutchinson"));
  EXPECT_TRUE(explainHtml("nonsense").contains("Select a view"));
}
