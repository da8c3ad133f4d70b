// Training steps and epochs, shared by the three modes: one optimizer step (with fp16 loss
// scaling), one epoch over a stage's inputs with the divergence check, and its report.
#include "core/train/trainer_p.h"

#include <cmath>

namespace lw {

using detail::Stop;

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
    double value = loss.item<double>();
    finite = std::isfinite(value);
    if (!finite && !dataParallel())
        return value;
    const bool scaled = amp && ampType == at::kHalf;
    if (dataParallel()) {
        // Every rank steps on the gradient of the global batch: its mean over the ranks' equal
        // shares, all-reduced with the ranks' losses, so all see the same divergence verdict.
        (scaled ? loss * lossScale : loss).backward();
        std::vector<double> losses{value};
        detail::averageGradients(*opt.dist, params.parameters(), losses);
        value = losses[0] / world();
        finite = std::isfinite(value);
        if (!finite)
            return value;
    }
    if (scaled) {
        if (!dataParallel())
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
        if (!dataParallel())
            loss.backward();
        sgd.step();
    }
    correct += logits.argmax(1).eq(y).sum().item<std::int64_t>();
    return value;
}

Trainer::Impl::EpochTotals
Trainer::Impl::trainEpoch(int stage, int epoch, int batches, Clock::time_point epochStart,
                          const std::function<bool(torch::Tensor &, torch::Tensor &)> &next,
                          StageOptimizer &sopt, torch::nn::Module &params,
                          const std::function<torch::Tensor(const torch::Tensor &)> &fwd)
{
    EpochTotals t;
    torch::Tensor x, y;
    int batch = 0;
    auto lastReport = activeNow();
    while (true) {
        checkControls();
        if (!next(x, y))
            break;
        bool finite = true;
        const double loss = trainStep(sopt, params, x, y, fwd, t.correct, finite);
        ++batch;
        ++t.batches;
        if (!finite)
            throw Stop{RunStatus::Failed, detail::divergenceMessage(stage, epoch, batch, loss)};
        t.lossSum += loss * double(y.size(0));
        t.seen += y.size(0);
        if (activeSince(lastReport) >= 0.1) {
            lastReport = activeNow();
            obs->batchProgress({stage, epoch, batch, batches, t.lossSum / double(t.seen),
                                double(t.seen) / activeSince(epochStart)});
        }
    }
    t.trainSeconds = activeSince(epochStart);
    if (dataParallel()) {
        auto sums = torch::tensor({t.lossSum, double(t.correct), double(t.seen)}, torch::kFloat64)
                        .to(device);
        detail::allreduceSum(*opt.dist, sums);
        sums = sums.to(torch::kCPU);
        t.lossSum = sums[0].item<double>();
        t.correct = std::int64_t(sums[1].item<double>());
        t.seen = std::int64_t(sums[2].item<double>());
    }
    return t;
}

void Trainer::Impl::finishEpoch(int stage, int epoch, Clock::time_point epochStart,
                                const EpochTotals &t, const EvalResult &eval, double lr)
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
    m.seconds = activeSince(epochStart);
    m.elapsed = elapsed();
    m.testTop5 = eval.top5;
    m.trainImages = double(t.seen);
    m.trainSteps = double(t.batches);
    current.trainAcc = m.trainAcc;
    current.trainSeconds += t.trainSeconds;
    current.trainImages += t.seen;
    current.seconds += m.seconds;
    obs->epochFinished(m);
}

StageFinished Trainer::Impl::addFinishedStage(int stage, int epochs, double trainAcc,
                                              double testAcc, double ensembleAcc, double seconds)
{
    const double imagesPerSecond
        = current.trainSeconds > 0 ? double(current.trainImages) / current.trainSeconds : 0;
    summary.stages.push_back(StageFinished{.stage = stage,
                                           .epochs = epochs,
                                           .trainAcc = trainAcc,
                                           .testAcc = testAcc,
                                           .ensembleAcc = ensembleAcc,
                                           .seconds = seconds,
                                           .imagesPerSecond = imagesPerSecond});
    summary.finalTestAcc = testAcc;
    return summary.stages.back();
}

} // namespace lw
