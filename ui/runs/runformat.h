#pragma once

#include "core/events/events.h"

#include <QColor>
#include <QString>
#include <QVector>

#include <optional>

namespace lw {

/// "greedy", "end-to-end", "decoupled".
QString modeLabel(TrainMode mode);
/// A status's dot colour (running blue, finished green, failed red, others grey/orange).
QColor statusColor(RunStatus status);
/// 0.8831 -> "88.31 %"; empty for no value or NaN.
QString formatAccuracy(const std::optional<double> &fraction);
/// 12.3 -> "12.3 s", 185 -> "3 m 05 s", 3725 -> "1 h 02 m"; empty for 0.
QString formatDuration(double seconds);
/// The Okabe-Ito colour-blind-safe palette, ordered for white backgrounds (yellow last).
const QVector<QColor> &okabeIto();

} // namespace lw
