#pragma once

#include "core/events/observer.h"
#include "core/run/runservice.h"
#include "core/util/log.h"

#include <QMetaType>
#include <QObject>
#include <QString>

#include <cstdint>
#include <memory>

class QThread;

Q_DECLARE_METATYPE(lw::RunStarted)
Q_DECLARE_METATYPE(lw::StageStarted)
Q_DECLARE_METATYPE(lw::BatchProgress)
Q_DECLARE_METATYPE(lw::EpochMetrics)
Q_DECLARE_METATYPE(lw::StageFinished)
Q_DECLARE_METATYPE(lw::ProbeResult)
Q_DECLARE_METATYPE(lw::StagePictures)
Q_DECLARE_METATYPE(lw::CheckpointSaved)
Q_DECLARE_METATYPE(lw::RunEnded)
Q_DECLARE_METATYPE(lw::LogLevel)

namespace lw {

class RunStore;

/// The GUI's adapter over core's RunService: prepares a job (a new run, a branch, a resumed run
/// or the probes of a stored run) on the GUI thread and executes it on a worker QThread. The
/// job's one Qt observer (Events) emits each engine event as this session's signal on the
/// worker thread, so Qt queues it to receivers on the GUI thread. No call blocks (stop() only
/// asks; the job ends between batches and finished() follows).
///
/// A run over N > 1 processes (core/run/distsession.h): this process is rank 0 on the worker
/// thread, which starts ranks 1..N-1 as `layerwise-cli worker` processes, meets them, executes
/// the job and waits for them (stopping those that do not end within 20 s of a stop).
class TrainSession : public QObject
{
    Q_OBJECT

public:
    /// `store` may be null (then every job fails with a message); it must outlive the session.
    explicit TrainSession(RunStore *store, QObject *parent = nullptr);
    /// Cancels a job in progress and waits for its thread (the window asks before this).
    ~TrainSession() override;

    void setStore(RunStore *store) { m_store = store; }
    RunStore *store() const { return m_store; }

    /// Records a new run (or a branch: request.parentRun) through RunService::create and trains
    /// it. False (and errorString(), the service's message as it is) when a job is going, the
    /// store is missing or the service refuses the run.
    /// `processes` > 1: data-parallel over that many processes on this machine (it fails when
    /// workerProgram() is empty).
    bool start(const NewRunRequest &request, int processes = 1);
    /// Continues stored run `runId` from its last checkpoint (RunService::resume), over
    /// `processes` processes (any number: a run resumes with another world size).
    bool resumeRun(std::int64_t runId, const ExecOptions &exec, int processes = 1);
    /// Linear-separability probes of every layer of stored run `runId` (RunService::probe),
    /// recorded in the store; the results come as probeFinished().
    bool probeRun(std::int64_t runId, const ExecOptions &exec);

    /// Thread-safe requests to the job; they take effect between batches. pause() does nothing
    /// unless canPause().
    void pause();
    void resumeTraining();
    /// Stops the run between batches; it stays resumable from its last checkpoint.
    void stop();
    /// Stops and waits for the worker thread (shutdown only: blocks until the batch ends).
    void stopAndWait();

    /// A job (training or probing) is executing.
    bool isBusy() const { return m_thread != nullptr; }
    /// A training job (new or resumed) is executing.
    bool isRunning() const { return isBusy() && m_kind != JobKind::Probe; }
    bool isProbing() const { return isBusy() && m_kind == JobKind::Probe; }
    bool isPaused() const { return m_paused; }
    /// A training job that can pause: one process (the other ranks of a multi-process run
    /// would time out in their all-reduce).
    bool canPause() const { return isRunning() && m_processes == 1; }
    /// Processes of the current (or last) job.
    int processes() const { return m_processes; }
    /// The layerwise-cli that runs ranks 1..N-1; empty when none was found.
    QString workerProgram() const { return m_workerProgram; }
    void setWorkerProgram(const QString &path) { m_workerProgram = path; }
    /// layerwise-cli beside this executable (an installed bin/) or in the build tree's
    /// app/cli/ beside app/gui/; empty when neither holds one.
    static QString findWorkerProgram();
    bool isStopping() const { return m_stopping; }
    /// What the current (or last) job does.
    JobKind kind() const { return m_kind; }
    /// The run of the current job (or the last one), -1 before the first.
    std::int64_t runId() const { return m_runId; }
    /// The spec of the current (or last) job, as the service parsed or validated it.
    const Spec &spec() const { return m_spec; }
    TrainMode mode() const { return m_mode; }
    QString runName() const { return m_runName; }
    /// The parent of the run (or the last one), -1 when it is not a branch.
    std::int64_t parentRun() const { return m_parentRun; }
    /// Stages taken from the parent (0 when not a branch).
    int lockedStages() const { return m_lockedStages; }
    /// Whether the run probes every layer after its stage (a resumed run: as it was made).
    bool probes() const { return m_probes; }
    QString errorString() const { return m_error; }

Q_SIGNALS:
    /// The store holds the new (or resumed) run; training begins on the worker thread.
    void runCreated(qint64 runId, bool resumed);
    void runStarted(const lw::RunStarted &event);
    void stageStarted(const lw::StageStarted &event);
    void batchProgress(const lw::BatchProgress &event);
    void epochFinished(const lw::EpochMetrics &event);
    void stageFinished(const lw::StageFinished &event);
    void probeFinished(const lw::ProbeResult &event);
    void picturesReady(const lw::StagePictures &event);
    void checkpointSaved(const lw::CheckpointSaved &event);
    void runEnded(const lw::RunEnded &event);
    void logMessage(lw::LogLevel level, const QString &text);
    void pausedChanged(bool paused);
    /// The worker thread is done. `status` is the job's final status; `message` says why it
    /// failed or stopped (a setup error such as unreadable data comes here with Failed).
    void finished(qint64 runId, lw::RunStatus status, const QString &message);

private:
    bool ready(int processes = 1);
    bool launch(Result<std::unique_ptr<RunJob>> job, const ExecOptions &exec, int processes = 1);
    void onJobDone(int status, const QString &message, const QString &storeWarning);
    void onThreadFinished();

    class Events;

    RunStore *m_store = nullptr;
    QThread *m_thread = nullptr;
    std::unique_ptr<Events> m_events; ///< observes every job; outlives the worker threads
    std::shared_ptr<RunJob> m_job;
    JobKind m_kind = JobKind::New;
    std::int64_t m_runId = -1;
    std::int64_t m_parentRun = -1;
    int m_lockedStages = 0;
    bool m_probes = false;
    Spec m_spec;
    TrainMode m_mode = TrainMode::Greedy;
    QString m_runName;
    QString m_error;
    bool m_paused = false;
    bool m_stopping = false;
    int m_processes = 1;
    QString m_workerProgram;
    int m_lastStatus = 0;
    QString m_lastMessage;
};

} // namespace lw
