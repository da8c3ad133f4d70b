#pragma once

#include "core/spec/spec.h"

#include <QFrame>
#include <QPoint>

class QLabel;

namespace lw {

/// One card of the designer's stage list: the block (downsampling, conv, BN, output shape, costs)
/// with its auxiliary head hanging off to the right, and the validator's messages underneath.
/// Index -1 is the input card (image shape, classes, input psi).
class StageCard : public QFrame
{
    Q_OBJECT

public:
    enum class Part { Block, Head };

    /// `index` -1 makes an input card.
    explicit StageCard(int index, QWidget *parent = nullptr);

    int index() const { return m_index; }
    void setIndex(int index);
    bool isInputCard() const { return m_index < 0; }

    /// `cost` is null when the shapes are unknown (the stage or one before it is invalid).
    void setStage(const StageSpec &stage, const StageCost *cost, int classes);
    /// `firstStageInput` is what stage 0 receives (after the input psi), null when unknown.
    void setInput(const InputSpec &input, const lw::Shape *firstStageInput);
    /// The validator's messages for this card; empty clears the invalid mark.
    void setIssues(const QStringList &messages);
    void setSelection(bool block, bool head);
    void setLocked(bool locked);
    bool isLocked() const { return m_locked; }

    /// What the card shows, as plain text (tests, accessibility).
    QString shapeText() const;
    QString paramsText() const;
    QString headText() const;
    QString headParamsText() const;
    QString errorText() const;
    bool isMarkedInvalid() const { return !m_issues.isEmpty(); }

    /// Where the head sub-card is, in card coordinates (empty for the input card).
    QRect headRect() const;
    Part partAt(const QPoint &pos) const;

Q_SIGNALS:
    void clicked(int index, lw::StageCard::Part part);
    void doubleClicked(int index, lw::StageCard::Part part);

protected:
    void mousePressEvent(QMouseEvent *event) override;
    void mouseMoveEvent(QMouseEvent *event) override;
    void mouseReleaseEvent(QMouseEvent *event) override;
    void mouseDoubleClickEvent(QMouseEvent *event) override;

private:
    /// The auxiliary head's sub-card; the input card has none (all null).
    struct HeadCard
    {
        QFrame *frame = nullptr;
        QLabel *title = nullptr;
        QLabel *body = nullptr;
        QLabel *params = nullptr;
    };

    void updateStyle();

    int m_index;
    bool m_locked = false;
    bool m_blockSelected = false;
    bool m_headSelected = false;
    QStringList m_issues;
    QPoint m_pressPos;
    bool m_pressed = false;

    QLabel *m_title = nullptr;
    QLabel *m_badge = nullptr;
    QLabel *m_lock = nullptr;
    QLabel *m_conv = nullptr;
    QLabel *m_shape = nullptr;
    QLabel *m_params = nullptr;
    HeadCard m_head;
    QLabel *m_error = nullptr;
};

} // namespace lw
