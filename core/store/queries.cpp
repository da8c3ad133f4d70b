// Reading the store: the run list with its filters and order, one run's detail, metric rows and
// the change token.
#include "core/store/runstore_p.h"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

namespace fs = std::filesystem;

namespace lw {

namespace {

const char *const kRunColumns
    = "r.id, r.name, r.mode, r.status, r.spec_name, r.dataset, r.dataset_fingerprint, r.device, "
      "r.seed, r.torch_version, r.host, r.pid, r.started, r.ended, r.updated, r.notes, "
      "r.parent_run, r.branch_stage, r.message, r.final_test_acc, r.best_test_acc, "
      "r.wall_seconds, r.params, r.macs, r.stages, "
      "(SELECT group_concat(tag, char(31)) FROM "
      "  (SELECT tag FROM run_tags t WHERE t.run = r.id ORDER BY tag)), "
      "(SELECT count(*) FROM stages s WHERE s.run = r.id AND s.finished IS NOT NULL), "
      "r.probes, r.paused, r.colour, r.final_test_top5, r.ensemble_acc, r.world_size, r.backend, "
      "r.hosts";
/// How many columns kRunColumns selects: a query's own columns follow from this index.
constexpr int kRunColumnCount = 35;

std::vector<std::string> splitTags(const std::string &joined)
{
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= joined.size() && !joined.empty()) {
        std::size_t end = joined.find('\x1f', start);
        if (end == std::string::npos)
            end = joined.size();
        out.push_back(joined.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

/// The ORDER BY expression of `order`; empty texts sort as NULL (last in either direction).
const char *orderColumn(RunOrder order)
{
    switch (order) {
    case RunOrder::Id: return "r.id";
    case RunOrder::Started: return "r.started";
    case RunOrder::Name: return "NULLIF(r.name, '') COLLATE NOCASE";
    case RunOrder::Status: return "r.status";
    case RunOrder::Mode: return "r.mode";
    case RunOrder::FinalTestAcc: return "r.final_test_acc";
    case RunOrder::BestTestAcc: return "r.best_test_acc";
    case RunOrder::WallSeconds: return "r.wall_seconds";
    case RunOrder::Params: return "r.params";
    case RunOrder::EnsembleAcc: return "r.ensemble_acc";
    case RunOrder::FinalTestTop5: return "r.final_test_top5";
    case RunOrder::SpecName: return "NULLIF(r.spec_name, '') COLLATE NOCASE";
    case RunOrder::Dataset: return "NULLIF(r.dataset, '') COLLATE NOCASE";
    case RunOrder::Device: return "NULLIF(r.device, '') COLLATE NOCASE";
    case RunOrder::Seed: return "r.seed";
    case RunOrder::Macs: return "r.macs";
    case RunOrder::Stages:
        return "(SELECT count(*) FROM stages s WHERE s.run = r.id AND s.finished IS NOT NULL) * "
               "10000 + r.stages";
    case RunOrder::Tags:
        return "(SELECT group_concat(tag, ', ') FROM (SELECT tag FROM run_tags t WHERE t.run = "
               "r.id ORDER BY tag)) COLLATE NOCASE";
    case RunOrder::Notes: return "NULLIF(r.notes, '') COLLATE NOCASE";
    case RunOrder::WorldSize: return "r.world_size";
    case RunOrder::Backend: return "NULLIF(r.backend, '') COLLATE NOCASE";
    }
    return "r.started";
}

/// Stored names of the modes whose name or label contains `text` (case-insensitive): "e2e" and
/// "end-to" find end-to-end runs.
std::vector<std::string> modesMatching(const std::string &text)
{
    auto lower = [](std::string s) {
        std::transform(s.begin(), s.end(), s.begin(),
                       [](unsigned char c) { return char(std::tolower(c)); });
        return s;
    };
    const std::string needle = lower(text);
    std::vector<std::string> out;
    for (TrainMode mode : {TrainMode::Greedy, TrainMode::EndToEnd, TrainMode::Decoupled})
        if (lower(toString(mode)).find(needle) != std::string::npos
            || lower(modeLabel(mode)).find(needle) != std::string::npos)
            out.emplace_back(toString(mode));
    return out;
}

std::string likePattern(const std::string &text)
{
    std::string out = "%";
    for (char ch : text) {
        if (ch == '%' || ch == '_' || ch == '\\')
            out += '\\';
        out += ch;
    }
    out += '%';
    return out;
}

/// Every row of `sql`, whose one parameter is the run id, as `read` makes it.
template<typename Read>
auto readRunRows(SQLite::Database &db, const char *sql, std::int64_t id, Read read)
{
    SQLite::Statement st(db, sql);
    st.bind(1, static_cast<std::int64_t>(id));
    std::vector<decltype(read(st))> rows;
    while (st.executeStep())
        rows.push_back(read(st));
    return rows;
}

StageRow stageRow(SQLite::Statement &st)
{
    StageRow s;
    s.stage = st.getColumn(0).getInt();
    s.started = realOr0(st.getColumn(1));
    s.finished = optReal(st.getColumn(2));
    s.blockParams = st.getColumn(3).getInt64();
    s.headParams = st.getColumn(4).getInt64();
    s.blockMacs = st.getColumn(5).getInt64();
    s.headMacs = st.getColumn(6).getInt64();
    s.epochs = st.getColumn(7).getInt();
    s.epochsDone = st.getColumn(8).getInt();
    s.trainAcc = optReal(st.getColumn(9));
    s.testAcc = optReal(st.getColumn(10));
    s.ensembleAcc = optReal(st.getColumn(11));
    s.seconds = realOr0(st.getColumn(12));
    s.imagesPerSecond = realOr0(st.getColumn(13));
    return s;
}

ProbeRow probeRow(SQLite::Statement &st)
{
    ProbeRow p;
    p.afterStage = st.getColumn(0).getInt();
    p.layer = st.getColumn(1).getInt();
    p.trainAcc = realOrNan(st.getColumn(2));
    p.testAcc = realOrNan(st.getColumn(3));
    p.seconds = realOr0(st.getColumn(4));
    return p;
}

/// `runDir` resolves the artifact's path.
ArtifactRow artifactRow(SQLite::Statement &st, const fs::path &runDir)
{
    ArtifactRow a;
    a.id = st.getColumn(0).getInt64();
    a.stage = st.getColumn(1).getInt();
    a.epoch = st.getColumn(2).getInt();
    a.kind = text(st.getColumn(3));
    a.path = text(st.getColumn(4));
    a.created = realOr0(st.getColumn(5));
    a.absolutePath = isContainedRelative(a.path) ? (runDir / a.path).string() : std::string();
    return a;
}

} // namespace

bool RunStore::Impl::runExists(std::int64_t id)
{
    SQLite::Statement st(*db, "SELECT 1 FROM runs WHERE id = ?");
    st.bind(1, static_cast<std::int64_t>(id));
    return st.executeStep();
}

RunRow RunStore::Impl::readRow(SQLite::Statement &st)
{
    RunRow r;
    r.id = st.getColumn(0).getInt64();
    r.name = text(st.getColumn(1));
    r.mode = parseTrainMode(text(st.getColumn(2))).value_or(TrainMode::Greedy);
    r.status = parseRunStatus(text(st.getColumn(3))).value_or(RunStatus::Interrupted);
    r.specName = text(st.getColumn(4));
    r.dataset = text(st.getColumn(5));
    r.datasetFingerprint = text(st.getColumn(6));
    r.device = text(st.getColumn(7));
    r.seed = st.getColumn(8).getInt64();
    r.torchVersion = text(st.getColumn(9));
    r.host = text(st.getColumn(10));
    r.pid = st.getColumn(11).getInt64();
    r.started = realOr0(st.getColumn(12));
    r.ended = optReal(st.getColumn(13));
    r.updated = realOr0(st.getColumn(14));
    r.notes = text(st.getColumn(15));
    if (!st.getColumn(16).isNull())
        r.parentRun = st.getColumn(16).getInt64();
    r.branchStage = st.getColumn(17).getInt();
    r.message = text(st.getColumn(18));
    r.finalTestAcc = optReal(st.getColumn(19));
    r.bestTestAcc = optReal(st.getColumn(20));
    r.wallSeconds = realOr0(st.getColumn(21));
    r.params = st.getColumn(22).getInt64();
    r.macs = st.getColumn(23).getInt64();
    r.stages = st.getColumn(24).getInt();
    r.tags = splitTags(text(st.getColumn(25)));
    r.stagesDone = st.getColumn(26).getInt();
    r.probes = st.getColumn(27).getInt() != 0;
    r.paused = st.getColumn(28).getInt() != 0;
    r.colour = text(st.getColumn(29));
    r.finalTestTop5 = optReal(st.getColumn(30));
    r.ensembleAcc = optReal(st.getColumn(31));
    r.worldSize = st.getColumn(32).getInt();
    r.backend = text(st.getColumn(33));
    r.hosts = text(st.getColumn(34));
    // One definition for every reader: `running` without a live holder of the run's lock is a
    // run whose process is gone, whether or not a writer has marked it yet.
    if (r.status == RunStatus::Running && !lockHeld(r.id)) {
        r.status = RunStatus::Interrupted;
        r.paused = false;
        r.message = interruptedMessage(r.pid, r.host);
        if (!r.ended)
            r.ended = r.updated;
    }
    if (r.status != RunStatus::Running)
        r.paused = false;
    return r;
}

RunStore::Impl::Where RunStore::Impl::where(const RunFilter &f)
{
    Where w;
    std::vector<std::string> parts;
    auto param = [&w](std::variant<std::string, std::int64_t> v) {
        w.values.push_back(std::move(v));
        // Appended, not "?" + ...: GCC 12 warns falsely (-Wrestrict) on that form out of line.
        std::string name = "?";
        name += std::to_string(w.values.size());
        return name;
    };
    // A run recorded `running` may read as interrupted (readRow): the interrupted filter takes
    // both and statusMatches() keeps what reads as asked.
    if (f.status == RunStatus::Interrupted)
        parts.push_back("r.status IN ('interrupted', 'running')");
    else if (f.status)
        parts.push_back("r.status = " + param(std::string(toString(*f.status))));
    if (f.mode)
        parts.push_back("r.mode = " + param(std::string(toString(*f.mode))));
    if (f.parentRun)
        parts.push_back("r.parent_run = " + param(*f.parentRun));
    if (!f.tag.empty())
        parts.push_back("EXISTS (SELECT 1 FROM run_tags t WHERE t.run = r.id AND t.tag = "
                        + param(f.tag) + ")");
    if (!f.text.empty()) {
        const std::string p = param(likePattern(f.text));
        const std::string like = " LIKE " + p + " ESCAPE '\\'";
        std::string modes;
        for (const auto &mode : modesMatching(f.text))
            modes += " OR r.mode = " + param(mode);
        parts.push_back("(r.name" + like + " OR r.notes" + like + " OR r.spec_name" + like
                        + " OR r.dataset" + like
                        + " OR EXISTS (SELECT 1 FROM run_tags t WHERE t.run = r.id AND t.tag" + like
                        + ")" + modes + ")");
    }
    for (std::size_t i = 0; i < parts.size(); ++i)
        w.sql += (i == 0 ? " WHERE " : " AND ") + parts[i];
    return w;
}

void RunStore::Impl::bindWhere(SQLite::Statement &st, const Where &w)
{
    for (std::size_t i = 0; i < w.values.size(); ++i) {
        const int index = static_cast<int>(i + 1);
        if (auto *t = std::get_if<std::string>(&w.values[i]))
            st.bind(index, *t);
        else
            st.bind(index, static_cast<std::int64_t>(std::get<std::int64_t>(w.values[i])));
    }
}

std::vector<MetricRow> RunStore::Impl::readMetrics(std::int64_t id, std::int64_t since)
{
    SQLite::Statement st(*db, "SELECT id, stage, epoch, step, split, metric, value FROM "
                              "metrics WHERE run = ? AND id > ? ORDER BY id");
    st.bind(1, static_cast<std::int64_t>(id));
    st.bind(2, static_cast<std::int64_t>(since));
    std::vector<MetricRow> out;
    while (st.executeStep()) {
        MetricRow m;
        m.rowId = st.getColumn(0).getInt64();
        m.stage = st.getColumn(1).getInt();
        m.epoch = st.getColumn(2).getInt();
        m.step = st.getColumn(3).getInt64();
        m.split = text(st.getColumn(4));
        m.metric = text(st.getColumn(5));
        m.value = realOrNan(st.getColumn(6));
        out.push_back(std::move(m));
    }
    return out;
}

Result<RunDetail> RunStore::Impl::readDetail(std::int64_t id)
{
    RunDetail d;
    {
        SQLite::Statement st(*db, std::string("SELECT ") + kRunColumns
                                      + ", r.spec_json, r.recipe_json FROM runs r WHERE "
                                        "r.id = ?");
        st.bind(1, static_cast<std::int64_t>(id));
        if (!st.executeStep())
            return runNotFound(id);
        d.run = readRow(st);
        d.specJson = text(st.getColumn(kRunColumnCount));
        d.recipeJson = text(st.getColumn(kRunColumnCount + 1));
    }
    d.stages = readRunRows(*db,
                           "SELECT stage, started, finished, block_params, head_params, "
                           "block_macs, head_macs, epochs, epochs_done, train_acc, test_acc, "
                           "ensemble_acc, seconds, images_per_second FROM stages WHERE run = ? "
                           "ORDER BY stage",
                           id, stageRow);
    d.probes = readRunRows(*db,
                           "SELECT after_stage, layer, train_acc, test_acc, seconds FROM probes "
                           "WHERE run = ? ORDER BY after_stage, layer",
                           id, probeRow);
    const fs::path dir = runDir(id);
    d.artifacts = readRunRows(*db,
                              "SELECT id, stage, epoch, kind, path, created FROM artifacts "
                              "WHERE run = ? ORDER BY id",
                              id, [&dir](SQLite::Statement &st) { return artifactRow(st, dir); });
    return d;
}

// ---- reading ---------------------------------------------------------------------------------

Result<std::vector<RunRow>> RunStore::listRuns(const RunFilter &filter) const
{
    LW_STORE_GUARD("listing runs", {
        auto w = m->where(filter);
        std::string sql = std::string("SELECT ") + kRunColumns + " FROM runs r" + w.sql
                          + " ORDER BY " + orderColumn(filter.orderBy)
                          + (filter.descending ? " DESC" : " ASC") + " NULLS LAST, r.id"
                          + (filter.descending ? " DESC" : " ASC");
        if (filter.limit >= 0 || filter.offset > 0)
            sql += " LIMIT " + std::to_string(filter.limit >= 0 ? filter.limit : -1) + " OFFSET "
                   + std::to_string(std::max(0, filter.offset));
        SQLite::Statement st(*m->db, sql);
        Impl::bindWhere(st, w);
        std::vector<RunRow> rows;
        while (st.executeStep()) {
            RunRow row = m->readRow(st);
            if (!filter.status || row.status == *filter.status)
                rows.push_back(std::move(row));
        }
        return rows;
    });
}

Result<std::int64_t> RunStore::countRuns(const RunFilter &filter) const
{
    if (filter.status == RunStatus::Running || filter.status == RunStatus::Interrupted) {
        // Whether a `running` row reads as running depends on its lock: count what reads so.
        RunFilter all = filter;
        all.limit = -1;
        all.offset = 0;
        auto rows = listRuns(all);
        if (!rows)
            return rows.error();
        return static_cast<std::int64_t>(rows->size());
    }
    LW_STORE_GUARD("counting runs", {
        auto w = m->where(filter);
        SQLite::Statement st(*m->db, "SELECT count(*) FROM runs r" + w.sql);
        Impl::bindWhere(st, w);
        st.executeStep();
        return static_cast<std::int64_t>(st.getColumn(0).getInt64());
    });
}

Result<RunDetail> RunStore::getRun(std::int64_t id) const
{
    LW_STORE_GUARD("reading run " + std::to_string(id), {
        // One read transaction: the parts of the detail come from one snapshot.
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::DEFERRED);
        auto d = m->readDetail(id);
        tx.commit();
        return d;
    });
}

Result<bool> RunStore::exists(std::int64_t id) const
{
    LW_STORE_GUARD("reading run " + std::to_string(id), { return m->runExists(id); });
}

Result<std::vector<MetricRow>> RunStore::metrics(std::int64_t id, std::int64_t sinceRowId) const
{
    LW_STORE_GUARD("reading metrics of run " + std::to_string(id),
                   { return m->readMetrics(id, sinceRowId); });
}

Result<std::uint64_t> RunStore::changeToken() const
{
    LW_STORE_GUARD("checking for changes", {
        SQLite::Statement st(*m->db, "PRAGMA data_version");
        st.executeStep();
        const auto other = static_cast<std::uint64_t>(st.getColumn(0).getInt64());
        const auto own = static_cast<std::uint64_t>(sqlite3_total_changes64(m->db->getHandle()));
        return (other << 32) ^ own;
    });
}

} // namespace lw
