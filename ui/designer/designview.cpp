#include "ui/designer/designview.h"

#include "core/util/fsutil.h"
#include "ui/common/layoutstate.h"
#include "ui/designer/blockpalette.h"
#include "ui/designer/costpanel.h"
#include "ui/designer/recipepanel.h"
#include "ui/designer/speccommand.h"
#include "ui/designer/stageinspector.h"

#include <QAction>
#include <QBoxLayout>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenu>
#include <QMessageBox>
#include <QScrollArea>
#include <QSplitter>
#include <QTabWidget>
#include <QToolBar>
#include <QToolButton>
#include <QUndoStack>

#include <algorithm>

namespace lw {

DesignView::DesignView(QWidget *parent)
    : QWidget(parent)
{
    setObjectName(QStringLiteral("designView"));
    m_undo = new QUndoStack(this);
    createActions();
    buildLayout();

    connect(m_undo, &QUndoStack::cleanChanged, this, [this](bool clean) {
        setWindowModified(!clean);
        emit modifiedChanged(!clean);
    });
    connect(m_canvas, &StageCanvas::selectionRequested, this, &DesignView::select);
    connect(m_canvas, &StageCanvas::navigate, this, &DesignView::navigate);
    connect(m_canvas, &StageCanvas::blockDropped, this, &DesignView::insertBlock);
    connect(m_canvas, &StageCanvas::stageDropped, this, [this](int from, int insertion) {
        moveStage(from, insertion > from ? insertion - 1 : insertion);
    });
    connect(m_palette, &BlockPalette::blockActivated, this, &DesignView::appendBlock);
    connect(m_inspector, &StageInspector::stageEdited, this, &DesignView::onStageEdited);
    connect(m_inspector, &StageInspector::inputEdited, this, &DesignView::onInputEdited);
    connect(m_recipe, &RecipePanel::edited, this, &DesignView::onRecipeEdited);
    connect(m_inspector, &StageInspector::headRequested, this, [this](int i) {
        select({DesignSelection::Kind::Head, i});
    });
    connect(m_inspector, &StageInspector::blockRequested, this, [this](int i) {
        select({DesignSelection::Kind::Stage, i});
    });
    connect(this, &DesignView::documentTitleChanged, this, [this](const QString &title) {
        if (isWindow())
            setWindowTitle(tr("%1[*] \u2014 Layerwise").arg(title));
    });

    setTitle(tr("Untitled"));
    refresh();
    m_valid = isValid();
    m_actions[Train]->setEnabled(m_valid);
}

DesignView::~DesignView()
{
    // ~QWidget deletes the children after this object's members are gone; the undo stack's
    // clear() then emits cleanChanged into the lambda above (UBSan in make test-asan).
    disconnect(m_undo, nullptr, this, nullptr);
}

void DesignView::createActions()
{
    m_actions[New] = new QAction(tr("&New Architecture"), this);
    m_actions[New]->setShortcut(QKeySequence::New);
    m_actions[New]->setToolTip(tr("Start an empty architecture"));
    connect(m_actions[New], &QAction::triggered, this, &DesignView::newDocument);

    m_actions[Open] = new QAction(tr("&Open\u2026"), this);
    m_actions[Open]->setShortcut(QKeySequence::Open);
    m_actions[Open]->setToolTip(tr("Open an architecture (JSON, the CLI's format)"));
    connect(m_actions[Open], &QAction::triggered, this, &DesignView::openInteractive);

    m_actions[Save] = new QAction(tr("&Save"), this);
    m_actions[Save]->setShortcut(QKeySequence::Save);
    connect(m_actions[Save], &QAction::triggered, this, [this] { saveInteractive(false); });

    m_actions[SaveAs] = new QAction(tr("Save &As\u2026"), this);
    m_actions[SaveAs]->setShortcut(QKeySequence::SaveAs);
    connect(m_actions[SaveAs], &QAction::triggered, this, [this] { saveInteractive(true); });

    m_actions[Undo] = m_undo->createUndoAction(this, tr("&Undo"));
    m_actions[Undo]->setShortcut(QKeySequence::Undo);
    m_actions[Redo] = m_undo->createRedoAction(this, tr("&Redo"));
    m_actions[Redo]->setShortcuts(
        {QKeySequence(QStringLiteral("Ctrl+Shift+Z")), QKeySequence(QStringLiteral("Ctrl+Y"))});

    m_actions[Train] = new QAction(tr("Train This"), this);
    m_actions[Train]->setObjectName(QStringLiteral("trainAction"));
    m_actions[Train]->setShortcut(QKeySequence(QStringLiteral("Ctrl+Return")));
    m_actions[Train]->setToolTip(tr("Hand this architecture to the Train view (Ctrl+Return)"));
    connect(m_actions[Train], &QAction::triggered, this, [this] {
        if (isValid())
            emit trainRequested(m_spec);
    });

    m_actions[AddStage] = new QAction(tr("Add Stage"), this);
    m_actions[AddStage]->setShortcut(QKeySequence(Qt::Key_Insert));
    m_actions[AddStage]->setToolTip(tr("Insert a conv stage after the selected stage (Insert)"));
    connect(m_actions[AddStage], &QAction::triggered, this, [this] {
        const bool stageSelected = m_selection.kind == DesignSelection::Kind::Stage
                                   || m_selection.kind == DesignSelection::Kind::Head;
        const int at = stageSelected ? m_selection.index + 1 : int(m_spec.stages.size());
        insertBlock(Block::ConvStage, std::max(at, m_locked));
    });
    m_actions[DuplicateStage] = new QAction(tr("Duplicate"), this);
    m_actions[DuplicateStage]->setShortcut(QKeySequence(QStringLiteral("Ctrl+D")));
    m_actions[DuplicateStage]->setToolTip(tr("Duplicate the selected stage (Ctrl+D)"));
    connect(m_actions[DuplicateStage], &QAction::triggered, this,
            [this] { duplicateStage(m_selection.index); });
    m_actions[DeleteStage] = new QAction(tr("Delete"), this);
    m_actions[DeleteStage]->setShortcut(QKeySequence::Delete);
    m_actions[DeleteStage]->setToolTip(tr("Delete the selected stage (Delete)"));
    connect(m_actions[DeleteStage], &QAction::triggered, this,
            [this] { removeStage(m_selection.index); });
    m_actions[MoveUp] = new QAction(tr("Move Up"), this);
    m_actions[MoveUp]->setShortcut(QKeySequence(QStringLiteral("Alt+Up")));
    m_actions[MoveUp]->setToolTip(tr("Move the selected stage up (Alt+Up)"));
    connect(m_actions[MoveUp], &QAction::triggered, this,
            [this] { moveStage(m_selection.index, m_selection.index - 1); });
    m_actions[MoveDown] = new QAction(tr("Move Down"), this);
    m_actions[MoveDown]->setShortcut(QKeySequence(QStringLiteral("Alt+Down")));
    m_actions[MoveDown]->setToolTip(tr("Move the selected stage down (Alt+Down)"));
    connect(m_actions[MoveDown], &QAction::triggered, this,
            [this] { moveStage(m_selection.index, m_selection.index + 1); });

    // Document actions work anywhere in the window; stage actions only while the stage list
    // has focus, so that Delete and Alt+arrows keep their meaning in the inspector's fields.
    addActions({m_actions[New], m_actions[Open], m_actions[Save], m_actions[SaveAs],
                m_actions[Undo], m_actions[Redo], m_actions[Train]});

    m_presetsMenu = new QMenu(tr("&Presets"), this);
    m_presetsMenu->setToolTipsVisible(true);
    for (const PresetInfo &preset : listPresets()) {
        const QString name = QString::fromStdString(preset.name);
        // The entry says what the preset is ("fmnist-k1 — Fashion-MNIST, k=1"); the whole
        // description is its tooltip and status tip.
        const QString description = QString::fromStdString(preset.description);
        const QString gist = description.section(QLatin1Char(':'), 0, 0).trimmed();
        QAction *a = m_presetsMenu->addAction(
            gist.isEmpty() ? name : QStringLiteral("%1 \u2014 %2").arg(name, gist));
        a->setData(name);
        a->setToolTip(description);
        a->setStatusTip(a->toolTip());
        connect(a, &QAction::triggered, this, [this, name] { choosePreset(name); });
    }
    if (m_presetsMenu->isEmpty())
        m_presetsMenu->addAction(tr("(no presets)"))->setEnabled(false);
}

void DesignView::buildLayout()
{
    auto *v = new QVBoxLayout(this);
    v->setContentsMargins(0, 0, 0, 0);
    v->setSpacing(0);

    m_toolBar = new QToolBar(tr("Design"), this);
    m_toolBar->setToolButtonStyle(Qt::ToolButtonTextOnly);
    auto *presets = new QToolButton(m_toolBar);
    presets->setText(tr("Presets"));
    presets->setMenu(m_presetsMenu);
    presets->setPopupMode(QToolButton::InstantPopup);
    m_toolBar->addWidget(presets);
    m_toolBar->addActions({m_actions[New], m_actions[Open], m_actions[Save], m_actions[SaveAs]});
    m_toolBar->addSeparator();
    // The undo/redo actions' texts name the edit ("Undo Change width of stage 2"): fixed-text
    // buttons keep the toolbar steady and show the edit in their tooltips.
    for (QAction *a : {m_actions[Undo], m_actions[Redo]}) {
        auto *button = new QToolButton(m_toolBar);
        button->setText(a == m_actions[Undo] ? tr("Undo") : tr("Redo"));
        button->setEnabled(a->isEnabled());
        button->setToolTip(a->text());
        connect(button, &QToolButton::clicked, a, &QAction::trigger);
        connect(a, &QAction::changed, button, [a, button] {
            button->setEnabled(a->isEnabled());
            button->setToolTip(a->text() + QStringLiteral(" (")
                               + a->shortcut().toString(QKeySequence::NativeText)
                               + QLatin1Char(')'));
        });
        m_toolBar->addWidget(button);
    }
    m_toolBar->addSeparator();
    m_toolBar->addActions({m_actions[AddStage], m_actions[DuplicateStage], m_actions[DeleteStage],
                           m_actions[MoveUp], m_actions[MoveDown]});
    auto *spacer = new QWidget(m_toolBar);
    spacer->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
    m_toolBar->addWidget(spacer);
    m_toolBar->addAction(m_actions[Train]);
    if (auto *train = qobject_cast<QToolButton *>(m_toolBar->widgetForAction(m_actions[Train]))) {
        train->setStyleSheet(
            QStringLiteral("QToolButton { background: #2f6fde; color: white; font-weight: bold;"
                           " border-radius: 4px; padding: 4px 14px; }"
                           " QToolButton:disabled { background: #b9c3d3; color: #eef1f5; }"));
    }
    v->addWidget(m_toolBar);

    m_banner = new QLabel(this);
    m_banner->setObjectName(QStringLiteral("issueBanner"));
    m_banner->setWordWrap(true);
    m_banner->setTextFormat(Qt::PlainText);
    m_banner->setStyleSheet(QStringLiteral("QLabel { background: #fdecea; color: #8c1d18;"
                                           " border-bottom: 1px solid #f3b8b2; padding: 6px; }"));
    m_banner->hide();
    v->addWidget(m_banner);

    auto *split = new QSplitter(Qt::Horizontal, this);
    v->addWidget(split, 1);

    auto *left = new QWidget(split);
    auto *lv = new QVBoxLayout(left);
    lv->setContentsMargins(6, 6, 0, 6);
    auto *blocksTitle = new QLabel(tr("Blocks"), left);
    QFont bold = blocksTitle->font();
    bold.setBold(true);
    blocksTitle->setFont(bold);
    auto *blocksHint = new QLabel(tr("Drag onto the stage list; double-click to append. Drop a "
                                     "head on a stage to replace its head."),
                                  left);
    blocksHint->setWordWrap(true);
    blocksHint->setStyleSheet(QStringLiteral("QLabel { color: #6b7485; }"));
    m_palette = new BlockPalette(left);
    lv->addWidget(blocksTitle);
    lv->addWidget(blocksHint);
    lv->addWidget(m_palette, 1);
    split->addWidget(left);

    auto *center = new QSplitter(Qt::Vertical, split);
    m_canvasScroll = new QScrollArea(center);
    m_canvasScroll->setObjectName(QStringLiteral("canvasScroll"));
    m_canvasScroll->setWidgetResizable(true);
    m_canvas = new StageCanvas;
    m_canvasScroll->setWidget(m_canvas);
    center->addWidget(m_canvasScroll);
    m_costs = new CostPanel(center);
    center->addWidget(m_costs);
    center->setStretchFactor(0, 3);
    center->setStretchFactor(1, 1);
    center->setSizes({620, 300});
    split->addWidget(center);

    for (QAction *a : {m_actions[AddStage], m_actions[DuplicateStage], m_actions[DeleteStage],
                       m_actions[MoveUp], m_actions[MoveDown]}) {
        a->setShortcutContext(Qt::WidgetWithChildrenShortcut);
        m_canvasScroll->addAction(a);
    }

    m_sideTabs = new QTabWidget(split);
    auto *inspectorScroll = new QScrollArea;
    inspectorScroll->setWidgetResizable(true);
    inspectorScroll->setFrameShape(QFrame::NoFrame);
    m_inspector = new StageInspector;
    inspectorScroll->setWidget(m_inspector);
    m_sideTabs->addTab(inspectorScroll, tr("Inspector"));
    m_recipe = new RecipePanel;
    m_sideTabs->addTab(m_recipe, tr("Recipe"));
    split->addWidget(m_sideTabs);

    split->setStretchFactor(0, 0);
    split->setStretchFactor(1, 1);
    split->setStretchFactor(2, 0);
    split->setSizes({210, 960, 380});
    rememberSplitter(split, QStringLiteral("design/main"));
    rememberSplitter(center, QStringLiteral("design/canvasCosts"));
}

// --- Document -----------------------------------------------------------------------------

void DesignView::setSpec(const Spec &spec, const QString &title)
{
    m_locked = 0;
    m_spec = spec;
    m_selection = {};
    m_undo->clear();
    m_undo->setClean();
    m_filePath.clear();
    setTitle(title.isEmpty() ? tr("Untitled") : title);
    refresh();
    emit selectionChanged(m_selection);
    emit specChanged();
}

void DesignView::editSpec(const Spec &spec, const QString &description)
{
    commit(spec, description);
}

bool DesignView::openFile(const QString &path)
{
    Result<Spec> loaded = loadSpecFile(path.toStdString());
    if (!loaded) {
        m_error = QString::fromStdString(loaded.message());
        return false;
    }
    setSpec(loaded.value(), QFileInfo(path).fileName());
    m_filePath = path;
    return true;
}

bool DesignView::saveFile(const QString &path)
{
    const Result<void> written = writeFileAtomic(path.toStdString(), serializeSpec(m_spec));
    if (!written) {
        m_error = QString::fromStdString(written.message());
        return false;
    }
    m_filePath = path;
    m_undo->setClean();
    setTitle(QFileInfo(path).fileName());
    return true;
}

bool DesignView::loadPreset(const QString &name)
{
    Result<Spec> preset = lw::loadPreset(name.toStdString());
    if (!preset) {
        m_error = QString::fromStdString(preset.message());
        return false;
    }
    setSpec(preset.value(), name);
    return true;
}

bool DesignView::isModified() const
{
    return !m_undo->isClean();
}

bool DesignView::maybeSave()
{
    if (!isModified())
        return true;
    const auto answer = QMessageBox::warning(
        this, tr("Unsaved changes"),
        tr("The architecture \u201c%1\u201d has unsaved changes.\nSave them first?").arg(m_title),
        QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel, QMessageBox::Save);
    if (answer == QMessageBox::Save)
        return saveInteractive(false);
    return answer == QMessageBox::Discard;
}

bool DesignView::saveInteractive(bool askPath)
{
    if (!isValid()) {
        QStringList problems;
        for (size_t i = 0; i < m_issues.size() && i < 5; ++i)
            problems << QString::fromStdString(m_issues[i].toString());
        const auto answer = QMessageBox::question(
            this, tr("Save an invalid architecture?"),
            tr("The architecture has problems:\n\n%1\n\nSave it anyway? It cannot be trained "
               "until they are fixed.")
                .arg(problems.join(QLatin1Char('\n'))));
        if (answer != QMessageBox::Yes)
            return false;
    }
    QString path = m_filePath;
    if (askPath || path.isEmpty()) {
        QString suggested = QString::fromStdString(m_spec.name);
        if (suggested.isEmpty())
            suggested = tr("architecture");
        // *.lwspec.json: the desktop's MIME type (application/x-layerwise-spec) opens it here.
        if (!m_filePath.isEmpty())
            suggested = m_filePath;
        else
            suggested += QStringLiteral(".lwspec.json");
        path = QFileDialog::getSaveFileName(
            this, tr("Save Architecture"), suggested,
            tr("Layerwise spec (*.lwspec.json);;JSON (*.json);;All files (*)"));
        if (path.isEmpty())
            return false;
        if (QFileInfo(path).suffix().isEmpty())
            path += QStringLiteral(".lwspec.json");
    }
    if (!saveFile(path)) {
        QMessageBox::warning(this, tr("Save failed"), m_error);
        return false;
    }
    return true;
}

void DesignView::openInteractive()
{
    if (!maybeSave())
        return;
    const QString dir = m_filePath.isEmpty() ? QString() : QFileInfo(m_filePath).absolutePath();
    const QString path
        = QFileDialog::getOpenFileName(this, tr("Open Architecture"), dir,
                                       tr("Layerwise specs (*.lwspec.json *.json);;All files (*)"));
    if (path.isEmpty())
        return;
    if (!openFile(path))
        QMessageBox::warning(this, tr("Cannot open the architecture"), m_error);
}

void DesignView::newDocument()
{
    if (!maybeSave())
        return;
    setSpec(Spec{});
}

void DesignView::choosePreset(const QString &name)
{
    if (!maybeSave())
        return;
    if (!loadPreset(name))
        QMessageBox::warning(this, tr("Cannot open the preset"), m_error);
}

void DesignView::setTitle(const QString &title)
{
    if (title == m_title)
        return;
    m_title = title;
    emit documentTitleChanged(title);
}

// --- Edits --------------------------------------------------------------------------------

void DesignView::commit(const Spec &after, const QString &text, const QString &mergeKey)
{
    if (after == m_spec)
        return;
    QString key;
    if (mergeKey.isEmpty())
        ++m_mergeEpoch; // the next field edit starts a new undo step
    else
        key = QStringLiteral("%1/%2").arg(m_mergeEpoch).arg(mergeKey);
    m_undo->push(
        new SpecCommand([this](const Spec &s) { applyState(s); }, m_spec, after, text, key));
}

void DesignView::applyState(const Spec &spec)
{
    m_spec = spec;
    clampSelection();
    refresh();
    emit specChanged();
}

bool DesignView::insertBlock(Block block, int index)
{
    const int n = int(m_spec.stages.size());
    Spec next = m_spec;
    if (isHeadBlock(block)) {
        if (index < 0 || index >= n || isStageLocked(index))
            return false;
        StageSpec &stage = next.stages[size_t(index)];
        stage.head = makeHead(block, stage.head);
        commit(next, tr("Give stage %1 a k = %2 head").arg(index + 1).arg(stage.head.k));
        select({DesignSelection::Kind::Head, index});
        return true;
    }
    if (index < m_locked || index > n)
        return false;
    next.stages.insert(next.stages.begin() + index, makeStage(block, m_spec, index));
    commit(next, tr("Insert %1 as stage %2").arg(blockTitle(block)).arg(index + 1));
    select({DesignSelection::Kind::Stage, index});
    return true;
}

bool DesignView::appendBlock(Block block)
{
    if (!isHeadBlock(block))
        return insertBlock(block, int(m_spec.stages.size()));
    const bool stageSelected = m_selection.kind == DesignSelection::Kind::Stage
                               || m_selection.kind == DesignSelection::Kind::Head;
    return insertBlock(block, stageSelected ? m_selection.index : int(m_spec.stages.size()) - 1);
}

bool DesignView::duplicateStage(int index)
{
    const int n = int(m_spec.stages.size());
    if (index < 0 || index >= n || index + 1 < m_locked)
        return false;
    Spec next = m_spec;
    next.stages.insert(next.stages.begin() + index + 1, m_spec.stages[size_t(index)]);
    commit(next, tr("Duplicate stage %1").arg(index + 1));
    select({DesignSelection::Kind::Stage, index + 1});
    return true;
}

bool DesignView::removeStage(int index)
{
    const int n = int(m_spec.stages.size());
    if (index < 0 || index >= n || isStageLocked(index))
        return false;
    Spec next = m_spec;
    next.stages.erase(next.stages.begin() + index);
    commit(next, tr("Delete stage %1").arg(index + 1));
    if (n > 1)
        select({DesignSelection::Kind::Stage, std::min(index, n - 2)});
    else
        select({});
    return true;
}

bool DesignView::moveStage(int from, int to)
{
    const int n = int(m_spec.stages.size());
    if (from < 0 || from >= n || to < 0 || to >= n || from == to || isStageLocked(from)
        || isStageLocked(to))
        return false;
    Spec next = m_spec;
    auto &stages = next.stages;
    if (from < to)
        std::rotate(stages.begin() + from, stages.begin() + from + 1, stages.begin() + to + 1);
    else
        std::rotate(stages.begin() + to, stages.begin() + from, stages.begin() + from + 1);
    commit(next, tr("Move stage %1 to %2").arg(from + 1).arg(to + 1));
    select({DesignSelection::Kind::Stage, to});
    return true;
}

void DesignView::onStageEdited(int index, const StageSpec &stage, const QString &field)
{
    if (index < 0 || index >= int(m_spec.stages.size()) || isStageLocked(index)) {
        refresh(); // show the spec's values again
        return;
    }
    Spec next = m_spec;
    next.stages[size_t(index)] = stage;
    commit(next, tr("Change %1 of stage %2").arg(field).arg(index + 1),
           QStringLiteral("stages[%1].%2").arg(index).arg(field));
}

void DesignView::onInputEdited(const InputSpec &input, const QString &field)
{
    if (m_locked > 0) {
        refresh();
        return;
    }
    Spec next = m_spec;
    next.input = input;
    commit(next, tr("Change input %1").arg(field), QStringLiteral("input.") + field);
}

void DesignView::onRecipeEdited(const Spec &spec, const QString &field)
{
    Spec next = m_spec;
    next.name = spec.name;
    next.description = spec.description;
    next.recipe = spec.recipe;
    commit(next, tr("Change %1").arg(field), field);
}

// --- Selection ----------------------------------------------------------------------------

void DesignView::select(const DesignSelection &selection)
{
    DesignSelection s = selection;
    const int n = int(m_spec.stages.size());
    if ((s.kind == DesignSelection::Kind::Stage || s.kind == DesignSelection::Kind::Head)
        && (s.index < 0 || s.index >= n))
        s = {};
    if (s.kind == DesignSelection::Kind::Input || s.kind == DesignSelection::Kind::None)
        s.index = -1;
    const bool changed = !(s == m_selection);
    m_selection = s;
    ++m_mergeEpoch;
    m_canvas->setSelection(s);
    refresh();
    if (s.kind != DesignSelection::Kind::None) {
        m_sideTabs->setCurrentIndex(0);
        StageCard *card = s.kind == DesignSelection::Kind::Input ? m_canvas->inputCard()
                                                                 : m_canvas->card(s.index);
        if (card)
            m_canvasScroll->ensureWidgetVisible(card, 0, 24);
    }
    if (changed)
        emit selectionChanged(s);
}

void DesignView::clampSelection()
{
    const int n = int(m_spec.stages.size());
    if ((m_selection.kind == DesignSelection::Kind::Stage
         || m_selection.kind == DesignSelection::Kind::Head)
        && m_selection.index >= n) {
        m_selection
            = n > 0 ? DesignSelection{DesignSelection::Kind::Stage, n - 1} : DesignSelection{};
    }
}

void DesignView::navigate(int delta)
{
    const int n = int(m_spec.stages.size());
    int at = -1; // -1: the input card
    switch (m_selection.kind) {
    case DesignSelection::Kind::None: at = delta > 0 ? -2 : n; break;
    case DesignSelection::Kind::Input: at = -1; break;
    default: at = m_selection.index; break;
    }
    const int next = std::clamp(at + delta, -1, n - 1);
    select(next < 0 ? DesignSelection{DesignSelection::Kind::Input, -1}
                    : DesignSelection{DesignSelection::Kind::Stage, next});
}

void DesignView::setLockedStages(int count)
{
    m_locked = std::clamp(count, 0, int(m_spec.stages.size()));
    refresh();
}

// --- Refresh ------------------------------------------------------------------------------

void DesignView::refresh()
{
    const int n = int(m_spec.stages.size());
    m_issues = validateSpec(m_spec);
    if (n == 0 && m_issues.empty())
        m_issues.push_back({"stages", "add at least one stage", -1});
    m_summary.reset();
    if (m_issues.empty()) {
        Result<SpecSummary> summary = summarizeSpec(m_spec);
        if (summary)
            m_summary = std::move(summary.value());
        else
            m_issues.push_back({"", summary.message(), -1});
    } else {
        // Shapes stay visible for the stages before the first invalid one.
        int firstBad = n;
        bool inputBad = false;
        for (const SpecIssue &issue : m_issues) {
            if (issue.stage >= 0)
                firstBad = std::min(firstBad, issue.stage);
            else if (issue.path.rfind("input", 0) == 0)
                inputBad = true;
        }
        if (!inputBad && firstBad > 0) {
            Spec prefix;
            prefix.input = m_spec.input;
            prefix.stages.assign(m_spec.stages.begin(), m_spec.stages.begin() + firstBad);
            Result<SpecSummary> summary = summarizeSpec(prefix);
            if (summary)
                m_summary = std::move(summary.value());
        }
    }

    m_canvas->showSpec(m_spec, m_summary, m_issues, m_locked);
    m_canvas->setSelection(m_selection);

    const int i = m_selection.index;
    switch (m_selection.kind) {
    case DesignSelection::Kind::None: m_inspector->showNothing(); break;
    case DesignSelection::Kind::Input: m_inspector->showInput(m_spec.input, m_locked > 0); break;
    case DesignSelection::Kind::Stage:
        m_inspector->showStage(i, m_spec.stages[size_t(i)], isStageLocked(i));
        break;
    case DesignSelection::Kind::Head:
        m_inspector->showHead(i, m_spec.stages[size_t(i)], isStageLocked(i));
        break;
    }
    m_recipe->showSpec(m_spec);
    m_recipe->showIssues(m_issues);

    const bool valid = m_issues.empty();
    m_costs->showCosts(m_spec, m_summary, valid);

    QStringList general;
    for (const SpecIssue &issue : m_issues) {
        if (issue.stage < 0 && issue.path.rfind("input", 0) != 0)
            general << QString::fromStdString(issue.toString());
    }
    m_banner->setText(general.join(QLatin1Char('\n')));
    m_banner->setVisible(!general.isEmpty());

    if (valid != m_valid) {
        m_valid = valid;
        emit validityChanged(valid);
    }
    updateActions();
}

void DesignView::updateActions()
{
    const int n = int(m_spec.stages.size());
    const bool stageSelected = m_selection.kind == DesignSelection::Kind::Stage
                               || m_selection.kind == DesignSelection::Kind::Head;
    const int i = stageSelected ? m_selection.index : -1;
    m_actions[Train]->setEnabled(m_valid);
    m_actions[DuplicateStage]->setEnabled(i >= 0 && i + 1 >= m_locked);
    m_actions[DeleteStage]->setEnabled(i >= 0 && !isStageLocked(i));
    m_actions[MoveUp]->setEnabled(i > 0 && !isStageLocked(i - 1) && !isStageLocked(i));
    m_actions[MoveDown]->setEnabled(i >= 0 && i + 1 < n && !isStageLocked(i));
}

} // namespace lw
