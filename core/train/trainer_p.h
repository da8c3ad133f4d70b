#pragma once

// Internal to core/train (includes torch): the training engine behind Trainer. Its parts live in
// files named after their jobs: trainer.cpp (public API, set-up, the run's course),
// stageinput.cpp (stage inputs: frozen prefix and feature cache), epoch.cpp (training steps and
// epochs), evaluation.cpp (test evaluation, ensembles, probes), checkpoints.cpp (run state and
// checkpoints), greedy.cpp, endtoend.cpp and decoupled.cpp (one per training mode).

#include "core/data/loader_p.h"
#include "core/dist/dist_p.h"
#include "core/model/model_p.h"
#include "core/run/runfolder.h"
#include "core/train/engine_p.h"
#include "core/train/trainer.h"

#include <nlohmann/json_fwd.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace lw {

namespace detail {

using Clock = std::chrono::steady_clock;

inline double secondsSince(Clock::time_point t)
{
    return std::chrono::duration<double>(Clock::now() - t).count();
}

/// The logits of the samples evaluated (`indices` into the test set), each at its sample's row
/// of an n-row tensor; the rows of samples left out (an image that no longer decodes, dropped
/// from its batch by the loader) are NaN, so no logit is ever compared with another's label.
torch::Tensor testRows(std::int64_t n, std::int64_t classes,
                       const std::vector<torch::Tensor> &logits,
                       const std::vector<torch::Tensor> &indices);

/// Observer that ignores everything (when the caller passes none).
class NullObserver : public TrainObserver
{};

/// Thrown inside the engine (never out of the public API) to stop a run with a status.
struct Stop
{
    RunStatus status;
    std::string message;
};

/// A module grouping the parameters one optimizer trains (no forward of its own).
struct ParamGroupImpl : torch::nn::Module
{
    void add(const std::string &name, const std::shared_ptr<torch::nn::Module> &m)
    {
        register_module(name, m);
    }
};

} // namespace detail

struct Trainer::Impl
{
    using Clock = detail::Clock;
    using StageOptimizer = detail::StageOptimizer;
    using json = nlohmann::json;

    TrainOptions opt;
    RunFolder folder; // opt.runDir
    TrainObserver *obs = nullptr;
    detail::NullObserver nullObserver;

    std::atomic<bool> cancelFlag{false};
    std::atomic<bool> pauseFlag{false};
    std::mutex pauseMutex;
    std::condition_variable pauseCv;

    Spec spec;
    SpecSummary costs;
    torch::Device device{torch::kCPU};
    bool cuda = false;
    bool channelsLast = false;
    bool amp = false;
    at::ScalarType ampType = at::kBFloat16;
    double lossScale = 65536.0; // fp16 only
    int goodSteps = 0;

    std::shared_ptr<data::Dataset> dataset;
    std::vector<float> mean, stdev;
    model::Network net{nullptr};
    torch::Tensor trainLabels, testLabels; // int64, CPU
    std::int64_t evalLeftOut = 0;          // test images the last evaluation left out (warned once)

    bool useCache = false;
    std::unique_ptr<detail::FeatureCache> trainCache, testCache; // inputs of block `cacheStage`
    int cacheStage = -1;

    std::vector<torch::Tensor> headTestOutputs; // per finished head: logits or softmax (CPU)
    /// Frozen blocks with BN folded into the conv, for the prefix's forward passes.
    std::vector<model::StageBlock> folded;

    RunSummary summary;
    std::int64_t step = 0;
    double elapsedBefore = 0; // seconds from earlier sessions of a resumed run
    Clock::time_point sessionStart;
    /// Seconds the asynchronous pipeline's stage waited on an empty replay buffer (its share
    /// of communication, beside DistGroup::commSeconds).
    double replayWaitSeconds = 0;
    std::string lastCheckpoint;

    /// Progress of the stage in training, kept in the run state so a resumed stage reports the
    /// same totals as an uninterrupted one.
    struct CurrentStage
    {
        double trainAcc = 0;
        double trainSeconds = 0;
        std::int64_t trainImages = 0;
        double seconds = 0;
    } current;

    /// Multi-process runs (opt.dist): the rows of each split this rank holds in its feature
    /// cache (int64, global indices); undefined in a one-process run.
    torch::Tensor trainShard, testShard;

    Impl(TrainOptions o, TrainObserver *observer);

    bool distributed() const { return opt.dist && opt.dist->world() > 1; }
    /// Stage j on rank j (decoupled runs): each rank trains one stage on whole batches.
    bool pipeline() const { return distributed() && opt.placement == Placement::Pipeline; }
    /// Every rank trains on its shard of each batch, gradients and counts all-reduced.
    bool dataParallel() const { return distributed() && !pipeline(); }
    int rank() const { return opt.dist ? opt.dist->rank() : 0; }
    int world() const { return opt.dist ? opt.dist->world() : 1; }
    /// Rank 0 (or the one process) writes checkpoints and the run state.
    bool writer() const { return rank() == 0; }
    /// The batch this rank trains on: the recipe's (global) batch / world size (a pipeline's
    /// ranks each train on the whole batch).
    int localBatch() const { return spec.recipe.batchSize / (dataParallel() ? world() : 1); }
    /// Rank 0 logs the share of its active time each rank spent waiting for communication (a
    /// collective: every rank calls it at the same point of a finished run).
    void reportCommunication();
    /// Sums a split's per-rank test outputs (rows this rank did not evaluate are zero) and
    /// their summed losses over the ranks.
    void gatherEval(torch::Tensor &logits, double &lossSum);

    void log(LogLevel level, const std::string &text) { obs->log(level, text); }
    /// The engine's clock: steady time with the run's pauses left out, so that every duration
    /// it measures (epochs, stages, elapsed, images/s) is active time.
    Clock::time_point activeNow() const { return Clock::now() - pausedFor; }
    double activeSince(Clock::time_point t) const
    {
        return std::chrono::duration<double>(activeNow() - t).count();
    }
    /// The run's active seconds: earlier sessions plus this one, pauses excluded.
    double elapsed() const { return elapsedBefore + activeSince(sessionStart); }
    Clock::duration pausedFor{}; // time spent paused in this session (training thread only)

    /// Between batches: blocks while paused; throws Stop when cancelled.
    void checkControls();

    // --- set-up and the run's course (trainer.cpp) ------------------------------------------

    Result<void> setUp();
    Result<RunSummary> execute(bool resuming);

    static torch::Tensor labelsOf(const data::Split &split);
    static void toChannelsLast(torch::nn::Module &module);
    data::TransformOptions transformOptions(bool train) const;
    /// `shard`: in a multi-process run, this rank's DistributedSampler share (training splits
    /// padded to equal shares).
    std::unique_ptr<data::Loader> makeLoader(bool train, bool shuffle, int batch,
                                             bool shard = false) const;
    torch::Tensor toDevice(const torch::Tensor &x) const;

    // --- stage inputs: frozen prefix and feature cache (stageinput.cpp) ----------------------

    /// Stem and frozen blocks 0..stage-1, no autograd (BN folded into the convs).
    torch::Tensor prefix(const torch::Tensor &images, int stage);
    /// Block j for inference once it is frozen: a BN-folded copy, built on first use.
    model::StageBlock &frozenBlock(int j);

    /// 40% of the machine's RAM.
    static std::int64_t autoCacheBudget();
    std::string spillDir() const;
    /// Fills the caches with the inputs of block `stage` (from the cache of stage-1 when it is
    /// there, else from the images through the prefix).
    void buildCache(int stage);
    /// bf16 autocast makes the prefix's outputs bf16: caching them as such halves the cache
    /// and its memory traffic and changes nothing the stage sees.
    torch::ScalarType cacheType() const;
    void fillCache(detail::FeatureCache &dst, detail::FeatureCache *prev, bool train, int stage);

    /// Iterates a split as inputs of block `stage`: from the cache, or images through the prefix.
    class StageInput
    {
    public:
        StageInput(Impl &impl, int stage, bool train, int batch);
        std::int64_t batches() const;
        void start(int epochKey);
        /// The next batch; `indices` (when given) gets its samples' indices in the split.
        bool next(torch::Tensor &x, torch::Tensor &y, torch::Tensor *indices = nullptr);
        /// Split indices of the samples of the last batch.
        const torch::Tensor &indices() const { return m_indices; }

    private:
        Impl &m_impl;
        int m_stage;
        bool m_train;
        int m_batch;
        detail::FeatureCache *m_cache = nullptr;
        std::unique_ptr<data::Loader> m_loader;
        torch::Tensor m_labels, m_order, m_rows, m_indices;
        std::int64_t m_pos = 0;
    };

    // --- training steps and epochs (epoch.cpp) -----------------------------------------------

    struct EvalResult
    {
        double loss = 0, acc = 0, ensembleAcc = 0;
        double top5 = std::numeric_limits<double>::quiet_NaN(); ///< more than 10 classes only
        torch::Tensor outputs;    // CPU logits or softmax of the evaluated head; NaN rows: left out
        std::int64_t leftOut = 0; // test images that could not be decoded for this evaluation
    };

    struct EpochTotals
    {
        std::int64_t correct = 0, seen = 0, batches = 0;
        double lossSum = 0, trainSeconds = 0;
    };

    /// Per-batch training step on block `stage` + head `stage`; returns the loss and counts
    /// correct predictions.
    double trainStep(StageOptimizer &opt, torch::nn::Module &params, const torch::Tensor &x,
                     const torch::Tensor &y,
                     const std::function<torch::Tensor(const torch::Tensor &)> &fwd,
                     std::int64_t &correct, bool &finite);
    /// One training epoch: a step per batch that `next` yields, the divergence check, throttled
    /// batch progress. Throws Stop on NaN/Inf or cancel.
    EpochTotals trainEpoch(int stage, int epoch, int batches, Clock::time_point epochStart,
                           const std::function<bool(torch::Tensor &, torch::Tensor &)> &next,
                           StageOptimizer &sopt, torch::nn::Module &params,
                           const std::function<torch::Tensor(const torch::Tensor &)> &fwd);
    /// Reports a finished epoch and adds it to the current stage's totals.
    void finishEpoch(int stage, int epoch, Clock::time_point epochStart, const EpochTotals &t,
                     const EvalResult &eval, double lr);
    /// Adds a finished stage (throughput from the current stage's totals) to the summary, whose
    /// final accuracy becomes its test accuracy. The caller reports it once the run state that
    /// holds it is saved.
    StageFinished addFinishedStage(int stage, int epochs, double trainAcc, double testAcc,
                                   double ensembleAcc, double seconds);

    // --- evaluation and probes (evaluation.cpp) ----------------------------------------------

    /// Test-set evaluation of head `stage` over block `stage` inputs; ensemble with earlier heads.
    EvalResult evaluateStage(int stage);
    EvalResult finishEval(int stage, const torch::Tensor &logits, double lossSum);
    /// Test-set logits (CPU, fp32) of heads 0..upTo through the whole network, and their
    /// summed losses.
    std::pair<std::vector<torch::Tensor>, std::vector<double>> evaluateHeads(int upTo, bool all);
    EvalResult evaluateFull(int stage);
    void recomputeHeadOutputs(int stages);
    void probeLayer(int layer, int afterStage);

    // --- pictures of what a stage learned (pictures.cpp) -------------------------------------

    /// Test image `sample` as uint8 C x H x W; throws Stop when it cannot be decoded.
    torch::Tensor testImage(std::int64_t sample);
    FilterGrid firstLayerFilters();
    /// Block `stage`'s outputs (float32, on the device) for test samples `rows`: from the
    /// feature cache when it holds them or the block's inputs, else the images through the
    /// prefix. Samples whose image no longer decodes are dropped from `rows`.
    torch::Tensor testFeatures(int stage, std::vector<std::int64_t> &rows);
    /// The test images a stage's projection shows: the first (at most 2,000) of the seeded
    /// permutation of the test split, and per test image its place among them (-1: none).
    const std::vector<std::int64_t> &pictureSubset();
    const torch::Tensor &pictureSlots();
    std::vector<std::int64_t> pictureRows;
    torch::Tensor pictureSlotOf;
    /// Pooled 2x2 block outputs of the picture subset from the last evaluateStage (rows in
    /// pictureSubset's order, NaN: left out), so the pictures need no second pass; stage -1:
    /// none (a stored run, a multi-process run).
    torch::Tensor evalPooled;
    int evalPooledStage = -1;
    /// Test image `sample` through blocks and heads 0..stages-1 (RunImages::image).
    ImageThroughStages imageThroughStages(std::int64_t sample, int stages);
    /// Pictures of stage `stage` from the test outputs of heads 0..N-1 (logits, or softmax in a
    /// softmax ensemble; undefined for an untrained head) and block `stage`'s features.
    /// `ensembleOfHeads`: the ensemble confusion weighs heads 0..stage, else it is the head's.
    StagePictures computePictures(int stage, const std::vector<torch::Tensor> &outputs,
                                  bool ensembleOfHeads);
    /// After greedy stage `stage` finished: computes and reports its pictures, and the hard
    /// errors of earlier stages its head fixes (when opt.pictures).
    void reportPictures(int stage);
    /// Pictures of stages 0..stages-1 of a trained network (every mode), each reported.
    std::vector<StagePictures> picturesOfStages(int stages);
    /// Hard errors of the stages reported so far, for the fixes later stages make.
    std::vector<std::pair<int, std::vector<HardError>>> hardErrors;
    /// Sets up an engine on stored run `runDir`, loads the checkpoint its state names and calls
    /// `job` with it and the stages to look at (greedy: the finished ones; else all). `what`
    /// ("probe", "pictures") names the job in errors; nothing throws out.
    /// The engine set up on stored run `runDir` with its checkpoint loaded (no feature cache);
    /// `stages` gets the stages to look at (greedy: the finished ones; else all).
    static Result<std::unique_ptr<Impl>> openStoredRun(const std::string &runDir, const Spec &spec,
                                                       TrainMode mode, const std::string &device,
                                                       TrainObserver *observer,
                                                       const std::string &what, int &stages);
    static Result<void> onStoredRun(const std::string &runDir, const Spec &spec, TrainMode mode,
                                    const std::string &device, TrainObserver *observer,
                                    const std::string &what,
                                    const std::function<void(Impl &, int)> &job);

    // --- run state and checkpoints (checkpoints.cpp) -----------------------------------------

    json stateJson(int stage, int epochsDone, bool stageDone, const std::string &checkpoint) const;
    void saveState(int stage, int epochsDone, bool stageDone);
    /// A resumed run with probes that stopped while probing its finished stage: probes layers
    /// [firstLayer, endLayer) after `afterStage` that the run state lacks, then saves the state.
    void probeMissing(int firstLayer, int endLayer, int afterStage, int epoch);
    /// Saves the whole network and the optimizers, then the run state pointing at it (both
    /// atomically), then removes the previous checkpoint. At a greedy stage end the network is
    /// also kept as a stage checkpoint (for branching and probes). Throws Stop on a write failure.
    void saveCheckpoint(int stage, int epochsDone, bool stageDone,
                        const std::vector<StageOptimizer *> &optimizers);
    Result<json> readState() const;
    /// A run that stops before its end keeps its active seconds at the stop in its run state
    /// (not those of its last checkpoint), so that a resume never counts time backwards; a
    /// failure to write is a warning.
    void keepStopTime(double seconds);
    /// Where a resumed run continues: after `epoch` epochs of `stage` (0-based), from `checkpoint`.
    struct ResumePoint
    {
        int stage = 0, epoch = 0;
        bool stageDone = false;
        std::string checkpoint;
    };
    /// Takes where the run stands from a resumed run's state: step, time, the current stage's
    /// totals, finished stages and probes. Throws a json exception on a damaged state.
    ResumePoint restoreProgress(const json &state);
    /// Loads the network's parameters and buffers; `stagesToLoad` < 0 loads everything, else only
    /// blocks and heads 0..stagesToLoad-1 (branching; the stem has no parameters). Every tensor
    /// must keep the shape this spec gives it (LibTorch would silently take another).
    Result<void> loadNetwork(const RunFolder &from, const std::string &file, int stagesToLoad = -1);
    Result<void> loadOptimizers(const std::string &file,
                                const std::vector<StageOptimizer *> &optimizers);
    /// A new run's initial weights from opt.initFrom (a state dict), evaluated and logged before
    /// training. Throws Stop when they cannot be loaded.
    void loadInitialWeights();

    // --- the three modes (greedy.cpp, endtoend.cpp, decoupled.cpp) ---------------------------

    void runGreedy(int startStage, int startEpoch, bool resuming, const std::string &ckpt);
    void runEndToEnd(int startEpoch, bool resuming, const std::string &ckpt);
    void runDecoupled(int startEpoch, bool resuming, const std::string &ckpt);
    /// DGL's stages, in one process or as a pipeline: each stage's parameter group and optimizer
    /// (restored from `ckpt` when resuming past epoch 0), every stage announced as started.
    struct DecoupledStages
    {
        std::vector<std::shared_ptr<detail::ParamGroupImpl>> groups;
        std::vector<std::unique_ptr<StageOptimizer>> optimizers;
        std::vector<StageOptimizer *> ptrs;
    };
    DecoupledStages startDecoupledStages(int startEpoch, bool resuming, const std::string &ckpt);
    /// Decoupled with the pipeline placement (pipeline.cpp): this rank trains stage rank().
    void runPipeline(int startEpoch, bool resuming, const std::string &ckpt);
    /// Where a pipeline's messages live: the CPU for Gloo, the rank's GPU for NCCL.
    torch::Device commDevice() const;
    /// The test split through the pipeline, each rank evaluating its stage's head. Rank 0 gets
    /// every head's logits (CPU, NaN rows left out) and summed losses; the others get nothing.
    std::pair<std::vector<torch::Tensor>, std::vector<double>> evaluatePipeline();
    /// Rank 0 receives every other rank's stage (block, head and optimizer state) into its own
    /// network and optimizers, so its checkpoint holds the whole run.
    void gatherPipelineStages(const std::vector<std::shared_ptr<detail::ParamGroupImpl>> &groups,
                              const std::vector<StageOptimizer *> &optimizers);

    int e2eEpochs() const { return endToEndEpochs(spec); }
};

} // namespace lw
