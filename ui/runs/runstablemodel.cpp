#include "ui/runs/runstablemodel.h"

#include "ui/common/format.h"
#include "ui/runs/compareplots.h"
#include "ui/runs/runformat.h"

#include <QColor>
#include <QDateTime>
#include <QSet>

#include <algorithm>
#include <cmath>

namespace lw {

namespace {

RunOrder storeOrder(int column)
{
    switch (column) {
    case RunsTableModel::Id: return RunOrder::Id;
    case RunsTableModel::Name: return RunOrder::Name;
    case RunsTableModel::Mode: return RunOrder::Mode;
    case RunsTableModel::Status: return RunOrder::Status;
    case RunsTableModel::Spec: return RunOrder::SpecName;
    case RunsTableModel::Dataset: return RunOrder::Dataset;
    case RunsTableModel::FinalAcc: return RunOrder::FinalTestAcc;
    case RunsTableModel::Top5: return RunOrder::FinalTestTop5;
    case RunsTableModel::EnsembleAcc: return RunOrder::EnsembleAcc;
    case RunsTableModel::BestAcc: return RunOrder::BestTestAcc;
    case RunsTableModel::Stages: return RunOrder::Stages;
    case RunsTableModel::Params: return RunOrder::Params;
    case RunsTableModel::Macs: return RunOrder::Macs;
    case RunsTableModel::WallTime: return RunOrder::WallSeconds;
    case RunsTableModel::Device: return RunOrder::Device;
    case RunsTableModel::Seed: return RunOrder::Seed;
    case RunsTableModel::Started: return RunOrder::Started;
    case RunsTableModel::Tags: return RunOrder::Tags;
    case RunsTableModel::Notes: return RunOrder::Notes;
    case RunsTableModel::Processes: return RunOrder::WorldSize;
    case RunsTableModel::Backend: return RunOrder::Backend;
    default: return RunOrder::Started;
    }
}

QString joinTags(const std::vector<std::string> &tags)
{
    QStringList list;
    for (const auto &t : tags)
        list << QString::fromStdString(t);
    return list.join(QStringLiteral(", "));
}

QVariant optionalNumber(const std::optional<double> &v)
{
    return v ? QVariant(*v) : QVariant();
}

} // namespace

bool sameRow(const RunRow &a, const RunRow &b)
{
    return a.id == b.id && a.name == b.name && a.mode == b.mode && a.status == b.status
           && a.specName == b.specName && a.dataset == b.dataset && a.device == b.device
           && a.seed == b.seed && a.started == b.started && a.ended == b.ended
           && a.updated == b.updated && a.tags == b.tags && a.notes == b.notes
           && a.message == b.message && a.finalTestAcc == b.finalTestAcc
           && a.bestTestAcc == b.bestTestAcc && a.finalTestTop5 == b.finalTestTop5
           && a.ensembleAcc == b.ensembleAcc && a.colour == b.colour
           && a.wallSeconds == b.wallSeconds && a.params == b.params && a.macs == b.macs
           && a.stages == b.stages && a.stagesDone == b.stagesDone && a.paused == b.paused
           && a.worldSize == b.worldSize && a.backend == b.backend && a.hosts == b.hosts;
}

RunsTableModel::RunsTableModel(QObject *parent)
    : QAbstractTableModel(parent)
{}

RunsTableModel::~RunsTableModel() = default;

void RunsTableModel::setStore(std::shared_ptr<RunStore> store)
{
    m_store = std::move(store);
    reload();
}

void RunsTableModel::setFilter(const RunFilter &filter)
{
    m_filter.status = filter.status;
    m_filter.mode = filter.mode;
    m_filter.tag = filter.tag;
    m_filter.text = filter.text;
    m_filter.parentRun = filter.parentRun;
    reload();
}

void RunsTableModel::sort(int column, Qt::SortOrder order)
{
    if (column < 0 || column >= ColumnCount)
        return;
    if (column == m_sortColumn && order == m_sortOrder && !m_rows.empty())
        return;
    m_sortColumn = column;
    m_sortOrder = order;
    reload();
}

void RunsTableModel::setError(const QString &message)
{
    m_error = message;
    Q_EMIT storeError(message);
}

bool RunsTableModel::query(int limit, int offset, std::vector<RunRow> &out)
{
    RunFilter f = m_filter;
    f.limit = limit;
    f.offset = offset;
    f.orderBy = storeOrder(m_sortColumn);
    f.descending = m_sortOrder == Qt::DescendingOrder;
    auto rows = m_store->listRuns(f);
    if (!rows) {
        setError(QString::fromStdString(rows.message()));
        return false;
    }
    out = std::move(rows.value());
    return true;
}

void RunsTableModel::reload()
{
    beginResetModel();
    m_rows.clear();
    m_total = 0;
    m_error.clear();
    if (m_store) {
        auto count = m_store->countRuns(m_filter);
        if (!count) {
            setError(QString::fromStdString(count.message()));
        } else {
            m_total = count.value();
            query(kPageSize, 0, m_rows);
        }
    }
    endResetModel();
}

bool RunsTableModel::refresh()
{
    if (!m_store)
        return true;
    auto count = m_store->countRuns(m_filter);
    if (!count) {
        setError(QString::fromStdString(count.message()));
        return false;
    }
    m_total = count.value();
    std::vector<RunRow> fresh;
    if (!query(std::max<int>(kPageSize, int(m_rows.size())), 0, fresh))
        return false;
    m_error.clear();
    applyRows(std::move(fresh));
    return true;
}

void RunsTableModel::applyRows(std::vector<RunRow> fresh)
{
    QSet<qint64> freshIds;
    freshIds.reserve(qsizetype(fresh.size()));
    for (const auto &r : fresh)
        freshIds.insert(r.id);

    // 1. Removals, in contiguous blocks from the bottom.
    for (int i = int(m_rows.size()) - 1; i >= 0; --i) {
        if (freshIds.contains(m_rows[std::size_t(i)].id))
            continue;
        const int last = i;
        while (i > 0 && !freshIds.contains(m_rows[std::size_t(i - 1)].id))
            --i;
        beginRemoveRows({}, i, last);
        m_rows.erase(m_rows.begin() + i, m_rows.begin() + last + 1);
        endRemoveRows();
    }

    // 2. Moves: the surviving rows take the fresh order (a layout change keeps selections).
    QHash<qint64, int> oldPos;
    for (int i = 0; i < int(m_rows.size()); ++i)
        oldPos.insert(m_rows[std::size_t(i)].id, i);
    std::vector<int> order; // old positions in the fresh order
    order.reserve(m_rows.size());
    for (const auto &r : fresh) {
        auto it = oldPos.constFind(r.id);
        if (it != oldPos.constEnd())
            order.push_back(*it);
    }
    if (!std::is_sorted(order.begin(), order.end())) {
        Q_EMIT layoutAboutToBeChanged({}, QAbstractItemModel::VerticalSortHint);
        std::vector<int> newPos(order.size());
        std::vector<RunRow> moved;
        moved.reserve(m_rows.size());
        for (std::size_t k = 0; k < order.size(); ++k) {
            newPos[std::size_t(order[k])] = int(k);
            moved.push_back(std::move(m_rows[std::size_t(order[k])]));
        }
        m_rows = std::move(moved);
        const auto persistent = persistentIndexList();
        QModelIndexList to;
        to.reserve(persistent.size());
        for (const auto &idx : persistent)
            to << index(newPos[std::size_t(idx.row())], idx.column());
        changePersistentIndexList(persistent, to);
        Q_EMIT layoutChanged({}, QAbstractItemModel::VerticalSortHint);
    }

    // 3. Insertions, in contiguous blocks.
    for (int i = 0; i < int(fresh.size());) {
        if (i < int(m_rows.size()) && m_rows[std::size_t(i)].id == fresh[std::size_t(i)].id) {
            ++i;
            continue;
        }
        int last = i;
        while (last + 1 < int(fresh.size()) && !oldPos.contains(fresh[std::size_t(last + 1)].id))
            ++last;
        beginInsertRows({}, i, last);
        m_rows.insert(m_rows.begin() + i, fresh.begin() + i, fresh.begin() + last + 1);
        endInsertRows();
        i = last + 1;
    }

    // 4. Changed contents.
    for (int i = 0; i < int(fresh.size()); ++i) {
        if (sameRow(m_rows[std::size_t(i)], fresh[std::size_t(i)]))
            continue;
        int last = i;
        while (last + 1 < int(fresh.size())
               && !sameRow(m_rows[std::size_t(last + 1)], fresh[std::size_t(last + 1)]))
            ++last;
        for (int k = i; k <= last; ++k)
            m_rows[std::size_t(k)] = std::move(fresh[std::size_t(k)]);
        Q_EMIT dataChanged(index(i, 0), index(last, ColumnCount - 1));
        i = last;
    }
}

int RunsTableModel::rowOfRun(std::int64_t id) const
{
    for (int i = 0; i < int(m_rows.size()); ++i)
        if (m_rows[std::size_t(i)].id == id)
            return i;
    return -1;
}

int RunsTableModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_rows.size());
}

int RunsTableModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

bool RunsTableModel::canFetchMore(const QModelIndex &parent) const
{
    return !parent.isValid() && m_store && std::int64_t(m_rows.size()) < m_total;
}

void RunsTableModel::fetchMore(const QModelIndex &parent)
{
    if (!canFetchMore(parent))
        return;
    std::vector<RunRow> page;
    if (!query(kPageSize, int(m_rows.size()), page))
        return;
    // A run inserted meanwhile shifts the pages: skip ids already shown (refresh places it).
    QSet<qint64> have;
    for (const auto &r : m_rows)
        have.insert(r.id);
    page.erase(std::remove_if(page.begin(), page.end(),
                              [&](const RunRow &r) { return have.contains(r.id); }),
               page.end());
    if (page.empty()) {
        m_total = std::int64_t(m_rows.size()); // nothing more to show
        return;
    }
    beginInsertRows({}, int(m_rows.size()), int(m_rows.size() + page.size()) - 1);
    m_rows.insert(m_rows.end(), std::make_move_iterator(page.begin()),
                  std::make_move_iterator(page.end()));
    endInsertRows();
}

QVariant RunsTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount)
        return QAbstractTableModel::headerData(section, orientation, role);
    static const char *const names[]
        = {"ID",     "Name",     "Mode",    "Status", "Spec",   "Dataset", "Test acc",
           "Top-5",  "Ensemble", "Best",    "Stages", "Params", "MACs",    "Wall time",
           "Device", "Seed",     "Started", "Tags",   "Notes",  "Procs",   "Backend"};
    static const char *const tips[]
        = {"Run id",
           "Run name",
           "Training mode: greedy layerwise, end-to-end or decoupled",
           "Run status",
           "Preset or spec file",
           "Dataset",
           "Test accuracy of the last trained stage's head",
           "Top-5 test accuracy of the last epoch (runs with more than 10 classes)",
           "Ensemble accuracy of the latest stage (2^i-weighted heads)",
           "Best epoch's head test accuracy",
           "Stages finished / planned (end-to-end: the network's stages)",
           "Parameters (trunk + final head)",
           "Forward multiply-accumulates per image",
           "Wall time",
           "Device",
           "Random seed",
           "Start time (local)",
           "Tags",
           "Notes",
           "Processes that trained the run together (data-parallel on c10d; 1: one process)",
           "c10d backend of a multi-process run: gloo (CPU) or nccl (CUDA)"};
    if (role == Qt::DisplayRole)
        return tr(names[section]);
    if (role == Qt::ToolTipRole)
        return tr(tips[section]);
    return {};
}

QVariant RunsTableModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= int(m_rows.size()))
        return {};
    const RunRow &r = m_rows[std::size_t(index.row())];
    const int col = index.column();
    if (role == RunIdRole)
        return qint64(r.id);
    if (role == Qt::TextAlignmentRole) {
        switch (col) {
        case Id:
        case FinalAcc:
        case Top5:
        case EnsembleAcc:
        case BestAcc:
        case Stages:
        case Params:
        case Macs:
        case WallTime:
        case Seed:
        case Processes: return int(Qt::AlignRight | Qt::AlignVCenter);
        default: return int(Qt::AlignLeft | Qt::AlignVCenter);
        }
    }
    if (role == Qt::DecorationRole && col == Status)
        return statusColor(r.status);
    if (role == Qt::DecorationRole && col == Name && !r.colour.empty())
        return swatch(QColor(QString::fromStdString(r.colour)), 12);
    if (role == Qt::ToolTipRole) {
        if (col == Status || col == Name) {
            QString tip = statusText(r.status, r.paused);
            if (col == Name)
                tip = QString::fromStdString(r.name)
                      + QStringLiteral(" (run %1, %2)").arg(r.id).arg(tip);
            if (!r.message.empty())
                tip += QStringLiteral(": ") + QString::fromStdString(r.message);
            return tip;
        }
        if (col == Notes)
            return QString::fromStdString(r.notes);
        if (col == Started)
            return QString::fromStdString(formatTimeUtc(r.started));
        if ((col == Processes || col == Backend) && r.worldSize > 1)
            return processesText(r.worldSize, r.backend, r.hosts);
        return {};
    }
    if (role == RawValueRole) {
        switch (col) {
        case Id: return qint64(r.id);
        case FinalAcc: return optionalNumber(r.finalTestAcc);
        case Top5: return optionalNumber(r.finalTestTop5);
        case EnsembleAcc: return optionalNumber(r.ensembleAcc);
        case BestAcc: return optionalNumber(r.bestTestAcc);
        case Params: return qint64(r.params);
        case Macs: return qint64(r.macs);
        case WallTime: return r.wallSeconds;
        case Seed: return qint64(r.seed);
        case Processes: return r.worldSize;
        case Started: return r.started;
        default: return data(index, Qt::DisplayRole);
        }
    }
    if (role != Qt::DisplayRole)
        return {};
    switch (col) {
    case Id: return qint64(r.id);
    case Name: return QString::fromStdString(r.name);
    case Mode: return modeText(r.mode);
    case Status: return statusText(r.status, r.paused);
    case Spec: return QString::fromStdString(r.specName);
    case Dataset: return QString::fromStdString(r.dataset);
    case FinalAcc: return formatAccuracy(r.finalTestAcc);
    case Top5: return formatAccuracy(r.finalTestTop5);
    case EnsembleAcc: return formatAccuracy(r.ensembleAcc);
    case BestAcc: return formatAccuracy(r.bestTestAcc);
    case Stages:
        // An end-to-end run trains every stage at once (one stage row): show the depth.
        if (r.mode == TrainMode::EndToEnd)
            return QString::number(r.stages);
        return QStringLiteral("%1/%2").arg(r.stagesDone).arg(r.stages);
    case Params: return r.params > 0 ? compactText(double(r.params)) : QString();
    case Macs: return r.macs > 0 ? compactText(double(r.macs)) : QString();
    case WallTime: return r.wallSeconds > 0 ? durationText(r.wallSeconds) : QString();
    case Device: return QString::fromStdString(r.device);
    case Seed: return qint64(r.seed);
    case Started:
        return QDateTime::fromMSecsSinceEpoch(qint64(r.started * 1000.0))
            .toString(QStringLiteral("yyyy-MM-dd HH:mm"));
    case Tags: return joinTags(r.tags);
    case Processes: return r.worldSize;
    case Backend: return QString::fromStdString(r.backend);
    case Notes: {
        const QString notes = QString::fromStdString(r.notes);
        const auto nl = notes.indexOf(QLatin1Char('\n'));
        return nl < 0 ? notes : notes.left(nl) + QStringLiteral(" …");
    }
    default: return {};
    }
}

} // namespace lw
