#include "ui/designer/stagecard.h"

#include "ui/common/format.h"
#include "ui/designer/blocks.h"

#include <QApplication>
#include <QBoxLayout>
#include <QDrag>
#include <QLabel>
#include <QMouseEvent>

namespace lw {

namespace {

const QString kTimes = QStringLiteral("\u00d7");

QString shapeString(const lw::Shape &s)
{
    return QStringLiteral("%1 %4 %2 %4 %3").arg(s.c).arg(s.h).arg(s.w).arg(kTimes);
}

QString downsampleBadge(Downsample d)
{
    switch (d) {
    case Downsample::None: return {};
    case Downsample::Psi: return StageCard::tr("\u03c8(2) \u2193 2");
    case Downsample::MaxPool: return StageCard::tr("max-pool \u2193 2");
    case Downsample::AvgPool: return StageCard::tr("avg-pool \u2193 2");
    case Downsample::Stride: return StageCard::tr("stride 2 \u2193 2");
    }
    return {};
}

QLabel *makeLabel(const QString &objectName, QWidget *parent)
{
    auto *label = new QLabel(parent);
    label->setObjectName(objectName);
    label->setTextFormat(Qt::PlainText);
    return label;
}

} // namespace

StageCard::StageCard(int index, QWidget *parent)
    : QFrame(parent)
    , m_index(index)
{
    setObjectName(QStringLiteral("stageCard"));
    setAttribute(Qt::WA_StyledBackground);
    setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Fixed);

    auto *outer = new QVBoxLayout(this);
    outer->setContentsMargins(12, 8, 10, 8);
    outer->setSpacing(4);
    auto *row = new QHBoxLayout;
    row->setSpacing(10);
    outer->addLayout(row);

    auto *block = new QVBoxLayout;
    block->setSpacing(3);
    auto *titleRow = new QHBoxLayout;
    titleRow->setSpacing(8);
    m_title = makeLabel(QStringLiteral("title"), this);
    QFont bold = m_title->font();
    bold.setBold(true);
    bold.setPointSizeF(bold.pointSizeF() * 1.08);
    m_title->setFont(bold);
    m_badge = makeLabel(QStringLiteral("badge"), this);
    m_badge->setStyleSheet(QStringLiteral("QLabel { background: #e3ecfb; color: #1f4e9c;"
                                          " border-radius: 3px; padding: 0px 5px; }"));
    m_lock = makeLabel(QStringLiteral("lock"), this);
    m_lock->setText(tr("locked"));
    m_lock->setToolTip(tr("Trained in the run this design branches from: not editable"));
    m_lock->setStyleSheet(QStringLiteral("QLabel { background: #e6e6e6; color: #555;"
                                         " border-radius: 3px; padding: 0px 5px; }"));
    m_lock->hide();
    titleRow->addWidget(m_title);
    titleRow->addWidget(m_badge);
    titleRow->addWidget(m_lock);
    titleRow->addStretch(1);
    block->addLayout(titleRow);
    m_conv = makeLabel(QStringLiteral("conv"), this);
    m_shape = makeLabel(QStringLiteral("shape"), this);
    QFont shapeFont = m_shape->font();
    shapeFont.setBold(true);
    m_shape->setFont(shapeFont);
    m_params = makeLabel(QStringLiteral("params"), this);
    m_params->setStyleSheet(QStringLiteral("QLabel { color: #4a5261; }"));
    block->addWidget(m_conv);
    block->addWidget(m_shape);
    block->addWidget(m_params);
    row->addLayout(block, 3);

    if (!isInputCard()) {
        auto *connector = new QLabel(QStringLiteral("\u2500\u2500\u25b6"), this);
        connector->setStyleSheet(QStringLiteral("QLabel { color: #8a94a6; }"));
        row->addWidget(connector, 0, Qt::AlignVCenter);
        m_head.frame = new QFrame(this);
        m_head.frame->setObjectName(QStringLiteral("headFrame"));
        m_head.frame->setAttribute(Qt::WA_StyledBackground);
        auto *head = new QVBoxLayout(m_head.frame);
        head->setContentsMargins(8, 5, 8, 5);
        head->setSpacing(2);
        m_head.title = makeLabel(QStringLiteral("headTitle"), m_head.frame);
        QFont headBold = m_head.title->font();
        headBold.setBold(true);
        m_head.title->setFont(headBold);
        m_head.body = makeLabel(QStringLiteral("headBody"), m_head.frame);
        m_head.params = makeLabel(QStringLiteral("headParams"), m_head.frame);
        m_head.params->setStyleSheet(QStringLiteral("QLabel { color: #4a5261; }"));
        head->addWidget(m_head.title);
        head->addWidget(m_head.body);
        head->addWidget(m_head.params);
        row->addWidget(m_head.frame, 2);
    }

    m_error = makeLabel(QStringLiteral("error"), this);
    m_error->setWordWrap(true);
    m_error->setStyleSheet(QStringLiteral("QLabel { color: #b3261e; font-weight: bold; }"));
    m_error->hide();
    outer->addWidget(m_error);

    setIndex(index);
    updateStyle();
}

void StageCard::setIndex(int index)
{
    m_index = index;
    m_title->setText(isInputCard() ? tr("Input") : tr("Stage %1").arg(index + 1));
}

void StageCard::setStage(const StageSpec &stage, const StageCost *cost, int classes)
{
    const QString badge = downsampleBadge(stage.downsample);
    m_badge->setText(badge);
    m_badge->setVisible(!badge.isEmpty());

    QString conv = tr("conv %1%2%1").arg(QString::number(stage.kernel), kTimes);
    if (cost)
        conv += tr(", %1 \u2192 %2 channels").arg(cost->in.c).arg(stage.width);
    else
        conv += tr(", %1 channels").arg(stage.width);
    if (stage.bias)
        conv += tr(" + bias");
    conv += stage.bn ? tr(" \u00b7 BN \u00b7 ReLU") : tr(" \u00b7 ReLU");
    m_conv->setText(conv);

    if (cost) {
        m_shape->setText(tr("out %1").arg(shapeString(cost->out)));
        m_params->setText(tr("%1 params \u00b7 %2MAC \u00b7 %3 act./sample")
                              .arg(groupedText(cost->blockParams),
                                   compactText(double(cost->blockMacs)),
                                   bytesText(cost->activationBytes)));
    } else {
        m_shape->setText(tr("out \u2014 (unknown until the problem above is fixed)"));
        m_params->setText(tr("\u2014 params"));
    }

    const HeadSpec &h = stage.head;
    QStringList body;
    if (h.kind == HeadKind::Conv) {
        m_head.title->setText(tr("Auxiliary head k = %1").arg(h.k));
        if (h.k > 1) {
            QString convs = tr("%1%2 conv %3")
                                .arg(QString::number(h.k - 1), kTimes,
                                     QStringLiteral("3") + kTimes + QStringLiteral("3"));
            convs += tr(" \u2192 M\u0303 %1").arg(h.width);
            if (h.padding != 1)
                convs += tr(", pad %1").arg(h.padding);
            if (h.bn)
                convs += tr(" \u00b7 BN");
            body << convs;
        }
    } else {
        m_head.title->setText(tr("Classifier (MLP) k = %1").arg(h.k));
    }
    QString pool = h.maxpoolFirst ? tr("max-pool, ") : QString();
    pool += tr("%1 avg-pool \u2192 %2%3%2")
                .arg(h.pool == HeadPool::Fixed ? tr("fixed") : tr("adaptive"),
                     QString::number(h.pooled), kTimes);
    if (h.kind == HeadKind::Conv && h.bn)
        pool += tr(" \u00b7 BN");
    body << pool;
    if (h.kind == HeadKind::Mlp && h.k > 1) {
        QString hidden = tr("%1%2 linear %3 \u00b7 ReLU")
                             .arg(QString::number(h.k - 1), kTimes, QString::number(h.width));
        if (h.dropout > 0)
            hidden += tr(" \u00b7 dropout %1").arg(h.dropout);
        body << hidden;
    }
    body << tr("linear \u2192 %1 classes").arg(classes);
    m_head.body->setText(body.join(QLatin1Char('\n')));
    if (cost) {
        m_head.params->setText(
            tr("%1 params \u00b7 %2MAC")
                .arg(groupedText(cost->headParams), compactText(double(cost->headMacs))));
    } else {
        m_head.params->setText(tr("\u2014 params"));
    }
}

void StageCard::setInput(const InputSpec &input, const lw::Shape *firstStageInput)
{
    const QString badge = downsampleBadge(input.downsample);
    m_badge->setText(badge);
    m_badge->setVisible(!badge.isEmpty());
    m_conv->setText(tr("image, %1 classes").arg(input.classes));
    m_shape->setText(shapeString(lw::Shape{input.channels, input.height, input.width}));
    if (input.downsample != Downsample::None && firstStageInput) {
        m_params->setText(tr("stage 1 receives %1").arg(shapeString(*firstStageInput)));
        m_params->show();
    } else {
        m_params->hide();
    }
}

void StageCard::setIssues(const QStringList &messages)
{
    if (messages == m_issues)
        return;
    m_issues = messages;
    m_error->setText(messages.join(QLatin1Char('\n')));
    m_error->setVisible(!messages.isEmpty());
    updateStyle();
}

void StageCard::setSelection(bool block, bool head)
{
    if (block == m_blockSelected && head == m_headSelected)
        return;
    m_blockSelected = block;
    m_headSelected = head;
    updateStyle();
}

void StageCard::setLocked(bool locked)
{
    if (locked == m_locked)
        return;
    m_locked = locked;
    m_lock->setVisible(locked);
    updateStyle();
}

QString StageCard::shapeText() const
{
    return m_shape->text();
}

QString StageCard::paramsText() const
{
    return m_params->text();
}

QString StageCard::headText() const
{
    if (!m_head.frame)
        return {};
    return m_head.title->text() + QLatin1Char('\n') + m_head.body->text() + QLatin1Char('\n')
           + m_head.params->text();
}

QString StageCard::headParamsText() const
{
    return m_head.params ? m_head.params->text() : QString();
}

QString StageCard::errorText() const
{
    return m_error->text();
}

QRect StageCard::headRect() const
{
    return m_head.frame ? m_head.frame->geometry() : QRect();
}

StageCard::Part StageCard::partAt(const QPoint &pos) const
{
    return headRect().contains(pos) ? Part::Head : Part::Block;
}

void StageCard::updateStyle()
{
    QString border = QStringLiteral("1px solid #aab3c2");
    QString background = m_locked ? QStringLiteral("#eef0f3") : QStringLiteral("#ffffff");
    if (!m_issues.isEmpty()) {
        border = QStringLiteral("2px solid #d93025");
        background = QStringLiteral("#fff4f3");
    } else if (m_blockSelected) {
        border = QStringLiteral("2px solid #2f6fde");
    }
    QString headBorder = m_headSelected ? QStringLiteral("2px solid #2f6fde")
                                        : QStringLiteral("1px solid #c5cfdd");
    setStyleSheet(QStringLiteral("QFrame#stageCard { background: %1; border: %2;"
                                 " border-radius: 6px; }"
                                 " QFrame#stageCard QLabel { color: #1d2330; }"
                                 " QFrame#headFrame { background: %3; border: %4;"
                                 " border-radius: 4px; }")
                      .arg(background, border,
                           m_locked ? QStringLiteral("#e9ecf0") : QStringLiteral("#f3f6fb"),
                           headBorder));
}

void StageCard::mousePressEvent(QMouseEvent *event)
{
    if (event->button() == Qt::LeftButton) {
        m_pressed = true;
        m_pressPos = event->position().toPoint();
        emit clicked(m_index, partAt(m_pressPos));
        event->accept();
        return;
    }
    QFrame::mousePressEvent(event);
}

void StageCard::mouseMoveEvent(QMouseEvent *event)
{
    if (!m_pressed || !(event->buttons() & Qt::LeftButton) || isInputCard() || m_locked)
        return QFrame::mouseMoveEvent(event);
    if ((event->position().toPoint() - m_pressPos).manhattanLength()
        < QApplication::startDragDistance())
        return;
    m_pressed = false;
    auto *drag = new QDrag(this);
    drag->setMimeData(stageMimeData(m_index));
    const QPixmap image = grab();
    const double scale = qMin(1.0, 360.0 / qMax(1, image.width()));
    drag->setPixmap(image.scaledToWidth(int(image.width() * scale), Qt::SmoothTransformation));
    drag->setHotSpot((QPointF(m_pressPos) * scale).toPoint());
    drag->exec(Qt::MoveAction);
}

void StageCard::mouseReleaseEvent(QMouseEvent *event)
{
    m_pressed = false;
    QFrame::mouseReleaseEvent(event);
}

void StageCard::mouseDoubleClickEvent(QMouseEvent *event)
{
    if (event->button() == Qt::LeftButton)
        emit doubleClicked(m_index, partAt(event->position().toPoint()));
    QFrame::mouseDoubleClickEvent(event);
}

} // namespace lw
