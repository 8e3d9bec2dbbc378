#include "bitscape/widgets/plot_scales.h"

#include <algorithm>
#include <cmath>

namespace bitscape::widgets {

namespace {
QCPColorGradient fromStops(std::initializer_list<std::pair<double, QColor>> stops) {
  QCPColorGradient g;
  g.clearColorStops();
  for (const auto& [at, colour] : stops) g.setColorStopAt(at, colour);
  g.setColorInterpolation(QCPColorGradient::ciRGB);
  g.setNanHandling(QCPColorGradient::nhTransparent);
  return g;
}
}  // namespace

QCPColorGradient sequentialGradient() {
  // Stops sampled from matplotlib's viridis (perceptually uniform; a white cell would read as
  // empty, so it stops at yellow).
  return fromStops({{0.00, QColor(0x44, 0x01, 0x54)},
                    {0.25, QColor(0x3b, 0x52, 0x8b)},
                    {0.50, QColor(0x21, 0x91, 0x8c)},
                    {0.75, QColor(0x5e, 0xc9, 0x62)},
                    {1.00, QColor(0xfd, 0xe7, 0x25)}});
}

QCPColorGradient divergingGradient() {
  // ColorBrewer RdBu (11 classes, reversed: negative blue, positive red), its white centre
  // replaced by a light grey so that a zero cell does not read as an empty one.
  return fromStops({{0.0, QColor(0x05, 0x30, 0x61)},
                    {0.1, QColor(0x21, 0x66, 0xac)},
                    {0.25, QColor(0x67, 0xa9, 0xcf)},
                    {0.4, QColor(0xd1, 0xe5, 0xf0)},
                    {0.5, QColor(0xe4, 0xe4, 0xe4)},
                    {0.6, QColor(0xfd, 0xdb, 0xc7)},
                    {0.75, QColor(0xef, 0x8a, 0x62)},
                    {0.9, QColor(0xb2, 0x18, 0x2b)},
                    {1.0, QColor(0x67, 0x00, 0x1f)}});
}

namespace {
struct BitsStop {
  int bits;
  QColor colour;
};
// Dark red, orange, yellow, light green, teal, blue, grey: neighbours differ in hue and
// lightness (2 and 3 bits used to be two nearly equal reds).
const BitsStop kBitsStops[] = {{2, QColor(0x9e, 0x01, 0x42)},  {3, QColor(0xf4, 0x6d, 0x43)},
                               {4, QColor(0xfe, 0xe0, 0x8b)},  {5, QColor(0xab, 0xdd, 0xa4)},
                               {6, QColor(0x66, 0xc2, 0xa5)},  {8, QColor(0x32, 0x88, 0xbd)},
                               {16, QColor(0x9a, 0x9a, 0x9a)}};
}  // namespace

QCPColorGradient bitsGradient() {
  QCPColorGradient g;
  g.clearColorStops();
  // On a log2 scale from 2 to 16 bits, so that 2, 3, 4 and 8 bits get room on the colour bar
  // (on a linear one 2..6 shared its lowest third).
  for (const BitsStop& s : kBitsStops) g.setColorStopAt(std::log2(s.bits / 2.0) / 3.0, s.colour);
  g.setColorInterpolation(QCPColorGradient::ciRGB);
  g.setLevelCount(3001);  // fine steps: 3.25 bits blends 3 and 4, exact widths hit their stop
  g.setNanHandling(QCPColorGradient::nhTransparent);
  return g;
}

QColor bitsColour(double bits) {
  // One gradient for every call (the model tree asks for each visible cell): its colour table is
  // built on first use. GUI thread only.
  static QCPColorGradient gradient = bitsGradient();
  return QColor::fromRgb(gradient.color(std::clamp(bits, 2.0, 16.0), QCPRange(2, 16), /*logarithmic=*/true));
}

const std::vector<int>& bitsPaletteWidths() {
  static const std::vector<int> widths = [] {
    std::vector<int> w;
    for (const BitsStop& s : kBitsStops) w.push_back(s.bits);
    return w;
  }();
  return widths;
}

ReadableLogTicker::ReadableLogTicker() {
  setLogBase(10);
  setSubTickCount(0);
}

QVector<double> ReadableLogTicker::createTickVector(double, const QCPRange& range) {
  QVector<double> ticks;
  const double lo = std::min(range.lower, range.upper), hi = std::max(range.lower, range.upper);
  if (!(lo > 0) || !std::isfinite(hi)) return ticks;
  const int k0 = int(std::floor(std::log10(lo))), k1 = int(std::ceil(std::log10(hi)));
  // Mantissas by how many decades the range spans: powers of ten alone on wide ranges, thinned
  // so that at most ~8 labels are drawn.
  const int decades = k1 - k0;
  std::vector<double> mantissas;
  if (decades <= 1) mantissas = {1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9};
  else if (decades <= 2) mantissas = {1, 2, 5};
  else mantissas = {1};
  const int every = std::max(1, decades / 8);
  for (int k = k0; k <= k1; k += (decades > 2 ? every : 1))
    for (double m : mantissas) {
      const double t = m * std::pow(10.0, k);
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push_back(t);
    }
  // A range within one decade: thin the 1..9 mantissas to at most ~6 ticks.
  if (decades <= 1 && ticks.size() > 6) {
    QVector<double> thin;
    const int step = int(std::ceil(ticks.size() / 6.0));
    for (int i = 0; i < ticks.size(); i += step) thin.push_back(ticks[i]);
    ticks = thin;
  }
  if (ticks.size() < 2) {
    // Narrower than the gap between mantissas: the two ends.
    ticks = {lo, hi};
  }
  return ticks;
}

QString ReadableLogTicker::getTickLabel(double tick, const QLocale& locale, QChar, int) {
  return locale.toString(tick, 'g', 3);
}

QVector<double> ticksOf(QCPAxisTicker& ticker, const QCPRange& range) {
  QVector<double> ticks, subTicks;
  QVector<QString> labels;
  ticker.generate(range, QLocale::c(), QLatin1Char('g'), 3, ticks, &subTicks, &labels);
  return ticks;
}

}  // namespace bitscape::widgets
