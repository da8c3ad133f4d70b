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
/// A run's pen for `series`: the recorded values bold in the series' style; with `smoothed`,
/// the thin, lighter trend line drawn over them (TensorBoard keeps the raw data readable).
QPen seriesPen(const QColor &color, CompareSeries series, bool smoothed);
/// A rounded colour square for tables and the run list.
QPixmap swatch(const QColor &color, int size = 14);

/// Drag/zoom, integer steps on x, light grid, the legend in rows under the axes (outside the
/// data, wrapping after a few entries).
void stylePlot(QCustomPlot *plot);
/// The x axis's label and ticks for `axis` (epochs: integers; seconds: h:mm:ss).
void setCurvesAxis(QCustomPlot *plot, CompareAxis axis);
/// "epochs", "optimizer steps", "images seen", "wall-clock time".
QString axisLabel(CompareAxis axis);

/// Adds a seed group's band (min-max, or mean ± one standard deviation with `sd`) and mean
/// curve; returns the three graphs (low, high, mean).
QVector<QCPGraph *> addBand(QCustomPlot *plot, const SeriesBand &band, const QColor &color,
                            CompareSeries series, const QString &name, bool sd);
/// A legend entry (no data) drawn with `pen`, named `name`; tagged with `runId` when not 0.
QCPGraph *addLegendKey(QCustomPlot *plot, const QPen &pen, const QString &name, qint64 runId = 0);

/// Removes the plot items tagged with run `id` (its stage boundaries).
void removeRunItems(QCustomPlot *plot, qint64 id);
/// A line in the run's colour where one stage hands over to the next, labelled with the next
/// stage ("S2" = stage 2, 1-based); a label another run already drew at the same place is not
/// drawn again. `row` stacks the labels of runs with boundaries at different places.
void addStageBoundaries(QCustomPlot *plot, const CompareModel::Run &run, const QColor &color,
                        int row, CompareAxis axis);

/// Fits the axes to the visible graphs (accuracy: at most 100 %); a default range when empty.
void fitCurves(QCustomPlot *plot, bool loss, CompareAxis axis = CompareAxis::Epochs);

/// Redraws the accuracy-by-depth plot: head, ensemble and probe per layer for every run.
void drawDepth(QCustomPlot *plot, const CompareModel &model,
               const std::function<QColor(qint64)> &colorOf);

} // namespace lw
