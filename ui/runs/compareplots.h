#pragma once

#include "ui/runs/comparemodel.h"

#include <QColor>
#include <QPen>
#include <QPixmap>
#include <QString>
#include <QVector>

#include <functional>

class QCPGraph;
class QCustomPlot;

namespace lw {

// Drawing the comparison's plots from a CompareModel: styles, seed-group bands, stage
// boundaries and the accuracy-by-depth plot.

/// "test", "ensemble", "train", "train loss", ...
QString seriesLabel(CompareSeries series);
/// Solid for test, dashed for ensemble, dotted for train.
Qt::PenStyle seriesStyle(CompareSeries series);
/// A run's pen for `series`: thin and faint for the raw values behind a smoothed curve.
QPen seriesPen(const QColor &color, CompareSeries series, bool raw);
/// A rounded colour square for tables and the run list.
QPixmap swatch(const QColor &color, int size = 14);

/// Drag/zoom, integer steps on x, light grid, the legend in one row under the axes.
void stylePlot(QCustomPlot *plot);

/// Adds a seed group's min-max band and mean curve; returns the three graphs (low, high, mean).
QVector<QCPGraph *> addBand(QCustomPlot *plot, const SeriesBand &band, const QColor &color,
                            CompareSeries series, const QString &name);

/// Removes the plot items tagged with run `id` (its stage boundaries).
void removeRunItems(QCustomPlot *plot, qint64 id);
/// A line in the run's colour after each stage's last step, labelled with the next stage
/// ("S2" = stage 2, 1-based); `row` stacks the labels of runs sharing a boundary.
void addStageBoundaries(QCustomPlot *plot, const CompareModel::Run &run, const QColor &color,
                        int row);

/// Fits the axes to the visible graphs (accuracy: at most 100 %); a default range when empty.
void fitCurves(QCustomPlot *plot, bool loss);

/// Redraws the accuracy-by-depth plot: head, ensemble and probe per layer for every run.
void drawDepth(QCustomPlot *plot, const CompareModel &model,
               const std::function<QColor(qint64)> &colorOf);

} // namespace lw
