#pragma once

#include "core/spec/spec.h"

#include <QWidget>

#include <memory>

class QCheckBox;
class QDoubleSpinBox;
class QLabel;
class QSpinBox;
class QStackedWidget;
class QVBoxLayout;

namespace lw {

template<class T>
class FieldBindings;

/// Edits the selected part of the spec: the input, a stage's block or a stage's head. Every
/// field of the spec has a widget showing its valid range; each change is reported at once with
/// the whole edited struct and a field key ("stages[2].head.k") that lets the undo stack merge
/// consecutive edits of one field. Widgets are named after their field (e.g. "headPooled").
class StageInspector : public QWidget
{
    Q_OBJECT

public:
    explicit StageInspector(QWidget *parent = nullptr);
    ~StageInspector() override;

    void showNothing();
    void showInput(const InputSpec &input, bool locked);
    void showStage(int index, const StageSpec &stage, bool locked);
    void showHead(int index, const StageSpec &stage, bool locked);

Q_SIGNALS:
    void inputEdited(const lw::InputSpec &input, const QString &field);
    void stageEdited(int index, const lw::StageSpec &stage, const QString &field);
    /// The user asked to edit the head (from the stage page) or the block (from the head page).
    void headRequested(int index);
    void blockRequested(int index);

private:
    /// What the input, stage and head pages share: a title, the note shown while the part is
    /// locked and the form, disabled while it is.
    struct Page
    {
        QLabel *title = nullptr;
        QLabel *lock = nullptr;
        QWidget *form = nullptr;
        void setLocked(bool locked) const;
    };
    /// Adds a page's title, locked note and (empty) form to `v`, the layout of `page`.
    static Page addPageFrame(QWidget *page, QVBoxLayout *v);
    QWidget *buildInputPage();
    QWidget *buildStagePage();
    QWidget *buildHeadPage();
    void emitStage(const QString &field);
    void emitInput(const QString &field);
    void updateHeadEnabled();

    QStackedWidget *m_pages = nullptr;
    int m_index = -1;
    StageSpec m_stage;
    InputSpec m_input;

    Page m_inputPage;
    Page m_stagePage;
    Page m_headPage;
    std::unique_ptr<FieldBindings<InputSpec>> m_inputFields;
    std::unique_ptr<FieldBindings<StageSpec>> m_stageFields;
    std::unique_ptr<FieldBindings<StageSpec>> m_headFields;
    // The head options that only some kinds and depths use (updateHeadEnabled).
    QSpinBox *m_headWidth = nullptr;
    QSpinBox *m_headPadding = nullptr;
    QCheckBox *m_headBn = nullptr;
    QDoubleSpinBox *m_headDropout = nullptr;
};

} // namespace lw
