// layerwise-cli train / resume / probe: runs the engine headless, recording into the run store.

#include "app/cli/commands.h"
#include "app/cli/table.h"

#include "core/runtime/runtime.h"
#include "core/store/recorder.h"
#include "core/store/runstore.h"
#include "core/train/trainer.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace lw::cli {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct TrainArgs
{
    std::string preset, specFile, mode = "greedy", dataset, data, augment, precision,
                                  cache = "auto";
    std::string device = "auto", db, name;
    int epochsPerStage = 0, epochs = 0, batch = 0, threads = 0;
    double lr = 0;
    std::int64_t trainLimit = -1, testLimit = -1, seed = -1;
    std::int64_t branchFrom = -1; ///< parent run id ("branch from stage k"), -1: none
    int lockedStages = 0;
    bool probes = false, jsonOut = false;
};

struct ResumeArgs
{
    std::int64_t id = 0;
    std::string device = "auto", db;
    int threads = 0;
    bool jsonOut = false;
};

std::atomic<int> g_interrupts{0};

extern "C" void onInterrupt(int)
{
    g_interrupts.fetch_add(1);
}

/// Ctrl+C cancels the run between batches (it stays resumable); a second Ctrl+C kills.
class InterruptGuard
{
public:
    explicit InterruptGuard(Trainer &trainer)
        : m_trainer(trainer)
    {
        g_interrupts = 0;
        struct sigaction sa = {};
        sa.sa_handler = onInterrupt;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &m_oldInt);
        sigaction(SIGTERM, &sa, &m_oldTerm);
        m_watcher = std::thread([this] {
            while (!m_stop.load()) {
                if (g_interrupts.load() > 0) {
                    if (!m_cancelled) {
                        std::fprintf(
                            stderr,
                            "\nstopping after the current batch (Ctrl+C again to kill)...\n");
                        m_trainer.cancel();
                        m_cancelled = true;
                    } else if (g_interrupts.load() > 1) {
                        std::_Exit(130);
                    }
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
        });
    }
    ~InterruptGuard()
    {
        m_stop = true;
        m_watcher.join();
        sigaction(SIGINT, &m_oldInt, nullptr);
        sigaction(SIGTERM, &m_oldTerm, nullptr);
    }

private:
    Trainer &m_trainer;
    std::atomic<bool> m_stop{false};
    bool m_cancelled = false;
    std::thread m_watcher;
    struct sigaction m_oldInt = {}, m_oldTerm = {};
};

/// Forwards every event to several observers (the store's recorder and the console).
class FanOut : public TrainObserver
{
public:
    explicit FanOut(std::vector<TrainObserver *> observers)
        : m_obs(std::move(observers))
    {}
    void runStarted(const RunStarted &e) override
    {
        each([&](auto *o) { o->runStarted(e); });
    }
    void stageStarted(const StageStarted &e) override
    {
        each([&](auto *o) { o->stageStarted(e); });
    }
    void batchProgress(const BatchProgress &e) override
    {
        each([&](auto *o) { o->batchProgress(e); });
    }
    void epochFinished(const EpochMetrics &e) override
    {
        each([&](auto *o) { o->epochFinished(e); });
    }
    void stageFinished(const StageFinished &e) override
    {
        each([&](auto *o) { o->stageFinished(e); });
    }
    void probeFinished(const ProbeResult &e) override
    {
        each([&](auto *o) { o->probeFinished(e); });
    }
    void checkpointSaved(const CheckpointSaved &e) override
    {
        each([&](auto *o) { o->checkpointSaved(e); });
    }
    void runEnded(const RunEnded &e) override
    {
        each([&](auto *o) { o->runEnded(e); });
    }
    void log(LogLevel l, const std::string &t) override
    {
        each([&](auto *o) { o->log(l, t); });
    }

private:
    template<typename F>
    void each(F f)
    {
        for (auto *o : m_obs)
            if (o)
                f(o);
    }
    std::vector<TrainObserver *> m_obs;
};

/// Progress on stderr: a live bar with ETA on a terminal, one line per epoch otherwise.
class ConsoleObserver : public TrainObserver
{
public:
    ConsoleObserver(int stages, int epochsPerStage, bool quietEpochs)
        : m_tty(isatty(STDERR_FILENO))
        , m_stages(stages)
        , m_epochs(epochsPerStage)
        , m_quiet(quietEpochs)
    {}

    void runStarted(const RunStarted &e) override
    {
        m_start = Clock::now();
        std::fprintf(stderr, "%s %s run on %s (%d threads), %s: %lld train / %lld test images\n",
                     e.resumed ? "resuming" : "starting", toString(e.mode), e.device.c_str(),
                     e.threads, e.dataset.c_str(), static_cast<long long>(e.trainSize),
                     static_cast<long long>(e.testSize));
        if (e.resumed)
            std::fprintf(stderr, "continuing at stage %d after epoch %d\n", e.resumeStage,
                         e.resumeEpoch);
    }
    void stageStarted(const StageStarted &e) override
    {
        m_stage = e.stage;
        m_epochs = e.epochs;
        clearLine();
        std::fprintf(stderr, "stage %d: block %s params, head %s params%s\n", e.stage,
                     humanCount(double(e.blockParams)).c_str(),
                     humanCount(double(e.headParams)).c_str(),
                     e.cachedInput ? ", input from the feature cache" : "");
    }
    void batchProgress(const BatchProgress &e) override
    {
        if (!m_tty)
            return;
        const double frac = e.batches > 0 ? double(e.batch) / e.batches : 0;
        const int width = 24;
        const int filled = static_cast<int>(frac * width);
        std::string bar(filled, '#');
        bar += std::string(width - filled, '.');
        double eta = -1;
        if (m_epochSeconds > 0) {
            const int epochsLeft = m_epochs - e.epoch;
            eta = (1 - frac) * m_epochSeconds + epochsLeft * m_epochSeconds;
        }
        std::fprintf(
            stderr,
            "\r\033[Kstage %d/%d epoch %d/%d [%s] %3.0f%% loss %.4f %6.0f img/s  stage ETA %s",
            e.stage + 1, m_stages, e.epoch, m_epochs, bar.c_str(), frac * 100, e.runningLoss,
            e.imagesPerSecond, eta < 0 ? "-" : humanSeconds(eta).c_str());
        std::fflush(stderr);
        m_dirty = true;
    }
    void epochFinished(const EpochMetrics &e) override
    {
        m_epochSeconds = e.seconds;
        clearLine();
        if (m_quiet)
            return;
        std::fprintf(stderr,
                     "stage %d epoch %d/%d: train loss %.4f acc %s | test %s ensemble %s | lr %g | "
                     "%.0f img/s | %s\n",
                     e.stage, e.epoch, m_epochs, e.trainLoss, percent(e.trainAcc).c_str(),
                     percent(e.testAcc).c_str(), percent(e.ensembleAcc).c_str(), e.lr,
                     e.imagesPerSecond, humanSeconds(e.seconds).c_str());
    }
    void stageFinished(const StageFinished &e) override
    {
        clearLine();
        std::fprintf(stderr, "stage %d done: test %s, ensemble %s, %s\n", e.stage,
                     percent(e.testAcc).c_str(), percent(e.ensembleAcc).c_str(),
                     humanSeconds(e.seconds).c_str());
        m_epochSeconds = 0;
    }
    void probeFinished(const ProbeResult &e) override
    {
        clearLine();
        std::fprintf(stderr, "probe layer %d: train %s, test %s (%s)\n", e.layer,
                     percent(e.trainAcc).c_str(), percent(e.testAcc).c_str(),
                     humanSeconds(e.seconds).c_str());
    }
    void log(LogLevel level, const std::string &text) override
    {
        std::lock_guard lock(m_mutex);
        clearLine();
        std::fprintf(stderr, "%s%s\n",
                     level == LogLevel::Info ? ""
                                             : (std::string(logLevelName(level)) + ": ").c_str(),
                     text.c_str());
    }

private:
    void clearLine()
    {
        if (m_tty && m_dirty) {
            std::fprintf(stderr, "\r\033[K");
            m_dirty = false;
        }
    }
    bool m_tty;
    int m_stages, m_epochs;
    bool m_quiet;
    int m_stage = 0;
    bool m_dirty = false;
    double m_epochSeconds = 0;
    Clock::time_point m_start;
    std::mutex m_mutex;
};

json summaryJson(std::int64_t runId, TrainMode mode, const RunSummary &s)
{
    json stages = json::array();
    for (const auto &st : s.stages)
        stages.push_back({{"stage", st.stage},
                          {"epochs", st.epochs},
                          {"train_acc", st.trainAcc},
                          {"test_acc", st.testAcc},
                          {"ensemble_acc", st.ensembleAcc},
                          {"seconds", st.seconds},
                          {"images_per_second", st.imagesPerSecond}});
    json probes = json::array();
    for (const auto &p : s.probes)
        probes.push_back({{"layer", p.layer},
                          {"after_stage", p.afterStage},
                          {"train_acc", p.trainAcc},
                          {"test_acc", p.testAcc}});
    json out
        = {{"run_id", runId},  {"mode", toString(mode)},           {"status", toString(s.status)},
           {"stages", stages}, {"final_test_acc", s.finalTestAcc}, {"seconds", s.seconds},
           {"probes", probes}};
    if (!s.message.empty())
        out["message"] = s.message;
    return out;
}

void printSummary(std::int64_t runId, TrainMode mode, const RunSummary &s)
{
    Table table({"stage", "epochs", "train acc", "test acc", "ensemble", "time", "img/s"});
    for (int c = 1; c < 7; ++c)
        table.alignRight(c);
    for (const auto &st : s.stages)
        table.addRow({std::to_string(st.stage), std::to_string(st.epochs), percent(st.trainAcc),
                      percent(st.testAcc), percent(st.ensembleAcc), humanSeconds(st.seconds),
                      std::to_string(static_cast<long long>(st.imagesPerSecond))});
    std::printf("%s", table.render().c_str());
    if (!s.probes.empty()) {
        Table probes({"layer", "probe train", "probe test"});
        probes.alignRight(1);
        probes.alignRight(2);
        for (const auto &p : s.probes)
            probes.addRow({std::to_string(p.layer), percent(p.trainAcc), percent(p.testAcc)});
        std::printf("\n%s", probes.render().c_str());
    }
    std::printf("\nrun %lld (%s) %s in %s; final test accuracy %s\n", static_cast<long long>(runId),
                toString(mode), toString(s.status), humanSeconds(s.seconds).c_str(),
                percent(s.finalTestAcc).c_str());
    if (!s.message.empty())
        std::printf("%s\n", s.message.c_str());
}

int exitFor(const RunSummary &s)
{
    return s.status == RunStatus::Finished ? ExitOk : ExitFailure;
}

Result<std::unique_ptr<RunStore>> openStore(const std::string &db)
{
    return RunStore::open(RunStore::resolvePath(db));
}

/// Runs a trainer with the recorder and the console attached; prints the outcome.
int runTrainer(const TrainOptions &options, bool resume, RunStore &store, std::int64_t runId,
               TrainMode mode, int stages, int epochsPerStage, bool jsonOut)
{
    RunRecorder recorder(store, runId);
    ConsoleObserver console(stages, epochsPerStage, false);
    FanOut fan({&recorder, &console});
    Trainer trainer(options, &fan);
    Result<RunSummary> result = [&] {
        InterruptGuard guard(trainer);
        return resume ? trainer.resume() : trainer.run();
    }();
    if (!result) {
        std::fprintf(stderr, "layerwise-cli: %s\n", result.message().c_str());
        (void)store.setStatus(runId, RunStatus::Failed, result.message());
        return ExitBadInput;
    }
    if (!recorder.ok())
        std::fprintf(stderr, "warning: the run store missed some writes: %s\n",
                     recorder.lastError()->message.c_str());
    if (jsonOut)
        std::printf("%s\n", summaryJson(runId, mode, *result).dump().c_str());
    else
        printSummary(runId, mode, *result);
    if (result->status == RunStatus::Cancelled)
        std::fprintf(stderr, "resume with: layerwise-cli resume %lld\n",
                     static_cast<long long>(runId));
    return exitFor(*result);
}

int train(const TrainArgs &a)
{
    Result<Spec> loaded = a.preset.empty() ? loadSpecFile(a.specFile) : loadPreset(a.preset);
    if (!loaded) {
        std::fprintf(stderr, "layerwise-cli: %s\n", loaded.message().c_str());
        return ExitBadInput;
    }
    Spec spec = *loaded;
    auto &r = spec.recipe;
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
    if (a.trainLimit >= 0)
        r.dataset.trainLimit = a.trainLimit;
    if (a.testLimit >= 0)
        r.dataset.testLimit = a.testLimit;
    if (a.seed >= 0)
        r.seed = static_cast<std::uint64_t>(a.seed);
    if (auto issues = validateSpec(spec); !issues.empty()) {
        for (const auto &i : issues)
            std::fprintf(stderr, "layerwise-cli: %s\n", i.toString().c_str());
        return ExitBadInput;
    }
    auto mode = parseTrainMode(a.mode);
    if (!mode) {
        std::fprintf(stderr, "layerwise-cli: --mode %s: expected greedy, e2e or dgl\n",
                     a.mode.c_str());
        return ExitBadInput;
    }
    auto summary = summarizeSpec(spec);
    const bool branch = a.branchFrom >= 0;
    const int stages = static_cast<int>(spec.stages.size());
    if (branch && *mode != TrainMode::Greedy) {
        std::fprintf(stderr,
                     "layerwise-cli: --branch-from needs --mode greedy (a branch trains stages "
                     "%d.. greedily on the frozen ones), not %s\n",
                     a.lockedStages, toString(*mode));
        return ExitBadInput;
    }
    if (branch && (a.lockedStages < 1 || a.lockedStages >= stages)) {
        std::fprintf(stderr,
                     "layerwise-cli: --locked-stages %d: expected 1 to %d (the spec has %d "
                     "stages and at least one must be trained)\n",
                     a.lockedStages, stages - 1, stages);
        return ExitBadInput;
    }
    auto store = openStore(a.db);
    if (!store) {
        std::fprintf(stderr, "layerwise-cli: %s\n", store.message().c_str());
        return ExitBadInput;
    }
    std::string branchDir;
    if (branch) {
        auto parent = (*store)->getRun(a.branchFrom);
        if (!parent) {
            std::fprintf(stderr, "layerwise-cli: --branch-from %lld: %s (store %s)\n",
                         static_cast<long long>(a.branchFrom), parent.message().c_str(),
                         (*store)->path().c_str());
            return ExitBadInput;
        }
        branchDir = (*store)->runDir(a.branchFrom);
        const std::string ckpt = branchDir + "/stage" + std::to_string(a.lockedStages - 1) + ".pt";
        std::error_code ec;
        if (!std::filesystem::is_regular_file(ckpt, ec)) {
            std::fprintf(stderr,
                         "layerwise-cli: --branch-from %lld --locked-stages %d: the parent's "
                         "checkpoint of stage %d is missing (%s); the parent must have finished "
                         "stage %d\n",
                         static_cast<long long>(a.branchFrom), a.lockedStages, a.lockedStages - 1,
                         ckpt.c_str(), a.lockedStages - 1);
            return ExitBadInput;
        }
    }
    NewRun nr;
    nr.name = a.name.empty()
                  ? (spec.name.empty() ? std::string("run") : spec.name) + " " + toString(*mode)
                  : a.name;
    nr.mode = *mode;
    nr.specJson = serializeSpec(spec);
    nr.recipeJson = serializeRecipe(spec.recipe);
    nr.specName
        = a.preset.empty() ? std::filesystem::path(a.specFile).filename().string() : a.preset;
    nr.dataset = r.dataset.name;
    nr.device = a.device;
    nr.seed = static_cast<std::int64_t>(r.seed);
    nr.torchVersion = runtimeInfo().torchVersion;
    nr.stages = static_cast<int>(spec.stages.size());
    if (branch) {
        nr.parentRun = a.branchFrom;
        nr.branchStage = a.lockedStages;
    }
    if (summary) {
        nr.params = summary->totalParams;
        nr.macs = summary->totalMacs;
    }
    auto id = (*store)->createRun(nr);
    if (!id) {
        std::fprintf(stderr, "layerwise-cli: %s\n", id.message().c_str());
        return ExitFailure;
    }
    // The locked stages are the parent's blocks and heads: their results are the parent's.
    if (a.branchFrom >= 0)
        if (auto r = (*store)->inheritStages(a.branchFrom, *id, a.lockedStages); !r)
            std::fprintf(stderr, "warning: %s\n", r.message().c_str());
    TrainOptions opt;
    opt.spec = spec;
    opt.mode = *mode;
    opt.device = a.device;
    opt.threads = a.threads;
    opt.cache = a.cache == "on"    ? FeatureCache::On
                : a.cache == "off" ? FeatureCache::Off
                                   : FeatureCache::Auto;
    opt.probes = a.probes;
    opt.runDir = (*store)->runDir(*id);
    opt.branchFrom = branchDir;
    opt.lockedStages = branch ? a.lockedStages : 0;
    std::fprintf(stderr, "run %lld: %s\n", static_cast<long long>(*id), opt.runDir.c_str());
    if (branch)
        std::fprintf(stderr, "branch of run %lld: stages 0..%d loaded from %s and frozen\n",
                     static_cast<long long>(a.branchFrom), a.lockedStages - 1, branchDir.c_str());
    return runTrainer(opt, false, **store, *id, *mode, nr.stages, r.epochsPerStage, a.jsonOut);
}

/// Loads a stored run's detail; prints why not and returns the exit code otherwise.
int loadRun(RunStore &store, std::int64_t id, RunDetail &detail)
{
    auto d = store.getRun(id);
    if (!d) {
        std::fprintf(stderr, "layerwise-cli: %s\n", d.message().c_str());
        return ExitBadInput;
    }
    detail = std::move(*d);
    return ExitOk;
}

int resume(const ResumeArgs &a)
{
    auto store = openStore(a.db);
    if (!store) {
        std::fprintf(stderr, "layerwise-cli: %s\n", store.message().c_str());
        return ExitBadInput;
    }
    RunDetail detail;
    if (int rc = loadRun(**store, a.id, detail); rc != ExitOk)
        return rc;
    if (detail.run.status == RunStatus::Finished) {
        std::fprintf(stderr, "layerwise-cli: run %lld is finished; nothing to resume\n",
                     static_cast<long long>(a.id));
        return ExitBadInput;
    }
    if ((*store)->isLive(a.id)) {
        std::fprintf(stderr, "layerwise-cli: run %lld is being trained by another process\n",
                     static_cast<long long>(a.id));
        return ExitBadInput;
    }
    auto spec = parseSpec(detail.specJson);
    if (!spec) {
        std::fprintf(stderr, "layerwise-cli: run %lld: stored spec is invalid: %s\n",
                     static_cast<long long>(a.id), spec.message().c_str());
        return ExitFailure;
    }
    TrainOptions opt;
    opt.spec = *spec;
    opt.mode = detail.run.mode;
    opt.device = a.device;
    opt.threads = a.threads;
    opt.runDir = (*store)->runDir(a.id);
    if (!std::filesystem::exists(opt.runDir + "/state.json")) {
        std::fprintf(
            stderr,
            "layerwise-cli: run %lld has no checkpoint yet (%s/state.json); start it again "
            "with layerwise-cli train\n",
            static_cast<long long>(a.id), opt.runDir.c_str());
        return ExitBadInput;
    }
    return runTrainer(opt, true, **store, a.id, detail.run.mode,
                      static_cast<int>(spec->stages.size()), spec->recipe.epochsPerStage,
                      a.jsonOut);
}

int probe(const ResumeArgs &a)
{
    auto store = openStore(a.db);
    if (!store) {
        std::fprintf(stderr, "layerwise-cli: %s\n", store.message().c_str());
        return ExitBadInput;
    }
    RunDetail detail;
    if (int rc = loadRun(**store, a.id, detail); rc != ExitOk)
        return rc;
    auto spec = parseSpec(detail.specJson);
    if (!spec) {
        std::fprintf(stderr, "layerwise-cli: run %lld: stored spec is invalid: %s\n",
                     static_cast<long long>(a.id), spec.message().c_str());
        return ExitFailure;
    }
    configureRuntime(a.threads);
    ConsoleObserver console(static_cast<int>(spec->stages.size()), spec->recipe.epochsPerStage,
                            true);
    auto probes = probeRun((*store)->runDir(a.id), *spec, detail.run.mode, a.device, &console);
    if (!probes) {
        std::fprintf(stderr, "layerwise-cli: run %lld: %s\n", static_cast<long long>(a.id),
                     probes.message().c_str());
        return ExitFailure;
    }
    for (const auto &p : *probes)
        if (auto r = (*store)->recordProbe(a.id, p); !r)
            std::fprintf(stderr, "warning: probe not stored: %s\n", r.message().c_str());
    if (a.jsonOut) {
        json arr = json::array();
        for (const auto &p : *probes)
            arr.push_back({{"layer", p.layer},
                           {"after_stage", p.afterStage},
                           {"train_acc", p.trainAcc},
                           {"test_acc", p.testAcc}});
        std::printf("%s\n", json{{"run_id", a.id}, {"probes", arr}}.dump().c_str());
    } else {
        Table t({"layer", "probe train", "probe test", "time"});
        for (int c = 1; c < 4; ++c)
            t.alignRight(c);
        for (const auto &p : *probes)
            t.addRow({std::to_string(p.layer), percent(p.trainAcc), percent(p.testAcc),
                      humanSeconds(p.seconds)});
        std::printf("%s", t.render().c_str());
    }
    return ExitOk;
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
        ->check(CLI::PositiveNumber);
    cmd->add_option("--epochs", args->epochs, "Epochs of an end-to-end run")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--batch", args->batch, "Training batch size")->check(CLI::PositiveNumber);
    cmd->add_option("--lr", args->lr, "Initial learning rate")->check(CLI::PositiveNumber);
    cmd->add_option("--augment", args->augment, "on | off (default: the recipe's)")
        ->check(CLI::IsMember({"on", "off"}));
    cmd->add_option("--precision", args->precision,
                    "fp32 | bf16 | fp16 (default: the recipe's): bf16 autocast on CUDA and on "
                    "CPUs with bf16 instructions (AMX, AVX512-BF16); fp16 on CUDA only")
        ->check(CLI::IsMember({"fp32", "bf16", "fp16"}));
    cmd->add_option("--cache-features", args->cache,
                    "auto | on | off: train stage j on cached outputs of the frozen prefix")
        ->check(CLI::IsMember({"auto", "on", "off"}))
        ->capture_default_str();
    cmd->add_option("--train-limit", args->trainLimit, "Seeded class-balanced training subset size")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--test-limit", args->testLimit, "Seeded class-balanced test subset size")
        ->check(CLI::NonNegativeNumber);
    cmd->add_flag("--probes", args->probes,
                  "Linear-separability probe of each layer after its stage");
    cmd->add_option("--device", args->device, "auto | cpu | cuda | cuda:N")->capture_default_str();
    cmd->add_option("--threads", args->threads, "CPU threads (default: all cores)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--seed", args->seed, "Seed (default: the recipe's)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--db", args->db,
                    "Run store (default: $LAYERWISE_DB or ~/.local/share/layerwise/runs.sqlite)");
    cmd->add_option("--name", args->name, "Run name");
    auto *branchFrom
        = cmd->add_option("--branch-from", args->branchFrom,
                          "Branch from a stored run: load its first --locked-stages stages "
                          "(its stage checkpoint) frozen and train the rest (greedy only)")
              ->check(CLI::NonNegativeNumber);
    auto *locked = cmd->add_option("--locked-stages", args->lockedStages,
                                   "How many stages of the --branch-from run to keep (k >= 1: "
                                   "stages 0..k-1 come from its stage<k-1>.pt)")
                       ->check(CLI::PositiveNumber);
    branchFrom->needs(locked);
    locked->needs(branchFrom);
    cmd->add_flag("--json", args->jsonOut, "Print the outcome as one JSON object on stdout");
    cmd->callback([args, cmd, &ctx] {
        if (args->preset.empty() && args->specFile.empty())
            throw CLI::RequiredError("--preset or --spec");
        (void)cmd;
        ctx.exitCode = train(*args);
    });

    auto rargs = std::make_shared<ResumeArgs>();
    auto *res = app.add_subcommand(
        "resume", "Continue an interrupted or cancelled run from its last checkpoint");
    res->add_option("id", rargs->id, "Run id")->required();
    res->add_option("--device", rargs->device, "auto | cpu | cuda | cuda:N")->capture_default_str();
    res->add_option("--threads", rargs->threads, "CPU threads (default: all cores)");
    res->add_option("--db", rargs->db, "Run store");
    res->add_flag("--json", rargs->jsonOut, "Print the outcome as one JSON object on stdout");
    res->callback([rargs, &ctx] { ctx.exitCode = resume(*rargs); });

    auto pargs = std::make_shared<ResumeArgs>();
    auto *prb
        = app.add_subcommand("probe", "Linear-separability probes of every layer of a stored run");
    prb->add_option("id", pargs->id, "Run id")->required();
    prb->add_option("--device", pargs->device, "auto | cpu | cuda | cuda:N")->capture_default_str();
    prb->add_option("--threads", pargs->threads, "CPU threads (default: all cores)");
    prb->add_option("--db", pargs->db, "Run store");
    prb->add_flag("--json", pargs->jsonOut, "Print the probes as JSON");
    prb->callback([pargs, &ctx] { ctx.exitCode = probe(*pargs); });
}

} // namespace lw::cli
