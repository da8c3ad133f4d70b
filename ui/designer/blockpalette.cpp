#include "ui/designer/blockpalette.h"

#include <QMimeData>

namespace lw {

namespace {
constexpr int kBlockRole = Qt::UserRole + 1;
}

BlockPalette::BlockPalette(QWidget *parent)
    : QListWidget(parent)
{
    setObjectName(QStringLiteral("blockPalette"));
    setDragEnabled(true);
    setDragDropMode(QAbstractItemView::DragOnly);
    setDefaultDropAction(Qt::CopyAction);
    setSelectionMode(QAbstractItemView::SingleSelection);
    setSpacing(2);
    setWordWrap(true);
    setStyleSheet(QStringLiteral("QListWidget::item { padding: 5px 4px; }"));

    const auto addHeader = [this](const QString &text) {
        auto *header = new QListWidgetItem(text, this);
        header->setFlags(Qt::ItemIsEnabled);
        QFont f = font();
        f.setBold(true);
        header->setFont(f);
        header->setForeground(QColor(0x4a, 0x52, 0x61));
    };
    addHeader(tr("Stages"));
    for (Block b : kAllBlocks) {
        if (b == Block::HeadK1)
            addHeader(tr("Auxiliary heads"));
        auto *item = new QListWidgetItem(blockTitle(b), this);
        item->setData(kBlockRole, blockId(b));
        item->setToolTip(blockDescription(b));
        item->setStatusTip(blockDescription(b));
        item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemIsDragEnabled);
    }
    connect(this, &QListWidget::itemActivated, this, [this](QListWidgetItem *item) {
        if (const std::optional<Block> b = blockOf(item))
            emit blockActivated(*b);
    });
}

QListWidgetItem *BlockPalette::itemFor(Block block) const
{
    for (int i = 0; i < count(); ++i) {
        if (blockOf(item(i)) == block)
            return item(i);
    }
    return nullptr;
}

std::optional<Block> BlockPalette::blockOf(const QListWidgetItem *item)
{
    if (!item)
        return std::nullopt;
    return blockFromId(item->data(kBlockRole).toString());
}

QStringList BlockPalette::mimeTypes() const
{
    return {QLatin1String(kBlockMimeType)};
}

QMimeData *BlockPalette::mimeData(const QList<QListWidgetItem *> &items) const
{
    for (const QListWidgetItem *item : items) {
        if (const std::optional<Block> b = blockOf(item))
            return blockMimeData(*b);
    }
    return nullptr;
}

Qt::DropActions BlockPalette::supportedDropActions() const
{
    // Also the model's drag actions: a palette drag only ever copies its block.
    return Qt::CopyAction;
}

} // namespace lw
