#pragma once

// Internal to core (includes torch and c10d): the process group behind DistGroup and the
// collectives the training engine calls. Every collective throws DistFailure, naming the rank
// that stopped responding, when a peer died or hangs past the timeout.

#include "core/dist/dist.h"

#include <torch/torch.h>

#include <functional>
#include <mutex>
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

/// Ends, from another thread, the receive that recv(group, t, src, tag, abort) is waiting in,
/// and every later one (Gloo: c10d::Work::abort).
class RecvAbort
{
public:
    void abort();

private:
    friend bool recv(DistGroup &group, torch::Tensor &t, int src, int tag, RecvAbort &abort);
    std::mutex m_mutex;
    bool m_aborted = false;
    std::function<void()> m_current;
};

/// A receive that `abort` can end (then false) and whose wait is not communication time (a
/// thread that receives in the background): true once `t` holds the message. Throws
/// DistFailure as recv does.
bool recv(DistGroup &group, torch::Tensor &t, int src, int tag, RecvAbort &abort);

/// A send in flight (sendAsync): it holds its tensor until wait() returns. Gloo completes a send
/// once the receiver has posted the matching receive, so a sender that waits only before its
/// next send runs a step ahead of its receiver (the overlap of a pipeline).
class PendingSend
{
public:
    PendingSend() = default;
    /// Blocks until the send completed; throws DistFailure as the collectives do. No-op when
    /// nothing is in flight.
    void wait();

private:
    friend PendingSend sendAsync(DistGroup &group, torch::Tensor t, int dst, int tag);
    std::function<void()> m_wait;
};

/// Starts sending `t` (contiguous) to rank `dst`. Sends in flight on one tag arrive in the order
/// they started.
PendingSend sendAsync(DistGroup &group, torch::Tensor t, int dst, int tag);

} // namespace lw::detail
