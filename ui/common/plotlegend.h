#pragma once

// Legends outside the data (in a row of the plot's layout) that never take more width than the
// plot has.

class QCustomPlot;

namespace lw {

/// Before each replot, wraps `plot`'s legend into as many columns as its entries fit side by
/// side in the plot's width (at most `maxColumns`, at least one), so that no entry is cut and the
/// legend never asks for more width than the axes get; a narrow plot gets more legend rows. An
/// empty legend leaves the layout until it has entries (it would clamp the axes' width). Call
/// it once the legend is in its cell of the plot's layout.
void fitLegendToWidth(QCustomPlot *plot, int maxColumns);

} // namespace lw
