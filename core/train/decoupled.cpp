// Decoupled greedy training (DGL): all stages train at once on every batch, each block on the
// detached output of the one before it, each with its own optimizer and head.
#include "core/train/trainer_p.h"

namespace lw {

using detail::ParamGroupImpl;
using detail::Stop;

Trainer::Impl::DecoupledStages Trainer::Impl::startDecoupledStages(int startEpoch, bool resuming,
                                                                   const std::string &ckpt)
{
    const int stages = net->stages();
    DecoupledStages out;
    for (int j = 0; j < stages; ++j) {
        auto g = std::make_shared<ParamGroupImpl>();
        g->add("block", net->blocks[j].ptr());
        g->add("head", net->heads[j].ptr());
        out.optimizers.push_back(std::make_unique<StageOptimizer>(
            g->parameters(), spec.recipe.optimizer, spec.recipe.lr));
        out.ptrs.push_back(out.optimizers.back().get());
        out.groups.push_back(g);
    }
    if (resuming && startEpoch > 0) {
        if (auto r = loadOptimizers(ckpt, out.ptrs); !r)
            throw Stop{RunStatus::Failed, r.message()};
    } else {
        current = {};
    }
    for (int j = 0; j < stages; ++j) {
        const auto &c = costs.stages[j];
        obs->stageStarted({j, spec.recipe.epochsPerStage, c.blockParams, c.headParams, c.blockMacs,
                           c.headMacs, false});
    }
    return out;
}

void Trainer::Impl::runDecoupled(int startEpoch, bool resuming, const std::string &ckpt)
{
    const int stages = net->stages();
    const int epochs = spec.recipe.epochsPerStage;
    DecoupledStages started = startDecoupledStages(startEpoch, resuming, ckpt);
    auto &groups = started.groups;
    auto &optimizers = started.optimizers;
    auto &optPtrs = started.ptrs;
    auto loader = makeLoader(true, true, localBatch(), /*shard=*/true);
    std::vector<EvalResult> evals(stages);
    std::vector<double> trainAcc(stages, 0.0);
    for (int e = startEpoch; e < epochs; ++e) {
        const auto epochStart = activeNow();
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
        auto lastReport = activeNow();
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
            if (activeSince(lastReport) >= 0.1) {
                lastReport = activeNow();
                obs->batchProgress({stages - 1, e + 1, batch, batches,
                                    lossSum.back() / double(seen),
                                    double(seen) / activeSince(epochStart)});
            }
        }
        const double epochTrainSeconds = activeSince(epochStart);
        if (dataParallel()) { // the epoch's totals over every rank's shard
            std::vector<double> v(lossSum.begin(), lossSum.end());
            v.insert(v.end(), correct.begin(), correct.end());
            v.push_back(double(seen));
            auto t = torch::tensor(v, torch::kFloat64).to(device);
            detail::allreduceSum(*opt.dist, t);
            t = t.to(torch::kCPU);
            for (int j = 0; j < stages; ++j) {
                lossSum[j] = t[j].item<double>();
                correct[j] = std::int64_t(t[stages + j].item<double>());
            }
            seen = std::int64_t(t[2 * stages].item<double>());
        }
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
            m.seconds = activeSince(epochStart);
            m.elapsed = elapsed();
            m.testTop5 = evals[j].top5;
            m.trainImages = double(seen);
            m.trainSteps = double(batch);
            obs->epochFinished(m);
        }
        current.trainAcc = trainAcc.back();
        current.trainSeconds += epochTrainSeconds;
        current.trainImages += seen;
        current.seconds += activeSince(epochStart);
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
    for (int j = 0; j < stages; ++j)
        obs->stageFinished(addFinishedStage(j, epochs, trainAcc[j], evals[j].acc,
                                            evals[j].ensembleAcc, current.seconds));
    saveCheckpoint(stages - 1, epochs, true, {});
    if (opt.probes) {
        for (int j = 0; j < stages; ++j)
            probeLayer(j, stages - 1);
        saveState(stages - 1, epochs, true);
    }
    if (opt.pictures)
        picturesOfStages(stages);
}

} // namespace lw
