#include "ui/runs/compareplots.h"

#include "ui/common/plotlegend.h"

#include <qcustomplot.h>

#include <QObject>
#include <QPainter>
#include <QSet>

#include <algorithm>

namespace lw {

namespace {

/// Ticks at whole numbers only (epochs, layers).
void integerTicks(QCPAxis *axis)
{
    QSharedPointer<QCPAxisTickerFixed> ticker(new QCPAxisTickerFixed);
    ticker->setTickStep(1.0);
    ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    axis->setTicker(ticker);
    axis->setNumberFormat(QStringLiteral("g"));
}

} // namespace

QString seriesLabel(CompareSeries s)
{
    switch (s) {
    case CompareSeries::TestAcc: return QObject::tr("test");
    case CompareSeries::EnsembleAcc: return QObject::tr("ensemble");
    case CompareSeries::TrainAcc: return QObject::tr("train");
    case CompareSeries::TrainLoss: return QObject::tr("train loss");
    case CompareSeries::TestLoss: return QObject::tr("test loss");
    case CompareSeries::ImagesPerSecond: return QObject::tr("images/s");
    }
    return {};
}

Qt::PenStyle seriesStyle(CompareSeries s)
{
    switch (s) {
    case CompareSeries::EnsembleAcc: return Qt::DashLine;
    case CompareSeries::TrainAcc:
    case CompareSeries::TrainLoss: return Qt::DotLine;
    default: return Qt::SolidLine;
    }
}

QPen seriesPen(const QColor &color, CompareSeries s, bool smoothed)
{
    if (!smoothed)
        return QPen(color, 2.0, seriesStyle(s));
    QColor c = color.darker(140);
    c.setAlpha(190);
    return QPen(c, 1.0, seriesStyle(s));
}

QPixmap swatch(const QColor &c, int size)
{
    QPixmap pm(size, size);
    pm.fill(Qt::transparent);
    QPainter p(&pm);
    p.setRenderHint(QPainter::Antialiasing);
    p.setBrush(c);
    p.setPen(c.darker(130));
    p.drawRoundedRect(QRectF(1, 1, size - 2, size - 2), 3, 3);
    return pm;
}

void stylePlot(QCustomPlot *plot)
{
    plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    plot->setNoAntialiasingOnDrag(true);
    // The legend (line styles, run names) sits in rows under the axes, never over the data.
    plot->legend->setVisible(true);
    plot->legend->setBorderPen(Qt::NoPen);
    plot->legend->setBrush(Qt::NoBrush);
    plot->plotLayout()->addElement(1, 0, plot->legend);
    plot->plotLayout()->setRowStretchFactor(1, 0.001);
    plot->legend->setMargins(QMargins(0, 0, 0, 0));
    integerTicks(plot->xAxis);
    QFont f = plot->font();
    f.setPointSizeF(f.pointSizeF() * 0.9);
    plot->legend->setFont(f);
    fitLegendToWidth(plot, 3); // up to three entries a row, fewer on a narrow plot
    plot->xAxis->grid()->setPen(QPen(QColor(230, 230, 230)));
    plot->yAxis->grid()->setPen(QPen(QColor(230, 230, 230)));
}

void setCurvesAxis(QCustomPlot *plot, CompareAxis axis)
{
    plot->xAxis->setLabel(axisLabel(axis));
    if (axis == CompareAxis::Epochs) {
        integerTicks(plot->xAxis);
    } else if (axis == CompareAxis::Seconds) {
        QSharedPointer<QCPAxisTickerTime> ticker(new QCPAxisTickerTime);
        ticker->setTimeFormat(QStringLiteral("%h:%m:%s"));
        plot->xAxis->setTicker(ticker);
    } else {
        plot->xAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
        plot->xAxis->setNumberFormat(QStringLiteral("gb"));
    }
}

QString axisLabel(CompareAxis axis)
{
    switch (axis) {
    case CompareAxis::Epochs: return QObject::tr("epochs (over the run)");
    case CompareAxis::Steps: return QObject::tr("optimizer steps");
    case CompareAxis::Images: return QObject::tr("training images seen");
    case CompareAxis::Seconds: return QObject::tr("wall-clock time (h:mm:ss)");
    }
    return {};
}

QCPGraph *addLegendKey(QCustomPlot *plot, const QPen &pen, const QString &name, qint64 runId)
{
    QCPGraph *key = plot->addGraph();
    key->setPen(pen);
    key->setName(name);
    if (runId != 0)
        key->setProperty("legendRunId", runId);
    return key;
}

QVector<QCPGraph *> addBand(QCustomPlot *plot, const SeriesBand &b, const QColor &c,
                            CompareSeries s, const QString &name, bool sd)
{
    QColor band = c;
    band.setAlpha(50);
    QVector<double> lower = b.min, upper = b.max;
    if (sd) {
        for (int i = 0; i < b.mean.size(); ++i) {
            lower[i] = b.mean[i] - b.sd[i];
            upper[i] = b.mean[i] + b.sd[i];
        }
    }
    QCPGraph *low = plot->addGraph();
    low->setPen(Qt::NoPen);
    low->removeFromLegend();
    low->setData(b.steps, lower, true);
    QCPGraph *high = plot->addGraph();
    high->setPen(Qt::NoPen);
    high->setBrush(band);
    high->setChannelFillGraph(low);
    high->removeFromLegend();
    high->setData(b.steps, upper, true);
    QCPGraph *m = plot->addGraph();
    m->setPen(seriesPen(c, s, false));
    m->removeFromLegend();
    m->setName(name);
    m->setData(b.steps, b.mean, true);
    return {low, high, m};
}

void removeRunItems(QCustomPlot *plot, qint64 id)
{
    for (int i = plot->itemCount() - 1; i >= 0; --i) {
        QCPAbstractItem *item = plot->item(i);
        if (item->property("runId").toLongLong() == id)
            plot->removeItem(item);
    }
}

void addStageBoundaries(QCustomPlot *plot, const CompareModel::Run &run, const QColor &c, int row,
                        CompareAxis axis)
{
    // Labels other runs drew already (same text at the same place).
    QSet<QString> drawn;
    for (int i = 0; i < plot->itemCount(); ++i)
        if (auto *t = qobject_cast<QCPItemText *>(plot->item(i)))
            drawn.insert(t->text() + QLatin1Char('@')
                         + QString::number(t->property("x").toDouble()));
    for (const auto &[x, next] : run.stageBoundaries(axis)) {
        auto *line = new QCPItemStraightLine(plot);
        line->setProperty("runId", run.id);
        QColor lc = c;
        lc.setAlpha(140);
        line->setPen(QPen(lc, 1.0, Qt::DashDotLine));
        line->point1->setCoords(x, 0);
        line->point2->setCoords(x, 1);
        line->setSelectable(false);
        const QString text = QObject::tr("S%1").arg(next + 1);
        if (drawn.contains(text + QLatin1Char('@') + QString::number(x)))
            continue;
        auto *label = new QCPItemText(plot);
        label->setProperty("runId", run.id);
        label->setProperty("x", x);
        label->setText(text);
        label->setColor(c);
        label->setPositionAlignment(Qt::AlignLeft | Qt::AlignTop);
        label->position->setTypeX(QCPItemPosition::ptPlotCoords);
        label->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
        label->position->setCoords(x, 0.01 + 0.05 * row);
        label->setPadding(QMargins(3, 0, 0, 0));
        label->setSelectable(false);
    }
}

void fitCurves(QCustomPlot *plot, bool loss, CompareAxis axis)
{
    bool found = false;
    QCPRange x, y;
    for (int i = 0; i < plot->graphCount(); ++i) {
        QCPGraph *g = plot->graph(i);
        if (!g->visible() || g->dataCount() == 0)
            continue;
        bool okx = false, oky = false;
        const QCPRange gx = g->getKeyRange(okx);
        const QCPRange gy = g->getValueRange(oky);
        if (!okx || !oky)
            continue;
        if (!found) {
            x = gx;
            y = gy;
            found = true;
        } else {
            x.expand(gx);
            y.expand(gy);
        }
    }
    if (!found) {
        plot->xAxis->setRange(0, 10);
        plot->yAxis->setRange(0, loss ? 2.5 : 100);
        return;
    }
    const double xPad = axis == CompareAxis::Epochs ? 0.5 : std::max(1e-9, x.size() * 0.02);
    plot->xAxis->setRange(std::max(0.0, x.lower - xPad), x.upper + xPad);
    const double pad = std::max(0.5, y.size() * 0.06);
    double lower = y.lower - pad, upper = y.upper + pad;
    if (!loss)
        upper = std::min(upper, 100.0);
    plot->yAxis->setRange(std::max(0.0, lower), upper);
}

void drawDepth(QCustomPlot *plot, const CompareModel &model,
               const std::function<QColor(qint64)> &colorOf)
{
    plot->clearGraphs();
    const Qt::PenStyle styles[] = {Qt::SolidLine, Qt::DashLine, Qt::DotLine};
    const QCPScatterStyle::ScatterShape shapes[]
        = {QCPScatterStyle::ssCircle, QCPScatterStyle::ssSquare, QCPScatterStyle::ssTriangle};
    const QString names[]
        = {QObject::tr("head"), QObject::tr("ensemble"), QObject::tr("linear probe")};
    // The legend names the kinds some run has values for (no "linear probe" without probes).
    bool have[3] = {false, false, false};
    for (const auto &r : model.runs()) {
        const RunDepth d = model.depth(r->id);
        have[0] = have[0] || !d.headLayers.isEmpty();
        have[1] = have[1] || !d.ensembleLayers.isEmpty();
        have[2] = have[2] || !d.probeLayers.isEmpty();
    }
    for (int k = 0; k < 3; ++k) {
        if (!have[k])
            continue;
        QCPGraph *key = plot->addGraph();
        key->setPen(QPen(QColor(90, 90, 90), 1.6, styles[k]));
        key->setScatterStyle(QCPScatterStyle(shapes[k], 6));
        key->setName(names[k]);
    }
    double lo = 100, hi = 0;
    for (const auto &r : model.runs()) {
        const QColor c = colorOf(r->id);
        const RunDepth d = model.depth(r->id);
        const QVector<double> *x[] = {&d.headLayers, &d.ensembleLayers, &d.probeLayers};
        const QVector<double> *y[] = {&d.head, &d.ensemble, &d.probe};
        for (int k = 0; k < 3; ++k) {
            if (x[k]->isEmpty())
                continue;
            QCPGraph *g = plot->addGraph();
            g->removeFromLegend();
            g->setPen(QPen(c, 2.0, styles[k]));
            g->setScatterStyle(QCPScatterStyle(shapes[k], c, k == 2 ? c : Qt::white, 7));
            g->setName(r->name() + QStringLiteral(" · ") + names[k]);
            g->setProperty("runId", r->id);
            g->setData(*x[k], *y[k], true);
            for (double v : *y[k]) {
                lo = std::min(lo, v);
                hi = std::max(hi, v);
            }
        }
    }
    plot->xAxis->setRange(0.5, model.depthLayers() + 0.5);
    if (hi >= lo) {
        const double pad = std::max(1.0, (hi - lo) * 0.08);
        plot->yAxis->setRange(std::max(0.0, lo - pad), std::min(100.0, hi + pad));
    } else {
        plot->yAxis->setRange(0, 100);
    }
    plot->replot(QCustomPlot::rpQueuedReplot);
}

} // namespace lw
