#include "bitscape/widgets/format.h"

#include <QStringList>

#include <cmath>

namespace bitscape::widgets {

QString formatCount(int64_t value) {
  const bool negative = value < 0;
  // Work on the unsigned magnitude so that INT64_MIN does not overflow.
  uint64_t magnitude = negative ? uint64_t(0) - uint64_t(value) : uint64_t(value);
  QString digits = QString::number(magnitude);
  QString out;
  out.reserve(digits.size() + digits.size() / 3 + 1);
  for (int i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.append(QLatin1Char(','));
    out.append(digits.at(i));
  }
  return negative ? QLatin1Char('-') + out : out;
}

QString formatCountShort(int64_t value) {
  const double v = double(value);
  const double a = std::abs(v);
  if (a >= 1e9) return QString::number(v / 1e9, 'f', 2) + QStringLiteral(" B");
  if (a >= 1e6) return QString::number(v / 1e6, 'f', 2) + QStringLiteral(" M");
  if (a >= 1e3) return QString::number(v / 1e3, 'f', 1) + QStringLiteral(" k");
  return QString::number(value);
}

QString formatShape(const std::vector<int64_t>& shape) {
  QStringList parts;
  for (int64_t d : shape) parts << QString::number(d);
  return parts.join(QStringLiteral(" \u00D7 "));
}

QString formatShare(double fraction) {
  if (fraction > 0.0 && fraction < 0.00005) return QStringLiteral("< 0.01 %");
  return QString::number(fraction * 100.0, 'f', 2) + QStringLiteral(" %");
}

QString formatBytes(int64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(bytes);
  int unit = 0;
  while (std::abs(v) >= 1024.0 && unit < 4) {
    v /= 1024.0;
    ++unit;
  }
  if (unit == 0) return QString::number(bytes) + QStringLiteral(" B");
  return QString::number(v, 'f', 1) + QLatin1Char(' ') + QLatin1String(units[unit]);
}

QString formatDuration(double seconds) {
  if (!(seconds >= 0.0) || !std::isfinite(seconds)) return QString();
  if (seconds < 60.0) return QString::number(seconds, 'f', 1) + QStringLiteral(" s");
  const int64_t total = int64_t(std::llround(seconds));
  const int64_t h = total / 3600, m = (total % 3600) / 60, s = total % 60;
  if (h > 0) return QStringLiteral("%1 h %2 min").arg(h).arg(m, 2, 10, QLatin1Char('0'));
  return QStringLiteral("%1 min %2 s").arg(m).arg(s, 2, 10, QLatin1Char('0'));
}

}  // namespace bitscape::widgets
