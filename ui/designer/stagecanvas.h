#pragma once

#include "core/spec/spec.h"
#include "ui/designer/blocks.h"
#include "ui/designer/stagecard.h"

#include <QWidget>

#include <optional>
#include <vector>

class QLabel;
class QVBoxLayout;

namespace lw {

/// What the designer has selected: the input card, a stage's block or a stage's head.
struct DesignSelection
{
    enum class Kind { None, Input, Stage, Head };
    Kind kind = Kind::None;
    int index = -1; ///< stage index for Stage and Head
    bool operator==(const DesignSelection &) const = default;
};

/// The designer's main canvas: the input card and one StageCard per stage, top to bottom.
/// Accepts palette blocks (inserted at the drop position, heads replace the head of the stage
/// they are dropped on) and stage cards dragged to a new position. It only reports what the
/// user did; DesignView changes the spec.
class StageCanvas : public QWidget
{
    Q_OBJECT

public:
    explicit StageCanvas(QWidget *parent = nullptr);

    /// Shows `spec`. `summary` covers the first summary->stages.size() stages (those whose
    /// shapes are known); `issues` are the validator's; the first `locked` stages are locked.
    void showSpec(const Spec &spec, const std::optional<SpecSummary> &summary,
                  const std::vector<SpecIssue> &issues, int locked);
    void setSelection(const DesignSelection &selection);

    StageCard *inputCard() const { return m_inputCard; }
    int cardCount() const { return int(m_cards.size()); }
    StageCard *card(int index) const;

    /// Where a stage dropped at `pos` (canvas coordinates) would be inserted: 0..cardCount().
    int insertionIndexAt(const QPoint &pos) const;
    /// The stage card under `pos`, or -1.
    int stageAt(const QPoint &pos) const;
    /// Centre of the gap before stage `index` (index == cardCount(): after the last card).
    QPoint gapCenter(int index) const;

Q_SIGNALS:
    /// A stage block dropped at insertion index `index`, or a head block dropped on stage `index`.
    void blockDropped(lw::Block block, int index);
    /// A stage card dragged from `from` to insertion index `to` (0..cardCount()).
    void stageDropped(int from, int to);
    void selectionRequested(const lw::DesignSelection &selection);
    /// Up/Down arrows: move the selection by `delta` cards.
    void navigate(int delta);

protected:
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dragMoveEvent(QDragMoveEvent *event) override;
    void dragLeaveEvent(QDragLeaveEvent *event) override;
    void dropEvent(QDropEvent *event) override;
    void paintEvent(QPaintEvent *event) override;
    void keyPressEvent(QKeyEvent *event) override;
    void mousePressEvent(QMouseEvent *event) override;

private:
    /// Where `event` would land: an insertion index (stage blocks/moves) or a stage index
    /// (heads); -1 when it cannot land there (locked stages).
    int dropTarget(const QMimeData *mime, const QPoint &pos) const;
    void showIndicator(const QMimeData *mime, int target);
    void hideIndicator();
    void onCardClicked(int index, StageCard::Part part);

    QVBoxLayout *m_layout = nullptr;
    StageCard *m_inputCard = nullptr;
    std::vector<StageCard *> m_cards;
    QLabel *m_emptyHint = nullptr;
    QWidget *m_indicator = nullptr;
    int m_highlighted = -1; ///< card highlighted as a head drop target
    int m_locked = 0;
    DesignSelection m_selection;
};

} // namespace lw
