#include "ui/runs/runsview.h"

#include "ui/common/format.h"
#include "ui/common/layoutstate.h"
#include "ui/inspect/picturescompare.h"
#include "ui/runs/compareview.h"
#include "ui/runs/exportdialog.h"
#include "ui/runs/runstablemodel.h"

#include <QAction>
#include <QColorDialog>
#include <QComboBox>
#include <QCompleter>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMenu>
#include <QMessageBox>
#include <QPushButton>
#include <QSaveFile>
#include <QScrollBar>
#include <QSet>
#include <QSplitter>
#include <QTabWidget>
#include <QTableView>
#include <QTimer>
#include <QToolBar>
#include <QVBoxLayout>

#include <algorithm>

namespace lw {

namespace {

std::vector<std::string> toStd(const QStringList &list)
{
    std::vector<std::string> out;
    for (const auto &s : list) {
        const QString t = s.trimmed();
        if (!t.isEmpty())
            out.push_back(t.toStdString());
    }
    return out;
}

} // namespace

RunsView::RunsView(QWidget *parent)
    : QWidget(parent)
{
    m_model = new RunsTableModel(this);
    connect(m_model, &RunsTableModel::storeError, this, [this](const QString &message) {
        m_error = message;
        Q_EMIT storeError(message);
    });

    // Filter row.
    m_filterEdit = new QLineEdit;
    m_filterEdit->setPlaceholderText(
        tr("Filter runs: name, notes, spec, dataset, tag or mode (e2e)"));
    m_filterEdit->setClearButtonEnabled(true);
    m_statusBox = new QComboBox;
    m_statusBox->addItem(tr("Any status"));
    for (auto s : {RunStatus::Running, RunStatus::Finished, RunStatus::Failed, RunStatus::Cancelled,
                   RunStatus::Interrupted})
        m_statusBox->addItem(statusText(s), int(s));
    m_modeBox = new QComboBox;
    m_modeBox->addItem(tr("Any mode"));
    m_modeBox->addItem(tr("greedy"), int(TrainMode::Greedy));
    m_modeBox->addItem(tr("end-to-end"), int(TrainMode::EndToEnd));
    m_modeBox->addItem(tr("decoupled"), int(TrainMode::Decoupled));
    m_tagBox = new QComboBox;
    m_tagBox->setEditable(true);
    m_tagBox->setInsertPolicy(QComboBox::NoInsert);
    m_tagBox->lineEdit()->setPlaceholderText(tr("Any tag"));
    m_tagBox->setMinimumContentsLength(12);
    m_countLabel = new QLabel;

    m_filterTimer = new QTimer(this);
    m_filterTimer->setSingleShot(true);
    m_filterTimer->setInterval(250);
    connect(m_filterTimer, &QTimer::timeout, this, &RunsView::applyFilter);
    connect(m_filterEdit, &QLineEdit::textChanged, m_filterTimer, qOverload<>(&QTimer::start));
    connect(m_statusBox, &QComboBox::currentIndexChanged, this, &RunsView::applyFilter);
    connect(m_modeBox, &QComboBox::currentIndexChanged, this, &RunsView::applyFilter);
    connect(m_tagBox, &QComboBox::currentTextChanged, m_filterTimer, qOverload<>(&QTimer::start));

    // Table.
    m_table = new QTableView;
    m_table->setModel(m_model);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_table->setSortingEnabled(true);
    m_table->setAlternatingRowColors(true);
    m_table->setWordWrap(false);
    m_table->setContextMenuPolicy(Qt::CustomContextMenu);
    m_table->verticalHeader()->setVisible(false);
    m_table->verticalHeader()->setDefaultSectionSize(m_table->fontMetrics().height() + 8);
    m_table->horizontalHeader()->setSectionsMovable(true);
    m_table->horizontalHeader()->setContextMenuPolicy(Qt::CustomContextMenu);
    m_table->horizontalHeader()->setHighlightSections(false);
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->horizontalHeader()->setSortIndicator(RunsTableModel::Started, Qt::DescendingOrder);
    for (int c : {RunsTableModel::Macs, RunsTableModel::Seed, RunsTableModel::Top5})
        m_table->setColumnHidden(c, true);
    m_table->setTextElideMode(Qt::ElideMiddle);
    const QFontMetrics fm = m_table->fontMetrics();
    m_table->setColumnWidth(RunsTableModel::Id, fm.horizontalAdvance(QStringLiteral("00000")) + 16);
    m_table->setColumnWidth(RunsTableModel::Name, fm.horizontalAdvance(QLatin1Char('x')) * 28);
    m_table->setColumnWidth(RunsTableModel::Dataset, fm.horizontalAdvance(QLatin1Char('x')) * 16);
    m_table->setColumnWidth(RunsTableModel::Started, fm.horizontalAdvance(QLatin1Char('x')) * 17);
    m_table->setColumnWidth(RunsTableModel::Tags, fm.horizontalAdvance(QLatin1Char('x')) * 18);
    for (int c : {RunsTableModel::FinalAcc, RunsTableModel::Top5, RunsTableModel::EnsembleAcc,
                  RunsTableModel::BestAcc, RunsTableModel::Stages, RunsTableModel::Params,
                  RunsTableModel::WallTime, RunsTableModel::Device})
        m_table->setColumnWidth(c, fm.horizontalAdvance(QStringLiteral("end-to-end")) + 24);
    m_table->setColumnWidth(RunsTableModel::Mode,
                            fm.horizontalAdvance(QStringLiteral("greedy layerwise")) + 16);
    m_table->setColumnWidth(RunsTableModel::Status,
                            fm.horizontalAdvance(QStringLiteral("interrupted")) + 40);
    // Processes and backend (appended to the model, so saved layouts keep their columns) show
    // after Device.
    for (int c : {RunsTableModel::Backend, RunsTableModel::Processes}) {
        m_table->horizontalHeader()->moveSection(
            m_table->horizontalHeader()->visualIndex(c),
            m_table->horizontalHeader()->visualIndex(RunsTableModel::Device) + 1);
        m_table->setColumnWidth(c, fm.horizontalAdvance(QStringLiteral("Backend")) + 24);
    }
    connect(m_table->horizontalHeader(), &QHeaderView::customContextMenuRequested, this,
            &RunsView::showHeaderMenu);
    connect(m_table, &QTableView::customContextMenuRequested, this, &RunsView::showTableMenu);
    connect(m_table->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &RunsView::onSelectionChanged);
    // Keep the selection (by run id) across resets: filter and sort changes.
    connect(m_model, &QAbstractItemModel::modelAboutToBeReset, this, [this] {
        m_keepSelection = selectedRunIds();
        m_restoring = true;
    });
    connect(m_model, &QAbstractItemModel::modelReset, this, [this] {
        const QList<qint64> keep = m_keepSelection;
        QItemSelection sel;
        for (qint64 id : keep) {
            const int row = m_model->rowOfRun(id);
            if (row >= 0)
                sel.select(m_model->index(row, 0),
                           m_model->index(row, RunsTableModel::ColumnCount - 1));
        }
        m_table->selectionModel()->select(sel, QItemSelectionModel::ClearAndSelect);
        m_restoring = false;
        onSelectionChanged();
        updateCountLabel();
        updateTagChoices();
        updateEmptyText();
    });
    connect(m_model, &QAbstractItemModel::rowsInserted, this, &RunsView::updateCountLabel);
    connect(m_model, &QAbstractItemModel::rowsRemoved, this, [this] {
        updateCountLabel();
        onSelectionChanged(); // a deleted run leaves the comparison
    });

    m_compare = new RunCompareView;

    buildActions();
    auto *toolbar = new QToolBar;
    toolbar->setToolButtonStyle(Qt::ToolButtonTextOnly);
    toolbar->addActions({m_actions[Rename], m_actions[Tags], m_actions[Notes], m_actions[Delete]});
    toolbar->addSeparator();
    toolbar->addActions(
        {m_actions[Resume], m_actions[Probe], m_actions[Branch], m_actions[OpenSpec]});
    toolbar->addSeparator();
    toolbar->addActions({m_actions[Export], m_actions[ExportNetwork], m_actions[Refresh]});

    auto *filterRow = new QHBoxLayout;
    filterRow->addWidget(m_filterEdit, 3);
    filterRow->addWidget(m_statusBox);
    filterRow->addWidget(m_modeBox);
    filterRow->addWidget(m_tagBox, 1);
    filterRow->addWidget(m_countLabel);

    auto *top = new QWidget;
    auto *topLayout = new QVBoxLayout(top);
    topLayout->setContentsMargins(0, 0, 0, 0);
    topLayout->addWidget(toolbar);
    topLayout->addLayout(filterRow);
    topLayout->addWidget(m_table, 1);

    // The comparison (its plots) gets most of the height; the table scrolls.
    auto *split = new QSplitter(Qt::Vertical);
    split->addWidget(top);
    m_pictures = new RunPicturesView;
    auto *below = new QTabWidget;
    // Alt+C and Alt+P switch between them from the keyboard.
    below->addTab(m_compare, tr("&Curves"));
    below->addTab(m_pictures, tr("&Pictures"));
    split->addWidget(below);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 3);
    split->setSizes({260, 780});
    split->setChildrenCollapsible(false);
    rememberSplitter(split, QStringLiteral("runs/tableCompare"));
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(split);

    m_pollTimer = new QTimer(this);
    m_pollTimer->setInterval(500);
    connect(m_pollTimer, &QTimer::timeout, this, &RunsView::refreshNow);
    updateActions();
    updateCountLabel();
    updateEmptyText();
}

RunsView::~RunsView() = default;

void RunsView::buildActions()
{
    auto make = [this](const QString &text, const QString &tip, auto slot) {
        auto *a = new QAction(text, this);
        a->setToolTip(tip);
        a->setShortcutContext(Qt::WidgetWithChildrenShortcut);
        connect(a, &QAction::triggered, this, slot);
        addAction(a);
        return a;
    };
    m_actions[Rename]
        = make(tr("Rename…"), tr("Rename the selected run"), &RunsView::renameInteractive);
    m_actions[Rename]->setShortcut(Qt::Key_F2);
    m_actions[Tags] = make(tr("Tags…"), tr("Add or remove tags of the selected runs"),
                           &RunsView::tagsInteractive);
    m_actions[Notes]
        = make(tr("Notes…"), tr("Edit the selected run's notes"), &RunsView::notesInteractive);
    m_actions[Colour] = make(tr("Colour…"), tr("The run's colour in every comparison plot"),
                             &RunsView::colourInteractive);
    m_actions[Delete]
        = make(tr("Delete…"), tr("Delete the selected runs and their checkpoints (asks first)"),
               &RunsView::deleteInteractive);
    m_actions[Delete]->setShortcut(QKeySequence::Delete);
    m_actions[Resume]
        = make(tr("Resume"), tr("Continue the interrupted run from its last checkpoint"),
               &RunsView::resumeSelected);
    m_actions[Probe] = make(tr("Run probes"),
                            tr("Linear-separability probes of every layer of the finished run"),
                            &RunsView::probeSelected);
    m_actions[Branch] = make(tr("Branch…"),
                             tr("Keep the first k trained stages and design the rest in the "
                                "designer"),
                             &RunsView::branchInteractive);
    m_actions[OpenSpec] = make(tr("Open spec"), tr("Open the run's spec in the designer"),
                               &RunsView::openSpecSelected);
    m_actions[Export] = make(tr("Export…"),
                             tr("Export the selected runs (summary, stages, probes, every metric) "
                                "to CSV or JSON"),
                             &RunsView::exportInteractive);
    m_actions[ExportNetwork]
        = make(tr("Export Network…"),
               tr("Export the run's trained network: TorchScript, ONNX, or PyTorch weights "
                  "with a generated model.py"),
               &RunsView::exportNetworkInteractive);
    m_actions[Refresh] = make(tr("Refresh"), tr("Read the store again now"), [this] {
        m_token.reset();
        refreshNow();
    });
    m_actions[Refresh]->setShortcut(QKeySequence::Refresh);
}

bool RunsView::setStore(const QString &dbPath)
{
    auto store = RunStore::open(dbPath.toStdString());
    if (!store) {
        m_error = QString::fromStdString(store.message());
        setStore(std::shared_ptr<RunStore>());
        m_error = QString::fromStdString(store.message());
        Q_EMIT storeError(m_error);
        return false;
    }
    setStore(std::shared_ptr<RunStore>(std::move(store.value())));
    return true;
}

void RunsView::setStore(std::shared_ptr<RunStore> store)
{
    m_store = std::move(store);
    m_error.clear();
    m_token.reset();
    if (m_store) {
        auto token = m_store->changeToken();
        if (token)
            m_token = token.value();
    }
    m_compare->setStore(m_store);
    m_pictures->setStore(m_store);
    m_model->setStore(m_store);
    if (m_store && m_pollTimer->interval() > 0)
        m_pollTimer->start();
    else
        m_pollTimer->stop();
    updateActions();
}

void RunsView::setPollInterval(int ms)
{
    m_pollTimer->setInterval(std::max(ms, 0));
    if (ms <= 0)
        m_pollTimer->stop();
    else if (m_store)
        m_pollTimer->start();
}

void RunsView::refreshNow()
{
    if (!m_store)
        return;
    auto token = m_store->changeToken();
    if (!token) {
        fail(QString::fromStdString(token.message()));
        return;
    }
    if (m_token && *m_token == token.value() && !runningRunGone())
        return;
    m_token = token.value();
    m_model->refresh();
    updateEmptyText();
    m_compare->refresh();
    updateCountLabel();
    updateTagChoices();
    updateActions();
}

bool RunsView::runningRunGone() const
{
    // A process killed while recording changes nothing in the store: its runs read as
    // interrupted (the store checks their locks) only when they are read again.
    for (int i = 0; i < m_model->rowCount(); ++i) {
        const RunRow &r = m_model->runAt(i);
        if (r.status == RunStatus::Running && !m_store->isLive(r.id))
            return true;
    }
    return false;
}

void RunsView::updateEmptyText()
{
    if (!m_compare)
        return;
    const RunFilter &f = m_model->filter();
    const bool filtered = !f.text.empty() || f.status || f.mode || !f.tag.empty();
    if (m_model->rowCount() > 0)
        m_compare->setEmptyText(tr("Select runs in the table to compare them\n"
                                   "(Ctrl- or Shift-click to select several)"));
    else if (filtered)
        m_compare->setEmptyText(tr("No run matches the filter above."));
    else
        m_compare->setEmptyText(
            tr("No runs yet.\nTo make one, open the Train view (Ctrl+2), choose an architecture "
               "and the data,\nand press Start Training. Every run is recorded here, also those "
               "started with layerwise-cli."));
}

void RunsView::applyFilter()
{
    m_filterTimer->stop();
    RunFilter f;
    f.text = m_filterEdit->text().trimmed().toStdString();
    if (m_statusBox->currentIndex() > 0)
        f.status = RunStatus(m_statusBox->currentData().toInt());
    if (m_modeBox->currentIndex() > 0)
        f.mode = TrainMode(m_modeBox->currentData().toInt());
    f.tag = m_tagBox->currentText().trimmed().toStdString();
    const RunFilter &old = m_model->filter();
    if (old.text == f.text && old.status == f.status && old.mode == f.mode && old.tag == f.tag)
        return;
    m_model->setFilter(f);
}

void RunsView::setFilterText(const QString &text)
{
    m_filterEdit->setText(text);
    applyFilter();
}

void RunsView::setStatusFilter(std::optional<RunStatus> status)
{
    m_statusBox->setCurrentIndex(status ? m_statusBox->findData(int(*status)) : 0);
    applyFilter();
}

void RunsView::setModeFilter(std::optional<TrainMode> mode)
{
    m_modeBox->setCurrentIndex(mode ? m_modeBox->findData(int(*mode)) : 0);
    applyFilter();
}

void RunsView::setTagFilter(const QString &tag)
{
    m_tagBox->setCurrentText(tag);
    applyFilter();
}

QList<qint64> RunsView::selectedRunIds() const
{
    QList<int> rows;
    for (const auto &idx : m_table->selectionModel()->selectedRows())
        rows << idx.row();
    std::sort(rows.begin(), rows.end());
    QList<qint64> ids;
    for (int r : rows)
        ids << m_model->runAt(r).id;
    return ids;
}

void RunsView::selectRuns(const QList<qint64> &ids)
{
    QItemSelection sel;
    for (qint64 id : ids) {
        const int row = m_model->rowOfRun(id);
        if (row >= 0)
            sel.select(m_model->index(row, 0),
                       m_model->index(row, RunsTableModel::ColumnCount - 1));
    }
    m_table->selectionModel()->select(sel, QItemSelectionModel::ClearAndSelect);
    if (!sel.isEmpty())
        m_table->scrollTo(sel.first().topLeft());
}

void RunsView::onSelectionChanged()
{
    if (m_restoring)
        return;
    const QList<qint64> ids = selectedRunIds();
    if (ids != m_compare->runs())
        m_compare->setRuns(ids);
    m_pictures->setRuns(ids);
    updateActions();
    Q_EMIT selectionChanged(ids);
}

std::optional<RunRow> RunsView::singleSelected() const
{
    const auto rows = m_table->selectionModel()->selectedRows();
    if (rows.size() != 1)
        return std::nullopt;
    return m_model->runAt(rows.first().row());
}

void RunsView::updateActions()
{
    const int n = m_store ? int(m_table->selectionModel()->selectedRows().size()) : 0;
    const bool writable = m_store && !m_store->readOnly();
    const auto one = singleSelected();
    m_actions[Rename]->setEnabled(writable && one.has_value());
    m_actions[Notes]->setEnabled(writable && one.has_value());
    m_actions[Colour]->setEnabled(one.has_value());
    m_actions[Tags]->setEnabled(writable && n > 0);
    m_actions[Delete]->setEnabled(writable && n > 0);
    m_actions[Export]->setEnabled(n > 0);
    m_actions[OpenSpec]->setEnabled(one.has_value());
    const bool resumable
        = one
          && (one->status == RunStatus::Interrupted || one->status == RunStatus::Cancelled
              || one->status == RunStatus::Failed);
    m_actions[Resume]->setEnabled(writable && resumable);
    m_actions[Probe]->setEnabled(writable && one && one->status == RunStatus::Finished);
    m_actions[Branch]->setEnabled(one && one->mode != TrainMode::EndToEnd && one->stagesDone > 0);
    m_actions[ExportNetwork]->setEnabled(one && one->stagesDone > 0);
    m_actions[Refresh]->setEnabled(m_store != nullptr);
}

void RunsView::updateCountLabel()
{
    if (!m_store) {
        m_countLabel->setText(tr("no run store"));
        return;
    }
    const auto total = m_model->totalCount();
    m_countLabel->setText(total == 1 ? tr("1 run") : tr("%L1 runs").arg(total));
}

void RunsView::updateTagChoices()
{
    QSet<QString> tags;
    for (int r = 0; r < m_model->rowCount(); ++r)
        for (const auto &t : m_model->runAt(r).tags)
            tags.insert(QString::fromStdString(t));
    QStringList sorted(tags.begin(), tags.end());
    sorted.sort(Qt::CaseInsensitive);
    QStringList current;
    for (int i = 0; i < m_tagBox->count(); ++i)
        current << m_tagBox->itemText(i);
    sorted.prepend(QString());
    if (current == sorted)
        return;
    const QString text = m_tagBox->currentText();
    const QSignalBlocker block(m_tagBox);
    m_tagBox->clear();
    m_tagBox->addItems(sorted);
    m_tagBox->setCurrentText(text);
}

bool RunsView::fail(const QString &message)
{
    m_error = message;
    Q_EMIT storeError(message);
    return false;
}

// ---- actions without dialogs ----------------------------------------------------------------

bool RunsView::renameRun(qint64 id, const QString &name)
{
    if (!m_store)
        return fail(tr("No run store is open"));
    auto r = m_store->rename(id, name.trimmed().toStdString());
    refreshNow();
    return r ? true : fail(QString::fromStdString(r.message()));
}

bool RunsView::addTags(const QList<qint64> &ids, const QStringList &tags)
{
    if (!m_store)
        return fail(tr("No run store is open"));
    const auto list = toStd(tags);
    bool ok = true;
    for (qint64 id : ids) {
        auto r = m_store->addTags(id, list);
        if (!r) {
            ok = fail(QString::fromStdString(r.message()));
            break;
        }
    }
    refreshNow();
    return ok;
}

bool RunsView::removeTags(const QList<qint64> &ids, const QStringList &tags)
{
    if (!m_store)
        return fail(tr("No run store is open"));
    bool ok = true;
    for (qint64 id : ids) {
        for (const auto &t : toStd(tags)) {
            auto r = m_store->removeTag(id, t);
            if (!r) {
                ok = fail(QString::fromStdString(r.message()));
                break;
            }
        }
    }
    refreshNow();
    return ok;
}

bool RunsView::setNotes(qint64 id, const QString &notes)
{
    if (!m_store)
        return fail(tr("No run store is open"));
    auto r = m_store->setNotes(id, notes.toStdString());
    refreshNow();
    return r ? true : fail(QString::fromStdString(r.message()));
}

bool RunsView::setRunColour(qint64 id, const QColor &colour)
{
    if (!m_store)
        return fail(tr("No run store is open"));
    if (!colour.isValid())
        return fail(tr("Run %1: not a colour").arg(id));
    if (m_compare->runs().contains(id)) {
        m_compare->setRunColor(id, colour); // stores it too
    } else if (auto r = m_store->setColour(id, colour.name().toStdString()); !r) {
        return fail(QString::fromStdString(r.message()));
    }
    refreshNow();
    return true;
}

bool RunsView::deleteRuns(const QList<qint64> &ids)
{
    if (!m_store)
        return fail(tr("No run store is open"));
    bool ok = true;
    for (qint64 id : ids) {
        auto r = m_store->deleteRun(id);
        if (!r) {
            ok = fail(QString::fromStdString(r.message()));
            break;
        }
    }
    refreshNow();
    return ok;
}

bool RunsView::exportRuns(const QList<qint64> &ids, const QString &path)
{
    if (!m_store)
        return fail(tr("No run store is open"));
    const std::vector<std::int64_t> v(ids.begin(), ids.end());
    const bool csv = path.endsWith(QLatin1String(".csv"), Qt::CaseInsensitive);
    auto text = csv ? m_store->exportCsv(v) : m_store->exportJson(v);
    if (!text)
        return fail(QString::fromStdString(text.message()));
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly)
        || f.write(text->data(), qint64(text->size())) != qint64(text->size()) || !f.commit())
        return fail(tr("Could not write %1: %2").arg(path, f.errorString()));
    return true;
}

QByteArray RunsView::saveState() const
{
    return m_table->horizontalHeader()->saveState();
}

bool RunsView::restoreState(const QByteArray &state)
{
    return m_table->horizontalHeader()->restoreState(state);
}

} // namespace lw
