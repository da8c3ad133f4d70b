#pragma once

#include "core/spec/spec.h"
#include "core/store/runstore.h"

#include <QList>
#include <QString>
#include <QStringList>
#include <QWidget>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>

class QAction;
class QColor;
class QComboBox;
class QLabel;
class QLineEdit;
class QTableView;
class QTimer;

namespace lw {

class RunCompareView;
class RunPicturesView;
class RunsTableModel;

/// The Runs view: every run of a store in a sortable, filterable table (fetched lazily), the
/// actions on runs (rename, tags, notes, delete, export, resume, probes, branch, open spec) and
/// the comparison of the selected runs below it. Polls the store's changeToken() and refreshes
/// in place, keeping selection, sort, scroll and zoom, so runs recorded by another process or
/// the Train view update live. Actions that need the engine or the designer are signals.
class RunsView : public QWidget
{
    Q_OBJECT

public:
    explicit RunsView(QWidget *parent = nullptr);
    ~RunsView() override;

    /// Opens the store at `dbPath` read-write (read-only when the file is not writable).
    /// Returns false and sets errorString() when it cannot be opened; the view is then empty.
    bool setStore(const QString &dbPath);
    /// Shows `store` (shared with e.g. the Train view; nullptr: no store).
    void setStore(std::shared_ptr<RunStore> store);
    std::shared_ptr<RunStore> store() const { return m_store; }
    /// The latest failure (opening the store, an action), naming the file or run.
    QString errorString() const { return m_error; }

    /// How often changeToken() is polled (default 500 ms; 0 stops polling).
    void setPollInterval(int ms);

    // ---- filter -------------------------------------------------------------------------------
    /// Substring of name, notes, spec, dataset or a tag (applied after a short pause when typed).
    void setFilterText(const QString &text);
    void setStatusFilter(std::optional<RunStatus> status);
    void setModeFilter(std::optional<TrainMode> mode);
    /// Exact tag; empty: any.
    void setTagFilter(const QString &tag);

    // ---- selection ----------------------------------------------------------------------------
    /// Selected run ids in table order.
    QList<qint64> selectedRunIds() const;
    /// Selects these runs (those loaded in the table) and compares them.
    void selectRuns(const QList<qint64> &ids);

    // ---- actions without dialogs (the toolbar's actions ask, then call these) ------------------
    bool renameRun(qint64 id, const QString &name);
    bool addTags(const QList<qint64> &ids, const QStringList &tags);
    bool removeTags(const QList<qint64> &ids, const QStringList &tags);
    bool setNotes(qint64 id, const QString &notes);
    /// The run's colour in comparisons (stored with the run).
    bool setRunColour(qint64 id, const QColor &colour);
    /// Deletes the runs' rows and checkpoint folders. Stops at the first failure (a run another
    /// process is recording cannot be deleted) and sets errorString().
    bool deleteRuns(const QList<qint64> &ids);
    /// Writes the runs (summaries, stages, probes and every metric) to `path`: tidy CSV for
    /// ".csv", a JSON array otherwise.
    bool exportRuns(const QList<qint64> &ids, const QString &path);

    /// Column visibility, order and widths, and the sort (for QSettings).
    QByteArray saveState() const;
    bool restoreState(const QByteArray &state);

    RunsTableModel *model() const { return m_model; }
    QTableView *table() const { return m_table; }
    RunCompareView *compareView() const { return m_compare; }
    /// The "Pictures" tab beside the comparison's curves (ui/inspect).
    RunPicturesView *picturesView() const { return m_pictures; }

public Q_SLOTS:
    /// Polls the store now (what the timer does): when its change token moved, updates the
    /// table rows and the compared runs in place.
    void refreshNow();

Q_SIGNALS:
    /// Continue an interrupted, cancelled or failed run.
    void resumeRequested(qint64 runId);
    /// Run linear-separability probes on a finished run.
    void probeRequested(qint64 runId);
    /// Branch from run `runId`: stages 0..stage-1 come from the run, the designer opens
    /// `spec` (the run's) to design stage `stage` onwards (0-based).
    void branchRequested(qint64 runId, int stage, const lw::Spec &spec);
    /// Open the run's spec in the designer.
    void openSpecRequested(const lw::Spec &spec);
    /// The selection changed (ids in table order).
    void selectionChanged(const QList<qint64> &ids);
    /// A store operation failed; the message says which and why.
    void storeError(const QString &message);

private:
    void buildActions();
    void applyFilter();
    void updateActions();
    void updateCountLabel();
    void updateTagChoices();
    void onSelectionChanged();
    void showHeaderMenu(const QPoint &pos);
    void showTableMenu(const QPoint &pos);
    bool fail(const QString &message);
    std::optional<RunRow> singleSelected() const;
    /// A shown run reads `running` but its recording process is gone (killed).
    bool runningRunGone() const;
    /// The comparison's placeholder: how to make a run, when there is none.
    void updateEmptyText();

    void renameInteractive();
    void tagsInteractive();
    void notesInteractive();
    void colourInteractive();
    void deleteInteractive();
    void exportInteractive();
    void exportNetworkInteractive();
    void resumeSelected();
    void probeSelected();
    void branchInteractive();
    void openSpecSelected();

    std::shared_ptr<RunStore> m_store;
    RunsTableModel *m_model = nullptr;
    QTableView *m_table = nullptr;
    RunCompareView *m_compare = nullptr;
    RunPicturesView *m_pictures = nullptr;
    QLineEdit *m_filterEdit = nullptr;
    QComboBox *m_statusBox = nullptr;
    QComboBox *m_modeBox = nullptr;
    QComboBox *m_tagBox = nullptr;
    QLabel *m_countLabel = nullptr;
    QTimer *m_pollTimer = nullptr;
    QTimer *m_filterTimer = nullptr;
    std::optional<std::uint64_t> m_token;
    QString m_error;
    QList<qint64> m_keepSelection; ///< ids selected before a model reset
    bool m_restoring = false;

    /// The actions on runs, in toolbar order (the toolbar and the table menu show them).
    enum RunAction {
        Rename,
        Tags,
        Notes,
        Colour,
        Delete,
        Resume,
        Probe,
        Branch,
        OpenSpec,
        Export,
        ExportNetwork,
        Refresh
    };
    std::array<QAction *, Refresh + 1> m_actions{}; ///< indexed by RunAction
};

} // namespace lw
