#pragma once

#include "ui/designer/blocks.h"

#include <QListWidget>

namespace lw {

/// The designer's palette of building blocks. Items drag as kBlockMimeType (copy only);
/// double-click or Enter activates a block (the designer appends it).
class BlockPalette : public QListWidget
{
    Q_OBJECT

public:
    explicit BlockPalette(QWidget *parent = nullptr);

    /// The item showing `block` (for tests and keyboard navigation).
    QListWidgetItem *itemFor(Block block) const;
    static std::optional<Block> blockOf(const QListWidgetItem *item);

Q_SIGNALS:
    void blockActivated(lw::Block block);

protected:
    QStringList mimeTypes() const override;
    QMimeData *mimeData(const QList<QListWidgetItem *> &items) const override;
    Qt::DropActions supportedDropActions() const override;
};

} // namespace lw
