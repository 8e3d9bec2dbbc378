#include "bitscape/widgets/about_text.h"

#include <QObject>

namespace bitscape::widgets {

QString aboutHtml(const QString& version, const DoctorReport* report,
                  const QString& formatted_report) {
  QString html = QObject::tr("<h3>Bitscape %1</h3><p>A workbench for mixed-precision weight "
                             "quantization of large language models.</p>")
                     .arg(version.toHtmlEscaped());
  if (report == nullptr)
    return html + QObject::tr("<p><i>Still inspecting this machine (BLAS, devices)\u2026</i></p>");
  if (report->reference_blas)
    html += QObject::tr(
        "<p style='color:#b3261e'><b>WARNING: LibTorch is using the reference BLAS.</b> "
        "Matrix products run about 50\u00D7 slower than with an optimised BLAS; calibration, "
        "search and evaluation on the CPU will crawl. Install an optimised BLAS (Debian: "
        "<tt>libopenblas0-pthread</tt>) and restart Bitscape.</p>");
  html += QStringLiteral("<pre>%1</pre>").arg(formatted_report.toHtmlEscaped());
  return html;
}

}  // namespace bitscape::widgets
