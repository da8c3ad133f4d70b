#pragma once

#include "core/spec/spec.h"

#include <QString>
#include <QUndoCommand>

#include <functional>

namespace lw {

/// One designer edit on the undo stack: the whole spec before and after (simple and robust).
/// Consecutive edits with the same non-empty merge key (one spin box being typed into) merge
/// into one command; a merge that returns to the start makes the command obsolete.
class SpecCommand : public QUndoCommand
{
public:
    using Apply = std::function<void(const Spec &)>;

    SpecCommand(Apply apply, Spec before, Spec after, const QString &text,
                const QString &mergeKey = {});

    void undo() override;
    void redo() override;
    int id() const override;
    bool mergeWith(const QUndoCommand *other) override;

    const Spec &before() const { return m_before; }
    const Spec &after() const { return m_after; }

private:
    Apply m_apply;
    Spec m_before;
    Spec m_after;
    QString m_mergeKey;
};

} // namespace lw
