// Test-set evaluation (one head over its stage's inputs, or every head through the whole
// network), the ensemble of finished heads, and the per-layer linear probes.
#include "core/train/probe_p.h"
#include "core/train/trainer_p.h"

#include <limits>

namespace lw {

torch::Tensor detail::testRows(std::int64_t n, std::int64_t classes,
                               const std::vector<torch::Tensor> &logits,
                               const std::vector<torch::Tensor> &indices)
{
    auto full = torch::full({n, classes}, std::numeric_limits<float>::quiet_NaN(),
                            torch::TensorOptions().dtype(torch::kFloat32));
    if (!logits.empty())
        full.index_copy_(0, torch::cat(indices).to(torch::kCPU), torch::cat(logits));
    return full;
}

namespace {

/// Correct rows among the rows that hold outputs (not NaN), and how many hold outputs.
std::pair<std::int64_t, std::int64_t> correctOfValid(const torch::Tensor &outputs,
                                                     const torch::Tensor &labels)
{
    const auto valid = outputs.isnan().any(1).logical_not();
    const auto correct = outputs.argmax(1).eq(labels).logical_and(valid);
    return {correct.sum().item<std::int64_t>(), valid.sum().item<std::int64_t>()};
}

} // namespace

Trainer::Impl::EvalResult Trainer::Impl::evaluateStage(int stage)
{
    if (dataParallel()) // BN statistics are per rank while training; rank 0's are evaluated
        detail::broadcastModule(*opt.dist, *net, /*buffersOnly=*/true);
    c10::InferenceMode guard;
    net->blocks[stage]->eval();
    net->heads[stage]->eval();
    StageInput input(*this, stage, /*train=*/false, std::max(spec.recipe.testBatchSize, 256));
    input.start(0);
    torch::Tensor x, y, idx;
    std::vector<torch::Tensor> logits, indices;
    // The pictures' projection reuses this pass: the pooled block outputs of its test images.
    const bool capture = opt.pictures && !distributed();
    const auto slots = capture ? pictureSlots() : torch::Tensor();
    std::vector<torch::Tensor> pooled, pooledSlots;
    double lossSum = 0;
    while (input.next(x, y, &idx)) {
        detail::AutocastScope ac(amp, ampType, cuda);
        auto f = net->blocks[stage]->forward(x);
        auto out = net->heads[stage]->forward(f).to(torch::kFloat32);
        if (capture) {
            auto s = slots.index_select(0, idx.to(torch::kCPU));
            auto keep = s.ge(0).nonzero().squeeze(1);
            if (keep.numel() > 0) {
                pooled.push_back(
                    torch::adaptive_avg_pool2d(f.index_select(0, keep.to(f.device())), {2, 2})
                        .flatten(1)
                        .to(torch::kCPU, torch::kFloat32));
                pooledSlots.push_back(s.index_select(0, keep));
            }
        }
        lossSum
            += torch::nn::functional::cross_entropy(
                   out, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                   .item<double>();
        logits.push_back(out.to(torch::kCPU));
        indices.push_back(idx);
    }
    auto full = detail::testRows(testLabels.size(0), spec.input.classes, logits, indices);
    if (capture) {
        evalPooledStage = pooled.empty() ? -1 : stage;
        if (!pooled.empty())
            evalPooled = detail::testRows(slots.ge(0).sum().item<std::int64_t>(),
                                          pooled.front().size(1), pooled, pooledSlots);
    }
    if (dataParallel())
        gatherEval(full, lossSum);
    return finishEval(stage, full, lossSum);
}

void Trainer::Impl::gatherEval(torch::Tensor &logits, double &lossSum)
{
    // Each rank holds its shard's rows (the others NaN, as testRows leaves them): sum the rows
    // and how many ranks evaluated each (a padded shard repeats a few), then average; a row no
    // rank could evaluate stays NaN (left out, as in one process).
    const auto present = logits.isnan().any(1).logical_not();
    auto zeroed = torch::where(present.unsqueeze(1), logits, torch::zeros_like(logits));
    auto t = torch::cat(
                 {zeroed.reshape(-1), present.to(torch::kFloat32), torch::tensor({float(lossSum)})})
                 .to(device);
    detail::allreduceSum(*opt.dist, t);
    t = t.to(torch::kCPU);
    const auto n = logits.numel();
    const auto rows = logits.size(0);
    const auto count = t.slice(0, n, n + rows);
    auto summed = t.slice(0, 0, n).view(logits.sizes()) / count.clamp_min(1).unsqueeze(1);
    logits = torch::where(count.gt(0).unsqueeze(1), summed,
                          torch::full_like(summed, std::numeric_limits<float>::quiet_NaN()))
                 .contiguous();
    lossSum = t[n + rows].item<double>();
}

Trainer::Impl::EvalResult Trainer::Impl::finishEval(int stage, const torch::Tensor &logits,
                                                    double lossSum)
{
    EvalResult r;
    // Rows of images left out are NaN (testRows): accuracies are over the images evaluated.
    const auto [correct, n] = correctOfValid(logits, testLabels);
    r.leftOut = testLabels.size(0) - n;
    if (r.leftOut != evalLeftOut) {
        evalLeftOut = r.leftOut;
        if (r.leftOut > 0)
            log(LogLevel::Warning,
                "test evaluation: " + std::to_string(r.leftOut) + " of "
                    + std::to_string(testLabels.size(0))
                    + " test images could not be decoded now and were left out (the log names "
                      "them; changed during the run?); accuracies are over the other "
                    + std::to_string(n));
    }
    r.loss = lossSum / double(std::max<std::int64_t>(n, 1));
    r.acc = double(correct) / double(std::max<std::int64_t>(n, 1));
    // Top-5 where it says more than top-1 (the ImageNet presets quote it), over the same images.
    if (logits.dim() == 2 && logits.size(1) > 10) {
        const auto valid = logits.isnan().any(1).logical_not();
        const auto top = std::get<1>(logits.topk(5, 1));
        r.top5 = top.eq(testLabels.unsqueeze(1)).any(1).logical_and(valid).sum().item<double>()
                 / double(std::max<std::int64_t>(n, 1));
    }
    const bool softmax = spec.recipe.ensemble == EnsembleMode::Softmax;
    r.outputs = softmax ? torch::softmax(logits, 1) : logits;
    auto w = detail::ensembleWeights(stage + 1);
    auto ens = r.outputs * w[stage];
    for (int i = 0; i < stage && i < static_cast<int>(headTestOutputs.size()); ++i)
        ens = ens + headTestOutputs[i] * w[i];
    const auto [ensCorrect, ensN] = correctOfValid(ens, testLabels);
    r.ensembleAcc = double(ensCorrect) / double(std::max<std::int64_t>(ensN, 1));
    return r;
}

std::pair<std::vector<torch::Tensor>, std::vector<double>> Trainer::Impl::evaluateHeads(int upTo,
                                                                                        bool all)
{
    if (dataParallel())
        detail::broadcastModule(*opt.dist, *net, /*buffersOnly=*/true);
    c10::InferenceMode guard;
    net->eval();
    auto loader = makeLoader(false, false, std::max(spec.recipe.testBatchSize, 256), true);
    loader->startEpoch(0);
    const int n = upTo + 1;
    std::vector<std::vector<torch::Tensor>> outs(n);
    std::vector<torch::Tensor> indices;
    std::vector<double> losses(n, 0.0);
    data::Batch b;
    namespace F = torch::nn::functional;
    while (loader->next(b)) {
        detail::AutocastScope ac(amp, ampType, cuda);
        auto x = net->stem->forward(toDevice(b.images));
        auto y = b.labels.to(device);
        indices.push_back(b.indices);
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
        if (all || j == upTo) {
            logits[j] = detail::testRows(testLabels.size(0), spec.input.classes, outs[j], indices);
            if (dataParallel())
                gatherEval(logits[j], losses[j]);
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
    const auto t0 = activeNow();
    detail::PooledFeatures train, test;
    // A multi-process run's cache holds a rank's shard; its probes read the whole split.
    if (useCache && cacheStage == stage + 1 && !dataParallel()) {
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
    p.seconds = activeSince(t0);
    summary.probes.push_back(p);
    obs->probeFinished(p);
}

Trainer::Impl::EvalResult Trainer::Impl::evaluateFull(int stage)
{
    auto [logits, losses] = evaluateHeads(stage, false);
    return finishEval(stage, logits.back(), losses.back());
}

} // namespace lw
