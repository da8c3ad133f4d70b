#pragma once

#include "core/spec/spec.h"

#include <QString>

#include <optional>

class QMimeData;

namespace lw {

/// Building blocks of the designer's palette. Stage blocks insert a stage; head blocks replace
/// the auxiliary head of the stage they are dropped on.
enum class Block {
    ConvStage,    ///< conv 3x3 at the same resolution and width as the stage before
    PsiStage,     ///< psi(2) then conv 4C -> 2C (width doubles, the paper's downsampling)
    MaxPoolStage, ///< 2x2 max-pool then conv (width doubles)
    AvgPoolStage, ///< 2x2 average-pool then conv (width doubles)
    StrideStage,  ///< stride-2 conv (width doubles)
    VggStage,     ///< VGG-style: max-pool, conv 3x3 + BN, width doubling up to 512
    HeadK1,
    HeadK2,
    HeadK3,
};

inline constexpr Block kAllBlocks[] = {Block::ConvStage,    Block::PsiStage,    Block::MaxPoolStage,
                                       Block::AvgPoolStage, Block::StrideStage, Block::VggStage,
                                       Block::HeadK1,       Block::HeadK2,      Block::HeadK3};

/// MIME types of the designer's drags: a palette block (payload: blockId) and a stage being
/// moved within the list (payload: its index as decimal text).
inline constexpr char kBlockMimeType[] = "application/x-layerwise-block";
inline constexpr char kStageMimeType[] = "application/x-layerwise-stage";

bool isHeadBlock(Block block);
/// Stable identifier used in drags ("conv", "psi", ..., "head-k2").
QString blockId(Block block);
std::optional<Block> blockFromId(const QString &id);
QString blockTitle(Block block);
QString blockDescription(Block block);

/// New mime data carrying `block` (the palette's drag payload); the caller owns it.
QMimeData *blockMimeData(Block block);
/// New mime data carrying stage `index` being moved (a stage card's drag payload).
QMimeData *stageMimeData(int index);
/// The stage index carried by `mime`, if any.
std::optional<int> stageFromMime(const QMimeData *mime);
/// The block carried by `mime`, if any.
std::optional<Block> blockFromMime(const QMimeData *mime);

/// The stage a stage block inserts at `index` of `spec`: width, kernel, BN and head follow the
/// stage before it (doubling widths at a downsampling); the first stage follows the defaults.
/// Precondition: !isHeadBlock(block).
StageSpec makeStage(Block block, const Spec &spec, int index);

/// `head` turned into the head of a head block (k = 1, 2 or 3), keeping width and pooling.
/// Precondition: isHeadBlock(block).
HeadSpec makeHead(Block block, const HeadSpec &head);

} // namespace lw
