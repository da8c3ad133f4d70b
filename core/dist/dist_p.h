#pragma once

// Internal to core (includes torch and c10d): the process group behind DistGroup and the
// collectives the training engine calls. Every collective throws DistFailure, naming the rank
// that stopped responding, when a peer died or hangs past the timeout.

#include "core/dist/dist.h"

#include <torch/torch.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace lw::detail {

/// A collective failed: a rank died, hangs or cannot be reached. The run stops as interrupted.
struct DistFailure : std::runtime_error
{
    using std::runtime_error::runtime_error;
};

/// Sums `t` over the ranks in place (every rank gets the sum).
void allreduceSum(DistGroup &group, torch::Tensor &t);
/// Copies rank `root`'s `t` to every rank.
void broadcast(DistGroup &group, torch::Tensor &t, int root = 0);
/// Averages the gradients of `params` over the ranks (DDP's reduction, in buckets of about
/// 25 MB) and sums `extra` (per-rank scalars: loss, counts) in the last bucket: one pass, no
/// extra round trip. A parameter without a gradient counts as a zero gradient.
void averageGradients(DistGroup &group, const std::vector<torch::Tensor> &params,
                      std::vector<double> &extra);
/// Makes every rank's parameters and buffers (or only the buffers) rank 0's.
void broadcastModule(DistGroup &group, torch::nn::Module &module, bool buffersOnly);
/// Point-to-point: sends `t` to rank `dst` / receives into `t` from rank `src`.
void send(DistGroup &group, torch::Tensor &t, int dst, int tag);
void recv(DistGroup &group, torch::Tensor &t, int src, int tag);

} // namespace lw::detail
