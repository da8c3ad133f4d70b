// layerwise-cli train / resume / probe: parse the flags, ask core's RunService for a job, attach
// the console and run it. The run's lifecycle itself lives in core/run.

#include "app/cli/commands.h"
#include "app/cli/console.h"
#include "app/cli/distlaunch.h"
#include "app/cli/flags.h"
#include "app/cli/table.h"

#include "core/dist/dist.h"
#include "core/run/runservice.h"
#include "core/store/runstore.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>

namespace lw::cli {

namespace {

struct ExecArgs
{
    std::string device = "auto", db;
    int threads = 0;
    bool jsonOut = false;
    DistArgs dist; ///< train and resume: one run over several processes
    std::string placement = "data";
    int replayBuffer = 0; ///< pipeline placement: the asynchronous variant's buffer, in batches
};

struct TrainArgs : ExecArgs
{
    std::string preset, specFile, mode = "greedy", dataset, data, augment, precision, syncBn,
                                  cache = "auto", name, initFrom;
    int epochsPerStage = 0, epochs = 0, batch = 0;
    double lr = 0;
    std::int64_t trainLimit = -1, testLimit = -1, seed = -1;
    std::int64_t branchFrom = -1; ///< parent run id ("branch from stage k"), -1: none
    int lockedStages = 0;
    bool probes = false;
};

struct RunArgs : ExecArgs
{
    std::int64_t id = 0;
};

/// The engine says what to give in plain words; the CLI names its flag for it.
std::string cliWords(std::string message)
{
    const struct
    {
        const char *engine;
        const char *flag;
    } words[] = {{"give the dataset's folder", " (--data FOLDER)"},
                 {"turn the feature cache off", " (--cache-features off)"}};
    for (const auto &w : words)
        if (auto at = message.find(w.engine); at != std::string::npos)
            message.insert(at + std::string(w.engine).size(), w.flag);
    return message;
}

int report(const std::string &message, int code = ExitBadInput)
{
    std::fprintf(stderr, "layerwise-cli: %s\n",
                 printable(cliWords(message), /*multiline=*/true).c_str());
    return code;
}

/// The recipe as the flags change it.
void applyOverrides(const TrainArgs &a, RecipeSpec &r)
{
    if (!a.dataset.empty())
        r.dataset.name = a.dataset;
    if (!a.data.empty())
        r.dataset.path = std::filesystem::absolute(a.data).string();
    if (a.epochsPerStage > 0)
        r.epochsPerStage = a.epochsPerStage;
    if (a.epochs > 0)
        r.e2e.epochs = a.epochs;
    if (a.batch > 0)
        r.batchSize = a.batch;
    if (a.lr > 0) {
        r.lr.initial = a.lr;
        r.e2e.lr.initial = a.lr;
    }
    if (!a.augment.empty())
        r.augment.enabled = a.augment == "on";
    if (!a.precision.empty())
        r.precision = a.precision;
    if (!a.syncBn.empty())
        r.syncBn = a.syncBn == "on";
    if (a.trainLimit >= 0)
        r.dataset.trainLimit = a.trainLimit;
    if (a.testLimit >= 0)
        r.dataset.testLimit = a.testLimit;
    if (a.seed >= 0)
        r.seed = static_cast<std::uint64_t>(a.seed);
}

ExecOptions execOptions(const ExecArgs &a)
{
    ExecOptions exec;
    exec.device = a.device;
    exec.threads = a.threads;
    exec.placement = *parsePlacement(a.placement); // CLI11 checked the choice
    exec.replayBuffer = a.replayBuffer;
    return exec;
}

/// Runs a prepared job with the console attached and prints its outcome.
int execute(RunJob &job, const ExecArgs &a)
{
    ConsoleObserver console(static_cast<int>(job.spec().stages.size()),
                            job.spec().recipe.epochsPerStage);
    job.addObserver(&console);
    Result<RunSummary> result = [&] {
        InterruptGuard guard(job);
        return job.execute();
    }();
    if (!result)
        return report(result.message());
    if (std::string warning = job.storeError(); !warning.empty())
        std::fprintf(stderr, "warning: the run store missed some writes: %s\n",
                     printable(warning, /*multiline=*/true).c_str());
    if (job.kind() == JobKind::Probe) {
        printProbes(job.runId(), *result, a.jsonOut);
        return ExitOk;
    }
    printSummary(job.runId(), job.mode(), *result, a.jsonOut);
    if (result->status == RunStatus::Cancelled || result->status == RunStatus::Interrupted)
        std::fprintf(stderr, "resume with: layerwise-cli resume %lld\n",
                     static_cast<long long>(job.runId()));
    return result->status == RunStatus::Finished ? ExitOk : ExitFailure;
}

/// A new run, prepared by rank 0 (or the one process) through the run service.
int trainNew(const TrainArgs &a, const NewRunRequest &request, DistSession &dist)
{
    auto store = RunStore::open(RunStore::resolvePath(a.db));
    if (!store) {
        dist.abort(store.message());
        return report(store.message());
    }
    auto job = RunService(**store).create(request);
    if (!job) {
        dist.abort(job.message());
        if (a.branchFrom >= 0)
            return report("--branch-from " + std::to_string(a.branchFrom) + " --locked-stages "
                          + std::to_string(a.lockedStages) + ": " + job.message());
        return report(job.message());
    }
    std::fprintf(stderr, "run %lld: %s\n", static_cast<long long>((*job)->runId()),
                 printable((*job)->folder()).c_str());
    if (a.branchFrom >= 0)
        std::fprintf(stderr, "branch of run %lld: stages 1..%d taken from it and frozen\n",
                     static_cast<long long>(a.branchFrom), a.lockedStages);
    return execute(**job, a);
}

/// The world size a run will have: torchrun's WORLD_SIZE, else --nproc.
int worldSizeOf(const DistArgs &dist)
{
    if (auto env = distConfigFromEnv(); env && *env)
        return (*env)->world;
    return dist.nproc;
}

int train(const TrainArgs &a)
{
    Result<Spec> loaded = a.preset.empty() ? loadSpecFile(a.specFile) : loadPreset(a.preset);
    if (!loaded)
        return report(loaded.message());
    NewRunRequest request;
    request.spec = std::move(*loaded);
    applyOverrides(a, request.spec.recipe);
    if (a.epochsPerStage > 0 || a.epochs > 0) {
        // Fewer epochs than the recipe's schedule: its later milestones cannot apply; say so.
        if (const std::string dropped = dropMilestonesPastEnd(request.spec); !dropped.empty())
            std::fprintf(stderr, "layerwise-cli: warning: %s (--epochs-per-stage/--epochs)\n",
                         dropped.c_str());
    }
    request.mode = *parseTrainMode(a.mode); // CLI11 checked the choice
    request.name = a.name;
    request.specName
        = a.preset.empty() ? std::filesystem::path(a.specFile).filename().string() : a.preset;
    request.probes = a.probes;
    request.exec = execOptions(a);
    request.exec.cache = a.cache == "on"    ? FeatureCache::On
                         : a.cache == "off" ? FeatureCache::Off
                                            : FeatureCache::Auto;
    if (a.branchFrom >= 0) {
        request.parentRun = a.branchFrom;
        request.lockedStages = a.lockedStages;
    }
    if (!a.initFrom.empty())
        request.initFrom = std::filesystem::absolute(a.initFrom).string();
    // The processes a pipeline needs are known before any starts: say so before launching.
    if (auto fits = checkPlacement(request.spec, request.mode, request.exec.placement,
                                   worldSizeOf(a.dist), request.exec.replayBuffer);
        !fits)
        return report((a.replayBuffer > 0 && a.placement != "pipeline"
                           ? "--replay-buffer " + std::to_string(a.replayBuffer)
                           : "--placement " + a.placement)
                      + ": " + fits.message());
    auto dist = DistSession::begin(distLaunch(a.dist), a.device);
    if (!dist)
        return report(dist.message());
    if ((*dist)->worker()) // ranks 1..N-1 train what rank 0 prepared and touch no store
        return workerMain(**dist, request.exec);
    request.exec.dist = (*dist)->group();
    const int code = trainNew(a, request, **dist);
    return finishDist(**dist, code, code == ExitOk);
}

/// resume and probe of a stored run, by id, prepared by rank 0 (or the one process).
int storedJob(const RunArgs &a, JobKind kind, const ExecOptions &exec, DistSession &dist)
{
    auto store = RunStore::open(RunStore::resolvePath(a.db));
    if (!store) {
        dist.abort(store.message());
        return report(store.message());
    }
    RunService service(**store);
    auto job = kind == JobKind::Resume ? service.resume(a.id, exec) : service.probe(a.id, exec);
    if (!job) {
        dist.abort(job.message());
        return report(job.message());
    }
    return execute(**job, a);
}

int stored(const RunArgs &a, JobKind kind)
{
    ExecOptions exec = execOptions(a);
    auto dist
        = DistSession::begin(distLaunch(kind == JobKind::Resume ? a.dist : DistArgs{}), a.device);
    if (!dist)
        return report(dist.message());
    if ((*dist)->worker())
        return workerMain(**dist, exec);
    exec.dist = (*dist)->group();
    const int code = storedJob(a, kind, exec, **dist);
    return finishDist(**dist, code, code == ExitOk);
}

/// `worker`: rank 1..N-1 of a run another process launched (the GUI), from the environment.
int worker(const ExecArgs &a)
{
    auto env = distConfigFromEnv();
    if (!env)
        return report(env.message());
    if (!*env || (*env)->rank == 0)
        return report("worker: this process is not a rank 1..N-1 of a multi-process run: its "
                      "launcher sets RANK (1 or more), WORLD_SIZE, MASTER_ADDR and MASTER_PORT "
                      "(to train, use `train`; for several processes, `train --nproc N`)");
    auto dist = DistSession::begin(distLaunch(a.dist), a.device);
    if (!dist)
        return report(dist.message());
    return workerMain(**dist, execOptions(a));
}

void addPlacementOption(CLI::App *cmd, ExecArgs &a)
{
    cmd->add_option("--placement", a.placement,
                    "data | pipeline: how a multi-process run shares its work; pipeline (with "
                    "--mode dgl) puts stage j on process j, one process per stage")
        ->check(CLI::IsMember({"data", "pipeline"}))
        ->capture_default_str();
    cmd->add_option("--replay-buffer", a.replayBuffer,
                    "With --placement pipeline: M > 0 makes it asynchronous (DGL's replay "
                    "buffer): each stage above the first keeps the last M batches it received "
                    "and trains on one drawn at random, without waiting for the stage below; 0: "
                    "synchronous, each batch once")
        ->check(integerIn(0, kMaxReplayBuffer))
        ->capture_default_str();
}

void addExecOptions(CLI::App *cmd, ExecArgs &a)
{
    cmd->add_option("--device", a.device, "auto | cpu | cuda | cuda:N")->capture_default_str();
    cmd->add_option("--threads", a.threads, "CPU threads (default: all cores)")
        ->check(threadCount());
    cmd->add_option("--db", a.db,
                    "Run store (default: $LAYERWISE_DB or ~/.local/share/layerwise/runs.sqlite)");
}

void registerStored(CLI::App &app, Context &ctx, const char *name, const char *help, JobKind kind,
                    const char *jsonHelp)
{
    auto args = std::make_shared<RunArgs>();
    auto *cmd = app.add_subcommand(name, help);
    cmd->add_option("id", args->id, "Run id")->required()->check(integerIn(1));
    addExecOptions(cmd, *args);
    if (kind == JobKind::Resume) {
        addDistOptions(cmd, args->dist);
        addPlacementOption(cmd, *args);
    }
    cmd->add_flag("--json", args->jsonOut, jsonHelp);
    cmd->callback([args, kind, &ctx] { ctx.exitCode = stored(*args, kind); });
}

} // namespace

void registerTrain(CLI::App &app, Context &ctx)
{
    auto args = std::make_shared<TrainArgs>();
    auto *cmd
        = app.add_subcommand("train", "Train a spec or preset (greedy layerwise, end-to-end or "
                                      "decoupled), recording the run in the run store");
    auto *preset = cmd->add_option("--preset", args->preset, "A shipped preset (see `presets`)");
    auto *spec
        = cmd->add_option("--spec", args->specFile, "A spec JSON file")->check(CLI::ExistingFile);
    preset->excludes(spec);
    cmd->add_option("--mode", args->mode, "greedy | e2e | dgl")
        ->check(CLI::IsMember({"greedy", "e2e", "dgl"}))
        ->capture_default_str();
    cmd->add_option(
        "--dataset", args->dataset,
        "fashion-mnist | mnist | kmnist | cifar10 | cifar100 | imagefolder | synthetic");
    cmd->add_option("--data", args->data, "Folder holding the dataset's files (or its parent)");
    cmd->add_option("--epochs-per-stage", args->epochsPerStage, "Epochs per greedy/DGL stage")
        ->check(integerIn(1, SpecLimits::maxEpochs));
    cmd->add_option("--epochs", args->epochs, "Epochs of an end-to-end run")
        ->check(integerIn(1, SpecLimits::maxEpochs));
    cmd->add_option("--batch", args->batch, "Training batch size")
        ->check(integerIn(1, SpecLimits::maxBatch));
    cmd->add_option("--lr", args->lr, "Initial learning rate")
        ->check(numberIn(0.0, SpecLimits::maxLr, /*lowOpen=*/true));
    cmd->add_option("--augment", args->augment, "on | off (default: the recipe's)")
        ->check(CLI::IsMember({"on", "off"}));
    cmd->add_option("--precision", args->precision,
                    "fp32 | bf16 | fp16 (default: the recipe's): bf16 autocast on CUDA and on "
                    "CPUs with bf16 instructions (AMX, AVX512-BF16); fp16 on CUDA only")
        ->check(CLI::IsMember({"fp32", "bf16", "fp16"}));
    cmd->add_option("--sync-bn", args->syncBn,
                    "on | off (default: the recipe's): with --nproc N (data placement), BatchNorm "
                    "normalizes with the statistics of the global batch (SyncBatchNorm)")
        ->check(CLI::IsMember({"on", "off"}));
    cmd->add_option("--cache-features", args->cache,
                    "auto | on | off: train stage j on cached outputs of the frozen prefix")
        ->check(CLI::IsMember({"auto", "on", "off"}))
        ->capture_default_str();
    cmd->add_option("--train-limit", args->trainLimit, "Seeded class-balanced training subset size")
        ->check(integerIn(0));
    cmd->add_option("--test-limit", args->testLimit, "Seeded class-balanced test subset size")
        ->check(integerIn(0));
    cmd->add_flag("--probes", args->probes,
                  "Linear-separability probe of each layer after its stage");
    addExecOptions(cmd, *args);
    addDistOptions(cmd, args->dist);
    addPlacementOption(cmd, *args);
    cmd->add_option("--seed", args->seed, "Seed (default: the recipe's)")->check(integerIn(0));
    cmd->add_option("--name", args->name, "Run name");
    auto *branchFrom
        = cmd->add_option("--branch-from", args->branchFrom,
                          "Branch from a stored run: keep its first --locked-stages stages "
                          "frozen and train the rest (greedy only)")
              ->check(integerIn(1));
    auto *locked = cmd->add_option("--locked-stages", args->lockedStages,
                                   "How many stages of the --branch-from run to keep (k >= 1: "
                                   "stages 1..k as that run finished stage k)")
                       ->check(integerIn(1, SpecLimits::maxStages - 1));
    branchFrom->needs(locked);
    locked->needs(branchFrom);
    cmd->add_option("--init-from", args->initFrom,
                    "Start from the weights of a state dict (`export --format pytorch`): its "
                    "stages 1..K replace the fresh ones, then the run trains as usual")
        ->excludes(branchFrom);
    cmd->add_flag("--json", args->jsonOut, "Print the outcome as one JSON object on stdout");
    cmd->callback([args, &ctx] {
        if (args->preset.empty() && args->specFile.empty())
            throw CLI::RequiredError("--preset or --spec");
        ctx.exitCode = train(*args);
    });

    auto workerArgs = std::make_shared<ExecArgs>();
    auto *workerCmd = app.add_subcommand(
        "worker", "Rank 1..N-1 of a multi-process run launched by another process (the GUI's "
                  "Processes field starts these): joins it through RANK, WORLD_SIZE, MASTER_ADDR "
                  "and MASTER_PORT and trains what rank 0 publishes, writing nothing");
    workerCmd->add_option("--device", workerArgs->device, "auto | cpu | cuda | cuda:N")
        ->capture_default_str();
    workerCmd
        ->add_option("--threads", workerArgs->threads, "CPU threads (default: cores / local ranks)")
        ->check(threadCount());
    workerCmd
        ->add_option("--dist-timeout", workerArgs->dist.timeoutSeconds,
                     "Seconds to wait for a rank that died or hangs (default 120)")
        ->check(integerIn(1, 86400));
    workerCmd
        ->add_option("--backend", workerArgs->dist.backend,
                     "gloo | nccl (default: from the device)")
        ->check(CLI::IsMember({"gloo", "nccl"}));
    workerCmd->callback([workerArgs, &ctx] { ctx.exitCode = worker(*workerArgs); });

    registerStored(app, ctx, "resume",
                   "Continue an interrupted or cancelled run from its last checkpoint",
                   JobKind::Resume, "Print the outcome as one JSON object on stdout");
    registerStored(app, ctx, "probe", "Linear-separability probes of every layer of a stored run",
                   JobKind::Probe, "Print the probes as JSON");
}

} // namespace lw::cli
