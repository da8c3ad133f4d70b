#include "ui/runs/runformat.h"

#include <cmath>

namespace lw {

QString modeLabel(TrainMode mode)
{
    switch (mode) {
    case TrainMode::Greedy: return QStringLiteral("greedy");
    case TrainMode::EndToEnd: return QStringLiteral("end-to-end");
    case TrainMode::Decoupled: return QStringLiteral("decoupled");
    }
    return {};
}

QColor statusColor(RunStatus status)
{
    switch (status) {
    case RunStatus::Running: return QColor(0x00, 0x72, 0xB2);
    case RunStatus::Finished: return QColor(0x00, 0x9E, 0x73);
    case RunStatus::Failed: return QColor(0xD5, 0x5E, 0x00);
    case RunStatus::Cancelled: return QColor(0x99, 0x99, 0x99);
    case RunStatus::Interrupted: return QColor(0xE6, 0x9F, 0x00);
    }
    return Qt::gray;
}

QString formatAccuracy(const std::optional<double> &fraction)
{
    if (!fraction || std::isnan(*fraction))
        return {};
    return QString::number(*fraction * 100.0, 'f', 2) + QStringLiteral(" %");
}

QString formatDuration(double seconds)
{
    if (!(seconds > 0))
        return {};
    if (seconds < 60)
        return QString::number(seconds, 'f', 1) + QStringLiteral(" s");
    const auto s = static_cast<long long>(std::llround(seconds));
    if (s < 3600)
        return QStringLiteral("%1 m %2 s").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1 h %2 m").arg(s / 3600).arg((s % 3600) / 60, 2, 10, QLatin1Char('0'));
}

const QVector<QColor> &okabeIto()
{
    static const QVector<QColor> palette = {
        QColor(0x00, 0x72, 0xB2), // blue
        QColor(0xE6, 0x9F, 0x00), // orange
        QColor(0x00, 0x9E, 0x73), // bluish green
        QColor(0xD5, 0x5E, 0x00), // vermillion
        QColor(0xCC, 0x79, 0xA7), // reddish purple
        QColor(0x56, 0xB4, 0xE9), // sky blue
        QColor(0x00, 0x00, 0x00), // black
        QColor(0xF0, 0xE4, 0x42), // yellow
    };
    return palette;
}

} // namespace lw
