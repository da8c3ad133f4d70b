#pragma once

// Saving what the views show: charts (PNG, SVG, PDF) and their data (CSV).

#include <QString>

#include <functional>

class QCustomPlot;

namespace lw {

/// The file-dialog filter of the formats exportPlot writes: PNG, SVG, PDF and CSV.
QString plotExportFilter();

/// Saves a plot as PNG, SVG or PDF, legend included, or the numbers behind it as CSV (`csv`
/// makes the text), chosen by the file's suffix. Returns false and sets `error` (naming the
/// file) when the suffix is unknown (CSV without `csv`) or the file cannot be written.
bool exportPlot(QCustomPlot *plot, const QString &path, QString *error,
                const std::function<QString()> &csv = {});

/// A number for CSV: shortest round-trip form (0.704, 672000, 567.2); empty for NaN.
QString csvNumber(double value);
/// A CSV field: quoted when it holds a comma, a quote or a line break.
QString csvField(const QString &text);

/// Writes `text` to `path` (atomically). False and `error` naming the file on failure.
bool writeTextFile(const QString &path, const QString &text, QString *error);

} // namespace lw
