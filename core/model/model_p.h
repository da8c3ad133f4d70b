#pragma once

// Internal to core (includes torch): the modules of METHOD.md built from a Spec.

#include "core/spec/spec.h"

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <ostream>
#include <vector>

namespace lw::model {

/// Space-to-depth psi(2) with the reference's channel order:
/// out[n, (dy*2+dx)*C + c, i, j] = x[n, c, 2i+dy, 2j+dx]. H and W must be even.
torch::Tensor psi(const torch::Tensor &x);
/// Inverse of psi: 4C x H x W -> C x 2H x 2W.
torch::Tensor psiInverse(const torch::Tensor &x);

struct PsiImpl : torch::nn::Module
{
    torch::Tensor forward(const torch::Tensor &x) { return psi(x); }
};
TORCH_MODULE(Psi);

/// Input stem: identity or psi on the image (ImageNet models).
class InputStemImpl : public torch::nn::Module
{
public:
    explicit InputStemImpl(const InputSpec &input);
    torch::Tensor forward(const torch::Tensor &x);

private:
    Downsample m_down;
};
TORCH_MODULE(InputStem);

/// Sums a tensor over the ranks of a run, in place (every rank gets the sum).
using SumOverRanks = std::function<void(torch::Tensor &)>;

/// BatchNorm2d whose training-mode statistics can span the processes of a run (SyncBatchNorm):
/// with `sync` set, the batch mean and variance are those of the union of every rank's batch
/// (per-channel sums of x and x^2 and counts, summed over the ranks), and the backward pass sums
/// their gradients over the ranks, so each rank's gradient is the one of the global batch.
/// Without it, or in eval mode, it computes what torch::nn::BatchNorm2d does, with the same
/// parameters and buffers under the same names. (Not a subclass of BatchNorm2dImpl: Debian's
/// LibTorch 1.13 does not export BatchNormImplBase<2>::pretty_print, which a subclass's
/// construction vtables need.)
class SyncBatchNorm2dImpl : public torch::nn::Cloneable<SyncBatchNorm2dImpl>
{
public:
    explicit SyncBatchNorm2dImpl(std::int64_t features);
    void reset() override;
    torch::Tensor forward(const torch::Tensor &x);
    void pretty_print(std::ostream &stream) const override;

    torch::nn::BatchNormOptions options; ///< affine, with running statistics
    torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;
    std::shared_ptr<const SumOverRanks> sync; ///< set by syncBatchNorm; null: this rank alone
};
TORCH_MODULE(SyncBatchNorm2d);

/// Makes every SyncBatchNorm2d in `module` synchronize its training statistics with `sum`
/// (null: each rank its own again). Every rank must then run the same BatchNorm layers in
/// training mode in the same order, as the data-parallel engine does.
void syncBatchNorm(torch::nn::Module &module, std::shared_ptr<const SumOverRanks> sum);

/// Stage block: downsampling (none | psi | maxpool | avgpool | stride) -> Conv(k x k, pad k/2)
/// -> [BN] -> ReLU. `in` is the shape the block receives.
class StageBlockImpl : public torch::nn::Module
{
public:
    StageBlockImpl(const StageSpec &stage, Shape in);
    torch::Tensor forward(const torch::Tensor &x);

    torch::nn::Conv2d conv{nullptr};
    SyncBatchNorm2d bn{nullptr};

private:
    Downsample m_down;
};
TORCH_MODULE(StageBlock);

/// Auxiliary head on a block's output `in`, producing `classes` logits (METHOD.md: conv heads
/// with k-1 hidden conv-BN-ReLU, fixed or adaptive pooling, BN, linear; or VGG's MLP classifier).
class AuxHeadImpl : public torch::nn::Module
{
public:
    AuxHeadImpl(const HeadSpec &head, Shape in, int classes);
    torch::Tensor forward(const torch::Tensor &x);

private:
    HeadSpec m_spec;
    Shape m_in;
    torch::nn::Sequential m_hidden{nullptr};     ///< hidden convs (Conv kind), may be empty
    SyncBatchNorm2d m_bn{nullptr};               ///< BN after pooling (Conv kind, bn on)
    torch::nn::Sequential m_classifier{nullptr}; ///< linear layers
};
TORCH_MODULE(AuxHead);

/// The whole layerwise network of a spec: stem, one block and one head per stage.
/// Modules are registered under "stem", "block<j>", "head<j>".
class NetworkImpl : public torch::nn::Module
{
public:
    /// Precondition: validateSpec(spec) is empty (throws c10::Error otherwise).
    explicit NetworkImpl(const Spec &spec);

    int stages() const { return static_cast<int>(blocks.size()); }
    /// Stem + blocks 0..stage (inclusive): the output of block `stage`.
    torch::Tensor features(const torch::Tensor &x, int stage);
    /// Logits of head `stage` on the output of block `stage`.
    torch::Tensor forward(const torch::Tensor &x, int stage);

    InputStem stem{nullptr};
    std::vector<StageBlock> blocks;
    std::vector<AuxHead> heads;
};
TORCH_MODULE(Network);

/// Number of elements of all parameters (not buffers) of a module.
std::int64_t countParameters(const torch::nn::Module &module);

/// Folds a frozen block's BN into its conv for inference (weights scaled, bias added);
/// returns an equivalent module for eval-mode forward passes only.
StageBlock foldBatchNorm(const StageBlock &block, const StageSpec &stage, Shape in);

} // namespace lw::model
