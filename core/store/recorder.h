#pragma once

#include "core/events/observer.h"
#include "core/store/runstore.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lw {

struct RecorderOptions
{
    /// Epochs are written in one transaction when this long has passed since the last write
    /// (0 = every epoch). Stage, probe, checkpoint and run events always write at once.
    double flushIntervalSeconds = 1.0;
};

/// Records one run's events into a RunStore. Called on the training thread; never throws and
/// never writes per batch (batch progress is not stored). A failed write (disk full, locked)
/// leaves the store at the last good write, keeps the unwritten epochs for the next attempt and
/// is reported by lastError(); recording goes on trying at the next event.
class RunRecorder : public TrainObserver
{
public:
    /// `store` must outlive the recorder; `runId` comes from RunStore::createRun (or an existing
    /// run being resumed: runStarted with resumed = true trims and re-opens it).
    RunRecorder(RunStore &store, std::int64_t runId, RecorderOptions options = {});
    ~RunRecorder() override;

    std::int64_t runId() const { return m_runId; }
    /// The latest write failure, e.g. "run store '...': disk full ..."; stays set once a write
    /// failed (an event other than an epoch may be missing from the store).
    const std::optional<Error> &lastError() const { return m_lastError; }
    bool ok() const { return !m_lastError.has_value(); }
    /// Epochs waiting to be written.
    std::size_t pendingEpochs() const { return m_pending.size(); }
    /// Writes pending epochs now.
    Result<void> flush();

    void runStarted(const RunStarted &event) override;
    void stageStarted(const StageStarted &event) override;
    void epochFinished(const EpochMetrics &event) override;
    void stageFinished(const StageFinished &event) override;
    void probeFinished(const ProbeResult &event) override;
    void picturesReady(const StagePictures &event) override;
    void checkpointSaved(const CheckpointSaved &event) override;
    void runEnded(const RunEnded &event) override;

private:
    void note(const Result<void> &result);

    RunStore &m_store;
    std::int64_t m_runId;
    RecorderOptions m_options;
    std::vector<EpochMetrics> m_pending;
    std::chrono::steady_clock::time_point m_lastFlush;
    std::optional<Error> m_lastError;
};

} // namespace lw
