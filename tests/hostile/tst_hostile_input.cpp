// Hostile input through layerwise-cli (issue 20, items 3, 5 and 7): specs that nothing can train,
// numeric and path flags that are not finite or out of range in every command, a run state whose
// epoch does not fit, and a run name holding escape sequences. Every case ends with exit 2 (or 1)
// and a message naming the flag, file or field; none adds a run to the store or creates the
// default one.

#include "core/spec/spec.h"
#include "core/store/runstore.h"
#include "core/util/format.h"
#include "tests/support/support.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

#include <functional>
#include <memory>

using namespace lw;

namespace {

constexpr int kHangGuardMs = 60000; // generous: every case below ends in well under a second

/// The tiny test spec changed by `edit`, as a file's bytes (serializeSpec writes invalid specs
/// too).
QByteArray tinyWith(const std::function<void(Spec &)> &edit)
{
    Spec s = test::tinySpec(1);
    edit(s);
    return QByteArray::fromStdString(serializeSpec(s));
}

/// Valid, but 8 stages of 16384 channels with 11x11 kernels hold 2.3e11 parameters (910 GB).
Spec hugeSpec()
{
    Spec s = test::tinySpec(1);
    s.stages.assign(8, StageSpec{});
    for (auto &st : s.stages) {
        st.width = SpecLimits::maxWidth;
        st.kernel = 11;
        st.head.pool = HeadPool::Adaptive;
        st.head.pooled = 1;
    }
    return s;
}

bool writeFile(const QString &path, const QByteArray &bytes)
{
    QFile f(path);
    return f.open(QIODevice::WriteOnly) && f.write(bytes) == bytes.size();
}

} // namespace

class TestHostileInput : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void refused_data();
    void refused();
    void stateEpochOutOfRange();
    void namesShownEscaped();
    void cleanupTestCase();

private:
    test::CliResult cli(const QStringList &args) const;
    std::int64_t runCount() const;

    QTemporaryDir m_dir;
    QString m_db;
    std::int64_t m_runId = 0;
};

test::CliResult TestHostileInput::cli(const QStringList &args) const
{
    // The default store and data home point into the test's folder: a command that fell back
    // to them would create it there, and cleanupTestCase would see it.
    return test::runCli(args,
                        {"LAYERWISE_DB=" + m_dir.filePath("default.sqlite"),
                         "XDG_DATA_HOME=" + m_dir.filePath("xdg")},
                        kHangGuardMs);
}

std::int64_t TestHostileInput::runCount() const
{
    auto store = test::openStore(m_db.toStdString());
    if (!store)
        return -1;
    auto n = store->countRuns();
    return n ? *n : -1;
}

void TestHostileInput::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_db = m_dir.filePath("runs.sqlite");
    const QString spec = m_dir.filePath("tiny.json");
    QVERIFY(writeFile(spec, QByteArray::fromStdString(serializeSpec(test::tinySpec(1)))));

    // The spec files of the refused cases.
    QVERIFY(writeFile(m_dir.filePath("stages10000.json"),
                      tinyWith([](Spec &s) { s.stages.assign(10000, s.stages[0]); })));
    QVERIFY(writeFile(m_dir.filePath("width65536.json"),
                      tinyWith([](Spec &s) { s.stages[0].width = 65536; })));
    QVERIFY(writeFile(m_dir.filePath("classes1e6.json"),
                      tinyWith([](Spec &s) { s.input.classes = 1000000; })));
    QVERIFY(writeFile(m_dir.filePath("lr1e300.json"),
                      tinyWith([](Spec &s) { s.recipe.lr.initial = 1e300; })));
    QVERIFY(writeFile(m_dir.filePath("nul.json"),
                      tinyWith([](Spec &) {}) + QByteArray("\0garbage", 8)));
    const Spec huge = hugeSpec();
    QVERIFY(validateSpec(huge).empty());
    QVERIFY(writeFile(m_dir.filePath("huge.json"), QByteArray::fromStdString(serializeSpec(huge))));

    // One finished run to resume, probe, list and show; its name holds an escape sequence.
    const auto r = cli({"train", "--spec", spec, "--db", m_db, "--threads", "1", "--name",
                        QString::fromUtf8("\x1b[31mred\x07 run\xc2\x9b")});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    m_runId = 1;
    QCOMPARE(runCount(), std::int64_t(1));
}

void TestHostileInput::refused_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QStringList>("says");

    // %D: the test folder; %DB: its store. The run is 1.
    const QStringList train{"train", "--spec", "%D/tiny.json", "--db", "%DB"};
    auto trainWith = [&](QStringList extra) {
        return train + extra;
    };

    // Specs nothing can train (item 3): named by file and field, before anything is recorded.
    QTest::newRow("10,000 stages")
        << QStringList{"train", "--spec", "%D/stages10000.json", "--db", "%DB"} << 2
        << QStringList{"stages10000.json: stages: at most 256"};
    QTest::newRow("width 65536") << QStringList{"train", "--spec", "%D/width65536.json", "--db",
                                                "%DB"}
                                 << 2
                                 << QStringList{"width65536.json: stages[0].width: must be at "
                                                "most 16384, got 65536"};
    QTest::newRow("a million classes")
        << QStringList{"train", "--spec", "%D/classes1e6.json", "--db", "%DB"} << 2
        << QStringList{"classes1e6.json: input.classes: must be at most 100000"};
    QTest::newRow("lr 1e300") << QStringList{"train", "--spec", "%D/lr1e300.json", "--db", "%DB"}
                              << 2
                              << QStringList{"lr1e300.json: recipe.lr.initial: must be > 0 and at "
                                             "most 10.0, got 1e+300"};
    QTest::newRow("NUL and garbage after the JSON")
        << QStringList{"arch", "validate", "%D/nul.json"} << 2
        << QStringList{"nul.json: trailing data after the JSON document at byte offset"};
    QTest::newRow("NUL and garbage, train")
        << QStringList{"train", "--spec", "%D/nul.json", "--db", "%DB"} << 2
        << QStringList{"nul.json: trailing data after the JSON document at byte offset"};
    QTest::newRow("larger than this machine")
        << QStringList{"train", "--spec", "%D/huge.json", "--db", "%DB"} << 2
        << QStringList{"cannot be trained on this machine: it needs at least",
                       QString::fromStdString(formatGrouped(summarizeSpec(hugeSpec())->totalParams))
                           + " fp32 parameters",
                       "of RAM"};

    // Numeric flags (item 5): non-finite, overflowing and out-of-range values, every command.
    QTest::newRow("--lr nan") << trainWith({"--lr", "nan"}) << 2
                              << QStringList{"--lr: expected a finite number > 0 and at most 10, "
                                             "got nan"};
    QTest::newRow("--lr inf") << trainWith({"--lr", "inf"}) << 2 << QStringList{"--lr: "};
    QTest::newRow("--lr 1e300") << trainWith({"--lr", "1e300"}) << 2 << QStringList{"--lr: "};
    QTest::newRow("--seed 1e20") << trainWith({"--seed", "99999999999999999999"}) << 2
                                 << QStringList{"--seed: expected an integer from 0 to "
                                                "9223372036854775807, got 99999999999999999999 "
                                                "(out of range)"};
    QTest::newRow("--seed hex") << trainWith({"--seed", "0x10"}) << 2 << QStringList{"--seed: "};
    QTest::newRow("--threads 10000")
        << trainWith({"--threads", "10000"}) << 2
        << QStringList{"--threads: expected an integer from 0 (all cores) to",
                       "(4 x this machine's hardware threads, at most 1024), got 10000"};
    QTest::newRow("--batch 0") << trainWith({"--batch", "0"}) << 2 << QStringList{"--batch: "};
    QTest::newRow("--epochs-per-stage 1e6")
        << trainWith({"--epochs-per-stage", "1000000"}) << 2
        << QStringList{"--epochs-per-stage: expected an integer from 1 to 100000"};
    QTest::newRow("--train-limit -1")
        << trainWith({"--train-limit=-1"}) << 2 << QStringList{"--train-limit: "};
    QTest::newRow("--db empty") << QStringList{"train", "--spec", "%D/tiny.json", "--db", ""} << 2
                                << QStringList{"--db: expected a path, got an empty string"};
    QTest::newRow("resume --threads=-5")
        << QStringList{"resume", "1", "--db", "%DB", "--threads=-5"} << 2
        << QStringList{"--threads: expected an integer from 0 (all cores)"};
    QTest::newRow("resume --threads -5")
        << QStringList{"resume", "1", "--db", "%DB", "--threads", "-5"} << 2
        << QStringList{"--threads"};
    QTest::newRow("resume --db empty")
        << QStringList{"resume", "1", "--db", ""} << 2 << QStringList{"--db: expected a path"};
    QTest::newRow("resume id overflow")
        << QStringList{"resume", "99999999999999999999", "--db", "%DB"} << 2
        << QStringList{"id: expected an integer from 1 to 9223372036854775807"};
    QTest::newRow("probe --threads 10000")
        << QStringList{"probe", "1", "--db", "%DB", "--threads", "10000"} << 2
        << QStringList{"--threads: expected an integer from 0 (all cores)"};
    QTest::newRow("data info --seed overflow")
        << QStringList{"data",      "info",   "--dataset",
                       "synthetic", "--seed", "99999999999999999999999"}
        << 2 << QStringList{"--seed: expected an integer from 0 to 18446744073709551615"};
    QTest::newRow("data info --train-limit nan")
        << QStringList{"data", "info", "--dataset", "synthetic", "--train-limit", "nan"} << 2
        << QStringList{"--train-limit: expected an integer from 0"};
    QTest::newRow("data info --data empty")
        << QStringList{"data", "info", "--dataset", "synthetic", "--data", ""} << 2
        << QStringList{"--data: expected a path"};
    QTest::newRow("doctor --threads 10000") << QStringList{"doctor", "--threads", "10000"} << 2
                                            << QStringList{"--threads: expected an integer"};
    QTest::newRow("doctor --bench-seconds nan")
        << QStringList{"doctor", "--bench-seconds", "nan"} << 2
        << QStringList{"--bench-seconds: expected a finite number from 0.05 to 60, got nan"};
    QTest::newRow("runs list --db empty")
        << QStringList{"runs", "list", "--db", ""} << 2 << QStringList{"--db: expected a path"};
    QTest::newRow("runs list --limit overflow")
        << QStringList{"runs", "list", "--db", "%DB", "--limit", "99999999999999999999"} << 2
        << QStringList{"--limit"};
    QTest::newRow("runs show id overflow")
        << QStringList{"runs", "show", "99999999999999999999", "--db", "%DB"} << 2
        << QStringList{"99999999999999999999 (out of range)"};
}

void TestHostileInput::refused()
{
    QFETCH(QStringList, args);
    QFETCH(int, exitCode);
    QFETCH(QStringList, says);
    for (QString &a : args) {
        a.replace("%DB", m_db);
        a.replace("%D", m_dir.path());
    }
    const auto r = cli(args);
    QVERIFY2(
        r.exitCode == exitCode,
        qPrintable(QString("exit %1\nstdout: %2\nstderr: %3").arg(r.exitCode).arg(r.out, r.err)));
    for (const QString &s : says)
        QVERIFY2(r.err.contains(s), qPrintable("expected \"" + s + "\" in:\n" + r.err));
    QCOMPARE(runCount(), std::int64_t(1));
}

void TestHostileInput::stateEpochOutOfRange()
{
    // An epoch of 2^40 in state.json used to wrap to 0 and silently restart the stage.
    const QString state = m_dir.filePath("runs/1/state.json");
    QFile f(state);
    QVERIFY2(f.open(QIODevice::ReadOnly), qPrintable(state));
    QJsonObject json = QJsonDocument::fromJson(f.readAll()).object();
    f.close();
    QVERIFY(json.contains("epoch"));
    json["epoch"] = double(std::int64_t(1) << 40);
    QVERIFY(writeFile(state, QJsonDocument(json).toJson()));
    {
        auto store = test::openStore(m_db.toStdString());
        QVERIFY(store);
        QVERIFY(store->setStatus(m_runId, RunStatus::Cancelled).ok()); // resumable
    }
    const auto r = cli({"resume", "1", "--db", m_db, "--threads", "1"});
    QVERIFY2(r.exitCode == 2, qPrintable(r.err));
    QVERIFY2(r.err.contains(state), qPrintable(r.err));
    QVERIFY2(r.err.contains("\"epoch\" is 1099511627776, expected an integer from 0 to 1"),
             qPrintable(r.err));
    QCOMPARE(runCount(), std::int64_t(1));
}

void TestHostileInput::namesShownEscaped()
{
    const QString shown = QString::fromUtf8("\\x1b[31mred\\x07 run\\u009b");
    const auto list = cli({"runs", "list", "--db", m_db});
    QCOMPARE(list.exitCode, 0);
    QVERIFY2(list.out.contains(shown), qPrintable(list.out));
    QVERIFY(!list.out.contains(QChar(0x1b)) && !list.out.contains(QChar(0x07))
            && !list.out.contains(QChar(0x9b)));

    const auto show = cli({"runs", "show", "1", "--db", m_db});
    QCOMPARE(show.exitCode, 0);
    QVERIFY2(show.out.contains("Run 1: " + shown), qPrintable(show.out));
    QVERIFY(!show.out.contains(QChar(0x1b)) && !show.out.contains(QChar(0x9b)));

    // JSON keeps the name as it is, escaped by the JSON writer.
    const auto json = cli({"runs", "show", "1", "--db", m_db, "--json"});
    QCOMPARE(json.exitCode, 0);
    QCOMPARE(QJsonDocument::fromJson(json.out.toUtf8()).object().value("name").toString(),
             QString::fromUtf8("\x1b[31mred\x07 run\xc2\x9b"));
    QVERIFY(!json.out.contains(QChar(0x1b)));
}

void TestHostileInput::cleanupTestCase()
{
    QVERIFY2(!QFile::exists(m_dir.filePath("default.sqlite")),
             "a command fell back to the default store");
    QVERIFY(!QFile::exists(m_dir.filePath("xdg/layerwise/runs.sqlite")));
}

QTEST_GUILESS_MAIN(TestHostileInput)
#include "tst_hostile_input.moc"
