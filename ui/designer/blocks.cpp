#include "ui/designer/blocks.h"

#include <QCoreApplication>
#include <QMimeData>

#include <algorithm>

namespace lw {

static QString tr(const char *text)
{
    return QCoreApplication::translate("lw::Block", text);
}

bool isHeadBlock(Block block)
{
    return block == Block::HeadK1 || block == Block::HeadK2 || block == Block::HeadK3;
}

QString blockId(Block block)
{
    switch (block) {
    case Block::ConvStage: return QStringLiteral("conv");
    case Block::PsiStage: return QStringLiteral("psi");
    case Block::MaxPoolStage: return QStringLiteral("maxpool");
    case Block::AvgPoolStage: return QStringLiteral("avgpool");
    case Block::StrideStage: return QStringLiteral("stride");
    case Block::VggStage: return QStringLiteral("vgg");
    case Block::HeadK1: return QStringLiteral("head-k1");
    case Block::HeadK2: return QStringLiteral("head-k2");
    case Block::HeadK3: return QStringLiteral("head-k3");
    }
    return {};
}

std::optional<Block> blockFromId(const QString &id)
{
    for (Block b : kAllBlocks) {
        if (blockId(b) == id)
            return b;
    }
    return std::nullopt;
}

QString blockTitle(Block block)
{
    switch (block) {
    case Block::ConvStage: return tr("Conv stage");
    case Block::PsiStage: return tr("\u03c8 downsampling stage");
    case Block::MaxPoolStage: return tr("Max-pool stage");
    case Block::AvgPoolStage: return tr("Avg-pool stage");
    case Block::StrideStage: return tr("Stride-2 stage");
    case Block::VggStage: return tr("VGG-style stage");
    case Block::HeadK1: return tr("Head k = 1");
    case Block::HeadK2: return tr("Head k = 2");
    case Block::HeadK3: return tr("Head k = 3");
    }
    return {};
}

QString blockDescription(Block block)
{
    switch (block) {
    case Block::ConvStage:
        return tr("Conv 3\u00d73 + BN + ReLU at the resolution and width of the stage before.");
    case Block::PsiStage:
        return tr(
            "Invertible downsampling \u03c8(2) (C\u00d7H\u00d7W \u2192 4C\u00d7H/2\u00d7W/2), "
            "then conv 4C \u2192 2C: the paper's downsampling stage.");
    case Block::MaxPoolStage: return tr("2\u00d72 max-pool, then conv with twice the width.");
    case Block::AvgPoolStage: return tr("2\u00d72 average-pool, then conv with twice the width.");
    case Block::StrideStage: return tr("Stride-2 conv with twice the width.");
    case Block::VggStage:
        return tr("VGG-style: 2\u00d72 max-pool, conv 3\u00d73 + BN, width doubling up to 512.");
    case Block::HeadK1:
        return tr("Auxiliary head k = 1: avg-pool to 2\u00d72, BN, linear. Drop it on a stage.");
    case Block::HeadK2:
        return tr("Auxiliary head k = 2: one conv-BN-ReLU, avg-pool, BN, linear. Drop it on a "
                  "stage.");
    case Block::HeadK3:
        return tr("Auxiliary head k = 3: two conv-BN-ReLU, avg-pool, BN, linear. Drop it on a "
                  "stage.");
    }
    return {};
}

QMimeData *blockMimeData(Block block)
{
    auto *mime = new QMimeData;
    mime->setData(QLatin1String(kBlockMimeType), blockId(block).toUtf8());
    return mime;
}

QMimeData *stageMimeData(int index)
{
    auto *mime = new QMimeData;
    mime->setData(QLatin1String(kStageMimeType), QByteArray::number(index));
    return mime;
}

std::optional<int> stageFromMime(const QMimeData *mime)
{
    if (!mime || !mime->hasFormat(QLatin1String(kStageMimeType)))
        return std::nullopt;
    bool ok = false;
    const int index = mime->data(QLatin1String(kStageMimeType)).toInt(&ok);
    return ok ? std::optional<int>(index) : std::nullopt;
}

std::optional<Block> blockFromMime(const QMimeData *mime)
{
    if (!mime || !mime->hasFormat(QLatin1String(kBlockMimeType)))
        return std::nullopt;
    return blockFromId(QString::fromUtf8(mime->data(QLatin1String(kBlockMimeType))));
}

StageSpec makeStage(Block block, const Spec &spec, int index)
{
    StageSpec stage;
    const bool hasPrev = index > 0 && index <= int(spec.stages.size());
    int prevWidth = 64;
    if (hasPrev) {
        const StageSpec &prev = spec.stages[size_t(index - 1)];
        stage = prev;
        prevWidth = prev.width;
    } else if (!spec.stages.empty()) {
        // Inserted in front: follow the current first stage's settings.
        stage = spec.stages.front();
        prevWidth = stage.width;
    } else {
        stage.head.k = 1;
    }
    stage.kernel = 3;
    stage.downsample = Downsample::None;
    if (stage.head.kind == HeadKind::Mlp)
        stage.head = HeadSpec{}; // VGG's classifier belongs to the last stage only
    const auto doubled = [&](int w) {
        return hasPrev ? w * 2 : w;
    };
    switch (block) {
    case Block::ConvStage: stage.width = prevWidth; break;
    case Block::PsiStage: stage.downsample = Downsample::Psi; break;
    case Block::MaxPoolStage: stage.downsample = Downsample::MaxPool; break;
    case Block::AvgPoolStage: stage.downsample = Downsample::AvgPool; break;
    case Block::StrideStage: stage.downsample = Downsample::Stride; break;
    case Block::VggStage:
        // VGG-11-BN greedy (vgg11-greedy preset): conv with bias + BN, a k = 3 head without
        // padding, adaptively pooled to 2x2.
        stage.downsample = Downsample::MaxPool;
        stage.bn = true;
        stage.bias = true;
        stage.head = HeadSpec{};
        stage.head.k = 3;
        stage.head.padding = 0;
        stage.head.pool = HeadPool::Adaptive;
        break;
    default: break;
    }
    if (stage.downsample != Downsample::None) {
        stage.width = doubled(prevWidth);
        if (block == Block::VggStage) {
            stage.width = std::min(stage.width, std::max(prevWidth, 512));
            stage.head.width = stage.width;
        }
        // The paper's heads widen with the trunk at each downsampling (M~ 128 -> 256 ...).
        if (block != Block::VggStage && hasPrev && stage.head.kind == HeadKind::Conv
            && stage.head.k > 1)
            stage.head.width *= 2;
    }
    return stage;
}

HeadSpec makeHead(Block block, const HeadSpec &head)
{
    // An MLP head (VGG's classifier) has no conv width to keep: start from the paper's defaults.
    HeadSpec h = head.kind == HeadKind::Conv ? head : HeadSpec{};
    h.kind = HeadKind::Conv;
    h.k = block == Block::HeadK1 ? 1 : block == Block::HeadK2 ? 2 : 3;
    h.dropout = 0.0;
    h.maxpoolFirst = false;
    if (h.width <= 0)
        h.width = 128;
    return h;
}

} // namespace lw
