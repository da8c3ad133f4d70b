#pragma once

// Internal to core (includes torch): the modules of METHOD.md built from a Spec.

#include "core/spec/spec.h"

#include <torch/torch.h>

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

/// Stage block: downsampling (none | psi | maxpool | avgpool | stride) -> Conv(k x k, pad k/2)
/// -> [BN] -> ReLU. `in` is the shape the block receives.
class StageBlockImpl : public torch::nn::Module
{
public:
    StageBlockImpl(const StageSpec &stage, Shape in);
    torch::Tensor forward(const torch::Tensor &x);

    torch::nn::Conv2d conv{nullptr};
    torch::nn::BatchNorm2d bn{nullptr};

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
    torch::nn::BatchNorm2d m_bn{nullptr};        ///< BN after pooling (Conv kind, bn on)
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
