#pragma once

// Internal to core (includes torch): the linear-separability probe protocol (docs/probes.md).

#include <torch/torch.h>

#include <cstdint>
#include <utility>

namespace lw::detail {

/// Layer features average-pooled to 2x2 and flattened (N x 4C), with their labels.
struct PooledFeatures
{
    torch::Tensor features;
    torch::Tensor labels;
};

/// Pools a stored N x C x H x W feature tensor in chunks (adaptive average pooling to 2x2).
PooledFeatures poolFeatures(const torch::Tensor &features, const torch::Tensor &labels,
                            std::int64_t chunk);

/// The probe's fixed protocol: features standardized with the training split's statistics, a
/// linear softmax classifier trained by SGD (momentum 0.9, Nesterov, batch 256, weight decay
/// 1e-4, LR 0.05 cosine-annealed to 0 over 30 epochs, seeded shuffling). Returns (train
/// accuracy, test accuracy) of the final classifier.
std::pair<double, double> trainLinearProbe(const PooledFeatures &train, const PooledFeatures &test,
                                           int classes, std::uint64_t seed);

} // namespace lw::detail
