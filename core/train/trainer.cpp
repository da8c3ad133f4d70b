// The public face of Trainer (run, resume, pause, cancel, probeRun) and the engine's set-up and
// course of a run: device, precision, data, network and feature-cache choice, the run state read
// on resume, branching, and the hand-off to the training mode.
#include "core/runtime/runtime.h"
#include "core/train/trainer_p.h"
#include "core/train/weights_p.h"
#include "core/util/format.h"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include <numeric>
#include <sstream>
#include <thread>

namespace lw {

using detail::Stop;
using json = nlohmann::json;

Trainer::Impl::Impl(TrainOptions o, TrainObserver *observer)
    : opt(std::move(o))
    , folder(opt.runDir)
    , obs(observer)
{
    if (!obs)
        obs = &nullObserver;
}

void Trainer::Impl::checkControls()
{
    if (pauseFlag.load()) {
        const auto pausedAt = Clock::now();
        std::unique_lock lock(pauseMutex);
        pauseCv.wait(lock, [&] { return !pauseFlag.load() || cancelFlag.load(); });
        pausedFor += Clock::now() - pausedAt;
    }
    if (cancelFlag.load())
        throw Stop{RunStatus::Cancelled, "cancelled; resume continues from the last checkpoint"};
}

Result<void> Trainer::Impl::setUp()
{
    // Ranks on one machine share its cores.
    const int localRanks = opt.dist ? std::max(1, opt.dist->config().localWorld) : 1;
    configureRuntime(opt.threads > 0 || localRanks == 1
                         ? opt.threads
                         : std::max(1, int(std::thread::hardware_concurrency()) / localRanks));
    if (auto issues = validateSpec(spec); !issues.empty()) {
        std::string msg = "the spec is invalid:";
        for (const auto &i : issues)
            msg += "\n  " + i.toString();
        return fail(msg);
    }
    auto summaryResult = summarizeSpec(spec);
    if (!summaryResult)
        return summaryResult.error();
    costs = *summaryResult;

    std::string deviceError;
    const std::string dev = resolveDevice(opt.device, &deviceError);
    if (dev.empty())
        return fail(deviceError);
    device = torch::Device(dev);
    cuda = device.is_cuda();
    channelsLast = !cuda; // measured: 20-25% faster for small-input CPU stages
    const auto &prec = spec.recipe.precision;
    if (prec == "fp16" && !cuda) {
        log(LogLevel::Warning, "precision fp16 needs CUDA (autocast on the CPU is bf16 only): "
                               "training in fp32 on the CPU; bf16 is the CPU's mixed precision");
    } else if (prec != "fp32") {
        amp = true;
        ampType = prec == "fp16" ? at::kHalf : at::kBFloat16;
        if (!cuda) {
            const std::string isa = cpuBf16Instructions();
            if (isa.empty())
                log(LogLevel::Warning,
                    "precision bf16 on a CPU without bf16 instructions (AMX, AVX512-BF16): "
                    "autocast converts in software and trains slower than fp32");
            else
                log(LogLevel::Info, "precision bf16: autocast on the CPU (" + isa + ")");
        }
    }

    DatasetOptions dopt = datasetOptionsFor(spec);
    dopt.log = [this](LogLevel level, const std::string &text) {
        log(level, text);
    };
    auto ds = data::Dataset::open(dopt);
    if (!ds)
        return ds.error();
    dataset = *ds;
    const auto &info = dataset->info();
    if (info.classes > spec.input.classes)
        return fail("the dataset has " + std::to_string(info.classes)
                    + " classes but the spec's input.classes is "
                    + std::to_string(spec.input.classes));
    if (info.channels != spec.input.channels && !(info.channels == 1 && spec.input.channels == 3))
        return fail("the dataset has " + std::to_string(info.channels)
                    + "-channel images but the spec expects input.channels = "
                    + std::to_string(spec.input.channels));
    const auto &aug = spec.recipe.augment;
    if (auto shape = checkInputShape(info, spec.input.height, spec.input.width,
                                     (aug.enabled && aug.randomResizedCrop) || aug.evalResize > 0);
        !shape)
        return shape.error();

    const auto &norm = spec.recipe.normalize;
    if (norm.fromData) {
        auto stats = data::channelStats(*dataset->train());
        mean = stats.first;
        stdev = stats.second;
        while (static_cast<int>(mean.size()) < spec.input.channels) {
            mean.push_back(mean.back());
            stdev.push_back(stdev.back());
        }
        std::ostringstream ss;
        ss << "normalization from the data: mean";
        for (float m : mean)
            ss << ' ' << m;
        ss << ", std";
        for (float s : stdev)
            ss << ' ' << s;
        log(LogLevel::Info, ss.str());
    } else {
        mean.assign(norm.mean.begin(), norm.mean.end());
        stdev.assign(norm.std.begin(), norm.std.end());
    }

    trainLabels = labelsOf(*dataset->train());
    testLabels = labelsOf(*dataset->test());
    if (auto r = checkPlacement(spec, opt.mode, opt.placement, world(), opt.replayBuffer); !r)
        return r;
    if (opt.replayBuffer > 0 && opt.dist && opt.dist->backend() == "nccl")
        return fail("a replay buffer receives on a background thread, which Layerwise does over "
                    "Gloo only: start the run with --backend gloo");
    if (dataParallel()) {
        if (spec.recipe.batchSize % world() != 0)
            return fail("recipe.batch_size " + std::to_string(spec.recipe.batchSize)
                        + " is not divisible by the world size " + std::to_string(world())
                        + ": each rank trains on batch / world size");
        auto rows = [&](std::int64_t n, bool pad) {
            std::vector<std::int64_t> all(static_cast<std::size_t>(n));
            std::iota(all.begin(), all.end(), 0);
            auto s = data::shardOf(all, rank(), world(), pad);
            return torch::tensor(s, torch::kInt64);
        };
        trainShard = rows(trainLabels.size(0), true);
        testShard = rows(testLabels.size(0), false);
    }

    torch::manual_seed(spec.recipe.seed);
    try {
        net = model::Network(spec);
    } catch (const c10::Error &e) {
        return fail(std::string("cannot build the network: ") + e.what_without_backtrace());
    }
    net->to(device);
    if (channelsLast)
        toChannelsLast(*net);

    const bool augment = spec.recipe.augment.enabled;
    switch (opt.cache) {
    case FeatureCache::Off: useCache = false; break;
    case FeatureCache::On:
        useCache = !augment;
        if (augment)
            log(LogLevel::Warning, "feature cache: off, augmentation is on (cached features "
                                   "would freeze the augmentation); recomputing the prefix");
        break;
    // On CUDA the cache (host memory, gathered and copied to the device every batch) was
    // measured 4-7x slower than recomputing the prefix on the GPU (H200, cifar10-k2): auto
    // keeps it to the CPU.
    case FeatureCache::Auto: useCache = !augment && !cuda; break;
    }
    if (opt.mode != TrainMode::Greedy)
        useCache = false;
    return {};
}

torch::Tensor Trainer::Impl::labelsOf(const data::Split &split)
{
    auto labels = torch::empty({split.size()}, torch::kInt64);
    auto *p = labels.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < split.size(); ++i)
        p[i] = split.label(i);
    return labels;
}

void Trainer::Impl::toChannelsLast(torch::nn::Module &module)
{
    torch::NoGradGuard guard;
    for (auto &p : module.parameters())
        if (p.dim() == 4)
            p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
}

data::TransformOptions Trainer::Impl::transformOptions(bool train) const
{
    data::TransformOptions t;
    t.channels = spec.input.channels;
    t.height = spec.input.height;
    t.width = spec.input.width;
    t.train = train;
    t.augment = spec.recipe.augment;
    if (!train)
        t.augment.enabled = spec.recipe.augment.evalResize > 0; // eval resize + center crop
    t.mean = mean;
    t.std = stdev;
    return t;
}

std::unique_ptr<data::Loader> Trainer::Impl::makeLoader(bool train, bool shuffle, int batch,
                                                        bool shard) const
{
    data::LoaderOptions lo;
    lo.batchSize = batch;
    lo.shuffle = shuffle;
    lo.dropLast = false;
    lo.threads = std::max(1, opt.loaderThreads);
    lo.channelsLast = channelsLast;
    lo.pinMemory = cuda;
    lo.seed = spec.recipe.seed;
    lo.transform = transformOptions(train && spec.recipe.augment.enabled);
    if (shard && dataParallel()) {
        lo.shardRank = rank();
        lo.shardCount = world();
        lo.padShards = train;
    }
    return std::make_unique<data::Loader>(train ? dataset->train() : dataset->test(), lo);
}

torch::Tensor Trainer::Impl::toDevice(const torch::Tensor &x) const
{
    auto y = x.to(device, /*non_blocking=*/cuda);
    if (channelsLast && y.dim() == 4)
        y = y.contiguous(at::MemoryFormat::ChannelsLast);
    return y;
}

Result<RunSummary> Trainer::Impl::execute(bool resuming)
{
    sessionStart = activeNow();
    cancelFlag = false;
    json state;
    if (resuming) {
        if (opt.runDir.empty())
            return fail("cannot resume: no run folder given");
        auto st = readState();
        if (!st)
            return st.error();
        state = std::move(*st);
        try {
            auto parsed = parseSpec(state.at("spec").dump());
            if (!parsed)
                return fail("cannot resume: the spec in " + folder.statePath()
                            + " is invalid: " + parsed.message());
            spec = *parsed;
            const auto mode = state.at("mode").get<std::string>();
            opt.mode = mode == "e2e"   ? TrainMode::EndToEnd
                       : mode == "dgl" ? TrainMode::Decoupled
                                       : TrainMode::Greedy;
        } catch (const std::exception &e) {
            return fail("cannot resume: " + folder.statePath() + " is damaged: " + e.what());
        }
    } else {
        spec = opt.spec;
    }
    if (auto r = setUp(); !r)
        return r.error();

    int startStage = 0, startEpoch = 0;
    bool stageDone = false;
    std::string ckpt;
    try {
        if (resuming) {
            const auto at = restoreProgress(state);
            startStage = at.stage;
            startEpoch = at.epoch;
            stageDone = at.stageDone;
            ckpt = at.checkpoint;
            if (startStage < 0 || startStage >= net->stages() || startEpoch < 0)
                return fail("cannot resume: " + folder.statePath()
                            + " has \"stage\": " + std::to_string(startStage) + ", \"epoch\": "
                            + std::to_string(startEpoch) + ", outside this network of "
                            + std::to_string(net->stages()) + " stages");
            if (auto r = loadNetwork(folder, ckpt); !r)
                return fail("cannot resume: " + r.message());
            lastCheckpoint = ckpt;
        }
    } catch (const std::exception &e) {
        return fail("cannot resume: " + folder.statePath() + " is damaged: " + e.what());
    }

    if (distributed()) {
        // Every rank starts from rank 0's weights (as DDP does), also after a resume or branch.
        try {
            detail::broadcastModule(*opt.dist, *net, /*buffersOnly=*/false);
        } catch (const detail::DistFailure &e) {
            return fail(e.what());
        }
    }

    RunStarted rs;
    rs.mode = opt.mode;
    rs.worldSize = world();
    rs.backend = opt.dist ? opt.dist->backend() : "";
    rs.hosts = opt.dist ? opt.dist->hosts() : "";
    rs.stages = net->stages();
    rs.device = device.str();
    rs.threads = torch::get_num_threads();
    rs.trainSize = trainLabels.size(0);
    rs.testSize = testLabels.size(0);
    rs.dataset = dataset->info().description;
    rs.datasetFingerprint = dataset->info().fingerprint;
    rs.resumed = resuming;
    rs.resumeStage = startStage;
    rs.resumeEpoch = startEpoch;
    rs.resumeStageDone = resuming && stageDone;
    rs.elapsed = elapsed();
    obs->runStarted(rs);
    if (opt.mode == TrainMode::Greedy)
        log(LogLevel::Info,
            std::string("feature cache: ") + (useCache ? "on" : "off")
                + (opt.cache == FeatureCache::Auto
                       ? (useCache ? " (auto: augmentation is off)"
                          : spec.recipe.augment.enabled
                              ? " (auto: augmentation is on, recomputing the frozen prefix)"
                              : " (auto: on CUDA recomputing the frozen prefix on the GPU "
                                "is faster than copying cached features from host memory)")
                       : ""));

    try {
        if (!opt.branchFrom.empty() && !resuming) {
            if (opt.lockedStages <= 0 || opt.lockedStages >= net->stages())
                throw Stop{RunStatus::Failed, "branch: locked stages must be 1 .. "
                                                  + std::to_string(net->stages() - 1)};
            const std::string file = RunFolder::stageCheckpointName(opt.lockedStages - 1);
            if (auto r = loadNetwork(RunFolder(opt.branchFrom), file, opt.lockedStages); !r)
                throw Stop{RunStatus::Failed, "cannot branch: " + r.message()};
            startStage = opt.lockedStages;
            log(LogLevel::Info, "branched from " + opt.branchFrom + ": stages 1.."
                                    + std::to_string(opt.lockedStages) + " loaded and frozen");
        }
        if (!opt.initFrom.empty() && !resuming)
            loadInitialWeights();
        if (dataParallel() && spec.recipe.syncBn) {
            model::syncBatchNorm(
                *net, std::make_shared<const model::SumOverRanks>(
                          [this](torch::Tensor &t) { detail::allreduceSum(*opt.dist, t); }));
            log(LogLevel::Info, "sync_bn: BatchNorm normalizes with the statistics of the global "
                                "batch of the "
                                    + std::to_string(world()) + " processes");
        }
        if (pipeline() && spec.recipe.syncBn)
            log(LogLevel::Warning, "sync_bn has no effect with the pipeline placement: each "
                                   "stage's BatchNorm trains on one process");
        switch (opt.mode) {
        case TrainMode::Greedy:
            if (stageDone) {
                // Stopped while its layer was probed: probe it before the next stage.
                probeMissing(startStage, startStage + 1, startStage, startEpoch);
                ++startStage;
                startEpoch = 0;
            }
            if (startStage < net->stages())
                runGreedy(startStage, startEpoch, resuming, ckpt);
            break;
        case TrainMode::EndToEnd:
            if (!stageDone)
                runEndToEnd(startEpoch, resuming, ckpt);
            else
                probeMissing(0, net->stages(), startStage, startEpoch);
            break;
        case TrainMode::Decoupled:
            if (!stageDone && pipeline())
                runPipeline(startEpoch, resuming, ckpt);
            else if (!stageDone)
                runDecoupled(startEpoch, resuming, ckpt);
            else
                probeMissing(0, net->stages(), startStage, startEpoch);
            break;
        }
        summary.status = RunStatus::Finished;
        if (dataParallel())
            reportCommunication();
    } catch (const Stop &stop) {
        summary.status = stop.status;
        summary.message = stop.message;
    } catch (const detail::DistFailure &e) {
        summary.status = RunStatus::Interrupted;
        summary.message = e.what();
    } catch (const c10::Error &e) {
        summary.status = RunStatus::Failed;
        summary.message = std::string("LibTorch error: ") + e.what_without_backtrace();
    } catch (const std::exception &e) {
        summary.status = RunStatus::Failed;
        summary.message = e.what();
    }
    summary.seconds = elapsed();
    if (summary.status != RunStatus::Finished)
        keepStopTime(summary.seconds);
    if (summary.status == RunStatus::Failed || summary.status == RunStatus::Interrupted)
        log(LogLevel::Error, summary.message);
    obs->runEnded({summary.status, summary.message, summary.seconds, summary.finalTestAcc});
    return summary;
}

void Trainer::Impl::reportCommunication()
{
    // Slot r holds rank r's seconds waiting for communication and its active seconds.
    auto t = torch::zeros({2 * world()}, torch::kFloat64);
    t[2 * rank()] = opt.dist->commSeconds() + replayWaitSeconds;
    t[2 * rank() + 1] = activeSince(sessionStart);
    t = t.to(device);
    detail::allreduceSum(*opt.dist, t);
    t = t.to(torch::kCPU);
    std::ostringstream ss;
    ss << "communication (" << (pipeline() ? "pipeline" : "data-parallel")
       << "): share of each rank's time spent waiting for all-reduce, send and receive:";
    for (int r = 0; r < world(); ++r) {
        const double comm = t[2 * r].item<double>(), active = t[2 * r + 1].item<double>();
        char buf[96];
        std::snprintf(buf, sizeof buf, "%s rank %d %.1f%% (%.2f of %.2f s)", r ? "," : "", r,
                      100.0 * comm / std::max(active, 1e-9), comm, active);
        ss << buf;
    }
    log(LogLevel::Info, ss.str());
}

void Trainer::Impl::probeMissing(int firstLayer, int endLayer, int afterStage, int epoch)
{
    if (!opt.probes)
        return;
    bool probed = false;
    for (int j = firstLayer; j < endLayer; ++j) {
        const bool have
            = std::any_of(summary.probes.begin(), summary.probes.end(), [&](const ProbeResult &p) {
                  return p.layer == j && p.afterStage == afterStage;
              });
        if (!have) {
            probeLayer(j, afterStage);
            probed = true;
        }
    }
    if (probed)
        saveState(afterStage, epoch, true);
}

void Trainer::Impl::loadInitialWeights()
{
    auto stages = detail::loadStateDictFile(opt.initFrom, *net);
    if (!stages)
        throw Stop{RunStatus::Failed, "initial weights: " + stages.message()};
    if (channelsLast)
        toChannelsLast(*net);
    folded.clear();
    // What the imported network scores before any training: the same as the run it came from.
    const int last = *stages - 1;
    auto [logits, losses] = evaluateHeads(last, true);
    headTestOutputs.clear();
    for (int j = 0; j < last; ++j)
        headTestOutputs.push_back(spec.recipe.ensemble == EnsembleMode::Softmax
                                      ? torch::softmax(logits[j], 1)
                                      : logits[j]);
    const auto eval = finishEval(last, logits[last], losses[last]);
    headTestOutputs.clear();
    log(LogLevel::Info, "initial weights from " + opt.initFrom + ": stages 1.."
                            + std::to_string(*stages) + " loaded; before training, stage "
                            + std::to_string(*stages) + "'s head scores " + formatPercent(eval.acc)
                            + " on the test split, the ensemble "
                            + formatPercent(eval.ensembleAcc));
}

const char *toString(Placement placement)
{
    return placement == Placement::Pipeline ? "pipeline" : "data";
}

Result<Placement> parsePlacement(const std::string &text)
{
    if (text == "data")
        return Placement::Data;
    if (text == "pipeline")
        return Placement::Pipeline;
    return fail("placement '" + text + "': expected data or pipeline");
}

Result<void> checkPlacement(const Spec &spec, TrainMode mode, Placement placement, int world,
                            int replayBuffer)
{
    if (replayBuffer < 0 || replayBuffer > kMaxReplayBuffer)
        return fail("replay buffer " + std::to_string(replayBuffer) + ": expected 0 (none) to "
                    + std::to_string(kMaxReplayBuffer) + " batches");
    if (replayBuffer > 0 && placement != Placement::Pipeline)
        return fail("a replay buffer (the asynchronous pipeline) needs placement pipeline (stage "
                    "j on process j, mode dgl)");
    if (placement != Placement::Pipeline)
        return {};
    if (mode != TrainMode::Decoupled)
        return fail(std::string("placement pipeline (stage j on process j) needs a decoupled "
                                "run (mode dgl), not mode ")
                    + toString(mode));
    const int stages = static_cast<int>(spec.stages.size());
    if (world != stages)
        return fail("placement pipeline puts stage j on process j: the spec has "
                    + std::to_string(stages) + " stages but the run has " + std::to_string(world)
                    + (world == 1 ? " process" : " processes") + "; start it with "
                    + std::to_string(stages) + " processes (--nproc " + std::to_string(stages)
                    + ")");
    return {};
}

Trainer::Trainer(TrainOptions options, TrainObserver *observer)
    : d(std::make_unique<Impl>(std::move(options), observer))
{}

Trainer::~Trainer() = default;

Result<RunSummary> Trainer::run()
{
    try {
        return d->execute(false);
    } catch (const std::exception &e) {
        return fail(std::string("training failed: ") + e.what());
    }
}

Result<RunSummary> Trainer::resume()
{
    try {
        return d->execute(true);
    } catch (const std::exception &e) {
        return fail(std::string("resume failed: ") + e.what());
    }
}

void Trainer::pause()
{
    d->pauseFlag = true;
}

void Trainer::resumeTraining()
{
    {
        std::lock_guard lock(d->pauseMutex);
        d->pauseFlag = false;
    }
    d->pauseCv.notify_all();
}

void Trainer::cancel()
{
    {
        std::lock_guard lock(d->pauseMutex);
        d->cancelFlag = true;
    }
    d->pauseCv.notify_all();
}

bool Trainer::paused() const
{
    return d->pauseFlag.load();
}

Result<std::unique_ptr<Trainer::Impl>>
Trainer::Impl::openStoredRun(const std::string &runDir, const Spec &spec, TrainMode mode,
                             const std::string &device, TrainObserver *observer,
                             const std::string &what, int &stages)
{
    try {
        TrainOptions options;
        options.spec = spec;
        options.mode = mode;
        options.device = device;
        options.runDir = runDir;
        options.cache = FeatureCache::Off;
        auto impl = std::make_unique<Impl>(options, observer);
        impl->sessionStart = detail::Clock::now();
        impl->spec = spec;
        if (auto r = impl->setUp(); !r)
            return r.error();
        auto state = impl->readState();
        if (!state)
            return state.error();
        std::string ckpt;
        int trained = 0;
        try {
            ckpt = state->at("checkpoint").get<std::string>();
            trained = static_cast<int>(state->at("stages").size());
        } catch (const std::exception &e) {
            return fail(impl->folder.statePath() + " is damaged: " + e.what());
        }
        if (trained == 0)
            return fail("run folder '" + runDir + "' has no finished stage to " + what);
        if (auto r = impl->loadNetwork(impl->folder, ckpt); !r)
            return r.error();
        stages = mode == TrainMode::Greedy ? trained : impl->net->stages();
        return Result<std::unique_ptr<Impl>>(std::move(impl));
    } catch (const Stop &stop) {
        return fail(stop.message);
    } catch (const c10::Error &e) {
        return fail(what + " failed: " + e.what_without_backtrace());
    } catch (const std::exception &e) {
        return fail(what + " failed: " + e.what());
    }
}

Result<void> Trainer::Impl::onStoredRun(const std::string &runDir, const Spec &spec, TrainMode mode,
                                        const std::string &device, TrainObserver *observer,
                                        const std::string &what,
                                        const std::function<void(Impl &, int)> &job)
{
    int stages = 0;
    auto impl = openStoredRun(runDir, spec, mode, device, observer, what, stages);
    if (!impl)
        return impl.error();
    try {
        job(**impl, stages);
        return {};
    } catch (const Stop &stop) {
        return fail(stop.message);
    } catch (const c10::Error &e) {
        return fail(what + " failed: " + e.what_without_backtrace());
    } catch (const std::exception &e) {
        return fail(what + " failed: " + e.what());
    }
}

Result<std::vector<ProbeResult>> probeRun(const std::string &runDir, const Spec &spec,
                                          TrainMode mode, const std::string &device,
                                          TrainObserver *observer)
{
    std::vector<ProbeResult> probes;
    auto r = Trainer::Impl::onStoredRun(runDir, spec, mode, device, observer, "probe",
                                        [&](Trainer::Impl &impl, int layers) {
                                            for (int j = 0; j < layers; ++j)
                                                impl.probeLayer(j, layers - 1);
                                            probes = impl.summary.probes;
                                        });
    if (!r)
        return r.error();
    return probes;
}

} // namespace lw
