// The run store owns its folder (issue 20, item 0): it never writes or deletes through a link
// out of it, never replaces a file that is not a regular one, and one run has one recording
// process at a time.

#include "core/spec/spec.h"
#include "core/store/runstore.h"
#include "tests/support/support.h"

#include <QtTest>

#include <filesystem>
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

} // namespace

class TestHostileStore : public QObject
{
    Q_OBJECT

private Q_SLOTS:
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
