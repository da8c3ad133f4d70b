#include "core/train/trainer.h"

#include "core/data/loader_p.h"
#include "core/model/model_p.h"
#include "core/runtime/runtime.h"
#include "core/train/engine_p.h"
#include "core/train/probe_p.h"
#include "core/util/fsutil.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <unistd.h>

namespace lw {

using detail::StageOptimizer;

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;
namespace fs = std::filesystem;

double secondsSince(Clock::time_point t)
{
    return std::chrono::duration<double>(Clock::now() - t).count();
}

const char *modeName(TrainMode mode)
{
    switch (mode) {
    case TrainMode::Greedy: return "greedy";
    case TrainMode::EndToEnd: return "e2e";
    case TrainMode::Decoupled: return "dgl";
    }
    return "greedy";
}

std::string formatBytes(std::int64_t bytes)
{
    char buf[64];
    if (bytes >= (1ll << 30))
        std::snprintf(buf, sizeof buf, "%.1f GB", bytes / double(1ll << 30));
    else if (bytes >= (10ll << 20))
        std::snprintf(buf, sizeof buf, "%.0f MB", bytes / double(1ll << 20));
    else if (bytes >= (1ll << 20))
        std::snprintf(buf, sizeof buf, "%.1f MB", bytes / double(1ll << 20));
    else
        std::snprintf(buf, sizeof buf, "%.0f KB", bytes / double(1ll << 10));
    return buf;
}

json stageJson(const StageFinished &s)
{
    return {{"stage", s.stage},
            {"epochs", s.epochs},
            {"train_acc", s.trainAcc},
            {"test_acc", s.testAcc},
            {"ensemble_acc", s.ensembleAcc},
            {"seconds", s.seconds},
            {"images_per_second", s.imagesPerSecond}};
}

StageFinished stageFromJson(const json &j)
{
    StageFinished s;
    s.stage = j.at("stage").get<int>();
    s.epochs = j.at("epochs").get<int>();
    s.trainAcc = j.at("train_acc").get<double>();
    s.testAcc = j.at("test_acc").get<double>();
    s.ensembleAcc = j.at("ensemble_acc").get<double>();
    s.seconds = j.at("seconds").get<double>();
    s.imagesPerSecond = j.at("images_per_second").get<double>();
    return s;
}

json probeJson(const ProbeResult &p)
{
    return {{"after_stage", p.afterStage},
            {"layer", p.layer},
            {"train_acc", p.trainAcc},
            {"test_acc", p.testAcc},
            {"seconds", p.seconds}};
}

ProbeResult probeFromJson(const json &j)
{
    ProbeResult p;
    p.afterStage = j.at("after_stage").get<int>();
    p.layer = j.at("layer").get<int>();
    p.trainAcc = j.at("train_acc").get<double>();
    p.testAcc = j.at("test_acc").get<double>();
    p.seconds = j.value("seconds", 0.0);
    return p;
}

/// Observer that ignores everything (when the caller passes none).
class NullObserver : public TrainObserver
{};

/// Thrown inside the engine (never out of the public API) to stop a run with a status.
struct Stop
{
    RunStatus status;
    std::string message;
};

} // namespace

// ---------------------------------------------------------------------------------------------

struct Trainer::Impl
{
    TrainOptions opt;
    TrainObserver *obs = nullptr;
    NullObserver nullObserver;

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
    std::string lastCheckpoint;

    Impl(TrainOptions o, TrainObserver *observer)
        : opt(std::move(o))
        , obs(observer)
    {
        if (!obs)
            obs = &nullObserver;
    }

    void log(LogLevel level, const std::string &text) { obs->log(level, text); }
    double elapsed() const { return elapsedBefore + secondsSince(sessionStart); }

    /// Between batches: blocks while paused; throws Stop when cancelled.
    void checkControls()
    {
        if (pauseFlag.load()) {
            std::unique_lock lock(pauseMutex);
            pauseCv.wait(lock, [&] { return !pauseFlag.load() || cancelFlag.load(); });
        }
        if (cancelFlag.load())
            throw Stop{RunStatus::Cancelled,
                       "cancelled; resume continues from the last checkpoint"};
    }

    // --- set-up ---------------------------------------------------------------------------

    Result<void> setUp()
    {
        configureRuntime(opt.threads);
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
            log(LogLevel::Warning,
                "precision fp16 needs CUDA (autocast on the CPU is bf16 only): "
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

        DatasetOptions dopt;
        dopt.name = spec.recipe.dataset.name;
        dopt.path = spec.recipe.dataset.path;
        dopt.trainLimit = spec.recipe.dataset.trainLimit;
        dopt.testLimit = spec.recipe.dataset.testLimit;
        dopt.seed = spec.recipe.seed;
        dopt.imageSide = spec.input.height;
        if (dopt.name == "synthetic") {
            // A synthetic set has the spec's shape; the limits give its size.
            dopt.channels = spec.input.channels;
            dopt.classes = spec.input.classes;
            dopt.syntheticTrain = dopt.trainLimit;
            dopt.syntheticTest = dopt.testLimit;
        }
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
        if (info.channels != spec.input.channels
            && !(info.channels == 1 && spec.input.channels == 3))
            return fail("the dataset has " + std::to_string(info.channels)
                        + "-channel images but the spec expects input.channels = "
                        + std::to_string(spec.input.channels));

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

    static torch::Tensor labelsOf(const data::Split &split)
    {
        auto labels = torch::empty({split.size()}, torch::kInt64);
        auto *p = labels.data_ptr<std::int64_t>();
        for (std::int64_t i = 0; i < split.size(); ++i)
            p[i] = split.label(i);
        return labels;
    }

    static void toChannelsLast(torch::nn::Module &module)
    {
        torch::NoGradGuard guard;
        for (auto &p : module.parameters())
            if (p.dim() == 4)
                p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
    }

    data::TransformOptions transformOptions(bool train) const
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

    std::unique_ptr<data::Loader> makeLoader(bool train, bool shuffle, int batch) const
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
        return std::make_unique<data::Loader>(train ? dataset->train() : dataset->test(), lo);
    }

    torch::Tensor toDevice(const torch::Tensor &x) const
    {
        auto y = x.to(device, /*non_blocking=*/cuda);
        if (channelsLast && y.dim() == 4)
            y = y.contiguous(at::MemoryFormat::ChannelsLast);
        return y;
    }

    /// Stem and frozen blocks 0..stage-1, no autograd (BN folded into the convs).
    torch::Tensor prefix(const torch::Tensor &images, int stage)
    {
        torch::NoGradGuard guard;
        detail::AutocastScope ac(amp, ampType, cuda);
        auto x = net->stem->forward(images);
        for (int j = 0; j < stage; ++j)
            x = frozenBlock(j)->forward(x);
        return x;
    }

    /// Block j for inference once it is frozen: a BN-folded copy, built on first use.
    model::StageBlock &frozenBlock(int j)
    {
        while (static_cast<int>(folded.size()) <= j) {
            const int k = static_cast<int>(folded.size());
            net->blocks[k]->eval();
            auto f = model::foldBatchNorm(net->blocks[k], spec.stages[k], costs.stages[k].in);
            if (channelsLast)
                toChannelsLast(*f);
            folded.push_back(f);
        }
        return folded[j];
    }

    // --- feature cache -------------------------------------------------------------------

    /// 40% of the machine's RAM.
    static std::int64_t autoCacheBudget()
    {
        const long pages = sysconf(_SC_PHYS_PAGES);
        const long size = sysconf(_SC_PAGE_SIZE);
        if (pages <= 0 || size <= 0)
            return 4ll << 30;
        return std::int64_t(pages) * size / 10 * 4;
    }

    std::string spillDir() const
    {
        if (!opt.runDir.empty())
            return opt.runDir;
        return fs::temp_directory_path().string();
    }

    /// Fills the caches with the inputs of block `stage` (from the cache of stage-1 when it is
    /// there, else from the images through the prefix).
    void buildCache(int stage)
    {
        if (cacheStage == stage)
            return;
        const auto t0 = Clock::now();
        auto in = costs.stages[stage].in;
        std::vector<std::int64_t> shape{in.c, in.h, in.w};
        const std::int64_t totalBudget
            = opt.cacheBudgetBytes > 0 ? opt.cacheBudgetBytes : autoCacheBudget();
        std::int64_t budget = totalBudget;
        std::unique_ptr<detail::FeatureCache> newTrain, newTest;
        // The test cache is small next to the train cache: it gets its share of the budget first.
        const auto dtype = cacheType();
        const std::int64_t perSample
            = std::int64_t(in.c) * in.h * in.w * std::int64_t(c10::elementSize(dtype));
        const std::int64_t testBytes = perSample * testLabels.size(0);
        auto tc = detail::FeatureCache::create(testLabels.size(0), shape,
                                               std::min<std::int64_t>(budget, testBytes),
                                               spillDir(), dtype);
        if (!tc)
            throw Stop{RunStatus::Failed, tc.message()};
        newTest = std::move(*tc);
        budget -= newTest->mapped() ? 0 : newTest->bytes();
        auto rc
            = detail::FeatureCache::create(trainLabels.size(0), shape, budget, spillDir(), dtype);
        if (!rc)
            throw Stop{RunStatus::Failed, rc.message()};
        newTrain = std::move(*rc);

        // Building from the previous stage's cache runs one block instead of the whole prefix,
        // but holds both caches at once. When both would not fit the budget, free the old one
        // first and run the prefix on the images: peak memory is then the new cache alone.
        auto inRam = [](const std::unique_ptr<detail::FeatureCache> &c) {
            return c && !c->mapped() ? c->bytes() : std::int64_t(0);
        };
        if (inRam(trainCache) + inRam(testCache) + inRam(newTrain) + inRam(newTest) > totalBudget) {
            trainCache.reset();
            testCache.reset();
            cacheStage = -1;
            log(LogLevel::Info, "feature cache: the old and new caches together exceed the "
                                "budget; freeing the old one and recomputing from the images");
        }
        fillCache(*newTrain, trainCache.get(), /*train=*/true, stage);
        fillCache(*newTest, testCache.get(), /*train=*/false, stage);
        trainCache = std::move(newTrain);
        testCache = std::move(newTest);
        cacheStage = stage;
        log(LogLevel::Info,
            "feature cache: on, stage " + std::to_string(stage) + " inputs " + std::to_string(in.c)
                + "x" + std::to_string(in.h) + "x" + std::to_string(in.w)
                + (cacheType() == torch::kBFloat16 ? " bf16, " : ", ")
                + formatBytes(trainCache->bytes() + testCache->bytes())
                + (trainCache->mapped() ? " (train split memory-mapped on disk)" : " in RAM")
                + ", built in " + std::to_string(int(secondsSince(t0))) + " s");
    }

    /// bf16 autocast makes the prefix's outputs bf16: caching them as such halves the cache
    /// and its memory traffic and changes nothing the stage sees.
    torch::ScalarType cacheType() const
    {
        return amp && ampType == at::kBFloat16 ? torch::kBFloat16 : torch::kFloat32;
    }

    void fillCache(detail::FeatureCache &dst, detail::FeatureCache *prev, bool train, int stage)
    {
        torch::NoGradGuard guard;
        detail::AutocastScope ac(amp, ampType, cuda);
        auto &out = dst.tensor();
        const std::int64_t n = out.size(0);
        const int chunk = std::max(256, spec.recipe.testBatchSize);
        if (prev && cacheStage == stage - 1) {
            auto &block = frozenBlock(stage - 1);
            for (std::int64_t s = 0; s < n; s += chunk) {
                checkControls();
                const auto e = std::min(n, s + chunk);
                auto x = toDevice(prev->tensor().slice(0, s, e));
                out.slice(0, s, e).copy_(block->forward(x).to(torch::kCPU));
            }
            return;
        }
        auto loader = makeLoader(train, /*shuffle=*/false, chunk);
        loader->startEpoch(0);
        data::Batch b;
        for (int j = 0; j < stage; ++j)
            net->blocks[j]->eval();
        while (loader->next(b)) {
            checkControls();
            auto x = prefix(toDevice(b.images), stage).to(torch::kCPU);
            auto idx = b.indices;
            out.index_copy_(0, idx, x.to(out.scalar_type()).contiguous());
        }
    }

    // --- one stage of greedy training -------------------------------------------------------

    /// Iterates a split as inputs of block `stage`: from the cache, or images through the prefix.
    class StageInput
    {
    public:
        StageInput(Impl &impl, int stage, bool train, int batch)
            : m_impl(impl)
            , m_stage(stage)
            , m_train(train)
            , m_batch(batch)
        {
            m_cache
                = impl.useCache ? (train ? impl.trainCache.get() : impl.testCache.get()) : nullptr;
            if (!m_cache)
                m_loader = impl.makeLoader(train, train, batch);
            m_labels = train ? impl.trainLabels : impl.testLabels;
        }
        std::int64_t batches() const
        {
            if (m_loader)
                return m_loader->batchesPerEpoch();
            return (m_labels.size(0) + m_batch - 1) / m_batch;
        }
        void start(int epochKey)
        {
            m_pos = 0;
            if (m_loader) {
                m_loader->startEpoch(epochKey);
                return;
            }
            const auto n = m_labels.size(0);
            if (m_train) {
                auto perm = data::epochPermutation(n, m_impl.spec.recipe.seed, epochKey);
                m_order = torch::from_blob(perm.data(), {n}, torch::kInt64).clone();
            } else {
                m_order = torch::Tensor();
            }
        }
        bool next(torch::Tensor &x, torch::Tensor &y)
        {
            if (m_loader) {
                data::Batch b;
                if (!m_loader->next(b))
                    return false;
                x = m_impl.prefix(m_impl.toDevice(b.images), m_stage);
                y = b.labels.to(m_impl.device, m_impl.cuda);
                return true;
            }
            const auto n = m_labels.size(0);
            if (m_pos >= n)
                return false;
            const auto e = std::min(n, m_pos + m_batch);
            if (m_order.defined()) {
                auto idx = m_order.slice(0, m_pos, e);
                x = m_cache->tensor().index_select(0, idx);
                y = m_labels.index_select(0, idx);
            } else {
                x = m_cache->tensor().slice(0, m_pos, e);
                y = m_labels.slice(0, m_pos, e);
            }
            x = m_impl.toDevice(x);
            y = y.to(m_impl.device, m_impl.cuda);
            m_pos = e;
            return true;
        }

    private:
        Impl &m_impl;
        int m_stage;
        bool m_train;
        int m_batch;
        detail::FeatureCache *m_cache = nullptr;
        std::unique_ptr<data::Loader> m_loader;
        torch::Tensor m_labels, m_order;
        std::int64_t m_pos = 0;
    };

    /// Per-batch training step on block `stage` + head `stage`; returns the loss and counts
    /// correct predictions.
    double trainStep(StageOptimizer &opt, torch::nn::Module &params, const torch::Tensor &x,
                     const torch::Tensor &y,
                     const std::function<torch::Tensor(const torch::Tensor &)> &fwd,
                     std::int64_t &correct, bool &finite);

    struct EvalResult
    {
        double loss = 0, acc = 0, ensembleAcc = 0;
        torch::Tensor outputs; // CPU logits or softmax of the evaluated head
    };

    /// Test-set evaluation of head `stage` over block `stage` inputs; ensemble with earlier heads.
    EvalResult evaluateStage(int stage)
    {
        c10::InferenceMode guard;
        net->blocks[stage]->eval();
        net->heads[stage]->eval();
        StageInput input(*this, stage, /*train=*/false, std::max(spec.recipe.testBatchSize, 256));
        input.start(0);
        torch::Tensor x, y;
        std::vector<torch::Tensor> logits;
        double lossSum = 0;
        while (input.next(x, y)) {
            detail::AutocastScope ac(amp, ampType, cuda);
            auto out
                = net->heads[stage]->forward(net->blocks[stage]->forward(x)).to(torch::kFloat32);
            lossSum += torch::nn::functional::cross_entropy(
                           out, y,
                           torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                           .item<double>();
            logits.push_back(out.to(torch::kCPU));
        }
        return finishEval(stage, torch::cat(logits), lossSum);
    }

    EvalResult finishEval(int stage, const torch::Tensor &logits, double lossSum)
    {
        EvalResult r;
        const auto n = testLabels.size(0);
        r.loss = lossSum / double(std::max<std::int64_t>(n, 1));
        r.acc = logits.argmax(1).eq(testLabels).sum().item<double>() / double(n);
        const bool softmax = spec.recipe.ensemble == EnsembleMode::Softmax;
        r.outputs = softmax ? torch::softmax(logits, 1) : logits;
        auto w = detail::ensembleWeights(stage + 1);
        auto ens = r.outputs * w[stage];
        for (int i = 0; i < stage && i < static_cast<int>(headTestOutputs.size()); ++i)
            ens = ens + headTestOutputs[i] * w[i];
        r.ensembleAcc = ens.argmax(1).eq(testLabels).sum().item<double>() / double(n);
        return r;
    }

    struct EpochTotals
    {
        std::int64_t correct = 0, seen = 0;
        double lossSum = 0, trainSeconds = 0;
    };

    /// One training epoch: a step per batch that `next` yields, the divergence check, throttled
    /// batch progress. Throws Stop on NaN/Inf or cancel.
    EpochTotals trainEpoch(int stage, int epoch, int batches, Clock::time_point epochStart,
                           const std::function<bool(torch::Tensor &, torch::Tensor &)> &next,
                           StageOptimizer &sopt, torch::nn::Module &params,
                           const std::function<torch::Tensor(const torch::Tensor &)> &fwd)
    {
        EpochTotals t;
        torch::Tensor x, y;
        int batch = 0;
        auto lastReport = Clock::now();
        while (true) {
            checkControls();
            if (!next(x, y))
                break;
            bool finite = true;
            const double loss = trainStep(sopt, params, x, y, fwd, t.correct, finite);
            ++batch;
            if (!finite)
                throw Stop{RunStatus::Failed, detail::divergenceMessage(stage, epoch, batch, loss)};
            t.lossSum += loss * double(y.size(0));
            t.seen += y.size(0);
            if (secondsSince(lastReport) >= 0.1) {
                lastReport = Clock::now();
                obs->batchProgress({stage, epoch, batch, batches, t.lossSum / double(t.seen),
                                    double(t.seen) / secondsSince(epochStart)});
            }
        }
        t.trainSeconds = secondsSince(epochStart);
        return t;
    }

    /// Reports a finished epoch and adds it to the current stage's totals.
    void finishEpoch(int stage, int epoch, Clock::time_point epochStart, const EpochTotals &t,
                     const EvalResult &eval, double lr)
    {
        ++step;
        const double seen = double(std::max<std::int64_t>(t.seen, 1));
        EpochMetrics m;
        m.stage = stage;
        m.epoch = epoch;
        m.step = step;
        m.trainLoss = t.lossSum / seen;
        m.trainAcc = double(t.correct) / seen;
        m.testLoss = eval.loss;
        m.testAcc = eval.acc;
        m.ensembleAcc = eval.ensembleAcc;
        m.lr = lr;
        m.imagesPerSecond = double(t.seen) / std::max(t.trainSeconds, 1e-9);
        m.seconds = secondsSince(epochStart);
        current.trainAcc = m.trainAcc;
        current.trainSeconds += t.trainSeconds;
        current.trainImages += t.seen;
        current.seconds += m.seconds;
        obs->epochFinished(m);
    }

    // --- checkpoints ---------------------------------------------------------------------------

    /// Progress of the stage in training, kept in state.json so a resumed stage reports the same
    /// totals as an uninterrupted one.
    struct CurrentStage
    {
        double trainAcc = 0;
        double trainSeconds = 0;
        std::int64_t trainImages = 0;
        double seconds = 0;
    } current;

    json stateJson(int stage, int epochsDone, bool stageDone, const std::string &checkpoint) const
    {
        json stages = json::array();
        for (const auto &s : summary.stages)
            stages.push_back(stageJson(s));
        json probes = json::array();
        for (const auto &p : summary.probes)
            probes.push_back(probeJson(p));
        return {{"format", "layerwise-run-state"},
                {"version", 1},
                {"mode", modeName(opt.mode)},
                {"stage", stage},
                {"epoch", epochsDone},
                {"stage_done", stageDone},
                {"step", step},
                {"seconds", elapsed()},
                {"checkpoint", checkpoint},
                {"current",
                 {{"train_acc", current.trainAcc},
                  {"train_seconds", current.trainSeconds},
                  {"train_images", current.trainImages},
                  {"seconds", current.seconds}}},
                {"stages", stages},
                {"probes", probes},
                {"spec", json::parse(serializeSpec(spec))}};
    }

    void saveState(int stage, int epochsDone, bool stageDone)
    {
        if (opt.runDir.empty())
            return;
        const auto state = stateJson(stage, epochsDone, stageDone, lastCheckpoint).dump(2);
        if (auto r = writeFileAtomic(opt.runDir + "/state.json", state); !r)
            throw Stop{RunStatus::Failed, "run state not written: " + r.message()};
    }

    /// Saves the whole network and the optimizers, then state.json pointing at it (both
    /// atomically), then removes the previous checkpoint. At a greedy stage end the network is
    /// also kept as stage<j>.pt (for branching and probes). Throws Stop on a write failure.
    void saveCheckpoint(int stage, int epochsDone, bool stageDone,
                        const std::vector<StageOptimizer *> &optimizers)
    {
        if (opt.runDir.empty())
            return;
        std::error_code ec;
        fs::create_directories(opt.runDir, ec);
        const std::string name = "ckpt-s" + std::to_string(stage) + "-e"
                                 + std::to_string(epochsDone) + (stageDone ? "-end" : "") + ".pt";
        std::ostringstream bytes;
        try {
            torch::serialize::OutputArchive archive;
            net->save(archive);
            for (std::size_t i = 0; i < optimizers.size(); ++i) {
                torch::serialize::OutputArchive oa;
                optimizers[i]->save(oa);
                archive.write("optimizer" + std::to_string(i), oa);
            }
            archive.save_to(bytes);
        } catch (const c10::Error &e) {
            throw Stop{RunStatus::Failed, std::string("cannot serialize the checkpoint: ")
                                              + e.what_without_backtrace()};
        }
        if (stageDone && opt.mode == TrainMode::Greedy) {
            const std::string stageName = "stage" + std::to_string(stage) + ".pt";
            if (auto r = writeFileAtomic(opt.runDir + "/" + stageName, bytes.str()); !r)
                throw Stop{RunStatus::Failed, "stage checkpoint not written, the run stops here "
                                              "(the last good checkpoint is kept): "
                                                  + r.message()};
            obs->checkpointSaved({stage, epochsDone, stageName, true});
        }
        if (auto r = writeFileAtomic(opt.runDir + "/" + name, bytes.str()); !r)
            throw Stop{RunStatus::Failed, "checkpoint not written, the run stops here (the last "
                                          "good checkpoint is kept): "
                                              + r.message()};
        const std::string previous = lastCheckpoint;
        lastCheckpoint = name;
        saveState(stage, epochsDone, stageDone);
        if (!previous.empty() && previous != name)
            fs::remove(opt.runDir + "/" + previous, ec);
        obs->checkpointSaved({stage, epochsDone, name, false});
    }

    Result<json> readState() const
    {
        const std::string path = opt.runDir + "/state.json";
        auto text = readFile(path, 256ull << 20);
        if (!text)
            return fail("cannot resume: " + text.message());
        try {
            auto state = json::parse(*text);
            if (!state.is_object() || state.value("format", "") != "layerwise-run-state")
                return fail("cannot resume: '" + path + "' is not a Layerwise run state");
            if (state.value("version", 0) != 1)
                return fail("cannot resume: '" + path + "' has version "
                            + std::to_string(state.value("version", 0)) + ", expected 1");
            return state;
        } catch (const std::exception &e) {
            return fail("cannot resume: '" + path + "' is damaged: " + e.what());
        }
    }

    Result<std::string> checkpointPath(const std::string &folder, const std::string &file) const
    {
        // A checkpoint names a file inside the run folder only.
        if (file.empty() || file.find('/') != std::string::npos
            || file.find("..") != std::string::npos)
            return fail("state.json names checkpoint '" + file
                        + "', expected a file name inside the run folder");
        return folder + "/" + file;
    }

    /// Loads the network's parameters and buffers; `stagesToLoad` < 0 loads everything, else only
    /// blocks and heads 0..stagesToLoad-1 (branching; the stem has no parameters). Every tensor
    /// must keep the shape this spec gives it (LibTorch would silently take another).
    Result<void> loadNetwork(const std::string &folder, const std::string &file,
                             int stagesToLoad = -1)
    {
        auto path = checkpointPath(folder, file);
        if (!path)
            return fail("cannot load the checkpoint: " + path.message());
        std::vector<std::pair<std::string, std::vector<std::int64_t>>> expected;
        for (const auto &item : net->named_parameters())
            expected.emplace_back(item.key(), item.value().sizes().vec());
        for (const auto &item : net->named_buffers())
            expected.emplace_back(item.key(), item.value().sizes().vec());
        try {
            torch::serialize::InputArchive archive;
            archive.load_from(*path, device);
            if (stagesToLoad < 0) {
                net->load(archive);
            } else {
                for (int j = 0; j < stagesToLoad; ++j) {
                    torch::serialize::InputArchive block, head;
                    archive.read("block" + std::to_string(j), block);
                    archive.read("head" + std::to_string(j), head);
                    net->blocks[j]->load(block);
                    net->heads[j]->load(head);
                }
            }
        } catch (const c10::Error &e) {
            return fail("checkpoint '" + *path
                        + "' cannot be loaded into this network: " + e.what_without_backtrace());
        }
        auto now = net->named_parameters();
        auto buffers = net->named_buffers();
        for (const auto &[name, sizes] : expected) {
            const torch::Tensor *t = now.find(name);
            if (!t)
                t = buffers.find(name);
            if (t && t->sizes().vec() != sizes)
                return fail("checkpoint '" + *path + "': " + name + " has shape "
                            + c10::str(t->sizes()) + ", this spec needs "
                            + c10::str(c10::IntArrayRef(sizes))
                            + " (the stages taken from it must be the same)");
        }
        if (channelsLast)
            toChannelsLast(*net);
        folded.clear();
        return {};
    }

    Result<void> loadOptimizers(const std::string &file,
                                const std::vector<StageOptimizer *> &optimizers)
    {
        auto path = checkpointPath(opt.runDir, file);
        if (!path)
            return fail("cannot resume: " + path.message());
        try {
            torch::serialize::InputArchive archive;
            archive.load_from(*path, device);
            for (std::size_t i = 0; i < optimizers.size(); ++i) {
                torch::serialize::InputArchive oa;
                archive.read("optimizer" + std::to_string(i), oa);
                optimizers[i]->load(oa);
            }
        } catch (const c10::Error &e) {
            return fail("cannot resume: the optimizer state in '" + *path
                        + "' cannot be read: " + e.what_without_backtrace());
        }
        return {};
    }

    // --- the three modes --------------------------------------------------------------------

    void runGreedy(int startStage, int startEpoch, bool resuming, const std::string &ckpt);
    void runEndToEnd(int startEpoch, bool resuming, const std::string &ckpt);
    void runDecoupled(int startEpoch, bool resuming, const std::string &ckpt);

    void probeLayer(int layer, int afterStage);
    void recomputeHeadOutputs(int stages);
    /// Test-set logits (CPU, fp32) of heads 0..upTo through the whole network, and their
    /// summed losses.
    std::pair<std::vector<torch::Tensor>, std::vector<double>> evaluateHeads(int upTo, bool all);
    EvalResult evaluateFull(int stage)
    {
        auto [logits, losses] = evaluateHeads(stage, false);
        return finishEval(stage, logits.back(), losses.back());
    }

    Result<RunSummary> execute(bool resuming);

    int e2eEpochs() const
    {
        return spec.recipe.e2e.epochs > 0
                   ? spec.recipe.e2e.epochs
                   : spec.recipe.epochsPerStage * static_cast<int>(spec.stages.size());
    }
};

// ---------------------------------------------------------------------------------------------

double Trainer::Impl::trainStep(StageOptimizer &sopt, torch::nn::Module &params,
                                const torch::Tensor &x, const torch::Tensor &y,
                                const std::function<torch::Tensor(const torch::Tensor &)> &fwd,
                                std::int64_t &correct, bool &finite)
{
    auto &sgd = sopt.sgd();
    sgd.zero_grad();
    torch::Tensor logits;
    {
        detail::AutocastScope ac(amp, ampType, cuda);
        logits = fwd(x);
    }
    auto loss = torch::nn::functional::cross_entropy(logits.to(torch::kFloat32), y);
    const double value = loss.item<double>();
    finite = std::isfinite(value);
    if (!finite)
        return value;
    const bool scaled = amp && ampType == at::kHalf;
    if (scaled) {
        (loss * lossScale).backward();
        bool overflow = false;
        {
            torch::NoGradGuard guard;
            for (auto &p : params.parameters()) {
                if (!p.grad().defined())
                    continue;
                p.grad().div_(lossScale);
                if (!overflow && !torch::isfinite(p.grad()).all().item<bool>())
                    overflow = true;
            }
        }
        if (overflow) {
            lossScale /= 2;
            goodSteps = 0;
        } else {
            sgd.step();
            if (++goodSteps >= 2000) {
                lossScale *= 2;
                goodSteps = 0;
            }
        }
    } else {
        loss.backward();
        sgd.step();
    }
    correct += logits.argmax(1).eq(y).sum().item<std::int64_t>();
    return value;
}

/// A module grouping the parameters one optimizer trains (no forward of its own).
struct ParamGroupImpl : torch::nn::Module
{
    void add(const std::string &name, const std::shared_ptr<torch::nn::Module> &m)
    {
        register_module(name, m);
    }
};

void Trainer::Impl::runGreedy(int startStage, int startEpoch, bool resuming,
                              const std::string &ckpt)
{
    const int stages = net->stages();
    const int epochs = spec.recipe.epochsPerStage;
    if (startStage > 0)
        recomputeHeadOutputs(startStage);

    for (int stage = startStage; stage < stages; ++stage) {
        const auto stageStart = Clock::now();
        for (int j = 0; j < stage; ++j) {
            net->blocks[j]->eval();
            for (auto &p : net->blocks[j]->parameters())
                p.set_requires_grad(false);
        }
        auto group = std::make_shared<ParamGroupImpl>();
        group->add("block", net->blocks[stage].ptr());
        group->add("head", net->heads[stage].ptr());
        StageOptimizer sopt(group->parameters(), spec.recipe.optimizer, spec.recipe.lr);
        int firstEpoch = 0;
        if (resuming && stage == startStage && startEpoch > 0) {
            if (auto r = loadOptimizers(ckpt, {&sopt}); !r)
                throw Stop{RunStatus::Failed, r.message()};
            firstEpoch = startEpoch;
        }
        if (useCache)
            buildCache(stage);

        const auto &c = costs.stages[stage];
        obs->stageStarted(
            {stage, epochs, c.blockParams, c.headParams, c.blockMacs, c.headMacs, useCache});

        StageInput input(*this, stage, /*train=*/true, spec.recipe.batchSize);
        EvalResult last;
        if (firstEpoch == 0)
            current = {};
        for (int e = firstEpoch; e < epochs; ++e) {
            const auto epochStart = Clock::now();
            // A resumed epoch gets the LR (and rebuild) the uninterrupted run had.
            if (sopt.startEpoch(e))
                log(LogLevel::Info, "stage " + std::to_string(stage) + ", epoch "
                                        + std::to_string(e + 1) + ": learning rate "
                                        + std::to_string(sopt.lr())
                                        + ", optimizer rebuilt (momentum reset)");
            torch::manual_seed(spec.recipe.seed * 7919 + std::uint64_t(stage) * 1000
                               + std::uint64_t(e));
            net->blocks[stage]->train();
            net->heads[stage]->train();
            input.start(stage * 1000 + e);
            const auto totals = trainEpoch(
                stage, e + 1, static_cast<int>(input.batches()), epochStart,
                [&](torch::Tensor &x, torch::Tensor &y) { return input.next(x, y); }, sopt, *group,
                [&](const torch::Tensor &in) {
                    return net->heads[stage]->forward(net->blocks[stage]->forward(in));
                });
            last = evaluateStage(stage);
            finishEpoch(stage, e + 1, epochStart, totals, last, sopt.lr());
            saveCheckpoint(stage, e + 1, false, {&sopt});
        }
        if (firstEpoch >= epochs) // resumed after the last epoch, before the stage end was saved
            last = evaluateStage(stage);
        headTestOutputs.resize(stage + 1);
        headTestOutputs[stage] = last.outputs;
        for (auto &p : net->blocks[stage]->parameters())
            p.set_requires_grad(false);
        net->blocks[stage]->eval();

        StageFinished sf;
        sf.stage = stage;
        sf.epochs = epochs;
        sf.trainAcc = current.trainAcc;
        sf.testAcc = last.acc;
        sf.ensembleAcc = last.ensembleAcc;
        sf.seconds = firstEpoch > 0 ? current.seconds : secondsSince(stageStart);
        sf.imagesPerSecond
            = current.trainSeconds > 0 ? double(current.trainImages) / current.trainSeconds : 0;
        summary.stages.push_back(sf);
        summary.finalTestAcc = sf.testAcc;
        saveCheckpoint(stage, epochs, true, {});
        obs->stageFinished(sf);

        // The next stage's inputs (and this layer's probe features) are this block's outputs.
        if (useCache && stage + 1 < stages)
            buildCache(stage + 1);
        if (opt.probes) {
            probeLayer(stage, stage);
            saveState(stage, epochs, true);
        }
    }
}

std::pair<std::vector<torch::Tensor>, std::vector<double>> Trainer::Impl::evaluateHeads(int upTo,
                                                                                        bool all)
{
    c10::InferenceMode guard;
    net->eval();
    auto loader = makeLoader(false, false, std::max(spec.recipe.testBatchSize, 256));
    loader->startEpoch(0);
    const int n = upTo + 1;
    std::vector<std::vector<torch::Tensor>> outs(n);
    std::vector<double> losses(n, 0.0);
    data::Batch b;
    namespace F = torch::nn::functional;
    while (loader->next(b)) {
        detail::AutocastScope ac(amp, ampType, cuda);
        auto x = net->stem->forward(toDevice(b.images));
        auto y = b.labels.to(device);
        for (int j = 0; j < n; ++j) {
            x = net->blocks[j]->forward(x);
            if (!all && j < upTo)
                continue;
            auto logits = net->heads[j]->forward(x).to(torch::kFloat32);
            losses[j]
                += F::cross_entropy(logits, y, F::CrossEntropyFuncOptions().reduction(torch::kSum))
                       .item<double>();
            outs[j].push_back(logits.to(torch::kCPU));
        }
    }
    std::vector<torch::Tensor> logits(n);
    for (int j = 0; j < n; ++j)
        if (!outs[j].empty())
            logits[j] = torch::cat(outs[j]);
    return {logits, losses};
}

void Trainer::Impl::recomputeHeadOutputs(int stages)
{
    // Heads of finished stages are frozen: their test outputs are recomputed once for the ensemble.
    headTestOutputs.clear();
    if (stages <= 0)
        return;
    auto [logits, losses] = evaluateHeads(stages - 1, true);
    const bool softmax = spec.recipe.ensemble == EnsembleMode::Softmax;
    for (int j = 0; j < stages; ++j)
        headTestOutputs.push_back(softmax ? torch::softmax(logits[j], 1) : logits[j]);
}

void Trainer::Impl::probeLayer(int stage, int afterStage)
{
    const auto t0 = Clock::now();
    detail::PooledFeatures train, test;
    if (useCache && cacheStage == stage + 1) {
        train = detail::poolFeatures(trainCache->tensor(), trainLabels, 1024);
        test = detail::poolFeatures(testCache->tensor(), testLabels, 1024);
    } else {
        net->eval();
        auto extract = [&](bool isTrain) {
            auto loader = makeLoader(isTrain, false, 512);
            // probes use the un-augmented images
            loader->startEpoch(0);
            data::Batch b;
            std::vector<torch::Tensor> feats, labels;
            while (loader->next(b)) {
                checkControls();
                torch::NoGradGuard guard;
                detail::AutocastScope ac(amp, ampType, cuda);
                auto x = net->blocks[stage]->forward(prefix(toDevice(b.images), stage));
                feats.push_back(torch::adaptive_avg_pool2d(x.to(torch::kFloat32), {2, 2})
                                    .flatten(1)
                                    .to(torch::kCPU));
                labels.push_back(b.labels);
            }
            return detail::PooledFeatures{torch::cat(feats), torch::cat(labels)};
        };
        train = extract(true);
        test = extract(false);
    }
    auto r = detail::trainLinearProbe(train, test, spec.input.classes, spec.recipe.seed + stage);
    ProbeResult p;
    p.afterStage = afterStage;
    p.layer = stage;
    p.trainAcc = r.first;
    p.testAcc = r.second;
    p.seconds = secondsSince(t0);
    summary.probes.push_back(p);
    obs->probeFinished(p);
}

void Trainer::Impl::runEndToEnd(int startEpoch, bool resuming, const std::string &ckpt)
{
    const int stages = net->stages();
    const int last = stages - 1;
    const int epochs = e2eEpochs();
    auto group = std::make_shared<ParamGroupImpl>();
    for (int j = 0; j < stages; ++j)
        group->add("block" + std::to_string(j), net->blocks[j].ptr());
    group->add("head", net->heads[last].ptr());
    StageOptimizer sopt(group->parameters(), spec.recipe.optimizer, spec.recipe.e2e.lr);
    if (resuming && startEpoch > 0) {
        if (auto r = loadOptimizers(ckpt, {&sopt}); !r)
            throw Stop{RunStatus::Failed, r.message()};
    } else {
        current = {};
    }
    std::int64_t params = 0, macs = 0;
    for (const auto &c : costs.stages) {
        params += c.blockParams;
        macs += c.blockMacs;
    }
    obs->stageStarted({last, epochs, params, costs.stages[last].headParams, macs,
                       costs.stages[last].headMacs, false});
    auto loader = makeLoader(true, true, spec.recipe.batchSize);
    EvalResult lastEval;
    for (int e = startEpoch; e < epochs; ++e) {
        const auto epochStart = Clock::now();
        if (sopt.startEpoch(e))
            log(LogLevel::Info, "epoch " + std::to_string(e + 1) + ": learning rate "
                                    + std::to_string(sopt.lr()) + ", optimizer rebuilt");
        torch::manual_seed(spec.recipe.seed * 7919 + std::uint64_t(e));
        net->train();
        loader->startEpoch(e);
        const auto totals = trainEpoch(
            last, e + 1, static_cast<int>(loader->batchesPerEpoch()), epochStart,
            [&](torch::Tensor &x, torch::Tensor &y) {
                data::Batch b;
                if (!loader->next(b))
                    return false;
                x = toDevice(b.images);
                y = b.labels.to(device, cuda);
                return true;
            },
            sopt, *group, [&](const torch::Tensor &in) { return net->forward(in, last); });
        lastEval = evaluateFull(last);
        lastEval.ensembleAcc = lastEval.acc;
        finishEpoch(last, e + 1, epochStart, totals, lastEval, sopt.lr());
        saveCheckpoint(last, e + 1, false, {&sopt});
    }
    if (startEpoch >= epochs)
        lastEval = evaluateFull(last);
    StageFinished sf;
    sf.stage = last;
    sf.epochs = epochs;
    sf.trainAcc = current.trainAcc;
    sf.testAcc = lastEval.acc;
    sf.ensembleAcc = lastEval.acc;
    sf.seconds = current.seconds;
    sf.imagesPerSecond
        = current.trainSeconds > 0 ? double(current.trainImages) / current.trainSeconds : 0;
    summary.stages.push_back(sf);
    summary.finalTestAcc = sf.testAcc;
    saveCheckpoint(last, epochs, true, {});
    obs->stageFinished(sf);
    if (opt.probes) {
        for (int j = 0; j < stages; ++j)
            probeLayer(j, last);
        saveState(last, epochs, true);
    }
}

void Trainer::Impl::runDecoupled(int startEpoch, bool resuming, const std::string &ckpt)
{
    const int stages = net->stages();
    const int epochs = spec.recipe.epochsPerStage;
    std::vector<std::shared_ptr<ParamGroupImpl>> groups;
    std::vector<std::unique_ptr<StageOptimizer>> optimizers;
    std::vector<StageOptimizer *> optPtrs;
    for (int j = 0; j < stages; ++j) {
        auto g = std::make_shared<ParamGroupImpl>();
        g->add("block", net->blocks[j].ptr());
        g->add("head", net->heads[j].ptr());
        optimizers.push_back(std::make_unique<StageOptimizer>(
            g->parameters(), spec.recipe.optimizer, spec.recipe.lr));
        optPtrs.push_back(optimizers.back().get());
        groups.push_back(g);
    }
    if (resuming && startEpoch > 0) {
        if (auto r = loadOptimizers(ckpt, optPtrs); !r)
            throw Stop{RunStatus::Failed, r.message()};
    } else {
        current = {};
    }
    for (int j = 0; j < stages; ++j) {
        const auto &c = costs.stages[j];
        obs->stageStarted({j, epochs, c.blockParams, c.headParams, c.blockMacs, c.headMacs, false});
    }
    auto loader = makeLoader(true, true, spec.recipe.batchSize);
    std::vector<EvalResult> evals(stages);
    std::vector<double> trainAcc(stages, 0.0);
    for (int e = startEpoch; e < epochs; ++e) {
        const auto epochStart = Clock::now();
        for (auto &o : optimizers)
            if (o->startEpoch(e) && o.get() == optPtrs.front())
                log(LogLevel::Info, "epoch " + std::to_string(e + 1) + ": learning rate "
                                        + std::to_string(o->lr()) + ", optimizers rebuilt");
        torch::manual_seed(spec.recipe.seed * 7919 + std::uint64_t(e));
        net->train();
        loader->startEpoch(e);
        data::Batch b;
        std::vector<std::int64_t> correct(stages, 0);
        std::vector<double> lossSum(stages, 0.0);
        std::int64_t seen = 0;
        int batch = 0;
        const int batches = static_cast<int>(loader->batchesPerEpoch());
        auto lastReport = Clock::now();
        while (true) {
            checkControls();
            if (!loader->next(b))
                break;
            auto x = net->stem->forward(toDevice(b.images));
            auto y = b.labels.to(device, cuda);
            ++batch;
            for (int j = 0; j < stages; ++j) {
                torch::Tensor out;
                auto fwd = [&](const torch::Tensor &in) {
                    out = net->blocks[j]->forward(in);
                    return net->heads[j]->forward(out);
                };
                bool finite = true;
                const double loss
                    = trainStep(*optimizers[j], *groups[j], x, y, fwd, correct[j], finite);
                if (!finite)
                    throw Stop{RunStatus::Failed, detail::divergenceMessage(j, e + 1, batch, loss)};
                lossSum[j] += loss * double(y.size(0));
                x = out.detach();
            }
            seen += y.size(0);
            if (secondsSince(lastReport) >= 0.1) {
                lastReport = Clock::now();
                obs->batchProgress({stages - 1, e + 1, batch, batches,
                                    lossSum.back() / double(seen),
                                    double(seen) / secondsSince(epochStart)});
            }
        }
        const double epochTrainSeconds = secondsSince(epochStart);
        auto [logits, losses] = evaluateHeads(stages - 1, true);
        headTestOutputs.clear();
        ++step;
        for (int j = 0; j < stages; ++j) {
            evals[j] = finishEval(j, logits[j], losses[j]);
            headTestOutputs.push_back(evals[j].outputs);
            trainAcc[j] = double(correct[j]) / double(std::max<std::int64_t>(seen, 1));
            EpochMetrics m;
            m.stage = j;
            m.epoch = e + 1;
            m.step = step;
            m.trainLoss = lossSum[j] / double(std::max<std::int64_t>(seen, 1));
            m.trainAcc = trainAcc[j];
            m.testLoss = evals[j].loss;
            m.testAcc = evals[j].acc;
            m.ensembleAcc = evals[j].ensembleAcc;
            m.lr = optimizers[j]->lr();
            m.imagesPerSecond = double(seen) / std::max(epochTrainSeconds, 1e-9);
            m.seconds = secondsSince(epochStart);
            obs->epochFinished(m);
        }
        current.trainAcc = trainAcc.back();
        current.trainSeconds += epochTrainSeconds;
        current.trainImages += seen;
        current.seconds += secondsSince(epochStart);
        saveCheckpoint(stages - 1, e + 1, false, optPtrs);
    }
    if (startEpoch >= epochs) {
        auto [logits, losses] = evaluateHeads(stages - 1, true);
        headTestOutputs.clear();
        for (int j = 0; j < stages; ++j) {
            evals[j] = finishEval(j, logits[j], losses[j]);
            headTestOutputs.push_back(evals[j].outputs);
        }
    }
    for (int j = 0; j < stages; ++j) {
        StageFinished sf;
        sf.stage = j;
        sf.epochs = epochs;
        sf.trainAcc = trainAcc[j];
        sf.testAcc = evals[j].acc;
        sf.ensembleAcc = evals[j].ensembleAcc;
        sf.seconds = current.seconds;
        sf.imagesPerSecond
            = current.trainSeconds > 0 ? double(current.trainImages) / current.trainSeconds : 0;
        summary.stages.push_back(sf);
        obs->stageFinished(sf);
    }
    summary.finalTestAcc = evals.back().acc;
    saveCheckpoint(stages - 1, epochs, true, {});
    if (opt.probes) {
        for (int j = 0; j < stages; ++j)
            probeLayer(j, stages - 1);
        saveState(stages - 1, epochs, true);
    }
}

Result<RunSummary> Trainer::Impl::execute(bool resuming)
{
    sessionStart = Clock::now();
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
                return fail("cannot resume: the spec in state.json is invalid: "
                            + parsed.message());
            spec = *parsed;
            const auto mode = state.at("mode").get<std::string>();
            opt.mode = mode == "e2e"   ? TrainMode::EndToEnd
                       : mode == "dgl" ? TrainMode::Decoupled
                                       : TrainMode::Greedy;
        } catch (const std::exception &e) {
            return fail(std::string("cannot resume: state.json is damaged: ") + e.what());
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
            startStage = state.at("stage").get<int>();
            startEpoch = state.at("epoch").get<int>();
            stageDone = state.at("stage_done").get<bool>();
            step = state.at("step").get<std::int64_t>();
            elapsedBefore = state.at("seconds").get<double>();
            ckpt = state.at("checkpoint").get<std::string>();
            const auto &cur = state.at("current");
            current.trainAcc = cur.at("train_acc").get<double>();
            current.trainSeconds = cur.at("train_seconds").get<double>();
            current.trainImages = cur.at("train_images").get<std::int64_t>();
            current.seconds = cur.at("seconds").get<double>();
            for (const auto &s : state.at("stages"))
                summary.stages.push_back(stageFromJson(s));
            for (const auto &p : state.at("probes"))
                summary.probes.push_back(probeFromJson(p));
            if (!summary.stages.empty())
                summary.finalTestAcc = summary.stages.back().testAcc;
            if (startStage < 0 || startStage >= net->stages() || startEpoch < 0)
                return fail("cannot resume: state.json names stage " + std::to_string(startStage)
                            + ", epoch " + std::to_string(startEpoch) + ", outside this network");
            if (auto r = loadNetwork(opt.runDir, ckpt); !r)
                return fail("cannot resume: " + r.message());
            lastCheckpoint = ckpt;
        }
    } catch (const std::exception &e) {
        return fail(std::string("cannot resume: state.json is damaged: ") + e.what());
    }

    RunStarted rs;
    rs.mode = opt.mode;
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
            const std::string file = "stage" + std::to_string(opt.lockedStages - 1) + ".pt";
            if (auto r = loadNetwork(opt.branchFrom, file, opt.lockedStages); !r)
                throw Stop{RunStatus::Failed, "cannot branch: " + r.message()};
            startStage = opt.lockedStages;
            log(LogLevel::Info, "branched from " + opt.branchFrom + ": stages 0.."
                                    + std::to_string(opt.lockedStages - 1) + " loaded and frozen");
        }
        switch (opt.mode) {
        case TrainMode::Greedy:
            if (stageDone) {
                ++startStage;
                startEpoch = 0;
            }
            if (startStage < net->stages())
                runGreedy(startStage, startEpoch, resuming, ckpt);
            break;
        case TrainMode::EndToEnd:
            if (!stageDone)
                runEndToEnd(startEpoch, resuming, ckpt);
            break;
        case TrainMode::Decoupled:
            if (!stageDone)
                runDecoupled(startEpoch, resuming, ckpt);
            break;
        }
        summary.status = RunStatus::Finished;
    } catch (const Stop &stop) {
        summary.status = stop.status;
        summary.message = stop.message;
    } catch (const c10::Error &e) {
        summary.status = RunStatus::Failed;
        summary.message = std::string("LibTorch error: ") + e.what_without_backtrace();
    } catch (const std::exception &e) {
        summary.status = RunStatus::Failed;
        summary.message = e.what();
    }
    summary.seconds = elapsed();
    if (summary.status == RunStatus::Failed)
        log(LogLevel::Error, summary.message);
    obs->runEnded({summary.status, summary.message, summary.seconds, summary.finalTestAcc});
    return summary;
}

// ---------------------------------------------------------------------------------------------

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

} // namespace lw

namespace lw {

Result<std::vector<ProbeResult>> probeRun(const std::string &runDir, const Spec &spec,
                                          TrainMode mode, const std::string &device,
                                          TrainObserver *observer)
{
    try {
        TrainOptions options;
        options.spec = spec;
        options.mode = mode;
        options.device = device;
        options.runDir = runDir;
        options.cache = FeatureCache::Off;
        Trainer::Impl impl(options, observer);
        impl.sessionStart = Clock::now();
        impl.spec = spec;
        if (auto r = impl.setUp(); !r)
            return r.error();
        auto state = impl.readState();
        if (!state)
            return state.error();
        std::string ckpt;
        int trained = 0;
        try {
            ckpt = state->at("checkpoint").get<std::string>();
            trained = static_cast<int>(state->at("stages").size());
        } catch (const std::exception &e) {
            return fail(std::string("state.json is damaged: ") + e.what());
        }
        if (trained == 0)
            return fail("run folder '" + runDir + "' has no finished stage to probe");
        if (auto r = impl.loadNetwork(runDir, ckpt); !r)
            return r.error();
        const int layers = mode == TrainMode::Greedy ? trained : impl.net->stages();
        for (int j = 0; j < layers; ++j)
            impl.probeLayer(j, layers - 1);
        return impl.summary.probes;
    } catch (const Stop &stop) {
        return fail(stop.message);
    } catch (const c10::Error &e) {
        return fail(std::string("probe failed: ") + e.what_without_backtrace());
    } catch (const std::exception &e) {
        return fail(std::string("probe failed: ") + e.what());
    }
}

} // namespace lw
