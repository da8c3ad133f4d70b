#include "ui/designer/stagecanvas.h"

#include <QBoxLayout>
#include <QDragEnterEvent>
#include <QLabel>
#include <QMimeData>
#include <QPainter>
#include <QPainterPath>

#include <algorithm>

namespace lw {

namespace {

constexpr int kCardMaxWidth = 900;
constexpr int kCardSpacing = 18;

} // namespace

StageCanvas::StageCanvas(QWidget *parent)
    : QWidget(parent)
{
    setObjectName(QStringLiteral("stageCanvas"));
    setAcceptDrops(true);
    setFocusPolicy(Qt::StrongFocus);
    setAutoFillBackground(true);
    QPalette pal = palette();
    pal.setColor(QPalette::Window, QColor(0xe9, 0xed, 0xf2));
    setPalette(pal);

    m_layout = new QVBoxLayout(this);
    m_layout->setContentsMargins(20, 16, 20, 24);
    m_layout->setSpacing(kCardSpacing);
    m_inputCard = new StageCard(-1, this);
    m_inputCard->setMaximumWidth(kCardMaxWidth);
    connect(m_inputCard, &StageCard::clicked, this, &StageCanvas::onCardClicked);
    m_layout->addWidget(m_inputCard); // no alignment: full width up to the maximum, centred
    m_emptyHint = new QLabel(tr("Drag a stage from the palette here,\n"
                                "or double-click a block to append it."),
                             this);
    m_emptyHint->setAlignment(Qt::AlignCenter);
    m_emptyHint->setStyleSheet(QStringLiteral("QLabel { color: #6b7485; border: 2px dashed "
                                              "#b5bdca; border-radius: 6px; padding: 24px; }"));
    m_emptyHint->setMaximumWidth(kCardMaxWidth);
    m_layout->addWidget(m_emptyHint);
    m_layout->addStretch(1);

    m_indicator = new QWidget(this);
    m_indicator->setObjectName(QStringLiteral("dropIndicator"));
    m_indicator->setAttribute(Qt::WA_TransparentForMouseEvents);
    m_indicator->setAttribute(Qt::WA_StyledBackground);
    m_indicator->hide();
}

StageCard *StageCanvas::card(int index) const
{
    return index >= 0 && index < cardCount() ? m_cards[size_t(index)] : nullptr;
}

void StageCanvas::showSpec(const Spec &spec, const std::optional<SpecSummary> &summary,
                           const std::vector<SpecIssue> &issues, int locked)
{
    const int n = int(spec.stages.size());
    m_locked = locked;
    while (cardCount() > n) {
        StageCard *last = m_cards.back();
        m_cards.pop_back();
        m_layout->removeWidget(last);
        last->hide();
        last->deleteLater(); // it may be the sender of the event being handled
    }
    while (cardCount() < n) {
        auto *card = new StageCard(cardCount(), this);
        card->setMaximumWidth(kCardMaxWidth);
        connect(card, &StageCard::clicked, this, &StageCanvas::onCardClicked);
        m_layout->insertWidget(1 + cardCount(), card);
        m_cards.push_back(card);
        card->show();
    }
    m_emptyHint->setVisible(n == 0);

    const int known = summary ? int(summary->stages.size()) : 0;
    std::vector<QStringList> stageIssues(static_cast<size_t>(n));
    QStringList inputIssues;
    for (const SpecIssue &issue : issues) {
        const QString text = QString::fromStdString(issue.toString());
        if (issue.stage >= 0 && issue.stage < n)
            stageIssues[size_t(issue.stage)] << text;
        else if (issue.path.rfind("input", 0) == 0)
            inputIssues << text;
    }
    const Shape *firstIn = known > 0 ? &summary->stages.front().in : nullptr;
    m_inputCard->setInput(spec.input, firstIn);
    m_inputCard->setIssues(inputIssues);
    m_inputCard->setLocked(locked > 0);
    for (int i = 0; i < n; ++i) {
        StageCard *c = m_cards[size_t(i)];
        c->setIndex(i);
        c->setStage(spec.stages[size_t(i)], i < known ? &summary->stages[size_t(i)] : nullptr,
                    spec.input.classes);
        c->setIssues(stageIssues[size_t(i)]);
        c->setLocked(i < locked);
    }
    setSelection(m_selection);
    update();
}

void StageCanvas::setSelection(const DesignSelection &selection)
{
    m_selection = selection;
    using Kind = DesignSelection::Kind;
    m_inputCard->setSelection(selection.kind == Kind::Input, false);
    for (int i = 0; i < cardCount(); ++i) {
        const bool mine = selection.index == i;
        m_cards[size_t(i)]->setSelection(mine && selection.kind == Kind::Stage,
                                         mine && selection.kind == Kind::Head);
    }
}

int StageCanvas::insertionIndexAt(const QPoint &pos) const
{
    for (int i = 0; i < cardCount(); ++i) {
        if (pos.y() < m_cards[size_t(i)]->geometry().center().y())
            return i;
    }
    return cardCount();
}

int StageCanvas::stageAt(const QPoint &pos) const
{
    for (int i = 0; i < cardCount(); ++i) {
        if (m_cards[size_t(i)]->geometry().contains(pos))
            return i;
    }
    return -1;
}

QPoint StageCanvas::gapCenter(int index) const
{
    const QWidget *prev = index == 0 ? static_cast<QWidget *>(m_inputCard) : card(index - 1);
    const QWidget *next = card(index);
    const QRect ref = (prev ? prev : m_inputCard)->geometry();
    const int y
        = next ? (ref.bottom() + next->geometry().top()) / 2 : ref.bottom() + kCardSpacing / 2;
    return QPoint(ref.center().x(), y);
}

int StageCanvas::dropTarget(const QMimeData *mime, const QPoint &pos) const
{
    if (const std::optional<Block> block = blockFromMime(mime)) {
        if (isHeadBlock(*block)) {
            const int stage = stageAt(pos);
            return stage >= m_locked ? stage : -1;
        }
        return std::max(insertionIndexAt(pos), m_locked);
    }
    if (const std::optional<int> from = stageFromMime(mime)) {
        if (*from < m_locked || *from >= cardCount())
            return -1;
        return std::max(insertionIndexAt(pos), m_locked);
    }
    return -1;
}

void StageCanvas::showIndicator(const QMimeData *mime, int target)
{
    const std::optional<Block> block = blockFromMime(mime);
    if (block && isHeadBlock(*block)) {
        const QRect r = card(target)->geometry().adjusted(-4, -4, 4, 4);
        m_indicator->setStyleSheet(QStringLiteral("QWidget#dropIndicator { background: "
                                                  "transparent; border: 3px dashed #2f6fde;"
                                                  " border-radius: 8px; }"));
        m_indicator->setGeometry(r);
    } else {
        const QRect ref = m_inputCard->geometry();
        const QPoint c = gapCenter(target);
        m_indicator->setStyleSheet(QStringLiteral("QWidget#dropIndicator { background: #2f6fde;"
                                                  " border-radius: 2px; }"));
        m_indicator->setGeometry(ref.left(), c.y() - 2, ref.width(), 5);
    }
    m_indicator->show();
    m_indicator->raise();
}

void StageCanvas::hideIndicator()
{
    m_indicator->hide();
}

void StageCanvas::dragEnterEvent(QDragEnterEvent *event)
{
    const QMimeData *mime = event->mimeData();
    if (blockFromMime(mime) || stageFromMime(mime)) {
        event->setDropAction(blockFromMime(mime) ? Qt::CopyAction : Qt::MoveAction);
        event->accept();
        return;
    }
    event->ignore();
}

void StageCanvas::dragMoveEvent(QDragMoveEvent *event)
{
    const QMimeData *mime = event->mimeData();
    const int target = dropTarget(mime, event->position().toPoint());
    if (target < 0) {
        hideIndicator();
        event->ignore();
        return;
    }
    showIndicator(mime, target);
    event->setDropAction(blockFromMime(mime) ? Qt::CopyAction : Qt::MoveAction);
    event->accept();
}

void StageCanvas::dragLeaveEvent(QDragLeaveEvent *event)
{
    hideIndicator();
    QWidget::dragLeaveEvent(event);
}

void StageCanvas::dropEvent(QDropEvent *event)
{
    hideIndicator();
    const QMimeData *mime = event->mimeData();
    const int target = dropTarget(mime, event->position().toPoint());
    if (target < 0) {
        event->ignore();
        return;
    }
    if (const std::optional<Block> block = blockFromMime(mime)) {
        // Copy, never Move: a Move would make the palette remove the dragged item.
        event->setDropAction(Qt::CopyAction);
        event->accept();
        emit blockDropped(*block, target);
    } else if (const std::optional<int> from = stageFromMime(mime)) {
        event->setDropAction(Qt::MoveAction);
        event->accept();
        emit stageDropped(*from, target);
    }
}

void StageCanvas::paintEvent(QPaintEvent *event)
{
    QWidget::paintEvent(event);
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    const QColor line(0x8a, 0x94, 0xa6);
    p.setPen(QPen(line, 2));
    p.setBrush(line);
    QWidget *prev = m_inputCard;
    for (StageCard *c : m_cards) {
        const QRect a = prev->geometry();
        const QRect b = c->geometry();
        const int x = b.left() + 60;
        const int y0 = a.bottom() + 2;
        const int y1 = b.top() - 2;
        p.drawLine(x, y0, x, y1 - 5);
        QPainterPath arrow;
        arrow.moveTo(x - 5, y1 - 7);
        arrow.lineTo(x + 5, y1 - 7);
        arrow.lineTo(x, y1);
        arrow.closeSubpath();
        p.drawPath(arrow);
        prev = c;
    }
}

void StageCanvas::keyPressEvent(QKeyEvent *event)
{
    if (event->modifiers() == Qt::NoModifier || event->modifiers() == Qt::KeypadModifier) {
        if (event->key() == Qt::Key_Up) {
            emit navigate(-1);
            return;
        }
        if (event->key() == Qt::Key_Down) {
            emit navigate(1);
            return;
        }
    }
    QWidget::keyPressEvent(event);
}

void StageCanvas::mousePressEvent(QMouseEvent *event)
{
    setFocus(Qt::MouseFocusReason);
    QWidget::mousePressEvent(event);
}

void StageCanvas::onCardClicked(int index, StageCard::Part part)
{
    setFocus(Qt::MouseFocusReason);
    DesignSelection selection;
    if (index < 0)
        selection.kind = DesignSelection::Kind::Input;
    else
        selection = {part == StageCard::Part::Head ? DesignSelection::Kind::Head
                                                   : DesignSelection::Kind::Stage,
                     index};
    emit selectionRequested(selection);
}

} // namespace lw
