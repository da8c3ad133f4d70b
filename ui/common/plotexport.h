#pragma once

// Saving what the views show: charts (PNG, SVG, PDF) and their data (CSV).

#include <QString>

class QCustomPlot;

namespace lw {

/// The file-dialog filter of the formats exportPlot writes.
QString plotExportFilter();

/// Saves a plot as PNG, SVG or PDF (chosen by the file's suffix). Returns false and sets
/// `error` (naming the file) when the suffix is unknown or the file cannot be written.
bool exportPlot(QCustomPlot *plot, const QString &path, QString *error);

/// Writes `text` to `path` (atomically). False and `error` naming the file on failure.
bool writeTextFile(const QString &path, const QString &text, QString *error);

} // namespace lw
