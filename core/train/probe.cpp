#include "core/train/probe_p.h"

#include "core/data/loader_p.h"

#include <cmath>

namespace lw::detail {

PooledFeatures poolFeatures(const torch::Tensor &features, const torch::Tensor &labels,
                            std::int64_t chunk)
{
    torch::NoGradGuard guard;
    const auto n = features.size(0);
    std::vector<torch::Tensor> parts;
    for (std::int64_t s = 0; s < n; s += chunk) {
        const auto e = std::min(n, s + chunk);
        parts.push_back(
            torch::adaptive_avg_pool2d(features.slice(0, s, e).to(torch::kFloat32), {2, 2})
                .flatten(1)
                .to(torch::kCPU));
    }
    return {torch::cat(parts), labels.to(torch::kCPU)};
}

std::pair<double, double> trainLinearProbe(const PooledFeatures &train, const PooledFeatures &test,
                                           int classes, std::uint64_t seed)
{
    constexpr int kEpochs = 30;
    constexpr int kBatch = 256;
    constexpr double kLr = 0.05;
    constexpr double kWeightDecay = 1e-4;

    torch::manual_seed(seed);
    auto xtr = train.features.to(torch::kFloat32);
    auto mean = xtr.mean(0, true);
    auto std = xtr.std(0, true, true).clamp_min(1e-6);
    xtr = (xtr - mean) / std;
    auto xte = (test.features.to(torch::kFloat32) - mean) / std;
    const auto ytr = train.labels;
    const auto yte = test.labels;

    torch::nn::Linear linear(xtr.size(1), classes);
    torch::optim::SGD sgd(
        linear->parameters(),
        torch::optim::SGDOptions(kLr).momentum(0.9).nesterov(true).weight_decay(kWeightDecay));
    const auto n = xtr.size(0);
    const std::int64_t steps = kEpochs * ((n + kBatch - 1) / kBatch);
    std::int64_t t = 0;
    for (int epoch = 0; epoch < kEpochs; ++epoch) {
        auto perm = lw::data::epochPermutation(n, seed, epoch);
        auto order = torch::from_blob(perm.data(), {n}, torch::kInt64);
        for (std::int64_t s = 0; s < n; s += kBatch) {
            const double lr = 0.5 * kLr * (1.0 + std::cos(M_PI * double(t) / double(steps)));
            for (auto &g : sgd.param_groups())
                static_cast<torch::optim::SGDOptions &>(g.options()).lr(lr);
            auto idx = order.slice(0, s, std::min(n, s + kBatch));
            auto loss = torch::nn::functional::cross_entropy(
                linear->forward(xtr.index_select(0, idx)), ytr.index_select(0, idx));
            sgd.zero_grad();
            loss.backward();
            sgd.step();
            ++t;
        }
    }
    torch::NoGradGuard guard;
    auto accuracy = [&](const torch::Tensor &x, const torch::Tensor &y) {
        if (x.size(0) == 0)
            return 0.0;
        return linear->forward(x).argmax(1).eq(y).sum().item<double>() / double(x.size(0));
    };
    return {accuracy(xtr, ytr), accuracy(xte, yte)};
}

} // namespace lw::detail
