#include "bitscape/widgets/about_text.h"

#include <gtest/gtest.h>

#include "qt_printers.h"

using bitscape::DoctorReport;
using bitscape::widgets::aboutHtml;

TEST(AboutTextTest, SaysTheMachineIsStillBeingInspectedWithoutAReport) {
  const QString html = aboutHtml("0.1.0", nullptr, QString());
  EXPECT_TRUE(html.contains("Bitscape 0.1.0"));
  EXPECT_TRUE(html.contains("Still inspecting"));
}

TEST(AboutTextTest, WarnsLoudlyFirstWhenTheReferenceBlasIsInUse) {
  DoctorReport r;
  r.reference_blas = true;
  const QString html =
      aboutHtml("0.1.0", &r, "BLAS  reference (/usr/lib/x86_64-linux-gnu/blas/libblas.so.3)\n");
  const int warning = html.indexOf("WARNING: LibTorch is using the reference BLAS");
  ASSERT_GE(warning, 0);
  EXPECT_LT(warning, html.indexOf("<pre>"));
  EXPECT_TRUE(html.contains("libopenblas0-pthread"));
  EXPECT_TRUE(html.contains("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3"));
}

TEST(AboutTextTest, ShowsTheReportEscapedAndNoWarningWithAnOptimisedBlas) {
  DoctorReport r;
  r.reference_blas = false;
  const QString html = aboutHtml("0.1.0", &r, "BLAS  openblas (<lib>)\n");
  EXPECT_FALSE(html.contains("WARNING"));
  EXPECT_TRUE(html.contains("BLAS  openblas (&lt;lib&gt;)"));
}
