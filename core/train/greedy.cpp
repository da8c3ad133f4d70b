// Greedy layerwise training: stage j trains block j and its auxiliary head on the outputs of the
// frozen blocks before it, then freezes; the heads' test outputs ensemble.
#include "core/train/trainer_p.h"

namespace lw {

using detail::ParamGroupImpl;
using detail::Stop;

void Trainer::Impl::runGreedy(int startStage, int startEpoch, bool resuming,
                              const std::string &ckpt)
{
    const int stages = net->stages();
    const int epochs = spec.recipe.epochsPerStage;
    if (startStage > 0)
        recomputeHeadOutputs(startStage);

    for (int stage = startStage; stage < stages; ++stage) {
        const auto stageStart = activeNow();
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

        StageInput input(*this, stage, /*train=*/true, localBatch());
        EvalResult last;
        if (firstEpoch == 0)
            current = {};
        for (int e = firstEpoch; e < epochs; ++e) {
            const auto epochStart = activeNow();
            // A resumed epoch gets the LR (and rebuild) the uninterrupted run had.
            if (sopt.startEpoch(e))
                log(LogLevel::Info, "stage " + std::to_string(stage + 1) + ", epoch "
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

        const StageFinished sf
            = addFinishedStage(stage, epochs, current.trainAcc, last.acc, last.ensembleAcc,
                               firstEpoch > 0 ? current.seconds : activeSince(stageStart));
        saveCheckpoint(stage, epochs, true, {});
        obs->stageFinished(sf);

        // The next stage's inputs (and this layer's probe features) are this block's outputs.
        if (useCache && stage + 1 < stages)
            buildCache(stage + 1);
        if (opt.probes) {
            probeLayer(stage, stage);
            saveState(stage, epochs, true);
        }
        reportPictures(stage);
    }
}

} // namespace lw
