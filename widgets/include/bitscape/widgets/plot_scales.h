// Colour maps and axis tickers shared by the workbench's plots, chosen so that the colour says
// what the data says:
// - sequential data (one sign): viridis, dark to light without reaching white;
// - signed data (both signs, e.g. the perplexity change at 8 bits, which can be negative): a
//   diverging blue-grey-red map centred on zero over a symmetric range (ColorBrewer's RdBu, as
//   matplotlib's "RdBu_r");
// - bit-widths: one colour per bit-width (2, 3, 4, 5, 6, 8, 16), far apart in hue and lightness;
// - log axes (colour bars, the Pareto front's KL axis): ticks at 1, 2 and 5 x 10^k when the range
//   spans less than two decades, so that a short range still carries three or more labels.
#pragma once

#include <qcustomplot.h>

#include <QColor>
#include <vector>

namespace bitscape::widgets {

QCPColorGradient sequentialGradient();
QCPColorGradient divergingGradient();
// For values in [2, 16] (code bits per weight) on a log scale (QCPColorGradient::color(..., true));
// fractional values blend their neighbours.
QCPColorGradient bitsGradient();
// The colour bitsGradient gives `bits`, and the bit-widths it names.
QColor bitsColour(double bits);
const std::vector<int>& bitsPaletteWidths();

// Log ticks that stay readable on short ranges (see above); labels as "0.02", "5e-05".
class ReadableLogTicker : public QCPAxisTickerLog {
 public:
  ReadableLogTicker();

 protected:
  QVector<double> createTickVector(double tickStep, const QCPRange& range) override;
  QString getTickLabel(double tick, const QLocale& locale, QChar formatChar, int precision) override;
};

// Ticks of an axis range as the ticker places them (for tests and tooltips).
QVector<double> ticksOf(QCPAxisTicker& ticker, const QCPRange& range);

}  // namespace bitscape::widgets
