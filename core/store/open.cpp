// Opening a store: the file checks, WAL and size pragmas, the migrations, and how a failure from
// SQLite becomes a message naming the file.
#include "core/store/runstore_p.h"

#include "core/util/fsutil.h"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace fs = std::filesystem;

namespace lw {

namespace {

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

} // namespace

/// Translates an exception from SQLite (or the file system) into a message for a person.
Error RunStore::Impl::runNotFound(std::int64_t id) const
{
    return Error{"run " + std::to_string(id) + " not found in '" + path + "'"};
}

Error RunStore::Impl::error(const std::string &doing, const std::exception &e) const
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
    case SQLITE_IOERR: return Error{where + ": I/O error while " + doing + " (" + e.what() + ")"};
    default: break;
    }
    return Error{where + ": " + doing + " failed: " + e.what()};
}

Result<void> RunStore::Impl::checkWritable(const std::string &doing) const
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
    impl->runsName = runsFolderName(abs.string());

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
        if (s.schema < 0) // a crafted file: the migrations are indexed by version
            return fail("run store '" + path + "' has schema version " + std::to_string(s.schema)
                        + ", expected 0.." + std::to_string(kSchemaVersion)
                        + "; nothing was changed");
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
            s.migrate();
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
        store->m->adoptLegacyRunsFolder();
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

} // namespace lw
