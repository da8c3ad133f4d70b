#include "ui/train/trainsession.h"

#include "core/runtime/runtime.h"
#include "core/store/recorder.h"
#include "core/store/runstore.h"

#include <QFileInfo>
#include <QThread>

#include <exception>
#include <vector>

namespace lw {

namespace detail {

/// Lives on the training thread: owns the engine and the recorder of one run, forwards every
/// observer call to the recorder (the store) and as a signal (to the GUI, queued by Qt because
/// the receiver lives on another thread).
class TrainWorker : public QObject, public TrainObserver
{
    Q_OBJECT

public:
    TrainWorker(RunStore &store, std::int64_t runId, TrainOptions options, bool resume)
        : m_recorder(store, runId)
        , m_store(store)
        , m_runId(runId)
        , m_resume(resume)
        , m_trainer(std::make_shared<Trainer>(std::move(options), this))
    {}

    std::shared_ptr<Trainer> trainer() const { return m_trainer; }

    void process()
    {
        int status = static_cast<int>(RunStatus::Failed);
        QString message;
        try {
            Result<RunSummary> result = m_resume ? m_trainer->resume() : m_trainer->run();
            if (result) {
                status = static_cast<int>(result->status);
                message = QString::fromStdString(result->message);
            } else {
                // Set-up failures (unreadable data, bad device) end before any event.
                message = QString::fromStdString(result.message());
                (void)m_store.setStatus(m_runId, RunStatus::Failed, result.message());
                emit logMessage(LogLevel::Error, message);
            }
        } catch (const std::exception &e) {
            message = QStringLiteral("training failed: %1").arg(QString::fromUtf8(e.what()));
            (void)m_store.setStatus(m_runId, RunStatus::Failed, message.toStdString());
        }
        (void)m_recorder.flush();
        const QString warning
            = m_recorder.ok() ? QString() : QString::fromStdString(m_recorder.lastError()->message);
        emit done(status, message, warning);
    }

    void runStarted(const RunStarted &e) override
    {
        m_recorder.runStarted(e);
        emit sigRunStarted(e);
    }
    void stageStarted(const StageStarted &e) override
    {
        m_recorder.stageStarted(e);
        emit sigStageStarted(e);
    }
    void batchProgress(const BatchProgress &e) override { emit sigBatchProgress(e); }
    void epochFinished(const EpochMetrics &e) override
    {
        m_recorder.epochFinished(e);
        emit sigEpochFinished(e);
    }
    void stageFinished(const StageFinished &e) override
    {
        m_recorder.stageFinished(e);
        emit sigStageFinished(e);
    }
    void probeFinished(const ProbeResult &e) override
    {
        m_recorder.probeFinished(e);
        emit sigProbeFinished(e);
    }
    void checkpointSaved(const CheckpointSaved &e) override
    {
        m_recorder.checkpointSaved(e);
        emit sigCheckpointSaved(e);
    }
    void runEnded(const RunEnded &e) override
    {
        m_recorder.runEnded(e);
        emit sigRunEnded(e);
    }
    void log(LogLevel level, const std::string &text) override
    {
        emit logMessage(level, QString::fromStdString(text));
    }

Q_SIGNALS:
    void sigRunStarted(const lw::RunStarted &event);
    void sigStageStarted(const lw::StageStarted &event);
    void sigBatchProgress(const lw::BatchProgress &event);
    void sigEpochFinished(const lw::EpochMetrics &event);
    void sigStageFinished(const lw::StageFinished &event);
    void sigProbeFinished(const lw::ProbeResult &event);
    void sigCheckpointSaved(const lw::CheckpointSaved &event);
    void sigRunEnded(const lw::RunEnded &event);
    void logMessage(lw::LogLevel level, const QString &text);
    void done(int status, const QString &message, const QString &storeWarning);

private:
    RunRecorder m_recorder; // declared before the trainer: outlives it
    RunStore &m_store;
    std::int64_t m_runId;
    bool m_resume;
    std::shared_ptr<Trainer> m_trainer;
};

} // namespace detail

namespace {

void registerMetaTypes()
{
    static const bool once = [] {
        qRegisterMetaType<lw::RunStarted>();
        qRegisterMetaType<lw::StageStarted>();
        qRegisterMetaType<lw::BatchProgress>();
        qRegisterMetaType<lw::EpochMetrics>();
        qRegisterMetaType<lw::StageFinished>();
        qRegisterMetaType<lw::ProbeResult>();
        qRegisterMetaType<lw::CheckpointSaved>();
        qRegisterMetaType<lw::RunEnded>();
        qRegisterMetaType<lw::LogLevel>();
        qRegisterMetaType<lw::RunStatus>();
        return true;
    }();
    (void)once;
}

} // namespace

TrainSession::TrainSession(RunStore *store, QObject *parent)
    : QObject(parent)
    , m_store(store)
{
    registerMetaTypes();
}

TrainSession::~TrainSession()
{
    stopAndWait();
}

bool TrainSession::start(const TrainRequest &request)
{
    m_error.clear();
    if (isRunning()) {
        m_error = tr("A run is already training; stop it first.");
        return false;
    }
    if (!m_store) {
        m_error = tr("No run store is open, so the run could not be recorded.");
        return false;
    }
    const TrainOptions &o = request.options;
    if (auto issues = validateSpec(o.spec); !issues.empty()) {
        m_error = tr("The spec is invalid: %1").arg(QString::fromStdString(issues[0].toString()));
        return false;
    }
    TrainOptions options = o;
    options.branchFrom.clear();
    options.lockedStages = 0;
    if (request.parentRun >= 0) {
        const std::int64_t parent = request.parentRun;
        const int k = request.branchStage;
        if (o.mode != TrainMode::Greedy) {
            m_error = tr("A branch of run %1 trains greedily (stages %2.. on top of its frozen "
                         "stages); %3 mode cannot branch. Choose greedy or clear the branch.")
                          .arg(parent)
                          .arg(k + 1)
                          .arg(QString::fromUtf8(toString(o.mode)));
            return false;
        }
        const int stages = static_cast<int>(o.spec.stages.size());
        if (k < 1 || k >= stages) {
            m_error = tr("Branch from stage %1 of run %2: the locked stages must be 1 to %3 "
                         "(the spec has %4 stages and at least one must be trained).")
                          .arg(k + 1)
                          .arg(parent)
                          .arg(stages - 1)
                          .arg(stages);
            return false;
        }
        auto detail = m_store->getRun(parent);
        if (!detail) {
            m_error = tr("Cannot branch: %1").arg(QString::fromStdString(detail.message()));
            return false;
        }
        const QString dir = QString::fromStdString(m_store->runDir(parent));
        const QString ckpt = QStringLiteral("%1/stage%2.pt").arg(dir).arg(k - 1);
        if (!QFileInfo::exists(ckpt)) {
            m_error = tr("Cannot branch from run %1: its checkpoint of stage %2 (%3) is missing; "
                         "the parent must have finished stage %2.")
                          .arg(parent)
                          .arg(k)
                          .arg(ckpt);
            return false;
        }
        options.branchFrom = dir.toStdString();
        options.lockedStages = k;
    }
    NewRun nr;
    const std::string specName = o.spec.name.empty() ? std::string("run") : o.spec.name;
    nr.name = request.name.trimmed().isEmpty() ? specName + " " + toString(o.mode)
                                               : request.name.trimmed().toStdString();
    nr.mode = o.mode;
    nr.specJson = serializeSpec(o.spec);
    nr.recipeJson = serializeRecipe(o.spec.recipe);
    nr.specName = request.specName.isEmpty() ? o.spec.name : request.specName.toStdString();
    nr.dataset = o.spec.recipe.dataset.name;
    nr.device = o.device;
    nr.seed = static_cast<std::int64_t>(o.spec.recipe.seed);
    nr.torchVersion = runtimeInfo().torchVersion;
    nr.stages = static_cast<int>(o.spec.stages.size());
    if (request.parentRun >= 0) {
        nr.parentRun = request.parentRun;
        nr.branchStage = request.branchStage;
    }
    if (auto summary = summarizeSpec(o.spec)) {
        nr.params = summary->totalParams;
        nr.macs = summary->totalMacs;
    }
    auto id = m_store->createRun(nr);
    if (!id) {
        m_error = QString::fromStdString(id.message());
        return false;
    }
    m_runId = *id;
    m_runName = QString::fromStdString(nr.name);
    m_parentRun = request.parentRun;
    m_branchStage = request.parentRun >= 0 ? request.branchStage : 0;
    // The locked stages are the parent's blocks and heads: their results are the parent's.
    if (request.parentRun >= 0)
        (void)m_store->inheritStages(request.parentRun, m_runId, request.branchStage);
    options.runDir = m_store->runDir(m_runId);
    if (!launch(options, false))
        return false;
    emit runCreated(m_runId, false);
    return true;
}

bool TrainSession::resumeRun(std::int64_t runId, const QString &device, int threads)
{
    m_error.clear();
    if (isRunning()) {
        m_error = tr("A run is already training; stop it first.");
        return false;
    }
    if (!m_store) {
        m_error = tr("No run store is open.");
        return false;
    }
    auto detail = m_store->getRun(runId);
    if (!detail) {
        m_error = QString::fromStdString(detail.message());
        return false;
    }
    if (detail->run.status == RunStatus::Finished) {
        m_error = tr("Run %1 is finished; there is nothing to resume.").arg(runId);
        return false;
    }
    if (m_store->isLive(runId)) {
        m_error = tr("Run %1 is being trained by another process.").arg(runId);
        return false;
    }
    auto spec = parseSpec(detail->specJson);
    if (!spec) {
        m_error = tr("Run %1: its stored spec is invalid: %2")
                      .arg(runId)
                      .arg(QString::fromStdString(spec.message()));
        return false;
    }
    const std::string dir = m_store->runDir(runId);
    if (!QFileInfo::exists(QString::fromStdString(dir + "/state.json"))) {
        m_error = tr("Run %1 has no checkpoint yet (%2/state.json): start it again instead.")
                      .arg(runId)
                      .arg(QString::fromStdString(dir));
        return false;
    }
    TrainOptions options;
    options.spec = *spec;
    options.mode = detail->run.mode;
    options.device = device.toStdString();
    options.threads = threads;
    options.runDir = dir;
    m_runId = runId;
    m_runName = QString::fromStdString(detail->run.name);
    m_parentRun = detail->run.parentRun.value_or(-1);
    m_branchStage = detail->run.parentRun ? detail->run.branchStage : 0;
    if (!launch(options, true))
        return false;
    emit runCreated(m_runId, true);
    return true;
}

bool TrainSession::launch(const TrainOptions &options, bool resume)
{
    m_spec = options.spec;
    m_mode = options.mode;
    m_paused = false;
    m_stopping = false;
    m_lastStatus = static_cast<int>(RunStatus::Running);
    m_lastMessage.clear();

    auto *worker = new detail::TrainWorker(*m_store, m_runId, options, resume);
    m_trainer = worker->trainer();
    m_thread = new QThread(this);
    m_thread->setObjectName(QStringLiteral("layerwise-train"));
    worker->moveToThread(m_thread);

    connect(worker, &detail::TrainWorker::sigRunStarted, this, &TrainSession::runStarted);
    connect(worker, &detail::TrainWorker::sigStageStarted, this, &TrainSession::stageStarted);
    connect(worker, &detail::TrainWorker::sigBatchProgress, this, &TrainSession::batchProgress);
    connect(worker, &detail::TrainWorker::sigEpochFinished, this, &TrainSession::epochFinished);
    connect(worker, &detail::TrainWorker::sigStageFinished, this, &TrainSession::stageFinished);
    connect(worker, &detail::TrainWorker::sigProbeFinished, this, &TrainSession::probeFinished);
    connect(worker, &detail::TrainWorker::sigCheckpointSaved, this, &TrainSession::checkpointSaved);
    connect(worker, &detail::TrainWorker::sigRunEnded, this, &TrainSession::runEnded);
    connect(worker, &detail::TrainWorker::logMessage, this, &TrainSession::logMessage);
    connect(worker, &detail::TrainWorker::done, this, &TrainSession::onWorkerDone);
    connect(m_thread, &QThread::started, worker, &detail::TrainWorker::process);
    connect(worker, &detail::TrainWorker::done, m_thread, &QThread::quit);
    connect(m_thread, &QThread::finished, worker, &QObject::deleteLater);
    connect(m_thread, &QThread::finished, this, &TrainSession::onThreadFinished);
    m_thread->start();
    return true;
}

void TrainSession::pause()
{
    if (!m_trainer || !isRunning() || m_paused)
        return;
    m_trainer->pause();
    m_paused = true;
    emit pausedChanged(true);
}

void TrainSession::resumeTraining()
{
    if (!m_trainer || !m_paused)
        return;
    m_trainer->resumeTraining();
    m_paused = false;
    emit pausedChanged(false);
}

void TrainSession::stop()
{
    if (!m_trainer || !isRunning())
        return;
    m_stopping = true;
    m_trainer->cancel(); // also wakes a paused run
    if (m_thread)
        m_thread->requestInterruption();
}

void TrainSession::stopAndWait()
{
    if (!m_thread)
        return;
    stop();
    QThread *thread = m_thread;
    thread->quit();
    thread->wait();
    // The queued `done` and `finished` may not have been delivered: wrap up here.
    if (m_thread)
        onThreadFinished();
}

void TrainSession::onWorkerDone(int status, const QString &message, const QString &storeWarning)
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
    m_trainer.reset();
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

#include "trainsession.moc"
