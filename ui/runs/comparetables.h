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

/// One row per run or seed group: mode, status, accuracies, size, wall time and images/s;
/// a group's numbers read "mean [min–max]".
void fillSummaryTable(QTableWidget *table, const CompareModel &model, bool groupSeeds,
                      const std::function<QColor(qint64)> &colorOf);

} // namespace lw
