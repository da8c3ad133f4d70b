#include "ui/mainwindow.h"

#include "core/runtime/runtime.h"
#include "core/store/runstore.h"
#include "ui/designer/designview.h"
#include "ui/runs/runsview.h"
#include "ui/train/trainsession.h"
#include "ui/train/trainview.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QFileInfo>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QSettings>
#include <QSpinBox>
#include <QSplitter>
#include <QStackedWidget>
#include <QStatusBar>
#include <QTimer>
#include <QToolBar>

#include <algorithm>

namespace lw {

namespace {

QString q(const std::string &s)
{
    return QString::fromStdString(s);
}

} // namespace

MainWindow::MainWindow(const MainWindowOptions &options, QWidget *parent)
    : QMainWindow(parent)
{
    setObjectName(QStringLiteral("mainWindow"));
    openStore(options.db);

    m_stack = new QStackedWidget(this);
    m_design = new DesignView(m_stack);
    m_train = new TrainView(m_store.get(), m_stack);
    if (!m_store)
        m_train->setStore(nullptr, m_storeError);
    m_runs = new RunsView(m_stack);
    m_runs->setStore(m_store);
    m_stack->addWidget(m_design);
    m_stack->addWidget(m_train);
    m_stack->addWidget(m_runs);
    setCentralWidget(m_stack);

    createActions();
    createMenus();

    auto *storeLabel = new QLabel(this);
    storeLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    storeLabel->setText(m_store ? tr("Run store: %1").arg(m_storePath)
                                : tr("<span style=\"color:#c62828\">Run store: %1</span>")
                                      .arg(m_storeError.toHtmlEscaped()));
    m_stateLabel = new QLabel(tr("Ready"), this);
    statusBar()->addWidget(m_stateLabel, 1);
    statusBar()->addPermanentWidget(storeLabel);

    connect(m_design, &DesignView::trainRequested, this, &MainWindow::onTrainRequested);
    connect(m_design, &DesignView::documentTitleChanged, this, &MainWindow::updateTitle);
    connect(m_design, &DesignView::modifiedChanged, this, &MainWindow::updateTitle);
    connect(m_train, &TrainView::titleChanged, this, &MainWindow::updateTitle);
    connect(m_train, &TrainView::statusMessage, this,
            [this](const QString &text) { statusBar()->showMessage(text, 8000); });
    connect(m_train, &TrainView::runningChanged, this, [this](bool running) {
        m_stateLabel->setText(running ? tr("Training %1").arg(m_train->title()) : tr("Ready"));
    });
    connect(m_train, &TrainView::runRecorded, m_runs, &RunsView::refreshNow);
    connect(m_train, &TrainView::runFinished, this, [this] {
        m_runs->refreshNow();
        if (m_closeWhenStopped)
            close();
    });
    connect(m_train, &TrainView::lastFolderChanged, this,
            [](const QString &kind, const QString &folder) {
                QSettings().setValue(QStringLiteral("folders/") + kind, folder);
            });
    connect(m_runs, &RunsView::resumeRequested, this, [this](qint64 id) {
        showPlace(Place::Train);
        if (!m_train->resumeStoredRun(id))
            QMessageBox::warning(this, tr("Resume Run"), m_train->errorString());
    });
    connect(m_runs, &RunsView::probeRequested, this, [this](qint64 id) {
        showPlace(Place::Train);
        if (!m_train->probeStoredRun(id))
            QMessageBox::warning(this, tr("Probe Run"), m_train->errorString());
    });
    connect(m_train, &TrainView::probesFinished, m_runs, &RunsView::refreshNow);
    // Start (toolbar) trains the Train view's settings: show them.
    connect(m_train->startAction(), &QAction::triggered, this, [this] { showPlace(Place::Train); });
    connect(m_runs, &RunsView::openSpecRequested, this, [this](const Spec &spec) {
        if (!m_design->maybeSave())
            return;
        m_design->setSpec(spec, q(spec.name));
        showPlace(Place::Design);
    });
    connect(m_runs, &RunsView::branchRequested, this,
            [this](qint64 id, int stage, const Spec &spec) {
                if (!m_design->maybeSave())
                    return;
                m_design->setSpec(spec, tr("branch of run %1").arg(id));
                m_design->setLockedStages(stage);
                m_branchParent = id;
                m_branchStage = stage;
                m_branchSpec = spec;
                showPlace(Place::Design);
                statusBar()->showMessage(
                    tr("Stages 1\u2013%1 come from run %2 and are locked; design the rest.")
                        .arg(stage)
                        .arg(id),
                    10000);
            });
    connect(m_runs, &RunsView::storeError, this,
            [this](const QString &message) { statusBar()->showMessage(message, 10000); });

    restoreSettings();
    applyOptions(options);
    updateTitle();
}

MainWindow::~MainWindow()
{
    // The views' children (the Design view's undo stack) signal while they are destroyed, after
    // the stacked widget is gone: stop listening first.
    for (QObject *view : {static_cast<QObject *>(m_design), static_cast<QObject *>(m_train),
                          static_cast<QObject *>(m_runs)})
        if (view)
            view->disconnect(this);
}

void MainWindow::openStore(const QString &db)
{
    m_storePath = q(RunStore::resolvePath(db.toStdString()));
    auto store = RunStore::open(m_storePath.toStdString());
    if (!store) {
        m_storeError = q(store.message());
        return;
    }
    m_store = std::shared_ptr<RunStore>(std::move(*store));
}

void MainWindow::createActions()
{
    auto *places = new QActionGroup(this);
    places->setExclusive(true);
    auto place = [&](const QString &text, const QString &name, const QString &key, Place p) {
        auto *a = new QAction(text, this);
        a->setObjectName(name);
        a->setCheckable(true);
        a->setShortcut(QKeySequence(key));
        a->setToolTip(QStringLiteral("%1 (%2)").arg(QString(text).remove(QLatin1Char('&')), key));
        places->addAction(a);
        connect(a, &QAction::triggered, this, [this, p] { showPlace(p); });
        return a;
    };
    // In Place order: placeAction() indexes the list.
    m_placeActions = {
        place(tr("&Design"), QStringLiteral("designPlace"), QStringLiteral("Ctrl+1"),
              Place::Design),
        place(tr("&Train"), QStringLiteral("trainPlace"), QStringLiteral("Ctrl+2"), Place::Train),
        place(tr("&Runs"), QStringLiteral("runsPlace"), QStringLiteral("Ctrl+3"), Place::Runs)};
}

void MainWindow::createMenus()
{
    QMenu *file = menuBar()->addMenu(tr("&File"));
    file->addAction(m_design->newAction());
    file->addAction(m_design->openAction());
    file->addMenu(m_design->presetsMenu());
    file->addAction(m_design->saveAction());
    file->addAction(m_design->saveAsAction());
    file->addSeparator();
    file->addAction(m_train->openSpecAction());
    file->addAction(m_train->exportPlotAction());
    file->addAction(m_train->exportCsvAction());
    file->addSeparator();
    QAction *quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setObjectName(QStringLiteral("quitAction"));
    quit->setShortcut(QKeySequence::Quit);
    quit->setMenuRole(QAction::QuitRole);
    // Opening a spec shows it where it opens.
    connect(m_design->openAction(), &QAction::triggered, this,
            [this] { showPlace(Place::Design); });
    connect(m_design->newAction(), &QAction::triggered, this, [this] { showPlace(Place::Design); });

    // The Edit menu edits the design: its actions work while the Design view shows and are
    // disabled elsewhere (a group keeps them disabled whatever the view enables meanwhile).
    m_designEdits = new QActionGroup(this);
    m_designEdits->setExclusionPolicy(QActionGroup::ExclusionPolicy::None);
    for (QAction *a : {m_design->undoAction(), m_design->redoAction(), m_design->addStageAction(),
                       m_design->duplicateAction(), m_design->deleteAction(),
                       m_design->moveUpAction(), m_design->moveDownAction()})
        m_designEdits->addAction(a);

    QMenu *edit = menuBar()->addMenu(tr("&Edit"));
    edit->addAction(m_design->undoAction());
    edit->addAction(m_design->redoAction());
    edit->addSeparator();
    edit->addAction(m_design->addStageAction());
    edit->addAction(m_design->duplicateAction());
    edit->addAction(m_design->deleteAction());
    edit->addAction(m_design->moveUpAction());
    edit->addAction(m_design->moveDownAction());

    QMenu *view = menuBar()->addMenu(tr("&View"));
    view->addActions(m_placeActions);

    QMenu *run = menuBar()->addMenu(tr("&Run"));
    run->addAction(m_design->trainAction());
    run->addSeparator();
    run->addAction(m_train->startAction());
    run->addAction(m_train->pauseAction());
    run->addAction(m_train->stopAction());
    run->addSeparator();
    run->addAction(m_train->resumeRunAction());

    QMenu *help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About Layerwise"), this, &MainWindow::about)
        ->setMenuRole(QAction::AboutRole);

    QToolBar *bar = addToolBar(tr("Main"));
    bar->setObjectName(QStringLiteral("mainToolBar"));
    bar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    bar->setMovable(false);
    bar->addActions(m_placeActions);
    bar->addSeparator();
    bar->addAction(m_train->startAction());
    bar->addAction(m_train->pauseAction());
    bar->addAction(m_train->stopAction());
}

void MainWindow::showPlace(Place p)
{
    QWidget *const views[] = {m_design, m_train, m_runs}; // in Place order
    m_stack->setCurrentWidget(views[static_cast<int>(p)]);
    placeAction(p)->setChecked(true);
    followPlace(p);
    if (p == Place::Runs)
        m_runs->refreshNow();
    updateTitle();
}

void MainWindow::followPlace(Place p)
{
    // Actions act on the view that shows: one key, one meaning, in each place.
    m_designEdits->setEnabled(p == Place::Design);
    const auto only = [](QAction *a, bool here, const QKeySequence &key) {
        a->setShortcut(here ? key : QKeySequence());
    };
    // Ctrl+O opens the dialog of the view showing (none in the Runs view).
    only(m_design->openAction(), p == Place::Design, QKeySequence::Open);
    only(m_train->openSpecAction(), p == Place::Train, QKeySequence::Open);
    // Ctrl+Return trains: the design (Train This) or the Train view's settings (Start).
    only(m_design->trainAction(), p == Place::Design, QKeySequence(Qt::CTRL | Qt::Key_Return));
    only(m_train->startAction(), p == Place::Train, QKeySequence(Qt::CTRL | Qt::Key_Return));
}

MainWindow::Place MainWindow::place() const
{
    if (m_stack->currentWidget() == m_design)
        return Place::Design;
    if (m_stack->currentWidget() == m_runs)
        return Place::Runs;
    return Place::Train;
}

QAction *MainWindow::placeAction(Place p) const
{
    return m_placeActions.value(static_cast<int>(p));
}

void MainWindow::updateTitle()
{
    QString doc;
    switch (place()) {
    case Place::Design:
        doc = m_design->documentTitle() + QStringLiteral("[*]");
        setWindowModified(m_design->isModified());
        break;
    case Place::Train:
        doc = m_train->title();
        setWindowModified(false);
        break;
    case Place::Runs:
        doc = m_train->isRunning() ? m_train->title() : tr("Runs");
        setWindowModified(false);
        break;
    }
    setWindowTitle(doc.isEmpty() ? tr("Layerwise") : tr("Layerwise \u2014 %1").arg(doc));
}

void MainWindow::onTrainRequested(const Spec &spec)
{
    if (m_train->isRunning()) {
        QMessageBox::information(this, tr("Train This"),
                                 tr("A run is training. Stop it before training another "
                                    "architecture."));
        showPlace(Place::Train);
        return;
    }
    QString name = m_design->documentTitle();
    if (name.isEmpty())
        name = tr("Untitled");
    // A branch when the Design view still shows the branch's document (opening or making
    // another one unlocks its stages) and its locked stages are still the parent's.
    bool branch = false;
    QString why;
    if (m_branchParent >= 0 && m_branchStage > 0 && m_design->lockedStages() == m_branchStage) {
        const Spec &parent = m_branchSpec;
        const auto k = static_cast<std::size_t>(m_branchStage);
        branch
            = parent.stages.size() >= k && spec.stages.size() > k && parent.input == spec.input
              && std::equal(parent.stages.begin(), parent.stages.begin() + k, spec.stages.begin());
        if (!branch)
            why = tr("The locked stages no longer match run %1 (or no stage is left to train): "
                     "this architecture trains from scratch.")
                      .arg(m_branchParent);
    }
    m_train->takeSpec(spec, name); // keeps the data and recipe choices made in the Train view
    if (branch && !m_train->setBranch(m_branchParent, m_branchStage)) {
        why = tr("Cannot branch from run %1: %2 It trains from scratch.")
                  .arg(m_branchParent)
                  .arg(m_train->errorString());
    }
    showPlace(Place::Train);
    if (!why.isEmpty())
        statusBar()->showMessage(why, 10000);
    else if (branch)
        statusBar()->showMessage(tr("Branch of run %1: stages 1–%2 are loaded from it and "
                                    "frozen; Start trains stages %3.. greedily.")
                                     .arg(m_branchParent)
                                     .arg(m_branchStage)
                                     .arg(m_branchStage + 1),
                                 10000);
}

void MainWindow::applyOptions(const MainWindowOptions &o)
{
    bool loaded = false;
    if (!o.spec.isEmpty()) {
        if (m_design->openFile(o.spec))
            loaded = m_train->openSpecFile(o.spec);
        if (!loaded)
            QTimer::singleShot(0, this, [this, path = o.spec] {
                QMessageBox::warning(
                    this, tr("Open Spec"),
                    tr("%1 cannot be opened:\n%2").arg(path, m_design->errorString()));
            });
    } else if (!o.preset.isEmpty()) {
        loaded = m_train->loadPreset(o.preset);
        if (loaded)
            m_design->loadPreset(o.preset);
        else
            QTimer::singleShot(0, this, [this, name = o.preset] {
                QMessageBox::warning(this, tr("Preset"), m_train->errorString());
            });
    }
    if (!loaded) {
        // First start: the CPU-sized Fashion-MNIST model, one click from training.
        if (m_train->loadPreset(QStringLiteral("fmnist-k1")))
            m_design->loadPreset(QStringLiteral("fmnist-k1"));
    }
    if (!o.dataset.isEmpty() || !o.data.isEmpty()) {
        const QString name
            = o.dataset.isEmpty() ? m_train->datasetCombo()->currentData().toString() : o.dataset;
        m_train->setDataset(name, o.data);
    }
    showPlace(Place::Train);
    if (o.start) {
        // Start once the data check (off the GUI thread) has passed, or say why not.
        m_startPending = true;
        auto *poll = new QTimer(this);
        poll->setInterval(50);
        connect(poll, &QTimer::timeout, this, [this, poll] {
            if (m_train->checkingData())
                return;
            poll->deleteLater();
            m_startPending = false;
            if (!m_train->startTraining())
                statusBar()->showMessage(m_train->errorString(), 15000);
        });
        poll->start();
    }
}

void MainWindow::restoreSettings()
{
    QSettings s;
    if (!restoreGeometry(s.value(QStringLiteral("window/geometry")).toByteArray()))
        resize(1440, 900);
    restoreState(s.value(QStringLiteral("window/state")).toByteArray());
    m_train->mainSplitter()->restoreState(s.value(QStringLiteral("train/splitter")).toByteArray());
    m_train->dashboardSplitter()->restoreState(
        s.value(QStringLiteral("train/dashboardSplitter")).toByteArray());
    m_runs->restoreState(s.value(QStringLiteral("runs/state")).toByteArray());
    for (const QString &kind :
         {QStringLiteral("spec"), QStringLiteral("data"), QStringLiteral("export")}) {
        const QString folder = s.value(QStringLiteral("folders/") + kind).toString();
        if (!folder.isEmpty())
            m_train->setLastFolder(kind, folder);
    }
}

void MainWindow::saveSettings() const
{
    QSettings s;
    s.setValue(QStringLiteral("window/geometry"), saveGeometry());
    s.setValue(QStringLiteral("window/state"), saveState());
    s.setValue(QStringLiteral("train/splitter"), m_train->mainSplitter()->saveState());
    s.setValue(QStringLiteral("train/dashboardSplitter"),
               m_train->dashboardSplitter()->saveState());
    s.setValue(QStringLiteral("runs/state"), m_runs->saveState());
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    if (m_train->isRunning()) {
        if (!m_closeWhenStopped) {
            const auto answer = QMessageBox::question(
                this, tr("Quit Layerwise"),
                tr("A run is training. Stop it and quit?\n\nIt stops after the current batch "
                   "and can be resumed later from its last checkpoint (Runs view or Run > "
                   "Resume a Stored Run)."),
                QMessageBox::Yes | QMessageBox::Cancel, QMessageBox::Cancel);
            if (answer != QMessageBox::Yes) {
                event->ignore();
                return;
            }
            m_closeWhenStopped = true;
            m_train->stopTraining();
            m_stateLabel->setText(tr("Stopping the run, then quitting\u2026"));
        }
        // Close once the worker has ended (TrainView::runFinished); the GUI stays live.
        event->ignore();
        return;
    }
    if (!m_design->maybeSave()) {
        m_closeWhenStopped = false;
        event->ignore();
        return;
    }
    saveSettings();
    event->accept();
}

void MainWindow::about()
{
    const RuntimeInfo rt = runtimeInfo();
    QString devices = rt.cudaDevices.empty() ? tr("none") : QString();
    for (const std::string &d : rt.cudaDevices)
        devices += QStringLiteral("<br>") + q(d).toHtmlEscaped();
    // What runs will use: the Train view's CPU threads (LibTorch is configured as a run starts).
    const int chosen = m_train->threadsSpin()->value();
    const QString threads = chosen > 0 ? tr("%1 of %2 cores").arg(chosen).arg(rt.cores)
                                       : tr("all %1 cores").arg(rt.cores);
    QMessageBox::about(
        this, tr("About Layerwise"),
        tr("<h3>Layerwise %1</h3>"
           "<p>A workbench for greedy layerwise training of CNNs (Belilovsky, Eickenberg and "
           "Oyallon, ICML 2019).</p>"
           "<p>LibTorch %2 &middot; Qt %3<br>CPU threads: %4 (the Train view's setting)<br>"
           "BLAS: %5<br>CPU bf16: %6<br>CUDA devices: %7</p><p>Run store: %8</p>")
            .arg(QApplication::applicationVersion(), q(rt.torchVersion), QString(qVersion()),
                 threads)
            .arg(q(rt.blasLibrary).toHtmlEscaped(),
                 rt.cpuBf16.empty() ? tr("none (keep precision fp32)")
                                    : tr("%1 (precision bf16 trains faster)").arg(q(rt.cpuBf16)),
                 devices, m_storePath.toHtmlEscaped()));
}

} // namespace lw
