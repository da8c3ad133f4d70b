#pragma once

#include "core/events/events.h"
#include "ui/common/format.h"

#include <QColor>
#include <QString>
#include <QVector>

#include <optional>
#include <string>

namespace lw {

/// A status's dot colour (running blue, finished green, failed red, others grey/orange).
QColor statusColor(RunStatus status);
/// 0.8831 -> "88.31 %"; empty for no value or NaN.
QString formatAccuracy(const std::optional<double> &fraction);
/// How many processes trained a run, on which backend and machines: "2 × gloo on node1" (a
/// multi-process run), "1 process".
QString processesText(int worldSize, const std::string &backend, const std::string &hosts);
/// The Okabe-Ito colour-blind-safe palette, ordered for white backgrounds (yellow last).
const QVector<QColor> &okabeIto();

} // namespace lw
