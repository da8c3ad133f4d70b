#pragma once

#include "core/spec/spec.h"

#include <QWidget>

namespace lw {

/// A small diagram of the trunk: the input, then one box per stage (width @ side), the stage in
/// training highlighted, trained stages tinted. Painted, no interaction.
class ArchDiagram : public QWidget
{
    Q_OBJECT

public:
    explicit ArchDiagram(QWidget *parent = nullptr);

    void setSpec(const Spec &spec);
    /// The stage in training (-1: none); stages below `done` are drawn as trained.
    void setProgress(int current, int done);
    int currentStage() const { return m_current; }

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    Spec m_spec;
    SpecSummary m_summary;
    bool m_hasSummary = false;
    int m_current = -1;
    int m_done = 0;
};

} // namespace lw
