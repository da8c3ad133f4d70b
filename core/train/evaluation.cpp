// Test-set evaluation (one head over its stage's inputs, or every head through the whole
// network), the ensemble of finished heads, and the per-layer linear probes.
#include "core/train/probe_p.h"
#include "core/train/trainer_p.h"

namespace lw {

using detail::secondsSince;

Trainer::Impl::EvalResult Trainer::Impl::evaluateStage(int stage)
{
    if (distributed()) // BN statistics are per rank while training; rank 0's are evaluated
        detail::broadcastModule(*opt.dist, *net, /*buffersOnly=*/true);
    c10::InferenceMode guard;
    net->blocks[stage]->eval();
    net->heads[stage]->eval();
    StageInput input(*this, stage, /*train=*/false, std::max(spec.recipe.testBatchSize, 256));
    input.start(0);
    torch::Tensor x, y;
    std::vector<torch::Tensor> logits, rows;
    double lossSum = 0;
    while (input.next(x, y)) {
        detail::AutocastScope ac(amp, ampType, cuda);
        auto out = net->heads[stage]->forward(net->blocks[stage]->forward(x)).to(torch::kFloat32);
        lossSum
            += torch::nn::functional::cross_entropy(
                   out, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                   .item<double>();
        logits.push_back(out.to(torch::kCPU));
        rows.push_back(input.indices());
    }
    auto all = torch::cat(logits);
    if (distributed()) {
        auto full = torch::zeros({testLabels.size(0), all.size(1)}, all.options());
        full.index_copy_(0, torch::cat(rows), all);
        gatherEval(full, lossSum);
        all = full;
    }
    return finishEval(stage, all, lossSum);
}

void Trainer::Impl::gatherEval(torch::Tensor &logits, double &lossSum)
{
    auto t = torch::cat({logits.reshape(-1), torch::tensor({float(lossSum)})}).to(device);
    detail::allreduceSum(*opt.dist, t);
    t = t.to(torch::kCPU);
    const auto n = logits.numel();
    logits = t.slice(0, 0, n).view(logits.sizes()).clone();
    lossSum = t[n].item<double>();
}

Trainer::Impl::EvalResult Trainer::Impl::finishEval(int stage, const torch::Tensor &logits,
                                                    double lossSum)
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

std::pair<std::vector<torch::Tensor>, std::vector<double>> Trainer::Impl::evaluateHeads(int upTo,
                                                                                        bool all)
{
    if (distributed())
        detail::broadcastModule(*opt.dist, *net, /*buffersOnly=*/true);
    c10::InferenceMode guard;
    net->eval();
    auto loader = makeLoader(false, false, std::max(spec.recipe.testBatchSize, 256), true);
    loader->startEpoch(0);
    const int n = upTo + 1;
    std::vector<std::vector<torch::Tensor>> outs(n);
    std::vector<torch::Tensor> rows;
    std::vector<double> losses(n, 0.0);
    data::Batch b;
    namespace F = torch::nn::functional;
    while (loader->next(b)) {
        detail::AutocastScope ac(amp, ampType, cuda);
        auto x = net->stem->forward(toDevice(b.images));
        auto y = b.labels.to(device);
        rows.push_back(b.indices);
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
    for (int j = 0; j < n; ++j) {
        if (!outs[j].empty())
            logits[j] = torch::cat(outs[j]);
        if (distributed() && (all || j == upTo)) {
            auto full = torch::zeros({testLabels.size(0), spec.input.classes});
            if (logits[j].defined())
                full.index_copy_(0, torch::cat(rows), logits[j]);
            gatherEval(full, losses[j]);
            logits[j] = full;
        }
    }
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
    // A multi-process run's cache holds a rank's shard; its probes read the whole split.
    if (useCache && cacheStage == stage + 1 && !distributed()) {
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

Trainer::Impl::EvalResult Trainer::Impl::evaluateFull(int stage)
{
    auto [logits, losses] = evaluateHeads(stage, false);
    return finishEval(stage, logits.back(), losses.back());
}

} // namespace lw
