#include "ui/common/plotexport.h"

#include <qcustomplot.h>

#include <QCoreApplication>
#include <QFileInfo>
#include <QLocale>
#include <QSaveFile>
#include <QSvgGenerator>

#include <algorithm>
#include <cmath>

namespace lw {

QString plotExportFilter()
{
    return QCoreApplication::translate(
        "lw::plotexport",
        "PNG image (*.png);;SVG drawing (*.svg);;PDF document (*.pdf);;CSV data (*.csv)");
}

QString csvNumber(double value)
{
    if (std::isnan(value))
        return QString();
    // Fixed notation, as few digits as round-trip: 300000, not 3e+05.
    return QString::number(value, 'f', QLocale::FloatingPointShortest);
}

QString csvField(const QString &s)
{
    if (!s.contains(QLatin1Char(',')) && !s.contains(QLatin1Char('"'))
        && !s.contains(QLatin1Char('\n')) && !s.contains(QLatin1Char('\r')))
        return s;
    QString q = s;
    q.replace(QLatin1String("\""), QLatin1String("\"\""));
    return QLatin1Char('"') + q + QLatin1Char('"');
}

bool exportPlot(QCustomPlot *plot, const QString &path, QString *error,
                const std::function<QString()> &csv)
{
    const QString suffix = QFileInfo(path).suffix().toLower();
    if (suffix == QLatin1String("csv") && csv)
        return writeTextFile(path, csv(), error);
    const int w = std::max(plot->width(), 640);
    const int h = std::max(plot->height(), 400);
    bool ok = false;
    if (suffix == QLatin1String("png")) {
        ok = plot->savePng(path, w, h, 2.0);
    } else if (suffix == QLatin1String("pdf")) {
        ok = plot->savePdf(path, w, h);
    } else if (suffix == QLatin1String("svg")) {
        QSvgGenerator svg;
        svg.setFileName(path);
        svg.setSize(QSize(w, h));
        svg.setViewBox(QRect(0, 0, w, h));
        svg.setTitle(QStringLiteral("Layerwise plot"));
        QCPPainter painter;
        ok = painter.begin(&svg);
        if (ok) {
            plot->toPainter(&painter, w, h);
            ok = painter.end();
        }
        ok = ok && QFileInfo(path).size() > 0;
    } else {
        if (error)
            *error = QObject::tr("'%1': unknown format '%2' (expected %3)")
                         .arg(path, suffix,
                              csv ? QObject::tr(".png, .svg, .pdf or .csv")
                                  : QObject::tr(".png, .svg or .pdf"));
        return false;
    }
    if (!ok && error)
        *error = QObject::tr("'%1': could not be written").arg(path);
    return ok;
}

bool writeTextFile(const QString &path, const QString &text, QString *error)
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Text)) {
        if (error)
            *error = QObject::tr("'%1': %2").arg(path, file.errorString());
        return false;
    }
    file.write(text.toUtf8());
    if (!file.commit()) {
        if (error)
            *error = QObject::tr("'%1': %2").arg(path, file.errorString());
        return false;
    }
    return true;
}

} // namespace lw
