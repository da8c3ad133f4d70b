#include "ui/train/trainsession.h"

#include "core/run/distsession.h"
#include "core/store/runstore.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QThread>

#include <algorithm>

namespace lw {

namespace {

QString q(const std::string &s)
{
    return QString::fromStdString(s);
}

void registerMetaTypes()
{
    static const bool once = [] {
        qRegisterMetaType<lw::RunStarted>();
        qRegisterMetaType<lw::StageStarted>();
        qRegisterMetaType<lw::BatchProgress>();
        qRegisterMetaType<lw::EpochMetrics>();
        qRegisterMetaType<lw::StageFinished>();
        qRegisterMetaType<lw::ProbeResult>();
        qRegisterMetaType<lw::StagePictures>();
        qRegisterMetaType<lw::CheckpointSaved>();
        qRegisterMetaType<lw::RunEnded>();
        qRegisterMetaType<lw::LogLevel>();
        qRegisterMetaType<lw::RunStatus>();
        return true;
    }();
    (void)once;
}

/// Executes `job` on this (worker) thread. Over several processes this process is rank 0: it
/// starts the workers, meets them, trains and waits for them; `workers` gets how the ones that
/// failed ended.
Result<RunSummary> executeJob(RunJob &job, const DistLaunch &dist, const std::string &device,
                              std::string &workers)
{
    if (dist.nproc <= 1)
        return job.execute();
    auto session = DistSession::begin(dist, device);
    if (!session) {
        const std::string why = "the " + std::to_string(dist.nproc)
                                + " processes of the run did not start: " + session.message();
        job.abandon(why);
        return fail(why);
    }
    job.setDist((*session)->group());
    Result<RunSummary> result = job.execute(); // lets go of the group: the workers see the end
    workers = (*session)->finish(result && result->status == RunStatus::Finished);
    return result;
}

} // namespace

/// The jobs' Qt observer: called on the worker thread, it emits the session's signals there;
/// Qt queues them to receivers living on the GUI thread. The store's recorder is the job's own.
class TrainSession::Events final : public TrainObserver
{
public:
    explicit Events(TrainSession *session)
        : m(session)
    {}

    void runStarted(const RunStarted &e) override { emit m->runStarted(e); }
    void stageStarted(const StageStarted &e) override { emit m->stageStarted(e); }
    void batchProgress(const BatchProgress &e) override { emit m->batchProgress(e); }
    void epochFinished(const EpochMetrics &e) override { emit m->epochFinished(e); }
    void stageFinished(const StageFinished &e) override { emit m->stageFinished(e); }
    void probeFinished(const ProbeResult &e) override { emit m->probeFinished(e); }
    void picturesReady(const StagePictures &e) override { emit m->picturesReady(e); }
    void checkpointSaved(const CheckpointSaved &e) override { emit m->checkpointSaved(e); }
    void runEnded(const RunEnded &e) override { emit m->runEnded(e); }
    void log(LogLevel level, const std::string &text) override
    {
        emit m->logMessage(level, q(text));
    }

private:
    TrainSession *m;
};

TrainSession::TrainSession(RunStore *store, QObject *parent)
    : QObject(parent)
    , m_store(store)
    , m_events(std::make_unique<Events>(this))
    , m_workerProgram(findWorkerProgram())
{
    registerMetaTypes();
}

QString TrainSession::findWorkerProgram()
{
    const QDir here(QCoreApplication::applicationDirPath());
    for (const QString &path : {here.filePath(QStringLiteral("layerwise-cli")),
                                here.filePath(QStringLiteral("../cli/layerwise-cli"))}) {
        const QFileInfo f(path);
        if (f.isFile() && f.isExecutable())
            return f.canonicalFilePath();
    }
    return {};
}

TrainSession::~TrainSession()
{
    stopAndWait();
}

bool TrainSession::ready(int processes)
{
    m_error.clear();
    if (isBusy()) {
        m_error = isProbing()
                      ? tr("Run %1 is being probed; wait for the probes to end.").arg(m_runId)
                      : tr("A run is already training; stop it first.");
        return false;
    }
    if (!m_store) {
        m_error = tr("No run store is open, so the run could not be recorded.");
        return false;
    }
    if (processes > 1 && m_workerProgram.isEmpty()) {
        m_error
            = tr("A run over %1 processes starts processes 2..%1 as layerwise-cli, which is "
                 "not beside this program (looked in %2 and %3): install layerwise-cli with "
                 "the GUI, or train with 1 process.")
                  .arg(processes)
                  .arg(QDir::toNativeSeparators(QCoreApplication::applicationDirPath()),
                       QDir::toNativeSeparators(QDir::cleanPath(
                           QCoreApplication::applicationDirPath() + QStringLiteral("/../cli"))));
        return false;
    }
    return true;
}

bool TrainSession::start(const NewRunRequest &request, int processes)
{
    if (!ready(processes))
        return false;
    if (!launch(RunService(*m_store).create(request), request.exec, processes))
        return false;
    emit runCreated(m_runId, false);
    return true;
}

bool TrainSession::resumeRun(std::int64_t runId, const ExecOptions &exec, int processes)
{
    if (!ready(processes))
        return false;
    if (!launch(RunService(*m_store).resume(runId, exec), exec, processes))
        return false;
    emit runCreated(m_runId, true);
    return true;
}

bool TrainSession::probeRun(std::int64_t runId, const ExecOptions &exec)
{
    if (!ready())
        return false;
    return launch(RunService(*m_store).probe(runId, exec), exec);
}

bool TrainSession::launch(Result<std::unique_ptr<RunJob>> prepared, const ExecOptions &exec,
                          int processes)
{
    if (!prepared) {
        m_error = q(prepared.message());
        return false;
    }
    m_job = std::shared_ptr<RunJob>(std::move(*prepared));
    m_job->addObserver(m_events.get());
    m_kind = m_job->kind();
    m_runId = m_job->runId();
    m_runName = q(m_job->name());
    m_spec = m_job->spec();
    m_mode = m_job->mode();
    m_parentRun = m_job->parentRun();
    m_lockedStages = m_job->lockedStages();
    m_probes = m_job->probes();
    m_paused = false;
    m_stopping = false;
    m_processes = std::max(1, processes);
    m_lastStatus = static_cast<int>(RunStatus::Running);
    m_lastMessage.clear();

    // Ranks 1..N-1 run `layerwise-cli worker` on the same device and threads; what they train
    // (spec, data, cache) comes from rank 0 through the rendezvous.
    DistLaunch dist;
    dist.nproc = m_processes;
    dist.fromEnvironment = false;
    dist.workerArgv = {m_workerProgram.toStdString(), "worker", "--device", exec.device};
    if (exec.threads > 0)
        dist.workerArgv.insert(dist.workerArgv.end(), {"--threads", std::to_string(exec.threads)});

    std::shared_ptr<RunJob> job = m_job;
    m_thread = QThread::create([this, job, dist, device = exec.device] {
        int status = static_cast<int>(RunStatus::Failed);
        QString message;
        std::string workers;
        Result<RunSummary> result = executeJob(*job, dist, device, workers);
        if (result) {
            status = static_cast<int>(result->status);
            message = q(result->message);
        } else {
            // Set-up failures (unreadable data, bad device, a missing checkpoint, ranks that did
            // not meet) end before any event: the message is the whole story.
            message = q(result.message());
            emit logMessage(LogLevel::Error, message);
        }
        if (!workers.empty())
            emit logMessage(status == static_cast<int>(RunStatus::Finished) ? LogLevel::Warning
                                                                            : LogLevel::Info,
                            tr("worker processes: %1").arg(q(workers)));
        const QString warning = q(job->storeError());
        QMetaObject::invokeMethod(
            this, [this, status, message, warning] { onJobDone(status, message, warning); },
            Qt::QueuedConnection);
    });
    m_thread->setParent(this);
    m_thread->setObjectName(QStringLiteral("layerwise-train"));
    connect(m_thread, &QThread::finished, this, &TrainSession::onThreadFinished);
    m_thread->start();
    return true;
}

void TrainSession::pause()
{
    if (!m_job || !canPause() || m_paused)
        return;
    m_job->pause();
    m_paused = true;
    emit pausedChanged(true);
}

void TrainSession::resumeTraining()
{
    if (!m_job || !m_paused)
        return;
    m_job->resumeTraining();
    m_paused = false;
    emit pausedChanged(false);
}

void TrainSession::stop()
{
    if (!m_job || !isBusy())
        return;
    m_stopping = true;
    m_job->cancel(); // also wakes a paused run
    if (m_thread)
        m_thread->requestInterruption();
}

void TrainSession::stopAndWait()
{
    if (!m_thread)
        return;
    stop();
    m_thread->wait();
    // The queued `done` and `finished` may not have been delivered: wrap up here.
    if (m_thread)
        onThreadFinished();
}

void TrainSession::onJobDone(int status, const QString &message, const QString &storeWarning)
{
    m_lastStatus = status;
    m_lastMessage = message;
    if (!storeWarning.isEmpty())
        emit logMessage(LogLevel::Warning,
                        tr("The run store missed some writes: %1").arg(storeWarning));
}

void TrainSession::onThreadFinished()
{
    if (!m_thread)
        return;
    m_thread->deleteLater();
    m_thread = nullptr;
    m_job.reset();
    const bool wasPaused = m_paused;
    m_paused = false;
    m_stopping = false;
    if (wasPaused)
        emit pausedChanged(false);
    if (m_lastStatus == static_cast<int>(RunStatus::Running)) {
        m_lastStatus = static_cast<int>(RunStatus::Cancelled);
        m_lastMessage = tr("stopped");
    }
    emit finished(m_runId, static_cast<RunStatus>(m_lastStatus), m_lastMessage);
}

} // namespace lw
