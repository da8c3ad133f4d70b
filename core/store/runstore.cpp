#include "core/store/runstore.h"

#include "core/util/fsutil.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <sys/file.h>
#include <tuple>
#include <unistd.h>
#include <variant>

namespace fs = std::filesystem;

namespace lw {

namespace {

// ---- schema ---------------------------------------------------------------------------------
// Forward migrations: kMigrations[v - 1] takes a database from schema v - 1 to v. A fresh
// database runs all of them, so every step is exercised on every new store.

const char *const kMigrationV1 = R"sql(
CREATE TABLE schema_version (
    version INTEGER PRIMARY KEY,
    applied REAL NOT NULL
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL DEFAULT '',
    mode TEXT NOT NULL CHECK (mode IN ('greedy', 'e2e', 'dgl')),
    status TEXT NOT NULL
        CHECK (status IN ('running', 'finished', 'failed', 'cancelled', 'interrupted')),
    spec_json TEXT NOT NULL DEFAULT '',
    recipe_json TEXT NOT NULL DEFAULT '',
    spec_name TEXT NOT NULL DEFAULT '',
    dataset TEXT NOT NULL DEFAULT '',
    dataset_fingerprint TEXT NOT NULL DEFAULT '',
    device TEXT NOT NULL DEFAULT '',
    seed INTEGER NOT NULL DEFAULT 0,
    torch_version TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL DEFAULT '',
    pid INTEGER NOT NULL DEFAULT 0,
    started REAL NOT NULL,
    ended REAL,
    notes TEXT NOT NULL DEFAULT '',
    parent_run INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    branch_stage INTEGER NOT NULL DEFAULT -1,
    message TEXT NOT NULL DEFAULT '',
    final_test_acc REAL,
    best_test_acc REAL,
    wall_seconds REAL DEFAULT 0,
    params INTEGER NOT NULL DEFAULT 0,
    macs INTEGER NOT NULL DEFAULT 0,
    stages INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_started ON runs(started);
CREATE INDEX runs_parent ON runs(parent_run);
CREATE TABLE run_tags (
    run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (run, tag)
) WITHOUT ROWID;
CREATE TABLE stages (
    run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    stage INTEGER NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    block_params INTEGER NOT NULL DEFAULT 0,
    head_params INTEGER NOT NULL DEFAULT 0,
    block_macs INTEGER NOT NULL DEFAULT 0,
    head_macs INTEGER NOT NULL DEFAULT 0,
    epochs INTEGER NOT NULL DEFAULT 0,
    epochs_done INTEGER NOT NULL DEFAULT 0,
    train_acc REAL,
    test_acc REAL,
    ensemble_acc REAL,
    seconds REAL DEFAULT 0,
    PRIMARY KEY (run, stage)
) WITHOUT ROWID;
CREATE TABLE metrics (
    id INTEGER PRIMARY KEY,
    run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    stage INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    step INTEGER NOT NULL,
    split TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL
);
CREATE INDEX metrics_run ON metrics(run);
CREATE TABLE probes (
    run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    after_stage INTEGER NOT NULL,
    layer INTEGER NOT NULL,
    train_acc REAL,
    test_acc REAL,
    seconds REAL DEFAULT 0,
    PRIMARY KEY (run, after_stage, layer)
) WITHOUT ROWID;
CREATE TABLE artifacts (
    id INTEGER PRIMARY KEY,
    run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    stage INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX artifacts_run ON artifacts(run);
)sql";

// v2: a per-run change time (the browser refreshes changed rows only), stage throughput, and
// indexes for the browser's status/tag filters.
const char *const kMigrationV2 = R"sql(
ALTER TABLE runs ADD COLUMN updated REAL NOT NULL DEFAULT 0;
UPDATE runs SET updated = COALESCE(ended, started);
ALTER TABLE stages ADD COLUMN images_per_second REAL DEFAULT 0;
CREATE INDEX runs_status_started ON runs(status, started);
CREATE INDEX runs_updated ON runs(updated);
CREATE INDEX run_tags_tag ON run_tags(tag, run);
)sql";

const char *const kMigrations[] = {kMigrationV1, kMigrationV2};
static_assert(std::size(kMigrations) == RunStore::kSchemaVersion);

constexpr std::int64_t kApplicationId = 0x4C57524E; // "LWRN"

const char *const kRunColumns
    = "r.id, r.name, r.mode, r.status, r.spec_name, r.dataset, r.dataset_fingerprint, r.device, "
      "r.seed, r.torch_version, r.host, r.pid, r.started, r.ended, r.updated, r.notes, "
      "r.parent_run, r.branch_stage, r.message, r.final_test_acc, r.best_test_acc, "
      "r.wall_seconds, r.params, r.macs, r.stages, "
      "(SELECT group_concat(tag, char(31)) FROM "
      "  (SELECT tag FROM run_tags t WHERE t.run = r.id ORDER BY tag)), "
      "(SELECT count(*) FROM stages s WHERE s.run = r.id AND s.finished IS NOT NULL)";

double nowSeconds()
{
    using namespace std::chrono;
    return duration<double>(system_clock::now().time_since_epoch()).count();
}

/// "file:" URI of a path, read-only and immutable (no locking, no shared memory).
std::string immutableUri(const std::string &path)
{
    std::string out = "file:";
    for (unsigned char ch : path) {
        if (std::isalnum(ch) || ch == '/' || ch == '.' || ch == '-' || ch == '_' || ch == '~') {
            out += static_cast<char>(ch);
        } else {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", ch);
            out += buf;
        }
    }
    return out + "?immutable=1";
}

std::string hostName()
{
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0)
        return "unknown";
    return buf;
}

/// SQLite stores a NaN as NULL; read NULL back as NaN where a value must be a number.
void bindReal(SQLite::Statement &st, int index, double value)
{
    if (std::isnan(value))
        st.bind(index);
    else
        st.bind(index, value);
}

void bindOptReal(SQLite::Statement &st, int index, const std::optional<double> &value)
{
    if (value)
        bindReal(st, index, *value);
    else
        st.bind(index);
}

double realOrNan(const SQLite::Column &c)
{
    return c.isNull() ? std::numeric_limits<double>::quiet_NaN() : c.getDouble();
}

double realOr0(const SQLite::Column &c)
{
    return c.isNull() ? 0.0 : c.getDouble();
}

std::optional<double> optReal(const SQLite::Column &c)
{
    if (c.isNull())
        return std::nullopt;
    return c.getDouble();
}

std::string text(const SQLite::Column &c)
{
    return c.isNull() ? std::string() : c.getString();
}

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

Result<std::string> cleanTag(const std::string &raw)
{
    std::size_t b = 0, e = raw.size();
    while (b < e && std::isspace(static_cast<unsigned char>(raw[b])))
        ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(raw[e - 1])))
        --e;
    std::string tag = raw.substr(b, e - b);
    if (tag.empty())
        return fail("empty tag");
    if (tag.size() > 100)
        return fail("tag '" + tag.substr(0, 40) + "...' is longer than 100 characters");
    for (unsigned char ch : tag)
        if (ch < 0x20 || ch == 0x7f)
            return fail("tag '" + tag + "' contains a control character");
    return tag;
}

/// Every tag cleaned, or the first problem.
Result<std::vector<std::string>> cleanTags(const std::vector<std::string> &raw)
{
    std::vector<std::string> clean;
    for (const auto &r : raw) {
        auto t = cleanTag(r);
        if (!t)
            return t.error();
        clean.push_back(*t);
    }
    return clean;
}

/// Relative path that stays inside its folder: no root, no "..", not empty.
bool isContainedRelative(const std::string &rel)
{
    if (rel.empty() || rel.size() > 4096)
        return false;
    fs::path p(rel);
    if (p.is_absolute() || p.has_root_name() || p.has_root_directory())
        return false;
    for (const auto &part : p)
        if (part == "..")
            return false;
    return rel.find('\0') == std::string::npos;
}

class FdGuard
{
public:
    explicit FdGuard(int fd)
        : m_fd(fd)
    {}
    ~FdGuard()
    {
        if (m_fd >= 0)
            ::close(m_fd);
    }
    int get() const { return m_fd; }
    int release() { return std::exchange(m_fd, -1); }

private:
    int m_fd;
};

const char *orderColumn(RunOrder order)
{
    switch (order) {
    case RunOrder::Id: return "r.id";
    case RunOrder::Started: return "r.started";
    case RunOrder::Name: return "r.name COLLATE NOCASE";
    case RunOrder::Status: return "r.status";
    case RunOrder::Mode: return "r.mode";
    case RunOrder::FinalTestAcc: return "r.final_test_acc";
    case RunOrder::BestTestAcc: return "r.best_test_acc";
    case RunOrder::WallSeconds: return "r.wall_seconds";
    case RunOrder::Params: return "r.params";
    }
    return "r.started";
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

nlohmann::json jsonOrString(const std::string &text)
{
    if (text.empty())
        return nullptr;
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded())
        return text;
    return j;
}

nlohmann::json optJson(const std::optional<double> &v)
{
    if (!v || !std::isfinite(*v))
        return nullptr;
    return *v;
}

nlohmann::json numJson(double v)
{
    if (!std::isfinite(v))
        return nullptr;
    return v;
}

nlohmann::json rowJson(const RunRow &r)
{
    nlohmann::json j;
    j["id"] = r.id;
    j["name"] = r.name;
    j["mode"] = toString(r.mode);
    j["status"] = toString(r.status);
    j["spec_name"] = r.specName;
    j["dataset"] = r.dataset;
    j["dataset_fingerprint"] = r.datasetFingerprint;
    j["device"] = r.device;
    j["seed"] = r.seed;
    j["torch_version"] = r.torchVersion;
    j["host"] = r.host;
    j["pid"] = r.pid;
    j["started"] = formatTimeUtc(r.started);
    j["ended"] = r.ended ? nlohmann::json(formatTimeUtc(*r.ended)) : nlohmann::json(nullptr);
    j["updated"] = formatTimeUtc(r.updated);
    j["tags"] = r.tags;
    j["notes"] = r.notes;
    j["parent_run"] = r.parentRun ? nlohmann::json(*r.parentRun) : nlohmann::json(nullptr);
    j["branch_stage"]
        = r.branchStage >= 0 ? nlohmann::json(r.branchStage) : nlohmann::json(nullptr);
    j["message"] = r.message;
    j["final_test_acc"] = optJson(r.finalTestAcc);
    j["best_test_acc"] = optJson(r.bestTestAcc);
    j["wall_seconds"] = numJson(r.wallSeconds);
    j["params"] = r.params;
    j["macs"] = r.macs;
    j["stages"] = r.stages;
    j["stages_done"] = r.stagesDone;
    return j;
}

nlohmann::json detailJson(const RunDetail &d)
{
    nlohmann::json j = rowJson(d.run);
    j["spec"] = jsonOrString(d.specJson);
    j["recipe"] = jsonOrString(d.recipeJson);
    // "stages" is the planned count in a row; in a detail it becomes the list, the count moves.
    j["stages_planned"] = d.run.stages;
    auto stages = nlohmann::json::array();
    for (const auto &s : d.stages) {
        stages.push_back({{"stage", s.stage},
                          {"started", formatTimeUtc(s.started)},
                          {"finished", s.finished ? nlohmann::json(formatTimeUtc(*s.finished))
                                                  : nlohmann::json(nullptr)},
                          {"block_params", s.blockParams},
                          {"head_params", s.headParams},
                          {"block_macs", s.blockMacs},
                          {"head_macs", s.headMacs},
                          {"epochs", s.epochs},
                          {"epochs_done", s.epochsDone},
                          {"train_acc", optJson(s.trainAcc)},
                          {"test_acc", optJson(s.testAcc)},
                          {"ensemble_acc", optJson(s.ensembleAcc)},
                          {"seconds", numJson(s.seconds)},
                          {"images_per_second", numJson(s.imagesPerSecond)}});
    }
    j["stages"] = std::move(stages);
    auto probes = nlohmann::json::array();
    for (const auto &p : d.probes)
        probes.push_back({{"after_stage", p.afterStage},
                          {"layer", p.layer},
                          {"train_acc", numJson(p.trainAcc)},
                          {"test_acc", numJson(p.testAcc)},
                          {"seconds", numJson(p.seconds)}});
    j["probes"] = std::move(probes);
    auto artifacts = nlohmann::json::array();
    for (const auto &a : d.artifacts)
        artifacts.push_back({{"id", a.id},
                             {"stage", a.stage},
                             {"epoch", a.epoch},
                             {"kind", a.kind},
                             {"path", a.path},
                             {"created", formatTimeUtc(a.created)}});
    j["artifacts"] = std::move(artifacts);
    return j;
}

std::string formatDouble(double v)
{
    if (std::isnan(v))
        return "nan";
    if (std::isinf(v))
        return v > 0 ? "inf" : "-inf";
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

} // namespace

// ---- Impl ----------------------------------------------------------------------------------

struct RunStore::Impl
{
    std::string path;
    std::string absDir;
    OpenMode mode = OpenMode::ReadWrite;
    StoreOptions options;
    bool readOnly = false;
    int schema = 0;
    std::unique_ptr<SQLite::Database> db;
    std::map<std::int64_t, int> locks; ///< run id -> fd holding flock on runs/<id>/.lock
    mutable std::recursive_mutex mutex;

    ~Impl()
    {
        for (auto &[id, fd] : locks)
            ::close(fd);
    }

    /// Translates an exception from SQLite (or the file system) into a message for a person.
    Error error(const std::string &doing, const std::exception &e) const
    {
        int code = 0;
        if (auto *se = dynamic_cast<const SQLite::Exception *>(&e))
            code = se->getErrorCode();
        const std::string where = "run store '" + path + "'";
        switch (code & 0xff) {
        case SQLITE_BUSY: {
            char secs[32];
            std::snprintf(secs, sizeof secs, "%.1f", options.busyTimeoutMs / 1000.0);
            return Error{where + ": locked by another process for more than " + secs + " s while "
                         + doing
                         + " (another program holds a write transaction on it); nothing was "
                           "changed, try again when it is done ("
                         + e.what() + ")"};
        }
        case SQLITE_FULL:
            return Error{where + ": disk full (or the store's size limit reached) while " + doing
                         + "; this write was rolled back, earlier data is intact"};
        case SQLITE_READONLY:
            return Error{where + ": read-only (check the file's and its folder's permissions)"
                         + "; cannot " + doing};
        case SQLITE_NOTADB:
            return Error{"'" + path + "' is not a Layerwise run store: not an SQLite database"};
        case SQLITE_CORRUPT:
            return Error{where + ": the database is damaged (" + e.what() + ") while " + doing};
        case SQLITE_CANTOPEN: return Error{where + ": cannot open the file (" + e.what() + ")"};
        case SQLITE_IOERR:
            return Error{where + ": I/O error while " + doing + " (" + e.what() + ")"};
        default: break;
        }
        return Error{where + ": " + doing + " failed: " + e.what()};
    }

    Result<void> checkWritable(const std::string &doing) const
    {
        if (mode == OpenMode::ReadOnly)
            return fail("run store '" + path + "' is open read-only; cannot " + doing);
        if (readOnly)
            return fail("run store '" + path
                        + "' is read-only (check the file's and its folder's permissions); "
                          "cannot "
                        + doing);
        return {};
    }

    std::string runsRoot() const { return (fs::path(absDir) / "runs").string(); }
    std::string runDir(std::int64_t id) const
    {
        return (fs::path(absDir) / "runs" / std::to_string(id)).string();
    }
    std::string lockPath(std::int64_t id) const { return runDir(id) + "/.lock"; }

    /// Takes the run's liveness lock (creating runs/<id>/). Fails when another process holds it.
    Result<void> acquireLock(std::int64_t id)
    {
        if (locks.count(id))
            return {};
        std::error_code ec;
        fs::create_directories(runDir(id), ec);
        if (ec)
            return fail("cannot create the run folder '" + runDir(id) + "': " + ec.message());
        const std::string lp = lockPath(id);
        FdGuard fd(::open(lp.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
        if (fd.get() < 0)
            return fail("cannot create the lock file '" + lp + "': " + std::strerror(errno));
        if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
            if (errno == EWOULDBLOCK)
                return fail("run " + std::to_string(id)
                            + " is being recorded by another live process (it holds '" + lp + "')");
            return fail("cannot lock '" + lp + "': " + std::strerror(errno));
        }
        locks[id] = fd.release();
        return {};
    }

    void releaseLock(std::int64_t id)
    {
        auto it = locks.find(id);
        if (it == locks.end())
            return;
        ::close(it->second);
        locks.erase(it);
    }

    /// Someone (this store or another process) holds the run's lock.
    bool lockHeld(std::int64_t id) const
    {
        if (locks.count(id))
            return true;
        const std::string lp = lockPath(id);
        FdGuard fd(::open(lp.c_str(), O_RDONLY | O_CLOEXEC));
        if (fd.get() < 0)
            return false;
        if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {
            ::flock(fd.get(), LOCK_UN);
            return false;
        }
        return errno == EWOULDBLOCK;
    }

    int readSchemaVersion()
    {
        SQLite::Statement has(*db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                                   "AND name = 'schema_version'");
        has.executeStep();
        if (has.getColumn(0).getInt() == 0)
            return 0;
        SQLite::Statement v(*db, "SELECT max(version) FROM schema_version");
        v.executeStep();
        return v.getColumn(0).isNull() ? 0 : v.getColumn(0).getInt();
    }

    bool hasOtherTables()
    {
        SQLite::Statement st(*db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                  "name NOT LIKE 'sqlite_%'");
        st.executeStep();
        return st.getColumn(0).getInt() > 0;
    }

    void touchRun(std::int64_t id)
    {
        SQLite::Statement st(*db, "UPDATE runs SET updated = ? WHERE id = ?");
        st.bind(1, nowSeconds());
        st.bind(2, static_cast<std::int64_t>(id));
        st.exec();
    }

    bool runExists(std::int64_t id)
    {
        SQLite::Statement st(*db, "SELECT 1 FROM runs WHERE id = ?");
        st.bind(1, static_cast<std::int64_t>(id));
        return st.executeStep();
    }

    RunRow readRow(SQLite::Statement &st)
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
        return r;
    }

    /// WHERE clause with numbered parameters, and their values in order.
    struct Where
    {
        std::string sql;
        std::vector<std::variant<std::string, std::int64_t>> values;
    };

    static Where where(const RunFilter &f)
    {
        Where w;
        std::vector<std::string> parts;
        auto param = [&w](std::variant<std::string, std::int64_t> v) {
            w.values.push_back(std::move(v));
            return "?" + std::to_string(w.values.size());
        };
        if (f.status)
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
            parts.push_back("(r.name" + like + " OR r.notes" + like + " OR r.spec_name" + like
                            + " OR r.dataset" + like
                            + " OR EXISTS (SELECT 1 FROM run_tags t WHERE t.run = r.id AND t.tag"
                            + like + "))");
        }
        for (std::size_t i = 0; i < parts.size(); ++i)
            w.sql += (i == 0 ? " WHERE " : " AND ") + parts[i];
        return w;
    }

    static void bindWhere(SQLite::Statement &st, const Where &w)
    {
        for (std::size_t i = 0; i < w.values.size(); ++i) {
            const int index = static_cast<int>(i + 1);
            if (auto *t = std::get_if<std::string>(&w.values[i]))
                st.bind(index, *t);
            else
                st.bind(index, static_cast<std::int64_t>(std::get<std::int64_t>(w.values[i])));
        }
    }

    std::vector<MetricRow> readMetrics(std::int64_t id, std::int64_t since)
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

    Result<RunDetail> readDetail(std::int64_t id)
    {
        RunDetail d;
        {
            SQLite::Statement st(*db, std::string("SELECT ") + kRunColumns
                                          + ", r.spec_json, r.recipe_json FROM runs r WHERE "
                                            "r.id = ?");
            st.bind(1, static_cast<std::int64_t>(id));
            if (!st.executeStep())
                return fail("run " + std::to_string(id) + " not found in '" + path + "'");
            d.run = readRow(st);
            d.specJson = text(st.getColumn(27));
            d.recipeJson = text(st.getColumn(28));
        }
        {
            SQLite::Statement st(*db,
                                 "SELECT stage, started, finished, block_params, head_params, "
                                 "block_macs, head_macs, epochs, epochs_done, train_acc, "
                                 "test_acc, ensemble_acc, seconds, images_per_second FROM stages "
                                 "WHERE run = ? ORDER BY stage");
            st.bind(1, static_cast<std::int64_t>(id));
            while (st.executeStep()) {
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
                d.stages.push_back(s);
            }
        }
        {
            SQLite::Statement st(*db, "SELECT after_stage, layer, train_acc, test_acc, seconds "
                                      "FROM probes WHERE run = ? ORDER BY after_stage, layer");
            st.bind(1, static_cast<std::int64_t>(id));
            while (st.executeStep()) {
                ProbeRow p;
                p.afterStage = st.getColumn(0).getInt();
                p.layer = st.getColumn(1).getInt();
                p.trainAcc = realOrNan(st.getColumn(2));
                p.testAcc = realOrNan(st.getColumn(3));
                p.seconds = realOr0(st.getColumn(4));
                d.probes.push_back(p);
            }
        }
        {
            SQLite::Statement st(*db, "SELECT id, stage, epoch, kind, path, created FROM "
                                      "artifacts WHERE run = ? ORDER BY id");
            st.bind(1, static_cast<std::int64_t>(id));
            while (st.executeStep()) {
                ArtifactRow a;
                a.id = st.getColumn(0).getInt64();
                a.stage = st.getColumn(1).getInt();
                a.epoch = st.getColumn(2).getInt();
                a.kind = text(st.getColumn(3));
                a.path = text(st.getColumn(4));
                a.created = realOr0(st.getColumn(5));
                a.absolutePath = isContainedRelative(a.path)
                                     ? (fs::path(runDir(id)) / a.path).string()
                                     : std::string();
                d.artifacts.push_back(std::move(a));
            }
        }
        return d;
    }
};

// Runs `body` under the store's mutex, turning any exception into an Error.
#define LW_STORE_GUARD(doing, ...)                                                                 \
    do {                                                                                           \
        std::lock_guard<std::recursive_mutex> guard_(m->mutex);                                    \
        try {                                                                                      \
            __VA_ARGS__                                                                            \
        } catch (const std::exception &e_) {                                                       \
            return m->error(doing, e_);                                                            \
        }                                                                                          \
    } while (false)

// ---- open -----------------------------------------------------------------------------------

RunStore::RunStore(std::unique_ptr<Impl> impl)
    : m(std::move(impl))
{}
RunStore::~RunStore() = default;

std::string RunStore::defaultPath()
{
    if (const char *env = std::getenv("LAYERWISE_DB"); env && *env)
        return env;
    return defaultDataDir() + "/runs.sqlite";
}

std::string RunStore::resolvePath(const std::string &explicitPath)
{
    return explicitPath.empty() ? defaultPath() : explicitPath;
}

Result<std::unique_ptr<RunStore>> RunStore::open(const std::string &path, OpenMode mode,
                                                 const StoreOptions &options)
{
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    impl->mode = mode;
    impl->options = options;
    std::error_code ec;
    fs::path abs = fs::absolute(path, ec);
    if (ec)
        return fail("run store '" + path + "': cannot resolve the path: " + ec.message());
    impl->absDir = abs.parent_path().string();

    const bool existed = fs::exists(abs, ec);
    if (existed && fs::is_directory(abs, ec))
        return fail("run store '" + path + "' is a folder; expected an SQLite file");
    if (mode == OpenMode::ReadOnly && !existed)
        return fail("no run store at '" + path + "' (nothing has been recorded there yet)");
    if (mode == OpenMode::ReadWrite && !existed) {
        fs::create_directories(impl->absDir, ec);
        if (ec)
            return fail("run store '" + path + "': cannot create its folder '" + impl->absDir
                        + "': " + ec.message());
    }

    Impl &s = *impl;
    try {
        int flags = mode == OpenMode::ReadOnly ? SQLite::OPEN_READONLY
                                               : (SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        s.db = std::make_unique<SQLite::Database>(path, flags, options.busyTimeoutMs);
        s.readOnly
            = mode == OpenMode::ReadOnly || sqlite3_db_readonly(s.db->getHandle(), "main") == 1;
        s.db->exec("PRAGMA foreign_keys = ON");

        // Identify the file before changing anything in it.
        try {
            s.schema = s.readSchemaVersion();
        } catch (const SQLite::Exception &e) {
            // A WAL database in a folder this user cannot write, with no writer active (no -shm
            // to share): SQLite cannot set up its shared memory. Read the file as it is.
            if (!s.readOnly || (e.getErrorCode() & 0xff) != SQLITE_READONLY)
                throw;
            s.db = std::make_unique<SQLite::Database>(immutableUri(abs.string()),
                                                      SQLite::OPEN_READONLY | SQLITE_OPEN_URI,
                                                      options.busyTimeoutMs);
            s.schema = s.readSchemaVersion();
        }
        if (s.schema > kSchemaVersion)
            return fail("run store '" + path + "' has schema version " + std::to_string(s.schema)
                        + ", newer than this Layerwise supports (" + std::to_string(kSchemaVersion)
                        + "); it was written by a newer Layerwise. Nothing was changed; update "
                          "Layerwise to open it");
        if (s.schema == 0 && s.hasOtherTables())
            return fail("'" + path
                        + "' is an SQLite database but not a Layerwise run store (it has tables "
                          "but no schema_version); nothing was changed");
        if (s.schema < kSchemaVersion && s.readOnly) {
            if (s.schema == 0)
                return fail("run store '" + path + "' is empty and "
                            + (mode == OpenMode::ReadOnly ? std::string("open read-only")
                                                          : std::string("read-only"))
                            + ": nothing to read");
            return fail("run store '" + path + "' has schema version " + std::to_string(s.schema)
                        + " and needs an upgrade to " + std::to_string(kSchemaVersion)
                        + ", but it is "
                        + (mode == OpenMode::ReadOnly
                               ? std::string("opened read-only; open it read-write once")
                               : std::string("read-only (check its permissions)")));
        }

        if (!s.readOnly) {
            // WAL: readers never block the writer; NORMAL sync is durable against process
            // crashes (the last transactions may be lost on power failure only).
            {
                SQLite::Statement jm(*s.db, "PRAGMA journal_mode = WAL");
                jm.executeStep();
            }
            s.db->exec("PRAGMA synchronous = NORMAL");
            if (options.maxSizeBytes > 0) {
                SQLite::Statement ps(*s.db, "PRAGMA page_size");
                ps.executeStep();
                const std::int64_t page = std::max<std::int64_t>(512, ps.getColumn(0).getInt64());
                s.db->exec(
                    "PRAGMA max_page_count = "
                    + std::to_string(std::max<std::int64_t>(1, options.maxSizeBytes / page)));
            }
            for (int v = s.schema + 1; v <= kSchemaVersion; ++v) {
                SQLite::Transaction tx(*s.db, SQLite::TransactionBehavior::IMMEDIATE);
                // Re-check inside the write lock: another process may have migrated meanwhile.
                const int now = s.readSchemaVersion();
                if (now >= v) {
                    tx.commit();
                    continue;
                }
                s.db->exec(kMigrations[v - 1]);
                SQLite::Statement ins(*s.db,
                                      "INSERT INTO schema_version(version, applied) VALUES (?, ?)");
                ins.bind(1, v);
                ins.bind(2, nowSeconds());
                ins.exec();
                if (v == 1)
                    s.db->exec("PRAGMA application_id = " + std::to_string(kApplicationId));
                tx.commit();
            }
            s.schema = s.readSchemaVersion();
        }
    } catch (const std::exception &e) {
        return s.error("opening it", e);
    }

    std::unique_ptr<RunStore> store(new RunStore(std::move(impl)));
    if (mode == OpenMode::ReadWrite && !store->readOnly()) {
        auto marked = store->markInterruptedRuns();
        if (!marked)
            return marked.error();
    }
    return store;
}

const std::string &RunStore::path() const
{
    return m->path;
}

bool RunStore::readOnly() const
{
    return m->readOnly;
}

int RunStore::schemaVersion() const
{
    return m->schema;
}

std::string RunStore::runsRoot() const
{
    return m->runsRoot();
}

std::string RunStore::runDir(std::int64_t id) const
{
    return m->runDir(id);
}

// ---- writing --------------------------------------------------------------------------------

Result<std::int64_t> RunStore::createRun(const NewRun &run)
{
    if (auto w = m->checkWritable("create a run"); !w)
        return w.error();
    auto cleaned = cleanTags(run.tags);
    if (!cleaned)
        return cleaned.error();
    const std::vector<std::string> &tags = *cleaned;
    LW_STORE_GUARD("creating a run", {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        if (run.parentRun && !m->runExists(*run.parentRun))
            return fail("parent run " + std::to_string(*run.parentRun) + " not found in '" + m->path
                        + "'");
        SQLite::Statement st(
            *m->db,
            "INSERT INTO runs(name, mode, status, spec_json, recipe_json, spec_name, dataset, "
            "dataset_fingerprint, device, seed, torch_version, host, pid, started, updated, notes, "
            "parent_run, branch_stage, params, macs, stages) VALUES (?, ?, 'running', ?, ?, ?, "
            "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        const double now = nowSeconds();
        st.bind(1, run.name);
        st.bind(2, toString(run.mode));
        st.bind(3, run.specJson);
        st.bind(4, run.recipeJson);
        st.bind(5, run.specName);
        st.bind(6, run.dataset);
        st.bind(7, run.datasetFingerprint);
        st.bind(8, run.device);
        st.bind(9, static_cast<std::int64_t>(run.seed));
        st.bind(10, run.torchVersion);
        st.bind(11, hostName());
        st.bind(12, static_cast<std::int64_t>(::getpid()));
        st.bind(13, now);
        st.bind(14, now);
        st.bind(15, run.notes);
        if (run.parentRun)
            st.bind(16, static_cast<std::int64_t>(*run.parentRun));
        else
            st.bind(16);
        st.bind(17, run.branchStage);
        st.bind(18, static_cast<std::int64_t>(run.params));
        st.bind(19, static_cast<std::int64_t>(run.macs));
        st.bind(20, run.stages);
        st.exec();
        const std::int64_t id = m->db->getLastInsertRowid();
        SQLite::Statement tag(*m->db, "INSERT OR IGNORE INTO run_tags(run, tag) VALUES (?, ?)");
        for (const auto &t : tags) {
            tag.bind(1, static_cast<std::int64_t>(id));
            tag.bind(2, t);
            tag.exec();
            tag.reset();
        }
        // Lock before the row becomes visible: nobody may see it `running` without a live
        // holder.
        if (auto l = m->acquireLock(id); !l)
            return l.error();
        try {
            tx.commit();
        } catch (...) {
            m->releaseLock(id);
            throw;
        }
        return id;
    });
}

Result<void> RunStore::setStatus(std::int64_t id, RunStatus status, const std::string &message)
{
    if (auto w = m->checkWritable("change a run's status"); !w)
        return w;
    LW_STORE_GUARD("setting the status of run " + std::to_string(id), {
        if (status == RunStatus::Running) {
            if (auto l = m->acquireLock(id); !l)
                return l;
        }
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement st(*m->db, "UPDATE runs SET status = ?, message = ?, updated = ?, "
                                     "ended = CASE WHEN ? THEN NULL ELSE ? END WHERE id = ?");
        const double now = nowSeconds();
        st.bind(1, toString(status));
        st.bind(2, message);
        st.bind(3, now);
        st.bind(4, status == RunStatus::Running ? 1 : 0);
        st.bind(5, now);
        st.bind(6, static_cast<std::int64_t>(id));
        if (st.exec() == 0)
            return fail("run " + std::to_string(id) + " not found in '" + m->path + "'");
        tx.commit();
        if (status != RunStatus::Running)
            m->releaseLock(id);
        return {};
    });
}

Result<void> RunStore::beginResume(std::int64_t id, int stage, int epoch)
{
    if (auto w = m->checkWritable("resume a run"); !w)
        return w;
    LW_STORE_GUARD("resuming run " + std::to_string(id), {
        if (!m->runExists(id))
            return fail("run " + std::to_string(id) + " not found in '" + m->path + "'");
        if (auto l = m->acquireLock(id); !l)
            return l;
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        auto exec = [&](const char *sql, bool withStageEpoch) {
            SQLite::Statement st(*m->db, sql);
            st.bind(1, static_cast<std::int64_t>(id));
            if (withStageEpoch) {
                st.bind(2, stage);
                st.bind(3, epoch);
            }
            st.exec();
        };
        exec("DELETE FROM metrics WHERE run = ?1 AND (stage > ?2 OR (stage = ?2 AND epoch > ?3))",
             true);
        exec("DELETE FROM artifacts WHERE run = ?1 AND (stage > ?2 OR (stage = ?2 AND epoch > "
             "?3))",
             true);
        exec("DELETE FROM stages WHERE run = ?1 AND stage > ?2 AND ?3 >= 0", true);
        exec("UPDATE stages SET epochs_done = min(epochs_done, ?3), finished = CASE WHEN "
             "epochs_done > ?3 THEN NULL ELSE finished END WHERE run = ?1 AND stage = ?2",
             true);
        exec("DELETE FROM probes WHERE run = ?1 AND after_stage >= ?2 AND ?3 >= 0", true);
        SQLite::Statement st(
            *m->db,
            "UPDATE runs SET status = 'running', message = '', ended = NULL, updated = ?2, "
            "pid = ?3, host = ?4, best_test_acc = (SELECT max(value) FROM metrics WHERE run = ?1 "
            "AND split = 'test' AND metric = 'acc'), final_test_acc = (SELECT value FROM metrics "
            "WHERE run = ?1 AND split = 'test' AND metric = 'acc' ORDER BY id DESC LIMIT 1) "
            "WHERE id = ?1");
        st.bind(1, static_cast<std::int64_t>(id));
        st.bind(2, nowSeconds());
        st.bind(3, static_cast<std::int64_t>(::getpid()));
        st.bind(4, hostName());
        st.exec();
        tx.commit();
        return {};
    });
}

Result<void> RunStore::updateRunInfo(std::int64_t id, const RunStarted &info)
{
    if (auto w = m->checkWritable("update a run"); !w)
        return w;
    LW_STORE_GUARD("updating run " + std::to_string(id), {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement st(
            *m->db, "UPDATE runs SET mode = ?, stages = CASE WHEN ? > 0 THEN ? ELSE stages END, "
                    "device = CASE WHEN ? <> '' THEN ? ELSE device END, dataset = CASE WHEN ? "
                    "<> '' THEN ? ELSE dataset END, dataset_fingerprint = CASE WHEN ? <> '' THEN "
                    "? ELSE dataset_fingerprint END, updated = ? WHERE id = ?");
        st.bind(1, toString(info.mode));
        st.bind(2, info.stages);
        st.bind(3, info.stages);
        st.bind(4, info.device);
        st.bind(5, info.device);
        st.bind(6, info.dataset);
        st.bind(7, info.dataset);
        st.bind(8, info.datasetFingerprint);
        st.bind(9, info.datasetFingerprint);
        st.bind(10, nowSeconds());
        st.bind(11, static_cast<std::int64_t>(id));
        if (st.exec() == 0)
            return fail("run " + std::to_string(id) + " not found in '" + m->path + "'");
        tx.commit();
        return {};
    });
}

Result<void> RunStore::beginStage(std::int64_t id, const StageStarted &stage)
{
    if (auto w = m->checkWritable("record a stage"); !w)
        return w;
    LW_STORE_GUARD(
        "recording stage " + std::to_string(stage.stage) + " of run " + std::to_string(id), {
            SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
            SQLite::Statement st(
                *m->db, "INSERT INTO stages(run, stage, started, block_params, head_params, "
                        "block_macs, head_macs, epochs) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                        "?8) ON CONFLICT(run, stage) DO UPDATE SET block_params = ?4, "
                        "head_params = ?5, block_macs = ?6, head_macs = ?7, epochs = ?8, "
                        "finished = NULL");
            st.bind(1, static_cast<std::int64_t>(id));
            st.bind(2, stage.stage);
            st.bind(3, nowSeconds());
            st.bind(4, static_cast<std::int64_t>(stage.blockParams));
            st.bind(5, static_cast<std::int64_t>(stage.headParams));
            st.bind(6, static_cast<std::int64_t>(stage.blockMacs));
            st.bind(7, static_cast<std::int64_t>(stage.headMacs));
            st.bind(8, stage.epochs);
            st.exec();
            m->touchRun(id);
            tx.commit();
            return {};
        });
}

Result<void> RunStore::finishStage(std::int64_t id, const StageFinished &stage)
{
    if (auto w = m->checkWritable("record a stage"); !w)
        return w;
    LW_STORE_GUARD(
        "finishing stage " + std::to_string(stage.stage) + " of run " + std::to_string(id), {
            SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
            SQLite::Statement ins(*m->db, "INSERT OR IGNORE INTO stages(run, stage, "
                                          "started) VALUES (?, ?, ?)");
            ins.bind(1, static_cast<std::int64_t>(id));
            ins.bind(2, stage.stage);
            ins.bind(3, nowSeconds());
            ins.exec();
            SQLite::Statement st(*m->db,
                                 "UPDATE stages SET finished = ?, epochs_done = ?, train_acc = "
                                 "?, test_acc = ?, ensemble_acc = ?, seconds = ?, "
                                 "images_per_second = ? WHERE run = ? AND stage = ?");
            st.bind(1, nowSeconds());
            st.bind(2, stage.epochs);
            bindReal(st, 3, stage.trainAcc);
            bindReal(st, 4, stage.testAcc);
            bindReal(st, 5, stage.ensembleAcc);
            bindReal(st, 6, stage.seconds);
            bindReal(st, 7, stage.imagesPerSecond);
            st.bind(8, static_cast<std::int64_t>(id));
            st.bind(9, stage.stage);
            st.exec();
            m->touchRun(id);
            tx.commit();
            return {};
        });
}

Result<void> RunStore::recordEpochs(std::int64_t id, const std::vector<EpochMetrics> &epochs)
{
    if (epochs.empty())
        return {};
    if (auto w = m->checkWritable("record epochs"); !w)
        return w;
    LW_STORE_GUARD("recording epochs of run " + std::to_string(id), {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        if (!m->runExists(id))
            return fail("run " + std::to_string(id) + " not found in '" + m->path + "'");
        SQLite::Statement ins(*m->db, "INSERT INTO metrics(run, stage, epoch, step, split, metric, "
                                      "value) VALUES (?, ?, ?, ?, ?, ?, ?)");
        SQLite::Statement stageIns(*m->db, "INSERT OR IGNORE INTO stages(run, stage, started) "
                                           "VALUES (?, ?, ?)");
        SQLite::Statement stageUpd(*m->db,
                                   "UPDATE stages SET epochs_done = max(epochs_done, ?), "
                                   "train_acc = ?, test_acc = ?, ensemble_acc = ?, seconds = "
                                   "coalesce(seconds, 0) + ?, images_per_second = ? WHERE run = ? "
                                   "AND stage = ?");
        const double now = nowSeconds();
        double wall = 0;
        std::optional<double> best;
        for (const auto &e : epochs) {
            const struct
            {
                const char *split;
                const char *metric;
                double value;
            } rows[] = {{"train", "loss", e.trainLoss},
                        {"train", "acc", e.trainAcc},
                        {"test", "loss", e.testLoss},
                        {"test", "acc", e.testAcc},
                        {"ensemble", "acc", e.ensembleAcc},
                        {"train", "lr", e.lr},
                        {"train", "images_per_second", e.imagesPerSecond},
                        {"epoch", "seconds", e.seconds}};
            for (const auto &r : rows) {
                ins.bind(1, static_cast<std::int64_t>(id));
                ins.bind(2, e.stage);
                ins.bind(3, e.epoch);
                ins.bind(4, static_cast<std::int64_t>(e.step));
                ins.bindNoCopy(5, r.split);
                ins.bindNoCopy(6, r.metric);
                bindReal(ins, 7, r.value);
                ins.exec();
                ins.reset();
            }
            stageIns.bind(1, static_cast<std::int64_t>(id));
            stageIns.bind(2, e.stage);
            stageIns.bind(3, now);
            stageIns.exec();
            stageIns.reset();
            stageUpd.bind(1, e.epoch);
            bindReal(stageUpd, 2, e.trainAcc);
            bindReal(stageUpd, 3, e.testAcc);
            bindReal(stageUpd, 4, e.ensembleAcc);
            bindReal(stageUpd, 5, std::isfinite(e.seconds) ? e.seconds : 0.0);
            bindReal(stageUpd, 6, e.imagesPerSecond);
            stageUpd.bind(7, static_cast<std::int64_t>(id));
            stageUpd.bind(8, e.stage);
            stageUpd.exec();
            stageUpd.reset();
            if (std::isfinite(e.seconds))
                wall += e.seconds;
            if (!std::isnan(e.testAcc) && (!best || e.testAcc > *best))
                best = e.testAcc;
        }
        SQLite::Statement run(*m->db,
                              "UPDATE runs SET final_test_acc = ?1, best_test_acc = CASE WHEN "
                              "?2 IS NOT NULL AND (best_test_acc IS NULL OR ?2 > best_test_acc) "
                              "THEN ?2 ELSE best_test_acc END, wall_seconds = coalesce("
                              "wall_seconds, 0) + ?3, updated = ?4 WHERE id = ?5");
        bindReal(run, 1, epochs.back().testAcc);
        bindOptReal(run, 2, best);
        run.bind(3, wall);
        run.bind(4, now);
        run.bind(5, static_cast<std::int64_t>(id));
        run.exec();
        tx.commit();
        return {};
    });
}

Result<void> RunStore::recordProbe(std::int64_t id, const ProbeResult &probe)
{
    if (auto w = m->checkWritable("record a probe"); !w)
        return w;
    LW_STORE_GUARD("recording a probe of run " + std::to_string(id), {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        if (!m->runExists(id))
            return fail("run " + std::to_string(id) + " not found in '" + m->path + "'");
        SQLite::Statement st(*m->db, "INSERT OR REPLACE INTO probes(run, after_stage, layer, "
                                     "train_acc, test_acc, seconds) VALUES (?, ?, ?, ?, ?, ?)");
        st.bind(1, static_cast<std::int64_t>(id));
        st.bind(2, probe.afterStage);
        st.bind(3, probe.layer);
        bindReal(st, 4, probe.trainAcc);
        bindReal(st, 5, probe.testAcc);
        bindReal(st, 6, probe.seconds);
        st.exec();
        m->touchRun(id);
        tx.commit();
        return {};
    });
}

Result<std::int64_t> RunStore::addArtifact(std::int64_t id, int stage, int epoch,
                                           const std::string &kind, const std::string &relativePath)
{
    if (auto w = m->checkWritable("record a checkpoint"); !w)
        return w.error();
    if (!isContainedRelative(relativePath))
        return fail("artifact path '" + relativePath
                    + "' must be relative to the run's folder and stay inside it");
    LW_STORE_GUARD("recording a checkpoint of run " + std::to_string(id), {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        if (!m->runExists(id))
            return fail("run " + std::to_string(id) + " not found in '" + m->path + "'");
        SQLite::Statement st(*m->db, "INSERT INTO artifacts(run, stage, epoch, kind, path, "
                                     "created) VALUES (?, ?, ?, ?, ?, ?)");
        st.bind(1, static_cast<std::int64_t>(id));
        st.bind(2, stage);
        st.bind(3, epoch);
        st.bind(4, kind);
        st.bind(5, relativePath);
        st.bind(6, nowSeconds());
        st.exec();
        const std::int64_t aid = m->db->getLastInsertRowid();
        m->touchRun(id);
        tx.commit();
        return aid;
    });
}

Result<void> RunStore::finishRun(std::int64_t id, const RunEnded &ended)
{
    if (auto w = m->checkWritable("finish a run"); !w)
        return w;
    LW_STORE_GUARD("finishing run " + std::to_string(id), {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement st(
            *m->db, "UPDATE runs SET status = ?1, message = ?2, ended = ?3, updated = ?3, "
                    "wall_seconds = CASE WHEN ?4 > 0 THEN ?4 ELSE wall_seconds END, "
                    "final_test_acc = CASE WHEN ?6 THEN ?5 ELSE final_test_acc END WHERE id = ?7");
        st.bind(1, toString(ended.status));
        st.bind(2, ended.message);
        st.bind(3, nowSeconds());
        bindReal(st, 4, ended.seconds);
        bindReal(st, 5, ended.finalTestAcc);
        // A run that ends before any epoch reports finalTestAcc = 0: keep the stored value then.
        st.bind(6, ended.status == RunStatus::Finished || ended.finalTestAcc > 0 ? 1 : 0);
        st.bind(7, static_cast<std::int64_t>(id));
        if (st.exec() == 0)
            return fail("run " + std::to_string(id) + " not found in '" + m->path + "'");
        tx.commit();
        if (ended.status != RunStatus::Running)
            m->releaseLock(id);
        return {};
    });
}

// ---- editing ---------------------------------------------------------------------------------

Result<void> RunStore::setTags(std::int64_t id, const std::vector<std::string> &tags)
{
    if (auto w = m->checkWritable("change tags"); !w)
        return w;
    auto cleaned = cleanTags(tags);
    if (!cleaned)
        return cleaned.error();
    const std::vector<std::string> &clean = *cleaned;
    LW_STORE_GUARD("tagging run " + std::to_string(id), {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        if (!m->runExists(id))
            return fail("run " + std::to_string(id) + " not found in '" + m->path + "'");
        SQLite::Statement del(*m->db, "DELETE FROM run_tags WHERE run = ?");
        del.bind(1, static_cast<std::int64_t>(id));
        del.exec();
        SQLite::Statement ins(*m->db, "INSERT OR IGNORE INTO run_tags(run, tag) VALUES (?, ?)");
        for (const auto &t : clean) {
            ins.bind(1, static_cast<std::int64_t>(id));
            ins.bind(2, t);
            ins.exec();
            ins.reset();
        }
        m->touchRun(id);
        tx.commit();
        return {};
    });
}

Result<void> RunStore::addTags(std::int64_t id, const std::vector<std::string> &tags)
{
    if (auto w = m->checkWritable("change tags"); !w)
        return w;
    auto cleaned = cleanTags(tags);
    if (!cleaned)
        return cleaned.error();
    const std::vector<std::string> &clean = *cleaned;
    LW_STORE_GUARD("tagging run " + std::to_string(id), {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        if (!m->runExists(id))
            return fail("run " + std::to_string(id) + " not found in '" + m->path + "'");
        SQLite::Statement ins(*m->db, "INSERT OR IGNORE INTO run_tags(run, tag) VALUES (?, ?)");
        for (const auto &t : clean) {
            ins.bind(1, static_cast<std::int64_t>(id));
            ins.bind(2, t);
            ins.exec();
            ins.reset();
        }
        m->touchRun(id);
        tx.commit();
        return {};
    });
}

Result<void> RunStore::removeTag(std::int64_t id, const std::string &tag)
{
    if (auto w = m->checkWritable("change tags"); !w)
        return w;
    LW_STORE_GUARD("untagging run " + std::to_string(id), {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        if (!m->runExists(id))
            return fail("run " + std::to_string(id) + " not found in '" + m->path + "'");
        SQLite::Statement del(*m->db, "DELETE FROM run_tags WHERE run = ? AND tag = ?");
        del.bind(1, static_cast<std::int64_t>(id));
        del.bind(2, tag);
        del.exec();
        m->touchRun(id);
        tx.commit();
        return {};
    });
}

Result<void> RunStore::setNotes(std::int64_t id, const std::string &notes)
{
    if (auto w = m->checkWritable("change notes"); !w)
        return w;
    LW_STORE_GUARD("writing notes of run " + std::to_string(id), {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement st(*m->db, "UPDATE runs SET notes = ?, updated = ? WHERE id = ?");
        st.bind(1, notes);
        st.bind(2, nowSeconds());
        st.bind(3, static_cast<std::int64_t>(id));
        if (st.exec() == 0)
            return fail("run " + std::to_string(id) + " not found in '" + m->path + "'");
        tx.commit();
        return {};
    });
}

Result<void> RunStore::rename(std::int64_t id, const std::string &name)
{
    if (auto w = m->checkWritable("rename a run"); !w)
        return w;
    LW_STORE_GUARD("renaming run " + std::to_string(id), {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement st(*m->db, "UPDATE runs SET name = ?, updated = ? WHERE id = ?");
        st.bind(1, name);
        st.bind(2, nowSeconds());
        st.bind(3, static_cast<std::int64_t>(id));
        if (st.exec() == 0)
            return fail("run " + std::to_string(id) + " not found in '" + m->path + "'");
        tx.commit();
        return {};
    });
}

Result<void> RunStore::deleteRun(std::int64_t id)
{
    if (auto w = m->checkWritable("delete a run"); !w)
        return w;
    LW_STORE_GUARD("deleting run " + std::to_string(id), {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        if (!m->runExists(id))
            return fail("run " + std::to_string(id) + " not found in '" + m->path + "'");
        if (!m->locks.count(id) && m->lockHeld(id))
            return fail("run " + std::to_string(id)
                        + " is being recorded by another live process; stop it before deleting");
        SQLite::Statement del(*m->db, "DELETE FROM runs WHERE id = ?");
        del.bind(1, static_cast<std::int64_t>(id));
        del.exec();
        tx.commit();
        m->releaseLock(id);
    });

    // The folder: only runs/<id> itself, and only when it is a real child of runs/ (a symlink
    // named <id> is removed as a link; its target is left alone).
    std::error_code ec;
    const fs::path root = fs::path(m->runsRoot());
    const fs::path dir = root / std::to_string(id);
    auto st = fs::symlink_status(dir, ec);
    if (ec || !fs::exists(st))
        return {};
    if (fs::is_symlink(st)) {
        fs::remove(dir, ec);
    } else if (fs::is_directory(st)) {
        const fs::path canonRoot = fs::weakly_canonical(root, ec);
        const fs::path canonDir = fs::weakly_canonical(dir, ec);
        if (ec || canonDir.parent_path() != canonRoot)
            return fail("run " + std::to_string(id) + " was deleted but its folder '" + dir.string()
                        + "' resolves outside '" + root.string() + "'; it was left alone");
        fs::remove_all(dir, ec);
    } else {
        return fail("run " + std::to_string(id) + " was deleted but '" + dir.string()
                    + "' is not a folder; it was left alone");
    }
    if (ec)
        return fail("run " + std::to_string(id) + " was deleted but its folder '" + dir.string()
                    + "' could not be removed: " + ec.message());
    return {};
}

Result<std::vector<std::int64_t>> RunStore::markInterruptedRuns()
{
    if (auto w = m->checkWritable("mark interrupted runs"); !w)
        return w.error();
    LW_STORE_GUARD("marking interrupted runs", {
        std::vector<std::int64_t> marked;
        {
            // Cheap check first: most opens find no running run and take no write lock.
            SQLite::Statement any(*m->db, "SELECT 1 FROM runs WHERE status = 'running' LIMIT 1");
            if (!any.executeStep())
                return marked;
        }
        // Probe the locks inside the write transaction: a live writer cannot commit its final
        // status (and then drop its lock) between our probe and our update.
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::IMMEDIATE);
        SQLite::Statement sel(*m->db, "SELECT id, pid, host FROM runs WHERE status = 'running'");
        std::vector<std::tuple<std::int64_t, std::int64_t, std::string>> dead;
        while (sel.executeStep()) {
            const std::int64_t id = sel.getColumn(0).getInt64();
            if (!m->lockHeld(id))
                dead.emplace_back(id, sel.getColumn(1).getInt64(), text(sel.getColumn(2)));
        }
        SQLite::Statement upd(*m->db, "UPDATE runs SET status = 'interrupted', message = ?, "
                                      "ended = updated WHERE id = ? AND status = 'running'");
        for (const auto &[id, pid, host] : dead) {
            upd.bind(1, "the process recording it (pid " + std::to_string(pid) + " on " + host
                            + ") ended without finishing it");
            upd.bind(2, static_cast<std::int64_t>(id));
            upd.exec();
            upd.reset();
            marked.push_back(id);
        }
        tx.commit();
        return marked;
    });
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
        while (st.executeStep())
            rows.push_back(m->readRow(st));
        return rows;
    });
}

Result<std::int64_t> RunStore::countRuns(const RunFilter &filter) const
{
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

bool RunStore::isLive(std::int64_t id) const
{
    std::lock_guard<std::recursive_mutex> guard(m->mutex);
    return m->lockHeld(id);
}

Result<std::string> RunStore::exportCsv(const std::vector<std::int64_t> &ids) const
{
    LW_STORE_GUARD("exporting metrics", {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::DEFERRED);
        std::string out = "run,stage,epoch,split,metric,value\n";
        for (auto id : ids) {
            if (!m->runExists(id))
                return fail("run " + std::to_string(id) + " not found in '" + m->path + "'");
            const std::string rid = std::to_string(id);
            for (const auto &row : m->readMetrics(id, 0)) {
                out += rid;
                out += ',';
                out += std::to_string(row.stage);
                out += ',';
                out += std::to_string(row.epoch);
                out += ',';
                out += row.split;
                out += ',';
                out += row.metric;
                out += ',';
                out += formatDouble(row.value);
                out += '\n';
            }
        }
        tx.commit();
        return out;
    });
}

Result<std::string> RunStore::exportJson(const std::vector<std::int64_t> &ids) const
{
    LW_STORE_GUARD("exporting runs", {
        SQLite::Transaction tx(*m->db, SQLite::TransactionBehavior::DEFERRED);
        auto all = nlohmann::json::array();
        for (auto id : ids) {
            auto d = m->readDetail(id);
            if (!d)
                return d.error();
            nlohmann::json j = detailJson(*d);
            auto rows = nlohmann::json::array();
            for (const auto &r : m->readMetrics(id, 0))
                rows.push_back({{"stage", r.stage},
                                {"epoch", r.epoch},
                                {"step", r.step},
                                {"split", r.split},
                                {"metric", r.metric},
                                {"value", numJson(r.value)}});
            j["metrics"] = std::move(rows);
            all.push_back(std::move(j));
        }
        tx.commit();
        return all.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    });
}

// ---- free functions --------------------------------------------------------------------------

std::string formatTimeUtc(double unixSeconds)
{
    if (!std::isfinite(unixSeconds) || unixSeconds <= 0)
        return {};
    const auto secs = static_cast<std::time_t>(std::floor(unixSeconds));
    const int ms = std::min(999, static_cast<int>((unixSeconds - std::floor(unixSeconds)) * 1000));
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return buf;
}

std::string toJson(const RunRow &row)
{
    return rowJson(row).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string toJson(const RunDetail &detail)
{
    return detailJson(detail).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<void> RunStore::inheritStages(std::int64_t from, std::int64_t to, int count)
{
    auto parent = getRun(from);
    if (!parent)
        return parent.error();
    for (const StageRow &row : parent->stages) {
        if (row.stage >= count || !row.finished)
            continue;
        StageStarted started;
        started.stage = row.stage;
        started.epochs = row.epochs;
        started.blockParams = row.blockParams;
        started.headParams = row.headParams;
        started.blockMacs = row.blockMacs;
        started.headMacs = row.headMacs;
        StageFinished finished;
        finished.stage = row.stage;
        finished.epochs = row.epochsDone;
        finished.trainAcc = row.trainAcc.value_or(0);
        finished.testAcc = row.testAcc.value_or(0);
        finished.ensembleAcc = row.ensembleAcc.value_or(0);
        finished.seconds = row.seconds;
        finished.imagesPerSecond = row.imagesPerSecond;
        if (auto r = beginStage(to, started); !r)
            return r;
        if (auto r = finishStage(to, finished); !r)
            return r;
    }
    return {};
}

} // namespace lw
