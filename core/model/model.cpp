#include "core/model/model_p.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>

namespace lw::model {

namespace {

/// Shape after a downsampling that comes before a convolution (Stride is done by the conv).
Shape downsampled(Shape s, Downsample d)
{
    switch (d) {
    case Downsample::Psi: return {4 * s.c, s.h / 2, s.w / 2};
    case Downsample::MaxPool:
    case Downsample::AvgPool: return {s.c, s.h / 2, s.w / 2};
    case Downsample::None:
    case Downsample::Stride: break;
    }
    return s;
}

/// Output side of a convolution with padding kernel / 2.
int convSide(int side, int kernel, int stride)
{
    return (side + 2 * (kernel / 2) - kernel) / stride + 1;
}

/// Shape a stage block produces from `in`.
Shape blockOutput(const StageSpec &stage, Shape in)
{
    const Shape s = downsampled(in, stage.downsample);
    const int stride = stage.downsample == Downsample::Stride ? 2 : 1;
    return {stage.width, convSide(s.h, stage.kernel, stride), convSide(s.w, stage.kernel, stride)};
}

/// Applies the pooling / psi part of a downsampling (Stride is left to the convolution).
torch::Tensor applyDownsample(const torch::Tensor &x, Downsample d)
{
    switch (d) {
    case Downsample::Psi: return psi(x);
    case Downsample::MaxPool: return torch::max_pool2d(x, {2, 2}, {2, 2});
    case Downsample::AvgPool: return torch::avg_pool2d(x, {2, 2}, {2, 2});
    case Downsample::None:
    case Downsample::Stride: break;
    }
    return x;
}

std::string shapeText(Shape s)
{
    return std::to_string(s.c) + "x" + std::to_string(s.h) + "x" + std::to_string(s.w);
}

} // namespace

torch::Tensor psi(const torch::Tensor &x)
{
    TORCH_CHECK(x.dim() == 4 || x.dim() == 3,
                "psi: expected an N x C x H x W or C x H x W tensor, "
                "got ",
                x.dim(), " dimensions");
    if (x.dim() == 3)
        return psi(x.unsqueeze(0)).squeeze(0);
    const auto n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    TORCH_CHECK(h % 2 == 0 && w % 2 == 0, "psi: height and width must be even, got ", h, "x", w);
    // [n, c, i, dy, j, dx] -> [n, dy, dx, c, i, j]: channel (dy * 2 + dx) * C + c.
    return x.reshape({n, c, h / 2, 2, w / 2, 2})
        .permute({0, 3, 5, 1, 2, 4})
        .reshape({n, 4 * c, h / 2, w / 2});
}

torch::Tensor psiInverse(const torch::Tensor &x)
{
    TORCH_CHECK(x.dim() == 4 || x.dim() == 3,
                "psiInverse: expected an N x 4C x H x W or 4C x H x W tensor, got ", x.dim(),
                " dimensions");
    if (x.dim() == 3)
        return psiInverse(x.unsqueeze(0)).squeeze(0);
    const auto n = x.size(0), c4 = x.size(1), h = x.size(2), w = x.size(3);
    TORCH_CHECK(c4 % 4 == 0, "psiInverse: channels must be a multiple of 4, got ", c4);
    const auto c = c4 / 4;
    // [n, dy, dx, c, i, j] -> [n, c, i, dy, j, dx].
    return x.reshape({n, 2, 2, c, h, w}).permute({0, 3, 4, 1, 5, 2}).reshape({n, c, 2 * h, 2 * w});
}

// --- InputStem ---------------------------------------------------------------------------------

InputStemImpl::InputStemImpl(const InputSpec &input)
    : m_down(input.downsample)
{
    TORCH_CHECK(m_down == Downsample::None || m_down == Downsample::Psi,
                "input.downsample: expected none or psi, got ", toString(m_down));
}

torch::Tensor InputStemImpl::forward(const torch::Tensor &x)
{
    return m_down == Downsample::Psi ? psi(x) : x;
}

// --- SyncBatchNorm2d ---------------------------------------------------------------------------

namespace {

/// y = the sum of x over the ranks; its gradient is the sum of y's gradients over the ranks
/// (each rank's statistics feed every rank's loss). The sum travels as an address in the
/// context: the module that owns it outlives the graph.
struct SumOverRanksFunction : torch::autograd::Function<SumOverRanksFunction>
{
    static torch::Tensor forward(torch::autograd::AutogradContext *ctx, const torch::Tensor &x,
                                 const SumOverRanks *sum)
    {
        ctx->saved_data["sum"] = static_cast<std::int64_t>(reinterpret_cast<std::intptr_t>(sum));
        auto y = x.clone();
        (*sum)(y);
        return y;
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list grads)
    {
        const auto *sum = reinterpret_cast<const SumOverRanks *>(
            static_cast<std::intptr_t>(ctx->saved_data["sum"].toInt()));
        auto g = grads[0].contiguous().clone();
        (*sum)(g);
        return {g, torch::Tensor()};
    }
};

} // namespace

SyncBatchNorm2dImpl::SyncBatchNorm2dImpl(std::int64_t features)
    : options(features)
{
    reset();
}

void SyncBatchNorm2dImpl::reset()
{
    // BatchNorm2d's parameters and buffers, in its order and under its names (checkpoints and
    // exports read them so); affine, with running statistics.
    const std::int64_t n = options.num_features();
    weight = register_parameter("weight", torch::ones({n}));
    bias = register_parameter("bias", torch::zeros({n}));
    running_mean = register_buffer("running_mean", torch::zeros({n}));
    running_var = register_buffer("running_var", torch::ones({n}));
    num_batches_tracked
        = register_buffer("num_batches_tracked", torch::tensor(0, torch::dtype(torch::kLong)));
}

void SyncBatchNorm2dImpl::pretty_print(std::ostream &stream) const
{
    stream << "SyncBatchNorm2d(" << options.num_features() << ", eps=" << options.eps()
           << ", momentum=" << options.momentum().value_or(0.0) << ")";
}

torch::Tensor SyncBatchNorm2dImpl::forward(const torch::Tensor &x)
{
    if (!is_training() || !sync) { // torch::nn::BatchNorm2d's forward
        double momentum = options.momentum().value_or(0.0);
        if (is_training()) {
            num_batches_tracked += 1;
            if (!options.momentum())
                momentum = 1.0 / num_batches_tracked.item<double>();
        }
        return torch::batch_norm(x, weight, bias, running_mean, running_var, is_training(),
                                 momentum, options.eps(), at::globalContext().userEnabledCuDNN());
    }
    // The batch statistics of every rank's batch together: per channel, the sums of x and x^2
    // and the count, summed over the ranks (in float64: no cancellation in E[x^2] - E[x]^2).
    const std::int64_t c = x.size(1);
    const double count = double(x.numel() / std::max<std::int64_t>(c, 1));
    const auto xd = x.to(torch::kFloat64);
    auto local = torch::cat(
        {xd.sum({0, 2, 3}), xd.square().sum({0, 2, 3}), torch::full({1}, count, xd.options())});
    auto global = SumOverRanksFunction::apply(local, sync.get());
    const auto n = global.slice(0, 2 * c, 2 * c + 1);
    const auto mean = global.slice(0, 0, c) / n;
    const auto var = (global.slice(0, c, 2 * c) / n - mean.square()).clamp_min(0);
    {
        torch::NoGradGuard guard;
        const double total = n.item<double>();
        num_batches_tracked.add_(1);
        const double momentum = options.momentum().has_value()
                                    ? *options.momentum()
                                    : 1.0 / num_batches_tracked.item<double>();
        // As BatchNorm2d: the running variance is the unbiased one of the (global) batch.
        running_mean.mul_(1 - momentum).add_(mean.to(running_mean.dtype()) * momentum);
        running_var.mul_(1 - momentum)
            .add_((var * (total / std::max(total - 1, 1.0))).to(running_var.dtype()) * momentum);
    }
    const auto shape = std::vector<std::int64_t>{1, c, 1, 1};
    const auto scale = torch::rsqrt(var + options.eps()).to(torch::kFloat32);
    auto y = (x.to(torch::kFloat32) - mean.to(torch::kFloat32).view(shape)) * scale.view(shape);
    y = y * weight.view(shape) + bias.view(shape);
    return y.to(x.scalar_type());
}

void syncBatchNorm(torch::nn::Module &module, std::shared_ptr<const SumOverRanks> sum)
{
    for (const auto &m : module.modules())
        if (auto *bn = dynamic_cast<SyncBatchNorm2dImpl *>(m.get()))
            bn->sync = sum;
}

// --- StageBlock --------------------------------------------------------------------------------

StageBlockImpl::StageBlockImpl(const StageSpec &stage, Shape in)
    : m_down(stage.downsample)
{
    TORCH_CHECK(stage.kernel > 0 && stage.kernel % 2 == 1, "stage kernel must be odd, got ",
                stage.kernel);
    TORCH_CHECK(in.c > 0 && stage.width > 0, "stage block: channels must be positive (in ", in.c,
                ", width ", stage.width, ")");
    const Shape s = downsampled(in, stage.downsample);
    const int stride = stage.downsample == Downsample::Stride ? 2 : 1;
    conv = register_module(
        "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(s.c, stage.width, stage.kernel)
                                      .stride(stride)
                                      .padding(stage.kernel / 2)
                                      .bias(stage.bias)));
    if (stage.bn)
        bn = register_module("bn", SyncBatchNorm2d(stage.width));
}

torch::Tensor StageBlockImpl::forward(const torch::Tensor &x)
{
    auto y = conv->forward(applyDownsample(x, m_down));
    if (bn)
        y = bn->forward(y);
    return torch::relu(y);
}

// --- AuxHead -----------------------------------------------------------------------------------

AuxHeadImpl::AuxHeadImpl(const HeadSpec &head, Shape in, int classes)
    : m_spec(head)
    , m_in(in)
{
    TORCH_CHECK(head.k >= 1, "head.k must be at least 1, got ", head.k);
    TORCH_CHECK(head.pooled >= 1, "head.pooled must be at least 1, got ", head.pooled);
    TORCH_CHECK(classes >= 1, "classes must be at least 1, got ", classes);
    Shape s = in;
    if (head.maxpoolFirst)
        s = {s.c, s.h / 2, s.w / 2};
    m_hidden = register_module("hidden", torch::nn::Sequential());
    torch::nn::Sequential classifier;

    if (head.kind == HeadKind::Conv) {
        for (int i = 0; i < head.k - 1; ++i) {
            m_hidden->push_back(torch::nn::Conv2d(
                torch::nn::Conv2dOptions(s.c, head.width, 3).padding(head.padding).bias(false)));
            if (head.bn)
                m_hidden->push_back(SyncBatchNorm2d(head.width));
            m_hidden->push_back(torch::nn::ReLU());
            s = {head.width, s.h + 2 * head.padding - 2, s.w + 2 * head.padding - 2};
        }
    }
    TORCH_CHECK(s.h >= head.pooled && s.w >= head.pooled, "auxiliary head: its input ",
                shapeText(s), " (after the max-pool and hidden convolutions) is smaller than the ",
                "pooled side ", head.pooled);
    if (head.pool == HeadPool::Fixed) {
        // The reference's AvgPool(kernel = stride = side / pooled) must land on pooled exactly.
        const int kh = s.h / head.pooled, kw = s.w / head.pooled;
        TORCH_CHECK(s.h / kh == head.pooled && s.w / kw == head.pooled,
                    "auxiliary head: fixed pooling (kernel = stride = side / pooled) cannot bring ",
                    shapeText(s), " to ", head.pooled, "x", head.pooled, "; use adaptive pooling");
    }

    std::int64_t features = std::int64_t(s.c) * head.pooled * head.pooled;
    if (head.kind == HeadKind::Mlp) {
        for (int i = 0; i < head.k - 1; ++i) {
            classifier->push_back(torch::nn::Linear(features, head.width));
            classifier->push_back(torch::nn::ReLU());
            classifier->push_back(torch::nn::Dropout(head.dropout));
            features = head.width;
        }
    } else if (head.bn) {
        m_bn = register_module("bn", SyncBatchNorm2d(s.c));
    }
    classifier->push_back(torch::nn::Linear(features, classes));
    m_classifier = register_module("classifier", classifier);
}

torch::Tensor AuxHeadImpl::forward(const torch::Tensor &x)
{
    auto y = x;
    if (m_spec.maxpoolFirst)
        y = torch::max_pool2d(y, {2, 2}, {2, 2});
    if (m_spec.kind == HeadKind::Conv && !m_hidden->is_empty())
        y = m_hidden->forward(y);
    if (m_spec.pool == HeadPool::Fixed) {
        const std::int64_t kh = std::max<std::int64_t>(1, y.size(2) / m_spec.pooled);
        const std::int64_t kw = std::max<std::int64_t>(1, y.size(3) / m_spec.pooled);
        y = torch::avg_pool2d(y, {kh, kw}, {kh, kw});
    } else {
        y = torch::adaptive_avg_pool2d(y, {m_spec.pooled, m_spec.pooled});
    }
    if (m_bn)
        y = m_bn->forward(y);
    return m_classifier->forward(y.flatten(1));
}

// --- Network -----------------------------------------------------------------------------------

NetworkImpl::NetworkImpl(const Spec &spec)
{
    const auto issues = validateSpec(spec);
    if (!issues.empty()) {
        std::ostringstream text;
        for (const auto &issue : issues)
            text << "\n  " << issue.toString();
        TORCH_CHECK(false, "invalid spec '", spec.name, "':", text.str());
    }
    stem = register_module("stem", InputStem(spec.input));
    Shape s = downsampled({spec.input.channels, spec.input.height, spec.input.width},
                          spec.input.downsample);
    for (std::size_t j = 0; j < spec.stages.size(); ++j) {
        const auto &stage = spec.stages[j];
        blocks.push_back(register_module("block" + std::to_string(j), StageBlock(stage, s)));
        s = blockOutput(stage, s);
        heads.push_back(register_module("head" + std::to_string(j),
                                        AuxHead(stage.head, s, spec.input.classes)));
    }
}

torch::Tensor NetworkImpl::features(const torch::Tensor &x, int stage)
{
    TORCH_CHECK(stage >= 0 && stage < stages(), "stage ", stage, " out of range (the network has ",
                stages(), " stages)");
    auto y = stem->forward(x);
    for (int j = 0; j <= stage; ++j)
        y = blocks[j]->forward(y);
    return y;
}

torch::Tensor NetworkImpl::forward(const torch::Tensor &x, int stage)
{
    auto y = features(x, stage); // checks `stage`
    return heads[stage]->forward(y);
}

// --- Utilities ---------------------------------------------------------------------------------

std::int64_t countParameters(const torch::nn::Module &module)
{
    std::int64_t n = 0;
    for (const auto &p : module.parameters())
        n += p.numel();
    return n;
}

StageBlock foldBatchNorm(const StageBlock &block, const StageSpec &stage, Shape in)
{
    StageSpec folded = stage;
    folded.bn = false;
    folded.bias = true;
    StageBlock out(folded, in);
    out->eval();

    torch::NoGradGuard guard;
    const auto &conv = block->conv;
    const auto weight = conv->weight.detach().to(torch::kFloat64);
    auto bias = conv->bias.defined() ? conv->bias.detach().to(torch::kFloat64)
                                     : torch::zeros({weight.size(0)}, weight.options());
    auto newWeight = weight;
    auto newBias = bias;
    if (const auto &bn = block->bn) {
        const auto mean = bn->running_mean.detach().to(torch::kFloat64);
        const auto var = bn->running_var.detach().to(torch::kFloat64);
        auto scale = torch::rsqrt(var + bn->options.eps());
        auto shift = -mean * scale;
        if (bn->options.affine()) {
            const auto gamma = bn->weight.detach().to(torch::kFloat64);
            shift = bn->bias.detach().to(torch::kFloat64) + shift * gamma;
            scale = scale * gamma;
        }
        newWeight = weight * scale.reshape({-1, 1, 1, 1});
        newBias = bias * scale + shift;
    }
    out->to(conv->weight.device(), conv->weight.scalar_type());
    out->conv->weight.copy_(newWeight);
    out->conv->bias.copy_(newBias);
    return out;
}

} // namespace lw::model
