#pragma once

#include "core/events/events.h"
#include "core/events/pictures.h"

#include <string>
#include <vector>

namespace lw {

/// Receives the engine's progress, on the training thread. Implementations must return quickly
/// (queue, batch or copy) and must not throw.
class TrainObserver
{
public:
    virtual ~TrainObserver() = default;
    virtual void runStarted(const RunStarted &) {}
    virtual void stageStarted(const StageStarted &) {}
    virtual void batchProgress(const BatchProgress &) {}
    virtual void epochFinished(const EpochMetrics &) {}
    virtual void stageFinished(const StageFinished &) {}
    virtual void probeFinished(const ProbeResult &) {}
    /// A stage's pictures, computed on the test set once it finished (and its probe ran).
    virtual void picturesReady(const StagePictures &) {}
    virtual void checkpointSaved(const CheckpointSaved &) {}
    virtual void runEnded(const RunEnded &) {}
    virtual void log(LogLevel, const std::string &) {}
};

/// Forwards every event to several observers, in the order given (null entries are skipped):
/// the one fan-out every front-end uses (the store's recorder, a console, a GUI adapter).
class ObserverFanOut : public TrainObserver
{
public:
    ObserverFanOut() = default;
    explicit ObserverFanOut(std::vector<TrainObserver *> observers);
    /// Not thread-safe: add observers before the run starts.
    void add(TrainObserver *observer);

    void runStarted(const RunStarted &e) override;
    void stageStarted(const StageStarted &e) override;
    void batchProgress(const BatchProgress &e) override;
    void epochFinished(const EpochMetrics &e) override;
    void stageFinished(const StageFinished &e) override;
    void probeFinished(const ProbeResult &e) override;
    void picturesReady(const StagePictures &e) override;
    void checkpointSaved(const CheckpointSaved &e) override;
    void runEnded(const RunEnded &e) override;
    void log(LogLevel level, const std::string &text) override;

private:
    std::vector<TrainObserver *> m_observers;
};

} // namespace lw
