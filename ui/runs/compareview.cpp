#include "ui/runs/compareview.h"

#include "ui/common/format.h"
#include "ui/common/plotexport.h"
#include "ui/common/smoothing.h"
#include "ui/runs/runformat.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QColorDialog>
#include <QComboBox>
#include <QDateTime>
#include <QElapsedTimer>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QPainter>
#include <QPushButton>
#include <QSlider>
#include <QSplitter>
#include <QStackedLayout>
#include <QTableWidget>
#include <QTimer>
#include <QTreeWidget>
#include <QVBoxLayout>

#include <array>
#include <cmath>
#include <limits>
#include <map>

namespace lw {

namespace {

constexpr int kSeriesCount = 6;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

int seriesIndex(const std::string &split, const std::string &metric)
{
    if (metric == "acc") {
        if (split == "test")
            return int(RunCompareView::Series::TestAcc);
        if (split == "ensemble")
            return int(RunCompareView::Series::EnsembleAcc);
        if (split == "train")
            return int(RunCompareView::Series::TrainAcc);
    } else if (metric == "loss") {
        if (split == "train")
            return int(RunCompareView::Series::TrainLoss);
        if (split == "test")
            return int(RunCompareView::Series::TestLoss);
    } else if (metric == "images_per_second" && split == "train") {
        return int(RunCompareView::Series::ImagesPerSecond);
    }
    return -1;
}

bool isAccuracy(RunCompareView::Series s)
{
    return s == RunCompareView::Series::TestAcc || s == RunCompareView::Series::EnsembleAcc
           || s == RunCompareView::Series::TrainAcc;
}

QString seriesLabel(RunCompareView::Series s)
{
    switch (s) {
    case RunCompareView::Series::TestAcc: return QObject::tr("test");
    case RunCompareView::Series::EnsembleAcc: return QObject::tr("ensemble");
    case RunCompareView::Series::TrainAcc: return QObject::tr("train");
    case RunCompareView::Series::TrainLoss: return QObject::tr("train loss");
    case RunCompareView::Series::TestLoss: return QObject::tr("test loss");
    case RunCompareView::Series::ImagesPerSecond: return QObject::tr("images/s");
    }
    return {};
}

Qt::PenStyle seriesStyle(RunCompareView::Series s)
{
    switch (s) {
    case RunCompareView::Series::EnsembleAcc: return Qt::DashLine;
    case RunCompareView::Series::TrainAcc:
    case RunCompareView::Series::TrainLoss: return Qt::DotLine;
    default: return Qt::SolidLine;
    }
}

QPen seriesPen(const QColor &color, RunCompareView::Series s, bool raw)
{
    QColor c = color;
    if (raw)
        c.setAlpha(60);
    QPen pen(c, raw ? 1.0 : 2.0, raw ? Qt::SolidLine : seriesStyle(s));
    return pen;
}

QPixmap swatch(const QColor &c, int size = 14)
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
    // The legend (line styles) sits in one row under the axes, never over the data.
    plot->legend->setVisible(true);
    plot->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
    plot->legend->setBorderPen(Qt::NoPen);
    plot->legend->setBrush(Qt::NoBrush);
    plot->plotLayout()->addElement(1, 0, plot->legend);
    plot->plotLayout()->setRowStretchFactor(1, 0.001);
    plot->legend->setMargins(QMargins(0, 0, 0, 0));
    QSharedPointer<QCPAxisTickerFixed> ticker(new QCPAxisTickerFixed);
    ticker->setTickStep(1.0);
    ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    plot->xAxis->setTicker(ticker);
    QFont f = plot->font();
    f.setPointSizeF(f.pointSizeF() * 0.9);
    plot->legend->setFont(f);
    plot->xAxis->grid()->setPen(QPen(QColor(230, 230, 230)));
    plot->yAxis->grid()->setPen(QPen(QColor(230, 230, 230)));
}

QString csvField(const QString &s)
{
    if (s.contains(QLatin1Char(',')) || s.contains(QLatin1Char('"'))
        || s.contains(QLatin1Char('\n'))) {
        QString q = s;
        q.replace(QLatin1String("\""), QLatin1String("\"\""));
        return QLatin1Char('"') + q + QLatin1Char('"');
    }
    return s;
}

} // namespace

struct RunCompareView::Run
{
    qint64 id = 0;
    RunDetail detail;
    bool haveDetail = false;
    std::int64_t lastRowId = 0;
    bool metricsLoaded = false;
    std::array<QVector<double>, kSeriesCount> steps;
    std::array<QVector<double>, kSeriesCount> values;
    std::array<QVector<int>, kSeriesCount> stages;
    std::map<int, std::pair<std::int64_t, std::int64_t>> stageSteps; ///< stage -> first, last
    QMap<QString, QString> config;
    bool dirty = true;
    QVector<QCPGraph *> graphs; ///< per shown series: smoothed (or raw when smoothing is off)
    QVector<QCPGraph *> rawGraphs;

    QString name() const
    {
        const QString n = QString::fromStdString(detail.run.name);
        return n.isEmpty() ? QStringLiteral("run %1").arg(id) : n;
    }
    void clearMetrics()
    {
        lastRowId = 0;
        for (int s = 0; s < kSeriesCount; ++s) {
            steps[std::size_t(s)].clear();
            values[std::size_t(s)].clear();
            stages[std::size_t(s)].clear();
        }
        stageSteps.clear();
    }
};

RunCompareView::RunCompareView(QWidget *parent)
    : QWidget(parent)
{
    // Left: the compared runs (colour, name) and the display options.
    m_legend = new QTreeWidget;
    m_legend->setHeaderLabels({tr("Run"), tr("Mode"), tr("Status")});
    m_legend->setRootIsDecorated(false);
    m_legend->setToolTip(tr("Double-click a run to change its colour"));
    m_legend->header()->setSectionResizeMode(0, QHeaderView::Stretch);
    m_legend->header()->setStretchLastSection(false);
    connect(m_legend, &QTreeWidget::itemDoubleClicked, this, [this](QTreeWidgetItem *item) {
        const qint64 id = item->data(0, Qt::UserRole).toLongLong();
        const QColor c
            = QColorDialog::getColor(runColor(id), this, tr("Colour of %1").arg(item->text(0)));
        if (c.isValid())
            setRunColor(id, c);
    });

    m_curvesBox = new QComboBox;
    m_curvesBox->addItem(tr("Test + ensemble accuracy"), int(Curves::TestAndEnsemble));
    m_curvesBox->addItem(tr("Test accuracy"), int(Curves::Test));
    m_curvesBox->addItem(tr("Ensemble accuracy"), int(Curves::Ensemble));
    m_curvesBox->addItem(tr("Train accuracy"), int(Curves::Train));
    m_curvesBox->addItem(tr("Train + test loss"), int(Curves::Loss));
    connect(m_curvesBox, &QComboBox::currentIndexChanged, this,
            [this] { setCurves(Curves(m_curvesBox->currentData().toInt())); });
    m_smoothBox = new QCheckBox(tr("Smooth"));
    m_smoothBox->setChecked(true);
    m_smoothBox->setToolTip(tr("Exponential moving average, restarted at each stage; raw "
                               "values are drawn faint behind"));
    m_smoothSlider = new QSlider(Qt::Horizontal);
    m_smoothSlider->setRange(0, 99);
    m_smoothSlider->setValue(int(m_smoothing * 100));
    auto applySmoothing = [this] {
        setSmoothing(m_smoothBox->isChecked() ? m_smoothSlider->value() / 100.0 : 0.0);
    };
    connect(m_smoothBox, &QCheckBox::toggled, this, applySmoothing);
    connect(m_smoothSlider, &QSlider::valueChanged, this, applySmoothing);
    m_groupBox = new QCheckBox(tr("Group seeds"));
    m_groupBox->setToolTip(tr("Runs that differ only by seed: mean curve with a min-max band"));
    connect(m_groupBox, &QCheckBox::toggled, this, &RunCompareView::setGroupSeeds);

    auto *options = new QGridLayout;
    options->addWidget(new QLabel(tr("Curves")), 0, 0);
    options->addWidget(m_curvesBox, 0, 1);
    options->addWidget(m_smoothBox, 1, 0);
    options->addWidget(m_smoothSlider, 1, 1);
    options->addWidget(m_groupBox, 2, 0, 1, 2);
    auto *left = new QWidget;
    auto *leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->addWidget(m_legend, 1);
    leftLayout->addLayout(options);

    auto panel = [this](const QString &title, QWidget *content, QWidget *extra,
                        std::function<void()> onExport) {
        auto *w = new QWidget;
        auto *v = new QVBoxLayout(w);
        v->setContentsMargins(2, 2, 2, 2);
        auto *bar = new QHBoxLayout;
        auto *label = new QLabel(QStringLiteral("<b>%1</b>").arg(title));
        bar->addWidget(label);
        bar->addStretch(1);
        if (extra)
            bar->addWidget(extra);
        auto *button = new QPushButton(tr("Export…"));
        button->setAutoDefault(false);
        connect(button, &QPushButton::clicked, this, onExport);
        bar->addWidget(button);
        v->addLayout(bar);
        v->addWidget(content, 1);
        return w;
    };

    m_curves = new QCustomPlot;
    stylePlot(m_curves);
    m_curves->xAxis->setLabel(tr("step (epochs over the run)"));
    m_curves->yAxis->setLabel(tr("accuracy (%)"));
    auto markZoomed = [this] {
        m_userZoomed = true;
    };
    connect(m_curves, &QCustomPlot::mouseWheel, this, markZoomed);
    connect(m_curves, &QCustomPlot::mouseMove, this, [this](QMouseEvent *e) {
        if (e->buttons() & Qt::LeftButton)
            m_userZoomed = true;
    });
    connect(m_curves, &QCustomPlot::mouseDoubleClick, this, [this] {
        m_userZoomed = false;
        rescaleIfFollowing();
        m_curves->replot(QCustomPlot::rpQueuedReplot);
    });
    m_curves->setToolTip(tr("Drag to pan, wheel to zoom, double-click to fit"));

    m_depth = new QCustomPlot;
    stylePlot(m_depth);
    m_depth->xAxis->setLabel(tr("layer (stage)"));
    m_depth->yAxis->setLabel(tr("test accuracy (%)"));

    m_diff = new QTableWidget;
    m_diff->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_diff->verticalHeader()->setVisible(false);
    m_diff->setWordWrap(false);
    m_equalBox = new QCheckBox(tr("Show equal fields"));
    connect(m_equalBox, &QCheckBox::toggled, this, &RunCompareView::setShowEqualFields);

    m_summary = new QTableWidget;
    m_summary->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_summary->verticalHeader()->setVisible(false);
    m_summary->setSortingEnabled(false);
    m_summary->setWordWrap(false);

    auto *top = new QSplitter(Qt::Horizontal);
    top->addWidget(panel(tr("Curves"), m_curves, nullptr,
                         [this] { exportChartInteractive(m_curves, QStringLiteral("curves")); }));
    top->addWidget(panel(tr("Accuracy by depth"), m_depth, nullptr,
                         [this] { exportChartInteractive(m_depth, QStringLiteral("depth")); }));
    top->setStretchFactor(0, 3);
    top->setStretchFactor(1, 2);
    auto *bottom = new QSplitter(Qt::Horizontal);
    bottom->addWidget(panel(tr("Config diff"), m_diff, m_equalBox, [this] {
        const QString path = QFileDialog::getSaveFileName(
            this, tr("Export config diff"), QStringLiteral("config-diff.csv"), tr("CSV (*.csv)"));
        if (path.isEmpty())
            return;
        QString csv = QStringLiteral("field");
        for (int c = 1; c < m_diff->columnCount(); ++c)
            csv += QLatin1Char(',') + csvField(m_diff->horizontalHeaderItem(c)->text());
        csv += QLatin1Char('\n');
        for (int r = 0; r < m_diff->rowCount(); ++r) {
            QStringList cells;
            for (int c = 0; c < m_diff->columnCount(); ++c)
                cells << csvField(m_diff->item(r, c) ? m_diff->item(r, c)->text() : QString());
            csv += cells.join(QLatin1Char(',')) + QLatin1Char('\n');
        }
        QString error;
        if (!writeTextFile(path, csv, &error))
            QMessageBox::warning(this, tr("Export"), error);
    }));
    bottom->addWidget(panel(tr("Summary"), m_summary, nullptr, [this] {
        const QString path = QFileDialog::getSaveFileName(
            this, tr("Export summary"), QStringLiteral("summary.csv"), tr("CSV (*.csv)"));
        if (!path.isEmpty() && !exportSummaryCsv(path))
            QMessageBox::warning(this, tr("Export"), m_error);
    }));
    bottom->setStretchFactor(0, 2);
    bottom->setStretchFactor(1, 3);
    auto *right = new QSplitter(Qt::Vertical);
    right->addWidget(top);
    right->addWidget(bottom);
    right->setStretchFactor(0, 3);
    right->setStretchFactor(1, 2);

    auto *main = new QSplitter(Qt::Horizontal);
    main->addWidget(left);
    main->addWidget(right);
    main->setStretchFactor(0, 0);
    main->setStretchFactor(1, 1);
    main->setSizes({260, 1200});

    m_empty = new QLabel(tr("Select runs in the table to compare them\n"
                            "(Ctrl- or Shift-click to select several)"));
    m_empty->setAlignment(Qt::AlignCenter);
    m_empty->setStyleSheet(QStringLiteral("color: palette(mid); font-size: 14pt;"));
    m_loadTimer = new QTimer(this);
    m_loadTimer->setSingleShot(true);
    m_loadTimer->setInterval(0);
    connect(m_loadTimer, &QTimer::timeout, this, &RunCompareView::loadSlice);
    auto *stack = new QStackedLayout(this);
    stack->addWidget(m_empty);
    stack->addWidget(main);
    rebuildCurves();
}

RunCompareView::~RunCompareView() = default;

void RunCompareView::setStore(std::shared_ptr<RunStore> store)
{
    m_store = std::move(store);
    m_runs.clear();
    m_curves->clearGraphs();
    setRuns({});
}

QList<qint64> RunCompareView::runs() const
{
    QList<qint64> ids;
    for (const auto &r : m_runs)
        ids << r->id;
    return ids;
}

RunCompareView::Run *RunCompareView::findRun(qint64 id) const
{
    for (const auto &r : m_runs)
        if (r->id == id)
            return r.get();
    return nullptr;
}

void RunCompareView::assignColor(qint64 id)
{
    if (m_colors.contains(id))
        return;
    QSet<QRgb> used;
    for (const auto &r : m_runs)
        if (m_colors.contains(r->id))
            used.insert(m_colors.value(r->id).rgb());
    const auto &palette = okabeIto();
    for (const auto &c : palette) {
        if (!used.contains(c.rgb())) {
            m_colors.insert(id, c);
            return;
        }
    }
    m_colors.insert(id, palette[int(m_colors.size() % palette.size())]);
}

QColor RunCompareView::runColor(qint64 id) const
{
    return m_colors.value(id, Qt::gray);
}

void RunCompareView::setRunColor(qint64 id, const QColor &color)
{
    if (!color.isValid())
        return;
    m_colors.insert(id, color);
    if (Run *r = findRun(id))
        r->dirty = true;
    rebuildCurves();
    rebuildDepth();
    rebuildDiff();
    rebuildSummary();
    rebuildLegend();
    Q_EMIT runColorChanged(id, color);
}

bool RunCompareView::loadDetail(Run &run)
{
    if (!m_store)
        return false;
    auto d = m_store->getRun(run.id);
    if (!d) {
        m_error = QString::fromStdString(d.message());
        return false;
    }
    const bool first = !run.haveDetail;
    run.detail = std::move(d.value());
    run.haveDetail = true;
    if (first)
        run.config = flattenRunConfig(run.detail);
    return true;
}

bool RunCompareView::loadMetrics(Run &run)
{
    if (!m_store)
        return false;
    auto rows = m_store->metrics(run.id, run.lastRowId);
    if (!rows) {
        m_error = QString::fromStdString(rows.message());
        return false;
    }
    if (rows->empty())
        return false;
    // A resumed run drops the rows after its resume point and records them again: when a new
    // row goes back in time, read the run again from the start.
    for (const auto &m : *rows) {
        const int s = seriesIndex(m.split, m.metric);
        if (s >= 0 && !run.steps[std::size_t(s)].isEmpty()
            && double(m.step) <= run.steps[std::size_t(s)].last() && run.lastRowId > 0) {
            run.clearMetrics();
            return loadMetrics(run) || true;
        }
        if (s >= 0)
            break;
    }
    for (const auto &m : *rows) {
        run.lastRowId = std::max(run.lastRowId, m.rowId);
        const int s = seriesIndex(m.split, m.metric);
        if (s < 0)
            continue;
        run.steps[std::size_t(s)].append(double(m.step));
        run.values[std::size_t(s)].append(m.value);
        run.stages[std::size_t(s)].append(m.stage);
        auto it = run.stageSteps.find(m.stage);
        if (it == run.stageSteps.end())
            run.stageSteps.emplace(m.stage, std::make_pair(m.step, m.step));
        else {
            it->second.first = std::min(it->second.first, m.step);
            it->second.second = std::max(it->second.second, m.step);
        }
    }
    return true;
}

void RunCompareView::setRuns(const QList<qint64> &ids)
{
    std::vector<std::unique_ptr<Run>> next;
    for (qint64 id : ids) {
        auto it = std::find_if(m_runs.begin(), m_runs.end(),
                               [id](const auto &r) { return r && r->id == id; });
        if (it != m_runs.end()) {
            next.push_back(std::move(*it));
            continue;
        }
        auto run = std::make_unique<Run>();
        run->id = id;
        if (!loadDetail(*run))
            continue; // deleted meanwhile
        next.push_back(std::move(run));
    }
    // Graphs of runs that left are removed with the full rebuild below.
    m_runs = std::move(next);
    for (const auto &r : m_runs)
        assignColor(r->id);
    m_groupOf.clear();
    for (const auto &r : m_runs)
        m_groupOf.insert(r->id, seedGroupKey(r->config));
    m_userZoomed = false;
    loadPending(kSyncLoadMs);
    if (isLoading())
        m_loadTimer->start();
    static_cast<QStackedLayout *>(layout())->setCurrentIndex(m_runs.empty() ? 0 : 1);
    rebuildCurves();
    rebuildDepth();
    rebuildDiff();
    rebuildSummary();
    rebuildLegend();
}

bool RunCompareView::isLoading() const
{
    for (const auto &r : m_runs)
        if (!r->metricsLoaded)
            return true;
    return false;
}

bool RunCompareView::loadPending(int budgetMs)
{
    QElapsedTimer timer;
    timer.start();
    bool any = false;
    for (auto &r : m_runs) {
        if (r->metricsLoaded)
            continue;
        if (any && timer.elapsed() >= budgetMs)
            break;
        loadMetrics(*r);
        r->metricsLoaded = true;
        r->dirty = true;
        any = true;
    }
    return any;
}

void RunCompareView::loadSlice()
{
    if (!loadPending(40))
        return;
    for (auto &r : m_runs)
        if (r->dirty && r->metricsLoaded && !r->graphs.isEmpty())
            updateRunGraphs(*r);
    // A replot of many long curves costs more than a slice: show progress about once a second.
    const bool done = !isLoading();
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    if (done || now - m_lastLoadReplotMs > 1000) {
        m_lastLoadReplotMs = now;
        rebuildGroups();
        rescaleIfFollowing();
        m_curves->replot(QCustomPlot::rpQueuedReplot);
    }
    if (!done)
        m_loadTimer->start();
    else
        rebuildSummary(); // images/s comes from the curves
}

void RunCompareView::finishLoading()
{
    m_loadTimer->stop();
    loadPending(std::numeric_limits<int>::max());
    loadSlice();
}

void RunCompareView::refresh()
{
    if (!m_store || m_runs.empty())
        return;
    bool anyData = false, anyDetail = false;
    for (auto &r : m_runs) {
        const double before = r->detail.run.updated;
        const auto status = r->detail.run.status;
        const auto name = r->detail.run.name;
        if (!loadDetail(*r))
            continue;
        if (r->detail.run.updated != before || r->detail.run.status != status
            || r->detail.run.name != name)
            anyDetail = true;
        if (r->metricsLoaded && loadMetrics(*r)) { // pending runs are read by loadSlice()
            r->dirty = true;
            anyData = true;
        }
    }
    if (anyData) {
        for (auto &r : m_runs)
            if (r->dirty)
                updateRunGraphs(*r);
        rebuildGroups();
        rescaleIfFollowing();
        m_curves->replot(QCustomPlot::rpQueuedReplot);
    }
    if (anyData || anyDetail) {
        rebuildDepth();
        rebuildSummary();
        rebuildLegend();
    }
}

QList<RunCompareView::Series> RunCompareView::shownSeries() const
{
    switch (m_curvesMode) {
    case Curves::TestAndEnsemble: return {Series::TestAcc, Series::EnsembleAcc};
    case Curves::Test: return {Series::TestAcc};
    case Curves::Ensemble: return {Series::EnsembleAcc};
    case Curves::Train: return {Series::TrainAcc};
    case Curves::Loss: return {Series::TrainLoss, Series::TestLoss};
    }
    return {};
}

void RunCompareView::setCurves(Curves curves)
{
    m_curvesMode = curves;
    const int i = m_curvesBox->findData(int(curves));
    if (i >= 0 && m_curvesBox->currentIndex() != i)
        m_curvesBox->setCurrentIndex(i);
    m_userZoomed = false;
    rebuildCurves();
}

void RunCompareView::setSmoothing(double weight)
{
    weight = std::clamp(weight, 0.0, 0.99);
    if (weight == m_smoothing)
        return;
    m_smoothing = weight;
    rebuildCurves();
}

void RunCompareView::setGroupSeeds(bool on)
{
    m_groupSeeds = on;
    if (m_groupBox->isChecked() != on)
        m_groupBox->setChecked(on);
    rebuildCurves();
    rebuildSummary();
}

void RunCompareView::setShowEqualFields(bool on)
{
    m_showEqual = on;
    if (m_equalBox->isChecked() != on)
        m_equalBox->setChecked(on);
    rebuildDiff();
}

QList<QList<qint64>> RunCompareView::seedGroups() const
{
    QList<QList<qint64>> groups;
    QStringList keys;
    for (const auto &r : m_runs) {
        const QString key = m_groupOf.value(r->id);
        const int i = keys.indexOf(key);
        if (i < 0) {
            keys << key;
            groups << QList<qint64>{r->id};
        } else {
            groups[i] << r->id;
        }
    }
    return groups;
}

void RunCompareView::rebuildCurves()
{
    m_curves->clearGraphs();
    m_curves->clearItems();
    m_groupGraphs.clear();
    const auto shown = shownSeries();
    const bool loss = m_curvesMode == Curves::Loss;
    m_curves->yAxis->setLabel(loss ? tr("loss") : tr("accuracy (%)"));
    // The legend explains line styles; run colours are in the run list.
    for (Series s : shown) {
        QCPGraph *key = m_curves->addGraph();
        key->setPen(QPen(QColor(90, 90, 90), 2.0, seriesStyle(s)));
        key->setName(seriesLabel(s));
    }
    for (auto &r : m_runs) {
        r->graphs.clear();
        r->rawGraphs.clear();
        for (Series s : shown) {
            QCPGraph *raw = m_curves->addGraph();
            raw->removeFromLegend();
            raw->setAntialiased(false); // faint and thin: not worth the cost
            raw->setAdaptiveSampling(true);
            raw->setPen(seriesPen(runColor(r->id), s, true));
            QCPGraph *g = m_curves->addGraph();
            g->removeFromLegend();
            g->setPen(seriesPen(runColor(r->id), s, false));
            g->setName(r->name() + QStringLiteral(" · ") + seriesLabel(s));
            g->setProperty("runId", r->id);
            // Many long curves: plain lines keep a replot fast (antialiasing dominates).
            g->setAntialiased(m_runs.size() <= 12);
            r->rawGraphs << raw;
            r->graphs << g;
        }
        updateRunGraphs(*r);
    }
    rebuildGroups();
    rescaleIfFollowing();
    m_curves->replot(QCustomPlot::rpQueuedReplot);
}

void RunCompareView::updateRunGraphs(Run &run)
{
    run.dirty = false;
    const auto shown = shownSeries();
    const bool grouped = m_groupSeeds && seedGroups().size() < int(m_runs.size()) && [&] {
        for (const auto &g : seedGroups())
            if (g.contains(run.id))
                return g.size() > 1;
        return false;
    }();
    for (int k = 0; k < shown.size() && k < run.graphs.size(); ++k) {
        const auto s = std::size_t(shown[k]);
        QVector<double> v = run.values[s];
        if (isAccuracy(shown[k]))
            for (double &x : v)
                x *= 100.0;
        const bool smoothed = m_smoothing > 0;
        run.graphs[k]->setData(run.steps[s],
                               smoothed ? smoothSeries(v, run.stages[s], m_smoothing) : v, true);
        run.rawGraphs[k]->setData(run.steps[s], v, true);
        run.rawGraphs[k]->setVisible(smoothed && !grouped);
        run.graphs[k]->setVisible(!grouped);
    }
    // Stage boundaries: a line in the run's colour after each finished stage's last step.
    const QColor c = runColor(run.id);
    for (int i = m_curves->itemCount() - 1; i >= 0; --i) {
        QCPAbstractItem *item = m_curves->item(i);
        if (item->property("runId").toLongLong() == run.id)
            m_curves->removeItem(item);
    }
    if (grouped)
        return;
    int n = 0;
    for (auto it = run.stageSteps.begin(); it != run.stageSteps.end(); ++it, ++n) {
        auto next = std::next(it);
        if (next == run.stageSteps.end())
            break;
        const double x = double(it->second.second) + 0.5;
        auto *line = new QCPItemStraightLine(m_curves);
        line->setProperty("runId", run.id);
        QColor lc = c;
        lc.setAlpha(140);
        line->setPen(QPen(lc, 1.0, Qt::DashDotLine));
        line->point1->setCoords(x, 0);
        line->point2->setCoords(x, 1);
        line->setSelectable(false);
        auto *label = new QCPItemText(m_curves);
        label->setProperty("runId", run.id);
        label->setText(tr("S%1").arg(next->first + 1));
        label->setColor(c);
        label->setPositionAlignment(Qt::AlignLeft | Qt::AlignTop);
        label->position->setTypeX(QCPItemPosition::ptPlotCoords);
        label->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
        // Runs sharing a boundary stack their labels instead of overprinting them.
        int row = 0;
        for (const auto &r : m_runs) {
            if (r.get() == &run)
                break;
            if (r->stageSteps.size() > 1)
                ++row;
        }
        label->position->setCoords(x + 0.1, 0.01 + 0.05 * row);
        label->setSelectable(false);
    }
}

void RunCompareView::rebuildGroups()
{
    for (QCPGraph *g : m_groupGraphs)
        m_curves->removeGraph(g);
    m_groupGraphs.clear();
    if (!m_groupSeeds)
        return;
    const auto shown = shownSeries();
    for (const auto &group : seedGroups()) {
        if (group.size() < 2)
            continue;
        const QColor c = runColor(group.first());
        for (Series s : shown) {
            // Per step: mean, min and max over the members (smoothed like single runs).
            std::map<double, std::vector<double>> byStep;
            for (qint64 id : group) {
                Run *r = findRun(id);
                const auto k = std::size_t(s);
                QVector<double> v = r->values[k];
                if (isAccuracy(s))
                    for (double &x : v)
                        x *= 100.0;
                if (m_smoothing > 0)
                    v = smoothSeries(v, r->stages[k], m_smoothing);
                for (int i = 0; i < v.size(); ++i)
                    if (!std::isnan(v[i]))
                        byStep[r->steps[k][i]].push_back(v[i]);
            }
            QVector<double> x, mean, lo, hi;
            for (const auto &[step, vals] : byStep) {
                double sum = 0, mn = vals.front(), mx = vals.front();
                for (double v : vals) {
                    sum += v;
                    mn = std::min(mn, v);
                    mx = std::max(mx, v);
                }
                x << step;
                mean << sum / double(vals.size());
                lo << mn;
                hi << mx;
            }
            QColor band = c;
            band.setAlpha(50);
            QCPGraph *low = m_curves->addGraph();
            low->setPen(Qt::NoPen);
            low->removeFromLegend();
            low->setData(x, lo, true);
            QCPGraph *high = m_curves->addGraph();
            high->setPen(Qt::NoPen);
            high->setBrush(band);
            high->setChannelFillGraph(low);
            high->removeFromLegend();
            high->setData(x, hi, true);
            QCPGraph *m = m_curves->addGraph();
            m->setPen(seriesPen(c, s, false));
            m->removeFromLegend();
            m->setName(
                tr("%1 (mean of %2 seeds)").arg(findRun(group.first())->name()).arg(group.size()));
            m->setData(x, mean, true);
            m_groupGraphs << low << high << m;
        }
    }
}

void RunCompareView::rescaleIfFollowing()
{
    if (m_userZoomed)
        return;
    bool found = false;
    QCPRange x, y;
    for (int i = 0; i < m_curves->graphCount(); ++i) {
        QCPGraph *g = m_curves->graph(i);
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
        m_curves->xAxis->setRange(0, 10);
        m_curves->yAxis->setRange(0, m_curvesMode == Curves::Loss ? 2.5 : 100);
        return;
    }
    m_curves->xAxis->setRange(std::max(0.0, x.lower - 0.5), x.upper + 0.5);
    const double pad = std::max(0.5, y.size() * 0.06);
    double lower = y.lower - pad, upper = y.upper + pad;
    if (m_curvesMode != Curves::Loss)
        upper = std::min(upper, 100.0);
    m_curves->yAxis->setRange(std::max(0.0, lower), upper);
}

void RunCompareView::rebuildDepth()
{
    m_depth->clearGraphs();
    const Qt::PenStyle styles[] = {Qt::SolidLine, Qt::DashLine, Qt::DotLine};
    const QCPScatterStyle::ScatterShape shapes[]
        = {QCPScatterStyle::ssCircle, QCPScatterStyle::ssSquare, QCPScatterStyle::ssTriangle};
    const QString names[] = {tr("head"), tr("ensemble"), tr("linear probe")};
    for (int k = 0; k < 3; ++k) {
        QCPGraph *key = m_depth->addGraph();
        key->setPen(QPen(QColor(90, 90, 90), 1.6, styles[k]));
        key->setScatterStyle(QCPScatterStyle(shapes[k], 6));
        key->setName(names[k]);
    }
    int layers = 1;
    double lo = 100, hi = 0;
    for (const auto &r : m_runs) {
        const QColor c = runColor(r->id);
        QVector<double> x[3], y[3];
        for (const auto &s : r->detail.stages) {
            if (s.testAcc && !std::isnan(*s.testAcc)) {
                x[0] << s.stage + 1;
                y[0] << *s.testAcc * 100;
            }
            if (s.ensembleAcc && !std::isnan(*s.ensembleAcc)) {
                x[1] << s.stage + 1;
                y[1] << *s.ensembleAcc * 100;
            }
            layers = std::max(layers, s.stage + 1);
        }
        // Probes of the final network: per layer, the one measured after the latest stage.
        std::map<int, ProbeRow> latest;
        for (const auto &p : r->detail.probes) {
            auto it = latest.find(p.layer);
            if (it == latest.end() || p.afterStage >= it->second.afterStage)
                latest[p.layer] = p;
        }
        for (const auto &[layer, p] : latest) {
            x[2] << layer + 1;
            y[2] << p.testAcc * 100;
            layers = std::max(layers, layer + 1);
        }
        layers = std::max(layers, r->detail.run.stages);
        for (int k = 0; k < 3; ++k) {
            if (x[k].isEmpty())
                continue;
            QCPGraph *g = m_depth->addGraph();
            g->removeFromLegend();
            g->setPen(QPen(c, 2.0, styles[k]));
            g->setScatterStyle(QCPScatterStyle(shapes[k], c, k == 2 ? c : Qt::white, 7));
            g->setName(r->name() + QStringLiteral(" · ") + names[k]);
            g->setProperty("runId", r->id);
            g->setData(x[k], y[k], true);
            for (double v : y[k]) {
                lo = std::min(lo, v);
                hi = std::max(hi, v);
            }
        }
    }
    m_depth->xAxis->setRange(0.5, layers + 0.5);
    if (hi >= lo) {
        const double pad = std::max(1.0, (hi - lo) * 0.08);
        m_depth->yAxis->setRange(std::max(0.0, lo - pad), std::min(100.0, hi + pad));
    } else {
        m_depth->yAxis->setRange(0, 100);
    }
    m_depth->replot(QCustomPlot::rpQueuedReplot);
}

QStringList RunCompareView::differingFields() const
{
    QStringList out;
    for (const auto &f : m_fields)
        if (f.differs)
            out << f.path;
    return out;
}

void RunCompareView::rebuildDiff()
{
    QVector<QMap<QString, QString>> configs;
    for (const auto &r : m_runs)
        configs << r->config;
    m_fields = diffConfigs(configs);
    const bool all = m_showEqual || m_runs.size() < 2;
    m_diff->clear();
    m_diff->setColumnCount(int(m_runs.size()) + 1);
    QStringList headers{tr("Field")};
    for (const auto &r : m_runs)
        headers << r->name();
    m_diff->setHorizontalHeaderLabels(headers);
    for (int c = 0; c < int(m_runs.size()); ++c)
        m_diff->horizontalHeaderItem(c + 1)->setIcon(swatch(runColor(m_runs[std::size_t(c)]->id)));
    int rows = 0;
    for (const auto &f : m_fields)
        if (all || f.differs)
            ++rows;
    m_diff->setRowCount(rows);
    int row = 0;
    QFont bold = m_diff->font();
    bold.setBold(true);
    for (const auto &f : m_fields) {
        if (!all && !f.differs)
            continue;
        auto *name = new QTableWidgetItem(f.path);
        if (f.differs)
            name->setFont(bold);
        m_diff->setItem(row, 0, name);
        for (int c = 0; c < f.values.size(); ++c) {
            auto *item = new QTableWidgetItem(f.values[c]);
            item->setToolTip(f.values[c]);
            if (f.differs) {
                item->setFont(bold);
                item->setBackground(QColor(255, 243, 205));
            }
            m_diff->setItem(row, c + 1, item);
        }
        ++row;
    }
    if (rows == 0 && !m_runs.empty()) {
        m_diff->setRowCount(1);
        m_diff->setItem(0, 0, new QTableWidgetItem(tr("(no differences)")));
    }
    m_diff->resizeColumnsToContents();
    for (int c = 0; c < m_diff->columnCount(); ++c)
        m_diff->setColumnWidth(c, std::min(m_diff->columnWidth(c), 320));
}

void RunCompareView::rebuildSummary()
{
    const QStringList headers{tr("Run"),       tr("Mode"),    tr("Status"), tr("Test acc"),
                              tr("Ensemble"),  tr("Best"),    tr("Params"), tr("MACs"),
                              tr("Wall time"), tr("Images/s")};
    m_summary->clear();
    m_summary->setColumnCount(int(headers.size()));
    m_summary->setHorizontalHeaderLabels(headers);

    struct Numbers
    {
        std::optional<double> test, ensemble, best, ips;
        double params = 0, macs = 0, wall = 0;
    };
    auto numbersOf = [](const Run &r) {
        Numbers n;
        n.test = r.detail.run.finalTestAcc;
        n.best = r.detail.run.bestTestAcc;
        for (const auto &s : r.detail.stages)
            if (s.ensembleAcc && !std::isnan(*s.ensembleAcc))
                n.ensemble = s.ensembleAcc;
        const auto &ips = r.values[std::size_t(Series::ImagesPerSecond)];
        double sum = 0;
        int count = 0;
        for (double v : ips)
            if (!std::isnan(v)) {
                sum += v;
                ++count;
            }
        if (count > 0)
            n.ips = sum / count;
        n.params = double(r.detail.run.params);
        n.macs = double(r.detail.run.macs);
        n.wall = r.detail.run.wallSeconds;
        return n;
    };

    QList<QList<qint64>> rows;
    if (m_groupSeeds) {
        rows = seedGroups();
    } else {
        for (const auto &r : m_runs)
            rows << QList<qint64>{r->id};
    }
    m_summary->setRowCount(int(rows.size()));
    auto set = [this](int row, int col, const QString &text, bool right = true) {
        auto *item = new QTableWidgetItem(text);
        if (right)
            item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        m_summary->setItem(row, col, item);
    };
    for (int i = 0; i < rows.size(); ++i) {
        const auto &ids = rows[i];
        Run *first = findRun(ids.first());
        QString name = first->name();
        if (ids.size() > 1) {
            QStringList seeds;
            for (qint64 id : ids)
                seeds << QString::number(findRun(id)->detail.run.seed);
            name = tr("%1 (%2 seeds: %3)").arg(name).arg(ids.size()).arg(seeds.join(", "));
        }
        auto *nameItem = new QTableWidgetItem(QIcon(swatch(runColor(first->id))), name);
        nameItem->setData(Qt::UserRole, first->id);
        m_summary->setItem(i, 0, nameItem);
        set(i, 1, modeText(first->detail.run.mode), false);
        set(i, 2, QString::fromStdString(toString(first->detail.run.status)), false);
        std::vector<Numbers> ns;
        for (qint64 id : ids)
            ns.push_back(numbersOf(*findRun(id)));
        // One run: its value; a seed group: mean [min–max].
        auto stat = [&](auto get, auto fmt) {
            std::vector<double> v;
            for (const auto &n : ns) {
                const std::optional<double> x = get(n);
                if (x && !std::isnan(*x))
                    v.push_back(*x);
            }
            if (v.empty())
                return QString();
            if (v.size() == 1)
                return fmt(v.front());
            double sum = 0, mn = v.front(), mx = v.front();
            for (double x : v) {
                sum += x;
                mn = std::min(mn, x);
                mx = std::max(mx, x);
            }
            return QStringLiteral("%1 [%2–%3]").arg(fmt(sum / double(v.size())), fmt(mn), fmt(mx));
        };
        auto acc = [](double v) {
            return formatAccuracy(v);
        };
        auto compact = [](double v) {
            return v > 0 ? compactText(v) : QString();
        };
        set(i, 3, stat([](const Numbers &n) { return n.test; }, acc));
        set(i, 4, stat([](const Numbers &n) { return n.ensemble; }, acc));
        set(i, 5, stat([](const Numbers &n) { return n.best; }, acc));
        set(i, 6, stat([](const Numbers &n) { return std::optional<double>(n.params); }, compact));
        set(i, 7, stat([](const Numbers &n) { return std::optional<double>(n.macs); }, compact));
        set(i, 8,
            stat([](const Numbers &n) { return std::optional<double>(n.wall); },
                 [](double v) { return durationText(v); }));
        set(i, 9,
            stat([](const Numbers &n) { return n.ips; },
                 [](double v) { return QString::number(v, 'f', 0); }));
    }
    m_summary->resizeColumnsToContents();
    m_summary->setColumnWidth(0, std::min(m_summary->columnWidth(0), 240));
}

void RunCompareView::rebuildLegend()
{
    m_legend->clear();
    for (const auto &r : m_runs) {
        auto *item = new QTreeWidgetItem({r->name(), modeText(r->detail.run.mode),
                                          QString::fromStdString(toString(r->detail.run.status))});
        item->setIcon(0, QIcon(swatch(runColor(r->id))));
        item->setData(0, Qt::UserRole, r->id);
        item->setToolTip(0, tr("Run %1, seed %2 — double-click to change its colour")
                                .arg(r->id)
                                .arg(r->detail.run.seed));
        m_legend->addTopLevelItem(item);
    }
    m_legend->resizeColumnToContents(1);
    m_legend->resizeColumnToContents(2);
}

QVector<double> RunCompareView::seriesSteps(qint64 id, Series series) const
{
    const Run *r = findRun(id);
    return r ? r->steps[std::size_t(series)] : QVector<double>();
}

QVector<double> RunCompareView::seriesValues(qint64 id, Series series) const
{
    const Run *r = findRun(id);
    return r ? r->values[std::size_t(series)] : QVector<double>();
}

QString RunCompareView::summaryCsv() const
{
    QString csv;
    QStringList header;
    for (int c = 0; c < m_summary->columnCount(); ++c)
        header << csvField(m_summary->horizontalHeaderItem(c)->text());
    csv += header.join(QLatin1Char(',')) + QLatin1Char('\n');
    for (int r = 0; r < m_summary->rowCount(); ++r) {
        QStringList cells;
        for (int c = 0; c < m_summary->columnCount(); ++c)
            cells << csvField(m_summary->item(r, c) ? m_summary->item(r, c)->text() : QString());
        csv += cells.join(QLatin1Char(',')) + QLatin1Char('\n');
    }
    return csv;
}

bool RunCompareView::exportSummaryCsv(const QString &path)
{
    return writeTextFile(path, summaryCsv(), &m_error);
}

bool RunCompareView::exportChart(QCustomPlot *plot, const QString &path)
{
    return exportPlot(plot, path, &m_error);
}

void RunCompareView::exportChartInteractive(QCustomPlot *plot, const QString &name)
{
    QString selected;
    const QString path = QFileDialog::getSaveFileName(
        this, tr("Export chart"), name + QStringLiteral(".png"), plotExportFilter(), &selected);
    if (path.isEmpty())
        return;
    if (!exportChart(plot, path))
        QMessageBox::warning(this, tr("Export chart"), m_error);
}

} // namespace lw
