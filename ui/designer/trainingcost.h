#pragma once

#include "core/spec/spec.h"

#include <vector>

namespace lw {

/// Estimated compute of greedy training relative to end-to-end training of the same network,
/// in multiply-accumulates per training sample (docs/designer.md).
///   one greedy epoch of stage j, uncached = F(blocks 0..j-1) + 3 (F(block j) + F(head j))
///   one greedy epoch of stage j, cached   = 3 (F(block j) + F(head j))
///                                           (+ F(block j-1) once per stage to extend the cache)
///   one end-to-end epoch                  = 3 (F(trunk) + F(last head))
/// where F is a forward pass and 3F approximates forward + backward (backward ~ 2 forwards).
struct TrainingCost
{
    std::vector<double> stageEpochUncached; ///< per stage: MACs/sample of one greedy epoch
    std::vector<double> stageEpochCached;
    double e2eEpoch = 0.0;       ///< MACs/sample of one end-to-end epoch
    double greedyUncached = 0.0; ///< all stages, epochsPerStage each
    double greedyCached = 0.0;
    double e2eTotal = 0.0; ///< e2eEpochs end-to-end epochs
    int epochsPerStage = 0;
    int e2eEpochs = 0;

    /// Greedy training expressed in end-to-end epochs of the final network (METHOD.md: the CIFAR
    /// k = 1/2/3 models cost about 75/93/111 uncached at 50 epochs per stage).
    double uncachedInE2eEpochs() const { return e2eEpoch > 0 ? greedyUncached / e2eEpoch : 0.0; }
    double cachedInE2eEpochs() const { return e2eEpoch > 0 ? greedyCached / e2eEpoch : 0.0; }
    /// Greedy cost / cost of the end-to-end twin's schedule (e2eEpochs).
    double uncachedRatio() const { return e2eTotal > 0 ? greedyUncached / e2eTotal : 0.0; }
    double cachedRatio() const { return e2eTotal > 0 ? greedyCached / e2eTotal : 0.0; }
};

/// `e2eEpochs` <= 0 means epochsPerStage x number of stages (the spec's e2e default).
TrainingCost estimateTrainingCost(const SpecSummary &summary, int epochsPerStage, int e2eEpochs);

} // namespace lw
