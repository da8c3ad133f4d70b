#include "ui/train/trainview.h"

#include "core/runtime/runtime.h"
#include "core/store/runstore.h"
#include "ui/common/format.h"
#include "ui/train/archdiagram.h"
#include "ui/train/plots.h"
#include "ui/train/trainsession.h"

#include <QAction>
#include <QCheckBox>
#include <QComboBox>
#include <QDateTime>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QFutureWatcher>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QScrollArea>
#include <QScrollBar>
#include <QSpinBox>
#include <QSplitter>
#include <QStandardItemModel>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <cmath>
#include <map>
#include <thread>

namespace lw {

namespace {

constexpr int kMaxSpin = 1 << 30;

QString q(const std::string &s)
{
    return QString::fromStdString(s);
}

QLabel *makeErrorLabel(QWidget *parent)
{
    auto *label = new QLabel(parent);
    label->setWordWrap(true);
    label->setStyleSheet(QStringLiteral("color: #c62828;"));
    label->setTextInteractionFlags(Qt::TextSelectableByMouse);
    label->hide();
    return label;
}

} // namespace

TrainView::TrainView(RunStore *store, QWidget *parent)
    : QWidget(parent)
    , m_store(store)
{
    setObjectName(QStringLiteral("trainView"));
    m_session = new TrainSession(store, this);
    createActions();

    m_splitter = new QSplitter(Qt::Horizontal, this);
    m_splitter->setObjectName(QStringLiteral("trainSplitter"));
    m_splitter->addWidget(buildSetup());
    m_splitter->addWidget(buildDashboard());
    m_splitter->setStretchFactor(0, 0);
    m_splitter->setStretchFactor(1, 1);
    m_splitter->setSizes({390, 1050});
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_splitter);

    m_dataWatcher = new QFutureWatcher<Result<DatasetInfo>>(this);
    connect(m_dataWatcher, &QFutureWatcherBase::finished, this, &TrainView::onDataChecked);
    m_dataTimer = new QTimer(this);
    m_dataTimer->setSingleShot(true);
    m_dataTimer->setInterval(250);
    connect(m_dataTimer, &QTimer::timeout, this, &TrainView::runDataCheck);

    connect(m_session, &TrainSession::runCreated, this, &TrainView::onRunCreated);
    connect(m_session, &TrainSession::runStarted, this, &TrainView::onRunStarted);
    connect(m_session, &TrainSession::stageStarted, this, &TrainView::onStageStarted);
    connect(m_session, &TrainSession::batchProgress, this, &TrainView::onBatch);
    connect(m_session, &TrainSession::epochFinished, this, &TrainView::onEpoch);
    connect(m_session, &TrainSession::stageFinished, this, &TrainView::onStageFinished);
    connect(m_session, &TrainSession::probeFinished, this, &TrainView::onProbe);
    connect(m_session, &TrainSession::runEnded, this, &TrainView::onRunEnded);
    connect(m_session, &TrainSession::logMessage, this, &TrainView::appendLog);
    connect(m_session, &TrainSession::finished, this, &TrainView::onFinished);
    connect(m_session, &TrainSession::pausedChanged, this, [this](bool paused) {
        appendLog(LogLevel::Info,
                  paused ? tr("paused (the batch in progress finishes first)") : tr("resumed"));
        updateActions();
        updateProgressText();
    });

    if (!store)
        setStore(nullptr, tr("no run store is open"));
    updateActions();
}

TrainView::~TrainView()
{
    // Stop the worker before the widgets its queued signals would reach go away.
    m_session->blockSignals(true);
    m_session->stopAndWait();
    if (m_dataWatcher->isRunning())
        m_dataWatcher->waitForFinished();
    for (auto *probe : findChildren<QFutureWatcher<QString> *>()) {
        probe->disconnect(this);
        probe->waitForFinished();
    }
}

void TrainView::setStore(RunStore *store, const QString &storeError)
{
    m_store = store;
    m_storeError = storeError;
    m_session->setStore(store);
    revalidate();
}

void TrainView::createActions()
{
    m_startAction = new QAction(QIcon::fromTheme(QStringLiteral("media-playback-start")),
                                tr("&Start Training"), this);
    m_startAction->setObjectName(QStringLiteral("startAction"));
    m_startAction->setShortcut(QKeySequence(Qt::Key_F5));
    m_startAction->setToolTip(tr("Train with these settings (F5)"));
    connect(m_startAction, &QAction::triggered, this, [this] { startTraining(); });

    m_pauseAction
        = new QAction(QIcon::fromTheme(QStringLiteral("media-playback-pause")), tr("&Pause"), this);
    m_pauseAction->setObjectName(QStringLiteral("pauseAction"));
    m_pauseAction->setShortcut(QKeySequence(Qt::Key_F6));
    m_pauseAction->setToolTip(tr("Pause or continue between batches (F6)"));
    connect(m_pauseAction, &QAction::triggered, this, &TrainView::togglePause);

    m_stopAction
        = new QAction(QIcon::fromTheme(QStringLiteral("media-playback-stop")), tr("S&top"), this);
    m_stopAction->setObjectName(QStringLiteral("stopAction"));
    m_stopAction->setShortcut(QKeySequence(Qt::SHIFT | Qt::Key_F5));
    m_stopAction->setToolTip(
        tr("Stop after the current batch; the run can be resumed from its last checkpoint "
           "(Shift+F5)"));
    connect(m_stopAction, &QAction::triggered, this, &TrainView::stopTraining);

    m_resumeRunAction = new QAction(tr("&Resume a Stored Run\u2026"), this);
    m_resumeRunAction->setObjectName(QStringLiteral("resumeRunAction"));
    m_resumeRunAction->setToolTip(tr("Continue a stopped or interrupted run from the store"));
    connect(m_resumeRunAction, &QAction::triggered, this, &TrainView::chooseRunToResume);

    m_openSpecAction = new QAction(tr("Open Spec for Training\u2026"), this);
    m_openSpecAction->setToolTip(tr("Train a spec file (JSON) with the settings below"));
    connect(m_openSpecAction, &QAction::triggered, this, &TrainView::browseSpec);

    m_exportPlotAction = new QAction(tr("Export &Plot\u2026"), this);
    m_exportPlotAction->setToolTip(tr("Save the stage timeline as PNG, SVG or PDF"));
    connect(m_exportPlotAction, &QAction::triggered, this, &TrainView::exportPlot);

    m_exportCsvAction = new QAction(tr("Export Plot &Data (CSV)\u2026"), this);
    m_exportCsvAction->setToolTip(tr("Save the epochs behind the plots as CSV"));
    connect(m_exportCsvAction, &QAction::triggered, this, &TrainView::exportCsv);
}

QWidget *TrainView::buildSetup()
{
    auto *scroll = new QScrollArea;
    scroll->setObjectName(QStringLiteral("setupPanel"));
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    auto *panel = new QWidget;
    auto *outer = new QVBoxLayout(panel);
    outer->setContentsMargins(8, 8, 8, 8);

    m_form = new QWidget(panel);
    auto *formLayout = new QVBoxLayout(m_form);
    formLayout->setContentsMargins(0, 0, 0, 0);

    // Architecture.
    auto *specBox = new QGroupBox(tr("Architecture"), m_form);
    auto *specForm = new QFormLayout(specBox);
    m_specCombo = new QComboBox(specBox);
    m_specCombo->setObjectName(QStringLiteral("specCombo"));
    for (const PresetInfo &p : listPresets()) {
        m_specCombo->addItem(q(p.name), QStringLiteral("preset:") + q(p.name));
        m_specCombo->setItemData(m_specCombo->count() - 1, q(p.description), Qt::ToolTipRole);
    }
    auto *openButton = new QToolButton(specBox);
    openButton->setText(tr("Open\u2026"));
    openButton->setToolTip(m_openSpecAction->toolTip());
    connect(openButton, &QToolButton::clicked, this, &TrainView::browseSpec);
    auto *specRow = new QHBoxLayout;
    specRow->addWidget(m_specCombo, 1);
    specRow->addWidget(openButton);
    specForm->addRow(tr("Spec"), specRow);
    m_specInfo = new QLabel(specBox);
    m_specInfo->setWordWrap(true);
    m_specInfo->setStyleSheet(QStringLiteral("color: palette(dark);"));
    specForm->addRow(m_specInfo);
    m_specError = makeErrorLabel(specBox);
    specForm->addRow(m_specError);
    m_branchBox = new QWidget(specBox);
    m_branchBox->setObjectName(QStringLiteral("branchBox"));
    auto *branchRow = new QHBoxLayout(m_branchBox);
    branchRow->setContentsMargins(0, 0, 0, 0);
    m_branchLabel = new QLabel(m_branchBox);
    m_branchLabel->setObjectName(QStringLiteral("branchLabel"));
    m_branchLabel->setWordWrap(true);
    m_branchLabel->setStyleSheet(QStringLiteral("color: #1565c0; font-weight: bold;"));
    m_clearBranch = new QToolButton(m_branchBox);
    m_clearBranch->setObjectName(QStringLiteral("clearBranchButton"));
    m_clearBranch->setText(tr("Train from scratch"));
    m_clearBranch->setToolTip(
        tr("Forget the branch: train every stage of this spec from scratch instead"));
    connect(m_clearBranch, &QToolButton::clicked, this, [this] {
        clearBranch();
        emit statusMessage(tr("The branch was cleared: Start trains every stage from scratch."));
    });
    branchRow->addWidget(m_branchLabel, 1);
    branchRow->addWidget(m_clearBranch, 0, Qt::AlignTop);
    m_branchBox->hide();
    specForm->addRow(m_branchBox);
    connect(m_specCombo, &QComboBox::activated, this, &TrainView::onSpecComboChanged);
    formLayout->addWidget(specBox);

    // Data.
    auto *dataBox = new QGroupBox(tr("Data"), m_form);
    auto *dataForm = new QFormLayout(dataBox);
    m_datasetCombo = new QComboBox(dataBox);
    m_datasetCombo->setObjectName(QStringLiteral("datasetCombo"));
    for (const std::string &name : datasetNames())
        m_datasetCombo->addItem(q(name), q(name));
    dataForm->addRow(tr("Dataset"), m_datasetCombo);
    m_dataPath = new QLineEdit(dataBox);
    m_dataPath->setObjectName(QStringLiteral("dataPath"));
    m_dataPath->setClearButtonEnabled(true);
    auto *browse = new QToolButton(dataBox);
    browse->setText(QStringLiteral("\u2026"));
    browse->setToolTip(tr("Choose the folder holding the dataset's files"));
    connect(browse, &QToolButton::clicked, this, &TrainView::browseData);
    auto *pathRow = new QHBoxLayout;
    pathRow->addWidget(m_dataPath, 1);
    pathRow->addWidget(browse);
    dataForm->addRow(tr("Folder"), pathRow);
    m_trainLimit = new QSpinBox(dataBox);
    m_trainLimit->setRange(0, kMaxSpin);
    m_trainLimit->setSpecialValueText(tr("all"));
    m_trainLimit->setToolTip(tr("A seeded, class-balanced subset of the training split"));
    m_testLimit = new QSpinBox(dataBox);
    m_testLimit->setRange(0, kMaxSpin);
    m_testLimit->setSpecialValueText(tr("all"));
    auto *limits = new QHBoxLayout;
    limits->addWidget(new QLabel(tr("train"), dataBox));
    limits->addWidget(m_trainLimit, 1);
    limits->addWidget(new QLabel(tr("test"), dataBox));
    limits->addWidget(m_testLimit, 1);
    dataForm->addRow(tr("Subset"), limits);
    m_dataStatus = new QLabel(dataBox);
    m_dataStatus->setObjectName(QStringLiteral("dataStatus"));
    m_dataStatus->setWordWrap(true);
    m_dataStatus->setTextInteractionFlags(Qt::TextSelectableByMouse);
    dataForm->addRow(m_dataStatus);
    formLayout->addWidget(dataBox);

    // Recipe.
    auto *recipeBox = new QGroupBox(tr("Training"), m_form);
    auto *recipeForm = new QFormLayout(recipeBox);
    m_modeCombo = new QComboBox(recipeBox);
    m_modeCombo->setObjectName(QStringLiteral("modeCombo"));
    m_modeCombo->addItem(tr("Greedy layerwise"), QStringLiteral("greedy"));
    m_modeCombo->addItem(tr("End-to-end"), QStringLiteral("e2e"));
    m_modeCombo->addItem(tr("Decoupled (DGL)"), QStringLiteral("dgl"));
    recipeForm->addRow(tr("Mode"), m_modeCombo);
    m_epochs = new QSpinBox(recipeBox);
    m_epochs->setObjectName(QStringLiteral("epochsSpin"));
    m_epochs->setRange(1, 100000);
    m_epochsLabel = new QLabel(tr("Epochs / stage"), recipeBox);
    recipeForm->addRow(m_epochsLabel, m_epochs);
    m_epochsHint = new QLabel(recipeBox);
    m_epochsHint->setWordWrap(true);
    m_epochsHint->setStyleSheet(QStringLiteral("color: palette(dark);"));
    m_epochsHint->hide();
    recipeForm->addRow(m_epochsHint);
    m_batch = new QSpinBox(recipeBox);
    m_batch->setObjectName(QStringLiteral("batchSpin"));
    m_batch->setRange(1, 65536);
    recipeForm->addRow(tr("Batch size"), m_batch);
    m_lr = new QLineEdit(recipeBox);
    m_lr->setObjectName(QStringLiteral("lrEdit"));
    m_lr->setToolTip(tr("Initial learning rate (the schedule's decays follow the spec)"));
    recipeForm->addRow(tr("Learning rate"), m_lr);
    m_lrError = makeErrorLabel(recipeBox);
    m_lrError->setObjectName(QStringLiteral("lrError"));
    recipeForm->addRow(m_lrError);
    m_augment = new QCheckBox(tr("Random crop and flip"), recipeBox);
    m_augment->setObjectName(QStringLiteral("augmentCheck"));
    recipeForm->addRow(tr("Augmentation"), m_augment);
    m_cache = new QComboBox(recipeBox);
    m_cache->setObjectName(QStringLiteral("cacheCombo"));
    m_cache->addItem(tr("Auto (on when augmentation is off)"), QStringLiteral("auto"));
    m_cache->addItem(tr("On"), QStringLiteral("on"));
    m_cache->addItem(tr("Off (recompute the frozen prefix)"), QStringLiteral("off"));
    m_cache->setToolTip(tr("Greedy runs: train stage j on cached outputs of the frozen stages"));
    recipeForm->addRow(tr("Feature cache"), m_cache);
    m_precision = new QComboBox(recipeBox);
    m_precision->setObjectName(QStringLiteral("precisionCombo"));
    const QString bf16Isa = q(cpuBf16Instructions());
    m_precision->addItem(tr("fp32"), QStringLiteral("fp32"));
    m_precision->addItem(bf16Isa.isEmpty()
                             ? tr("bf16 (CUDA; emulated on this CPU: slower)")
                             : tr("bf16 (about 2x faster on this CPU: %1)").arg(bf16Isa),
                         QStringLiteral("bf16"));
    m_precision->addItem(tr("fp16 (CUDA only)"), QStringLiteral("fp16"));
    m_precision->setToolTip(
        tr("Mixed precision (autocast): bf16 on CUDA and on CPUs with bf16 instructions (AMX, "
           "AVX512-BF16), fp16 with loss scaling on CUDA. Changes the numbers slightly."));
    recipeForm->addRow(tr("Precision"), m_precision);
    m_probes = new QCheckBox(tr("Probe every layer after each stage"), recipeBox);
    m_probes->setObjectName(QStringLiteral("probesCheck"));
    m_probes->setToolTip(tr("Linear-separability probes (linear softmax on 2x2-pooled "
                            "features), shown in the accuracy-by-depth plot"));
    recipeForm->addRow(tr("Probes"), m_probes);
    m_seed = new QSpinBox(recipeBox);
    m_seed->setObjectName(QStringLiteral("seedSpin"));
    m_seed->setRange(0, std::numeric_limits<int>::max());
    recipeForm->addRow(tr("Seed"), m_seed);
    formLayout->addWidget(recipeBox);

    // Machine.
    auto *machineBox = new QGroupBox(tr("Machine"), m_form);
    auto *machineForm = new QFormLayout(machineBox);
    m_device = new QComboBox(machineBox);
    m_device->setObjectName(QStringLiteral("deviceCombo"));
    const RuntimeInfo rt = runtimeInfo();
    m_device->addItem(rt.cudaAvailable ? tr("Auto (cuda:0)") : tr("Auto (CPU)"),
                      QStringLiteral("auto"));
    m_device->addItem(tr("CPU"), QStringLiteral("cpu"));
    for (const std::string &d : rt.cudaDevices) {
        const QString text = q(d);
        m_device->addItem(text, text.section(QLatin1Char(' '), 0, 0));
    }
    if (!rt.cudaAvailable)
        m_device->setToolTip(tr("No CUDA device was found (LibTorch %1)").arg(q(rt.torchVersion)));
    machineForm->addRow(tr("Device"), m_device);
    m_threads = new QSpinBox(machineBox);
    m_threads->setObjectName(QStringLiteral("threadsSpin"));
    m_threads->setRange(0, 1024);
    m_threads->setSpecialValueText(tr("all cores (%1)").arg(rt.cores));
    machineForm->addRow(tr("CPU threads"), m_threads);
    formLayout->addWidget(machineBox);

    // Run.
    auto *runBox = new QGroupBox(tr("Run"), m_form);
    auto *runForm = new QFormLayout(runBox);
    m_name = new QLineEdit(runBox);
    m_name->setObjectName(QStringLiteral("nameEdit"));
    m_name->setPlaceholderText(tr("<spec> <mode>"));
    runForm->addRow(tr("Name"), m_name);
    formLayout->addWidget(runBox);
    outer->addWidget(m_form);

    auto makeButton = [&](QAction *action, const QString &name) {
        auto *b = new QToolButton(panel);
        b->setObjectName(name);
        b->setDefaultAction(action);
        b->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
        b->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
        return b;
    };
    m_startButton = makeButton(m_startAction, QStringLiteral("startButton"));
    m_pauseButton = makeButton(m_pauseAction, QStringLiteral("pauseButton"));
    m_stopButton = makeButton(m_stopAction, QStringLiteral("stopButton"));
    QFont bold = m_startButton->font();
    bold.setBold(true);
    m_startButton->setFont(bold);
    auto *buttons = new QHBoxLayout;
    buttons->addWidget(m_startButton);
    buttons->addWidget(m_pauseButton);
    buttons->addWidget(m_stopButton);
    outer->addLayout(buttons);
    m_startHint = makeErrorLabel(panel);
    m_startHint->setObjectName(QStringLiteral("startHint"));
    outer->addWidget(m_startHint);
    m_resumeButton = makeButton(m_resumeRunAction, QStringLiteral("resumeRunButton"));
    outer->addWidget(m_resumeButton);
    outer->addStretch(1);
    scroll->setWidget(panel);
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    scroll->setMinimumWidth(panel->minimumSizeHint().width()
                            + scroll->verticalScrollBar()->sizeHint().width() + 4);

    // Anything edited re-validates; data fields also re-check the data (debounced, off-thread).
    connect(m_datasetCombo, &QComboBox::currentIndexChanged, this, [this] {
        updateDataPlaceholder();
        scheduleDataCheck();
    });
    connect(m_dataPath, &QLineEdit::textChanged, this, &TrainView::scheduleDataCheck);
    connect(m_trainLimit, &QSpinBox::valueChanged, this, &TrainView::scheduleDataCheck);
    connect(m_testLimit, &QSpinBox::valueChanged, this, &TrainView::scheduleDataCheck);
    connect(m_seed, &QSpinBox::valueChanged, this, &TrainView::scheduleDataCheck);
    connect(m_modeCombo, &QComboBox::currentIndexChanged, this, &TrainView::revalidate);
    connect(m_epochs, &QSpinBox::valueChanged, this, &TrainView::revalidate);
    connect(m_batch, &QSpinBox::valueChanged, this, &TrainView::revalidate);
    connect(m_lr, &QLineEdit::textChanged, this, &TrainView::revalidate);
    connect(m_augment, &QCheckBox::toggled, this, &TrainView::revalidate);
    return scroll;
}

QWidget *TrainView::buildDashboard()
{
    auto *dash = new QWidget;
    auto *layout = new QVBoxLayout(dash);
    layout->setContentsMargins(4, 6, 6, 4);

    // Progress: the run, the architecture with the current stage, two bars, speed and ETA.
    m_runLabel
        = new QLabel(tr("No run yet: choose the settings on the left and press Start."), dash);
    m_runLabel->setObjectName(QStringLiteral("runLabel"));
    QFont big = m_runLabel->font();
    big.setBold(true);
    m_runLabel->setFont(big);
    m_runLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_runLabel);
    m_arch = new ArchDiagram(dash);
    layout->addWidget(m_arch);
    auto *bars = new QGridLayout;
    m_epochBar = new QProgressBar(dash);
    m_epochBar->setObjectName(QStringLiteral("epochProgress"));
    m_epochBar->setRange(0, 1000);
    m_epochBar->setValue(0);
    m_epochBar->setFormat(tr("epoch %p%"));
    m_runBar = new QProgressBar(dash);
    m_runBar->setObjectName(QStringLiteral("runProgress"));
    m_runBar->setRange(0, 1000);
    m_runBar->setValue(0);
    m_runBar->setFormat(tr("run %p%"));
    bars->addWidget(new QLabel(tr("Epoch"), dash), 0, 0);
    bars->addWidget(m_epochBar, 0, 1);
    bars->addWidget(new QLabel(tr("Run"), dash), 1, 0);
    bars->addWidget(m_runBar, 1, 1);
    layout->addLayout(bars);
    m_progressLabel = new QLabel(dash);
    m_progressLabel->setObjectName(QStringLiteral("progressLabel"));
    layout->addWidget(m_progressLabel);

    // Plot tools.
    auto *tools = new QHBoxLayout;
    m_smooth = new QCheckBox(tr("Smooth curves"), dash);
    m_smooth->setObjectName(QStringLiteral("smoothCheck"));
    m_smooth->setToolTip(tr("Debiased exponential smoothing (0.6, as TensorBoard), raw curves drawn faintly behind"));
    auto *resetView = new QToolButton(dash);
    resetView->setText(tr("Whole Run"));
    resetView->setToolTip(tr("Reset zoom and pan (or double-click the plot)"));
    auto *exportPlotButton = new QToolButton(dash);
    exportPlotButton->setDefaultAction(m_exportPlotAction);
    auto *exportCsvButton = new QToolButton(dash);
    exportCsvButton->setDefaultAction(m_exportCsvAction);
    exportCsvButton->setText(tr("Export CSV\u2026"));
    tools->addWidget(
        new QLabel(tr("<b>Stage timeline</b> \u2014 drag to pan, wheel to zoom"), dash));
    tools->addStretch(1);
    tools->addWidget(m_smooth);
    tools->addWidget(resetView);
    tools->addWidget(exportPlotButton);
    tools->addWidget(exportCsvButton);
    layout->addLayout(tools);

    m_timeline = new TimelinePlot(dash);
    m_timeline->setMinimumHeight(180);
    m_depth = new DepthPlot(dash);
    m_depth->setMinimumHeight(180);
    connect(m_smooth, &QCheckBox::toggled, m_timeline, &TimelinePlot::setSmoothing);
    connect(resetView, &QToolButton::clicked, m_timeline, &TimelinePlot::resetView);

    // Each plot exports itself from its context menu.
    auto addPlotMenu = [this](QCustomPlot *plot, const QString &what, auto csv) {
        plot->setContextMenuPolicy(Qt::ActionsContextMenu);
        auto *png = new QAction(tr("Export %1\u2026").arg(what), plot);
        connect(png, &QAction::triggered, this, [this, plot, what] {
            exportTo(tr("Export %1").arg(what), plotExportFilter(),
                     [plot](const QString &path, QString *error) {
                         return lw::exportPlot(plot, path, error);
                     });
        });
        auto *data = new QAction(tr("Export %1 Data (CSV)\u2026").arg(what), plot);
        connect(data, &QAction::triggered, this, [this, what, csv] {
            exportTo(tr("Export %1 data").arg(what), tr("CSV (*.csv)"),
                     [csv](const QString &path, QString *error) {
                         return writeTextFile(path, csv(), error);
                     });
        });
        plot->addActions({png, data});
    };
    addPlotMenu(m_timeline, tr("Stage Timeline"), [this] { return m_timeline->toCsv(); });
    addPlotMenu(m_depth, tr("Accuracy by Depth"), [this] { return m_depth->toCsv(); });

    auto *depthBox = new QWidget(dash);
    auto *depthLayout = new QVBoxLayout(depthBox);
    depthLayout->setContentsMargins(0, 0, 0, 0);
    depthLayout->addWidget(new QLabel(tr("<b>Accuracy by depth</b>"), depthBox));
    depthLayout->addWidget(m_depth, 1);
    auto *plots = new QSplitter(Qt::Horizontal, dash);
    plots->addWidget(m_timeline);
    plots->addWidget(depthBox);
    plots->setStretchFactor(0, 3);
    plots->setStretchFactor(1, 2);
    plots->setSizes({600, 400});

    m_log = new QPlainTextEdit(dash);
    m_log->setObjectName(QStringLiteral("logView"));
    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(5000);
    m_log->setPlaceholderText(tr("The engine's messages appear here."));
    QFont mono = QFontDatabase::systemFont(QFontDatabase::FixedFont);
    m_log->setFont(mono);

    m_dashSplitter = new QSplitter(Qt::Vertical, dash);
    m_dashSplitter->setObjectName(QStringLiteral("dashboardSplitter"));
    m_dashSplitter->addWidget(plots);
    m_dashSplitter->addWidget(m_log);
    m_dashSplitter->setStretchFactor(0, 4);
    m_dashSplitter->setStretchFactor(1, 1);
    m_dashSplitter->setSizes({500, 140});
    layout->addWidget(m_dashSplitter, 1);
    return dash;
}

// ---- setup --------------------------------------------------------------------------------------

void TrainView::setSpec(const Spec &spec, const QString &name)
{
    m_spec = spec;
    m_specName = name.isEmpty() ? (spec.name.empty() ? tr("Untitled") : q(spec.name)) : name;
    // A spec not from a preset (a file, the Design view) gets its own first entry.
    if (m_specCombo->itemData(0).toString() == QLatin1String("custom"))
        m_specCombo->removeItem(0);
    const int preset = m_specCombo->findData(QStringLiteral("preset:") + m_specName);
    if (preset >= 0) {
        m_specCombo->setCurrentIndex(preset);
    } else {
        m_specCombo->insertItem(0, m_specName, QStringLiteral("custom"));
        m_specCombo->setItemData(0, tr("Not a preset: from a file or the Design view"),
                                 Qt::ToolTipRole);
        m_specCombo->setCurrentIndex(0);
    }
    // A new spec trains from scratch unless the caller branches it again (setBranch).
    m_branchParent = -1;
    m_branchStage = 0;
    updateBranchUi();
    fillForm(spec);
    m_arch->setSpec(spec);
    if (!isRunning()) {
        m_runTitle.clear();
        emit titleChanged(title());
    }
}

bool TrainView::setSpecJson(const QString &json, const QString &name)
{
    auto spec = parseSpec(json.toStdString());
    if (!spec) {
        m_error = q(spec.message());
        appendLog(LogLevel::Error, tr("The spec cannot be used: %1").arg(m_error));
        return false;
    }
    setSpec(*spec, name);
    return true;
}

bool TrainView::setBranch(std::int64_t parentRun, int lockedStages)
{
    m_error.clear();
    if (!m_store) {
        m_error = tr("No run store is open, so run %1 cannot be branched.").arg(parentRun);
        return false;
    }
    auto exists = m_store->exists(parentRun);
    if (!exists || !*exists) {
        m_error
            = exists ? tr("Run %1 is not in the run store.").arg(parentRun) : q(exists.message());
        return false;
    }
    const int stages = static_cast<int>(m_spec.stages.size());
    if (lockedStages < 1 || lockedStages >= stages) {
        m_error = tr("A branch of this %1-stage spec locks 1 to %2 stages, not %3.")
                      .arg(stages)
                      .arg(stages - 1)
                      .arg(lockedStages);
        return false;
    }
    m_branchParent = parentRun;
    m_branchStage = lockedStages;
    const int greedy = m_modeCombo->findData(QStringLiteral("greedy"));
    if (m_modeCombo->currentIndex() != greedy) {
        m_modeCombo->setCurrentIndex(greedy);
        appendLog(LogLevel::Info, tr("mode set to greedy layerwise: a branch of run %1 trains "
                                     "its new stages greedily on the frozen ones")
                                      .arg(parentRun));
    }
    updateBranchUi();
    revalidate();
    return true;
}

void TrainView::clearBranch()
{
    if (m_branchParent < 0)
        return;
    m_branchParent = -1;
    m_branchStage = 0;
    updateBranchUi();
    revalidate();
}

void TrainView::updateBranchUi()
{
    const bool branch = m_branchParent >= 0;
    if (branch) {
        const QString locked
            = m_branchStage == 1 ? tr("stage 1") : tr("stages 1–%1").arg(m_branchStage);
        m_branchLabel->setText(tr("Branch of run %1 from stage %2: %3 come from run %1's "
                                  "checkpoint and stay frozen; stages %2.. are trained greedily.")
                                   .arg(m_branchParent)
                                   .arg(m_branchStage + 1)
                                   .arg(locked));
    } else {
        m_branchLabel->clear();
    }
    m_branchBox->setVisible(branch);
    // A branch trains greedily: end-to-end and DGL would retrain the frozen stages.
    if (auto *model = qobject_cast<QStandardItemModel *>(m_modeCombo->model())) {
        for (int i = 0; i < m_modeCombo->count(); ++i) {
            const bool greedy = m_modeCombo->itemData(i).toString() == QLatin1String("greedy");
            if (QStandardItem *item = model->item(i)) {
                item->setEnabled(greedy || !branch);
                item->setToolTip(greedy || !branch
                                     ? QString()
                                     : tr("A branch trains greedily; clear the branch (Train "
                                          "from scratch) to use this mode."));
            }
        }
    }
}

bool TrainView::loadPreset(const QString &name)
{
    auto spec = lw::loadPreset(name.toStdString());
    if (!spec) {
        m_error = q(spec.message());
        return false;
    }
    setSpec(*spec, name);
    return true;
}

bool TrainView::openSpecFile(const QString &path)
{
    auto spec = loadSpecFile(path.toStdString());
    if (!spec) {
        m_error = q(spec.message());
        appendLog(LogLevel::Error, m_error);
        return false;
    }
    setSpec(*spec, QFileInfo(path).fileName());
    return true;
}

void TrainView::setDataset(const QString &name, const QString &path)
{
    const int i = m_datasetCombo->findData(name);
    if (i >= 0)
        m_datasetCombo->setCurrentIndex(i);
    m_dataPath->setText(path);
    scheduleDataCheck();
}

void TrainView::fillForm(const Spec &spec)
{
    const RecipeSpec &r = spec.recipe;
    QSignalBlocker b1(m_datasetCombo), b2(m_dataPath), b3(m_trainLimit), b4(m_testLimit),
        b5(m_epochs), b6(m_batch), b7(m_lr), b8(m_augment), b9(m_seed), b10(m_precision);
    int i = m_datasetCombo->findData(q(r.dataset.name));
    if (i < 0) {
        m_datasetCombo->addItem(q(r.dataset.name), q(r.dataset.name));
        i = m_datasetCombo->count() - 1;
    }
    m_datasetCombo->setCurrentIndex(i);
    m_dataPath->setText(q(r.dataset.path));
    m_trainLimit->setValue(
        static_cast<int>(std::min<std::int64_t>(r.dataset.trainLimit, kMaxSpin)));
    m_testLimit->setValue(static_cast<int>(std::min<std::int64_t>(r.dataset.testLimit, kMaxSpin)));
    m_epochs->setValue(r.epochsPerStage);
    m_batch->setValue(r.batchSize);
    m_lr->setText(QString::number(r.lr.initial, 'g', 6));
    m_augment->setChecked(r.augment.enabled);
    const int p = m_precision->findData(q(r.precision));
    m_precision->setCurrentIndex(p >= 0 ? p : 0);
    m_seed->setValue(static_cast<int>(std::min<std::uint64_t>(r.seed, kMaxSpin)));
    m_specInfo->setText(q(spec.description));
    m_specInfo->setVisible(!spec.description.empty());
    updateDataPlaceholder();
    scheduleDataCheck();
}

Spec TrainView::effectiveSpec() const
{
    Spec s = m_spec;
    RecipeSpec &r = s.recipe;
    r.dataset.name = m_datasetCombo->currentData().toString().toStdString();
    const QString path = m_dataPath->text().trimmed();
    r.dataset.path
        = path.isEmpty() ? std::string() : QFileInfo(path).absoluteFilePath().toStdString();
    r.dataset.trainLimit = m_trainLimit->value();
    r.dataset.testLimit = m_testLimit->value();
    r.epochsPerStage = m_epochs->value();
    r.batchSize = m_batch->value();
    bool ok = false;
    const double lr = m_lr->text().trimmed().toDouble(&ok);
    if (ok && std::isfinite(lr) && lr > 0) {
        r.lr.initial = lr;
        r.e2e.lr.initial = lr;
    }
    r.augment.enabled = m_augment->isChecked();
    r.precision = m_precision->currentData().toString().toStdString();
    r.seed = static_cast<std::uint64_t>(m_seed->value());
    return s;
}

void TrainView::setFieldError(QLabel *label, const QString &text)
{
    label->setText(text);
    label->setVisible(!text.isEmpty());
}

void TrainView::revalidate()
{
    const Spec spec = effectiveSpec();
    QStringList problems;

    // The spec (its own fields and the recipe's, as the validator names them).
    QString specProblem;
    if (spec.stages.empty()) {
        specProblem = tr("No architecture: choose a preset, open a spec or use the Design view.");
    } else if (auto issues = validateSpec(spec); !issues.empty()) {
        QStringList lines;
        for (std::size_t i = 0; i < issues.size() && i < 4; ++i)
            lines << q(issues[i].toString());
        if (issues.size() > 4)
            lines << tr("(%1 more)").arg(issues.size() - 4);
        specProblem = lines.join(QLatin1Char('\n'));
    }
    setFieldError(m_specError, specProblem);
    if (!specProblem.isEmpty())
        problems << tr("the spec is invalid");

    bool ok = false;
    const QString lrText = m_lr->text().trimmed();
    const double lr = lrText.toDouble(&ok);
    QString lrProblem;
    if (lrText.isEmpty())
        lrProblem = tr("Enter the initial learning rate, e.g. 0.1.");
    else if (!ok || !std::isfinite(lr))
        lrProblem = tr("'%1' is not a number; expected a positive number such as 0.05 or 1e-3.")
                        .arg(lrText);
    else if (lr <= 0)
        lrProblem = tr("The learning rate must be greater than 0.");
    setFieldError(m_lrError, lrProblem);
    if (!lrProblem.isEmpty())
        problems << tr("the learning rate is invalid");

    const TrainMode mode = parseTrainMode(m_modeCombo->currentData().toString().toStdString())
                               .value_or(TrainMode::Greedy);
    if (mode == TrainMode::EndToEnd) {
        m_epochsLabel->setText(tr("Epochs / stage"));
        const int total = spec.recipe.e2e.epochs > 0
                              ? spec.recipe.e2e.epochs
                              : m_epochs->value() * static_cast<int>(spec.stages.size());
        m_epochsHint->setText(spec.recipe.e2e.epochs > 0
                                  ? tr("End-to-end: %1 epochs (the spec's e2e.epochs)").arg(total)
                                  : tr("End-to-end: %1 epochs (epochs per stage \u00d7 %2 stages)")
                                        .arg(total)
                                        .arg(spec.stages.size()));
        m_epochsHint->show();
    } else {
        m_epochsHint->hide();
    }
    if (m_branchParent >= 0) {
        if (mode != TrainMode::Greedy)
            problems << tr("a branch of run %1 trains greedily: choose greedy layerwise or "
                           "train from scratch")
                            .arg(m_branchParent);
        if (static_cast<int>(spec.stages.size()) <= m_branchStage)
            problems
                << tr("a branch from stage %1 needs a stage %1 to train").arg(m_branchStage + 1);
    }

    // The data: the last check must be about what the fields say now, and have passed.
    const QString key = dataKey(spec);
    if (key != m_dataKey && !m_dataTimer->isActive() && !m_dataWatcher->isRunning())
        m_dataTimer->start(); // a field changed without its own signal (a new spec)
    if (checkingData()) {
        problems << tr("checking the data\u2026");
    } else if (!m_dataError.isEmpty()) {
        problems << tr("the data cannot be used");
    }
    if (!m_store)
        problems << (m_storeError.isEmpty() ? tr("no run store is open")
                                            : tr("run store: %1").arg(m_storeError));

    m_startProblem = problems.isEmpty()
                         ? QString()
                         : tr("Cannot start: %1.").arg(problems.join(QStringLiteral("; ")));
    updateActions();
}

void TrainView::updateDataPlaceholder()
{
    const QString name = m_datasetCombo->currentData().toString();
    m_dataPath->setPlaceholderText(name == QLatin1String("fashion-mnist")
                                       ? q(defaultFashionMnistPath())
                                       : (name == QLatin1String("synthetic")
                                              ? tr("generated, no files")
                                              : tr("the dataset's default place")));
}

void TrainView::scheduleDataCheck()
{
    m_dataTimer->start();
    revalidate();
}

QString TrainView::dataKey(const Spec &spec)
{
    const DatasetSpec &d = spec.recipe.dataset;
    return QStringLiteral("%1|%2|%3|%4|%5|%6|%7x%8x%9")
        .arg(q(d.name), q(d.path))
        .arg(d.trainLimit)
        .arg(d.testLimit)
        .arg(spec.recipe.seed)
        .arg(spec.input.classes)
        .arg(spec.input.channels)
        .arg(spec.input.height)
        .arg(spec.input.width);
}

bool TrainView::checkingData() const
{
    // Also while a finished check's result waits in the event queue.
    return m_dataWatcher->isRunning() || m_dataTimer->isActive()
           || m_dataKey != dataKey(effectiveSpec());
}

void TrainView::runDataCheck()
{
    if (m_dataWatcher->isRunning()) {
        m_dataTimer->start(); // one check at a time; check again when it is done
        return;
    }
    const Spec spec = effectiveSpec();
    DatasetOptions o;
    o.name = spec.recipe.dataset.name;
    o.path = spec.recipe.dataset.path;
    o.trainLimit = spec.recipe.dataset.trainLimit;
    o.testLimit = spec.recipe.dataset.testLimit;
    o.seed = spec.recipe.seed;
    o.imageSide = spec.input.height;
    if (o.name == "synthetic") { // as the trainer opens it: the spec's shape
        o.channels = spec.input.channels;
        o.classes = spec.input.classes;
        o.syntheticTrain = o.trainLimit;
        o.syntheticTest = o.testLimit;
    }
    m_pendingKey = dataKey(spec);
    m_dataStatus->setStyleSheet(QStringLiteral("color: palette(dark);"));
    m_dataStatus->setText(tr("Checking the data\u2026"));
    m_dataWatcher->setFuture(QtConcurrent::run([o] { return probeDataset(o); }));
}

void TrainView::onDataChecked()
{
    const Result<DatasetInfo> result = m_dataWatcher->result();
    m_dataKey = m_pendingKey;
    m_dataInfo.reset();
    m_dataError.clear();
    if (!result) {
        m_dataError = q(result.message());
    } else {
        const DatasetInfo &info = *result;
        m_dataInfo = info;
        if (info.classes > m_spec.input.classes)
            m_dataError = tr("The dataset has %1 classes but the spec's input has %2 "
                             "(input.classes): choose a spec made for this dataset.")
                              .arg(info.classes)
                              .arg(m_spec.input.classes);
        else if (info.channels != m_spec.input.channels
                 && !(info.channels == 1 && m_spec.input.channels == 3))
            m_dataError = tr("The dataset has %1-channel images but the spec expects %2 "
                             "(input.channels).")
                              .arg(info.channels)
                              .arg(m_spec.input.channels);
    }
    if (!m_dataError.isEmpty()) {
        m_dataStatus->setStyleSheet(QStringLiteral("color: #c62828;"));
        m_dataStatus->setText(m_dataError);
    } else {
        const DatasetInfo &info = *m_dataInfo;
        m_dataStatus->setStyleSheet(QStringLiteral("color: #2e7d32;"));
        m_dataStatus->setText(tr("\u2713 %1\n%2 train / %3 test images, %4\u00d7%5\u00d7%6, %7 "
                                 "classes")
                                  .arg(q(info.description))
                                  .arg(groupedText(info.trainSize))
                                  .arg(groupedText(info.testSize))
                                  .arg(info.channels)
                                  .arg(info.height)
                                  .arg(info.width)
                                  .arg(info.classes));
    }
    revalidate();
}

bool TrainView::canStart() const
{
    return m_startProblem.isEmpty() && !isRunning() && !m_probing;
}

void TrainView::updateActions()
{
    const bool running = isRunning();
    const bool stopping = running && m_session->isStopping();
    m_startAction->setEnabled(!running && !m_probing && m_startProblem.isEmpty());
    m_pauseAction->setEnabled(running && !stopping);
    m_pauseAction->setText(isPaused() ? tr("&Continue") : tr("&Pause"));
    m_pauseAction->setIcon(QIcon::fromTheme(isPaused() ? QStringLiteral("media-playback-start")
                                                       : QStringLiteral("media-playback-pause")));
    m_stopAction->setEnabled(running && !stopping);
    m_resumeRunAction->setEnabled(!running && !m_probing && m_store);
    m_openSpecAction->setEnabled(!running);
    m_form->setEnabled(!running);
    m_specCombo->setEnabled(!running);
    setFieldError(m_startHint, running ? QString() : m_startProblem);
}

bool TrainView::isRunning() const
{
    return m_session->isRunning();
}

bool TrainView::isPaused() const
{
    return m_session->isPaused();
}

QString TrainView::title() const
{
    return m_runTitle.isEmpty() ? m_specName : m_runTitle;
}

QString TrainView::lastFolder(const QString &kind) const
{
    const QString f = kind == QLatin1String("spec")   ? m_lastFolderSpec
                      : kind == QLatin1String("data") ? m_lastFolderData
                                                      : m_lastFolderExport;
    return f.isEmpty() ? QDir::homePath() : f;
}

void TrainView::setLastFolder(const QString &kind, const QString &folder)
{
    if (kind == QLatin1String("spec"))
        m_lastFolderSpec = folder;
    else if (kind == QLatin1String("data"))
        m_lastFolderData = folder;
    else
        m_lastFolderExport = folder;
    emit lastFolderChanged(kind, folder);
}

void TrainView::browseData()
{
    const QString start
        = m_dataPath->text().isEmpty() ? lastFolder(QStringLiteral("data")) : m_dataPath->text();
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Dataset Folder"), start);
    if (dir.isEmpty())
        return;
    setLastFolder(QStringLiteral("data"), dir);
    m_dataPath->setText(dir);
}

void TrainView::browseSpec()
{
    const QString path = QFileDialog::getOpenFileName(
        this, tr("Open Spec for Training"), lastFolder(QStringLiteral("spec")),
        tr("Layerwise specs (*.json);;All files (*)"));
    if (path.isEmpty())
        return;
    setLastFolder(QStringLiteral("spec"), QFileInfo(path).absolutePath());
    if (!openSpecFile(path))
        QMessageBox::warning(this, tr("Open Spec"), m_error);
}

void TrainView::onSpecComboChanged(int index)
{
    const QString data = m_specCombo->itemData(index).toString();
    if (data.startsWith(QLatin1String("preset:")))
        loadPreset(data.mid(7));
}

// ---- running ------------------------------------------------------------------------------------

bool TrainView::startTraining()
{
    m_error.clear();
    if (isRunning()) {
        m_error = tr("A run is already training.");
        return false;
    }
    revalidate();
    if (!m_startProblem.isEmpty()) {
        m_error = m_startProblem;
        emit statusMessage(m_error);
        return false;
    }
    TrainRequest request;
    request.options.spec = effectiveSpec();
    request.options.mode = parseTrainMode(m_modeCombo->currentData().toString().toStdString())
                               .value_or(TrainMode::Greedy);
    request.options.device = m_device->currentData().toString().toStdString();
    request.options.threads = m_threads->value();
    const QString cache = m_cache->currentData().toString();
    request.options.cache = cache == QLatin1String("on")    ? FeatureCache::On
                            : cache == QLatin1String("off") ? FeatureCache::Off
                                                            : FeatureCache::Auto;
    request.options.probes = m_probes->isChecked();
    request.name = m_name->text();
    request.specName = m_specName;
    if (m_branchParent >= 0) {
        request.parentRun = m_branchParent;
        request.branchStage = m_branchStage;
    }
    prepareDashboard(request.options.spec, request.options.mode);
    if (!m_session->start(request)) {
        m_error = m_session->errorString();
        appendLog(LogLevel::Error, m_error);
        updateActions();
        return false;
    }
    return true;
}

bool TrainView::resumeStoredRun(std::int64_t runId)
{
    m_error.clear();
    if (!m_store) {
        m_error = tr("No run store is open.");
        return false;
    }
    auto detail = m_store->getRun(runId);
    if (!detail) {
        m_error = q(detail.message());
        appendLog(LogLevel::Error, m_error);
        return false;
    }
    auto spec = parseSpec(detail->specJson);
    if (spec)
        prepareDashboard(*spec, detail->run.mode);
    if (!m_session->resumeRun(runId, m_device->currentData().toString(), m_threads->value())) {
        m_error = m_session->errorString();
        appendLog(LogLevel::Error, m_error);
        updateActions();
        return false;
    }
    return true;
}

namespace {

/// Forwards probe results and messages of probeRun (on a pool thread) to the view, queued.
class ProbeForwarder : public TrainObserver
{
public:
    ProbeForwarder(TrainView *view, RunStore *store, std::int64_t runId)
        : m_view(view)
        , m_store(store)
        , m_runId(runId)
    {}
    void probeFinished(const ProbeResult &p) override
    {
        (void)m_store->recordProbe(m_runId, p);
        QMetaObject::invokeMethod(m_view, "onProbeResult", Qt::QueuedConnection,
                                  Q_ARG(lw::ProbeResult, p));
    }
    void log(LogLevel level, const std::string &text) override
    {
        QMetaObject::invokeMethod(m_view, "onProbeLog", Qt::QueuedConnection,
                                  Q_ARG(lw::LogLevel, level),
                                  Q_ARG(QString, QString::fromStdString(text)));
    }

private:
    QPointer<TrainView> m_view;
    RunStore *m_store;
    std::int64_t m_runId;
};

} // namespace

bool TrainView::probeStoredRun(std::int64_t runId)
{
    m_error.clear();
    if (isRunning() || m_probing) {
        m_error = tr("Wait for the run or probe in progress to end.");
        return false;
    }
    if (!m_store) {
        m_error = tr("No run store is open.");
        return false;
    }
    auto detail = m_store->getRun(runId);
    if (!detail) {
        m_error = q(detail.message());
        return false;
    }
    auto spec = parseSpec(detail->specJson);
    if (!spec) {
        m_error = tr("Run %1: its stored spec is invalid: %2").arg(runId).arg(q(spec.message()));
        return false;
    }
    prepareDashboard(*spec, detail->run.mode);
    loadHistory(runId, std::numeric_limits<int>::max(), std::numeric_limits<int>::max());
    m_timeline->flush();
    m_runTitle = tr("run %1: %2").arg(runId).arg(q(detail->run.name));
    m_runLabel->setText(tr("%1 \u2014 probing every layer").arg(m_runTitle));
    appendLog(LogLevel::Info, tr("probing every layer of run %1 (linear softmax on 2x2-pooled "
                                 "features)")
                                  .arg(runId));
    m_probing = true;
    updateActions();
    emit titleChanged(title());
    const std::string dir = m_store->runDir(runId);
    const Spec s = *spec;
    const TrainMode mode = detail->run.mode;
    const std::string device = m_device->currentData().toString().toStdString();
    RunStore *store = m_store;
    auto *watcher = new QFutureWatcher<QString>(this);
    connect(watcher, &QFutureWatcherBase::finished, this, [this, watcher, runId] {
        const QString error = watcher->result();
        watcher->deleteLater();
        m_probing = false;
        if (error.isEmpty())
            appendLog(LogLevel::Info, tr("probes of run %1 done and stored").arg(runId));
        else
            appendLog(LogLevel::Error, error);
        m_runLabel->setText(
            tr("%1 \u2014 %2")
                .arg(m_runTitle, error.isEmpty() ? tr("probed") : tr("probe failed")));
        revalidate();
        emit probesFinished(runId, error);
    });
    watcher->setFuture(QtConcurrent::run([this, store, runId, dir, s, mode, device]() {
        ProbeForwarder forward(this, store, runId);
        auto r = probeRun(dir, s, mode, device, &forward);
        return r ? QString() : tr("Run %1: %2").arg(runId).arg(q(r.message()));
    }));
    return true;
}

void TrainView::onProbeResult(const lw::ProbeResult &p)
{
    onProbe(p);
}

void TrainView::onProbeLog(lw::LogLevel level, const QString &text)
{
    appendLog(level, text);
}

void TrainView::togglePause()
{
    if (!isRunning())
        return;
    if (isPaused())
        m_session->resumeTraining();
    else
        m_session->pause();
}

void TrainView::stopTraining()
{
    if (!isRunning())
        return;
    m_session->stop();
    appendLog(LogLevel::Info,
              tr("stopping after the current batch; the run stays resumable from its last "
                 "checkpoint"));
    updateActions();
    updateProgressText();
}

void TrainView::prepareDashboard(const Spec &spec, TrainMode mode)
{
    m_runMode = mode;
    m_runStages = static_cast<int>(spec.stages.size());
    const int eps = spec.recipe.epochsPerStage;
    switch (mode) {
    case TrainMode::Greedy:
        // A branch trains only the stages after the locked ones.
        m_plannedEpochs
            = eps * std::max(1, m_runStages - (m_branchParent >= 0 ? m_branchStage : 0));
        break;
    case TrainMode::EndToEnd:
        m_plannedEpochs = spec.recipe.e2e.epochs > 0 ? spec.recipe.e2e.epochs : eps * m_runStages;
        break;
    case TrainMode::Decoupled: m_plannedEpochs = eps; break;
    }
    m_stageEpochs = mode == TrainMode::Greedy ? eps : m_plannedEpochs;
    m_currentStage = -1;
    m_currentEpoch = 0;
    m_stagesDone = 0;
    m_lastStep = 0;
    m_epochFraction = 0;
    m_imagesPerSecond = 0;
    m_doneAtStart = 0;
    m_endedReported = false;
    m_arch->setSpec(spec);
    m_timeline->reset(m_plannedEpochs);
    m_depth->reset(m_runStages);
    m_epochBar->setValue(0);
    m_runBar->setValue(0);
    m_progressLabel->clear();
}

void TrainView::loadHistory(std::int64_t runId, int resumeStage, int resumeEpoch)
{
    if (!m_store)
        return;
    auto detail = m_store->getRun(runId);
    auto rows = m_store->metrics(runId);
    if (!detail || !rows)
        return;
    // Tidy rows -> epochs; only what comes before the point the run continues from.
    std::map<std::pair<int, int>, EpochMetrics> epochs;
    for (const MetricRow &r : *rows) {
        EpochMetrics &e = epochs[{r.stage, r.epoch}];
        e.stage = r.stage;
        e.epoch = r.epoch;
        e.step = r.step;
        if (r.split == "train" && r.metric == "loss")
            e.trainLoss = r.value;
        else if (r.split == "train" && r.metric == "acc")
            e.trainAcc = r.value;
        else if (r.split == "test" && r.metric == "loss")
            e.testLoss = r.value;
        else if (r.split == "test" && r.metric == "acc")
            e.testAcc = r.value;
        else if (r.split == "ensemble" && r.metric == "acc")
            e.ensembleAcc = r.value;
        else if (r.split == "epoch" && r.metric == "lr")
            e.lr = r.value;
        else if (r.split == "epoch" && r.metric == "images_per_second")
            e.imagesPerSecond = r.value;
        else if (r.split == "epoch" && r.metric == "seconds")
            e.seconds = r.value;
    }
    int shownStage = -1;
    for (const auto &[key, e] : epochs) {
        if (key.first > resumeStage || (key.first == resumeStage && key.second > resumeEpoch))
            continue;
        if (m_runMode == TrainMode::Greedy && e.stage != shownStage) {
            m_timeline->stageStarted(e.stage, double(e.step - e.epoch), true);
            shownStage = e.stage;
        }
        m_timeline->addEpoch(e);
        m_lastStep = std::max(m_lastStep, e.step);
    }
    for (const StageRow &s : detail->stages) {
        if (!s.finished || !s.testAcc || s.stage >= resumeStage + (resumeEpoch > 0 ? 0 : 1))
            continue;
        StageFinished f;
        f.stage = s.stage;
        f.epochs = s.epochsDone;
        f.testAcc = *s.testAcc;
        f.ensembleAcc = s.ensembleAcc.value_or(0);
        f.trainAcc = s.trainAcc.value_or(0);
        m_depth->setStage(f);
        m_stagesDone = std::max(m_stagesDone, s.stage + 1);
    }
    for (const ProbeRow &p : detail->probes)
        if (p.afterStage < resumeStage)
            m_depth->setProbe({p.afterStage, p.layer, p.trainAcc, p.testAcc, p.seconds});
    if (!epochs.empty())
        appendLog(LogLevel::Info,
                  tr("loaded the curves of run %1 so far (%2 epochs)").arg(runId).arg(m_lastStep));
}

void TrainView::chooseRunToResume()
{
    if (!m_store)
        return;
    auto runs = m_store->listRuns();
    if (!runs) {
        QMessageBox::warning(this, tr("Resume a Stored Run"), q(runs.message()));
        return;
    }
    QStringList items;
    QList<std::int64_t> ids;
    for (const RunRow &r : *runs) {
        if (r.status == RunStatus::Finished || r.status == RunStatus::Running)
            continue;
        if (!QFileInfo::exists(q(m_store->runDir(r.id) + "/state.json")))
            continue;
        items << tr("#%1  %2  \u2014 %3, %4/%5 stages, %6")
                     .arg(r.id)
                     .arg(q(r.name), q(toString(r.status)))
                     .arg(r.stagesDone)
                     .arg(r.stages)
                     .arg(QDateTime::fromSecsSinceEpoch(static_cast<qint64>(r.started))
                              .toString(QStringLiteral("yyyy-MM-dd hh:mm")));
        ids << r.id;
    }
    if (items.isEmpty()) {
        QMessageBox::information(this, tr("Resume a Stored Run"),
                                 tr("No stored run can be resumed: runs that were stopped, "
                                    "interrupted or failed after a checkpoint appear here."));
        return;
    }
    bool ok = false;
    const QString choice
        = QInputDialog::getItem(this, tr("Resume a Stored Run"),
                                tr("Continue from the last checkpoint:"), items, 0, false, &ok);
    if (!ok)
        return;
    const auto id = ids.value(items.indexOf(choice), -1);
    if (id >= 0 && !resumeStoredRun(id))
        QMessageBox::warning(this, tr("Resume a Stored Run"), m_error);
}

void TrainView::onRunCreated(qint64 runId, bool resumed)
{
    m_runTitle = tr("run %1: %2").arg(runId).arg(m_session->runName());
    m_runLabel->setText(tr("%1 \u2014 %2 %3")
                            .arg(m_runTitle, resumed ? tr("resuming") : tr("starting"),
                                 modeText(m_session->mode())));
    if (!resumed)
        m_log->clear();
    appendLog(LogLevel::Info,
              resumed ? tr("resuming run %1 (%2)").arg(runId).arg(q(m_store->runDir(runId)))
                      : tr("run %1 recorded in %2").arg(runId).arg(q(m_store->path())));
    const std::int64_t parent = m_session->parentRun();
    if (parent >= 0) {
        const int k = m_session->branchStage();
        appendLog(LogLevel::Info, tr("branch of run %1 from stage %2: stages 1–%3 are run "
                                     "%1's, frozen (%4)")
                                      .arg(parent)
                                      .arg(k + 1)
                                      .arg(k)
                                      .arg(q(m_store->runDir(parent))));
        if (!resumed) {
            // The locked stages' results (the parent's) in the accuracy-by-depth plot.
            if (auto detail = m_store->getRun(runId)) {
                for (const StageRow &row : detail->stages) {
                    if (row.stage >= k || !row.finished)
                        continue;
                    StageFinished sf;
                    sf.stage = row.stage;
                    sf.epochs = row.epochsDone;
                    sf.trainAcc = row.trainAcc.value_or(0);
                    sf.testAcc = row.testAcc.value_or(0);
                    sf.ensembleAcc = row.ensembleAcc.value_or(0);
                    m_depth->setStage(sf);
                }
            }
            m_stagesDone = k;
            m_arch->setProgress(-1, k);
        }
    }
    m_runClock.start();
    updateActions();
    emit runningChanged(true);
    emit titleChanged(title());
    emit runRecorded(runId);
}

void TrainView::onRunStarted(const RunStarted &e)
{
    if (e.resumed) {
        loadHistory(m_session->runId(), e.resumeStage, e.resumeEpoch);
        if (m_plannedEpochs > 0)
            m_doneAtStart = double(m_lastStep) / m_plannedEpochs;
    }
    m_runLabel->setText(tr("%1 \u2014 %2 on %3").arg(m_runTitle, modeText(e.mode), q(e.device)));
    appendLog(LogLevel::Info,
              tr("%1 on %2 (%3 threads): %4, %5 train / %6 test images")
                  .arg(modeText(e.mode), q(e.device))
                  .arg(e.threads)
                  .arg(q(e.dataset), groupedText(e.trainSize), groupedText(e.testSize)));
}

void TrainView::onStageStarted(const StageStarted &e)
{
    if (m_runMode == TrainMode::Greedy) {
        m_currentStage = e.stage;
        m_stageEpochs = e.epochs;
        m_timeline->stageStarted(e.stage, double(m_lastStep), true);
        m_arch->setProgress(e.stage, m_stagesDone);
        appendLog(LogLevel::Info,
                  tr("stage %1: block %2 params, head %3 params%4")
                      .arg(e.stage + 1)
                      .arg(compactText(double(e.blockParams)), compactText(double(e.headParams)),
                           e.cachedInput ? tr(", input from the feature cache") : QString()));
    } else {
        // End-to-end and DGL train every stage at once: the whole trunk is current.
        m_currentStage = m_runStages - 1;
        m_stageEpochs = e.epochs;
        m_plannedEpochs = e.epochs;
        m_timeline->stageStarted(e.stage, double(m_lastStep), false);
        m_arch->setProgress(m_runStages - 1, m_runStages - 1);
    }
    m_currentEpoch = 0;
    m_epochFraction = 0;
    updateProgressText();
}

void TrainView::onBatch(const BatchProgress &e)
{
    m_currentEpoch = e.epoch;
    m_epochFraction = e.batches > 0 ? double(e.batch) / e.batches : 0;
    m_imagesPerSecond = e.imagesPerSecond;
    m_timeline->addBatch(e, double(m_lastStep) + m_epochFraction);
    updateProgressText();
}

void TrainView::onEpoch(const EpochMetrics &e)
{
    m_timeline->addEpoch(e);
    m_lastStep = std::max(m_lastStep, e.step);
    m_currentEpoch = e.epoch;
    m_epochFraction = 0;
    if (e.imagesPerSecond > 0)
        m_imagesPerSecond = e.imagesPerSecond;
    updateProgressText();
}

void TrainView::onStageFinished(const StageFinished &e)
{
    m_depth->setStage(e);
    m_stagesDone = std::max(m_stagesDone, e.stage + 1);
    if (m_runMode == TrainMode::Greedy) {
        m_arch->setProgress(-1, m_stagesDone);
        appendLog(LogLevel::Info, tr("stage %1 done: test %2%, ensemble %3%, %4")
                                      .arg(e.stage + 1)
                                      .arg(e.testAcc * 100, 0, 'f', 2)
                                      .arg(e.ensembleAcc * 100, 0, 'f', 2)
                                      .arg(durationText(e.seconds)));
    }
}

void TrainView::onProbe(const ProbeResult &e)
{
    m_depth->setProbe(e);
    appendLog(LogLevel::Info, tr("probe of layer %1 (after stage %2): train %3%, test %4%")
                                  .arg(e.layer + 1)
                                  .arg(e.afterStage + 1)
                                  .arg(e.trainAcc * 100, 0, 'f', 2)
                                  .arg(e.testAcc * 100, 0, 'f', 2));
}

void TrainView::onRunEnded(const RunEnded &e)
{
    m_endedReported = true;
    m_timeline->flush();
    if (e.status == RunStatus::Finished) {
        m_arch->setProgress(-1, m_runStages);
        m_epochBar->setValue(m_epochBar->maximum());
        m_runBar->setValue(m_runBar->maximum());
        appendLog(LogLevel::Info, tr("finished in %1: final test accuracy %2%")
                                      .arg(durationText(e.seconds))
                                      .arg(e.finalTestAcc * 100, 0, 'f', 2));
    } else if (e.status == RunStatus::Cancelled) {
        appendLog(LogLevel::Warning, tr("stopped: %1").arg(q(e.message)));
    }
    // Failures were logged in red by the engine itself.
}

void TrainView::onFinished(qint64 runId, RunStatus status, const QString &message)
{
    m_timeline->flush();
    QString what;
    switch (status) {
    case RunStatus::Finished: what = tr("finished"); break;
    case RunStatus::Cancelled: what = tr("stopped (resumable)"); break;
    case RunStatus::Failed: what = tr("failed"); break;
    default: what = q(toString(status)); break;
    }
    if (status == RunStatus::Failed && !m_endedReported && !message.isEmpty()
        && !m_log->toPlainText().contains(message))
        appendLog(LogLevel::Error, message);
    m_runLabel->setText(tr("%1 \u2014 %2").arg(m_runTitle, what));
    m_progressLabel->setText(status == RunStatus::Failed ? message : QString());
    revalidate();
    emit runningChanged(false);
    emit statusMessage(tr("Run %1 %2").arg(runId).arg(what));
    emit runFinished(runId, status, message);
}

void TrainView::updateProgressText()
{
    if (!isRunning())
        return;
    const double epochsDone = double(m_lastStep) + m_epochFraction;
    const double runFrac = m_plannedEpochs > 0 ? std::min(1.0, epochsDone / m_plannedEpochs) : 0;
    m_epochBar->setValue(static_cast<int>(m_epochFraction * 1000));
    m_runBar->setValue(static_cast<int>(runFrac * 1000));
    QString eta = QStringLiteral("\u2013");
    const double elapsed = m_runClock.isValid() ? m_runClock.elapsed() / 1000.0 : 0;
    const double doneNow = runFrac - m_doneAtStart;
    if (doneNow > 0.005 && elapsed > 1)
        eta = durationText(elapsed / doneNow * (1 - runFrac));
    QString where;
    if (m_runMode == TrainMode::Greedy && m_currentStage >= 0)
        where = tr("stage %1/%2 \u00b7 epoch %3/%4")
                    .arg(m_currentStage + 1)
                    .arg(m_runStages)
                    .arg(std::max(1, m_currentEpoch))
                    .arg(m_stageEpochs);
    else
        where = tr("epoch %1/%2").arg(std::max(1, m_currentEpoch)).arg(m_plannedEpochs);
    QString state;
    if (m_session->isStopping())
        state = tr(" \u00b7 stopping\u2026");
    else if (isPaused())
        state = tr(" \u00b7 paused");
    m_progressLabel->setText(tr("%1 \u00b7 %2 img/s \u00b7 elapsed %3 \u00b7 ETA %4%5")
                                 .arg(where, groupedText(std::llround(m_imagesPerSecond)),
                                      durationText(elapsed), eta, state));
}

void TrainView::appendLog(LogLevel level, const QString &text)
{
    const QString time = QTime::currentTime().toString(QStringLiteral("hh:mm:ss"));
    QString body = text.toHtmlEscaped();
    body.replace(QLatin1Char('\n'), QStringLiteral("<br>&nbsp;&nbsp;"));
    QString html;
    switch (level) {
    case LogLevel::Error:
        ++m_errors;
        html = QStringLiteral("<span style=\"color:#c62828;font-weight:bold\">%1 error: %2</span>")
                   .arg(time, body);
        break;
    case LogLevel::Warning:
        html
            = QStringLiteral("<span style=\"color:#b26a00\">%1 warning: %2</span>").arg(time, body);
        break;
    case LogLevel::Info: html = QStringLiteral("<span>%1 %2</span>").arg(time, body); break;
    }
    m_log->appendHtml(html);
}

void TrainView::exportTo(const QString &title, const QString &filter,
                         const std::function<bool(const QString &, QString *)> &write)
{
    const QString path
        = QFileDialog::getSaveFileName(this, title, lastFolder(QStringLiteral("export")), filter);
    if (path.isEmpty())
        return;
    setLastFolder(QStringLiteral("export"), QFileInfo(path).absolutePath());
    QString error;
    if (!write(path, &error))
        QMessageBox::warning(this, tr("Export"), error);
}

void TrainView::exportPlot()
{
    exportTo(tr("Export Stage Timeline"), plotExportFilter(),
             [this](const QString &path, QString *error) {
                 return lw::exportPlot(m_timeline, path, error);
             });
}

void TrainView::exportCsv()
{
    exportTo(tr("Export Plot Data"), tr("CSV (*.csv)"),
             [this](const QString &path, QString *error) {
                 return writeTextFile(path, m_timeline->toCsv(), error);
             });
}

} // namespace lw
