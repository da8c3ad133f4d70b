#pragma once

#include "core/util/log.h"

#include <cstdint>
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
    double seconds = 0;         ///< wall time of the epoch including evaluation
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
    std::string message; ///< why it failed or stopped; empty when finished
    double seconds = 0;
    double finalTestAcc = 0; ///< the last trained stage's head
};

} // namespace lw
