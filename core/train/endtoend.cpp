// End-to-end training: every block and the last head under one optimizer, the baseline the
// layerwise modes are measured against.
#include "core/train/trainer_p.h"

namespace lw {

using detail::ParamGroupImpl;
using detail::Stop;

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
    auto loader = makeLoader(true, true, localBatch(), /*shard=*/true);
    EvalResult lastEval;
    for (int e = startEpoch; e < epochs; ++e) {
        const auto epochStart = activeNow();
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
    const StageFinished sf = addFinishedStage(last, epochs, current.trainAcc, lastEval.acc,
                                              lastEval.acc, current.seconds);
    saveCheckpoint(last, epochs, true, {});
    obs->stageFinished(sf);
    if (opt.probes) {
        for (int j = 0; j < stages; ++j)
            probeLayer(j, last);
        saveState(last, epochs, true);
    }
    if (opt.pictures)
        picturesOfStages(stages);
}

} // namespace lw
