#pragma once

// The run store's inside, shared by its parts (schema.cpp, open.cpp, locking.cpp, recording.cpp,
// edits.cpp, queries.cpp, export.cpp). Private to core/store: it exposes SQLiteCpp,
// which lw_store links privately. No torch.
#include "core/store/runstore.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unistd.h>
#include <variant>
#include <vector>

namespace lw {

// ---- small helpers --------------------------------------------------------------------------

inline double nowSeconds()
{
    using namespace std::chrono;
    return duration<double>(system_clock::now().time_since_epoch()).count();
}

inline std::string hostName()
{
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0)
        return "unknown";
    return buf;
}

/// SQLite stores a NaN as NULL; read NULL back as NaN where a value must be a number.
inline void bindReal(SQLite::Statement &st, int index, double value)
{
    if (std::isnan(value))
        st.bind(index);
    else
        st.bind(index, value);
}

inline void bindOptReal(SQLite::Statement &st, int index, const std::optional<double> &value)
{
    if (value)
        bindReal(st, index, *value);
    else
        st.bind(index);
}

inline double realOrNan(const SQLite::Column &c)
{
    return c.isNull() ? std::numeric_limits<double>::quiet_NaN() : c.getDouble();
}

inline double realOr0(const SQLite::Column &c)
{
    return c.isNull() ? 0.0 : c.getDouble();
}

inline std::optional<double> optReal(const SQLite::Column &c)
{
    if (c.isNull())
        return std::nullopt;
    return c.getDouble();
}

inline std::string text(const SQLite::Column &c)
{
    return c.isNull() ? std::string() : c.getString();
}

/// Relative path that stays inside its folder: no root, no "..", not empty.
inline bool isContainedRelative(const std::string &rel)
{
    if (rel.empty() || rel.size() > 4096)
        return false;
    std::filesystem::path p(rel);
    if (p.is_absolute() || p.has_root_name() || p.has_root_directory())
        return false;
    for (const auto &part : p)
        if (part == "..")
            return false;
    return rel.find('\0') == std::string::npos;
}

/// Why a run left `running` reads as interrupted.
inline std::string interruptedMessage(std::int64_t pid, const std::string &host)
{
    return "the process recording it (pid " + std::to_string(pid) + " on " + host
           + ") ended without finishing it";
}

/// Every tag cleaned (trimmed, 1 to 100 characters, no control characters), or the first
/// problem. In edits.cpp.
Result<std::vector<std::string>> cleanTags(const std::vector<std::string> &raw);

/// PRAGMA application_id of a run store file ("LWRN").
inline constexpr std::int64_t kApplicationId = 0x4C57524E;

/// The folder name of a store's runs: its file name without ".sqlite", then ".runs" ("a.sqlite":
/// "a.runs"; "b.db": "b.db.runs"), except the default store's ("runs.sqlite": "runs"), where
/// every store kept its runs before. In runsfolder.cpp.
std::string runsFolderName(const std::string &storeFile);

/// The latest stage's ensemble accuracy of the run being updated (UPDATE runs ...), kept on
/// runs.ensemble_acc so that the browser sorts by it in SQL.
inline constexpr const char *kLatestEnsembleSql
    = "(SELECT s.ensemble_acc FROM stages s WHERE s.run = runs.id AND s.ensemble_acc IS NOT NULL "
      "ORDER BY s.stage DESC LIMIT 1)";

// ---- Impl -----------------------------------------------------------------------------------

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

    ~Impl(); // releases the locks (locking.cpp)

    // open.cpp
    /// Translates an exception from SQLite (or the file system) into a message for a person.
    Error error(const std::string &doing, const std::exception &e) const;
    Result<void> checkWritable(const std::string &doing) const;
    /// "run <id> not found in '<path>'".
    Error runNotFound(std::int64_t id) const;

    /// The store's own runs folder beside it (runsfolder.cpp: runsFolderName).
    std::string runsRoot() const { return (std::filesystem::path(absDir) / runsName).string(); }
    std::string runDir(std::int64_t id) const
    {
        return (std::filesystem::path(absDir) / runsName / std::to_string(id)).string();
    }
    std::string runsName; ///< runsFolderName(path)

    // runsfolder.cpp
    /// Before the store writes in its runs folder: fails when the folder's marker names another
    /// store; creates the folder and the marker when missing.
    Result<void> claimRunsFolder() const;
    /// Fails when the runs folder's marker names another store.
    Result<void> checkRunsFolderOwner() const;
    /// Renames the runs/ folder older versions shared between stores to this store's folder,
    /// only when it can be nobody else's (see docs/store-schema.md); otherwise leaves it alone.
    void adoptLegacyRunsFolder();
    std::string lockPath(std::int64_t id) const { return runDir(id) + "/.lock"; }

    // locking.cpp
    /// Fails when runs/ or runs/<id> is a symbolic link or not a folder: the store writes and
    /// deletes only inside folders it owns, never through a link.
    Result<void> checkOwnedFolder(std::int64_t id) const;
    /// Takes the run's liveness lock (creating runs/<id>/). Fails when another process holds it.
    Result<void> acquireLock(std::int64_t id);
    void releaseLock(std::int64_t id);
    /// Someone (this store or another process) holds the run's lock.
    bool lockHeld(std::int64_t id) const;

    // schema.cpp
    int readSchemaVersion();
    bool hasOtherTables();
    void migrate();

    // recording.cpp
    void touchRun(std::int64_t id);

    // queries.cpp
    bool runExists(std::int64_t id);
    RunRow readRow(SQLite::Statement &st);

    /// WHERE clause with numbered parameters, and their values in order.
    struct Where
    {
        std::string sql;
        std::vector<std::variant<std::string, std::int64_t>> values;
    };

    static Where where(const RunFilter &f);
    static void bindWhere(SQLite::Statement &st, const Where &w);
    std::vector<MetricRow> readMetrics(std::int64_t id, std::int64_t since);
    Result<RunDetail> readDetail(std::int64_t id);
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

} // namespace lw
