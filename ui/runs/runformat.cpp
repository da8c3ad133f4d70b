#include "ui/runs/runformat.h"

#include <QCoreApplication>

#include <cmath>

namespace lw {

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
    return percentText(*fraction);
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

QString processesText(int worldSize, const std::string &backend, const std::string &hosts)
{
    if (worldSize <= 1)
        return QCoreApplication::translate("lw::RunsTableModel", "1 process");
    QString text
        = QStringLiteral("%1 \u00d7 %2").arg(worldSize).arg(QString::fromStdString(backend));
    if (!hosts.empty())
        text += QCoreApplication::translate("lw::RunsTableModel", " on %1")
                    .arg(QString::fromStdString(hosts).replace(QLatin1Char(','),
                                                               QStringLiteral(", ")));
    return text;
}

} // namespace lw
