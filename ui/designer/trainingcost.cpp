#include "ui/designer/trainingcost.h"

namespace lw {

TrainingCost estimateTrainingCost(const SpecSummary &summary, int epochsPerStage, int e2eEpochs)
{
    TrainingCost cost;
    const int n = int(summary.stages.size());
    cost.epochsPerStage = epochsPerStage;
    cost.e2eEpochs = e2eEpochs > 0 ? e2eEpochs : epochsPerStage * n;
    double prefix = 0.0; // forward MACs of the frozen blocks before stage j
    for (int j = 0; j < n; ++j) {
        const StageCost &s = summary.stages[size_t(j)];
        const double trainStep = 3.0 * double(s.blockMacs + s.headMacs);
        cost.stageEpochUncached.push_back(prefix + trainStep);
        cost.stageEpochCached.push_back(trainStep);
        cost.greedyUncached += epochsPerStage * (prefix + trainStep);
        // With the cache, the frozen prefix runs once per stage: the newest frozen block extends
        // the cached features by one pass over the data.
        const double extendCache = j > 0 ? double(summary.stages[size_t(j - 1)].blockMacs) : 0.0;
        cost.greedyCached += epochsPerStage * trainStep + extendCache;
        prefix += double(s.blockMacs);
    }
    if (n > 0)
        cost.e2eEpoch = 3.0 * double(summary.trunkMacs + summary.stages.back().headMacs);
    cost.e2eTotal = cost.e2eEpoch * cost.e2eEpochs;
    return cost;
}

} // namespace lw
