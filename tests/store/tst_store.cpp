// Tests of the run store (core/store): schema and migrations, exact round trips, concurrent
// processes, crashes, bad databases, full disk, export, delete, and the `runs` CLI.
// Child processes are this executable re-run with LW_STORE_CHILD set (see childMain).
#include "core/store/recorder.h"
#include "core/store/runstore.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <signal.h>
#include <sstream>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

// The version-1 schema exactly as Layerwise 0.1 created it (kept here verbatim so that the
// migration test does not depend on the code under test).
const char *const kSchemaV1 = R"sql(
CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied REAL NOT NULL);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL DEFAULT '',
    mode TEXT NOT NULL CHECK (mode IN ('greedy', 'e2e', 'dgl')),
    status TEXT NOT NULL
        CHECK (status IN ('running', 'finished', 'failed', 'cancelled', 'interrupted')),
    spec_json TEXT NOT NULL DEFAULT '', recipe_json TEXT NOT NULL DEFAULT '',
    spec_name TEXT NOT NULL DEFAULT '', dataset TEXT NOT NULL DEFAULT '',
    dataset_fingerprint TEXT NOT NULL DEFAULT '', device TEXT NOT NULL DEFAULT '',
    seed INTEGER NOT NULL DEFAULT 0, torch_version TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL DEFAULT '', pid INTEGER NOT NULL DEFAULT 0, started REAL NOT NULL,
    ended REAL, notes TEXT NOT NULL DEFAULT '',
    parent_run INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    branch_stage INTEGER NOT NULL DEFAULT -1, message TEXT NOT NULL DEFAULT '',
    final_test_acc REAL, best_test_acc REAL, wall_seconds REAL DEFAULT 0,
    params INTEGER NOT NULL DEFAULT 0, macs INTEGER NOT NULL DEFAULT 0,
    stages INTEGER NOT NULL DEFAULT 0);
CREATE INDEX runs_started ON runs(started);
CREATE INDEX runs_parent ON runs(parent_run);
CREATE TABLE run_tags (run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    tag TEXT NOT NULL, PRIMARY KEY (run, tag)) WITHOUT ROWID;
CREATE TABLE stages (run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    stage INTEGER NOT NULL, started REAL NOT NULL, finished REAL,
    block_params INTEGER NOT NULL DEFAULT 0, head_params INTEGER NOT NULL DEFAULT 0,
    block_macs INTEGER NOT NULL DEFAULT 0, head_macs INTEGER NOT NULL DEFAULT 0,
    epochs INTEGER NOT NULL DEFAULT 0, epochs_done INTEGER NOT NULL DEFAULT 0,
    train_acc REAL, test_acc REAL, ensemble_acc REAL, seconds REAL DEFAULT 0,
    PRIMARY KEY (run, stage)) WITHOUT ROWID;
CREATE TABLE metrics (id INTEGER PRIMARY KEY,
    run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, stage INTEGER NOT NULL,
    epoch INTEGER NOT NULL, step INTEGER NOT NULL, split TEXT NOT NULL, metric TEXT NOT NULL,
    value REAL);
CREATE INDEX metrics_run ON metrics(run);
CREATE TABLE probes (run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    after_stage INTEGER NOT NULL, layer INTEGER NOT NULL, train_acc REAL, test_acc REAL,
    seconds REAL DEFAULT 0, PRIMARY KEY (run, after_stage, layer)) WITHOUT ROWID;
CREATE TABLE artifacts (id INTEGER PRIMARY KEY,
    run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, stage INTEGER NOT NULL,
    epoch INTEGER NOT NULL, kind TEXT NOT NULL, path TEXT NOT NULL, created REAL NOT NULL);
CREATE INDEX artifacts_run ON artifacts(run);
INSERT INTO schema_version VALUES (1, 1700000000.0);
)sql";

constexpr int kMetricsPerEpoch = 8;

/// Deterministic, awkward doubles (not representable in short decimal) for epoch `e`.
lw::EpochMetrics epochValues(int stage, int epoch, std::int64_t step)
{
    lw::EpochMetrics m;
    m.stage = stage;
    m.epoch = epoch;
    m.step = step;
    const double x = static_cast<double>(step) + 1;
    m.trainLoss = 2.302585092994046 / x + 1e-17 * x;
    m.trainAcc = 1.0 - 1.0 / (3.0 + x);
    m.testLoss = std::sqrt(2.0) / x;
    m.testAcc = 0.1 + 0.8 * (1.0 - std::exp(-x / 7.0));
    m.ensembleAcc = m.testAcc + 1.0 / 1024.0 / x;
    m.lr = 0.1 / std::pow(5.0, (epoch - 1) / 15);
    m.imagesPerSecond = 1234.5678 + x / 3.0;
    m.seconds = 0.5 + x / 1e3;
    return m;
}

/// Where each stored (split, metric) row comes from (docs/store-schema.md), written out here
/// independently of the store's own mapping.
double valueOf(const lw::EpochMetrics &m, const std::string &split, const std::string &metric)
{
    struct Field
    {
        const char *split, *metric;
        double lw::EpochMetrics::*value;
    };
    static const Field fields[] = {
        {"train", "loss", &lw::EpochMetrics::trainLoss},
        {"train", "acc", &lw::EpochMetrics::trainAcc},
        {"test", "loss", &lw::EpochMetrics::testLoss},
        {"test", "acc", &lw::EpochMetrics::testAcc},
        {"ensemble", "acc", &lw::EpochMetrics::ensembleAcc},
        {"train", "lr", &lw::EpochMetrics::lr},
        {"train", "images_per_second", &lw::EpochMetrics::imagesPerSecond},
        {"epoch", "seconds", &lw::EpochMetrics::seconds},
    };
    for (const Field &f : fields)
        if (split == f.split && metric == f.metric)
            return m.*f.value;
    return std::numeric_limits<double>::quiet_NaN();
}

bool sameBits(double a, double b)
{
    return std::memcmp(&a, &b, sizeof a) == 0;
}

lw::NewRun newRun(const std::string &name, lw::TrainMode mode = lw::TrainMode::Greedy)
{
    lw::NewRun r;
    r.name = name;
    r.mode = mode;
    r.specJson = R"({"name":"cifar-k2","stages":4})";
    r.recipeJson = R"({"epochs":50,"lr":0.1})";
    r.specName = "cifar-k2";
    r.dataset = "CIFAR-10 (50000/10000)";
    r.datasetFingerprint = "sha256:abcd";
    r.device = "cpu";
    r.seed = 42;
    r.torchVersion = "1.13.1";
    r.stages = 4;
    r.params = 2523000;
    r.macs = 760000000;
    return r;
}

std::unique_ptr<lw::RunStore> openOrFail(const std::string &path,
                                         lw::OpenMode mode = lw::OpenMode::ReadWrite,
                                         lw::StoreOptions options = {})
{
    auto s = lw::RunStore::open(path, mode, options);
    if (!s) {
        qWarning("open failed: %s", s.message().c_str());
        return nullptr;
    }
    return std::move(s.value());
}

std::int64_t scalar(const std::string &path, const std::string &sql)
{
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    return db.execAndGet(sql).getInt64();
}

std::string fileBytes(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// ---- child processes --------------------------------------------------------------------------

int fail(const std::string &what)
{
    std::fprintf(stderr, "child: %s\n", what.c_str());
    return 3;
}

/// writer: records LW_CHILD_EPOCHS epochs, one transaction each. spin: records epochs forever.
/// hold: records 20 epochs, then sits in an open write transaction. readonly: drops root,
/// opens the store read-write and reports what works.
int childMain(const std::string &mode)
{
    const char *dbEnv = std::getenv("LW_CHILD_DB");
    if (!dbEnv)
        return fail("LW_CHILD_DB not set");
    const std::string db = dbEnv;
    if (mode == "readonly") {
        if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0))
            return fail("cannot drop privileges");
        auto s = lw::RunStore::open(db, lw::OpenMode::ReadWrite);
        if (!s)
            return fail("open: " + s.message());
        std::printf("readOnly=%d\n", (*s)->readOnly() ? 1 : 0);
        auto list = (*s)->listRuns();
        std::printf("list=%s\n",
                    list ? std::to_string(list->size()).c_str() : list.message().c_str());
        auto created = (*s)->createRun(newRun("x"));
        std::printf("create=%s\n", created ? "ok" : created.message().c_str());
        auto notes = (*s)->setNotes(1, "x");
        std::printf("notes=%s\n", notes ? "ok" : notes.message().c_str());
        return 0;
    }
    auto store = lw::RunStore::open(db, lw::OpenMode::ReadWrite);
    if (!store)
        return fail("open: " + store.message());
    auto id = (*store)->createRun(newRun("child-" + mode));
    if (!id)
        return fail("createRun: " + id.message());
    std::printf("id=%lld\n", static_cast<long long>(*id));
    std::fflush(stdout);
    lw::RunRecorder rec(**store, *id, lw::RecorderOptions{0.0});
    lw::RunStarted started;
    started.stages = 4;
    started.device = "cpu";
    rec.runStarted(started);
    const int epochs = mode == "writer" ? std::atoi(std::getenv("LW_CHILD_EPOCHS"))
                       : mode == "hold" ? 20
                                        : 1 << 30;
    std::int64_t step = 0;
    for (int e = 1; e <= epochs; ++e) {
        const int stage = (e - 1) / 250;
        if ((e - 1) % 250 == 0) {
            lw::StageStarted ss;
            ss.stage = stage;
            ss.epochs = 250;
            rec.stageStarted(ss);
        }
        rec.epochFinished(epochValues(stage, (e - 1) % 250 + 1, ++step));
        if (!rec.ok())
            return fail("record: " + rec.lastError()->message);
        if (mode == "spin" && e == 30) {
            std::printf("spinning\n");
            std::fflush(stdout);
        }
    }
    if (mode == "hold") {
        // A second connection of this process in the middle of a big write transaction.
        SQLite::Database raw(db, SQLite::OPEN_READWRITE, 5000);
        raw.exec("BEGIN IMMEDIATE");
        SQLite::Statement ins(raw, "INSERT INTO metrics(run, stage, epoch, step, split, metric, "
                                   "value) VALUES (?, 0, 999, 999, 'test', 'acc', ?)");
        for (int i = 0; i < 50000; ++i) {
            ins.bind(1, *id);
            ins.bind(2, i * 0.5);
            ins.exec();
            ins.reset();
        }
        std::printf("holding\n");
        std::fflush(stdout);
        for (;;)
            ::pause();
    }
    lw::RunEnded ended;
    ended.status = lw::RunStatus::Finished;
    ended.finalTestAcc = epochValues(0, 0, step).testAcc;
    ended.seconds = 12.5;
    rec.runEnded(ended);
    if (!rec.ok())
        return fail("runEnded: " + rec.lastError()->message);
    return 0;
}

QStringList childEnv(const QString &mode, const QString &db, int epochs = 0)
{
    QStringList env = QProcess::systemEnvironment();
    env << "LW_STORE_CHILD=" + mode << "LW_CHILD_DB=" + db
        << "LW_CHILD_EPOCHS=" + QString::number(epochs);
    return env;
}

/// Reads "key=value" lines from a child until `key` appears.
bool waitForLine(QProcess &p, const QByteArray &prefix, QByteArray *line, int timeoutMs = 30000)
{
    QElapsedTimer t;
    t.start();
    QByteArray buffer;
    while (t.elapsed() < timeoutMs) {
        while (p.canReadLine()) {
            QByteArray l = p.readLine().trimmed();
            if (l.startsWith(prefix)) {
                if (line)
                    *line = l;
                return true;
            }
        }
        if (p.state() == QProcess::NotRunning)
            return false;
        p.waitForReadyRead(100);
    }
    return false;
}

} // namespace

class TestStore : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_tmp;
    int m_n = 0;
    std::string freshPath()
    {
        QDir(m_tmp.path()).mkpath(QString("s%1").arg(++m_n));
        return QString("%1/s%2/runs.sqlite").arg(m_tmp.path()).arg(m_n).toStdString();
    }

    /// A finished greedy run with 2 stages x 3 epochs, probes and a checkpoint.
    std::int64_t recordSmallRun(lw::RunStore &store, const std::string &name,
                                lw::TrainMode mode = lw::TrainMode::Greedy, double shift = 0)
    {
        auto id = store.createRun(newRun(name, mode));
        if (!id)
            return -1;
        lw::RunRecorder rec(store, *id, lw::RecorderOptions{0.0});
        lw::RunStarted rs;
        rs.mode = mode;
        rs.stages = 2;
        rs.device = "cpu";
        rs.dataset = "CIFAR-10";
        rec.runStarted(rs);
        std::int64_t step = 0;
        for (int s = 0; s < 2; ++s) {
            lw::StageStarted ss;
            ss.stage = s;
            ss.epochs = 3;
            ss.blockParams = 1000 * (s + 1);
            ss.headParams = 100;
            ss.blockMacs = 5000;
            ss.headMacs = 50;
            rec.stageStarted(ss);
            lw::EpochMetrics last;
            for (int e = 1; e <= 3; ++e) {
                last = epochValues(s, e, ++step);
                last.testAcc += shift;
                rec.epochFinished(last);
            }
            lw::StageFinished sf;
            sf.stage = s;
            sf.epochs = 3;
            sf.trainAcc = last.trainAcc;
            sf.testAcc = last.testAcc;
            sf.ensembleAcc = last.ensembleAcc;
            sf.seconds = 1.5;
            sf.imagesPerSecond = 1000;
            rec.stageFinished(sf);
            lw::CheckpointSaved cp;
            cp.stage = s;
            cp.epoch = 3;
            cp.path = "stage" + std::to_string(s) + ".pt";
            cp.stageEnd = true;
            rec.checkpointSaved(cp);
            for (int l = 0; l <= s; ++l)
                rec.probeFinished(lw::ProbeResult{s, l, 0.5 + 0.1 * l, 0.4 + 0.1 * l + shift, 2});
        }
        lw::RunEnded end;
        end.status = lw::RunStatus::Finished;
        end.seconds = 9;
        end.finalTestAcc = epochValues(1, 3, 6).testAcc + shift;
        rec.runEnded(end);
        if (!rec.ok())
            qWarning("recorder: %s", rec.lastError()->message.c_str());
        return rec.ok() ? *id : -1;
    }

    int runCli(const QStringList &args, QByteArray *out, QByteArray *err = nullptr,
               const QString &dbEnv = QString())
    {
        QProcess p;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        if (!dbEnv.isEmpty())
            env.insert("LAYERWISE_DB", dbEnv);
        p.setProcessEnvironment(env);
        p.start(LW_CLI_PATH, args);
        if (!p.waitForFinished(60000))
            return -1;
        if (out)
            *out = p.readAllStandardOutput();
        const QByteArray e = p.readAllStandardError();
        if (err)
            *err = e;
        return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(m_tmp.isValid()); }

    void schemaCreation()
    {
        const std::string path = freshPath();
        auto store = openOrFail(path);
        QVERIFY(store);
        QCOMPARE(store->schemaVersion(), lw::RunStore::kSchemaVersion);
        QVERIFY(!store->readOnly());
        SQLite::Database db(path, SQLite::OPEN_READONLY);
        for (const char *table : {"schema_version", "runs", "run_tags", "stages", "metrics",
                                  "probes", "artifacts", "pictures"})
            QVERIFY2(db.tableExists(table), table);
        QCOMPARE(db.execAndGet("PRAGMA journal_mode").getString(), std::string("wal"));
        QCOMPARE(db.execAndGet("SELECT max(version) FROM schema_version").getInt(),
                 lw::RunStore::kSchemaVersion);
        QCOMPARE(db.execAndGet("SELECT count(*) FROM schema_version").getInt(),
                 lw::RunStore::kSchemaVersion);
        QCOMPARE(db.execAndGet("PRAGMA application_id").getInt64(), 0x4C57524E);
        for (const char *index : {"runs_status_started", "run_tags_tag", "metrics_run"})
            QVERIFY2(db.execAndGet(std::string("SELECT count(*) FROM sqlite_master WHERE type = "
                                               "'index' AND name = '")
                                   + index + "'")
                             .getInt()
                         == 1,
                     index);
        // Foreign keys are enforced on the store's connection: a metric of a missing run fails.
        QVERIFY(!store->recordEpochs(999, {epochValues(0, 1, 1)}));
        QCOMPARE(store->runsRoot(), (fs::path(path).parent_path() / "runs").string());
    }

    void migration_data()
    {
        QTest::addColumn<int>("from");
        QTest::newRow("v0 (empty file)") << 0;
        QTest::newRow("v1") << 1;
    }

    void migration()
    {
        QFETCH(int, from);
        const std::string path = freshPath();
        {
            std::ofstream touch(path); // an empty file is a valid, empty SQLite database
        }
        if (from == 1) {
            SQLite::Database db(path, SQLite::OPEN_READWRITE);
            db.exec(kSchemaV1);
            db.exec("INSERT INTO runs(id, name, mode, status, started, ended, final_test_acc) "
                    "VALUES (7, 'old run', 'greedy', 'finished', 1700000100.0, 1700000200.5, "
                    "0.875)");
            db.exec("INSERT INTO run_tags VALUES (7, 'baseline')");
            db.exec("INSERT INTO stages(run, stage, started, finished, test_acc, ensemble_acc) "
                    "VALUES (7, 0, 1700000100.0, 1700000200.0, 0.875, 0.88)");
            db.exec("INSERT INTO metrics(run, stage, epoch, step, split, metric, value) VALUES "
                    "(7, 0, 1, 1, 'test', 'acc', 0.875)");
        }
        auto store = openOrFail(path);
        QVERIFY(store);
        QCOMPARE(store->schemaVersion(), lw::RunStore::kSchemaVersion);
        SQLite::Database db(path, SQLite::OPEN_READONLY);
        std::string versions;
        for (int v = 1; v <= lw::RunStore::kSchemaVersion; ++v) {
            if (v > 1)
                versions += ',';
            versions += std::to_string(v); // appended: GCC 12 warns falsely on "," + to_string
        }
        QCOMPARE(db.execAndGet("SELECT group_concat(version) FROM (SELECT version FROM "
                               "schema_version ORDER BY version)")
                     .getString(),
                 versions);
        QVERIFY(db.execAndGet("SELECT count(*) FROM pragma_table_info('runs') WHERE name = "
                              "'updated'")
                    .getInt()
                == 1);
        QVERIFY(db.tableExists("pictures"));
        if (from == 1) {
            // A run from before pictures existed has none, and says so.
            auto none = store->pictureStages(7);
            QVERIFY(none && none->empty());
            QVERIFY(!store->pictures(7, 0));
            auto d = store->getRun(7);
            QVERIFY2(d, d ? "" : d.message().c_str());
            QCOMPARE(d->run.name, std::string("old run"));
            QCOMPARE(d->run.updated, 1700000200.5); // backfilled from `ended`
            QCOMPARE(d->run.tags, std::vector<std::string>{"baseline"});
            QCOMPARE(*d->run.finalTestAcc, 0.875);
            QCOMPARE(d->stages.size(), std::size_t(1));
            QCOMPARE(d->stages[0].imagesPerSecond, 0.0);
            QVERIFY(!d->run.probes); // v3 columns: an old run did not probe, is not paused
            QVERIFY(!d->run.paused);
            // Run colours and numbers: no colour yet, the ensemble backfilled from the stages.
            QCOMPARE(d->run.colour, std::string());
            QVERIFY(!d->run.finalTestTop5);
            QCOMPARE(*d->run.ensembleAcc, 0.88);
            QCOMPARE(d->run.worldSize, 1); // a one-process run's defaults
            QCOMPARE(d->run.backend, std::string());
            auto m = store->metrics(7);
            QVERIFY(m);
            QCOMPARE(m->size(), std::size_t(1));
        }
        // The migrated store takes new runs; ids continue after the old ones.
        const auto id = recordSmallRun(*store, "new");
        QVERIFY(id > (from == 1 ? 7 : 0));
        // Opening again migrates nothing more.
        store.reset();
        auto again = openOrFail(path);
        QVERIFY(again);
        QCOMPARE(scalar(path, "SELECT count(*) FROM schema_version"),
                 std::int64_t(lw::RunStore::kSchemaVersion));
    }

    void metricsRoundTripExactly()
    {
        const std::string path = freshPath();
        auto store = openOrFail(path);
        QVERIFY(store);
        auto id = store->createRun(newRun("exact"));
        QVERIFY(id);
        std::vector<lw::EpochMetrics> epochs;
        for (int e = 1; e <= 40; ++e)
            epochs.push_back(epochValues(e / 20, e, e));
        // Awkward values: the smallest subnormal, the largest double, infinities, NaN.
        epochs[3].trainLoss = std::numeric_limits<double>::denorm_min();
        epochs[4].trainLoss = std::numeric_limits<double>::max();
        epochs[5].trainLoss = std::numeric_limits<double>::infinity();
        epochs[6].trainLoss = -std::numeric_limits<double>::infinity();
        epochs[7].trainLoss = std::numeric_limits<double>::quiet_NaN();
        epochs[8].trainLoss = 0.1 + 0.2;
        QVERIFY(store->recordEpochs(*id, {epochs.begin(), epochs.begin() + 10}));
        QVERIFY(store->recordEpochs(*id, {epochs.begin() + 10, epochs.end()}));

        auto rows = store->metrics(*id);
        QVERIFY(rows);
        QCOMPARE(rows->size(), epochs.size() * kMetricsPerEpoch);
        std::int64_t lastRowId = 0;
        for (std::size_t i = 0; i < rows->size(); ++i) {
            const auto &r = (*rows)[i];
            const auto &e = epochs[i / kMetricsPerEpoch];
            QVERIFY(r.rowId > lastRowId);
            lastRowId = r.rowId;
            QCOMPARE(r.epoch, e.epoch);
            QCOMPARE(r.stage, e.stage);
            QCOMPARE(r.step, e.step);
            const double want = valueOf(e, r.split, r.metric);
            if (std::isnan(want))
                QVERIFY2(std::isnan(r.value), (r.split + "/" + r.metric).c_str());
            else
                QVERIFY2(sameBits(r.value, want),
                         (r.split + "/" + r.metric + " epoch " + std::to_string(r.epoch)).c_str());
        }
        // Incremental read: only rows after the given row id.
        auto tail = store->metrics(*id, (*rows)[rows->size() - 9].rowId);
        QVERIFY(tail);
        QCOMPARE(tail->size(), std::size_t(8));
        QCOMPARE(tail->front().epoch, 40);

        // The run summary follows the epochs.
        auto d = store->getRun(*id);
        QVERIFY(d);
        QVERIFY(sameBits(*d->run.finalTestAcc, epochs.back().testAcc));
        QVERIFY(sameBits(*d->run.bestTestAcc, epochs.back().testAcc)); // testAcc rises

        // Exported CSV parses back to the same values, bit for bit.
        auto csv = store->exportCsv({*id});
        QVERIFY(csv);
        std::istringstream in(*csv);
        std::string line;
        std::getline(in, line);
        QCOMPARE(line, std::string("run,stage,epoch,split,metric,value"));
        std::size_t n = 0;
        while (std::getline(in, line)) {
            std::vector<std::string> f;
            std::stringstream ls(line);
            std::string cell;
            while (std::getline(ls, cell, ','))
                f.push_back(cell);
            QCOMPARE(f.size(), std::size_t(6));
            const auto &r = (*rows)[n++];
            QCOMPARE(std::stoll(f[0]), static_cast<long long>(*id));
            QCOMPARE(std::stoi(f[1]), r.stage);
            QCOMPARE(std::stoi(f[2]), r.epoch);
            QCOMPARE(f[3], r.split);
            QCOMPARE(f[4], r.metric);
            const double v = std::strtod(f[5].c_str(), nullptr);
            QVERIFY2(std::isnan(r.value) ? std::isnan(v) : sameBits(v, r.value), line.c_str());
        }
        QCOMPARE(n, rows->size());

        // JSON export carries the spec and recipe as JSON, and every metric.
        auto json = store->exportJson({*id});
        QVERIFY(json);
        auto doc = QJsonDocument::fromJson(QByteArray::fromStdString(*json));
        QVERIFY(doc.isArray());
        const auto run = doc.array().at(0).toObject();
        QCOMPARE(run["spec"].toObject()["name"].toString(), QString("cifar-k2"));
        QCOMPARE(run["recipe"].toObject()["epochs"].toInt(), 50);
        QCOMPARE(run["metrics"].toArray().size(), qsizetype(rows->size()));
        QVERIFY(!store->exportCsv({*id, 999}));
    }

    void recorderRecordsARun()
    {
        const std::string path = freshPath();
        auto store = openOrFail(path);
        QVERIFY(store);
        const auto id = recordSmallRun(*store, "small");
        QVERIFY(id > 0);
        QVERIFY(!store->isLive(id)); // finished: the lock is released
        auto d = store->getRun(id);
        QVERIFY(d);
        QCOMPARE(d->run.status, lw::RunStatus::Finished);
        QCOMPARE(d->run.stages, 2);
        QCOMPARE(d->run.stagesDone, 2);
        QCOMPARE(d->run.wallSeconds, 9.0);
        QCOMPARE(d->run.dataset, std::string("CIFAR-10"));
        QVERIFY(d->run.ended.has_value());
        QCOMPARE(d->run.pid, static_cast<std::int64_t>(::getpid()));
        QCOMPARE(d->stages.size(), std::size_t(2));
        QCOMPARE(d->stages[1].blockParams, std::int64_t(2000));
        QCOMPARE(d->stages[1].epochsDone, 3);
        QCOMPARE(d->stages[1].imagesPerSecond, 1000.0);
        QVERIFY(sameBits(*d->stages[1].testAcc, epochValues(1, 3, 6).testAcc));
        QCOMPARE(d->probes.size(), std::size_t(3));
        QCOMPARE(d->probes[2].afterStage, 1);
        QCOMPARE(d->probes[2].layer, 1);
        QCOMPARE(d->artifacts.size(), std::size_t(2));
        QCOMPARE(d->artifacts[1].path, std::string("stage1.pt"));
        QCOMPARE(d->artifacts[1].kind, std::string("stage-checkpoint"));
        QCOMPARE(d->artifacts[1].absolutePath, store->runDir(id) + "/stage1.pt");
        auto m = store->metrics(id);
        QVERIFY(m);
        QCOMPARE(m->size(), std::size_t(6 * kMetricsPerEpoch));
        // Artifact paths may not leave the run's folder.
        QVERIFY(!store->addArtifact(id, 0, 1, "checkpoint", "../other/x.pt"));
        QVERIFY(!store->addArtifact(id, 0, 1, "checkpoint", "/etc/passwd"));

        // Resume from stage 1 epoch 1: later rows go, re-recorded epochs are not duplicated.
        {
            lw::RunRecorder rec(*store, id, lw::RecorderOptions{0.0});
            lw::RunStarted rs;
            rs.stages = 2;
            rs.resumed = true;
            rs.resumeStage = 1;
            rs.resumeEpoch = 1;
            rec.runStarted(rs);
            QVERIFY2(rec.ok(), rec.ok() ? "" : rec.lastError()->message.c_str());
            QVERIFY(store->isLive(id));
            QCOMPARE(store->getRun(id)->run.status, lw::RunStatus::Running);
            QCOMPARE(store->metrics(id)->size(), std::size_t(4 * kMetricsPerEpoch));
            QCOMPARE(store->getRun(id)->probes.size(), std::size_t(1));
            rec.epochFinished(epochValues(1, 2, 5));
            rec.epochFinished(epochValues(1, 3, 6));
            lw::RunEnded end;
            end.status = lw::RunStatus::Cancelled;
            end.message = "stopped by the user";
            rec.runEnded(end);
            QVERIFY(rec.ok());
        }
        d = store->getRun(id);
        QCOMPARE(d->run.status, lw::RunStatus::Cancelled);
        QCOMPARE(d->run.message, std::string("stopped by the user"));
        QCOMPARE(store->metrics(id)->size(), std::size_t(6 * kMetricsPerEpoch));
    }

    // The recorder writes lr and images_per_second under split "train"; history(), epochsSince()
    // and both exports must give back the engine's values, lr included.
    void historyAndExportCarryLr()
    {
        const std::string path = freshPath();
        auto store = openOrFail(path);
        QVERIFY(store);
        auto id = store->createRun(newRun("lr"));
        QVERIFY(id);
        const double lrs[] = {0.1, 0.02, 0.004, 0.05, 0.01};
        std::vector<lw::EpochMetrics> sent;
        {
            lw::RunRecorder rec(*store, *id, lw::RecorderOptions{0.0});
            std::int64_t step = 0;
            for (int s = 0; s < 2; ++s) {
                lw::StageStarted ss;
                ss.stage = s;
                ss.epochs = s == 0 ? 3 : 2;
                rec.stageStarted(ss);
                for (int e = 1; e <= ss.epochs; ++e) {
                    lw::EpochMetrics m = epochValues(s, e, ++step);
                    m.lr = lrs[step - 1];
                    rec.epochFinished(m);
                    sent.push_back(m);
                }
                lw::StageFinished sf;
                sf.stage = s;
                sf.epochs = ss.epochs;
                rec.stageFinished(sf);
            }
            lw::RunEnded end;
            end.status = lw::RunStatus::Finished;
            rec.runEnded(end);
            QVERIFY2(rec.ok(), rec.ok() ? "" : rec.lastError()->message.c_str());
        }

        // Stored under "train", as docs/store-schema.md says.
        auto rows = store->metrics(*id);
        QVERIFY(rows);
        std::vector<double> storedLr;
        for (const auto &r : *rows) {
            if (r.metric == "lr" || r.metric == "images_per_second")
                QCOMPARE(r.split, std::string("train"));
            if (r.metric == "lr")
                storedLr.push_back(r.value);
        }
        QCOMPARE(storedLr.size(), sent.size());

        auto h = store->history(*id);
        QVERIFY2(h, h ? "" : h.message().c_str());
        QCOMPARE(h->epochs.size(), sent.size());
        for (std::size_t i = 0; i < sent.size(); ++i) {
            const auto &got = h->epochs[i];
            const auto &want = sent[i];
            QCOMPARE(got.stage, want.stage);
            QCOMPARE(got.epoch, want.epoch);
            QCOMPARE(got.step, want.step);
            QVERIFY2(sameBits(got.lr, want.lr), std::to_string(got.lr).c_str());
            QVERIFY(sameBits(got.imagesPerSecond, want.imagesPerSecond));
            QVERIFY(sameBits(got.seconds, want.seconds));
            QVERIFY(sameBits(got.trainLoss, want.trainLoss));
            QVERIFY(sameBits(got.testAcc, want.testAcc));
            QVERIFY(sameBits(got.ensembleAcc, want.ensembleAcc));
        }
        QCOMPARE(h->stages.size(), std::size_t(2));
        QCOMPARE(h->epochsOf(1).size(), std::size_t(2));
        QVERIFY(sameBits(h->epochsOf(1).back().lr, 0.01));

        // Polling from a cursor gives the later epochs only, lr included.
        auto first = store->epochsSince(*id, 0);
        QVERIFY(first);
        QCOMPARE(first->cursor, h->cursor);
        const std::int64_t afterThird = (*rows)[3 * kMetricsPerEpoch - 1].rowId;
        auto later = store->epochsSince(*id, afterThird);
        QVERIFY(later);
        QCOMPARE(later->epochs.size(), std::size_t(2));
        QVERIFY(sameBits(later->epochs[0].lr, 0.05));
        QCOMPARE(later->cursor, h->cursor);
        auto none = store->epochsSince(*id, later->cursor);
        QVERIFY(none);
        QVERIFY(none->epochs.empty());
        QCOMPARE(none->cursor, later->cursor);

        // CSV: each epoch's lr row carries the value sent.
        auto csv = store->exportCsv({*id});
        QVERIFY(csv);
        std::istringstream in(*csv);
        std::string line;
        std::getline(in, line);
        QCOMPARE(line, std::string("run,stage,epoch,split,metric,value"));
        std::vector<double> csvLr;
        while (std::getline(in, line)) {
            std::vector<std::string> f;
            std::stringstream ls(line);
            std::string cell;
            while (std::getline(ls, cell, ','))
                f.push_back(cell);
            QCOMPARE(f.size(), std::size_t(6));
            if (f[4] != "lr")
                continue;
            QCOMPARE(f[3], std::string("train"));
            const auto &want = sent[csvLr.size()];
            QCOMPARE(std::stoi(f[1]), want.stage);
            QCOMPARE(std::stoi(f[2]), want.epoch);
            csvLr.push_back(std::strtod(f[5].c_str(), nullptr));
            QVERIFY2(sameBits(csvLr.back(), want.lr), line.c_str());
        }
        QCOMPARE(csvLr.size(), sent.size());

        // JSON: the same values.
        auto json = store->exportJson({*id});
        QVERIFY(json);
        const auto metrics = QJsonDocument::fromJson(QByteArray::fromStdString(*json))
                                 .array()
                                 .at(0)
                                 .toObject()["metrics"]
                                 .toArray();
        std::vector<double> jsonLr;
        for (const auto &v : metrics) {
            const auto o = v.toObject();
            if (o["metric"].toString() == "lr") {
                QCOMPARE(o["split"].toString(), QString("train"));
                jsonLr.push_back(o["value"].toDouble());
            }
        }
        QCOMPARE(jsonLr.size(), sent.size());
        for (std::size_t i = 0; i < sent.size(); ++i)
            QVERIFY(sameBits(jsonLr[i], sent[i].lr));
    }

    void listFilterAndEdit()
    {
        const std::string path = freshPath();
        auto store = openOrFail(path);
        QVERIFY(store);
        const auto a = recordSmallRun(*store, "alpha 100%", lw::TrainMode::Greedy, 0.0);
        const auto b = recordSmallRun(*store, "beta", lw::TrainMode::EndToEnd, 0.05);
        const auto c = recordSmallRun(*store, "gamma", lw::TrainMode::Greedy, -0.05);
        QVERIFY(a > 0 && b > 0 && c > 0);
        QVERIFY(store->setStatus(c, lw::RunStatus::Failed, "NaN loss"));
        QVERIFY(store->setTags(a, {"cifar", " baseline "}));
        QVERIFY(store->addTags(b, {"cifar", "e2e"}));
        QVERIFY(!store->addTags(b, {""}));
        QVERIFY(!store->addTags(b, {"bad\ttag"}));
        QVERIFY(store->setNotes(b, "the end-to-end reference"));
        QVERIFY(store->rename(c, "gamma (lr 0.2)"));

        auto all = store->listRuns();
        QVERIFY(all);
        QCOMPARE(all->size(), std::size_t(3));
        QCOMPARE(all->front().id, c); // newest first
        QCOMPARE(all->back().tags, (std::vector<std::string>{"baseline", "cifar"}));

        auto ids = [&](const lw::RunFilter &f) {
            std::vector<std::int64_t> out;
            auto rows = store->listRuns(f);
            for (const auto &r : *rows)
                out.push_back(r.id);
            return out;
        };
        lw::RunFilter f;
        f.tag = "cifar";
        f.orderBy = lw::RunOrder::Id;
        f.descending = false;
        QCOMPARE(ids(f), (std::vector<std::int64_t>{a, b}));
        QCOMPARE(*store->countRuns(f), std::int64_t(2));
        f = {};
        f.mode = lw::TrainMode::EndToEnd;
        QCOMPARE(ids(f), (std::vector<std::int64_t>{b}));
        f = {};
        f.status = lw::RunStatus::Failed;
        QCOMPARE(ids(f), (std::vector<std::int64_t>{c}));
        QCOMPARE(store->listRuns(f)->front().message, std::string("NaN loss"));
        f = {};
        f.text = "100%"; // LIKE wildcards are literal
        QCOMPARE(ids(f), (std::vector<std::int64_t>{a}));
        f.text = "REFERENCE"; // notes, case-insensitive
        QCOMPARE(ids(f), (std::vector<std::int64_t>{b}));
        f.text = "e2e"; // a tag
        QCOMPARE(ids(f), (std::vector<std::int64_t>{b}));
        f.text = "End-To"; // the mode's label finds end-to-end runs without a tag
        QCOMPARE(ids(f), (std::vector<std::int64_t>{b}));
        f.text = "greedy"; // the mode's name
        f.orderBy = lw::RunOrder::Id;
        f.descending = false;
        QCOMPARE(ids(f), (std::vector<std::int64_t>{a, c}));
        // Every column sorts in SQL; empty values last in either direction.
        f = {};
        f.orderBy = lw::RunOrder::Tags;
        f.descending = false;
        QCOMPARE(ids(f), (std::vector<std::int64_t>{a, b, c})); // "baseline, cifar" < "cifar, e2e"
        f.descending = true;
        QCOMPARE(ids(f), (std::vector<std::int64_t>{b, a, c}));
        f.orderBy = lw::RunOrder::Notes;
        QCOMPARE(ids(f).front(), b);
        // The colour: #rrggbb or empty, anything else is refused naming the value.
        QVERIFY(store->setColour(a, "#0072B2"));
        QCOMPARE(store->getRun(a)->run.colour, std::string("#0072B2"));
        auto bad = store->setColour(a, "blue");
        QVERIFY(!bad);
        QVERIFY(bad.message().find("'blue'") != std::string::npos);
        QVERIFY(!store->setColour(a, "#12345g"));
        QVERIFY(store->setColour(a, ""));
        QVERIFY(!store->setColour(999, "#000000"));
        f = {};
        f.orderBy = lw::RunOrder::FinalTestAcc;
        QCOMPARE(ids(f), (std::vector<std::int64_t>{b, a, c}));
        f.limit = 1;
        f.offset = 1;
        QCOMPARE(ids(f), (std::vector<std::int64_t>{a}));
        QVERIFY(store->removeTag(a, "cifar"));
        QCOMPARE(store->getRun(a)->run.tags, std::vector<std::string>{"baseline"});
        auto missing = store->getRun(999);
        QVERIFY(!missing);
        QVERIFY(missing.message().find("run 999 not found") != std::string::npos);
        QVERIFY(!store->rename(999, "x"));
    }

    void changeToken()
    {
        const std::string path = freshPath();
        auto reader = openOrFail(path);
        QVERIFY(reader);
        auto t0 = reader->changeToken();
        QVERIFY(t0);
        QCOMPARE(*reader->changeToken(), *t0);
        {
            auto writer = openOrFail(path);
            QVERIFY(writer);
            QVERIFY(writer->createRun(newRun("x")));
        }
        auto t1 = reader->changeToken();
        QVERIFY(*t1 != *t0);
        QCOMPARE(*reader->changeToken(), *t1);
        QVERIFY(reader->setNotes(1, "own change"));
        QVERIFY(*reader->changeToken() != *t1);
    }

    void deleteRunRemovesRowsAndFolder()
    {
        const std::string path = freshPath();
        auto store = openOrFail(path);
        QVERIFY(store);
        const auto id = recordSmallRun(*store, "doomed");
        auto child = newRun("branch");
        child.parentRun = id;
        child.branchStage = 1;
        auto cid = store->createRun(child);
        QVERIFY(cid);
        QVERIFY(store->setStatus(*cid, lw::RunStatus::Finished));
        const fs::path dir = store->runDir(id);
        QVERIFY(fs::is_directory(dir));
        std::ofstream(dir / "stage0.pt") << "weights";
        // A folder outside the store that a symlinked run folder points at survives.
        const fs::path outside = fs::path(m_tmp.path().toStdString()) / "outside";
        fs::create_directories(outside);
        std::ofstream(outside / "keep.txt") << "keep";
        const fs::path childDir = store->runDir(*cid);
        fs::remove_all(childDir);
        fs::create_directory_symlink(outside, childDir);

        QVERIFY(store->deleteRun(id));
        QVERIFY(!fs::exists(dir));
        QVERIFY(!*store->exists(id));
        for (const char *table : {"metrics", "stages", "probes", "artifacts", "run_tags"})
            QCOMPARE(scalar(path, std::string("SELECT count(*) FROM ") + table
                                      + " WHERE run = " + std::to_string(id)),
                     std::int64_t(0));
        auto c = store->getRun(*cid);
        QVERIFY(c);
        QVERIFY(!c->run.parentRun.has_value());

        QVERIFY(store->deleteRun(*cid));
        QVERIFY(!fs::exists(fs::symlink_status(childDir)));
        QVERIFY(fs::exists(outside / "keep.txt"));
        auto again = store->deleteRun(id);
        QVERIFY(!again);
        QVERIFY(again.message().find("not found") != std::string::npos);
    }

    void interruptedOnNextOpen()
    {
        const std::string path = freshPath();
        std::int64_t id = 0;
        {
            auto writer = openOrFail(path);
            QVERIFY(writer);
            id = *writer->createRun(newRun("abandoned"));
            // While the writer lives, another store (even in this process) sees it live.
            auto other = openOrFail(path);
            QVERIFY(other);
            QVERIFY(other->isLive(id));
            QCOMPARE(other->getRun(id)->run.status, lw::RunStatus::Running);
        }
        auto store = openOrFail(path);
        QVERIFY(store);
        auto d = store->getRun(id);
        QCOMPARE(d->run.status, lw::RunStatus::Interrupted);
        QVERIFY(d->run.message.find("ended without finishing") != std::string::npos);
    }

    void badDatabase_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("message");
        QTest::newRow("not sqlite") << "text"
                                    << "not an SQLite database";
        QTest::newRow("foreign sqlite") << "foreign"
                                        << "not a Layerwise run store";
        QTest::newRow("newer schema") << "newer"
                                      << "newer than this Layerwise supports";
        QTest::newRow("folder") << "folder"
                                << "is a folder";
    }

    void badDatabase()
    {
        QFETCH(QString, kind);
        QFETCH(QString, message);
        std::string path = freshPath();
        if (kind == "text") {
            std::ofstream(path) << "epoch,loss\n1,2.3\n" << std::string(5000, 'x');
        } else if (kind == "foreign") {
            SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
            db.exec("CREATE TABLE photos (id INTEGER PRIMARY KEY, file TEXT)");
        } else if (kind == "newer") {
            {
                auto s = openOrFail(path);
                QVERIFY(s);
            }
            SQLite::Database db(path, SQLite::OPEN_READWRITE);
            db.exec("INSERT INTO schema_version VALUES (99, 0)");
            db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
        } else if (kind == "folder") {
            fs::create_directories(path);
        }
        const std::string before = kind == "folder" ? "" : fileBytes(path);
        for (auto mode : {lw::OpenMode::ReadWrite, lw::OpenMode::ReadOnly}) {
            auto s = lw::RunStore::open(path, mode);
            QVERIFY(!s);
            QVERIFY2(s.message().find(message.toStdString()) != std::string::npos,
                     s.message().c_str());
            QVERIFY2(s.message().find(path) != std::string::npos, s.message().c_str());
        }
        if (kind != "folder")
            QCOMPARE(fileBytes(path), before); // nothing changed
        QVERIFY(!fs::exists(path + "-wal") || fs::file_size(path + "-wal") == 0);
    }

    void readOnlyFile()
    {
        const std::string path = freshPath();
        {
            auto s = openOrFail(path);
            QVERIFY(s);
            QVERIFY(recordSmallRun(*s, "kept") > 0);
        }
        // Read-only mode: reads work, writes say why not.
        {
            auto s = openOrFail(path, lw::OpenMode::ReadOnly);
            QVERIFY(s);
            QVERIFY(s->readOnly());
            QCOMPARE(s->listRuns()->size(), std::size_t(1));
            auto w = s->setNotes(1, "x");
            QVERIFY(!w);
            QVERIFY2(w.message().find("read-only") != std::string::npos, w.message().c_str());
        }
        // A file this user may not write (as root: a child drops to `nobody`).
        const fs::path dir = fs::path(path).parent_path();
        fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec
                                 | fs::perms::others_read | fs::perms::others_exec);
        fs::permissions(m_tmp.path().toStdString(),
                        fs::perms::owner_all | fs::perms::others_read | fs::perms::others_exec
                            | fs::perms::group_read | fs::perms::group_exec);
        fs::permissions(path,
                        fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
        QProcess child;
        child.setEnvironment(childEnv("readonly", QString::fromStdString(path)));
        child.start(QCoreApplication::applicationFilePath(), {});
        QVERIFY(child.waitForFinished(30000));
        const QString out = child.readAllStandardOutput();
        const QString err = child.readAllStandardError();
        fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
        QVERIFY2(child.exitCode() == 0, qPrintable(err));
        QVERIFY2(out.contains("readOnly=1"), qPrintable(out));
        QVERIFY2(out.contains("list=1"), qPrintable(out));
        QVERIFY2(out.contains(QRegularExpression("create=.*read-only")), qPrintable(out));
        QVERIFY2(out.contains(QRegularExpression("notes=.*read-only")), qPrintable(out));
    }

    void lockedTooLong()
    {
        const std::string path = freshPath();
        auto store = openOrFail(path, lw::OpenMode::ReadWrite, lw::StoreOptions{300, 0});
        QVERIFY(store);
        const auto id = recordSmallRun(*store, "r");
        SQLite::Database other(path, SQLite::OPEN_READWRITE);
        other.exec("BEGIN IMMEDIATE");
        other.exec("UPDATE runs SET notes = 'held' WHERE id = 1");
        auto w = store->setNotes(id, "mine");
        QVERIFY(!w);
        QVERIFY2(w.message().find("locked by another process") != std::string::npos,
                 w.message().c_str());
        // Messages name stages as people count them: stage index 0 is "stage 1".
        lw::StageStarted ss;
        ss.stage = 0;
        auto stage = store->beginStage(id, ss);
        QVERIFY(!stage);
        QVERIFY2(stage.message().find("recording stage 1 of run " + std::to_string(id))
                     != std::string::npos,
                 stage.message().c_str());
        // Readers are not blocked by the writer (WAL).
        auto r = store->getRun(id);
        QVERIFY(r);
        QCOMPARE(r->run.notes, std::string());
        // An open that must write (a running run to check) gives the same message.
        other.exec("ROLLBACK");
        auto running = store->createRun(newRun("running"));
        QVERIFY(running);
        other.exec("BEGIN IMMEDIATE");
        other.exec("UPDATE runs SET notes = 'held' WHERE id = 1");
        auto second = lw::RunStore::open(path, lw::OpenMode::ReadWrite, lw::StoreOptions{300, 0});
        QVERIFY(!second);
        QVERIFY2(second.message().find("locked by another process") != std::string::npos,
                 second.message().c_str());
        other.exec("ROLLBACK");
        QVERIFY(store->setNotes(id, "mine"));
    }

    void fullDiskKeepsLastGoodEpoch()
    {
        const std::string path = freshPath();
        {
            auto s = openOrFail(path);
            QVERIFY(s);
        }
        auto store = openOrFail(path, lw::OpenMode::ReadWrite, lw::StoreOptions{5000, 160 << 10});
        QVERIFY(store);
        auto id = store->createRun(newRun("big"));
        QVERIFY(id);
        int recorded = 0;
        {
            lw::RunRecorder rec(*store, *id, lw::RecorderOptions{0.0});
            for (int e = 1; e <= 100000 && rec.ok(); ++e) {
                rec.epochFinished(epochValues(0, e, e));
                if (rec.ok())
                    recorded = e;
            }
            QVERIFY(!rec.ok());
            QVERIFY2(rec.lastError()->message.find("disk full") != std::string::npos,
                     rec.lastError()->message.c_str());
            QCOMPARE(rec.pendingEpochs(), std::size_t(1)); // kept for a later attempt
            QVERIFY(recorded > 10);
            lw::RunEnded end;
            end.status = lw::RunStatus::Finished;
            rec.runEnded(end);
        }
        store.reset();

        auto check = openOrFail(path);
        QVERIFY(check);
        QCOMPARE(scalar(path, "SELECT count(*) FROM pragma_integrity_check WHERE "
                              "integrity_check <> 'ok'"),
                 std::int64_t(0));
        auto rows = check->metrics(*id);
        QVERIFY(rows);
        // Whole epochs only, 1..recorded, none half-written.
        QCOMPARE(rows->size(), std::size_t(recorded) * kMetricsPerEpoch);
        for (std::size_t i = 0; i < rows->size(); ++i)
            QCOMPARE((*rows)[i].epoch, int(i / kMetricsPerEpoch) + 1);
        auto d = check->getRun(*id);
        QVERIFY(sameBits(*d->run.finalTestAcc, epochValues(0, recorded, recorded).testAcc));
        QVERIFY(d->run.status != lw::RunStatus::Finished);
        QCOMPARE(d->stages.at(0).epochsDone, recorded);
    }

    void concurrentWriterAndReader()
    {
        const std::string path = freshPath();
        {
            auto s = openOrFail(path);
            QVERIFY(s);
        }
        constexpr int epochs = 1000;
        QProcess child;
        child.setEnvironment(childEnv("writer", QString::fromStdString(path), epochs));
        child.start(QCoreApplication::applicationFilePath(), {});
        QByteArray line;
        QVERIFY2(waitForLine(child, "id=", &line), child.readAllStandardError().constData());
        const std::int64_t id = line.mid(3).toLongLong();

        auto reader = openOrFail(path, lw::OpenMode::ReadOnly);
        QVERIFY(reader);
        std::vector<lw::MetricRow> seen;
        std::int64_t since = 0;
        int polls = 0, partialPolls = 0;
        std::uint64_t token = 0;
        bool finished = false;
        while (true) {
            finished = child.state() == QProcess::NotRunning;
            auto t = reader->changeToken();
            QVERIFY2(t, t ? "" : t.message().c_str());
            if (*t != token || finished) {
                token = *t;
                auto rows = reader->metrics(id, since);
                QVERIFY2(rows, rows ? "" : rows.message().c_str());
                auto list = reader->listRuns();
                QVERIFY2(list, list ? "" : list.message().c_str());
                ++polls;
                // Every read sees whole epochs: a transaction is all or nothing.
                QCOMPARE(rows->size() % kMetricsPerEpoch, std::size_t(0));
                if (!rows->empty() && !finished)
                    ++partialPolls;
                for (auto &r : *rows) {
                    QVERIFY(r.rowId > since);
                    since = r.rowId;
                    seen.push_back(std::move(r));
                }
            }
            if (finished)
                break;
            child.waitForFinished(2);
        }
        QCOMPARE(child.exitStatus(), QProcess::NormalExit);
        QVERIFY2(child.exitCode() == 0, child.readAllStandardError().constData());
        QCOMPARE(seen.size(), std::size_t(epochs) * kMetricsPerEpoch);
        for (std::size_t i = 0; i < seen.size(); ++i) {
            const auto &r = seen[i];
            const int step = int(i / kMetricsPerEpoch) + 1;
            QCOMPARE(r.step, std::int64_t(step));
            const auto want = epochValues((step - 1) / 250, (step - 1) % 250 + 1, step);
            QCOMPARE(r.stage, want.stage);
            QCOMPARE(r.epoch, want.epoch);
            QVERIFY(sameBits(r.value, valueOf(want, r.split, r.metric)));
        }
        auto d = reader->getRun(id);
        QCOMPARE(d->run.status, lw::RunStatus::Finished);
        QCOMPARE(d->stages.size(), std::size_t(4));
        qInfo("reader polled %d times (%d with new rows while the writer ran) during %d epochs",
              polls, partialPolls, epochs);
    }

    void sigkill_data()
    {
        QTest::addColumn<QString>("mode");
        QTest::newRow("in an open transaction") << "hold";
        QTest::newRow("while recording") << "spin";
    }

    void sigkill()
    {
        QFETCH(QString, mode);
        const std::string path = freshPath();
        {
            auto s = openOrFail(path);
            QVERIFY(s);
        }
        QProcess child;
        child.setEnvironment(childEnv(mode, QString::fromStdString(path)));
        child.start(QCoreApplication::applicationFilePath(), {});
        QByteArray line;
        QVERIFY2(waitForLine(child, "id=", &line), child.readAllStandardError().constData());
        const std::int64_t id = line.mid(3).toLongLong();
        QVERIFY(waitForLine(child, mode == "hold" ? "holding" : "spinning", nullptr));
        ::kill(static_cast<pid_t>(child.processId()), SIGKILL);
        QVERIFY(child.waitForFinished(10000));
        QCOMPARE(child.exitStatus(), QProcess::CrashExit);

        // Before anyone repairs anything: the file as the killed process left it.
        {
            SQLite::Database db(path, SQLite::OPEN_READWRITE);
            QCOMPARE(db.execAndGet("PRAGMA integrity_check").getString(), std::string("ok"));
            QCOMPARE(db.execAndGet("SELECT status FROM runs WHERE id = " + std::to_string(id))
                         .getString(),
                     std::string("running"));
        }
        // A reader already sees it interrupted (nobody holds its lock), before any writer opens.
        {
            auto reader = lw::RunStore::open(path, lw::OpenMode::ReadOnly);
            QVERIFY(reader);
            auto row = (*reader)->getRun(id);
            QVERIFY(row);
            QCOMPARE(row->run.status, lw::RunStatus::Interrupted);
            QVERIFY(row->run.message.find("ended without finishing") != std::string::npos);
            lw::RunFilter filter;
            filter.status = lw::RunStatus::Running;
            auto running = (*reader)->listRuns(filter);
            QVERIFY(running && running->empty());
        }
        auto store = openOrFail(path);
        QVERIFY(store);
        auto d = store->getRun(id);
        QVERIFY(d);
        QCOMPARE(d->run.status, lw::RunStatus::Interrupted);
        auto rows = store->metrics(id);
        QVERIFY(rows);
        QCOMPARE(rows->size() % kMetricsPerEpoch, std::size_t(0));
        if (mode == "hold")
            QCOMPARE(rows->size(), std::size_t(20 * kMetricsPerEpoch)); // uncommitted rows gone
        else
            QVERIFY(rows->size() >= std::size_t(30 * kMetricsPerEpoch));
        SQLite::Database db(path, SQLite::OPEN_READONLY);
        QCOMPARE(db.execAndGet("PRAGMA integrity_check").getString(), std::string("ok"));
    }

    void resumeKeepsTheFinishedStagesProbes()
    {
        // Regression (issue 19): resuming after a finished stage deleted that stage's probe.
        auto store = openOrFail(freshPath());
        QVERIFY(store);
        lw::NewRun nr = newRun("probed");
        nr.probes = true;
        auto id = store->createRun(nr);
        QVERIFY(id);
        for (int s = 0; s < 2; ++s) {
            QVERIFY(store->recordEpochs(
                *id, {epochValues(s, 1, 1 + 2 * s), epochValues(s, 2, 2 + 2 * s)}));
            QVERIFY(store->recordProbe(*id, lw::ProbeResult{s, s, 0.5, 0.4, 1}));
        }
        QVERIFY(store->setStatus(*id, lw::RunStatus::Cancelled));
        QVERIFY(store->getRun(*id)->run.probes);
        // Resumed after stage 2 finished: both probes stay.
        QVERIFY(store->beginResume(*id, 1, 2, /*stageDone=*/true));
        QCOMPARE(store->getRun(*id)->probes.size(), std::size_t(2));
        // Resumed inside stage 2: its probe goes (the stage trains again), stage 1's stays.
        QVERIFY(store->beginResume(*id, 1, 1, /*stageDone=*/false));
        auto d = store->getRun(*id);
        QCOMPARE(d->probes.size(), std::size_t(1));
        QCOMPARE(d->probes[0].afterStage, 0);
    }

    void pausedReadsPausedUntilTheRunEnds()
    {
        auto store = openOrFail(freshPath());
        QVERIFY(store);
        auto id = store->createRun(newRun("paused"));
        QVERIFY(id);
        QVERIFY(store->setPaused(*id, true));
        auto row = store->getRun(*id)->run;
        QVERIFY(row.paused);
        QCOMPARE(std::string(lw::statusLabel(row.status, row.paused)), std::string("paused"));
        QVERIFY(store->setPaused(*id, false));
        QVERIFY(!store->getRun(*id)->run.paused);
        QVERIFY(store->setPaused(*id, true));
        QVERIFY(store->setStatus(*id, lw::RunStatus::Cancelled));
        row = store->getRun(*id)->run;
        QVERIFY(!row.paused);
        QCOMPARE(std::string(lw::statusLabel(row.status, row.paused)), std::string("stopped"));
        QCOMPARE(std::string(lw::toString(row.status)), std::string("cancelled"));
        QVERIFY(lw::parseRunStatus("stopped") == lw::RunStatus::Cancelled);
        // Active time: the engine's elapsed count, not the sum of the epochs' times.
        auto other = store->createRun(newRun("timed"));
        QVERIFY(other);
        lw::EpochMetrics e = epochValues(0, 1, 1);
        e.seconds = 2;
        e.elapsed = 3.5; // set-up and evaluation before it included
        QVERIFY(store->recordEpochs(*other, {e}));
        QCOMPARE(store->getRun(*other)->run.wallSeconds, 3.5);
    }

    void cli()
    {
        const std::string path = freshPath();
        std::int64_t a = 0, b = 0;
        {
            auto s = openOrFail(path);
            QVERIFY(s);
            a = recordSmallRun(*s, "greedy run", lw::TrainMode::Greedy);
            b = recordSmallRun(*s, "e2e run", lw::TrainMode::EndToEnd, 0.02);
            QVERIFY(s->addTags(a, {"paper"}));
        }
        const QString db = QString::fromStdString(path);
        QByteArray out, err;

        // LAYERWISE_DB selects the store when --db is absent.
        QCOMPARE(runCli({"runs", "list", "--json"}, &out, &err, db), 0);
        auto list = QJsonDocument::fromJson(out);
        QVERIFY2(list.isArray(), out.constData());
        QCOMPARE(list.array().size(), 2);
        const auto first = list.array().at(1).toObject(); // newest first: a is last
        QCOMPARE(first["id"].toInteger(), qint64(a));
        QCOMPARE(first["name"].toString(), QString("greedy run"));
        QCOMPARE(first["mode"].toString(), QString("greedy"));
        QCOMPARE(first["status"].toString(), QString("finished"));
        QVERIFY(first["final_test_acc"].isDouble());
        QVERIFY(!first["started"].toString().isEmpty());
        QCOMPARE(first["tags"].toArray().at(0).toString(), QString("paper"));

        QCOMPARE(runCli({"runs", "list", "--json", "--tag", "paper", "--db", db}, &out), 0);
        QCOMPARE(QJsonDocument::fromJson(out).array().size(), 1);
        QCOMPARE(runCli({"runs", "list", "--json", "--mode", "e2e", "--db", db}, &out), 0);
        QCOMPARE(QJsonDocument::fromJson(out).array().at(0).toObject()["id"].toInteger(),
                 qint64(b));
        QCOMPARE(runCli({"runs", "list", "--status", "bogus", "--db", db}, &out, &err), 2);
        QCOMPARE(runCli({"runs", "list", "--db", db}, &out), 0);
        QVERIFY(out.contains("greedy run"));

        QCOMPARE(runCli({"runs", "show", QString::number(a), "--json", "--db", db}, &out), 0);
        const auto show = QJsonDocument::fromJson(out).object();
        QCOMPARE(show["id"].toInteger(), qint64(a));
        QCOMPARE(show["spec"].toObject()["name"].toString(), QString("cifar-k2"));
        QCOMPARE(show["recipe"].toObject()["lr"].toDouble(), 0.1);
        QCOMPARE(show["stages"].toArray().size(), 2);
        QCOMPARE(show["probes"].toArray().size(), 3);
        QVERIFY(show.contains("final_test_acc") && show.contains("tags"));

        QCOMPARE(runCli({"runs", "show", "42", "--db", db}, &out, &err), 2);
        QVERIFY2(err.contains("run 42 not found"), err.constData());
        QCOMPARE(runCli({"runs", "show", "42"}, &out, &err, QString::fromStdString(freshPath())),
                 2);
        QVERIFY2(err.contains("run 42 not found"), err.constData());

        QCOMPARE(runCli({"runs", "tag", QString::number(b), "x", "y", "--db", db}, &out), 0);
        QCOMPARE(runCli({"runs", "note", QString::number(b), "looks", "good", "--db", db}, &out),
                 0);
        QCOMPARE(runCli({"runs", "rename", QString::number(b), "e2e ref", "--db", db}, &out), 0);
        QCOMPARE(runCli({"runs", "show", QString::number(b), "--json", "--db", db}, &out), 0);
        const auto edited = QJsonDocument::fromJson(out).object();
        QCOMPARE(edited["name"].toString(), QString("e2e ref"));
        QCOMPARE(edited["notes"].toString(), QString("looks good"));
        QCOMPARE(edited["tags"].toArray().size(), 2);

        QCOMPARE(runCli({"runs", "export", QString::number(a), QString::number(b), "--format",
                         "csv", "--db", db},
                        &out),
                 0);
        QVERIFY(out.startsWith("run,stage,epoch,split,metric,value\n"));
        QCOMPARE(out.count('\n'), 1 + 2 * 6 * kMetricsPerEpoch);
        const QString outFile = m_tmp.path() + "/export.json";
        QCOMPARE(runCli({"runs", "export", QString::number(a), "--format", "json", "--out", outFile,
                         "--db", db},
                        &out),
                 0);
        QFile f(outFile);
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(QJsonDocument::fromJson(f.readAll())
                     .array()
                     .at(0)
                     .toObject()["metrics"]
                     .toArray()
                     .size(),
                 6 * kMetricsPerEpoch);
        QCOMPARE(runCli({"runs", "export", "1", "--format", "xml", "--db", db}, &out), 2);

        QCOMPARE(
            runCli({"compare", QString::number(a), QString::number(b), "--json", "--db", db}, &out),
            0);
        const auto cmp = QJsonDocument::fromJson(out).object();
        QCOMPARE(cmp["layers"].toInt(), 2);
        const auto runsArr = cmp["runs"].toArray();
        QCOMPARE(runsArr.size(), 2);
        QCOMPARE(runsArr.at(1).toObject()["mode"].toString(), QString("e2e"));
        const auto layer1 = runsArr.at(0).toObject()["layers"].toArray().at(1).toObject();
        QCOMPARE(layer1["probe_test_acc"].toDouble(), 0.5);
        QCOMPARE(runCli({"compare", QString::number(a), QString::number(b), "--db", db}, &out), 0);
        QVERIFY(out.contains("PROBE"));
        QCOMPARE(runCli({"compare", QString::number(a), "77", "--db", db}, &out, &err), 2);

        QCOMPARE(runCli({"runs", "delete", QString::number(b), "--yes", "--db", db}, &out), 0);
        QCOMPARE(runCli({"runs", "show", QString::number(b), "--db", db}, &out, &err), 2);
        QVERIFY(!fs::exists(fs::path(path).parent_path() / "runs" / std::to_string(b)));
    }
};

int main(int argc, char **argv)
{
    if (const char *child = std::getenv("LW_STORE_CHILD"); child && *child)
        return childMain(child);
    QCoreApplication app(argc, argv);
    TestStore test;
    return QTest::qExec(&test, argc, argv);
}

#include "tst_store.moc"
