#pragma once

// A run's lifecycle, the one implementation every front-end calls: the CLI, the GUI's session
// and (next) the workers of a multi-process run. Front-ends parse, wire and call:
//
//     RunService service(store);
//     auto job = service.create(request);          // or resume(id, exec), probe(id, exec)
//     if (!job) show(job.message());
//     (*job)->addObserver(&console);
//     auto summary = (*job)->execute();           // blocks: call it on a worker thread
//
// A job records into the store through its RunRecorder and reports every engine event to its
// observers through one ObserverFanOut.

#include "core/events/observer.h"
#include "core/spec/spec.h"
#include "core/train/trainer.h"
#include "core/util/result.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lw {

class DistGroup;
class RunStore;

/// A new run: from scratch, or a branch of a stored run.
struct NewRunRequest
{
    Spec spec; ///< with the recipe as it will train (front-ends apply their overrides first)
    TrainMode mode = TrainMode::Greedy;
    std::string name;     ///< empty: "<spec name> <mode>"
    std::string specName; ///< preset or file name; empty: the spec's name
    bool probes = false;  ///< probe every layer after its stage
    ExecOptions exec;
    /// Branch: stages 1..lockedStages come from `parentRun` (its checkpoint of stage
    /// lockedStages) and stay frozen; the others train greedily.
    std::optional<std::int64_t> parentRun;
    int lockedStages = 0;
    /// A state dict (core/train/initweights.h) whose stages 1..K replace the fresh weights before
    /// training; empty: none. Checked before anything is recorded. Not with a branch.
    std::string initFrom;
    std::vector<std::string> tags;
    std::string notes;
};

enum class JobKind { New, Resume, Probe, Pictures };

/// One run of the store, prepared (rows, folder, checks done) and ready to execute once.
/// pause(), resumeTraining() and cancel() are thread-safe and take effect between batches (a cancel
/// before training begins ends the job at once: a new run cancelled, a resumed one as it was).
class RunJob
{
public:
    ~RunJob();
    RunJob(const RunJob &) = delete;
    RunJob &operator=(const RunJob &) = delete;

    /// Adds an observer of the engine's events (after the store's recorder). Call before
    /// execute(); `observer` must outlive the job.
    void addObserver(TrainObserver *observer);

    /// Trains (or probes, or computes pictures) and records. Blocks; call once. A set-up failure
    /// (unreadable data, bad device) returns an Error and marks a training run failed in the store;
    /// a run that starts returns its summary (status Finished, Failed for a diverging loss,
    /// Cancelled).
    Result<RunSummary> execute();

    /// Rank 0 of a multi-process run joined after the job was prepared (the GUI joins on its
    /// worker thread, core/run/distsession.h): the group its training all-reduces over. Call
    /// before execute(), on the thread that executes. execute() lets go of the group as it
    /// returns, so the other ranks see the run end.
    void setDist(std::shared_ptr<DistGroup> group);
    /// The job will not execute (its ranks did not meet): a new run is marked failed with
    /// `message`, a resumed one is released as it was (still resumable). Call instead of
    /// execute().
    void abandon(const std::string &message);

    void pause();
    void resumeTraining();
    void cancel();
    bool paused() const;

    JobKind kind() const;
    std::int64_t runId() const;
    const std::string &name() const;
    const Spec &spec() const;
    TrainMode mode() const;
    /// -1 when the run is not a branch.
    std::int64_t parentRun() const;
    /// Stages taken from the parent (0 when not a branch).
    int lockedStages() const;
    /// Whether the run probes every layer after its stage (a resumed run: as it was created).
    bool probes() const;
    /// The run's folder (checkpoints).
    const std::string &folder() const;
    /// Writes to the store that failed while the run went on (shown as a warning); empty when
    /// every event was recorded.
    std::string storeError() const;

private:
    friend class RunService;
    struct Impl;
    explicit RunJob(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> d;
};

/// Prepares runs of one store. Every failure is an Error with a message a person can act on
/// (naming the run, the stage 1..N, the file), and leaves the store as it was.
class RunService
{
public:
    /// `store` must outlive the service and its jobs.
    explicit RunService(RunStore &store);

    /// Validates the spec (and the branch: greedy mode, the parent in the store, its stage
    /// checkpoint on disk, fewer locked stages than the spec has; the initial weights: a sound
    /// state dict of this spec's network), then records the run
    /// (`running`, its folder, for a branch the parent's results of the locked stages).
    Result<std::unique_ptr<RunJob>> create(const NewRunRequest &request);
    /// Continues stored run `id` from its last checkpoint, as it was made (mode, branch, probes:
    /// its stored probe rows stay and the remaining layers are probed). Fails when it is
    /// finished, recorded by another live process, or has no checkpoint yet.
    Result<std::unique_ptr<RunJob>> resume(std::int64_t id, const ExecOptions &exec);
    /// Linear-separability probes of every trained layer of stored run `id`, recorded in the
    /// store (an earlier probe of the same layer is replaced). Fails when it has no checkpoint.
    Result<std::unique_ptr<RunJob>> probe(std::int64_t id, const ExecOptions &exec);

    /// The pictures of every trained stage of stored run `id` (confusions, projection, filters,
    /// feature maps, hard errors), computed from its checkpoint, reported to the job's observers
    /// as each stage is done and recorded in the store (replacing earlier ones). Fails when it
    /// has no checkpoint.
    Result<std::unique_ptr<RunJob>> pictures(std::int64_t id, const ExecOptions &exec);

    /// Stored run `id`'s network loaded from its checkpoint, to show single test images through
    /// every trained stage (RunImages::image). Blocks while the data and the checkpoint load: call
    /// it off the GUI thread. Fails when the run is not in the store or has no checkpoint.
    Result<std::unique_ptr<RunImages>> images(std::int64_t id, const ExecOptions &exec);

    /// Why stored run `id` cannot be resumed, or empty when it can (for enabling actions).
    std::string resumeProblem(std::int64_t id) const;

private:
    /// resume and probe: a job on stored run `id` with its stored spec, mode and branch.
    Result<std::unique_ptr<RunJob>> storedRunJob(std::int64_t id, JobKind kind,
                                                 const ExecOptions &exec);

    RunStore &m_store;
};

} // namespace lw
