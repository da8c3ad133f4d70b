#pragma once

#include "core/util/log.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace lw {

enum class TrainMode { Greedy, EndToEnd, Decoupled };
enum class RunStatus { Running, Finished, Failed, Cancelled, Interrupted };

/// "greedy", "e2e", "dgl"; "running", "finished", "failed", "cancelled", "interrupted".
const char *toString(TrainMode mode);
const char *toString(RunStatus status);
std::optional<TrainMode> parseTrainMode(std::string_view text);
std::optional<RunStatus> parseRunStatus(std::string_view text);
/// A run's state as a person reads it, the same in the GUI and the CLI: "running", "paused"
/// (a live run its process holds between batches), "finished", "failed", "stopped" (the
/// machine field says "cancelled": stopped by the user, resumable), "interrupted" (its process
/// ended without finishing it, e.g. killed).
const char *statusLabel(RunStatus status, bool paused = false);
/// What a person reads: "greedy layerwise", "end-to-end", "decoupled (DGL)" (lower case; the
/// GUI capitalizes the first letter where a label starts a sentence or an item).
const char *modeLabel(TrainMode mode);

// Events the engine reports. Plain values only (numbers already pulled out of tensors), so they
// can cross threads by copy. Stages are 0-based; epochs are 1-based (epoch 1 is the first one
// finished); `step` counts epochs over the whole run (the x axis of a stage timeline). An
// end-to-end run reports its epochs as stage = last stage index, ensembleAcc = testAcc.

struct RunStarted
{
    TrainMode mode = TrainMode::Greedy;
    int stages = 0;
    std::string device; ///< "cpu", "cuda:0"
    int threads = 1;
    std::int64_t trainSize = 0;
    std::int64_t testSize = 0;
    std::string dataset; ///< what was opened, in words
    std::string datasetFingerprint;
    bool resumed = false;
    int resumeStage = 0; ///< where a resumed run continues
    int resumeEpoch = 0; ///< epochs of resumeStage already done
    /// resumeStage is finished (its results, and its probes when they were taken, are kept).
    bool resumeStageDone = false;
    /// The run's active seconds as it starts training: earlier sessions of a resumed run plus this
    /// session's set-up (see EpochMetrics::elapsed).
    double elapsed = 0;
    int worldSize = 1;   ///< processes of a multi-process run (core/dist)
    std::string backend; ///< its c10d backend: gloo | nccl (empty: one process)
    std::string hosts;   ///< its machines, comma-separated
};

struct StageStarted
{
    int stage = 0;
    int epochs = 0;
    std::int64_t blockParams = 0;
    std::int64_t headParams = 0;
    std::int64_t blockMacs = 0;
    std::int64_t headMacs = 0;
    bool cachedInput = false; ///< trains on cached outputs of the frozen prefix
};

/// At most about 10 per second.
struct BatchProgress
{
    int stage = 0;
    int epoch = 0;   ///< the epoch in progress (1-based)
    int batch = 0;   ///< batches done in this epoch
    int batches = 0; ///< batches per epoch
    double runningLoss = 0;
    double imagesPerSecond = 0;
};

struct EpochMetrics
{
    int stage = 0;
    int epoch = 0;
    std::int64_t step = 0;
    double trainLoss = 0;
    double trainAcc = 0; ///< fractions in [0, 1]
    double testLoss = 0;
    double testAcc = 0;         ///< the current head
    double ensembleAcc = 0;     ///< 2^i-weighted heads 0..stage
    double lr = 0;              ///< LR used in this epoch
    double imagesPerSecond = 0; ///< training throughput
    double seconds = 0;         ///< active time of the epoch including evaluation (no pauses)
    /// The run's active time when this epoch ended: seconds since its process started on it,
    /// pauses excluded, earlier sessions of a resumed run included (the store's wall_seconds,
    /// the Train view's "elapsed"). 0 when unknown.
    double elapsed = 0;
    /// Top-5 test accuracy of the current head; NaN when not measured (10 classes or fewer).
    double testTop5 = std::numeric_limits<double>::quiet_NaN();
    /// Images and optimizer steps trained in this epoch (NaN in runs recorded before they were).
    double trainImages = std::numeric_limits<double>::quiet_NaN();
    double trainSteps = std::numeric_limits<double>::quiet_NaN();
};

struct StageFinished
{
    int stage = 0;
    int epochs = 0;
    double trainAcc = 0;
    double testAcc = 0;
    double ensembleAcc = 0;
    double seconds = 0;
    double imagesPerSecond = 0;
};

/// Linear-separability probe of layer `layer` (block output), measured after stage `afterStage`.
struct ProbeResult
{
    int afterStage = 0;
    int layer = 0;
    double trainAcc = 0;
    double testAcc = 0;
    double seconds = 0;
};

struct CheckpointSaved
{
    int stage = 0;
    int epoch = 0;
    std::string path; ///< relative to the run's folder
    bool stageEnd = false;
};

struct RunEnded
{
    RunStatus status = RunStatus::Finished;
    std::string message;     ///< why it failed or stopped; empty when finished
    double seconds = 0;      ///< the run's active time (EpochMetrics::elapsed)
    double finalTestAcc = 0; ///< the last trained stage's head
};

} // namespace lw
