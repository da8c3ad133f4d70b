// The store's schema: the forward migrations and how a file's version is read. Opening a store
// (open.cpp) applies the migrations a file lacks.
#include "core/store/runstore_p.h"

#include <iterator>
#include <string>

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

// v3: run state: whether a run probes every layer (a resumed run goes on probing), and whether its
// live process holds it paused (readers show "paused", not "running").
const char *const kMigrationRunState = R"sql(
ALTER TABLE runs ADD COLUMN probes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
)sql";

// v4: run colours and numbers for the plots and tables: a run's colour in comparisons ("#rrggbb",
// empty until first compared), its last top-5 test accuracy (more than 10 classes), and its
// latest stage's ensemble accuracy kept on the run so that the browser sorts by it in SQL.
const char *const kMigrationRunColours = R"sql(
ALTER TABLE runs ADD COLUMN colour TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN final_test_top5 REAL;
ALTER TABLE runs ADD COLUMN ensemble_acc REAL;
UPDATE runs SET ensemble_acc = (SELECT s.ensemble_acc FROM stages s WHERE s.run = runs.id
    AND s.ensemble_acc IS NOT NULL ORDER BY s.stage DESC LIMIT 1);
)sql";

// v5: pictures of what each stage learned (core/events/pictures.h): one row per (run, stage, kind)
// with kind head-confusion, ensemble-confusion, projection, filters, feature-maps, hard-errors or
// stage; small numbers as JSON in `meta`, points and pixels as a blob in `data`.
const char *const kMigrationPictures = R"sql(
CREATE TABLE IF NOT EXISTS pictures (
    run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    stage INTEGER NOT NULL,
    kind TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}',
    data BLOB,
    created REAL NOT NULL,
    PRIMARY KEY (run, stage, kind)
) WITHOUT ROWID;
)sql";

// v6: multi-process runs (core/dist): how many processes trained the run, on which c10d backend and
// machines. A one-process run keeps the defaults.
const char *const kMigrationDistributed = R"sql(
ALTER TABLE runs ADD COLUMN world_size INTEGER NOT NULL DEFAULT 1;
ALTER TABLE runs ADD COLUMN backend TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN hosts TEXT NOT NULL DEFAULT '';
)sql";

const char *const kMigrations[] = {kMigrationV1,         kMigrationV2,       kMigrationRunState,
                                   kMigrationRunColours, kMigrationPictures, kMigrationDistributed};
static_assert(std::size(kMigrations) == RunStore::kSchemaVersion);

} // namespace

int RunStore::Impl::readSchemaVersion()
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

bool RunStore::Impl::hasOtherTables()
{
    SQLite::Statement st(*db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                              "name NOT LIKE 'sqlite_%'");
    st.executeStep();
    return st.getColumn(0).getInt() > 0;
}

/// Applies the migrations after the file's version, each in its own write transaction.
void RunStore::Impl::migrate()
{
    for (int v = schema + 1; v <= kSchemaVersion; ++v) {
        SQLite::Transaction tx(*db, SQLite::TransactionBehavior::IMMEDIATE);
        // Re-check inside the write lock: another process may have migrated meanwhile.
        const int now = readSchemaVersion();
        if (now >= v) {
            tx.commit();
            continue;
        }
        db->exec(kMigrations[v - 1]);
        SQLite::Statement ins(*db, "INSERT INTO schema_version(version, applied) VALUES (?, ?)");
        ins.bind(1, v);
        ins.bind(2, nowSeconds());
        ins.exec();
        if (v == 1)
            db->exec("PRAGMA application_id = " + std::to_string(kApplicationId));
        tx.commit();
    }
}

} // namespace lw
