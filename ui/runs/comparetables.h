#pragma once

#include "ui/runs/comparemodel.h"

#include <QColor>
#include <QString>

#include <functional>

class QTableWidget;

namespace lw {

// The comparison's tables, filled from a CompareModel: the config diff and the summary.

/// The table's header and cells as CSV; `firstHeader`, when given, replaces the first title.
QString tableCsv(const QTableWidget *table, const QString &firstHeader = {});

/// One column per run (with its colour): the fields that differ, bold on a light background,
/// or with `showEqual` (or a single run) every field.
void fillDiffTable(QTableWidget *table, const CompareModel &model,
                   const QVector<ConfigField> &fields, bool showEqual,
                   const std::function<QColor(qint64)> &colorOf);

/// One row per run or seed group: mode, status, accuracies (top-5 where measured), size, wall
/// time and images/s; a group's numbers read "mean [min–max]".
void fillSummaryTable(QTableWidget *table, const CompareModel &model, bool groupSeeds,
                      const std::function<QColor(qint64)> &colorOf);

/// The summary as CSV of numbers: run_id,run,mode,status,runs, then test_acc, test_top5,
/// ensemble_acc, best_acc (fractions), params, macs, wall_seconds, images_per_second; with
/// `groupSeeds` one line per group (the means) plus _min and _max columns.
QString summaryCsv(const CompareModel &model, bool groupSeeds);
/// Every run's raw values of `series` (accuracies as fractions), one line per epoch with every
/// x measure: run_id,run,series,stage (0-based),epoch,step,optimizer_steps,images_seen,
/// wall_seconds,value.
QString curvesCsv(const CompareModel &model, const QList<CompareSeries> &series);
/// Accuracy by depth: run_id,run,layer (1-based),kind (head, ensemble, linear_probe),test_acc.
QString depthCsv(const CompareModel &model);

} // namespace lw
