#pragma once

#include "core/spec/spec.h"
#include "ui/designer/blocks.h"
#include "ui/designer/stagecanvas.h"

#include <QWidget>

#include <array>
#include <optional>
#include <vector>

class QAction;
class QLabel;
class QMenu;
class QScrollArea;
class QTabWidget;
class QToolBar;
class QUndoStack;

namespace lw {

class BlockPalette;
class CostPanel;
class RecipePanel;
class StageInspector;

/// The Design view: a point-and-click editor of layerwise architectures (an lw::Spec).
/// A palette of blocks, the stage list as canvas (input card, one card per stage with its
/// auxiliary head), an inspector for the selection, a recipe panel and the costs. Every edit goes
/// through undoStack(); the validator runs on every edit and marks the invalid cards with its
/// exact messages. The main window embeds it and puts its actions in its menus.
class DesignView : public QWidget
{
    Q_OBJECT

public:
    explicit DesignView(QWidget *parent = nullptr);
    ~DesignView() override;

    // --- Document ---------------------------------------------------------------------------
    const Spec &spec() const { return m_spec; }
    /// Replaces the document (not undoable): clears the undo stack, unlocks all stages, marks it
    /// unmodified. `title` names it in the title bar (empty: "Untitled"); filePath() is cleared.
    void setSpec(const Spec &spec, const QString &title = {});
    /// An undoable edit to `spec`, shown as `description` in the undo history.
    void editSpec(const Spec &spec, const QString &description);

    /// Opens a spec file (the CLI's format). Returns false, keeping the current document, and
    /// sets errorString() to core's message (naming the file and field) when it cannot be read.
    bool openFile(const QString &path);
    /// Saves the spec as JSON (atomically). Returns false and sets errorString() on failure.
    bool saveFile(const QString &path);
    /// Opens a shipped preset by name (listPresets()); false and errorString() when unknown.
    bool loadPreset(const QString &name);
    QString errorString() const { return m_error; }
    QString filePath() const { return m_filePath; }
    /// File name, preset name or "Untitled" (add "[*]" for QWidget::setWindowTitle).
    QString documentTitle() const { return m_title; }

    bool isModified() const;
    /// Asks whether to save unsaved changes (Save / Discard / Cancel). True when the caller may
    /// go on discarding the document.
    bool maybeSave();

    // --- Validity and costs -------------------------------------------------------------------
    bool isValid() const { return m_issues.empty(); }
    const std::vector<SpecIssue> &issues() const { return m_issues; }
    /// Shapes and costs of the stages whose shapes are known (all when valid).
    const std::optional<SpecSummary> &summary() const { return m_summary; }

    // --- Branching ---------------------------------------------------------------------------
    /// "Branch from stage k": the first `count` stages (and the input) are shown locked and can
    /// be neither edited, removed, moved nor have stages inserted before them. 0 unlocks.
    void setLockedStages(int count);
    int lockedStages() const { return m_locked; }

    // --- Selection and edits (what the canvas, palette and actions do) -----------------------
    DesignSelection selection() const { return m_selection; }
    void select(const DesignSelection &selection);
    /// Inserts a stage block at `index` or applies a head block to stage `index`; false when
    /// `index` is locked or out of range.
    bool insertBlock(Block block, int index);
    /// Appends a stage block; a head block goes to the selected stage (else the last one).
    bool appendBlock(Block block);
    bool duplicateStage(int index);
    bool removeStage(int index);
    /// Moves stage `from` to position `to` (its index afterwards).
    bool moveStage(int from, int to);

    // --- Parts for the main window and tests --------------------------------------------------
    QAction *newAction() const { return m_actions[New]; }
    QAction *openAction() const { return m_actions[Open]; }
    QAction *saveAction() const { return m_actions[Save]; }
    QAction *saveAsAction() const { return m_actions[SaveAs]; }
    QAction *undoAction() const { return m_actions[Undo]; }
    QAction *redoAction() const { return m_actions[Redo]; }
    QAction *trainAction() const { return m_actions[Train]; }
    QAction *addStageAction() const { return m_actions[AddStage]; }
    QAction *duplicateAction() const { return m_actions[DuplicateStage]; }
    QAction *deleteAction() const { return m_actions[DeleteStage]; }
    QAction *moveUpAction() const { return m_actions[MoveUp]; }
    QAction *moveDownAction() const { return m_actions[MoveDown]; }
    /// Presets built from listPresets(); choosing one asks maybeSave() first.
    QMenu *presetsMenu() const { return m_presetsMenu; }
    QUndoStack *undoStack() const { return m_undo; }
    QToolBar *toolBar() const { return m_toolBar; }
    StageCanvas *canvas() const { return m_canvas; }
    BlockPalette *palette() const { return m_palette; }
    StageInspector *inspector() const { return m_inspector; }
    RecipePanel *recipePanel() const { return m_recipe; }
    CostPanel *costPanel() const { return m_costs; }

Q_SIGNALS:
    void specChanged();
    void validityChanged(bool valid);
    void modifiedChanged(bool modified);
    void documentTitleChanged(const QString &title);
    void selectionChanged(const lw::DesignSelection &selection);
    /// "Train this": the spec, emitted only when valid.
    void trainRequested(const lw::Spec &spec);

private:
    void createActions();
    void buildLayout();
    void commit(const Spec &after, const QString &text, const QString &mergeKey = {});
    void applyState(const Spec &spec);
    void refresh();
    void updateActions();
    void setTitle(const QString &title);
    void clampSelection();
    void navigate(int delta);
    void onStageEdited(int index, const StageSpec &stage, const QString &field);
    void onInputEdited(const InputSpec &input, const QString &field);
    void onRecipeEdited(const Spec &spec, const QString &field);
    bool saveInteractive(bool askPath);
    void openInteractive();
    void newDocument();
    void choosePreset(const QString &name);
    bool isStageLocked(int index) const { return index < m_locked; }

    Spec m_spec;
    std::vector<SpecIssue> m_issues;
    std::optional<SpecSummary> m_summary;
    bool m_valid = false;
    int m_locked = 0;
    DesignSelection m_selection;
    int m_mergeEpoch = 0;
    QString m_error;
    QString m_filePath;
    QString m_title;

    QUndoStack *m_undo = nullptr;
    QToolBar *m_toolBar = nullptr;
    QLabel *m_banner = nullptr;
    StageCanvas *m_canvas = nullptr;
    QScrollArea *m_canvasScroll = nullptr;
    BlockPalette *m_palette = nullptr;
    StageInspector *m_inspector = nullptr;
    RecipePanel *m_recipe = nullptr;
    CostPanel *m_costs = nullptr;
    QTabWidget *m_sideTabs = nullptr;
    QMenu *m_presetsMenu = nullptr;

    /// The view's actions, in the order of the accessors above.
    enum Action {
        New,
        Open,
        Save,
        SaveAs,
        Undo,
        Redo,
        Train,
        AddStage,
        DuplicateStage,
        DeleteStage,
        MoveUp,
        MoveDown
    };
    std::array<QAction *, MoveDown + 1> m_actions{}; ///< indexed by Action
};

} // namespace lw
