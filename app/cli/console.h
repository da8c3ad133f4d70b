#pragma once

// What `train`, `resume` and `probe` print: live progress on stderr, the outcome on stdout (a
// table, or one JSON object), and Ctrl+C handling.

#include "core/events/observer.h"
#include "core/train/trainer.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace lw {
class RunJob;
}

namespace lw::cli {

/// Progress on stderr: a live bar with ETA on a terminal, one line per epoch otherwise.
/// Stages are printed 1..N.
class ConsoleObserver : public TrainObserver
{
public:
    ConsoleObserver(int stages, int epochsPerStage);

    void runStarted(const RunStarted &e) override;
    void stageStarted(const StageStarted &e) override;
    void batchProgress(const BatchProgress &e) override;
    void epochFinished(const EpochMetrics &e) override;
    void stageFinished(const StageFinished &e) override;
    void probeFinished(const ProbeResult &e) override;
    void log(LogLevel level, const std::string &text) override;

private:
    void clearLine();

    bool m_tty;
    int m_stages, m_epochs;
    bool m_dirty = false;
    double m_epochSeconds = 0;
    std::mutex m_mutex;
};

/// Ctrl+C (or SIGTERM) cancels the job between batches (it stays resumable); a second one kills.
class InterruptGuard
{
public:
    explicit InterruptGuard(RunJob &job);
    ~InterruptGuard();
    InterruptGuard(const InterruptGuard &) = delete;
    InterruptGuard &operator=(const InterruptGuard &) = delete;

private:
    RunJob &m_job;
    std::atomic<bool> m_stop{false};
    bool m_cancelled = false;
    std::thread m_watcher;
};

/// The outcome of a training run: a table of stages (1..N) and probes on stdout, or with `json`
/// one object with 0-based machine fields.
void printSummary(std::int64_t runId, TrainMode mode, const RunSummary &summary, bool json);
/// Probe results of a stored run: a table (layers 1..N), or with `json` one object.
void printProbes(std::int64_t runId, const RunSummary &summary, bool json);

} // namespace lw::cli
