#include "ui/designer/speccommand.h"

#include <utility>

namespace lw {

SpecCommand::SpecCommand(Apply apply, Spec before, Spec after, const QString &text,
                         const QString &mergeKey)
    : QUndoCommand(text)
    , m_apply(std::move(apply))
    , m_before(std::move(before))
    , m_after(std::move(after))
    , m_mergeKey(mergeKey)
{}

void SpecCommand::undo()
{
    m_apply(m_before);
}

void SpecCommand::redo()
{
    m_apply(m_after);
}

int SpecCommand::id() const
{
    return m_mergeKey.isEmpty() ? -1 : 0x4c57; // one id for all mergeable spec edits
}

bool SpecCommand::mergeWith(const QUndoCommand *other)
{
    const auto *next = dynamic_cast<const SpecCommand *>(other);
    if (!next || next->m_mergeKey != m_mergeKey || next->m_before != m_after)
        return false;
    m_after = next->m_after;
    setObsolete(m_after == m_before);
    return true;
}

} // namespace lw
