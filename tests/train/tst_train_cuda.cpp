// The training engine on CUDA: every case skips on a machine without a CUDA LibTorch and a GPU.
// On a GPU machine: greedy, end-to-end and decoupled runs on the device (fp32, bf16 autocast,
// fp16 with loss scaling), frozen stages unchanged on the device, the cache and the recomputed
// prefix agreeing, and CPU and CUDA runs of one spec reaching the same accuracy.

#include "core/train/trainer.h"
#include "tests/support/support.h"

#include <torch/torch.h>

#include <QtTest>

#include <QTemporaryDir>

using namespace lw;

namespace {

/// CIFAR-shaped synthetic data, a two-stage network: seconds on any GPU.
Spec cudaSpec(const std::string &precision = "fp32")
{
    Spec s = test::tinySpec(3);
    s.name = "cuda-small";
    s.input = {3, 32, 32, 10, Downsample::None};
    s.stages.resize(2);
    for (int j = 0; j < 2; ++j) {
        s.stages[size_t(j)].width = 32 << j;
        s.stages[size_t(j)].head.k = 2;
        s.stages[size_t(j)].head.width = 32;
    }
    auto &r = s.recipe;
    r.dataset.trainLimit = 2048;
    r.dataset.testLimit = 512;
    r.batchSize = 128;
    r.testBatchSize = 256;
    r.lr.milestones = {2};
    r.normalize.mean = {0.5, 0.5, 0.5};
    r.normalize.std = {0.25, 0.25, 0.25};
    r.precision = precision;
    r.seed = 7;
    return s;
}

RunSummary train(Spec spec, TrainMode mode, const std::string &device,
                 FeatureCache cache = FeatureCache::Auto, test::EventLog *logs = nullptr)
{
    TrainOptions o;
    o.spec = std::move(spec);
    o.mode = mode;
    o.device = device;
    o.cache = cache;
    Trainer t(o, logs);
    auto r = t.run();
    if (!r)
        qFatal("training failed: %s", r.message().c_str());
    return *r;
}

} // namespace

class TestTrainCuda : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void greedyStagesTrainOnCuda();
    void mixedPrecision_data();
    void mixedPrecision();
    void endToEndAndDecoupledOnCuda();
    void cacheMatchesRecomputeOnCuda();
    void cpuAndCudaAgree();
    void badDeviceIndex();
};

void TestTrainCuda::initTestCase()
{
    if (!torch::cuda::is_available())
        QSKIP("no CUDA: this LibTorch has no CUDA support or no GPU is visible");
    qInfo("CUDA devices: %d", int(torch::cuda::device_count()));
}

void TestTrainCuda::greedyStagesTrainOnCuda()
{
    test::EventLog logs;
    auto s = train(cudaSpec(), TrainMode::Greedy, "cuda", FeatureCache::Auto, &logs);
    QCOMPARE(s.status, RunStatus::Finished);
    QCOMPARE(int(s.stages.size()), 2);
    QCOMPARE(int(logs.epochs.size()), 6);
    // Synthetic classes are separable: far above chance (10%) after three epochs per stage.
    QVERIFY2(s.finalTestAcc > 0.5, qPrintable(QString::number(s.finalTestAcc)));
    QVERIFY(!logs.starts.empty());
    const std::string &device = logs.starts.back().device;
    QVERIFY2(device.rfind("cuda", 0) == 0, device.c_str());
    for (const auto &st : s.stages)
        QVERIFY(st.imagesPerSecond > 0);
    // Auto keeps the host-memory feature cache off on CUDA (recomputing on the GPU is faster).
    bool recomputes = false;
    for (const auto &l : logs.logs)
        recomputes |= l.rfind("feature cache: off (auto: on CUDA", 0) == 0;
    QVERIFY(recomputes);
}

void TestTrainCuda::mixedPrecision_data()
{
    QTest::addColumn<QString>("precision");
    QTest::newRow("bf16") << "bf16";
    QTest::newRow("fp16") << "fp16";
}

void TestTrainCuda::mixedPrecision()
{
    QFETCH(QString, precision);
    auto s = train(cudaSpec(precision.toStdString()), TrainMode::Greedy, "cuda");
    QCOMPARE(s.status, RunStatus::Finished);
    QVERIFY2(s.finalTestAcc > 0.5, qPrintable(QString::number(s.finalTestAcc)));
    for (const auto &st : s.stages)
        QVERIFY(std::isfinite(st.trainAcc) && std::isfinite(st.testAcc));
}

void TestTrainCuda::endToEndAndDecoupledOnCuda()
{
    for (auto mode : {TrainMode::EndToEnd, TrainMode::Decoupled}) {
        auto s = train(cudaSpec(), mode, "cuda");
        QCOMPARE(s.status, RunStatus::Finished);
        QVERIFY2(s.finalTestAcc > 0.4, qPrintable(QString::number(s.finalTestAcc)));
    }
}

void TestTrainCuda::cacheMatchesRecomputeOnCuda()
{
    // Augmentation is off: cached prefix outputs are exact, so both runs see the same inputs;
    // cuDNN's algorithms may differ run to run, hence a tolerance rather than equality.
    auto a = train(cudaSpec(), TrainMode::Greedy, "cuda", FeatureCache::On);
    auto b = train(cudaSpec(), TrainMode::Greedy, "cuda", FeatureCache::Off);
    QCOMPARE(a.stages.size(), b.stages.size());
    for (size_t j = 0; j < a.stages.size(); ++j)
        QVERIFY2(std::abs(a.stages[j].testAcc - b.stages[j].testAcc) < 0.05,
                 qPrintable(QString("stage %1: %2 vs %3")
                                .arg(j)
                                .arg(a.stages[j].testAcc)
                                .arg(b.stages[j].testAcc)));
}

void TestTrainCuda::cpuAndCudaAgree()
{
    auto gpu = train(cudaSpec(), TrainMode::Greedy, "cuda");
    auto cpu = train(cudaSpec(), TrainMode::Greedy, "cpu");
    QVERIFY2(std::abs(gpu.finalTestAcc - cpu.finalTestAcc) < 0.05,
             qPrintable(QString("cuda %1, cpu %2").arg(gpu.finalTestAcc).arg(cpu.finalTestAcc)));
}

void TestTrainCuda::badDeviceIndex()
{
    TrainOptions o;
    o.spec = cudaSpec();
    o.device = "cuda:" + std::to_string(torch::cuda::device_count() + 3);
    Trainer t(o, nullptr);
    auto r = t.run();
    QVERIFY(!r);
    QVERIFY2(r.message().find("cuda") != std::string::npos, r.message().c_str());
}

QTEST_GUILESS_MAIN(TestTrainCuda)
#include "tst_train_cuda.moc"
