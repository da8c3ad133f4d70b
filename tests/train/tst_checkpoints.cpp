// Hostile checkpoints (issue 20): each is crafted from a real one and must end `resume` and
// `probe` with exit 2 and a message naming the checkpoint and what is wrong, within seconds,
// leaving the run folder as it was. Torch-free: the archives are taken apart and rebuilt here.

#include "core/train/archivecheck.h"
#include "tests/support/support.h"

#include <QtTest>

#include <zlib.h>

#include <fstream>
#include <sstream>
#include <sys/stat.h>

using namespace lw;

namespace {

using Records = std::vector<std::pair<std::string, std::string>>;

std::uint64_t le(const std::string &b, std::size_t at, int n)
{
    std::uint64_t v = 0;
    for (int k = 0; k < n; ++k)
        v |= std::uint64_t(static_cast<unsigned char>(b[at + std::size_t(k)])) << (8 * k);
    return v;
}

/// `v` as `n` little-endian bytes (beyond 8 bytes: zeros).
void put(std::string &out, std::uint64_t v, int n)
{
    for (int k = 0; k < n; ++k)
        out.push_back(k < 8 ? char((v >> (8 * k)) & 0xff) : '\0');
}

/// The records of a small zip (no zip64), inflating deflated ones.
Records readZip(const std::string &b)
{
    const std::size_t eocd = b.rfind(std::string("PK\x05\x06", 4));
    Records out;
    std::size_t at = le(b, eocd + 16, 4);
    for (std::uint64_t e = 0, n = le(b, eocd + 10, 2); e < n; ++e) {
        const auto method = le(b, at + 10, 2), csize = le(b, at + 20, 4), usize = le(b, at + 24, 4),
                   nameLen = le(b, at + 28, 2);
        const auto local = le(b, at + 42, 4);
        const auto data = local + 30 + le(b, local + 26, 2) + le(b, local + 28, 2);
        std::string content = b.substr(data, csize);
        if (method == 8) {
            std::string raw(usize, '\0');
            z_stream z{};
            inflateInit2(&z, -15);
            z.next_in = reinterpret_cast<Bytef *>(content.data());
            z.avail_in = uInt(content.size());
            z.next_out = reinterpret_cast<Bytef *>(raw.data());
            z.avail_out = uInt(raw.size());
            inflate(&z, Z_FINISH);
            inflateEnd(&z);
            content = raw;
        }
        out.emplace_back(b.substr(at + 46, nameLen), content);
        at += 46 + nameLen + le(b, at + 30, 2) + le(b, at + 32, 2);
    }
    return out;
}

/// A zip of `records`, all stored (as LibTorch stores tensor data).
std::string writeZip(const Records &records)
{
    std::string out, dir;
    for (const auto &[name, data] : records) {
        const auto crc = crc32_z(0, reinterpret_cast<const Bytef *>(data.data()), data.size());
        std::string common;
        put(common, 20, 2); // version needed
        put(common, 0, 2);  // flags
        put(common, 0, 2);  // stored
        put(common, 0, 4);  // time, date
        put(common, crc, 4);
        put(common, data.size(), 4);
        put(common, data.size(), 4);
        put(common, name.size(), 2);
        put(common, 0, 2); // extra
        put(dir, 0x02014b50, 4);
        put(dir, 20, 2); // version made by
        dir += common;
        put(dir, 0, 2 + 2 + 2 + 4); // comment, disk, internal and external attributes
        put(dir, out.size(), 4);
        dir += name;
        put(out, 0x04034b50, 4);
        out += common + name + data;
    }
    const auto dirOffset = out.size();
    out += dir;
    put(out, 0x06054b50, 4);
    put(out, 0, 4);
    put(out, records.size(), 2);
    put(out, records.size(), 2);
    put(out, dir.size(), 4);
    put(out, dirOffset, 4);
    put(out, 0, 2);
    return out;
}

std::string readAll(const QString &path)
{
    std::ifstream f(path.toStdString(), std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

void writeAll(const QString &path, const std::string &bytes)
{
    QFile::remove(path);
    std::ofstream(path.toStdString(), std::ios::binary) << bytes;
}

std::string &record(Records &records, const std::string &suffix)
{
    for (auto &[name, data] : records)
        if (name.size() >= suffix.size()
            && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
            return data;
    qFatal("no record %s", suffix.c_str());
}

} // namespace

class TestCheckpoints : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void realCheckpointPasses();
    void hostileCheckpoints_data();
    void hostileCheckpoints();

private:
    test::TempStore m_store;
    QString m_runDir, m_ckpt, m_otherSpecCkpt;
    std::string m_good;
};

void TestCheckpoints::initTestCase()
{
    QVERIFY(m_store.ok());
    m_store.close();
    const QString spec = m_store.dir() + "/tiny.json";
    std::ofstream(spec.toStdString()) << serializeSpec(test::tinySpec(1));
    Spec wide = test::tinySpec(1);
    wide.stages[0].width = 12;
    const QString wideSpec = m_store.dir() + "/wide.json";
    std::ofstream(wideSpec.toStdString()) << serializeSpec(wide);
    const QString db = QString::fromStdString(m_store.path());
    for (const QString &s : {spec, wideSpec}) {
        auto r = test::runCli({"train", "--spec", s, "--db", db, "--threads", "2"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    }
    m_runDir = m_store.dir() + "/runs/1";
    m_ckpt = m_runDir + "/ckpt-s2-e1-end.pt";
    m_otherSpecCkpt = m_store.dir() + "/runs/2/ckpt-s2-e1-end.pt";
    m_good = readAll(m_ckpt);
    QVERIFY(m_good.size() > 10000);
    // Resumable again, as after an interruption: resume must read the checkpoint.
    QVERIFY(m_store.reopen());
    QVERIFY(m_store->setStatus(1, RunStatus::Cancelled, "interrupted").ok());
    m_store.close();
}

void TestCheckpoints::realCheckpointPasses()
{
    auto info = ckpt::checkArchive(m_good, "ckpt.pt");
    QVERIFY2(info.ok(), info.ok() ? "" : info.message().c_str());
    const ckpt::TensorInfo *w = nullptr;
    for (const auto &t : info->tensors)
        if (t.name == "block0.conv.weight")
            w = &t;
    QVERIFY(w);
    QCOMPARE(w->dtype, std::string("Float"));
    QCOMPARE(w->sizes, (std::vector<std::int64_t>{8, 1, 3, 3}));
    QCOMPARE(w->strides, (std::vector<std::int64_t>{9, 9, 3, 1}));
    // A zip rebuilt with every record stored is the same checkpoint to the validator.
    auto rebuilt = ckpt::checkArchive(writeZip(readZip(m_good)), "ckpt.pt");
    QVERIFY2(rebuilt.ok(), rebuilt.ok() ? "" : rebuilt.message().c_str());
    QCOMPARE(rebuilt->tensors.size(), info->tensors.size());
}

void TestCheckpoints::hostileCheckpoints_data()
{
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("expected");
    QTest::newRow("huge numel") << "huge"
                                << "block0.conv.weight (storage archive/data/0, sizes "
                                   "[2147483647, 1, 3, 3]";
    QTest::newRow("offset past the data") << "offset"
                                          << "offset 255) reaches element 326, its "
                                             "storage holds 72 elements";
    QTest::newRow("pickle nested 100k deep") << "nested"
                                             << "nest deeper than 64 levels";
    QTest::newRow("tensor data cut in half") << "halfdata"
                                             << "bytes (truncated or damaged)";
    QTest::newRow("file cut in half") << "halffile"
                                      << "no end of central directory";
    QTest::newRow("record offset past EOF") << "offset-eof"
                                            << "outside the file";
    QTest::newRow("FIFO") << "fifo"
                          << "not a regular file (a FIFO)";
    QTest::newRow("symbolic link") << "link"
                                   << "symbolic link";
    QTest::newRow("altered TorchScript code") << "code"
                                              << "archive/code/__torch__.py line 2: expected the "
                                                 "parameter list";
    QTest::newRow("a class constant in the code")
        << "constant"
        << "line 4: attribute x has type \"Final[int] = 3\"";
    QTest::newRow("an attribute of another type")
        << "attrtype"
        << "data.pkl's __torch__.Module: attribute block0 holds an object, its class declares "
           "Tensor";
    QTest::newRow("another spec") << "otherspec"
                                  << "block0.conv.weight has shape [12, 1, 3, 3], "
                                     "this spec needs [8, 1, 3, 3]";
}

void TestCheckpoints::hostileCheckpoints()
{
    QFETCH(QString, kind);
    QFETCH(QString, expected);
    Records records = readZip(m_good);
    std::string &pkl = record(records, "/data.pkl");
    // The first tensor (block0.conv.weight, 72 floats): TUPLE, BINPERSID, BINPUT n, BININT1
    // offset, MARK, BININT1 8, BININT1 1, BININT1 3, BININT1 3, TUPLE (sizes).
    const auto persid = pkl.find("tQ") + 1;
    QVERIFY(persid != 0 && pkl.compare(persid + 3, 5, std::string("K\0(K\x08", 5)) == 0);
    std::string bytes;
    if (kind == "huge") {
        pkl.replace(persid + 6, 2, std::string("J\xff\xff\xff\x7f", 5));
        bytes = writeZip(records);
    } else if (kind == "offset") {
        pkl[persid + 4] = '\xff';
        bytes = writeZip(records);
    } else if (kind == "nested") {
        pkl = "\x80\x02" + std::string(100000, ']') + std::string(99999, 'a') + ".";
        bytes = writeZip(records);
    } else if (kind == "halfdata") {
        std::string *largest = &pkl;
        for (auto &[name, data] : records)
            if (name.find("/data/") != std::string::npos && data.size() > largest->size())
                largest = &data;
        QVERIFY(largest != &pkl && largest->size() >= 4096);
        largest->resize(largest->size() / 2);
        bytes = writeZip(records);
    } else if (kind == "halffile") {
        bytes = m_good.substr(0, m_good.size() / 2);
    } else if (kind == "offset-eof") {
        bytes = writeZip(records);
        const auto dir = le(bytes, bytes.size() - 6, 4);
        for (int k = 0; k < 4; ++k)
            bytes[dir + 42 + std::size_t(k)] = char(0xf0 | k);
    } else if (kind == "code" || kind == "constant" || kind == "attrtype") {
        // What the fuzzer found crashing LibTorch's TorchScript importer (SIGSEGV in
        // ScriptTypeParser::parseClassConstant): a class body it does not write itself.
        std::string &code = record(records, "/code/__torch__.py");
        if (kind == "code")
            code.replace(code.find("__parameters__"), 14, "__parametErs__");
        else if (kind == "constant")
            code.insert(code.find("  stem :"), "  x : Final[int] = 3\n");
        else
            code.replace(code.find("block0 : "),
                         code.find('\n', code.find("block0 : ")) - code.find("block0 : "),
                         "block0 : Tensor");
        bytes = writeZip(records);
    } else if (kind == "otherspec") {
        bytes = readAll(m_otherSpecCkpt);
    }
    const QString state = m_runDir + "/state.json";
    const std::string stateBefore = readAll(state);
    if (kind == "fifo") {
        QFile::remove(m_ckpt);
        QCOMPARE(::mkfifo(m_ckpt.toLocal8Bit().constData(), 0600), 0);
    } else if (kind == "link") {
        writeAll(m_store.dir() + "/elsewhere.pt", m_good);
        QFile::remove(m_ckpt);
        QVERIFY(QFile::link(m_store.dir() + "/elsewhere.pt", m_ckpt));
    } else {
        writeAll(m_ckpt, bytes);
    }
    const QString db = QString::fromStdString(m_store.path());
    for (const char *command : {"resume", "probe"}) {
        auto r = test::runCli({command, "1", "--db", db, "--threads", "2"}, {}, 120000);
        const QByteArray why = (QString(command) + ": " + r.err).toUtf8();
        QVERIFY2(r.exitCode == 2, why.constData());
        QVERIFY2(r.err.contains(m_ckpt), why.constData());
        QVERIFY2(r.err.count(m_ckpt) == 1, why.constData()); // the file is named once
        QVERIFY2(r.err.contains(expected), why.constData());
        QVERIFY2(!r.err.contains("state.json"), why.constData());
    }
    QCOMPARE(readAll(state), stateBefore);
    QVERIFY(m_store.reopen());
    auto run = m_store->getRun(1);
    QVERIFY(run.ok());
    // The store is unchanged: the run stays cancelled, resumable once the file is replaced.
    QCOMPARE(int(run->run.status), int(RunStatus::Cancelled));
    m_store.close();
    QFile::remove(m_ckpt);
    writeAll(m_ckpt, m_good);
}

QTEST_GUILESS_MAIN(TestCheckpoints)
#include "tst_checkpoints.moc"
