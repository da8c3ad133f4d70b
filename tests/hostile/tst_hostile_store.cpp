// The run store owns its folder (issue 20, item 0): it never writes or deletes through a link
// out of it, never replaces a file that is not a regular one, and one run has one recording
// process at a time.

#include "core/spec/spec.h"
#include "core/store/runstore.h"
#include "tests/support/support.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/stat.h>

using namespace lw;
namespace fs = std::filesystem;

namespace {

NewRun finishedRunRow(const char *name)
{
    NewRun nr;
    nr.name = name;
    nr.specJson = serializeSpec(test::tinySpec(1));
    nr.stages = 3;
    return nr;
}

/// Every regular file below `dir` with its bytes.
std::map<std::string, std::string> filesBelow(const fs::path &dir)
{
    std::map<std::string, std::string> out;
    for (const auto &e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file()) {
            std::ifstream f(e.path(), std::ios::binary);
            std::stringstream bytes;
            bytes << f.rdbuf();
            out[fs::relative(e.path(), dir).string()] = bytes.str();
        }
    return out;
}

} // namespace

class TestHostileStore : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void killedTrainingReadsInterruptedAtOnce()
    {
        // Regression: a training killed with SIGKILL stayed "running" for every reader until a
        // writer opened the store. Readers now test the run's lock themselves.
        test::TempStore store;
        QVERIFY(store.ok());
        store.close();
        const QString db = QString::fromStdString(store.path());
        Spec spec = test::tinySpec(50); // far longer than the test waits
        spec.recipe.dataset.trainLimit = 4096;
        const QString specPath = store.dir() + "/long.json";
        {
            QFile f(specPath);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(QByteArray::fromStdString(serializeSpec(spec)));
        }
        QProcess train;
        train.start(QStringLiteral(LW_CLI_PATH), {"train", "--spec", specPath, "--db", db,
                                                  "--threads", "1", "--name", "killed"});
        QVERIFY(train.waitForStarted());
        auto statusOf = [&db](const QStringList &extra = {}) {
            const auto r = test::runCli(QStringList{"runs", "list", "--json", "--db", db} + extra);
            const auto runs = QJsonDocument::fromJson(r.out.toUtf8()).array();
            return runs.isEmpty() ? QString() : runs.first().toObject()["status"].toString();
        };
        // Wait until its first epoch is recorded (the run is well under way).
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                auto reader = RunStore::open(store.path(), OpenMode::ReadOnly);
                if (!reader)
                    return false;
                auto runs = (*reader)->listRuns();
                return runs && runs->size() == 1 && runs->front().status == RunStatus::Running
                       && runs->front().wallSeconds > 0;
            }(),
            120000);
        QCOMPARE(statusOf(), QStringLiteral("running"));

        train.kill(); // SIGKILL: no handler runs, the kernel drops the lock
        QVERIFY(train.waitForFinished(10000));

        // Right away, with no writer having opened the store: interrupted, with the reason.
        const auto r = test::runCli({"runs", "list", "--json", "--db", db});
        QCOMPARE(r.exitCode, 0);
        const auto run = QJsonDocument::fromJson(r.out.toUtf8()).array().first().toObject();
        QCOMPARE(run["status"].toString(), QStringLiteral("interrupted"));
        QVERIFY2(run["message"].toString().contains(QStringLiteral("ended without finishing")),
                 qPrintable(run["message"].toString()));
        const auto table = test::runCli({"runs", "list", "--db", db});
        QVERIFY2(table.out.contains(QStringLiteral("interrupted")), qPrintable(table.out));
        QVERIFY(!table.out.contains(QStringLiteral("running")));
        QCOMPARE(statusOf({"--status", "interrupted"}), QStringLiteral("interrupted"));
        QCOMPARE(statusOf({"--status", "running"}), QString());
        // A reader in this process says the same (the file still says `running`: no writer has
        // opened it).
        auto reader = RunStore::open(store.path(), OpenMode::ReadOnly);
        QVERIFY(reader);
        auto runs = (*reader)->listRuns();
        QVERIFY(runs && runs->size() == 1);
        QCOMPARE(int(runs->front().status), int(RunStatus::Interrupted));
        RunFilter running;
        running.status = RunStatus::Running;
        QCOMPARE((*reader)->countRuns(running).value(), std::int64_t(0));
        const std::int64_t id = runs->front().id;
        QCOMPARE(int((*reader)->getRun(id)->run.status), int(RunStatus::Interrupted));
        reader->reset();
        // A writer's open marks it so in the file; nothing changes for readers.
        auto writer = test::openStore(store.path());
        QVERIFY(writer);
        QCOMPARE(int(writer->getRun(id)->run.status), int(RunStatus::Interrupted));
    }

    void oneRecordingProcessPerRun()
    {
        test::TempStore a;
        QVERIFY(a.ok());
        auto id = a->createRun(finishedRunRow("one"));
        QVERIFY2(id.ok(), id.ok() ? "" : id.message().c_str());
        QVERIFY(a->setStatus(*id, RunStatus::Cancelled).ok()); // releases the creator's lock

        // A second store object has its own lock file handle, as a second process would.
        auto b = test::openStore(a.path());
        QVERIFY(b);
        QVERIFY(a->claimRun(*id).ok());
        auto second = b->claimRun(*id);
        QVERIFY(!second.ok());
        QVERIFY2(second.message().find("another live process") != std::string::npos,
                 second.message().c_str());
        a->releaseRun(*id);
        QVERIFY(b->claimRun(*id).ok());
    }

    void linkedRunsFolderIsNotWrittenThrough()
    {
        test::TempStore store;
        QVERIFY(store.ok());
        QTemporaryDir outside;
        const fs::path runs = fs::path(store.dir().toStdString()) / "runs";
        fs::remove_all(runs);
        fs::create_directory_symlink(outside.path().toStdString(), runs);
        auto id = store->createRun(finishedRunRow("through a link"));
        QVERIFY(!id.ok());
        QVERIFY2(id.message().find("symbolic link") != std::string::npos, id.message().c_str());
        QVERIFY(fs::is_empty(outside.path().toStdString()));
        QCOMPARE(*store->countRuns(), std::int64_t(0));
    }

    void deleteDoesNotFollowALinkedRunsFolder()
    {
        test::TempStore store;
        QVERIFY(store.ok());
        auto id = store->createRun(finishedRunRow("to delete"));
        QVERIFY(id.ok());
        QVERIFY(store->setStatus(*id, RunStatus::Finished).ok());
        // runs/ moved elsewhere and replaced by a link to it: the target must survive.
        QTemporaryDir outside;
        const fs::path runs = fs::path(store.dir().toStdString()) / "runs";
        const fs::path moved = fs::path(outside.path().toStdString()) / "runs";
        fs::rename(runs, moved);
        fs::create_directory_symlink(moved, runs);
        store.close();
        const auto r = test::runCli({"runs", "delete", QString::number(*id), "--yes", "--db",
                                     QString::fromStdString(store.path())},
                                    {}, 60000);
        QVERIFY2(r.err.contains("symbolic link"), qPrintable(r.err));
        QVERIFY(fs::exists(moved / std::to_string(*id)));
    }

    void twoStoresInOneFolderDoNotShareRuns()
    {
        QTemporaryDir dir;
        const fs::path root = dir.path().toStdString();
        const QString spec = dir.filePath("tiny.json");
        std::ofstream(spec.toStdString()) << serializeSpec(test::tinySpec(1));
        const QString a = dir.filePath("a.sqlite"), b = dir.filePath("b.sqlite");
        auto trainIn = [&](const QString &db) {
            return test::runCli({"train", "--spec", spec, "--db", db, "--threads", "1"}, {},
                                120000);
        };
        auto ra = trainIn(a);
        QVERIFY2(ra.exitCode == 0, qPrintable(ra.err));
        // Each store has its own folder, named after it; a's run 1 lives in a.runs/1.
        QVERIFY(fs::exists(root / "a.runs" / "1" / "state.json"));
        QVERIFY(!fs::exists(root / "runs"));
        const auto aFiles = filesBelow(root / "a.runs");
        QVERIFY(aFiles.size() >= 3);

        auto rb = trainIn(b);
        QVERIFY2(rb.exitCode == 0, qPrintable(rb.err));
        QVERIFY(fs::exists(root / "b.runs" / "1" / "state.json"));
        QVERIFY(filesBelow(root / "a.runs") == aFiles); // training in b touched nothing of a's

        auto del = test::runCli({"runs", "delete", "1", "--yes", "--db", b}, {}, 60000);
        QVERIFY2(del.exitCode == 0, qPrintable(del.err));
        QVERIFY(!fs::exists(root / "b.runs" / "1"));
        QVERIFY(filesBelow(root / "a.runs") == aFiles); // deleting b's run 1 left a's run 1
        auto show = test::runCli({"runs", "show", "1", "--db", a}, {}, 60000);
        QCOMPARE(show.exitCode, 0);
    }

    void legacyRunsFolderAdoptedOnlyWhenUnambiguous()
    {
        QTemporaryDir dir;
        const fs::path root = dir.path().toStdString();
        // A store written by an older version: its runs in runs/, no marker.
        auto makeLegacy = [&](const std::string &file) {
            auto store = test::openStore((root / file).string());
            QVERIFY(store);
            auto id = store->createRun(finishedRunRow("old"));
            QVERIFY(id.ok());
            QVERIFY(store->setStatus(*id, RunStatus::Finished).ok());
            store.reset();
            const fs::path own = root / (fs::path(file).stem().string() + ".runs");
            fs::remove(own / ".layerwise-store");
            std::ofstream(own / "1" / "state.json") << "{}";
            fs::rename(own, root / "runs");
        };
        makeLegacy("a.sqlite");
        // Another run store beside it: runs/ might be its, so it stays where it is.
        {
            auto other = test::openStore((root / "b.sqlite").string());
            QVERIFY(other);
        }
        QVERIFY(test::openStore((root / "a.sqlite").string()));
        QVERIFY(fs::exists(root / "runs" / "1" / "state.json"));
        QVERIFY(!fs::exists(root / "a.runs"));

        // Alone in its folder, every entry one of its runs: a.sqlite takes runs/ as a.runs/.
        fs::remove(root / "b.sqlite");
        QVERIFY(test::openStore((root / "a.sqlite").string()));
        QVERIFY(!fs::exists(root / "runs"));
        QVERIFY(fs::exists(root / "a.runs" / "1" / "state.json"));
        QVERIFY(fs::exists(root / "a.runs" / ".layerwise-store"));

        // A runs/ holding a folder that is no run of this store is never taken.
        QTemporaryDir dir2;
        const fs::path root2 = dir2.path().toStdString();
        {
            auto store = test::openStore((root2 / "c.sqlite").string());
            QVERIFY(store);
        }
        fs::create_directories(root2 / "runs" / "7");
        QVERIFY(test::openStore((root2 / "c.sqlite").string()));
        QVERIFY(fs::exists(root2 / "runs" / "7"));
        QVERIFY(!fs::exists(root2 / "c.runs"));
    }

    void runsFolderOfAnotherStoreIsRefused()
    {
        // "a" and "a.sqlite" both name their folder a.runs/: its marker keeps them apart.
        QTemporaryDir dir;
        const fs::path root = dir.path().toStdString();
        auto first = test::openStore((root / "a.sqlite").string());
        QVERIFY(first);
        QVERIFY(first->createRun(finishedRunRow("first")).ok());
        auto second = test::openStore((root / "a").string());
        QVERIFY(second);
        auto id = second->createRun(finishedRunRow("second"));
        QVERIFY(!id.ok());
        QVERIFY2(id.message().find("belongs to the run store 'a.sqlite'") != std::string::npos,
                 id.message().c_str());
    }

    void exportNeverReplacesASpecialFile()
    {
        test::TempStore store;
        QVERIFY(store.ok());
        auto id = store->createRun(finishedRunRow("exported"));
        QVERIFY(id.ok());
        QVERIFY(store->setStatus(*id, RunStatus::Finished).ok());
        store.close();
        const QString fifo = store.dir() + "/out.fifo";
        QCOMPARE(::mkfifo(fifo.toLocal8Bit().constData(), 0600), 0);
        const auto r = test::runCli({"runs", "export", QString::number(*id), "--format", "json",
                                     "--out", fifo, "--db", QString::fromStdString(store.path())},
                                    {}, 60000);
        QVERIFY2(r.exitCode != 0, qPrintable(r.err));
        QVERIFY2(r.err.contains("not a regular file"), qPrintable(r.err));
        QVERIFY(fs::is_fifo(fifo.toStdString()));
    }
};

QTEST_GUILESS_MAIN(TestHostileStore)
#include "tst_hostile_store.moc"
