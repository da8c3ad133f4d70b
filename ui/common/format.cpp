#include "ui/common/format.h"

#include "core/util/format.h"

namespace lw {

QString groupedText(std::int64_t value)
{
    return QString::fromStdString(formatGrouped(value));
}

QString compactText(double value)
{
    return QString::fromStdString(formatCompact(value));
}

QString bytesText(std::int64_t bytes)
{
    return QString::fromStdString(formatBytes(bytes));
}

QString durationText(double seconds)
{
    return QString::fromStdString(formatDuration(seconds));
}

QString percentText(double fraction)
{
    return QString::fromStdString(formatPercent(fraction));
}

QString modeText(TrainMode mode)
{
    return QString::fromUtf8(modeLabel(mode));
}

QString statusText(RunStatus status, bool paused)
{
    return QString::fromUtf8(statusLabel(status, paused));
}

QString formatRatio(double ratio)
{
    return QString::number(ratio, 'f', 2) + QLatin1Char('x');
}

} // namespace lw
