#pragma once

// Public, torch-free face of the training engine (greedy layerwise, end-to-end, decoupled).

#include "core/events/observer.h"
#include "core/spec/spec.h"
#include "core/util/result.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lw {

class DistGroup;

namespace detail {
struct TrainerTestAccess; // tests/fuzz: reads run states and checkpoints through Impl
} // namespace detail

enum class FeatureCache { Auto, On, Off };

/// How a multi-process run shares its work. Data: every rank trains every stage on its shard of
/// each batch (gradients all-reduced). Pipeline: decoupled runs only, stage j on rank j (world
/// size = stages), each rank training its stage on the whole batch and sending its block's
/// detached output to the next rank.
enum class Placement { Data, Pipeline };

/// "data" | "pipeline".
const char *toString(Placement placement);
/// Parses "data" / "pipeline"; an Error names the accepted values.
Result<Placement> parsePlacement(const std::string &text);
/// Whether `placement` fits a run of `spec` in `mode` over `world` processes; an Error says what
/// to change (pipeline: --mode dgl and one process per stage).
/// A replay buffer (`replayBuffer` > 0) needs the pipeline placement.
Result<void> checkPlacement(const Spec &spec, TrainMode mode, Placement placement, int world,
                            int replayBuffer = 0);

/// Where and how a run executes; not part of the run's recipe (a resumed run may change them).
struct ExecOptions
{
    std::string device = "auto"; ///< auto | cpu | cuda | cuda:N
    int threads = 0;             ///< 0: all cores
    int loaderThreads = 2;
    FeatureCache cache = FeatureCache::Auto;
    std::int64_t cacheBudgetBytes
        = 0; ///< RAM for cached features (0: 40% of RAM); beyond: mmap file
    /// A multi-process run (core/dist/dist.h): this process's rank in it; null: one process.
    /// Each rank trains on its shard with batch / world size and all-reduces the gradients;
    /// only rank 0 writes checkpoints (its observers record the run).
    std::shared_ptr<DistGroup> dist;
    /// How a multi-process run shares its work (a one-process run ignores Data; Pipeline needs
    /// dist with one rank per stage). Not part of the recipe: a resume may choose another.
    Placement placement = Placement::Data;
    /// The pipeline's asynchronous variant (DGL's replay buffer): each stage above the first
    /// keeps the last `replayBuffer` batches it received and trains on one drawn uniformly from
    /// them, without waiting for the stage below; 0: synchronous (each batch once, in order).
    /// Pipeline placement only (checkPlacement), 0..kMaxReplayBuffer.
    int replayBuffer = 0;
};

/// The largest replay buffer, in batches per stage.
inline constexpr int kMaxReplayBuffer = 256;

/// What one Trainer runs, and where and how (a RunService fills it from a stored run).
struct TrainOptions : ExecOptions
{
    Spec spec;
    TrainMode mode = TrainMode::Greedy;
    bool probes = false;  ///< probe every layer after each stage
    bool pictures = true; ///< compute each stage's pictures once it finished (picturesReady)
    std::string runDir;   ///< checkpoints go here; empty: none
    /// Branch from stage k: the first `lockedStages` blocks (and heads) come from `branchFrom`
    /// (a run folder) and are not trained again.
    std::string branchFrom;
    int lockedStages = 0;
    /// A state dict (initweights.h) whose stages 1..K replace the fresh weights of a new run,
    /// which then trains as usual; empty: none. Not with a branch.
    std::string initFrom;
    /// A resume: the run's active seconds so far as recorded outside its run folder (the run
    /// store's wall time at the stop); it goes on from the larger of this and its run state's.
    double elapsedBefore = 0;
};

struct RunSummary
{
    RunStatus status = RunStatus::Finished;
    std::string message;
    std::vector<StageFinished> stages;
    std::vector<ProbeResult> probes;
    double finalTestAcc = 0;
    double seconds = 0;
};

/// Runs one training run. run()/resume() block: call them on a worker thread. pause(),
/// resumeTraining() and cancel() are thread-safe and take effect between batches.
class Trainer
{
public:
    /// `observer` may be null; it must outlive the trainer.
    Trainer(TrainOptions options, TrainObserver *observer);
    ~Trainer();
    Trainer(const Trainer &) = delete;
    Trainer &operator=(const Trainer &) = delete;

    /// Trains from scratch. Fails (without throwing) on bad data, an invalid spec or device;
    /// a diverging loss or a cancel return a summary with status Failed / Cancelled.
    Result<RunSummary> run();
    /// Continues the run in options.runDir from its last checkpoint, with the same curves.
    Result<RunSummary> resume();

    void pause();
    void resumeTraining();
    void cancel();
    bool paused() const;

private:
    struct Impl;
    std::unique_ptr<Impl> d;
    friend struct detail::TrainerTestAccess;
    friend Result<std::vector<ProbeResult>> probeRun(const std::string &, const Spec &, TrainMode,
                                                     const std::string &, TrainObserver *);
    friend Result<std::vector<StagePictures>> picturesOfRun(const std::string &, const Spec &,
                                                            TrainMode, const std::string &,
                                                            TrainObserver *);
    friend class RunImages;
};

/// Probes every layer of a trained run from its checkpoints in `runDir` (on demand, for a stored
/// run): linear softmax classifiers on 2x2-pooled features, train and test accuracy per layer.
Result<std::vector<ProbeResult>> probeRun(const std::string &runDir, const Spec &spec,
                                          TrainMode mode, const std::string &device,
                                          TrainObserver *observer);

/// Pictures of every trained stage of a run from its checkpoints in `runDir` (on demand, for a
/// stored run): each is reported to `observer` (picturesReady) as it is done, and all returned.
Result<std::vector<StagePictures>> picturesOfRun(const std::string &runDir, const Spec &spec,
                                                 TrainMode mode, const std::string &device,
                                                 TrainObserver *observer);

/// A stored run's trained network, loaded once from the checkpoint its state names, for looking
/// at single test images: each one's feature maps at every trained stage and each stage head's
/// prediction. One thread at a time; it may be used from another thread than the one that
/// opened it.
class RunImages
{
public:
    /// Sets up the run's data and device and loads its checkpoint (what probeRun does). Fails
    /// without throwing when the data cannot be read or the run has no finished stage.
    static Result<std::unique_ptr<RunImages>> open(const std::string &runDir, const Spec &spec,
                                                   TrainMode mode, const std::string &device);
    ~RunImages();
    RunImages(const RunImages &) = delete;
    RunImages &operator=(const RunImages &) = delete;

    /// Images in the run's test split (samples are 0..testImages()-1).
    std::int64_t testImages() const;
    /// Stages with trained weights (greedy: the finished ones; else all).
    int stages() const;
    /// Test image `sample` through every trained stage. Fails naming the valid range when
    /// `sample` is outside the test split, or naming the file when its image no longer decodes.
    Result<ImageThroughStages> image(std::int64_t sample);

private:
    RunImages();
    std::unique_ptr<Trainer::Impl> d;
    int m_stages = 0;
};

} // namespace lw
