#pragma once

#include "core/store/runstore.h"

#include <QAbstractTableModel>
#include <QHash>
#include <QString>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace lw {

/// The run browser's table: a window over RunStore::listRuns, not a copy of the database.
/// Rows are fetched lazily in pages (canFetchMore/fetchMore); refresh() re-reads only the rows
/// already loaded and turns the difference into row removals, moves, insertions and
/// dataChanged, so views keep their selection and scroll position. Every column sorts in SQL
/// (ORDER BY + LIMIT/OFFSET over the store's precomputed columns), so a sort reads one page
/// whatever the store's size. All calls on the GUI thread.
class RunsTableModel : public QAbstractTableModel
{
    Q_OBJECT

public:
    enum Column {
        Id,
        Name,
        Mode,
        Status,
        Spec,
        Dataset,
        FinalAcc,
        Top5,
        EnsembleAcc,
        BestAcc,
        Stages,
        Params,
        Macs,
        WallTime,
        Device,
        Seed,
        Started,
        Tags,
        Notes,
        Processes, ///< world size of a multi-process run (shown after Device)
        Backend,   ///< its c10d backend
        ColumnCount
    };
    /// Data roles beyond Qt's: the run id (qint64) and a sortable raw value of a cell.
    enum Role { RunIdRole = Qt::UserRole + 1, RawValueRole };

    /// Rows fetched per fetchMore().
    static constexpr int kPageSize = 200;

    explicit RunsTableModel(QObject *parent = nullptr);
    ~RunsTableModel() override;

    /// Replaces the store (nullptr: an empty model) and reloads the first page.
    void setStore(std::shared_ptr<RunStore> store);
    const std::shared_ptr<RunStore> &store() const { return m_store; }

    /// Filters (status, mode, tag, text; limit/offset/order are the model's own). Resets.
    void setFilter(const RunFilter &filter);
    const RunFilter &filter() const { return m_filter; }

    /// Re-reads the loaded rows and applies the difference (no reset). Returns false and sets
    /// errorString() when the store failed.
    bool refresh();
    /// Matching runs in the store (all of them, not only the loaded ones).
    std::int64_t totalCount() const { return m_total; }
    QString errorString() const { return m_error; }

    /// The row of run `id` among the loaded rows, or -1.
    int rowOfRun(std::int64_t id) const;
    /// Precondition: 0 <= row < rowCount().
    const RunRow &runAt(int row) const { return m_rows[std::size_t(row)]; }
    int sortColumn() const { return m_sortColumn; }
    Qt::SortOrder sortOrder() const { return m_sortOrder; }

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;
    bool canFetchMore(const QModelIndex &parent) const override;
    void fetchMore(const QModelIndex &parent) override;
    void sort(int column, Qt::SortOrder order = Qt::AscendingOrder) override;

Q_SIGNALS:
    /// A store call failed; the message names the store and the cause.
    void storeError(const QString &message);

private:
    void reload();
    bool query(int limit, int offset, std::vector<RunRow> &out);
    void applyRows(std::vector<RunRow> rows);
    void setError(const QString &message);

    std::shared_ptr<RunStore> m_store;
    RunFilter m_filter;
    std::vector<RunRow> m_rows;
    std::int64_t m_total = 0;
    int m_sortColumn = Started;
    Qt::SortOrder m_sortOrder = Qt::DescendingOrder;
    QString m_error;
};

/// Same run summary (every field the table shows).
bool sameRow(const RunRow &a, const RunRow &b);

} // namespace lw
