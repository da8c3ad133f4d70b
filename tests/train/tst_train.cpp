// The training engine on small seeded synthetic data (CPU): what METHOD.md's procedure promises.

#include "core/model/model_p.h"
#include "core/store/recorder.h"
#include "core/train/engine_p.h"
#include "core/train/probe_p.h"
#include "core/train/trainer.h"
#include "tests/support/support.h"

#include <QtTest>

#include <QProcess>
#include <QTemporaryDir>

#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace lw;

namespace {

/// Trains `spec` on one thread with the given feature cache (and budget, 0: automatic): the run's
/// final status (-1 when it was refused) and every event it reported.
std::pair<int, test::EventLog> runOneThread(const Spec &spec, FeatureCache cache,
                                            std::int64_t budget = 0)
{
    TrainOptions o;
    o.spec = spec;
    o.cache = cache;
    o.cacheBudgetBytes = budget;
    o.threads = 1;
    test::EventLog rec;
    Trainer t(o, &rec);
    auto r = t.run();
    return {r.ok() ? int(r->status) : -1, rec};
}

/// Trains with `o`: the result and every event the run reported.
std::pair<Result<RunSummary>, test::EventLog> trainWith(const TrainOptions &o)
{
    test::EventLog rec;
    Trainer t(o, &rec);
    auto r = t.run();
    return {std::move(r), std::move(rec)};
}

/// The tiny spec (2 epochs per stage) trained in `mode`.
std::pair<Result<RunSummary>, test::EventLog> trainIn(TrainMode mode)
{
    TrainOptions o;
    o.spec = test::tinySpec(2);
    o.mode = mode;
    return trainWith(o);
}

std::vector<torch::Tensor> stateOf(torch::nn::Module &m)
{
    std::vector<torch::Tensor> out;
    for (auto &p : m.parameters())
        out.push_back(p.detach().clone());
    for (auto &b : m.buffers())
        out.push_back(b.detach().clone());
    return out;
}

} // namespace

class TestTrain : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void lrSchedule();
    void optimizerResetsAtDecay();
    void ensembleWeights();
    void greedyRunReportsEveryEpoch();
    void topFiveWithManyClasses();
    void frozenStagesStayBitIdentical();
    void cachedTrainingMatchesRecompute();
    void bf16AutocastOnCpu();
    void nanStopsTheStage();
    void cancelThenResumeCompletes();
    void resumeCountsTimeFromTheStop();
    void killDuringTrainingThenResume();
    void cliBranchFromStoredRun();
    void endToEndAndDecoupled();
    void probeOnSeparableFeatures();
    void probesAfterEachStage();
    void badSpecAndDevice();
    void resumeRejectsForeignCheckpoint();
    void branchWithDifferentLockedStageFails();
};

void TestTrain::lrSchedule()
{
    LrSchedule every{0.1, 5.0, 15, {}, true};
    QCOMPARE(lw::detail::lrForEpoch(every, 0), 0.1);
    QCOMPARE(lw::detail::lrForEpoch(every, 14), 0.1);
    QVERIFY(qFuzzyCompare(lw::detail::lrForEpoch(every, 15), 0.02));
    QVERIFY(qFuzzyCompare(lw::detail::lrForEpoch(every, 30), 0.004));
    QVERIFY(lw::detail::decaysAt(every, 15));
    QVERIFY(!lw::detail::decaysAt(every, 16));
    LrSchedule at{0.1, 10.0, 0, {20, 40}, true};
    QCOMPARE(lw::detail::decaysBefore(at, 19), 0);
    QCOMPARE(lw::detail::decaysBefore(at, 20), 1);
    QCOMPARE(lw::detail::decaysBefore(at, 43), 2);
    QVERIFY(lw::detail::decaysAt(at, 40));
}

void TestTrain::optimizerResetsAtDecay()
{
    torch::manual_seed(0);
    torch::nn::Linear lin(4, 2);
    LrSchedule sched{0.1, 5.0, 0, {2}, true};
    lw::detail::StageOptimizer opt(lin->parameters(), OptimizerSpec{}, sched);
    auto stepOnce = [&] {
        opt.sgd().zero_grad();
        lin->forward(torch::randn({8, 4})).sum().backward();
        opt.sgd().step();
    };
    QVERIFY(!opt.startEpoch(0));
    stepOnce();
    QCOMPARE(opt.momentumBuffers(), 2);
    QVERIFY(!opt.startEpoch(1)); // no decay: momentum kept
    QCOMPARE(opt.momentumBuffers(), 2);
    QVERIFY(opt.startEpoch(2)); // decay: rebuilt, momentum gone
    QCOMPARE(opt.momentumBuffers(), 0);
    QVERIFY(qFuzzyCompare(opt.lr(), 0.02));

    // The option that keeps momentum only changes the LR.
    sched.resetOptimizer = false;
    lw::detail::StageOptimizer keep(lin->parameters(), OptimizerSpec{}, sched);
    keep.startEpoch(0);
    keep.sgd().zero_grad();
    lin->forward(torch::randn({8, 4})).sum().backward();
    keep.sgd().step();
    QVERIFY(!keep.startEpoch(2));
    QCOMPARE(keep.momentumBuffers(), 2);
    const auto &group = keep.sgd().param_groups().front();
    QVERIFY(
        qFuzzyCompare(static_cast<const torch::optim::SGDOptions &>(group.options()).lr(), 0.02));
}

void TestTrain::ensembleWeights()
{
    auto w = lw::detail::ensembleWeights(4);
    QCOMPARE(int(w.size()), 4);
    QVERIFY(qFuzzyCompare(w[0], 1.0 / 15));
    QVERIFY(qFuzzyCompare(w[1], 2.0 / 15));
    QVERIFY(qFuzzyCompare(w[2], 4.0 / 15));
    QVERIFY(qFuzzyCompare(w[3], 8.0 / 15));
    QCOMPARE(lw::detail::ensembleWeights(1).front(), 1.0);
}

void TestTrain::greedyRunReportsEveryEpoch()
{
    QTemporaryDir dir;
    TrainOptions o;
    o.spec = test::tinySpec(2);
    o.runDir = dir.path().toStdString();
    o.threads = 2;
    test::EventLog rec;
    Trainer t(o, &rec);
    auto r = t.run();
    QVERIFY2(r.ok(), r.ok() ? "" : r.message().c_str());
    QCOMPARE(int(r->status), int(RunStatus::Finished));
    QCOMPARE(int(rec.epochs.size()), 6);
    QCOMPARE(int(rec.stages.size()), 3);
    for (int i = 0; i < 6; ++i) {
        QCOMPARE(rec.epochs[i].stage, i / 2);
        QCOMPARE(rec.epochs[i].epoch, i % 2 + 1);
        QCOMPARE(rec.epochs[i].step, std::int64_t(i + 1));
        QVERIFY(rec.epochs[i].imagesPerSecond > 0);
    }
    // LR /5 at the milestone (epoch index 1) in each stage.
    QVERIFY(qFuzzyCompare(rec.epochs[0].lr, 0.05));
    QVERIFY(qFuzzyCompare(rec.epochs[1].lr, 0.01));
    // The synthetic set is learnable: the last head beats chance (25%) clearly.
    QVERIFY2(r->finalTestAcc > 0.6, std::to_string(r->finalTestAcc).c_str());
    // Stage 0's ensemble is its own head.
    QCOMPARE(rec.epochs[0].ensembleAcc, rec.epochs[0].testAcc);
    QVERIFY(QFile::exists(dir.filePath("stage2.pt")));
    QVERIFY(QFile::exists(dir.filePath("state.json")));
}

void TestTrain::topFiveWithManyClasses()
{
    // Top-5 is measured where it says more than top-1 (more than 10 classes), reported each
    // epoch with the images and optimizer steps trained, and stored with the run.
    test::TempStore store;
    QVERIFY(store.ok());
    Spec spec = test::tinySpec(1);
    spec.input.classes = 12;
    NewRun nr;
    nr.name = "twelve classes";
    nr.stages = 3;
    const auto id = store->createRun(nr);
    QVERIFY2(id, id ? "" : id.message().c_str());
    TrainOptions o;
    o.spec = spec;
    o.runDir = store->runDir(*id);
    o.threads = 2;
    test::EventLog log;
    RunRecorder recorder(*store, *id, RecorderOptions{0.0});
    ObserverFanOut fan({&log, &recorder});
    Trainer t(o, &fan);
    auto r = t.run();
    QVERIFY2(r.ok(), r.ok() ? "" : r.message().c_str());
    QCOMPARE(int(log.epochs.size()), 3);
    for (const EpochMetrics &e : log.epochs) {
        QVERIFY2(e.testTop5 >= e.testAcc, std::to_string(e.testTop5).c_str());
        QVERIFY(e.testTop5 <= 1.0);
        QCOMPARE(e.trainImages, 512.0);
        QCOMPARE(e.trainSteps, 8.0); // 512 images in batches of 64
    }
    // 12 classes, chance top-5 is 5/12: a trained head does better than top-1 alone.
    QVERIFY(log.epochs.back().testTop5 > log.epochs.back().testAcc);
    auto row = store->getRun(*id);
    QVERIFY(row);
    QVERIFY(row->run.finalTestTop5);
    QCOMPARE(*row->run.finalTestTop5, log.epochs.back().testTop5);
    auto h = store->history(*id);
    QVERIFY(h);
    QCOMPARE(h->epochs.size(), log.epochs.size());
    for (std::size_t i = 0; i < log.epochs.size(); ++i) {
        QCOMPARE(h->epochs[i].testTop5, log.epochs[i].testTop5);
        QCOMPARE(h->epochs[i].trainImages, 512.0);
    }

    // Four classes: no top-5 (it would always be 100 %), none stored.
    test::TempStore four;
    const auto id4 = four->createRun(nr);
    QVERIFY(id4);
    o.spec = test::tinySpec(1);
    o.runDir = four->runDir(*id4);
    RunRecorder recorder4(*four, *id4, RecorderOptions{0.0});
    Trainer t4(o, &recorder4);
    QVERIFY(t4.run().ok());
    QVERIFY(!four->getRun(*id4)->run.finalTestTop5);
    QVERIFY(std::isnan(four->history(*id4)->epochs.front().testTop5));
}

void TestTrain::frozenStagesStayBitIdentical()
{
    // Train stages 0 and 1, snapshot stage 0, train stage 2 from the checkpoint, compare.
    QTemporaryDir dir;
    Spec spec = test::tinySpec(2);
    TrainOptions o;
    o.spec = spec;
    o.runDir = dir.path().toStdString();
    o.threads = 2;
    // Stopped once stage 1's file is written: the rolling checkpoint after it gives way (a stop
    // is honoured inside checkpoint writes too), stage 2 not begun.
    struct StopAfterStage1File : test::EventLog
    {
        Trainer *trainer = nullptr;
        void checkpointSaved(const CheckpointSaved &c) override
        {
            test::EventLog::checkpointSaved(c);
            if (c.stageEnd && c.stage == 1)
                trainer->cancel();
        }
    } rec;
    std::unique_ptr<Trainer> trainer;
    trainer = std::make_unique<Trainer>(o, &rec);
    rec.trainer = trainer.get();
    auto first = trainer->run();
    QVERIFY(first.ok());
    QCOMPARE(int(first->status), int(RunStatus::Cancelled));

    auto loadStage0 = [&](const std::string &file) {
        model::Network net(spec);
        torch::serialize::InputArchive a;
        a.load_from(dir.filePath(QString::fromStdString(file)).toStdString());
        net->load(a);
        auto block = stateOf(*net->blocks[0]);
        auto head = stateOf(*net->heads[0]);
        block.insert(block.end(), head.begin(), head.end());
        return block;
    };
    const auto before = loadStage0("stage1.pt");
    test::EventLog rec2;
    TrainOptions o2 = o;
    Trainer again(o2, &rec2);
    auto second = again.resume();
    QVERIFY2(second.ok(), second.ok() ? "" : second.message().c_str());
    QCOMPARE(int(second->status), int(RunStatus::Finished));
    QVERIFY(!rec2.epochs.empty());
    QCOMPARE(rec2.epochs.front().stage, 2);
    const auto after = loadStage0("stage2.pt");
    QCOMPARE(before.size(), after.size());
    for (std::size_t i = 0; i < before.size(); ++i)
        QVERIFY2(torch::equal(before[i], after[i]),
                 ("tensor " + std::to_string(i) + " changed").c_str());
}

void TestTrain::cachedTrainingMatchesRecompute()
{
    auto runWith = [](FeatureCache cache, std::int64_t budget = 0) {
        return runOneThread(test::tinySpec(2), cache, budget);
    };
    auto [s1, cached] = runWith(FeatureCache::On);
    auto [s2, recomputed] = runWith(FeatureCache::Off);
    QCOMPARE(s1, int(RunStatus::Finished));
    QCOMPARE(s2, int(RunStatus::Finished));
    QCOMPARE(cached.epochs.size(), recomputed.epochs.size());
    for (std::size_t i = 0; i < cached.epochs.size(); ++i) {
        const auto &a = cached.epochs[i];
        const auto &b = recomputed.epochs[i];
        QVERIFY2(std::abs(a.trainLoss - b.trainLoss) < 1e-4 * std::max(1.0, b.trainLoss),
                 (std::to_string(a.trainLoss) + " vs " + std::to_string(b.trainLoss)).c_str());
        QVERIFY(std::abs(a.testLoss - b.testLoss) < 1e-4 * std::max(1.0, b.testLoss));
        QVERIFY(std::abs(a.testAcc - b.testAcc) <= 2.0 / 256);
    }
    bool saidCache = false;
    for (const auto &l : cached.logs)
        saidCache |= l.rfind("feature cache: on", 0) == 0;
    QVERIFY(saidCache);

    // A budget that holds each stage's cache (stage 2: 8x8x8 x 768 samples = 1.5 MiB; stage 3:
    // 0.75 MiB) but not two at once: stage 3's cache is rebuilt from the images after the old
    // one is freed, with the same losses.
    auto [s3, tight] = runWith(FeatureCache::On, 2 << 20);
    QCOMPARE(s3, int(RunStatus::Finished));
    QCOMPARE(tight.epochs.size(), cached.epochs.size());
    for (std::size_t i = 0; i < tight.epochs.size(); ++i)
        QVERIFY(std::abs(tight.epochs[i].trainLoss - cached.epochs[i].trainLoss)
                < 1e-4 * std::max(1.0, cached.epochs[i].trainLoss));
    bool recomputedFromImages = false, spilled = false;
    for (const auto &l : tight.logs) {
        recomputedFromImages |= l.find("freeing the old one") != std::string::npos;
        spilled |= l.find("memory-mapped on disk") != std::string::npos;
    }
    QVERIFY(recomputedFromImages);
    QVERIFY(!spilled);
}

void TestTrain::bf16AutocastOnCpu()
{
    // Autocast scopes nest and restore the state they found; convolutions run in bf16 inside.
    // (Seen through a convolution's output type, the same with LibTorch 1.13 and 2.x.)
    auto convType = [] {
        return torch::conv2d(torch::randn({2, 3, 8, 8}), torch::randn({4, 3, 3, 3})).scalar_type();
    };
    QCOMPARE(convType(), torch::kFloat32);
    {
        lw::detail::AutocastScope outer(true, torch::kBFloat16, false);
        QCOMPARE(convType(), torch::kBFloat16);
        {
            lw::detail::AutocastScope inner(true, torch::kBFloat16, false);
            lw::detail::AutocastScope off(false, torch::kBFloat16, false);
            QCOMPARE(convType(), torch::kBFloat16);
        }
        QCOMPARE(convType(), torch::kBFloat16);
    }
    QCOMPARE(convType(), torch::kFloat32);

    // A bf16 cache takes half the room of a float one.
    auto c32
        = lw::detail::FeatureCache::create(10, {8, 4, 4}, 1 << 20, QDir::tempPath().toStdString());
    auto c16 = lw::detail::FeatureCache::create(10, {8, 4, 4}, 1 << 20,
                                                QDir::tempPath().toStdString(), torch::kBFloat16);
    QVERIFY(c32.ok() && c16.ok());
    QCOMPARE((*c32)->bytes(), std::int64_t(10 * 8 * 4 * 4 * 4));
    QCOMPARE((*c16)->bytes(), std::int64_t(10 * 8 * 4 * 4 * 2));
    QCOMPARE((*c16)->tensor().scalar_type(), torch::kBFloat16);

    auto runWith = [](const std::string &precision, FeatureCache cache) {
        Spec spec = test::tinySpec(2);
        spec.recipe.precision = precision;
        return runOneThread(spec, cache);
    };
    auto [s32, fp32] = runWith("fp32", FeatureCache::On);
    auto [s16, cached] = runWith("bf16", FeatureCache::On);
    auto [s16r, recomputed] = runWith("bf16", FeatureCache::Off);
    auto [sh, fp16] = runWith("fp16", FeatureCache::On);
    QCOMPARE(s32, int(RunStatus::Finished));
    QCOMPARE(s16, int(RunStatus::Finished));
    QCOMPARE(s16r, int(RunStatus::Finished));
    QCOMPARE(sh, int(RunStatus::Finished));

    auto said = [](const test::EventLog &r, const std::string &text) {
        for (const auto &l : r.logs)
            if (l.find(text) != std::string::npos)
                return true;
        return false;
    };
    // bf16 really ran in bf16 (on a CPU without bf16 instructions, with a warning saying so).
    QVERIFY(said(cached, "precision bf16"));
    QVERIFY(!said(fp32, "precision bf16"));
    // The cached stage inputs are bf16: half of the fp32 run's cache.
    auto cacheSize = [](const test::EventLog &r) {
        for (const auto &l : r.logs)
            if (l.rfind("feature cache: on, stage 2", 0) == 0)
                return QString::fromStdString(l).section(QStringLiteral(", "), 1, 2);
        return QString();
    };
    // (stage 2's inputs: 8x8x8 values x (512 + 256) samples)
    QCOMPARE(cacheSize(fp32), QStringLiteral("stage 2 inputs 8x8x8, 1.50 MiB in RAM"));
    QCOMPARE(cacheSize(cached), QStringLiteral("stage 2 inputs 8x8x8 bf16, 768 KiB in RAM"));

    // bf16 learns the task as fp32 does; cached and recomputed prefixes agree within bf16's
    // rounding (the same bf16 prefix outputs, computed in other batch sizes).
    QCOMPARE(cached.epochs.size(), fp32.epochs.size());
    QCOMPARE(recomputed.epochs.size(), fp32.epochs.size());
    for (std::size_t i = 0; i < cached.epochs.size(); ++i) {
        const auto &a = cached.epochs[i], &b = recomputed.epochs[i], &f = fp32.epochs[i];
        QVERIFY2(std::isfinite(a.trainLoss) && std::isfinite(a.testLoss), "bf16 loss not finite");
        QVERIFY2(std::abs(a.trainLoss - b.trainLoss) < 0.05 * std::max(1.0, b.trainLoss),
                 (std::to_string(a.trainLoss) + " vs " + std::to_string(b.trainLoss)).c_str());
        QVERIFY2(std::abs(a.testAcc - f.testAcc) <= 0.08,
                 (std::to_string(a.testAcc) + " vs fp32 " + std::to_string(f.testAcc)).c_str());
    }
    QVERIFY2(cached.stages.back().testAcc > 0.6,
             std::to_string(cached.stages.back().testAcc).c_str());

    // fp16 has no CPU autocast: the run says so and trains in fp32 (the same numbers).
    QVERIFY(said(fp16, "precision fp16 needs CUDA"));
    QCOMPARE(fp16.epochs.size(), fp32.epochs.size());
    for (std::size_t i = 0; i < fp16.epochs.size(); ++i)
        QCOMPARE(fp16.epochs[i].trainLoss, fp32.epochs[i].trainLoss);
}

void TestTrain::nanStopsTheStage()
{
    QTemporaryDir dir;
    TrainOptions o;
    o.spec = test::tinySpec(2);
    // Inputs scaled by 1e20 through a stage without batch norm (an LR that large is refused):
    // the loss overflows in the first epoch.
    o.spec.recipe.normalize.std = {1e-20};
    o.spec.stages[0].bn = false;
    o.spec.stages[0].bias = true;
    o.spec.stages[0].head.bn = false;
    o.runDir = dir.path().toStdString();
    test::EventLog rec;
    Trainer t(o, &rec);
    auto r = t.run();
    QVERIFY(r.ok());
    QCOMPARE(int(r->status), int(RunStatus::Failed));
    QVERIFY2(r->message.find("stage 1, epoch 1, batch ") == 0, r->message.c_str());
    QVERIFY(r->message.find("diverged") != std::string::npos);
    QVERIFY(rec.stages.empty());
}

void TestTrain::cancelThenResumeCompletes()
{
    QTemporaryDir dir;
    TrainOptions o;
    o.spec = test::tinySpec(2);
    o.runDir = dir.path().toStdString();
    test::EventLog rec;
    std::unique_ptr<Trainer> trainer;
    int batches = 0;
    rec.onBatch = [&](const BatchProgress &b) {
        if (b.stage == 1 && ++batches == 1)
            trainer->cancel(); // mid-epoch
    };
    // Batch progress is throttled to 10/s; make sure stage 1 is cancelled at its first epoch end
    // at the latest.
    rec.onEpoch = [&](const EpochMetrics &m) {
        if (m.stage == 1)
            trainer->cancel();
    };
    trainer = std::make_unique<Trainer>(o, &rec);
    auto first = trainer->run();
    QVERIFY(first.ok());
    QCOMPARE(int(first->status), int(RunStatus::Cancelled));
    const int doneBefore = int(rec.epochs.size());
    QVERIFY(doneBefore >= 2 && doneBefore <= 3);

    test::EventLog rec2;
    Trainer again(o, &rec2);
    auto second = again.resume();
    QVERIFY2(second.ok(), second.ok() ? "" : second.message().c_str());
    QCOMPARE(int(second->status), int(RunStatus::Finished));
    QCOMPARE(doneBefore + int(rec2.epochs.size()), 6);
    QCOMPARE(int(second->stages.size()), 3);
    QCOMPARE(rec2.epochs.back().step, std::int64_t(6));
}

void TestTrain::resumeCountsTimeFromTheStop()
{
    // Regression (issue 19): a resume went on from the active time of the last checkpoint, so a
    // stopped and resumed run's time shrank by what was spent between that checkpoint and the
    // stop. The time at the stop is kept; with the store's time given, the larger one counts.
    struct Log : test::EventLog
    {
        Trainer *trainer = nullptr;
        void checkpointSaved(const CheckpointSaved &c) override
        {
            test::EventLog::checkpointSaved(c);
            if (c.stage == 0 && c.epoch == 1 && !c.stageEnd) {
                std::this_thread::sleep_for(std::chrono::milliseconds(400)); // active time
                trainer->cancel();
            }
        }
    };
    QTemporaryDir dir;
    TrainOptions o;
    o.spec = test::tinySpec(2);
    o.runDir = dir.path().toStdString();
    Log rec;
    Trainer first(o, &rec);
    rec.trainer = &first;
    auto stopped = first.run();
    QVERIFY(stopped.ok());
    QCOMPARE(int(stopped->status), int(RunStatus::Cancelled));
    QCOMPARE(int(rec.epochs.size()), 1);
    const double checkpointTime = rec.epochs.back().elapsed;
    QVERIFY2(stopped->seconds >= checkpointTime + 0.4,
             qPrintable(QStringLiteral("%1 s at the stop, %2 s at the checkpoint")
                            .arg(stopped->seconds)
                            .arg(checkpointTime)));

    // A copy of the stopped run, resumed below with a larger time from elsewhere.
    QTemporaryDir copy;
    std::filesystem::copy(o.runDir, copy.path().toStdString(),
                          std::filesystem::copy_options::recursive
                              | std::filesystem::copy_options::overwrite_existing);

    test::EventLog rec2;
    Trainer again(o, &rec2);
    auto resumed = again.resume();
    QVERIFY2(resumed.ok(), resumed.ok() ? "" : resumed.message().c_str());
    QCOMPARE(int(resumed->status), int(RunStatus::Finished));
    QCOMPARE(int(rec2.starts.size()), 1);
    QVERIFY2(rec2.starts.front().elapsed >= stopped->seconds,
             qPrintable(QStringLiteral("resumed at %1 s, stopped at %2 s")
                            .arg(rec2.starts.front().elapsed)
                            .arg(stopped->seconds)));
    QVERIFY(rec2.epochs.front().elapsed > stopped->seconds);
    QVERIFY(resumed->seconds > stopped->seconds);

    // Time recorded elsewhere at the stop (the run store's, which RunService passes) counts
    // when it is the larger.
    TrainOptions later = o;
    later.runDir = copy.path().toStdString();
    later.elapsedBefore = stopped->seconds + 100;
    test::EventLog rec3;
    Trainer third(later, &rec3);
    auto resumed3 = third.resume();
    QVERIFY2(resumed3.ok(), resumed3.ok() ? "" : resumed3.message().c_str());
    QCOMPARE(int(resumed3->status), int(RunStatus::Finished));
    QCOMPARE(int(rec3.starts.size()), 1);
    QVERIFY(rec3.starts.front().elapsed >= later.elapsedBefore);
    QVERIFY(resumed3->seconds > later.elapsedBefore);
}

void TestTrain::killDuringTrainingThenResume()
{
    QTemporaryDir dir;
    const QString db = dir.filePath("runs.sqlite");
    const QString specPath = dir.filePath("tiny.json");
    Spec spec = test::tinySpec(6);
    spec.recipe.dataset.trainLimit = 2048;
    {
        std::ofstream f(specPath.toStdString());
        f << serializeSpec(spec);
    }
    QProcess child;
    child.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    child.start(LW_CLI_PATH, {"train", "--spec", specPath, "--db", db, "--threads", "1", "--json"});
    QVERIFY(child.waitForStarted());
    // Kill it as soon as a few epochs have been checkpointed.
    const QString runDir = dir.filePath("runs/1");
    bool killed = false;
    for (int i = 0; i < 1200 && child.state() == QProcess::Running; ++i) {
        QFile state(runDir + "/state.json");
        if (state.open(QIODevice::ReadOnly)) {
            auto j = nlohmann::json::parse(state.readAll().toStdString(), nullptr, false);
            if (!j.is_discarded() && j.value("step", 0) >= 3) {
                ::kill(child.processId(), SIGKILL);
                killed = true;
                break;
            }
        }
        QTest::qWait(50);
    }
    QVERIFY2(killed, "the child finished before it could be killed");
    child.waitForFinished();
    QCOMPARE(child.exitStatus(), QProcess::CrashExit);

    QProcess resume;
    resume.setProcessChannelMode(QProcess::SeparateChannels);
    resume.start(LW_CLI_PATH, {"resume", "1", "--db", db, "--threads", "2", "--json"});
    QVERIFY(resume.waitForFinished(300000));
    const auto err = resume.readAllStandardError();
    QVERIFY2(resume.exitCode() == 0, err.constData());
    auto out = nlohmann::json::parse(resume.readAllStandardOutput().toStdString());
    QCOMPARE(out["status"].get<std::string>(), std::string("finished"));
    QCOMPARE(int(out["stages"].size()), 3);
    for (const auto &s : out["stages"])
        QCOMPARE(s["epochs"].get<int>(), 6);

    // The store has every epoch exactly once.
    QProcess show;
    show.start(LW_CLI_PATH, {"runs", "show", "1", "--db", db, "--json"});
    QVERIFY(show.waitForFinished(60000));
    auto run = nlohmann::json::parse(show.readAllStandardOutput().toStdString());
    QCOMPARE(run["status"].get<std::string>(), std::string("finished"));
}

void TestTrain::cliBranchFromStoredRun()
{
    QTemporaryDir dir;
    const QString db = dir.filePath("runs.sqlite");
    const QString parentPath = dir.filePath("tiny.json");
    const QString branchPath = dir.filePath("tiny-wide.json");
    Spec spec = test::tinySpec(2);
    Spec wide = spec;
    wide.stages[2].width = 48; // a different last stage on the same first two
    {
        std::ofstream(parentPath.toStdString()) << serializeSpec(spec);
        std::ofstream(branchPath.toStdString()) << serializeSpec(wide);
    }
    const QStringList common = {"--db", db, "--threads", "1", "--json"};
    test::CliResult parent = test::runCli(QStringList{"train", "--spec", parentPath} + common);
    QVERIFY2(parent.exitCode == 0, qPrintable(parent.err));
    const auto pout = nlohmann::json::parse(parent.out.toStdString());
    const std::int64_t parentId = pout["run_id"].get<std::int64_t>();

    // Bad branches fail before a run is made, saying why.
    test::CliResult unknown = test::runCli(
        QStringList{"train", "--spec", branchPath, "--branch-from", "99", "--locked-stages", "1"}
        + common);
    QVERIFY(unknown.exitCode != 0);
    QVERIFY2(unknown.err.contains("99") && unknown.err.contains("not found"),
             qPrintable(unknown.err));
    test::CliResult e2e = test::runCli(QStringList{"train", "--spec", branchPath, "--branch-from",
                                                   QString::number(parentId), "--locked-stages",
                                                   "1", "--mode", "e2e"}
                                       + common);
    QVERIFY(e2e.exitCode != 0);
    QVERIFY2(e2e.err.contains("greedy"), qPrintable(e2e.err));
    test::CliResult tooMany
        = test::runCli(QStringList{"train", "--spec", branchPath, "--branch-from",
                                   QString::number(parentId), "--locked-stages", "3"}
                       + common);
    QVERIFY(tooMany.exitCode != 0);
    QVERIFY2(tooMany.err.contains("--locked-stages 3"), qPrintable(tooMany.err));
    test::CliResult alone
        = test::runCli(QStringList{"train", "--spec", branchPath, "--branch-from", "1"} + common);
    QVERIFY(alone.exitCode != 0);
    QVERIFY2(alone.err.contains("--locked-stages"), qPrintable(alone.err));

    // Branch from stage 1: stage 0 is the parent's, stages 1 and 2 are trained.
    test::CliResult branch
        = test::runCli(QStringList{"train", "--spec", branchPath, "--branch-from",
                                   QString::number(parentId), "--locked-stages", "1"}
                       + common);
    QVERIFY2(branch.exitCode == 0, qPrintable(branch.err));
    QVERIFY2(branch.err.contains("branched from"), qPrintable(branch.err));
    const auto bout = nlohmann::json::parse(branch.out.toStdString());
    QCOMPARE(bout["status"].get<std::string>(), std::string("finished"));
    QCOMPARE(int(bout["stages"].size()), 2);
    QCOMPARE(bout["stages"][0]["stage"].get<int>(), 1);
    QCOMPARE(bout["stages"][1]["stage"].get<int>(), 2);
    const std::int64_t branchId = bout["run_id"].get<std::int64_t>();

    test::CliResult show
        = test::runCli({"runs", "show", QString::number(branchId), "--db", db, "--json"});
    QVERIFY2(show.exitCode == 0, qPrintable(show.err));
    const auto run = nlohmann::json::parse(show.out.toStdString());
    QCOMPARE(run["parent_run"].get<std::int64_t>(), parentId);
    QCOMPARE(run["branch_stage"].get<int>(), 1);
    test::CliResult showParent
        = test::runCli({"runs", "show", QString::number(parentId), "--db", db, "--json"});
    const auto prun = nlohmann::json::parse(showParent.out.toStdString());
    QCOMPARE(int(run["stages"].size()), 3);
    QCOMPARE(run["stages"][0]["test_acc"].get<double>(),
             prun["stages"][0]["test_acc"].get<double>());
    QCOMPARE(run["stages"][2]["test_acc"].get<double>(),
             bout["stages"][1]["test_acc"].get<double>());

    // The parent's stage checkpoint gone: a clear error naming the file.
    QVERIFY(QFile::remove(dir.filePath(QStringLiteral("runs/%1/stage1.pt").arg(parentId))));
    test::CliResult missing
        = test::runCli(QStringList{"train", "--spec", branchPath, "--branch-from",
                                   QString::number(parentId), "--locked-stages", "2"}
                       + common);
    QVERIFY(missing.exitCode != 0);
    QVERIFY2(missing.err.contains("stage1.pt") && missing.err.contains("missing"),
             qPrintable(missing.err));
}

void TestTrain::endToEndAndDecoupled()
{
    {
        auto [r, rec] = trainIn(TrainMode::EndToEnd);
        QVERIFY2(r.ok(), r.ok() ? "" : r.message().c_str());
        QCOMPARE(int(r->status), int(RunStatus::Finished));
        QCOMPARE(int(rec.epochs.size()), 3); // e2e.epochs
        for (const auto &m : rec.epochs) {
            QCOMPARE(m.stage, 2);
            QCOMPARE(m.ensembleAcc, m.testAcc);
        }
        QVERIFY(qFuzzyCompare(rec.epochs[2].lr, 0.01));
        QVERIFY(r->finalTestAcc > 0.5);
    }
    {
        auto [r, rec] = trainIn(TrainMode::Decoupled);
        QVERIFY2(r.ok(), r.ok() ? "" : r.message().c_str());
        QCOMPARE(int(r->status), int(RunStatus::Finished));
        QCOMPARE(int(rec.epochs.size()), 6); // 3 stages x 2 epochs, all stages each epoch
        QCOMPARE(rec.epochs[0].stage, 0);
        QCOMPARE(rec.epochs[2].stage, 2);
        QCOMPARE(rec.epochs[2].step, std::int64_t(1));
        QCOMPARE(int(r->stages.size()), 3);
    }
}

void TestTrain::probeOnSeparableFeatures()
{
    torch::manual_seed(1);
    const int n = 600, classes = 3;
    auto labels = torch::arange(n, torch::kInt64) % classes;
    // Class c puts a bump in channel c of an 8x4x4 feature map; Gaussian noise elsewhere.
    auto feats = torch::randn({n, 8, 4, 4}) * 0.3;
    for (int i = 0; i < n; ++i)
        feats[i][labels[i].item<int>()] += 2.0;
    auto train = lw::detail::poolFeatures(feats.slice(0, 0, 400), labels.slice(0, 0, 400), 128);
    auto test = lw::detail::poolFeatures(feats.slice(0, 400, n), labels.slice(0, 400, n), 128);
    QCOMPARE(train.features.size(1), 32);
    auto [trainAcc, testAcc] = lw::detail::trainLinearProbe(train, test, classes, 0);
    QVERIFY2(trainAcc > 0.99, std::to_string(trainAcc).c_str());
    QVERIFY2(testAcc > 0.99, std::to_string(testAcc).c_str());
}

void TestTrain::probesAfterEachStage()
{
    TrainOptions o;
    o.spec = test::tinySpec(1);
    o.probes = true;
    auto [r, rec] = trainWith(o);
    QVERIFY(r.ok());
    QCOMPARE(int(rec.probes.size()), 3);
    for (int j = 0; j < 3; ++j) {
        QCOMPARE(rec.probes[j].layer, j);
        QCOMPARE(rec.probes[j].afterStage, j);
        QVERIFY(rec.probes[j].testAcc > 0.3);
    }
}

void TestTrain::badSpecAndDevice()
{
    TrainOptions o;
    o.spec = test::tinySpec(1);
    o.spec.stages[0].head.k = 7;
    Trainer t(o, nullptr);
    auto r = t.run();
    QVERIFY(!r.ok());
    QVERIFY2(r.message().find("stages[0].head.k") != std::string::npos, r.message().c_str());

    TrainOptions d;
    d.spec = test::tinySpec(1);
    d.device = "tpu";
    Trainer t2(d, nullptr);
    auto r2 = t2.run();
    QVERIFY(!r2.ok());
    QVERIFY(r2.message().find("expected auto, cpu, cuda or cuda:N") != std::string::npos);
}

void TestTrain::resumeRejectsForeignCheckpoint()
{
    QTemporaryDir dir;
    {
        std::ofstream f(dir.filePath("state.json").toStdString());
        f << R"({"format":"layerwise-run-state","version":1,"mode":"greedy","stage":0,"epoch":1,)"
          << R"("stage_done":false,"step":1,"seconds":1,"checkpoint":"../../etc/passwd",)"
          << R"("current":{"train_acc":0,"train_seconds":0,"train_images":0,"seconds":0},)"
          << R"("stages":[],"probes":[],"spec":)" << serializeSpec(test::tinySpec(1)) << "}";
    }
    TrainOptions o;
    o.runDir = dir.path().toStdString();
    Trainer t(o, nullptr);
    auto r = t.resume();
    QVERIFY(!r.ok());
    QVERIFY2(r.message().find("inside the run folder") != std::string::npos, r.message().c_str());

    {
        std::ofstream f(dir.filePath("state.json").toStdString());
        f << "{ not json";
    }
    Trainer t2(o, nullptr);
    auto r2 = t2.resume();
    QVERIFY(!r2.ok());
    QVERIFY(r2.message().find("damaged") != std::string::npos);
}

void TestTrain::branchWithDifferentLockedStageFails()
{
    // Guards against LibTorch silently taking a parent's tensor of another shape.
    QTemporaryDir parentDir, childDir;
    TrainOptions parent;
    parent.spec = test::tinySpec(1);
    parent.runDir = parentDir.path().toStdString();
    Trainer p(parent, nullptr);
    auto r = p.run();
    QVERIFY(r.ok() && r->status == RunStatus::Finished);

    TrainOptions child;
    child.spec = test::tinySpec(1);
    child.spec.stages[0].width = 12; // the locked stage no longer matches the parent's
    child.runDir = childDir.path().toStdString();
    child.branchFrom = parent.runDir;
    child.lockedStages = 1;
    Trainer c(child, nullptr);
    auto rc = c.run();
    QVERIFY(rc.ok());
    QVERIFY(rc->status == RunStatus::Failed);
    QVERIFY2(
        rc->message.find("block0.conv.weight has shape [8, 1, 3, 3], this spec needs [12, 1, 3, 3]")
            != std::string::npos,
        rc->message.c_str());
}

QTEST_GUILESS_MAIN(TestTrain)
#include "tst_train.moc"
