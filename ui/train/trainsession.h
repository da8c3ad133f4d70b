#pragma once

#include "core/events/observer.h"
#include "core/train/trainer.h"
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
Q_DECLARE_METATYPE(lw::CheckpointSaved)
Q_DECLARE_METATYPE(lw::RunEnded)
Q_DECLARE_METATYPE(lw::LogLevel)

namespace lw {

class RunStore;

namespace detail {
class TrainWorker;
}

/// What a session starts: the engine's options plus what the run store records about it.
struct TrainRequest
{
    TrainOptions options; ///< runDir is filled by the session (the store's runs/<id>/)
    QString name;         ///< run name; empty: "<spec name> <mode>"
    QString specName;     ///< preset or file name
    /// "Branch from stage k": run `parentRun`'s first `branchStage` stages (its
    /// stage<k-1>.pt checkpoint) are loaded and frozen, stages k.. are trained (greedy only).
    /// -1: a run from scratch. The session fills options.branchFrom and options.lockedStages.
    std::int64_t parentRun = -1;
    int branchStage = 0;
};

/// The QObject adapter over the core Trainer: runs one training run at a time on a worker
/// QThread, records it in the run store through a RunRecorder, and turns the engine's observer
/// calls into queued signals carrying the engine's plain structs. Lives on the GUI thread; no
/// call blocks (stop() only asks; the run ends between batches and finished() follows).
class TrainSession : public QObject
{
    Q_OBJECT

public:
    /// `store` may be null (then start() fails with a message); it must outlive the session.
    explicit TrainSession(RunStore *store, QObject *parent = nullptr);
    /// Cancels a run in progress and waits for its thread (the window asks before this).
    ~TrainSession() override;

    void setStore(RunStore *store) { m_store = store; }
    RunStore *store() const { return m_store; }

    /// Creates a run in the store and trains it. False (and errorString()) when a run is
    /// already going, the store is missing or the run cannot be created. A branch
    /// (request.parentRun >= 0) is checked first: greedy mode, the parent run in the store, its
    /// stage checkpoint on disk, fewer locked stages than the spec has; the new run records
    /// the parent and the stage, and the parent's results of the locked stages.
    bool start(const TrainRequest &request);
    /// Continues stored run `runId` from its last checkpoint on `device` with `threads`.
    /// False (and errorString()) when it is finished, live elsewhere or has no checkpoint.
    bool resumeRun(std::int64_t runId, const QString &device = QStringLiteral("auto"),
                   int threads = 0);

    /// Thread-safe requests to the engine; they take effect between batches.
    void pause();
    void resumeTraining();
    /// Stops the run between batches; it stays resumable from its last checkpoint.
    void stop();
    /// Stops and waits for the worker thread (shutdown only: blocks until the batch ends).
    void stopAndWait();

    bool isRunning() const { return m_thread != nullptr; }
    bool isPaused() const { return m_paused; }
    bool isStopping() const { return m_stopping; }
    /// The run being trained (or the last one), -1 before the first.
    std::int64_t runId() const { return m_runId; }
    /// The spec of the run being trained (or the last one).
    const Spec &spec() const { return m_spec; }
    TrainMode mode() const { return m_mode; }
    QString runName() const { return m_runName; }
    /// The parent of the run being trained (or the last one), -1 when it is not a branch.
    std::int64_t parentRun() const { return m_parentRun; }
    int branchStage() const { return m_branchStage; }
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
    void checkpointSaved(const lw::CheckpointSaved &event);
    void runEnded(const lw::RunEnded &event);
    void logMessage(lw::LogLevel level, const QString &text);
    void pausedChanged(bool paused);
    /// The worker thread is done. `status` is the run's final status; `message` says why it
    /// failed or stopped (a setup error such as unreadable data comes here with Failed).
    void finished(qint64 runId, lw::RunStatus status, const QString &message);

private:
    bool launch(const TrainOptions &options, bool resume);
    void onWorkerDone(int status, const QString &message, const QString &storeWarning);
    void onThreadFinished();

    RunStore *m_store = nullptr;
    QThread *m_thread = nullptr;
    std::shared_ptr<Trainer> m_trainer;
    std::int64_t m_runId = -1;
    std::int64_t m_parentRun = -1;
    int m_branchStage = 0;
    Spec m_spec;
    TrainMode m_mode = TrainMode::Greedy;
    QString m_runName;
    QString m_error;
    bool m_paused = false;
    bool m_stopping = false;
    int m_lastStatus = 0;
    QString m_lastMessage;
};

} // namespace lw
