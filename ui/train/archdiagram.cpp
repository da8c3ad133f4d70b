#include "ui/train/archdiagram.h"

#include <QPainter>
#include <QPainterPath>

#include <algorithm>

namespace lw {

ArchDiagram::ArchDiagram(QWidget *parent)
    : QWidget(parent)
{
    setObjectName(QStringLiteral("archDiagram"));
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
}

void ArchDiagram::setSpec(const Spec &spec)
{
    m_spec = spec;
    auto summary = summarizeSpec(spec);
    m_hasSummary = summary.ok();
    if (m_hasSummary)
        m_summary = *summary;
    m_current = -1;
    m_done = 0;
    update();
}

void ArchDiagram::setProgress(int current, int done)
{
    m_current = current;
    m_done = done;
    update();
}

QSize ArchDiagram::sizeHint() const
{
    return {420, fontMetrics().height() * 3 + 14};
}

QSize ArchDiagram::minimumSizeHint() const
{
    return {160, fontMetrics().height() * 3 + 14};
}

void ArchDiagram::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    const int n = static_cast<int>(m_spec.stages.size());
    const QRectF area = QRectF(rect()).adjusted(2, 4, -2, -4);
    if (n == 0) {
        p.setPen(palette().color(QPalette::PlaceholderText));
        p.drawText(area, Qt::AlignCenter, tr("no architecture"));
        return;
    }
    const int boxes = n + 1;
    const double gap = 12;
    const double w = std::max(24.0, (area.width() - gap * (boxes - 1)) / boxes);
    const double h = area.height();
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.85);
    const QColor text = palette().color(QPalette::Text);
    const QColor accent = palette().color(QPalette::Highlight);
    for (int i = 0; i < boxes; ++i) {
        const QRectF box(area.left() + i * (w + gap), area.top(), w, h);
        QString title, shape;
        QColor fill = palette().color(QPalette::Base);
        QColor border = palette().color(QPalette::Mid);
        QColor ink = text;
        if (i == 0) {
            title = tr("input");
            shape = QStringLiteral("%1\u00d7%2\u00d7%3")
                        .arg(m_spec.input.channels)
                        .arg(m_spec.input.height)
                        .arg(m_spec.input.width);
            fill = palette().color(QPalette::AlternateBase);
        } else {
            const int s = i - 1;
            title = tr("stage %1").arg(i);
            if (m_hasSummary && s < static_cast<int>(m_summary.stages.size())) {
                const Shape &o = m_summary.stages[s].out;
                shape = QStringLiteral("%1 @ %2\u00d7%3").arg(o.c).arg(o.h).arg(o.w);
            } else {
                shape = QString::number(m_spec.stages[s].width);
            }
            if (s == m_current) {
                fill = accent;
                border = accent.darker(130);
                ink = palette().color(QPalette::HighlightedText);
            } else if (s < m_done) {
                fill = QColor(200, 230, 201);
                border = QColor(76, 140, 80);
                ink = QColor(20, 50, 20);
            }
        }
        p.setPen(QPen(border, i - 1 == m_current ? 2.0 : 1.0));
        p.setBrush(fill);
        p.drawRoundedRect(box, 4, 4);
        p.setPen(ink);
        QFont bold = small;
        bold.setBold(true);
        p.setFont(bold);
        const QRectF top = box.adjusted(2, 2, -2, -box.height() / 2);
        const QRectF bottom = box.adjusted(2, box.height() / 2, -2, -2);
        p.drawText(top, Qt::AlignHCenter | Qt::AlignBottom,
                   QFontMetrics(bold).elidedText(title, Qt::ElideRight, int(top.width())));
        p.setFont(small);
        p.drawText(bottom, Qt::AlignHCenter | Qt::AlignTop,
                   QFontMetrics(small).elidedText(shape, Qt::ElideRight, int(bottom.width())));
        if (i + 1 < boxes) {
            const double y = box.center().y();
            const double x0 = box.right() + 2, x1 = box.right() + gap - 2;
            p.setPen(QPen(palette().color(QPalette::Mid), 1.2));
            p.drawLine(QPointF(x0, y), QPointF(x1, y));
            QPainterPath head;
            head.moveTo(x1, y);
            head.lineTo(x1 - 4, y - 3);
            head.lineTo(x1 - 4, y + 3);
            head.closeSubpath();
            p.fillPath(head, palette().color(QPalette::Mid));
        }
    }
}

} // namespace lw
