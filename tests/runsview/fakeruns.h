#pragma once
// Generated runs for the Runs view's test, demo and bench, written through RunStore's API
// (createRun, beginStage, recordEpochs, finishStage, recordProbe, finishRun) the way the
// recorder writes a real run. Curves are shaped like fmnist-k1 (3 stages x 5 epochs greedy,
// 15 epochs end-to-end): deterministic functions of the step, the stage and a seed.
#include "core/store/runstore.h"

#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace lw::fake {

struct FakeRun
{
    std::string name;
    TrainMode mode = TrainMode::Greedy;
    RunStatus status = RunStatus::Finished;
    std::string specName = "fmnist-k1";
    std::string specJson = "{}";
    std::string recipeJson = "{}";
    std::string dataset = "Fashion-MNIST (60000 train / 10000 test)";
    std::string device = "cpu";
    std::int64_t seed = 0;
    std::vector<std::string> tags;
    std::string notes;
    int stages = 3;
    int epochsPerStage = 5; ///< greedy/DGL; end-to-end trains stages*epochsPerStage epochs
    double level = 0.0;     ///< shifts the accuracies (e.g. +0.01)
    bool probes = true;
    int epochsToRecord = -1; ///< stop early (a running run); -1: all
};

inline std::string readFile(const std::string &path)
{
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// Head accuracy of `stage` after `epoch` (1-based) of fmnist-k1-like greedy training.
inline double greedyAcc(int stage, int epoch, int epochs, double level, std::int64_t seed)
{
    const double start[] = {0.845, 0.880, 0.893, 0.900, 0.904};
    const double end[] = {0.886, 0.904, 0.913, 0.917, 0.919};
    const int s = stage < 5 ? stage : 4;
    const double t = 1.0 - std::exp(-3.0 * epoch / double(epochs));
    const double noise = 0.003 * std::sin(1.7 * epoch + 2.3 * stage + 0.9 * double(seed));
    return start[s] + (end[s] - start[s]) * t / (1.0 - std::exp(-3.0)) + noise + level;
}

inline double e2eAcc(int step, int steps, double level, std::int64_t seed)
{
    const double t = double(step) / double(steps);
    const double noise = 0.004 * std::sin(2.1 * step + 0.7 * double(seed));
    return 0.80 + 0.125 * (1.0 - std::exp(-4.0 * t)) + noise + level;
}

inline EpochMetrics makeEpoch(int stage, int epoch, std::int64_t step, double acc, double ens)
{
    EpochMetrics m;
    m.stage = stage;
    m.epoch = epoch;
    m.step = step;
    m.testAcc = acc;
    m.ensembleAcc = ens;
    m.trainAcc = std::min(0.999, acc + 0.02 + 0.002 * epoch);
    m.trainLoss = 1.6 * (1.0 - m.trainAcc) + 0.05;
    m.testLoss = 1.7 * (1.0 - acc) + 0.08;
    m.lr = 0.1;
    m.imagesPerSecond = 2400 + 37 * stage;
    m.seconds = 25.0 + stage * 4;
    m.trainImages = 60000;
    m.trainSteps = 469; // batches of 128
    return m;
}

/// Writes `run` into `store`; returns its id (or -1 with `error` set).
inline std::int64_t writeRun(RunStore &store, const FakeRun &run, std::string *error = nullptr)
{
    auto failWith = [&](const std::string &m) {
        if (error)
            *error = m;
        return std::int64_t(-1);
    };
    NewRun nr;
    nr.name = run.name;
    nr.mode = run.mode;
    nr.specJson = run.specJson;
    nr.recipeJson = run.recipeJson;
    nr.specName = run.specName;
    nr.dataset = run.dataset;
    nr.datasetFingerprint = "fmnist-60000-10000";
    nr.device = run.device;
    nr.seed = run.seed;
    nr.torchVersion = "1.13.1";
    nr.stages = run.stages;
    nr.params = 430000 + 1000 * run.stages;
    nr.macs = 52000000;
    nr.tags = run.tags;
    nr.notes = run.notes;
    auto id = store.createRun(nr);
    if (!id)
        return failWith(id.message());
    const std::int64_t rid = id.value();
    int recorded = 0;
    const bool e2e = run.mode == TrainMode::EndToEnd;
    const int stageCount = e2e ? 1 : run.stages;
    const int epochs = e2e ? run.stages * run.epochsPerStage : run.epochsPerStage;
    std::int64_t step = 0;
    double lastAcc = 0;
    for (int si = 0; si < stageCount; ++si) {
        const int stage = e2e ? run.stages - 1 : si;
        StageStarted ss;
        ss.stage = stage;
        ss.epochs = epochs;
        ss.blockParams = 1000 * (stage + 1);
        ss.headParams = 500;
        if (auto r = store.beginStage(rid, ss); !r)
            return failWith(r.message());
        std::vector<EpochMetrics> batch;
        double ens = 0;
        for (int e = 1; e <= epochs; ++e) {
            if (run.epochsToRecord >= 0 && recorded >= run.epochsToRecord)
                break;
            ++step;
            ++recorded;
            const double acc = e2e ? e2eAcc(int(step), epochs, run.level, run.seed)
                                   : greedyAcc(stage, e, epochs, run.level, run.seed);
            ens = e2e ? acc : acc + (stage > 0 ? 0.004 : 0.0);
            lastAcc = acc;
            batch.push_back(makeEpoch(stage, e, step, acc, ens));
        }
        if (!batch.empty())
            if (auto r = store.recordEpochs(rid, batch); !r)
                return failWith(r.message());
        if (int(batch.size()) < epochs)
            return rid; // stopped mid-stage: left running (interrupted once this store closes)
        StageFinished sf;
        sf.stage = stage;
        sf.epochs = epochs;
        sf.testAcc = lastAcc;
        sf.ensembleAcc = ens;
        sf.trainAcc = lastAcc + 0.03;
        sf.seconds = 25.0 * epochs;
        sf.imagesPerSecond = 2400;
        if (auto r = store.finishStage(rid, sf); !r)
            return failWith(r.message());
    }
    if (run.probes && run.status == RunStatus::Finished) {
        for (int layer = 0; layer < run.stages; ++layer) {
            ProbeResult p;
            p.afterStage = run.stages - 1;
            p.layer = layer;
            // Greedy layers are more linearly separable early (the paper's figure).
            p.testAcc = (e2e ? 0.80 + 0.04 * layer : 0.855 + 0.02 * layer) + run.level;
            p.trainAcc = p.testAcc + 0.02;
            p.seconds = 3;
            if (auto r = store.recordProbe(rid, p); !r)
                return failWith(r.message());
        }
    }
    RunEnded end;
    end.status = run.status;
    end.message = run.status == RunStatus::Failed ? "out of memory (generated)" : "";
    end.seconds = 25.0 * step;
    end.finalTestAcc = lastAcc;
    if (run.status != RunStatus::Running)
        if (auto r = store.finishRun(rid, end); !r)
            return failWith(r.message());
    return rid;
}

/// The fmnist-k1 preset (spec and its recipe) from the source tree.
inline void loadPreset(const std::string &sourceDir, std::string &specJson, std::string &recipeJson)
{
    specJson = readFile(sourceDir + "/resources/presets/fmnist-k1.json");
    // The recipe is the spec's "recipe" object: cut it out textually (no JSON library here).
    const auto at = specJson.find("\"recipe\"");
    recipeJson = "{}";
    if (at == std::string::npos)
        return;
    const auto open = specJson.find('{', at);
    int depth = 0;
    for (std::size_t i = open; i < specJson.size(); ++i) {
        if (specJson[i] == '{')
            ++depth;
        else if (specJson[i] == '}' && --depth == 0) {
            recipeJson = specJson.substr(open, i - open + 1);
            break;
        }
    }
}

} // namespace lw::fake
