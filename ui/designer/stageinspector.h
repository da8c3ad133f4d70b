#pragma once

#include "core/spec/spec.h"

#include <QWidget>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QSpinBox;
class QStackedWidget;

namespace lw {

/// Edits the selected part of the spec: the input, a stage's block or a stage's head. Every
/// field of the spec has a widget showing its valid range; each change is reported at once with
/// the whole edited struct and a field key ("stages[2].head.k") that lets the undo stack merge
/// consecutive edits of one field. Widgets are named after their field (e.g. "headPooled").
class StageInspector : public QWidget
{
    Q_OBJECT

public:
    explicit StageInspector(QWidget *parent = nullptr);

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

    QLabel *m_inputLock = nullptr;
    QWidget *m_inputForm = nullptr;
    QSpinBox *m_inChannels = nullptr;
    QSpinBox *m_inHeight = nullptr;
    QSpinBox *m_inWidth = nullptr;
    QSpinBox *m_inClasses = nullptr;
    QComboBox *m_inDownsample = nullptr;

    QLabel *m_stageTitle = nullptr;
    QLabel *m_stageLock = nullptr;
    QWidget *m_stageForm = nullptr;
    QSpinBox *m_width = nullptr;
    QSpinBox *m_kernel = nullptr;
    QComboBox *m_downsample = nullptr;
    QCheckBox *m_bn = nullptr;
    QCheckBox *m_bias = nullptr;

    QLabel *m_headTitle = nullptr;
    QLabel *m_headLock = nullptr;
    QWidget *m_headForm = nullptr;
    QComboBox *m_headKind = nullptr;
    QSpinBox *m_headK = nullptr;
    QSpinBox *m_headWidth = nullptr;
    QSpinBox *m_headPooled = nullptr;
    QComboBox *m_headPool = nullptr;
    QSpinBox *m_headPadding = nullptr;
    QCheckBox *m_headBn = nullptr;
    QDoubleSpinBox *m_headDropout = nullptr;
    QCheckBox *m_headMaxpoolFirst = nullptr;
};

} // namespace lw
