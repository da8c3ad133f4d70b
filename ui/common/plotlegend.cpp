#include "ui/common/plotlegend.h"

#include <qcustomplot.h>

#include <algorithm>

namespace lw {

namespace {

/// Where the legend sits in the plot's layout (-1, -1 when it is in none).
std::pair<int, int> cellOf(QCPLayoutGrid *layout, const QCPLayoutElement *element)
{
    for (int row = 0; row < layout->rowCount(); ++row)
        for (int col = 0; col < layout->columnCount(); ++col)
            if (layout->hasElement(row, col) && layout->element(row, col) == element)
                return {row, col};
    return {-1, -1};
}

void fit(QCustomPlot *plot, int maxColumns, std::pair<int, int> cell)
{
    QCPLegend *legend = plot->legend;
    QCPLayoutGrid *layout = plot->plotLayout();
    const int n = legend->itemCount();
    // An empty legend is an empty grid, whose maximum width is 0: in the plot's layout it would
    // clamp its column, and the axes above it, to their minimum width. It leaves the layout
    // until it has entries.
    const bool placed = legend->layout() == layout;
    if (n == 0) {
        if (placed)
            layout->take(legend);
        return;
    }
    if (!placed && cell.first >= 0 && !layout->hasElement(cell.first, cell.second))
        layout->addElement(cell.first, cell.second, legend);
    int widest = 1;
    for (int i = 0; i < n; ++i)
        if (QCPAbstractLegendItem *item = legend->item(i))
            widest = std::max(widest, item->minimumOuterSizeHint().width());
    const QMargins m = legend->margins();
    const int spacing = legend->columnSpacing();
    const int width = plot->viewport().width() - m.left() - m.right();
    const int fits = std::max(1, (width + spacing) / (widest + spacing));
    const int columns = std::min({maxColumns, fits, n});
    if (legend->wrap() == columns && legend->columnCount() == columns)
        return;
    legend->setWrap(columns);
    legend->setFillOrder(QCPLayoutGrid::foColumnsFirst, true); // re-places the entries
}

} // namespace

void fitLegendToWidth(QCustomPlot *plot, int maxColumns)
{
    maxColumns = std::max(1, maxColumns);
    plot->legend->setWrap(maxColumns);
    plot->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst, true);
    const std::pair<int, int> cell = cellOf(plot->plotLayout(), plot->legend);
    QObject::connect(plot, &QCustomPlot::beforeReplot, plot,
                     [plot, maxColumns, cell] { fit(plot, maxColumns, cell); });
}

} // namespace lw
