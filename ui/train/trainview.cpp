#include "ui/train/trainview.h"

#include "core/run/runservice.h"
#include "core/store/runstore.h"
#include "ui/common/format.h"
#include "ui/inspect/picturespanel.h"
#include "ui/train/archdiagram.h"
#include "ui/train/lastfolders.h"
#include "ui/train/plots.h"
#include "ui/train/processesfield.h"
#include "ui/train/trainsession.h"

#include <QAction>
#include <QComboBox>
#include <QDateTime>
#include <QInputDialog>
#include <QMessageBox>
#include <QSplitter>
#include <QTabWidget>
#include <QVBoxLayout>

#include <limits>

namespace lw {

namespace {

QString q(const std::string &s)
{
    return QString::fromStdString(s);
}

} // namespace

TrainView::TrainView(RunStore *store, QWidget *parent)
    : QWidget(parent)
    , m_store(store)
{
    setObjectName(QStringLiteral("trainView"));
    m_session = new TrainSession(store, this);
    m_folders = new LastFolders(this);
    connect(m_folders, &LastFolders::changed, this, &TrainView::lastFolderChanged);
    createActions();

    m_setup = new TrainSetup(store, m_folders, m_actions);
    m_dashboard = new TrainDashboard(m_session, m_folders, m_exportPlotAction, m_exportCsvAction);
    m_splitter = new QSplitter(Qt::Horizontal, this);
    m_splitter->setObjectName(QStringLiteral("trainSplitter"));
    m_splitter->addWidget(m_setup);
    m_pictures = new PicturesPanel(store);
    m_pictures->followSession(m_session);
    auto *tabs = new QTabWidget;
    // Alt+T and Alt+P switch between them from the keyboard.
    tabs->addTab(m_dashboard, tr("&Training"));
    tabs->addTab(m_pictures, tr("&Pictures"));
    m_splitter->addWidget(tabs);
    m_splitter->setStretchFactor(0, 0);
    m_splitter->setStretchFactor(1, 1);
    m_splitter->setSizes({390, 1050});
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_splitter);

    connect(m_setup, &TrainSetup::changed, this, &TrainView::updateActions);
    connect(m_setup, &TrainSetup::specChanged, this, &TrainView::onSpecChanged);
    connect(m_setup, &TrainSetup::logMessage, m_dashboard, &TrainDashboard::appendLog);
    connect(m_setup, &TrainSetup::statusMessage, this, &TrainView::statusMessage);

    TrainDashboard *d = m_dashboard;
    connect(m_session, &TrainSession::runCreated, this, &TrainView::onRunCreated);
    connect(m_session, &TrainSession::runStarted, this, &TrainView::onRunStarted);
    connect(m_session, &TrainSession::stageStarted, d, &TrainDashboard::stageStarted);
    connect(m_session, &TrainSession::batchProgress, d, &TrainDashboard::batchProgress);
    connect(m_session, &TrainSession::epochFinished, d, &TrainDashboard::epochFinished);
    connect(m_session, &TrainSession::stageFinished, d, &TrainDashboard::stageFinished);
    connect(m_session, &TrainSession::probeFinished, d, &TrainDashboard::probeFinished);
    connect(m_session, &TrainSession::runEnded, d, &TrainDashboard::runEnded);
    connect(m_session, &TrainSession::logMessage, d, &TrainDashboard::appendLog);
    connect(m_session, &TrainSession::finished, this, &TrainView::onFinished);
    connect(m_session, &TrainSession::pausedChanged, this, [this](bool paused) {
        m_dashboard->appendLog(LogLevel::Info, paused ? tr("paused (the batch in progress "
                                                           "finishes first)")
                                                      : tr("resumed"));
        m_dashboard->setPaused(paused);
        updateActions();
        m_dashboard->updateProgressText();
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
}

void TrainView::setStore(RunStore *store, const QString &storeError)
{
    m_store = store;
    m_session->setStore(store);
    m_setup->setStore(store, storeError);
    m_pictures->setStore(store);
}

void TrainView::createActions()
{
    m_actions.start = new QAction(QIcon::fromTheme(QStringLiteral("media-playback-start")),
                                  tr("&Start Training"), this);
    m_actions.start->setObjectName(QStringLiteral("startAction"));
    // Ctrl+Return trains, as Train This does in the Design view; F5 is the Runs view's Refresh.
    m_actions.start->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return));
    m_actions.start->setToolTip(tr("Train with these settings (Ctrl+Return)"));
    connect(m_actions.start, &QAction::triggered, this, [this] { startTraining(); });

    m_actions.pause
        = new QAction(QIcon::fromTheme(QStringLiteral("media-playback-pause")), tr("&Pause"), this);
    m_actions.pause->setObjectName(QStringLiteral("pauseAction"));
    m_actions.pause->setShortcut(QKeySequence(Qt::Key_F6));
    m_actions.pause->setToolTip(tr("Pause or continue between batches (F6)"));
    connect(m_actions.pause, &QAction::triggered, this, &TrainView::togglePause);

    m_actions.stop
        = new QAction(QIcon::fromTheme(QStringLiteral("media-playback-stop")), tr("S&top"), this);
    m_actions.stop->setObjectName(QStringLiteral("stopAction"));
    m_actions.stop->setShortcut(QKeySequence(Qt::SHIFT | Qt::Key_F5));
    m_actions.stop->setToolTip(
        tr("Stop after the current batch; the run can be resumed from its last checkpoint "
           "(Shift+F5)"));
    connect(m_actions.stop, &QAction::triggered, this, &TrainView::stopTraining);

    m_actions.resumeRun = new QAction(tr("&Resume a Stored Run\u2026"), this);
    m_actions.resumeRun->setObjectName(QStringLiteral("resumeRunAction"));
    m_actions.resumeRun->setToolTip(tr("Continue a stopped or interrupted run from the store"));
    connect(m_actions.resumeRun, &QAction::triggered, this, &TrainView::chooseRunToResume);

    m_actions.openSpec = new QAction(tr("Open Spec for Training\u2026"), this);
    m_actions.openSpec->setToolTip(tr("Train a spec file (JSON) with the settings below"));
    connect(m_actions.openSpec, &QAction::triggered, this, [this] { m_setup->browseSpec(); });

    m_exportPlotAction = new QAction(tr("Export &Plot\u2026"), this);
    m_exportPlotAction->setToolTip(tr("Save the stage timeline as PNG, SVG or PDF"));
    connect(m_exportPlotAction, &QAction::triggered, this, [this] { m_dashboard->exportPlot(); });

    m_exportCsvAction = new QAction(tr("Export Plot &Data (CSV)\u2026"), this);
    m_exportCsvAction->setToolTip(tr("Save the epochs behind the plots as CSV"));
    connect(m_exportCsvAction, &QAction::triggered, this, [this] { m_dashboard->exportCsv(); });
}

// ---- setup --------------------------------------------------------------------------------------

bool TrainView::loadPreset(const QString &name)
{
    const bool ok = m_setup->loadPreset(name);
    m_error = m_setup->errorString();
    return ok;
}

bool TrainView::openSpecFile(const QString &path)
{
    const bool ok = m_setup->openSpecFile(path);
    m_error = m_setup->errorString();
    return ok;
}

bool TrainView::setBranch(std::int64_t parentRun, int lockedStages)
{
    const bool ok = m_setup->setBranch(parentRun, lockedStages);
    m_error = m_setup->errorString();
    return ok;
}

void TrainView::onSpecChanged(const Spec &spec)
{
    m_dashboard->archDiagram()->setSpec(spec);
    if (!m_session->isBusy()) {
        m_dashboard->setRunTitle({});
        emit titleChanged(title());
    }
}

bool TrainView::canStart() const
{
    return m_setup->startProblem().isEmpty() && !m_session->isBusy();
}

void TrainView::updateActions()
{
    const bool running = isRunning();
    const bool busy = m_session->isBusy();
    const bool stopping = running && m_session->isStopping();
    m_actions.start->setEnabled(!busy && m_setup->startProblem().isEmpty());
    m_actions.pause->setEnabled(running && !stopping && m_session->canPause());
    m_actions.pause->setToolTip(running && !m_session->canPause()
                                    ? tr("A run over %1 processes cannot pause (the other "
                                         "processes would time out waiting): stop it and "
                                         "resume it later")
                                          .arg(m_session->processes())
                                    : tr("Pause or continue between batches (F6)"));
    m_actions.pause->setText(isPaused() ? tr("&Continue") : tr("&Pause"));
    m_actions.pause->setIcon(QIcon::fromTheme(isPaused() ? QStringLiteral("media-playback-start")
                                                         : QStringLiteral("media-playback-pause")));
    m_actions.stop->setEnabled(running && !stopping);
    m_actions.resumeRun->setEnabled(!busy && m_store);
    m_actions.openSpec->setEnabled(!running);
    m_setup->setRunning(running);
}

bool TrainView::isRunning() const
{
    return m_session->isRunning();
}

bool TrainView::isProbing() const
{
    return m_session->isProbing();
}

bool TrainView::isPaused() const
{
    return m_session->isPaused();
}

QString TrainView::title() const
{
    const QString run = m_dashboard->runTitle();
    return run.isEmpty() ? m_setup->specName() : run;
}

QString TrainView::lastFolder(const QString &kind) const
{
    return m_folders->folder(kind);
}

void TrainView::setLastFolder(const QString &kind, const QString &folder)
{
    m_folders->setFolder(kind, folder);
}

// ---- running ------------------------------------------------------------------------------------

bool TrainView::startTraining()
{
    m_error.clear();
    if (isRunning()) {
        m_error = tr("A run is already training.");
        return false;
    }
    m_setup->revalidate();
    if (!m_setup->startProblem().isEmpty()) {
        m_error = m_setup->startProblem();
        emit statusMessage(m_error);
        return false;
    }
    if (!m_session->start(m_setup->newRunRequest(), m_setup->processesSpin()->value())) {
        m_error = m_session->errorString();
        m_dashboard->appendLog(LogLevel::Error, m_error);
        updateActions();
        return false;
    }
    return true;
}

bool TrainView::resumeStoredRun(std::int64_t runId)
{
    m_error.clear();
    const ExecOptions exec = m_setup->execOptions();
    const int processes = m_setup->processesSpin()->value();
    // The pipeline must fit the stored run (its mode and stages): say so before any process
    // starts or the run is claimed.
    if (exec.placement == Placement::Pipeline && m_store) {
        auto d = m_store->getRun(runId);
        auto spec = d ? parseSpec(d->specJson) : Result<Spec>(d.error());
        const QString problem = !spec ? q(spec.message())
                                      : placementProblem(*spec, d->run.mode, exec.placement,
                                                         processes, exec.replayBuffer);
        if (!problem.isEmpty()) {
            m_error = tr("Run %1 cannot resume with the pipeline placement: %2.")
                          .arg(runId)
                          .arg(problem);
            m_dashboard->appendLog(LogLevel::Error, m_error);
            return false;
        }
    }
    if (!m_session->resumeRun(runId, exec, processes)) {
        m_error = m_session->errorString();
        m_dashboard->appendLog(LogLevel::Error, m_error);
        updateActions();
        return false;
    }
    showStoredSettings(runId);
    return true;
}

void TrainView::showStoredSettings(std::int64_t runId)
{
    QString specName = m_session->runName();
    if (m_store)
        if (auto d = m_store->getRun(runId))
            specName = q(d->run.specName);
    m_setup->showRunSettings(runId, m_session->runName(), specName, m_session->spec(),
                             m_session->mode(), m_session->probes(), m_session->parentRun(),
                             m_session->lockedStages());
    updateActions();
}

bool TrainView::probeStoredRun(std::int64_t runId)
{
    m_error.clear();
    if (!m_session->probeRun(runId, m_setup->execOptions())) {
        m_error = m_session->errorString();
        return false;
    }
    // The job is queued on its thread: its events arrive once the dashboard is ready.
    m_dashboard->prepare(m_session->spec(), m_session->mode(), m_session->lockedStages());
    loadHistory(runId, std::numeric_limits<int>::max(), std::numeric_limits<int>::max());
    m_dashboard->timeline()->flush();
    m_dashboard->setRunTitle(tr("run %1: %2").arg(runId).arg(m_session->runName()));
    m_dashboard->showState(tr("probing every layer"));
    m_dashboard->appendLog(LogLevel::Info, tr("probing every layer of run %1 (linear softmax on "
                                              "2x2-pooled features)")
                                               .arg(runId));
    showStoredSettings(runId);
    updateActions();
    emit titleChanged(title());
    return true;
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
    m_dashboard->showState(tr("stopping after the current batch\u2026"));
    m_dashboard->appendLog(LogLevel::Info,
                           tr("stopping after the current batch; the run stays resumable from "
                              "its last checkpoint"));
    updateActions();
    m_dashboard->updateProgressText();
}

void TrainView::loadHistory(std::int64_t runId, int resumeStage, int resumeEpoch)
{
    if (!m_store)
        return;
    auto history = m_store->history(runId);
    if (!history) {
        m_dashboard->appendLog(
            LogLevel::Warning,
            tr("the curves of run %1 cannot be shown: %2").arg(runId).arg(q(history.message())));
        return;
    }
    m_dashboard->showHistory(runId, *history, resumeStage, resumeEpoch);
}

QStringList TrainView::resumeChoices(const std::vector<RunRow> &runs,
                                     QList<std::int64_t> *ids) const
{
    QStringList items;
    if (!m_store)
        return items;
    const RunService service(*m_store);
    for (const RunRow &r : runs) {
        if (r.status == RunStatus::Running || !service.resumeProblem(r.id).empty())
            continue;
        items << tr("#%1  %2  \u2014 %3, %4/%5 stages, %6")
                     .arg(r.id)
                     .arg(q(r.name), statusText(r.status, r.paused))
                     .arg(r.stagesDone)
                     .arg(r.stages)
                     .arg(QDateTime::fromSecsSinceEpoch(static_cast<qint64>(r.started))
                              .toString(QStringLiteral("yyyy-MM-dd hh:mm")));
        if (ids)
            *ids << r.id;
    }
    return items;
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
    QList<std::int64_t> ids;
    const QStringList items = resumeChoices(*runs, &ids);
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
    m_dashboard->prepare(m_session->spec(), m_session->mode(), m_session->lockedStages());
    m_dashboard->setRunTitle(tr("run %1: %2").arg(runId).arg(m_session->runName()));
    m_dashboard->showState(
        tr("%1 %2").arg(resumed ? tr("resuming") : tr("starting"), modeText(m_session->mode())));
    if (!resumed)
        m_dashboard->clearLog();
    m_dashboard->appendLog(
        LogLevel::Info, resumed
                            ? tr("resuming run %1 (%2)").arg(runId).arg(q(m_store->runDir(runId)))
                            : tr("run %1 recorded in %2").arg(runId).arg(q(m_store->path())));
    const std::int64_t parent = m_session->parentRun();
    if (parent >= 0) {
        const int k = m_session->lockedStages();
        m_dashboard->appendLog(LogLevel::Info, tr("branch of run %1 from stage %2: stages 1–%3 "
                                                  "are run %1's, frozen (%4)")
                                                   .arg(parent)
                                                   .arg(k + 1)
                                                   .arg(k)
                                                   .arg(q(m_store->runDir(parent))));
        if (!resumed) {
            if (auto history = m_store->history(runId))
                m_dashboard->showLockedStages(history->stages, k);
        }
    }
    m_dashboard->startClock();
    updateActions();
    emit runningChanged(true);
    emit titleChanged(title());
    emit runRecorded(runId);
}

void TrainView::onRunStarted(const RunStarted &e)
{
    if (e.resumed)
        loadHistory(m_session->runId(), e.resumeStage, e.resumeEpoch);
    m_dashboard->runStarted(e);
}

void TrainView::onFinished(qint64 runId, RunStatus status, const QString &message)
{
    if (m_session->kind() == JobKind::Probe) {
        onProbesFinished(runId, status, message);
        return;
    }
    QString what;
    switch (status) {
    case RunStatus::Finished: what = tr("finished"); break;
    case RunStatus::Cancelled: what = tr("stopped (resumable)"); break;
    case RunStatus::Failed: what = tr("failed"); break;
    default: what = statusText(status); break;
    }
    m_dashboard->runFinished(status, what, message);
    m_setup->revalidate();
    emit runningChanged(false);
    emit statusMessage(tr("Run %1 %2").arg(runId).arg(what));
    emit runFinished(runId, status, message);
}

void TrainView::onProbesFinished(qint64 runId, RunStatus status, const QString &message)
{
    // A failure was logged in red by the session, in the service's words.
    const QString error = status == RunStatus::Finished
                              ? QString()
                              : (message.isEmpty() ? tr("the probes were stopped") : message);
    if (error.isEmpty())
        m_dashboard->appendLog(LogLevel::Info, tr("probes of run %1 done and stored").arg(runId));
    m_dashboard->showState(error.isEmpty() ? tr("probed") : tr("probe failed"));
    m_setup->revalidate();
    emit probesFinished(runId, error);
}

} // namespace lw
