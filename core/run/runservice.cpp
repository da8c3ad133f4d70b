#include "core/run/runservice.h"

#include "core/dist/dist.h"
#include "core/run/distjob.h"
#include "core/run/runfolder.h"
#include "core/runtime/runtime.h"
#include "core/store/recorder.h"
#include "core/store/runstore.h"
#include "core/train/initweights.h"

#include <exception>
#include <filesystem>
#include <mutex>

namespace lw {

namespace {

std::string runName(std::int64_t id)
{
    return "run " + std::to_string(id);
}

TrainOptions trainOptions(const Spec &spec, TrainMode mode, const ExecOptions &exec,
                          const std::string &folder)
{
    TrainOptions o;
    static_cast<ExecOptions &>(o) = exec;
    o.spec = spec;
    o.mode = mode;
    o.runDir = folder;
    return o;
}

/// The memory training needs against the device's (the GPU's when it runs on CUDA and the CUDA
/// runtime can tell, else this machine's RAM), and the disk its checkpoints need against the
/// free space where they go (`folder`, or its nearest existing parent), before anything is
/// allocated or recorded. `stageFiles`: the whole-network checkpoints it keeps; `alreadyThere`:
/// what a resumed run has written so far.
Result<void> checkResources(const Spec &spec, const ExecOptions &exec, const std::string &folder,
                            int stageFiles, std::int64_t alreadyThere)
{
    const std::string device = resolveDevice(exec.device);
    std::int64_t gpuBytes = 0;
    if (device.rfind("cuda:", 0) == 0)
        gpuBytes = cudaDeviceMemoryBytes(std::stoi(device.substr(5)));
    if (auto fits
        = gpuBytes > 0 ? checkTrainingFits(spec, gpuBytes, device) : checkTrainingFits(spec);
        !fits)
        return fits.error();
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path at = fs::absolute(folder, ec);
    while (!ec && !at.empty() && !fs::exists(at, ec) && at.has_parent_path()
           && at.parent_path() != at)
        at = at.parent_path();
    const auto space = fs::space(at, ec);
    const std::int64_t freeBytes = ec ? -1 : static_cast<std::int64_t>(space.available);
    return checkCheckpointsFit(spec, stageFiles, freeBytes, at.string(), alreadyThere);
}

/// Bytes of the regular files directly in `folder` (a run's checkpoints and state).
std::int64_t filesBytes(const std::string &folder)
{
    namespace fs = std::filesystem;
    std::int64_t total = 0;
    std::error_code ec;
    for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec))
        if (it->is_regular_file(ec) && !it->is_symlink(ec))
            total += static_cast<std::int64_t>(it->file_size(ec));
    return total;
}

} // namespace

struct RunJob::Impl
{
    RunStore &store;
    JobKind kind = JobKind::New;
    std::int64_t runId = -1;
    std::string name;
    TrainMode mode = TrainMode::Greedy;
    std::int64_t parentRun = -1;
    int lockedStages = 0;
    TrainOptions options;
    std::vector<std::string> warnings; ///< found while preparing, logged when the run starts
    RunRecorder recorder;
    ObserverFanOut fanOut;
    std::unique_ptr<Trainer> trainer; ///< training jobs; probes run without one
    /// Guards `trainer` (made and released on the executing thread) against pause() and
    /// cancel() from others; a cancel before the trainer exists waits in cancelRequested.
    std::mutex control;
    bool cancelRequested = false;
    bool executed = false;

    Impl(RunStore &s, std::int64_t id)
        : store(s)
        , runId(id)
        , recorder(s, id)
    {
        fanOut.add(&recorder);
    }

    Result<RunSummary> train()
    {
        {
            std::lock_guard lock(control);
            if (cancelRequested)
                return stoppedBeforeStart();
            trainer = std::make_unique<Trainer>(options, &fanOut);
        }
        for (const auto &w : warnings)
            fanOut.log(LogLevel::Warning, w);
        if (options.dist && options.dist->rank() == 0 && options.dist->world() > 1)
            if (auto r = publishDistJob(*options.dist, options, kind == JobKind::Resume); !r)
                fanOut.log(LogLevel::Error, r.message());
        Result<RunSummary> result = kind == JobKind::Resume ? trainer->resume() : trainer->run();
        // Set-up failures end before any event. A new run that never started is failed; a
        // stored run that could not resume (a damaged checkpoint, missing data) stays as it was,
        // so it can be resumed once the cause is fixed.
        if (!result && kind != JobKind::Resume)
            (void)store.setStatus(runId, RunStatus::Failed, result.message());
        else if (!result)
            store.releaseRun(runId);
        (void)recorder.flush();
        return result;
    }

    /// cancel() came before training began (the trainer clears its flag as it starts): nothing
    /// trains; a new run is cancelled, a resumed one stays as it was; the other ranks of a
    /// multi-process run are told.
    RunSummary stoppedBeforeStart()
    {
        const std::string why = "stopped before training began";
        if (options.dist && options.dist->rank() == 0 && options.dist->world() > 1)
            (void)publishDistAbort(*options.dist, why);
        if (kind == JobKind::New)
            (void)store.setStatus(runId, RunStatus::Cancelled, why);
        else
            store.releaseRun(runId);
        RunSummary summary;
        summary.status = RunStatus::Cancelled;
        summary.message = why;
        return summary;
    }

    /// The job is over: the trainer goes and, for rank 0 of a multi-process run, the last hold
    /// on the process group with it, so that the other ranks see the run end.
    void release()
    {
        {
            std::lock_guard lock(control);
            trainer.reset();
        }
        options.dist.reset();
    }

    Result<RunSummary> probe()
    {
        configureRuntime(options.threads);
        auto probes = probeRun(options.runDir, options.spec, mode, options.device, &fanOut);
        if (!probes)
            return fail(runName(runId) + ": " + probes.message());
        RunSummary summary;
        summary.status = RunStatus::Finished;
        summary.probes = std::move(*probes);
        return summary;
    }

    Result<RunSummary> pictures()
    {
        configureRuntime(options.threads);
        auto pics = picturesOfRun(options.runDir, options.spec, mode, options.device, &fanOut);
        if (!pics)
            return fail(runName(runId) + ": " + pics.message());
        if (auto error = recorder.lastError())
            return fail(runName(runId) + ": the pictures were not stored: " + error->message);
        RunSummary summary;
        summary.status = RunStatus::Finished;
        return summary;
    }
};

RunJob::RunJob(std::unique_ptr<Impl> impl)
    : d(std::move(impl))
{}

RunJob::~RunJob() = default;

void RunJob::addObserver(TrainObserver *observer)
{
    d->fanOut.add(observer);
}

Result<RunSummary> RunJob::execute()
{
    if (d->executed)
        return fail(runName(d->runId) + ": this job has already run");
    d->executed = true;
    Result<RunSummary> result = [&]() -> Result<RunSummary> {
        try {
            switch (d->kind) {
            case JobKind::Probe: return d->probe();
            case JobKind::Pictures: return d->pictures();
            default: return d->train();
            }
        } catch (const std::exception &e) {
            const std::string message = std::string("training failed: ") + e.what();
            if (d->kind == JobKind::New || d->kind == JobKind::Resume)
                (void)d->store.setStatus(d->runId, RunStatus::Failed, message);
            return fail(message);
        }
    }();
    d->release();
    return result;
}

void RunJob::setDist(std::shared_ptr<DistGroup> group)
{
    d->options.dist = std::move(group);
}

void RunJob::abandon(const std::string &message)
{
    if (d->executed)
        return;
    d->executed = true;
    if (d->kind == JobKind::New)
        (void)d->store.setStatus(d->runId, RunStatus::Failed, message);
    else if (d->kind == JobKind::Resume)
        d->store.releaseRun(d->runId);
    d->release();
}

void RunJob::pause()
{
    {
        std::lock_guard lock(d->control);
        if (!d->trainer)
            return;
        d->trainer->pause();
    }
    (void)d->store.setPaused(d->runId, true); // readers show it paused, not running
}

void RunJob::resumeTraining()
{
    {
        std::lock_guard lock(d->control);
        if (!d->trainer)
            return;
        d->trainer->resumeTraining();
    }
    (void)d->store.setPaused(d->runId, false);
}

void RunJob::cancel()
{
    std::lock_guard lock(d->control);
    d->cancelRequested = true;
    if (d->trainer)
        d->trainer->cancel();
}

bool RunJob::paused() const
{
    std::lock_guard lock(d->control);
    return d->trainer && d->trainer->paused();
}

JobKind RunJob::kind() const
{
    return d->kind;
}

std::int64_t RunJob::runId() const
{
    return d->runId;
}

const std::string &RunJob::name() const
{
    return d->name;
}

const Spec &RunJob::spec() const
{
    return d->options.spec;
}

TrainMode RunJob::mode() const
{
    return d->mode;
}

std::int64_t RunJob::parentRun() const
{
    return d->parentRun;
}

int RunJob::lockedStages() const
{
    return d->lockedStages;
}

bool RunJob::probes() const
{
    return d->options.probes;
}

const std::string &RunJob::folder() const
{
    return d->options.runDir;
}

std::string RunJob::storeError() const
{
    return d->recorder.ok() ? std::string() : d->recorder.lastError()->message;
}

// ---------------------------------------------------------------------------------------------

RunService::RunService(RunStore &store)
    : m_store(store)
{}

Result<std::unique_ptr<RunJob>> RunService::create(const NewRunRequest &request)
{
    const Spec &spec = request.spec;
    if (auto issues = validateSpec(spec); !issues.empty()) {
        std::string message = "the spec is invalid:";
        for (const auto &issue : issues)
            message += "\n  " + issue.toString();
        return fail(message);
    }
    const int stages = static_cast<int>(spec.stages.size());
    const int stageFiles = request.mode == TrainMode::Greedy
                               ? stages - (request.parentRun ? request.lockedStages : 0)
                               : 0;
    if (auto fits = checkResources(spec, request.exec, m_store.runsRoot(), stageFiles, 0); !fits)
        return fits.error();
    std::string parentFolder;
    if (request.parentRun) {
        const std::int64_t parent = *request.parentRun;
        const int k = request.lockedStages;
        if (request.mode != TrainMode::Greedy)
            return fail("a branch of " + runName(parent) + " trains greedily (stages "
                        + std::to_string(k + 1) + ".. on top of its frozen stages); "
                        + modeLabel(request.mode) + " runs cannot branch; choose mode greedy");
        if (k < 1 || k >= stages)
            return fail("cannot keep " + std::to_string(k) + " stages of " + runName(parent)
                        + ": expected 1 to " + std::to_string(stages - 1) + " (the spec has "
                        + std::to_string(stages) + " stages and at least one must be trained)");
        if (auto detail = m_store.getRun(parent); !detail)
            return fail("cannot branch: " + detail.message());
        RunFolder folder(m_store.runDir(parent));
        if (!folder.hasStageCheckpoint(k - 1))
            return fail("cannot branch from " + runName(parent) + ": its checkpoint of stage "
                        + std::to_string(k) + " is missing (" + folder.stageCheckpointPath(k - 1)
                        + "); " + runName(parent) + " must have finished stage "
                        + std::to_string(k));
        parentFolder = folder.path();
    }
    if (!request.initFrom.empty()) {
        if (request.parentRun)
            return fail("initial weights from '" + request.initFrom + "' and a branch of "
                        + runName(*request.parentRun)
                        + " exclude each other: a branch takes its first stages from its parent");
        if (auto held = checkInitWeights(request.initFrom, spec); !held)
            return fail("initial weights: " + held.message());
    }

    NewRun nr;
    nr.name = request.name.empty() ? (spec.name.empty() ? std::string("run") : spec.name) + " "
                                         + toString(request.mode)
                                   : request.name;
    nr.mode = request.mode;
    nr.specJson = serializeSpec(spec);
    nr.recipeJson = serializeRecipe(spec.recipe);
    nr.specName = request.specName.empty() ? spec.name : request.specName;
    nr.dataset = spec.recipe.dataset.name;
    nr.device = request.exec.device;
    nr.seed = static_cast<std::int64_t>(spec.recipe.seed);
    nr.torchVersion = runtimeInfo().torchVersion;
    nr.stages = stages;
    nr.tags = request.tags;
    nr.notes = request.notes;
    nr.probes = request.probes;
    if (request.parentRun) {
        nr.parentRun = request.parentRun;
        nr.branchStage = request.lockedStages;
    }
    if (auto costs = summarizeSpec(spec)) {
        nr.params = costs->totalParams;
        nr.macs = costs->totalMacs;
    }
    auto id = m_store.createRun(nr);
    if (!id)
        return id.error();

    auto impl = std::make_unique<RunJob::Impl>(m_store, *id);
    impl->kind = JobKind::New;
    impl->name = nr.name;
    impl->mode = request.mode;
    impl->options = trainOptions(spec, request.mode, request.exec, m_store.runDir(*id));
    impl->options.probes = request.probes;
    impl->options.initFrom = request.initFrom;
    if (request.parentRun) {
        impl->parentRun = *request.parentRun;
        impl->lockedStages = request.lockedStages;
        impl->options.branchFrom = parentFolder;
        impl->options.lockedStages = request.lockedStages;
        // The locked stages are the parent's blocks and heads: so are their results.
        if (auto r = m_store.inheritStages(*request.parentRun, *id, request.lockedStages); !r)
            impl->warnings.push_back("the results of the stages taken from "
                                     + runName(*request.parentRun)
                                     + " were not copied: " + r.message());
    }
    return std::unique_ptr<RunJob>(new RunJob(std::move(impl)));
}

std::string RunService::resumeProblem(std::int64_t id) const
{
    auto detail = m_store.getRun(id);
    if (!detail)
        return detail.message();
    if (detail->run.status == RunStatus::Finished)
        return runName(id) + " is finished; there is nothing to resume";
    if (m_store.isLive(id))
        return runName(id) + " is being trained by another process";
    RunFolder folder(m_store.runDir(id));
    if (!folder.hasState())
        return runName(id) + " has no checkpoint yet (" + folder.statePath()
               + "); start it again instead";
    return {};
}

Result<std::unique_ptr<RunJob>> RunService::resume(std::int64_t id, const ExecOptions &exec)
{
    if (std::string problem = resumeProblem(id); !problem.empty())
        return fail(problem);
    return storedRunJob(id, JobKind::Resume, exec);
}

Result<std::unique_ptr<RunJob>> RunService::probe(std::int64_t id, const ExecOptions &exec)
{
    return storedRunJob(id, JobKind::Probe, exec);
}

Result<std::unique_ptr<RunJob>> RunService::pictures(std::int64_t id, const ExecOptions &exec)
{
    return storedRunJob(id, JobKind::Pictures, exec);
}

Result<std::unique_ptr<RunImages>> RunService::images(std::int64_t id, const ExecOptions &exec)
{
    auto detail = m_store.getRun(id);
    if (!detail)
        return detail.error();
    auto spec = parseSpec(detail->specJson);
    if (!spec)
        return fail(runName(id) + ": its stored spec is invalid: " + spec.message());
    RunFolder folder(m_store.runDir(id));
    if (!folder.hasState())
        return fail(runName(id) + " has no checkpoint to look at images with (" + folder.statePath()
                    + ")");
    configureRuntime(exec.threads);
    auto images = RunImages::open(folder.path(), *spec, detail->run.mode, exec.device);
    if (!images)
        return fail(runName(id) + ": " + images.message());
    return images;
}

Result<std::unique_ptr<RunJob>> RunService::storedRunJob(std::int64_t id, JobKind kind,
                                                         const ExecOptions &exec)
{
    auto detail = m_store.getRun(id);
    if (!detail)
        return detail.error();
    auto spec = parseSpec(detail->specJson);
    if (!spec)
        return fail(runName(id) + ": its stored spec is invalid: " + spec.message());
    if (kind == JobKind::Resume) {
        const int stages = static_cast<int>(spec->stages.size());
        const int stageFiles = detail->run.mode == TrainMode::Greedy
                                   ? stages - (detail->run.parentRun ? detail->run.branchStage : 0)
                                   : 0;
        const std::string dir = m_store.runDir(id);
        if (auto fits = checkResources(*spec, exec, dir, stageFiles, filesBytes(dir)); !fits)
            return fail(runName(id) + ": " + fits.message());
        if (auto claimed = m_store.claimRun(id); !claimed) // one recording process per run
            return fail(runName(id) + ": " + claimed.message());
    }
    RunFolder folder(m_store.runDir(id));
    if (kind == JobKind::Probe && !folder.hasState())
        return fail(runName(id) + " has no checkpoint to probe (" + folder.statePath() + ")");
    if (kind == JobKind::Pictures && !folder.hasState())
        return fail(runName(id) + " has no checkpoint to draw pictures from (" + folder.statePath()
                    + ")");
    auto impl = std::make_unique<RunJob::Impl>(m_store, id);
    impl->kind = kind;
    impl->name = detail->run.name;
    impl->mode = detail->run.mode;
    impl->parentRun = detail->run.parentRun.value_or(-1);
    impl->lockedStages = detail->run.parentRun ? detail->run.branchStage : 0;
    impl->options = trainOptions(*spec, detail->run.mode, exec, folder.path());
    impl->options.probes = detail->run.probes; // a resumed run goes on as it was
    if (kind == JobKind::Resume)
        impl->options.elapsedBefore = detail->run.wallSeconds; // active time at the stop
    if (kind == JobKind::Probe || kind == JobKind::Pictures)
        impl->options.cache = FeatureCache::Off;
    return std::unique_ptr<RunJob>(new RunJob(std::move(impl)));
}

} // namespace lw
