// The text of Help > About: what Bitscape is, and the machine report (`bitscape-cli doctor`),
// led by a loud warning when LibTorch runs on the reference BLAS.
#pragma once

#include <QString>

#include "bitscape/doctor.h"

namespace bitscape::widgets {

// Rich text (HTML). `report` is null while the machine is still being inspected;
// `formatted_report` is format_doctor(*report), computed by the caller (core code).
QString aboutHtml(const QString& version, const DoctorReport* report,
                  const QString& formatted_report);

}  // namespace bitscape::widgets
