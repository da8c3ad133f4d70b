#include "ui/runs/compareview.h"

#include "ui/common/format.h"
#include "ui/common/layoutstate.h"
#include "ui/common/plotexport.h"
#include "ui/common/smoothing.h"
#include "ui/runs/compareplots.h"
#include "ui/runs/comparetables.h"
#include "ui/runs/runformat.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QColorDialog>
#include <QComboBox>
#include <QDateTime>
#include <QFileDialog>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QSlider>
#include <QSplitter>
#include <QStackedLayout>
#include <QTableWidget>
#include <QTimer>
#include <QTreeWidget>
#include <QVBoxLayout>

#include <limits>

namespace lw {

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
    m_axisBox = new QComboBox;
    for (Axis a : {Axis::Epochs, Axis::Steps, Axis::Images, Axis::Seconds})
        m_axisBox->addItem(axisLabel(a), int(a));
    m_axisBox->setToolTip(tr("What the curves' x axis counts: accuracy per epoch, per optimizer "
                             "step, per image seen or per hour"));
    connect(m_axisBox, &QComboBox::currentIndexChanged, this,
            [this] { setAxis(Axis(m_axisBox->currentData().toInt())); });
    m_smoothBox = new QCheckBox(tr("Smooth"));
    m_smoothBox->setToolTip(tr("Exponential moving average, restarted at each stage, drawn thin "
                               "over the recorded values; curves of fewer than %1 points are "
                               "not smoothed")
                                .arg(kMinSmoothPoints));
    m_smoothSlider = new QSlider(Qt::Horizontal);
    m_smoothSlider->setRange(0, 99);
    m_smoothSlider->setValue(60);
    auto applySmoothing = [this] {
        setSmoothing(m_smoothBox->isChecked() ? m_smoothSlider->value() / 100.0 : 0.0);
    };
    connect(m_smoothBox, &QCheckBox::toggled, this, applySmoothing);
    connect(m_smoothSlider, &QSlider::valueChanged, this, applySmoothing);
    m_groupBox = new QCheckBox(tr("Group seeds"));
    m_groupBox->setToolTip(tr("Runs that differ only by seed: mean curve with a band"));
    connect(m_groupBox, &QCheckBox::toggled, this, &RunCompareView::setGroupSeeds);
    m_bandBox = new QComboBox;
    m_bandBox->addItem(tr("min–max band"), false);
    m_bandBox->addItem(tr("± std. deviation"), true);
    m_bandBox->setEnabled(false);
    connect(m_bandBox, &QComboBox::currentIndexChanged, this,
            [this] { setBandStdDev(m_bandBox->currentData().toBool()); });

    auto *options = new QGridLayout;
    options->addWidget(new QLabel(tr("Curves")), 0, 0);
    options->addWidget(m_curvesBox, 0, 1);
    options->addWidget(new QLabel(tr("x axis")), 1, 0);
    options->addWidget(m_axisBox, 1, 1);
    options->addWidget(m_smoothBox, 2, 0);
    options->addWidget(m_smoothSlider, 2, 1);
    options->addWidget(m_groupBox, 3, 0);
    options->addWidget(m_bandBox, 3, 1);
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
    // A set minimum (not the legend's width) lets the splitters give the space away.
    m_curves->setMinimumSize(240, 160);
    stylePlot(m_curves);
    setCurvesAxis(m_curves, m_axis);
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
    m_depth->setMinimumSize(200, 160);
    stylePlot(m_depth);
    m_depth->xAxis->setLabel(tr("layer (stage)"));
    m_depth->yAxis->setLabel(tr("test accuracy (%)"));

    m_diff = new QTableWidget;
    m_diff->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_diff->setTextElideMode(Qt::ElideMiddle);
    m_diff->verticalHeader()->setVisible(false);
    m_diff->setWordWrap(false);
    m_equalBox = new QCheckBox(tr("Show equal fields"));
    connect(m_equalBox, &QCheckBox::toggled, this, &RunCompareView::setShowEqualFields);

    m_summary = new QTableWidget;
    m_summary->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_summary->verticalHeader()->setVisible(false);
    m_summary->setSortingEnabled(false);
    m_summary->setWordWrap(false);
    m_summary->setTextElideMode(Qt::ElideMiddle);

    auto *top = new QSplitter(Qt::Horizontal);
    top->addWidget(panel(tr("Curves"), m_curves, nullptr,
                         [this] { exportChartInteractive(m_curves, QStringLiteral("curves")); }));
    top->addWidget(panel(tr("Accuracy by depth"), m_depth, nullptr,
                         [this] { exportChartInteractive(m_depth, QStringLiteral("depth")); }));
    top->setStretchFactor(0, 3);
    top->setStretchFactor(1, 2);
    top->setObjectName(QStringLiteral("compareTop"));
    auto *bottom = new QSplitter(Qt::Horizontal);
    bottom->addWidget(panel(tr("Config diff"), m_diff, m_equalBox, [this] {
        const QString path = QFileDialog::getSaveFileName(
            this, tr("Export config diff"), QStringLiteral("config-diff.csv"), tr("CSV (*.csv)"));
        if (path.isEmpty())
            return;
        QString error;
        if (!writeTextFile(path, tableCsv(m_diff, QStringLiteral("field")), &error))
            QMessageBox::warning(this, tr("Export"), error);
    }));
    bottom->addWidget(panel(tr("Summary"), m_summary, nullptr, [this] {
        const QString path = QFileDialog::getSaveFileName(
            this, tr("Export summary"), QStringLiteral("summary.csv"), tr("CSV data (*.csv)"));
        if (!path.isEmpty() && !exportSummaryCsv(path))
            QMessageBox::warning(this, tr("Export"), m_error);
    }));
    bottom->setStretchFactor(0, 2);
    bottom->setStretchFactor(1, 3);
    bottom->setObjectName(QStringLiteral("compareBottom"));
    // The plots get the height; the tables below scroll.
    auto *right = new QSplitter(Qt::Vertical);
    right->addWidget(top);
    right->addWidget(bottom);
    right->setStretchFactor(0, 3);
    right->setStretchFactor(1, 1);
    right->setSizes({600, 200});
    right->setObjectName(QStringLiteral("compareRight"));

    auto *main = new QSplitter(Qt::Horizontal);
    main->addWidget(left);
    main->addWidget(right);
    main->setStretchFactor(0, 0);
    main->setStretchFactor(1, 1);
    main->setSizes({260, 1200});
    main->setObjectName(QStringLiteral("compareMain"));
    for (QSplitter *sp : {top, bottom, right, main})
        rememberSplitter(sp, QStringLiteral("runs/") + sp->objectName());

    auto *empty = new QLabel(tr("Select runs in the table to compare them\n"
                                "(Ctrl- or Shift-click to select several)"));
    m_emptyLabel = empty;
    empty->setObjectName(QStringLiteral("compareEmptyLabel"));
    empty->setWordWrap(true);
    empty->setAlignment(Qt::AlignCenter);
    empty->setStyleSheet(QStringLiteral("color: palette(mid); font-size: 14pt;"));
    m_loadTimer = new QTimer(this);
    m_loadTimer->setSingleShot(true);
    m_loadTimer->setInterval(0);
    connect(m_loadTimer, &QTimer::timeout, this, &RunCompareView::loadSlice);
    auto *stack = new QStackedLayout(this);
    stack->addWidget(empty);
    stack->addWidget(main);
    rebuildCurves();
}

RunCompareView::~RunCompareView() = default;

void RunCompareView::setEmptyText(const QString &text)
{
    m_emptyLabel->setText(text);
}

void RunCompareView::setStore(std::shared_ptr<RunStore> store)
{
    m_model.setStore(std::move(store));
    m_graphs.clear();
    m_curves->clearGraphs();
    setRuns({});
}

QList<qint64> RunCompareView::runs() const
{
    return m_model.runIds();
}

void RunCompareView::assignColor(const CompareModel::Run &run)
{
    // A colour given or changed this session is also in the store (when writable); the run's
    // row may be older than that change.
    if (m_colors.contains(run.id))
        return;
    const QColor stored(QString::fromStdString(run.row.colour));
    if (stored.isValid()) {
        m_colors.insert(run.id, stored);
        return;
    }
    QSet<QRgb> used;
    for (const auto &r : m_model.runs())
        if (r->id != run.id && m_colors.contains(r->id))
            used.insert(m_colors.value(r->id).rgb());
    const auto &palette = okabeIto();
    QColor colour = palette[int(m_model.runs().size() % std::size_t(palette.size()))];
    for (const auto &c : palette) {
        if (!used.contains(c.rgb())) {
            colour = c;
            break;
        }
    }
    m_colors.insert(run.id, colour);
    storeColour(run.id, colour);
}

void RunCompareView::storeColour(qint64 id, const QColor &colour)
{
    const auto &store = m_model.store();
    if (!store || store->readOnly())
        return;
    if (auto r = store->setColour(id, colour.name().toStdString()); !r)
        m_error = QString::fromStdString(r.message());
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
    storeColour(id, color);
    if (m_graphs.contains(id))
        m_graphs[id].dirty = true;
    rebuildCurves();
    rebuildDepth();
    rebuildDiff();
    rebuildSummary();
    rebuildLegend();
    Q_EMIT runColorChanged(id, color);
}

void RunCompareView::setRuns(const QList<qint64> &ids)
{
    m_model.setRuns(ids);
    // Graphs of runs that left are removed with the full rebuild below.
    for (const auto &r : m_model.runs())
        assignColor(*r);
    m_userZoomed = false;
    loadPending(kSyncLoadMs);
    if (isLoading())
        m_loadTimer->start();
    static_cast<QStackedLayout *>(layout())->setCurrentIndex(m_model.empty() ? 0 : 1);
    rebuildCurves();
    rebuildDepth();
    rebuildDiff();
    rebuildSummary();
    rebuildLegend();
}

bool RunCompareView::isLoading() const
{
    return m_model.isLoading();
}

bool RunCompareView::loadPending(int budgetMs)
{
    const QList<qint64> read = m_model.loadPending(budgetMs);
    for (qint64 id : read)
        m_graphs[id].dirty = true;
    if (!m_model.errorString().isEmpty())
        m_error = m_model.errorString();
    return !read.isEmpty();
}

void RunCompareView::loadSlice()
{
    if (!loadPending(40))
        return;
    for (const auto &r : m_model.runs()) {
        const RunGraphs &g = m_graphs[r->id];
        if (g.dirty && r->historyLoaded && !g.graphs.isEmpty())
            updateRunGraphs(*r);
    }
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
    if (!m_model.store() || m_model.empty())
        return;
    const CompareModel::Changes changes = m_model.refresh();
    if (!m_model.errorString().isEmpty())
        m_error = m_model.errorString();
    for (qint64 id : changes.data)
        m_graphs[id].dirty = true;
    const bool anyData = !changes.data.isEmpty();
    if (anyData) {
        for (const auto &r : m_model.runs())
            if (m_graphs[r->id].dirty)
                updateRunGraphs(*r);
        rebuildGroups();
        rescaleIfFollowing();
        m_curves->replot(QCustomPlot::rpQueuedReplot);
    }
    // A colour changed elsewhere (the Runs view's table, another window) redraws everything.
    const bool recoloured = changes.detail && syncColours();
    if (recoloured) {
        rebuildCurves();
        rebuildDiff();
    }
    if (anyData || changes.detail) {
        rebuildDepth();
        rebuildSummary();
        rebuildLegend();
    }
}

bool RunCompareView::syncColours()
{
    bool changed = false;
    for (const auto &r : m_model.runs()) {
        const QColor stored(QString::fromStdString(r->row.colour));
        if (stored.isValid() && stored != m_colors.value(r->id)) {
            m_colors.insert(r->id, stored);
            changed = true;
        }
    }
    return changed;
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

void RunCompareView::setAxis(Axis axis)
{
    m_axis = axis;
    const int i = m_axisBox->findData(int(axis));
    if (i >= 0 && m_axisBox->currentIndex() != i)
        m_axisBox->setCurrentIndex(i);
    setCurvesAxis(m_curves, axis);
    m_userZoomed = false;
    rebuildCurves();
}

void RunCompareView::setBandStdDev(bool sd)
{
    m_bandSd = sd;
    const int i = m_bandBox->findData(sd);
    if (i >= 0 && m_bandBox->currentIndex() != i)
        m_bandBox->setCurrentIndex(i);
    rebuildCurves();
}

void RunCompareView::setSmoothing(double weight)
{
    weight = std::clamp(weight, 0.0, 0.99);
    if (weight == m_smoothing)
        return;
    m_smoothing = weight;
    {
        const QSignalBlocker block(m_smoothBox), blockSlider(m_smoothSlider);
        m_smoothBox->setChecked(weight > 0);
        if (weight > 0)
            m_smoothSlider->setValue(int(weight * 100));
    }
    rebuildCurves();
}

void RunCompareView::setGroupSeeds(bool on)
{
    m_groupSeeds = on;
    if (m_groupBox->isChecked() != on)
        m_groupBox->setChecked(on);
    m_bandBox->setEnabled(on);
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
    return m_model.seedGroups();
}

void RunCompareView::rebuildCurves()
{
    m_curves->clearGraphs();
    m_curves->clearItems();
    m_groupGraphs.clear();
    m_graphs.clear();
    const auto shown = shownSeries();
    const bool loss = m_curvesMode == Curves::Loss;
    m_curves->yAxis->setLabel(loss ? tr("loss") : tr("accuracy (%)"));
    // The legend names the runs (or seed groups) in their colours, then the line styles.
    const auto &runs = m_model.runs();
    const QFontMetrics fm(m_curves->legend->font());
    auto legendName = [&fm](const QString &name) {
        return fm.elidedText(name, Qt::ElideMiddle, fm.horizontalAdvance(QLatin1Char('x')) * 28);
    };
    for (const auto &group : m_groupSeeds ? seedGroups() : QList<QList<qint64>>()) {
        const CompareModel::Run *first = m_model.find(group.first());
        if (group.size() > 1)
            addLegendKey(
                m_curves, QPen(runColor(first->id), 3.0),
                legendName(tr("%1 (mean of %2 seeds)").arg(first->name()).arg(group.size())),
                first->id);
    }
    for (const auto &r : runs)
        if (!m_groupSeeds || !m_model.inSeedGroup(r->id))
            addLegendKey(m_curves, QPen(runColor(r->id), 3.0), legendName(r->name()), r->id);
    if (runs.size() > 0)
        for (Series s : shown)
            addLegendKey(m_curves, QPen(QColor(90, 90, 90), 2.0, seriesStyle(s)), seriesLabel(s));
    for (const auto &r : runs) {
        RunGraphs &rg = m_graphs[r->id];
        for (Series s : shown) {
            QCPGraph *g = m_curves->addGraph();
            g->removeFromLegend();
            g->setPen(seriesPen(runColor(r->id), s, false));
            g->setName(r->name() + QStringLiteral(" · ") + seriesLabel(s));
            g->setProperty("runId", r->id);
            // Many long curves: plain lines keep a replot fast (antialiasing dominates).
            g->setAntialiased(runs.size() <= 12);
            g->setAdaptiveSampling(true);
            QCPGraph *smooth = m_curves->addGraph();
            smooth->removeFromLegend();
            smooth->setAntialiased(runs.size() <= 12);
            smooth->setPen(seriesPen(runColor(r->id), s, true));
            rg.graphs << g;
            rg.smoothGraphs << smooth;
        }
        updateRunGraphs(*r);
    }
    rebuildGroups();
    rescaleIfFollowing();
    m_curves->replot(QCustomPlot::rpQueuedReplot);
}

double RunCompareView::smoothingFor(int points) const
{
    return points >= kMinSmoothPoints ? m_smoothing : 0.0;
}

void RunCompareView::updateRunGraphs(const CompareModel::Run &run)
{
    RunGraphs &rg = m_graphs[run.id];
    rg.dirty = false;
    const auto shown = shownSeries();
    const bool grouped = m_groupSeeds && m_model.inSeedGroup(run.id);
    for (int k = 0; k < shown.size() && k < rg.graphs.size(); ++k) {
        const SeriesData raw = m_model.plotSeries(run.id, shown[k], 0.0, m_axis);
        const double weight = smoothingFor(int(raw.values.size()));
        rg.graphs[k]->setData(raw.steps, raw.values, true);
        if (weight > 0)
            rg.smoothGraphs[k]->setData(raw.steps, smoothSeries(raw.values, raw.stages, weight),
                                        true);
        else
            rg.smoothGraphs[k]->data()->clear();
        rg.smoothGraphs[k]->setVisible(weight > 0 && !grouped);
        rg.graphs[k]->setVisible(!grouped);
    }
    // Stage boundaries: a line in the run's colour after each finished stage's last step.
    removeRunItems(m_curves, run.id);
    if (grouped)
        return;
    // Runs sharing a boundary stack their labels instead of overprinting them.
    int row = 0;
    for (const auto &r : m_model.runs()) {
        if (r.get() == &run)
            break;
        if (r->stageSteps().size() > 1)
            ++row;
    }
    addStageBoundaries(m_curves, run, runColor(run.id), row, m_axis);
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
        const QString name = tr("%1 (mean of %2 seeds)")
                                 .arg(m_model.find(group.first())->name())
                                 .arg(group.size());
        // Per step: mean, min, max and deviation over the members (smoothed like single runs).
        const int points = int(m_model.find(group.first())->history.epochs.size());
        for (Series s : shown)
            m_groupGraphs << addBand(m_curves, m_model.band(group, s, smoothingFor(points), m_axis),
                                     c, s, name, m_bandSd);
    }
}

void RunCompareView::rescaleIfFollowing()
{
    if (m_userZoomed)
        return;
    fitCurves(m_curves, m_curvesMode == Curves::Loss, m_axis);
}

void RunCompareView::rebuildDepth()
{
    drawDepth(m_depth, m_model, [this](qint64 id) { return runColor(id); });
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
    m_fields = m_model.configDiff();
    fillDiffTable(m_diff, m_model, m_fields, m_showEqual,
                  [this](qint64 id) { return runColor(id); });
}

void RunCompareView::rebuildSummary()
{
    fillSummaryTable(m_summary, m_model, m_groupSeeds, [this](qint64 id) { return runColor(id); });
}

void RunCompareView::rebuildLegend()
{
    m_legend->clear();
    for (const auto &r : m_model.runs()) {
        auto *item = new QTreeWidgetItem(
            {r->name(), modeText(r->row.mode), statusText(r->row.status, r->row.paused)});
        item->setIcon(0, QIcon(swatch(runColor(r->id))));
        item->setData(0, Qt::UserRole, r->id);
        item->setToolTip(0, tr("%1\nRun %2, seed %3 — double-click to change its colour")
                                .arg(r->name())
                                .arg(r->id)
                                .arg(r->row.seed));
        m_legend->addTopLevelItem(item);
    }
    m_legend->resizeColumnToContents(1);
    m_legend->resizeColumnToContents(2);
}

QVector<double> RunCompareView::seriesSteps(qint64 id, Series series) const
{
    const CompareModel::Run *r = m_model.find(id);
    return r ? r->series(series).steps : QVector<double>();
}

QVector<double> RunCompareView::seriesValues(qint64 id, Series series) const
{
    const CompareModel::Run *r = m_model.find(id);
    return r ? r->series(series).values : QVector<double>();
}

QString RunCompareView::summaryCsv() const
{
    return lw::summaryCsv(m_model, m_groupSeeds);
}

QString RunCompareView::chartCsv(QCustomPlot *plot) const
{
    return plot == m_depth ? depthCsv(m_model) : curvesCsv(m_model, shownSeries());
}

bool RunCompareView::exportSummaryCsv(const QString &path)
{
    return writeTextFile(path, summaryCsv(), &m_error);
}

bool RunCompareView::exportChart(QCustomPlot *plot, const QString &path)
{
    return exportPlot(plot, path, &m_error, [this, plot] { return chartCsv(plot); });
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
