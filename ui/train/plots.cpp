#include "ui/train/plots.h"

#include "ui/common/plotlegend.h"

#include <QFileInfo>

#include <algorithm>
#include <cmath>
#include <limits>

namespace lw {

namespace {

constexpr int kCoalesceMs = 40; // at most 25 redraws a second

QColor stageColor(int stage)
{
    static const QColor colors[]
        = {QColor(31, 119, 180), QColor(44, 160, 44),   QColor(148, 103, 189), QColor(23, 190, 207),
           QColor(188, 189, 34), QColor(227, 119, 194), QColor(140, 86, 75),   QColor(214, 39, 40)};
    return colors[stage % 8];
}

/// Axes in the palette's colours; the legend in a row under the axes, outside the data, with up
/// to `legendColumns` entries a row (fewer when the plot is narrow).
void styleAxes(QCustomPlot *plot, int legendColumns)
{
    plot->setNoAntialiasingOnDrag(true);
    plot->setBackground(plot->palette().base());
    const QColor fg = plot->palette().text().color();
    for (QCPAxisRect *rect : plot->axisRects()) {
        for (QCPAxis *axis : rect->axes()) {
            axis->setBasePen(QPen(fg));
            axis->setTickPen(QPen(fg));
            axis->setSubTickPen(QPen(fg));
            axis->setTickLabelColor(fg);
            axis->setLabelColor(fg);
            axis->grid()->setPen(QPen(QColor(128, 128, 128, 60), 0, Qt::DotLine));
        }
    }
    plot->legend->setBrush(Qt::NoBrush);
    plot->legend->setBorderPen(Qt::NoPen);
    plot->legend->setMargins(QMargins(0, 0, 0, 0));
    QFont f = plot->font();
    f.setPointSizeF(f.pointSizeF() * 0.85);
    plot->legend->setFont(f);
    plot->axisRect()->insetLayout()->take(plot->legend);
    plot->plotLayout()->addElement(plot->plotLayout()->rowCount(), 0, plot->legend);
    plot->plotLayout()->setRowStretchFactor(plot->plotLayout()->rowCount() - 1, 0.001);
    fitLegendToWidth(plot, legendColumns);
}

} // namespace

// ---- TimelinePlot -----------------------------------------------------------------------------

TimelinePlot::TimelinePlot(QWidget *parent)
    : QCustomPlot(parent)
{
    setObjectName(QStringLiteral("timelinePlot"));
    // Accuracy on top, the training loss in its own panel below on the same epochs: two
    // scales never share one area.
    m_lossRect = new QCPAxisRect(this);
    plotLayout()->addElement(1, 0, m_lossRect);
    plotLayout()->setRowStretchFactor(0, 2);
    plotLayout()->setRowStretchFactor(1, 1);
    auto *margins = new QCPMarginGroup(this);
    axisRect()->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
    m_lossRect->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
    m_lossX = m_lossRect->axis(QCPAxis::atBottom);
    m_lossAxis = m_lossRect->axis(QCPAxis::atLeft);
    legend->setVisible(true);
    styleAxes(this, 4);
    xAxis->setLabel(QString());
    yAxis->setLabel(tr("test accuracy (%)"));
    m_lossX->setLabel(tr("epochs (cumulative)"));
    m_lossAxis->setLabel(tr("training loss"));
    // One x range for both panels.
    connect(xAxis, qOverload<const QCPRange &>(&QCPAxis::rangeChanged), m_lossX,
            qOverload<const QCPRange &>(&QCPAxis::setRange));
    connect(m_lossX, qOverload<const QCPRange &>(&QCPAxis::rangeChanged), xAxis,
            qOverload<const QCPRange &>(&QCPAxis::setRange));
    setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    axisRect()->setRangeDragAxes({xAxis}, {yAxis});
    axisRect()->setRangeZoomAxes({xAxis}, {yAxis});
    m_lossRect->setRangeDragAxes({m_lossX}, {m_lossAxis});
    m_lossRect->setRangeZoomAxes({m_lossX}, {m_lossAxis});
    connect(this, &QCustomPlot::mousePress, this, [this] { m_userView = true; });
    connect(this, &QCustomPlot::mouseWheel, this, [this] { m_userView = true; });
    connect(this, &QCustomPlot::mouseDoubleClick, this, [this] { resetView(); });
    m_timer.setSingleShot(true);
    m_timer.setInterval(kCoalesceMs);
    connect(&m_timer, &QTimer::timeout, this, &TimelinePlot::flush);
    setToolTip(tr("Drag to pan, wheel to zoom, double-click to see the whole run"));
    reset(0);
}

TimelinePlot::Series TimelinePlot::makeSeries(const QString &name, const QColor &color,
                                              QCPAxis *valueAxis, Qt::PenStyle style, bool scatter)
{
    Series s;
    // The recorded values are the bold line; the smoothed trend is drawn thin over them.
    QCPAxis *keyAxis = valueAxis == m_lossAxis ? m_lossX : xAxis;
    s.main = addGraph(keyAxis, valueAxis);
    s.main->setName(name);
    s.main->setPen(QPen(color, 2, style));
    if (scatter)
        s.main->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, color, color, 4));
    // Listed once it has data (an end-to-end run reports only its last head).
    s.main->removeFromLegend();
    QColor thin = color.darker(140);
    thin.setAlpha(190);
    s.smoothed = addGraph(keyAxis, valueAxis);
    s.smoothed->setPen(QPen(thin, 1, style));
    s.smoothed->removeFromLegend();
    s.smoothed->setVisible(m_smoothing);
    return s;
}

void TimelinePlot::reset(int plannedEpochs)
{
    m_timer.stop();
    clearGraphs();
    clearItems();
    m_stages.clear();
    m_epochs.clear();
    m_lastLr.clear();
    m_planned = plannedEpochs;
    m_maxX = 0;
    m_userView = false;
    m_loss
        = makeSeries(tr("training loss"), QColor(255, 127, 14), m_lossAxis, Qt::SolidLine, false);
    m_loss.main->setPen(QPen(QColor(255, 127, 14), 1.2));
    m_ensemble = makeSeries(tr("ensemble"), QColor(40, 40, 40), yAxis, Qt::DashLine);
    autoRange();
    replot(QCustomPlot::rpQueuedReplot);
}

void TimelinePlot::stageStarted(int stage, double x, bool marker)
{
    while (static_cast<int>(m_stages.size()) <= stage) {
        const int j = static_cast<int>(m_stages.size());
        m_stages.push_back(
            makeSeries(tr("stage %1 head").arg(j + 1), stageColor(j), yAxis, Qt::SolidLine));
    }
    if (!m_loss.x.isEmpty() && std::isfinite(m_loss.y.back()) && x >= m_loss.x.back()) {
        // A gap in the loss curve: a fresh head starts from a high loss.
        m_loss.x.push_back(x);
        m_loss.y.push_back(std::numeric_limits<double>::quiet_NaN());
        m_loss.smooth.push_back(std::numeric_limits<double>::quiet_NaN());
        m_loss.ema.reset(); // smoothing restarts
    }
    if (marker)
        addVerticalMarker(x, tr("stage %1").arg(stage + 1), QColor(110, 110, 110), true);
    schedule();
}

void TimelinePlot::addVerticalMarker(double x, const QString &label, const QColor &color, bool top)
{
    // A boundary reported twice (a stage restarted, a run reopened) is drawn once.
    for (int i = 0; i < itemCount(); ++i)
        if (const auto *text = qobject_cast<const QCPItemText *>(item(i)))
            if (text->text() == label && text->position->coords().x() == x)
                return;
    auto *line = new QCPItemStraightLine(this);
    line->point1->setType(QCPItemPosition::ptPlotCoords);
    line->point2->setType(QCPItemPosition::ptPlotCoords);
    line->point1->setCoords(x, 0);
    line->point2->setCoords(x, 1);
    line->setPen(QPen(color, 1, top ? Qt::DashLine : Qt::DotLine));
    line->setClipToAxisRect(true);
    auto *text = new QCPItemText(this);
    text->position->setTypeX(QCPItemPosition::ptPlotCoords);
    text->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
    text->position->setCoords(x, top ? 0.0 : 1.0);
    text->setPositionAlignment(Qt::AlignLeft | (top ? Qt::AlignTop : Qt::AlignBottom));
    if (!top)
        text->setRotation(-90); // along its line: decays one epoch apart stay readable
    text->setPadding(QMargins(3, 2, 3, 2));
    text->setText(label);
    text->setColor(color);
    QFont f = font();
    f.setPointSizeF(f.pointSizeF() * 0.8);
    text->setFont(f);
    text->setClipToAxisRect(true);
}

void TimelinePlot::push(Series &s, double x, double y)
{
    s.x.push_back(x);
    s.y.push_back(y);
    s.smooth.push_back(s.ema.push(y));
    m_maxX = std::max(m_maxX, x);
}

void TimelinePlot::addEpoch(const EpochMetrics &e)
{
    if (e.stage < 0)
        return;
    if (static_cast<int>(m_stages.size()) <= e.stage)
        stageStarted(e.stage, static_cast<double>(e.step - e.epoch), false);
    const double x = static_cast<double>(e.step);
    auto last = m_lastLr.find(e.stage);
    if (last != m_lastLr.end() && e.lr < last->second * 0.999)
        addVerticalMarker(x - 1, tr("lr %1").arg(e.lr, 0, 'g', 3), QColor(200, 80, 60), false);
    m_lastLr[e.stage] = e.lr;
    m_epochs.push_back(e);
    push(m_stages[e.stage], x, e.testAcc * 100);
    push(m_ensemble, x, e.ensembleAcc * 100);
    push(m_loss, x, e.trainLoss);
    schedule();
}

void TimelinePlot::addBatch(const BatchProgress &b, double x)
{
    if (!std::isfinite(b.runningLoss) || b.batches <= 0)
        return;
    if (!m_loss.x.isEmpty() && x <= m_loss.x.back())
        return;
    push(m_loss, x, b.runningLoss);
    schedule();
}

void TimelinePlot::schedule()
{
    if (!m_timer.isActive())
        m_timer.start();
}

void TimelinePlot::drawSeries(Series &s)
{
    const int n = static_cast<int>(s.x.size());
    if (s.flushed >= n)
        return;
    const QVector<double> x = s.x.mid(s.flushed);
    s.main->addData(x, s.y.mid(s.flushed), true);
    s.smoothed->addData(x, s.smooth.mid(s.flushed), true);
    s.flushed = n;
    if (!legend->hasItemWithPlottable(s.main))
        s.main->addToLegend();
}

void TimelinePlot::flush()
{
    m_timer.stop();
    for (Series &s : m_stages)
        drawSeries(s);
    drawSeries(m_ensemble);
    drawSeries(m_loss);
    if (!m_userView)
        autoRange();
    replot(QCustomPlot::rpQueuedReplot);
}

void TimelinePlot::autoRange()
{
    xAxis->setRange(0, std::max({1.0, static_cast<double>(m_planned), m_maxX}));
    double lo = 100, hi = 0;
    auto scan = [&](const Series &s) {
        for (double v : s.y) {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
    };
    for (const Series &s : m_stages)
        scan(s);
    scan(m_ensemble);
    if (hi < lo) {
        yAxis->setRange(0, 100);
    } else {
        const double pad = std::max(2.0, (hi - lo) * 0.1);
        yAxis->setRange(std::max(0.0, lo - pad), std::min(100.0, hi + pad));
    }
    double lossHi = 0;
    for (double v : m_loss.y)
        if (std::isfinite(v))
            lossHi = std::max(lossHi, v);
    m_lossAxis->setRange(0, lossHi > 0 ? lossHi * 1.08 : 1.0);
}

void TimelinePlot::setSmoothing(bool on)
{
    if (on == m_smoothing)
        return;
    m_smoothing = on;
    auto apply = [&](Series &s) {
        s.smoothed->setVisible(on);
    };
    for (Series &s : m_stages)
        apply(s);
    apply(m_ensemble);
    apply(m_loss);
    replot(QCustomPlot::rpQueuedReplot);
}

void TimelinePlot::resetView()
{
    m_userView = false;
    autoRange();
    replot(QCustomPlot::rpQueuedReplot);
}

int TimelinePlot::pointCount(int stage) const
{
    if (stage < 0 || stage >= static_cast<int>(m_stages.size()))
        return 0;
    return m_stages[stage].main->dataCount();
}

QStringList TimelinePlot::markerLabels() const
{
    QStringList labels;
    for (int i = 0; i < itemCount(); ++i)
        if (const auto *text = qobject_cast<const QCPItemText *>(item(i)))
            labels << text->text();
    return labels;
}

QString TimelinePlot::toCsv() const
{
    QString out = QStringLiteral("stage,epoch,step,train_loss,train_acc,test_loss,test_acc,"
                                 "ensemble_acc,lr,images_per_second,seconds\n");
    for (const EpochMetrics &e : m_epochs)
        out += QStringLiteral("%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11\n")
                   .arg(e.stage)
                   .arg(e.epoch)
                   .arg(e.step)
                   .arg(csvNumber(e.trainLoss), csvNumber(e.trainAcc), csvNumber(e.testLoss),
                        csvNumber(e.testAcc), csvNumber(e.ensembleAcc), csvNumber(e.lr),
                        csvNumber(e.imagesPerSecond), csvNumber(e.seconds));
    return out;
}

// ---- DepthPlot --------------------------------------------------------------------------------

DepthPlot::DepthPlot(QWidget *parent)
    : QCustomPlot(parent)
{
    setObjectName(QStringLiteral("depthPlot"));
    styleAxes(this, 3);
    xAxis->setLabel(tr("layer (stage)"));
    yAxis->setLabel(tr("test accuracy (%)"));
    legend->setVisible(true);
    auto *group = new QCPBarsGroup(this);
    group->setSpacing(1);
    auto make = [&](const QString &name, const QColor &color) {
        auto *bars = new QCPBars(xAxis, yAxis);
        bars->setName(name);
        bars->setWidth(0.26);
        bars->setPen(QPen(color.darker(120)));
        bars->setBrush(color);
        bars->setBarsGroup(group);
        return bars;
    };
    m_headBars = make(tr("stage head"), QColor(31, 119, 180));
    m_ensembleBars = make(tr("ensemble"), QColor(90, 90, 90));
    m_probeBars = make(tr("linear probe"), QColor(44, 160, 44));
    QSharedPointer<QCPAxisTickerFixed> ticker(new QCPAxisTickerFixed);
    ticker->setTickStep(1);
    ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    xAxis->setTicker(ticker);
    xAxis->grid()->setVisible(false);
    m_timer.setSingleShot(true);
    m_timer.setInterval(kCoalesceMs);
    connect(&m_timer, &QTimer::timeout, this, &DepthPlot::rebuild);
    reset(0);
}

void DepthPlot::reset(int stages)
{
    m_stages = stages;
    m_head.clear();
    m_probe.clear();
    rebuild();
}

void DepthPlot::setStage(const StageFinished &stage)
{
    m_head[stage.stage] = stage;
    if (!m_timer.isActive())
        m_timer.start();
}

void DepthPlot::setProbe(const ProbeResult &probe)
{
    auto it = m_probe.find(probe.layer);
    if (it == m_probe.end() || it->second.afterStage <= probe.afterStage)
        m_probe[probe.layer] = probe;
    if (!m_timer.isActive())
        m_timer.start();
}

void DepthPlot::rebuild()
{
    m_timer.stop();
    // A handful of bars: replacing them is as cheap as appending, and probes replace values.
    QVector<double> hk, hv, ek, ev, pk, pv;
    for (const auto &[layer, s] : m_head) {
        hk << layer + 1;
        hv << s.testAcc * 100;
        ek << layer + 1;
        ev << s.ensembleAcc * 100;
    }
    for (const auto &[layer, p] : m_probe) {
        pk << layer + 1;
        pv << p.testAcc * 100;
    }
    m_headBars->setData(hk, hv, true);
    m_ensembleBars->setData(ek, ev, true);
    m_probeBars->setData(pk, pv, true);
    m_probeBars->setVisible(!m_probe.empty());
    if (m_probe.empty())
        m_probeBars->removeFromLegend();
    else if (!legend->hasItemWithPlottable(m_probeBars))
        m_probeBars->addToLegend();
    const int n = std::max({m_stages, static_cast<int>(m_head.size()), 1});
    xAxis->setRange(0.4, n + 0.6);
    // Bars start at 0: their length is the accuracy.
    yAxis->setRange(0, 100);
    replot(QCustomPlot::rpQueuedReplot);
}

QString DepthPlot::toCsv() const
{
    QString out
        = QStringLiteral("layer,head_test_acc,ensemble_acc,probe_train_acc,probe_test_acc\n");
    int n = 0;
    if (!m_head.empty())
        n = std::max(n, m_head.rbegin()->first + 1);
    if (!m_probe.empty())
        n = std::max(n, m_probe.rbegin()->first + 1);
    for (int layer = 0; layer < n; ++layer) {
        auto h = m_head.find(layer);
        auto p = m_probe.find(layer);
        out += QStringLiteral("%1,%2,%3,%4,%5\n")
                   .arg(layer + 1)
                   .arg(h != m_head.end() ? csvNumber(h->second.testAcc) : QString(),
                        h != m_head.end() ? csvNumber(h->second.ensembleAcc) : QString(),
                        p != m_probe.end() ? csvNumber(p->second.trainAcc) : QString(),
                        p != m_probe.end() ? csvNumber(p->second.testAcc) : QString());
    }
    return out;
}

} // namespace lw
