// The Runs view's actions that ask the user first (dialogs, menus); the rest of the view is in
// runsview.cpp.
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

QStringList splitTags(const QString &text)
{
    QStringList out;
    for (const auto &t : text.split(QLatin1Char(','), Qt::SkipEmptyParts))
        if (!t.trimmed().isEmpty())
            out << t.trimmed();
    return out;
}

} // namespace

// ---- interactive actions --------------------------------------------------------------------

void RunsView::renameInteractive()
{
    const auto run = singleSelected();
    if (!run)
        return;
    bool ok = false;
    const QString name
        = QInputDialog::getText(this, tr("Rename run"), tr("Name:"), QLineEdit::Normal,
                                QString::fromStdString(run->name), &ok);
    if (ok && !renameRun(run->id, name))
        QMessageBox::warning(this, tr("Rename run"), m_error);
}

void RunsView::tagsInteractive()
{
    const QList<qint64> ids = selectedRunIds();
    if (ids.isEmpty())
        return;
    // Tags present on the selection (unchecking one removes it from every selected run).
    QSet<QString> present;
    for (qint64 id : ids) {
        const int row = m_model->rowOfRun(id);
        if (row >= 0)
            for (const auto &t : m_model->runAt(row).tags)
                present.insert(QString::fromStdString(t));
    }
    QStringList presentList(present.begin(), present.end());
    presentList.sort(Qt::CaseInsensitive);

    QDialog dialog(this);
    dialog.setWindowTitle(ids.size() == 1 ? tr("Tags of 1 run")
                                          : tr("Tags of %1 runs").arg(ids.size()));
    auto *add = new QLineEdit;
    add->setPlaceholderText(tr("comma-separated, e.g. baseline, paper"));
    QStringList known;
    for (int i = 1; i < m_tagBox->count(); ++i)
        known << m_tagBox->itemText(i);
    add->setCompleter(new QCompleter(known, add));
    auto *list = new QListWidget;
    for (const auto &t : presentList) {
        auto *item = new QListWidgetItem(t, list);
        item->setFlags(item->flags() | Qt::ItemIsUserCheckable);
        item->setCheckState(Qt::Checked);
    }
    list->setVisible(!presentList.isEmpty());
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    auto *form = new QFormLayout(&dialog);
    form->addRow(tr("Add tags:"), add);
    if (!presentList.isEmpty())
        form->addRow(tr("Keep (uncheck to remove):"), list);
    form->addRow(buttons);
    if (dialog.exec() != QDialog::Accepted)
        return;
    QStringList remove;
    for (int i = 0; i < list->count(); ++i)
        if (list->item(i)->checkState() == Qt::Unchecked)
            remove << list->item(i)->text();
    const QStringList adds = splitTags(add->text());
    if ((!adds.isEmpty() && !addTags(ids, adds)) || (!remove.isEmpty() && !removeTags(ids, remove)))
        QMessageBox::warning(this, tr("Tags"), m_error);
}

void RunsView::notesInteractive()
{
    const auto run = singleSelected();
    if (!run)
        return;
    bool ok = false;
    const QString notes = QInputDialog::getMultiLineText(
        this, tr("Notes"), tr("Notes of %1:").arg(QString::fromStdString(run->name)),
        QString::fromStdString(run->notes), &ok);
    if (ok && !setNotes(run->id, notes))
        QMessageBox::warning(this, tr("Notes"), m_error);
}

void RunsView::colourInteractive()
{
    const auto run = singleSelected();
    if (!run)
        return;
    QColor current(QString::fromStdString(run->colour));
    if (m_compare->runs().contains(run->id))
        current = m_compare->runColor(run->id);
    const QColor c
        = QColorDialog::getColor(current.isValid() ? current : QColor(Qt::gray), this,
                                 tr("Colour of %1").arg(QString::fromStdString(run->name)));
    if (c.isValid() && !setRunColour(run->id, c))
        QMessageBox::warning(this, tr("Colour"), m_error);
}

void RunsView::deleteInteractive()
{
    const QList<qint64> ids = selectedRunIds();
    if (ids.isEmpty())
        return;
    QStringList names;
    for (qint64 id : ids.mid(0, 8)) {
        const int row = m_model->rowOfRun(id);
        names << QStringLiteral("• %1 (run %2)")
                     .arg(row >= 0 ? QString::fromStdString(m_model->runAt(row).name) : QString())
                     .arg(id);
    }
    if (ids.size() > 8)
        names << tr("… and %1 more").arg(ids.size() - 8);
    QMessageBox box(QMessageBox::Warning, tr("Delete runs"),
                    ids.size() == 1 ? tr("Delete this run?")
                                    : tr("Delete %1 runs?").arg(ids.size()),
                    QMessageBox::Cancel, this);
    box.setInformativeText(names.join(QLatin1Char('\n'))
                           + tr("\n\nTheir metrics and their checkpoint folders (runs/<id>/) are "
                                "removed. This cannot be undone."));
    auto *del = box.addButton(tr("Delete"), QMessageBox::DestructiveRole);
    box.setDefaultButton(QMessageBox::Cancel);
    box.exec();
    if (box.clickedButton() != del)
        return;
    if (!deleteRuns(ids))
        QMessageBox::warning(this, tr("Delete runs"), m_error);
}

void RunsView::exportInteractive()
{
    const QList<qint64> ids = selectedRunIds();
    if (ids.isEmpty())
        return;
    QString filter;
    const QString path = QFileDialog::getSaveFileName(
        this, tr("Export runs"),
        ids.size() == 1 ? tr("run-%1.csv").arg(ids.first()) : tr("runs.csv"),
        tr("Tidy CSV (*.csv);;JSON (*.json)"), &filter);
    if (path.isEmpty())
        return;
    if (!exportRuns(ids, path))
        QMessageBox::warning(this, tr("Export runs"), m_error);
}

void RunsView::exportNetworkInteractive()
{
    const auto run = singleSelected();
    if (!run || !m_store)
        return;
    auto choices = exportChoices(*m_store, run->id);
    if (!choices || choices->finished.empty()) {
        QMessageBox::warning(this, tr("Export Network"),
                             choices
                                 ? tr("Run %1 has no finished stage to export yet.").arg(run->id)
                                 : QString::fromStdString(choices.message()));
        return;
    }
    ExportDialog dialog(*m_store, run->id, *choices, this);
    dialog.exec();
}

void RunsView::resumeSelected()
{
    if (const auto run = singleSelected())
        Q_EMIT resumeRequested(run->id);
}

void RunsView::probeSelected()
{
    if (const auto run = singleSelected())
        Q_EMIT probeRequested(run->id);
}

void RunsView::branchInteractive()
{
    const auto run = singleSelected();
    if (!run || !m_store)
        return;
    bool ok = false;
    const int k = QInputDialog::getInt(
        this, tr("Branch from a stage"),
        tr("Keep the first k trained stages of '%1' (their checkpoints) and design the rest:")
            .arg(QString::fromStdString(run->name)),
        run->stagesDone, 1, run->stagesDone, 1, &ok);
    if (!ok)
        return;
    auto detail = m_store->getRun(run->id);
    if (!detail) {
        QMessageBox::warning(this, tr("Branch"), QString::fromStdString(detail.message()));
        return;
    }
    auto spec = parseSpec(detail->specJson);
    if (!spec) {
        QMessageBox::warning(this, tr("Branch"),
                             tr("Run %1: its stored spec is invalid: %2")
                                 .arg(run->id)
                                 .arg(QString::fromStdString(spec.message())));
        return;
    }
    Q_EMIT branchRequested(run->id, k, *spec);
}

void RunsView::openSpecSelected()
{
    const auto run = singleSelected();
    if (!run || !m_store)
        return;
    auto detail = m_store->getRun(run->id);
    if (!detail) {
        QMessageBox::warning(this, tr("Open spec"), QString::fromStdString(detail.message()));
        return;
    }
    auto spec = parseSpec(detail->specJson);
    if (!spec) {
        QMessageBox::warning(this, tr("Open spec"),
                             tr("Run %1: its stored spec is invalid: %2")
                                 .arg(run->id)
                                 .arg(QString::fromStdString(spec.message())));
        return;
    }
    Q_EMIT openSpecRequested(*spec);
}

void RunsView::showHeaderMenu(const QPoint &pos)
{
    QMenu menu(this);
    auto *header = m_table->horizontalHeader();
    for (int c = 0; c < RunsTableModel::ColumnCount; ++c) {
        auto *a = menu.addAction(m_model->headerData(c, Qt::Horizontal).toString());
        a->setCheckable(true);
        a->setChecked(!header->isSectionHidden(c));
        connect(a, &QAction::toggled, this,
                [this, c](bool on) { m_table->setColumnHidden(c, !on); });
    }
    menu.exec(header->mapToGlobal(pos));
}

void RunsView::showTableMenu(const QPoint &pos)
{
    QMenu menu(this);
    menu.addActions({m_actions[Rename], m_actions[Tags], m_actions[Notes], m_actions[Colour]});
    menu.addSeparator();
    menu.addActions({m_actions[Resume], m_actions[Probe], m_actions[Branch], m_actions[OpenSpec]});
    menu.addSeparator();
    menu.addActions({m_actions[Export], m_actions[ExportNetwork], m_actions[Delete]});
    menu.exec(m_table->viewport()->mapToGlobal(pos));
}

} // namespace lw
