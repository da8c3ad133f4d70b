// Datasets and the input pipeline: readers on files the test writes itself (IDX plain and gzip,
// CIFAR-10/100, image folders with JPEG and PNG), their errors, transforms and the loader.

#include "core/data/codec.h"
#include "core/data/loader_p.h"
#include "core/spec/spec.h"

#include <zlib.h>

#include <QtTest>

#include <QDir>
#include <QTemporaryDir>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>

namespace fs = std::filesystem;
using namespace lw;

namespace {

void writeBytes(const fs::path &path, const std::string &bytes)
{
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), std::streamsize(bytes.size()));
}

void writeGz(const fs::path &path, const std::string &bytes)
{
    fs::create_directories(path.parent_path());
    gzFile f = gzopen(path.string().c_str(), "wb");
    QVERIFY(f);
    QCOMPARE(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
    gzclose(f);
}

std::string be32(std::uint32_t v)
{
    return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

int pixelOf(int i, int y, int x)
{
    return (i * 37 + y * 11 + x * 3) % 256;
}

std::string idxImages(int n, int rows, int cols, std::uint32_t countInHeader = 0)
{
    std::string s = std::string("\0\0\x08\x03", 4) + be32(countInHeader ? countInHeader : n)
                    + be32(rows) + be32(cols);
    for (int i = 0; i < n; ++i)
        for (int y = 0; y < rows; ++y)
            for (int x = 0; x < cols; ++x)
                s += char(pixelOf(i, y, x));
    return s;
}

std::string idxLabels(int n, int badAt = -1)
{
    std::string s = std::string("\0\0\x08\x01", 4) + be32(n);
    for (int i = 0; i < n; ++i)
        s += char(i == badAt ? 12 : i % 10);
    return s;
}

/// A small IDX set: 40 train and 20 test images of 5 x 7 (odd sizes on purpose).
void writeIdxSet(const fs::path &dir, bool gz)
{
    auto put = [&](const std::string &name, const std::string &bytes) {
        if (gz)
            writeGz(dir / (name + ".gz"), bytes);
        else
            writeBytes(dir / name, bytes);
    };
    put("train-images-idx3-ubyte", idxImages(40, 5, 7));
    put("train-labels-idx1-ubyte", idxLabels(40));
    put("t10k-images-idx3-ubyte", idxImages(20, 5, 7));
    put("t10k-labels-idx1-ubyte", idxLabels(20));
}

std::string cifarRecords(int first, int n, int labelBytes, int badLabelAt = -1)
{
    std::string s;
    for (int r = 0; r < n; ++r) {
        const int i = first + r;
        if (labelBytes == 2)
            s += char(i % 20);
        s += char(r == badLabelAt ? (labelBytes == 2 ? 100 : 10)
                                  : i % (labelBytes == 2 ? 100 : 10));
        for (int p = 0; p < 3072; ++p)
            s += char((i * 7 + p * 13) % 256);
    }
    return s;
}

void writeCifar10(const fs::path &dir)
{
    int first = 0;
    for (int b = 1; b <= 5; ++b) {
        const int n = b == 1 ? 3 : 2;
        writeBytes(dir / ("data_batch_" + std::to_string(b) + ".bin"), cifarRecords(first, n, 1));
        first += n;
    }
    writeBytes(dir / "test_batch.bin", cifarRecords(100, 4, 1));
}

data::RawImage makeImage(int w, int h, int channels, int seed, bool flat)
{
    data::RawImage img;
    img.width = w;
    img.height = h;
    img.channels = channels;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < channels; ++c)
                img.pixels.push_back(std::uint8_t(
                    flat ? 40 + 60 * c + seed : (seed * 29 + y * 17 + x * 5 + c * 70) % 256));
    return img;
}

void writeImage(const fs::path &path, const data::RawImage &img)
{
    const bool png = path.extension() == ".png";
    auto bytes = png ? data::encodePng(img) : data::encodeJpeg(img, 100);
    QVERIFY2(bytes.ok(), bytes.ok() ? "" : bytes.message().c_str());
    writeBytes(path, bytes.value());
}

/// ROOT/train/{cat,dog}/ and ROOT/val/{cat,dog}/ with PNG (exact) and flat-colour JPEG files of
/// odd sizes, including gray ones.
void writeFolder(const fs::path &root)
{
    writeImage(root / "train/dog/a.png", makeImage(13, 9, 3, 1, false));
    writeImage(root / "train/dog/b.JPEG", makeImage(17, 11, 3, 2, true));
    writeImage(root / "train/cat/c.png", makeImage(7, 15, 1, 3, false));
    writeImage(root / "train/cat/sub/d.jpg", makeImage(9, 9, 1, 4, true));
    writeImage(root / "val/cat/e.png", makeImage(5, 5, 3, 5, false));
    writeImage(root / "val/dog/f.jpeg", makeImage(21, 3, 3, 6, true));
    writeBytes(root / "train/dog/notes.txt", "not an image");
}

DatasetOptions optionsFor(const std::string &name, const fs::path &path)
{
    DatasetOptions o;
    o.name = name;
    o.path = path.string();
    return o;
}

std::shared_ptr<data::Dataset> openOk(const DatasetOptions &o)
{
    auto ds = data::Dataset::open(o);
    if (!ds.ok())
        qWarning("%s", ds.message().c_str());
    return ds.ok() ? ds.value() : nullptr;
}

torch::Tensor imageOf(const data::Split &split, std::int64_t i, int targetSide = 0)
{
    auto r = split.image(i, targetSide);
    if (!r.ok())
        qWarning("%s", r.message().c_str());
    return r.ok() ? r.value().contiguous() : torch::Tensor();
}

} // namespace

class TestData : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { torch::manual_seed(0); }

    void names()
    {
        const auto n = datasetNames();
        QCOMPARE(n.size(), std::size_t(7));
        QCOMPARE(n.front(), std::string("fashion-mnist"));
        auto r = probeDataset(optionsFor("imagenet-2012", ""));
        QVERIFY(!r.ok());
        QVERIFY(r.message().find("unknown dataset") != std::string::npos);
        QVERIFY(r.message().find("cifar100") != std::string::npos);
        // Every kind the readers know is a valid recipe.dataset.name in a spec (kmnist was not).
        auto spec = loadPreset("fmnist-k1");
        QVERIFY(spec.ok());
        for (const auto &name : n) {
            spec->recipe.dataset.name = name;
            QVERIFY2(validateSpec(*spec).empty(), name.c_str());
        }
    }

    void idxRoundTrip_data()
    {
        QTest::addColumn<bool>("gz");
        QTest::newRow("plain") << false;
        QTest::newRow("gzip") << true;
    }

    void idxRoundTrip()
    {
        QFETCH(bool, gz);
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        writeIdxSet(dir / "raw", gz);
        std::vector<std::string> logs;
        DatasetOptions o = optionsFor("mnist", dir); // the parent: raw/ is found
        o.log = [&](LogLevel, const std::string &m) {
            logs.push_back(m);
        };
        auto ds = openOk(o);
        QVERIFY(ds);
        const auto &info = ds->info();
        QCOMPARE(info.trainSize, std::int64_t(40));
        QCOMPARE(info.testSize, std::int64_t(20));
        QCOMPARE(info.channels, 1);
        QCOMPARE(info.height, 5);
        QCOMPARE(info.width, 7);
        QCOMPARE(info.classes, 10);
        QCOMPARE(info.root, (dir / "raw").string());
        QCOMPARE(info.description.find("gzip") != std::string::npos, gz);
        QVERIFY(!logs.empty() && logs[0].find((dir / "raw").string()) != std::string::npos);
        for (auto [split, n] : {std::pair{ds->train(), 40}, std::pair{ds->test(), 20}}) {
            QCOMPARE(split->size(), std::int64_t(n));
            for (int i = 0; i < n; ++i) {
                QCOMPARE(split->label(i), std::int64_t(i % 10));
                const auto img = imageOf(*split, i);
                QCOMPARE(img.sizes().vec(), (std::vector<std::int64_t>{1, 5, 7}));
                for (int y = 0; y < 5; ++y)
                    for (int x = 0; x < 7; ++x)
                        QCOMPARE(int(img[0][y][x].item<std::uint8_t>()), pixelOf(i, y, x));
            }
            QCOMPARE(split->allImages().sizes().vec(), (std::vector<std::int64_t>{n, 1, 5, 7}));
        }
        // Same files, same fingerprint; a limit changes it.
        auto again = probeDataset(o);
        QVERIFY(again.ok());
        QCOMPARE(again->fingerprint, info.fingerprint);
        o.trainLimit = 10;
        QVERIFY(probeDataset(o)->fingerprint != info.fingerprint);
    }

    void idxTorchvisionRoot()
    {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        writeIdxSet(dir / "FashionMNIST" / "raw", true);
        auto r = probeDataset(optionsFor("fashion-mnist", dir));
        QVERIFY2(r.ok(), r.ok() ? "" : r.message().c_str());
        QCOMPARE(r->root, (dir / "FashionMNIST" / "raw").string());
        QCOMPARE(r->classNames[9], std::string("Ankle boot"));
    }

    void cifar10RoundTrip()
    {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        writeCifar10(dir / "cifar-10-batches-bin");
        auto ds = openOk(optionsFor("cifar10", dir));
        QVERIFY(ds);
        QCOMPARE(ds->info().trainSize, std::int64_t(11));
        QCOMPARE(ds->info().testSize, std::int64_t(4));
        QCOMPARE(ds->info().classNames[0], std::string("airplane"));
        for (int i : {0, 2, 3, 10}) {
            QCOMPARE(ds->train()->label(i), std::int64_t(i % 10));
            const auto img = imageOf(*ds->train(), i);
            QCOMPARE(img.sizes().vec(), (std::vector<std::int64_t>{3, 32, 32}));
            for (int p : {0, 1, 1023, 1024, 2047, 3071})
                QCOMPARE(int(img.view({-1})[p].item<std::uint8_t>()), (i * 7 + p * 13) % 256);
        }
        QCOMPARE(ds->test()->label(3), std::int64_t(103 % 10));
        QCOMPARE(int(imageOf(*ds->test(), 1).view({-1})[5].item<std::uint8_t>()),
                 (101 * 7 + 5 * 13) % 256);
    }

    void cifar100RoundTrip_data()
    {
        QTest::addColumn<bool>("coarse");
        QTest::newRow("fine") << false;
        QTest::newRow("coarse") << true;
    }

    void cifar100RoundTrip()
    {
        QFETCH(bool, coarse);
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        writeBytes(dir / "cifar-100-binary" / "train.bin", cifarRecords(0, 120, 2));
        writeBytes(dir / "cifar-100-binary" / "test.bin", cifarRecords(500, 7, 2));
        DatasetOptions o = optionsFor("cifar100", dir);
        o.cifar100Coarse = coarse;
        auto ds = openOk(o);
        QVERIFY(ds);
        QCOMPARE(ds->info().classes, coarse ? 20 : 100);
        QCOMPARE(int(ds->info().classNames.size()), coarse ? 20 : 100);
        QCOMPARE(ds->train()->size(), std::int64_t(120));
        for (int i : {0, 19, 99, 119}) {
            QCOMPARE(ds->train()->label(i), std::int64_t(coarse ? i % 20 : i % 100));
            QCOMPARE(int(imageOf(*ds->train(), i).view({-1})[3000].item<std::uint8_t>()),
                     (i * 7 + 3000 * 13) % 256);
        }
        QCOMPARE(ds->test()->label(6), std::int64_t(coarse ? 506 % 20 : 506 % 100));
    }

    void imageFolderRoundTrip()
    {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        writeFolder(root);
        DatasetOptions o = optionsFor("imagefolder", root);
        o.imageSide = 64;
        auto ds = openOk(o);
        QVERIFY(ds);
        const auto &info = ds->info();
        QCOMPARE(info.classNames, (std::vector<std::string>{"cat", "dog"}));
        QCOMPARE(info.trainSize, std::int64_t(4));
        QCOMPARE(info.testSize, std::int64_t(2));
        QCOMPARE(info.height, 64);
        const auto &train = *ds->train();
        QVERIFY(!train.allImages().defined());
        // Sorted by class, then path: cat/c.png, cat/sub/d.jpg, dog/a.png, dog/b.JPEG.
        QCOMPARE(train.label(0), std::int64_t(0));
        QCOMPARE(train.label(1), std::int64_t(0));
        QCOMPARE(train.label(2), std::int64_t(1));
        QCOMPARE(train.label(3), std::int64_t(1));
        // PNG, RGB: exact.
        const auto a = makeImage(13, 9, 3, 1, false);
        auto t = imageOf(train, 2);
        QCOMPARE(t.sizes().vec(), (std::vector<std::int64_t>{3, 9, 13}));
        for (int y = 0; y < 9; ++y)
            for (int x = 0; x < 13; ++x)
                for (int c = 0; c < 3; ++c)
                    QCOMPARE(int(t[c][y][x].item<std::uint8_t>()),
                             int(a.pixels[std::size_t((y * 13 + x) * 3 + c)]));
        // Gray PNG: three equal channels, exact.
        const auto g = makeImage(7, 15, 1, 3, false);
        t = imageOf(train, 0);
        QCOMPARE(t.sizes().vec(), (std::vector<std::int64_t>{3, 15, 7}));
        for (int y = 0; y < 15; ++y)
            for (int x = 0; x < 7; ++x)
                for (int c = 0; c < 3; ++c)
                    QCOMPARE(int(t[c][y][x].item<std::uint8_t>()),
                             int(g.pixels[std::size_t(y * 7 + x)]));
        // Flat-colour JPEGs (quality 100): within 2 levels; the gray one has equal channels.
        t = imageOf(train, 3);
        QCOMPARE(t.sizes().vec(), (std::vector<std::int64_t>{3, 11, 17}));
        for (int c = 0; c < 3; ++c) {
            const int want = 40 + 60 * c + 2;
            QVERIFY((t[c] - want).abs().max().item<std::uint8_t>() <= 2);
        }
        t = imageOf(train, 1);
        QCOMPARE(t.sizes().vec(), (std::vector<std::int64_t>{3, 9, 9}));
        QVERIFY(((t.to(torch::kInt) - 44).abs() <= 2).all().item<bool>());
        QVERIFY(torch::equal(t[0], t[1]) && torch::equal(t[1], t[2]));
        QCOMPARE(imageOf(*ds->test(), 1).sizes().vec(), (std::vector<std::int64_t>{3, 3, 21}));
    }

    void jpegDctScaling()
    {
        auto big = data::encodeJpeg(makeImage(400, 300, 3, 7, true), 90);
        QVERIFY(big.ok());
        const auto *p = reinterpret_cast<const std::uint8_t *>(big->data());
        auto full = data::decodeImage(p, big->size(), 0, "big.jpg");
        QVERIFY(full.ok());
        QCOMPARE(full->width, 400);
        QCOMPARE(full->height, 300);
        auto reduced = data::decodeImage(p, big->size(), 100, "big.jpg");
        QVERIFY(reduced.ok());
        // Smallest M/8 keeping the shorter side >= 100: 3/8 -> 150 x 113 (rounded up).
        QCOMPARE(reduced->width, 150);
        QCOMPARE(reduced->height, 113);
        QVERIFY(std::abs(int(reduced->pixels[0]) - 47) <= 2);
    }

    void corruptInputs_data()
    {
        QTest::addColumn<QString>("variant");
        QTest::addColumn<QString>("expected");
        QTest::newRow("idx wrong magic") << "idx-magic"
                                         << "train-images-idx3-ubyte: wrong IDX magic at byte "
                                            "offset 0: expected 00 00 08 03";
        QTest::newRow("idx count vs file size")
            << "idx-size"
            << "train-images-idx3-ubyte: header counts disagree with the file size";
        QTest::newRow("idx huge count, plain")
            << "idx-huge"
            << "header counts disagree with the file size: the header (byte offset "
               "4) says 4294967295 x 28 x 28";
        QTest::newRow("idx huge count, gzip") << "idx-huge-gz"
                                              << "more than the 8 GiB an IDX file may hold";
        QTest::newRow("idx gzip data shorter than header")
            << "idx-short-gz"
            << "header counts disagree with the data: the header says 41 x 5 x 7";
        QTest::newRow("idx gzip extra data")
            << "idx-long-gz"
            << "should end at byte offset 1416, but there is more after it";
        QTest::newRow("idx truncated gzip")
            << "idx-truncated-gz"
            << "train-images-idx3-ubyte.gz: truncated or corrupt gzip data";
        QTest::newRow("idx label out of range")
            << "idx-label"
            << "train-labels-idx1-ubyte: label 12 at byte offset 13 is out of "
               "range (expected 0..9)";
        QTest::newRow("idx count mismatch") << "idx-counts"
                                            << "image and label counts disagree";
        QTest::newRow("idx missing files") << "idx-missing"
                                           << "no train-images-idx3-ubyte[.gz] found in";
        QTest::newRow("cifar size not a multiple")
            << "cifar-size"
            << "data_batch_3.bin: size 6147 bytes is not a multiple of the "
               "3073-byte record";
        QTest::newRow("cifar label out of range")
            << "cifar-label"
            << "data_batch_2.bin: label 10 at byte offset 3073 (record 1) is "
               "out of range (expected 0..9)";
        QTest::newRow("cifar100 fine label out of range")
            << "cifar100-label"
            << "train.bin: label 100 at byte offset 6149 (record 2)";
        QTest::newRow("cifar missing batch") << "cifar-missing"
                                             << "data_batch_4.bin is missing";
        QTest::newRow("folder class without images") << "folder-empty-class"
                                                     << "bird: a folder with no images";
        QTest::newRow("folder val without images") << "folder-empty-val"
                                                   << "val: a folder with no images";
        QTest::newRow("folder without val") << "folder-no-val"
                                            << "expected an image folder with train/<class>/";
    }

    void corruptInputs()
    {
        QFETCH(QString, variant);
        QFETCH(QString, expected);
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        const std::string v = variant.toStdString();
        std::string name = "mnist";
        if (v.rfind("idx", 0) == 0) {
            const bool gz = v.find("-gz") != std::string::npos;
            writeIdxSet(dir, gz);
            const fs::path images
                = dir / (gz ? "train-images-idx3-ubyte.gz" : "train-images-idx3-ubyte");
            std::string good = idxImages(40, 5, 7);
            if (v == "idx-magic")
                writeBytes(images, "\0\0\x09\x03" + good.substr(4));
            else if (v == "idx-size")
                writeBytes(images, good.substr(0, good.size() - 1));
            else if (v == "idx-huge")
                writeBytes(images, std::string("\0\0\x08\x03", 4) + be32(0xFFFFFFFFu) + be32(28)
                                       + be32(28) + std::string(100, 'x'));
            else if (v == "idx-huge-gz")
                writeGz(images, std::string("\0\0\x08\x03", 4) + be32(0xFFFFFFFFu) + be32(28)
                                    + be32(28) + std::string(100, 'x'));
            else if (v == "idx-short-gz") {
                // 41 labels, so the images' header passes the count check and the data runs out.
                writeGz(images, idxImages(40, 5, 7, 41));
                writeGz(dir / "train-labels-idx1-ubyte.gz", idxLabels(41));
            } else if (v == "idx-long-gz")
                writeGz(images, good + "x");
            else if (v == "idx-truncated-gz") {
                std::ifstream in(images, std::ios::binary);
                std::string z((std::istreambuf_iterator<char>(in)), {});
                writeBytes(images, z.substr(0, z.size() / 2));
            } else if (v == "idx-label")
                writeBytes(dir / "train-labels-idx1-ubyte", idxLabels(40, 5));
            else if (v == "idx-counts")
                writeBytes(dir / "train-labels-idx1-ubyte", idxLabels(39));
            else if (v == "idx-missing")
                fs::remove(images);
        } else if (v.rfind("cifar100", 0) == 0) {
            name = "cifar100";
            writeBytes(dir / "train.bin", cifarRecords(0, 5, 2, 2));
            writeBytes(dir / "test.bin", cifarRecords(0, 5, 2));
        } else if (v.rfind("cifar", 0) == 0) {
            name = "cifar10";
            writeCifar10(dir);
            if (v == "cifar-size")
                writeBytes(dir / "data_batch_3.bin", cifarRecords(0, 2, 1) + "x");
            else if (v == "cifar-label")
                writeBytes(dir / "data_batch_2.bin", cifarRecords(0, 2, 1, 1));
            else if (v == "cifar-missing")
                fs::remove(dir / "data_batch_4.bin");
        } else {
            name = "imagefolder";
            writeFolder(dir);
            if (v == "folder-empty-class")
                fs::create_directories(dir / "train" / "bird");
            else if (v == "folder-empty-val") {
                fs::remove_all(dir / "val");
                fs::create_directories(dir / "val" / "cat");
            } else if (v == "folder-no-val")
                fs::remove_all(dir / "val");
        }
        auto r = probeDataset(optionsFor(name, dir));
        QVERIFY(!r.ok());
        QVERIFY2(r.message().find(expected.toStdString()) != std::string::npos,
                 r.message().c_str());
        auto o = data::Dataset::open(optionsFor(name, dir));
        QVERIFY(!o.ok());
        QCOMPARE(o.message(), r.message());
    }

    void corruptImageDecode()
    {
        const std::string garbage = "\xFF\xD8\xFFgarbage that is not a JPEG at all";
        auto r = data::decodeImage(reinterpret_cast<const std::uint8_t *>(garbage.data()),
                                   garbage.size(), 0, "x.jpg");
        QVERIFY(!r.ok());
        QVERIFY(r.message().rfind("x.jpg: cannot decode JPEG", 0) == 0);
        auto png = data::encodePng(makeImage(30, 30, 3, 1, false));
        QVERIFY(png.ok());
        const std::string cut = png->substr(0, png->size() / 2);
        r = data::decodeImage(reinterpret_cast<const std::uint8_t *>(cut.data()), cut.size(), 0,
                              "y.png");
        QVERIFY(!r.ok());
        QVERIFY(r.message().rfind("y.png: cannot decode PNG", 0) == 0);
        // A few hundred bytes declaring 2048x65280 pixels (under the pixel limit): refused before
        // libjpeg allocates the image (the fuzzer's timeout-f702... reproducer).
        auto jpeg = data::encodeJpeg(makeImage(16, 16, 3, 1, false));
        QVERIFY(jpeg.ok());
        std::string bomb = *jpeg;
        const auto sof = bomb.find("\xFF\xC0");
        QVERIFY(sof != std::string::npos);
        bomb[sof + 5] = '\x08'; // height 2048
        bomb[sof + 6] = '\x00';
        bomb[sof + 7] = '\xFF'; // width 65280
        bomb[sof + 8] = '\x00';
        r = data::decodeImage(reinterpret_cast<const std::uint8_t *>(bomb.data()), bomb.size(), 0,
                              "bomb.jpg");
        QVERIFY(!r.ok());
        QVERIFY2(r.message().find("declares 65280x2048 pixels, which need at least 261120 bytes")
                     != std::string::npos,
                 r.message().c_str());
        // The same for a PNG: 16x16 pixels of data under a header declaring 8000x8000.
        std::string pngBomb = *data::encodePng(makeImage(16, 16, 3, 1, false));
        const auto ihdr = pngBomb.find("IHDR");
        QVERIFY(ihdr != std::string::npos);
        for (int i = 0; i < 8; ++i) // width and height, big-endian 8000 (0x1F40)
            pngBomb[ihdr + 4 + i] = "\0\0\x1F\x40\0\0\x1F\x40"[i];
        const uLong crc = crc32(0, reinterpret_cast<const Bytef *>(pngBomb.data() + ihdr), 17);
        for (int i = 0; i < 4; ++i)
            pngBomb[ihdr + 17 + i] = char((crc >> (24 - 8 * i)) & 0xFF);
        r = data::decodeImage(reinterpret_cast<const std::uint8_t *>(pngBomb.data()),
                              pngBomb.size(), 0, "bomb.png");
        QVERIFY(!r.ok());
        QVERIFY2(r.message().find("declares 8000x8000 pixels, which need at least 186054 bytes")
                     != std::string::npos,
                 r.message().c_str());
        // A chunk longer than the rest of the file (libpng would allocate all of it first).
        std::string longChunk = *data::encodePng(makeImage(8, 6, 3, 1, false));
        longChunk.insert(ihdr + 21, std::string("\x33\0\0\0tEXtabc", 11));
        r = data::decodeImage(reinterpret_cast<const std::uint8_t *>(longChunk.data()),
                              longChunk.size(), 0, "text.png");
        QVERIFY(!r.ok());
        QVERIFY2(r.message().find("the chunk at byte 33 declares 855638016 bytes of data")
                     != std::string::npos,
                 r.message().c_str());
        const std::string text = "hello";
        r = data::decodeImage(reinterpret_cast<const std::uint8_t *>(text.data()), text.size(), 0,
                              "z.png");
        QVERIFY(r.message().find("not a JPEG or PNG") != std::string::npos);
    }

    void undecodableImagesSkipped()
    {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        writeFolder(root);
        writeBytes(root / "train/dog/broken.jpg", "\xFF\xD8\xFF\xE0 this is no JPEG");
        auto jpg = data::encodeJpeg(makeImage(40, 40, 3, 9, false), 90);
        writeBytes(root / "train/cat/truncated.jpg", jpg->substr(0, jpg->size() / 2));
        writeBytes(root / "val/dog/bad.jpg", jpg->substr(0, jpg->size() / 3));
        std::mutex m;
        std::vector<std::string> warnings;
        DatasetOptions o = optionsFor("imagefolder", root);
        o.log = [&](LogLevel level, const std::string &msg) {
            std::lock_guard lock(m);
            if (level == LogLevel::Warning)
                warnings.push_back(msg);
        };
        // One policy: bad files are left out when the folder is listed, so data info, both
        // splits, the loader and the feature cache all see the same 4 + 2 samples.
        auto info = probeDataset(o);
        QVERIFY2(info.ok(), info.ok() ? "" : info.message().c_str());
        QCOMPARE(info->trainSize, std::int64_t(4));
        QCOMPARE(info->testSize, std::int64_t(2));
        QCOMPARE(info->trainSkipped, std::int64_t(2));
        QCOMPARE(info->testSkipped, std::int64_t(1));
        QVERIFY(info->description.find("3 undecodable images skipped") != std::string::npos);
        {
            std::lock_guard lock(m);
            QCOMPARE(int(warnings.size()), 2); // one per split: the count and the first file
            QVERIFY2(warnings[0].find("skipped 2 of 6 images that cannot be decoded (first: ")
                             != std::string::npos
                         && warnings[0].find("train/cat/truncated.jpg") != std::string::npos,
                     warnings[0].c_str());
            QVERIFY2(warnings[1].find("skipped 1 of 3 images") != std::string::npos
                         && warnings[1].find("val/dog/bad.jpg") != std::string::npos,
                     warnings[1].c_str());
        }
        auto ds = openOk(o);
        QVERIFY(ds);
        QCOMPARE(ds->train()->size(), std::int64_t(4));
        {
            std::lock_guard lock(m);
            QCOMPARE(int(warnings.size()), 4); // open lists and checks the same way
            warnings.clear();
        }
        // A file that stops decoding after the listing (changed during a run) is dropped from its
        // batch by the loader, logged once and counted: images and labels stay paired.
        writeBytes(root / "train/dog/a.png", "\x89PNG\r\n\x1a\n then nothing");
        data::LoaderOptions lo;
        lo.batchSize = 3;
        lo.threads = 2;
        lo.transform = {3, 16, 16, true, {}, {}, {}};
        data::Loader loader(ds->train(), lo);
        for (int epoch = 0; epoch < 2; ++epoch) {
            loader.startEpoch(epoch);
            std::multiset<std::int64_t> seen;
            data::Batch b;
            while (loader.next(b)) {
                QCOMPARE(b.images.size(0), b.labels.size(0));
                for (int i = 0; i < b.indices.size(0); ++i)
                    seen.insert(b.indices[i].item<std::int64_t>());
            }
            QCOMPARE(int(seen.size()), 3);
            QCOMPARE(seen.count(2), std::size_t(0)); // dog/a.png
            QCOMPARE(loader.skipped(), std::int64_t(epoch + 1));
        }
        std::lock_guard lock(m);
        QCOMPARE(int(warnings.size()), 1); // once per file, not once per epoch
        QVERIFY(warnings[0].find("a.png") != std::string::npos);
    }

    void undecodableClassOrSplitIsAnError_data()
    {
        QTest::addColumn<QString>("where");
        QTest::addColumn<QString>("expected");
        QTest::newRow("train class") << "train/bird"
                                     << "train/bird: none of its 2 images can be decoded, so the "
                                        "class would be empty (first: ";
        QTest::newRow("val class") << "val/cat"
                                   << "val/cat: none of its 3 images can be decoded";
    }

    void undecodableClassOrSplitIsAnError()
    {
        QFETCH(QString, where);
        QFETCH(QString, expected);
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        writeFolder(root);
        const fs::path dir = root / where.toStdString();
        if (where == "val/cat")
            fs::remove(dir / "e.png");
        writeBytes(dir / "x.jpg", "\xFF\xD8\xFF\xE0 not a JPEG");
        writeBytes(dir / "y.png", "plain text named .png");
        if (where == "val/cat")
            writeBytes(dir / "z.jpeg", "");
        for (bool probe : {true, false}) {
            const DatasetOptions o = optionsFor("imagefolder", root);
            const std::string msg
                = probe ? probeDataset(o).message() : data::Dataset::open(o).message();
            QVERIFY2(msg.find(expected.toStdString()) != std::string::npos, msg.c_str());
            QVERIFY2(msg.find(where.toStdString() + "/x.jpg") != std::string::npos, msg.c_str());
        }
    }

    void folderLinkLoopsListedOnce()
    {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        writeFolder(root);
        // Two loops in one class folder (to itself and to its parent's parent), a loop in the
        // other, a second link to a folder and one to a file already listed.
        fs::create_directory_symlink(".", root / "train/cat/sub/self");
        fs::create_directory_symlink("../..", root / "train/cat/sub/up");
        fs::create_directory_symlink("..", root / "train/dog/loop");
        fs::create_directory_symlink("sub", root / "train/cat/again");
        fs::create_symlink("a.png", root / "train/dog/a-link.png");
        fs::create_directory_symlink("/nonexistent/dangling", root / "train/dog/dangling");
        auto info = probeDataset(optionsFor("imagefolder", root));
        QVERIFY2(info.ok(), info.ok() ? "" : info.message().c_str());
        QCOMPARE(info->trainSize, std::int64_t(4)); // as without the links
        QCOMPARE(info->testSize, std::int64_t(2));
        auto ds = openOk(optionsFor("imagefolder", root));
        QVERIFY(ds);
        std::multiset<std::int64_t> labels;
        for (std::int64_t i = 0; i < ds->train()->size(); ++i)
            labels.insert(ds->train()->label(i));
        QCOMPARE(labels.count(0), std::size_t(2));
        QCOMPARE(labels.count(1), std::size_t(2));
    }

    void idxHeaderLargerThanData_data()
    {
        QTest::addColumn<int>("labelCount");
        QTest::addColumn<QString>("expected");
        // Labels are read first: a header that disagrees with them is refused before a byte
        // of the images is decompressed.
        QTest::newRow("labels disagree")
            << 40
            << "image and label counts disagree: %1/train-images-idx3-ubyte.gz has 10000000 "
               "images, %1/train-labels-idx1-ubyte has 40 labels";
        QTest::newRow("labels agree")
            << 10000000
            << "%1/train-images-idx3-ubyte.gz: the header (byte offset 4) says 10000000 x 28 x "
               "28, ";
    }

    void idxHeaderLargerThanData()
    {
        QFETCH(int, labelCount);
        QFETCH(QString, expected);
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        writeIdxSet(dir, false);
        fs::remove(dir / "train-images-idx3-ubyte");
        // A gzip bomb in miniature: a header for 10,000,000 images over 8 MiB of zeros (the
        // real one held 7.8 GB of zeros in 7.6 MB).
        writeGz(dir / "train-images-idx3-ubyte.gz", std::string("\0\0\x08\x03", 4) + be32(10000000)
                                                        + be32(28) + be32(28)
                                                        + std::string(8 << 20, '\0'));
        writeBytes(dir / "train-labels-idx1-ubyte",
                   std::string("\0\0\x08\x01", 4) + be32(std::uint32_t(labelCount))
                       + std::string(std::size_t(labelCount), '\0'));
        auto r = probeDataset(optionsFor("mnist", dir));
        QVERIFY(!r.ok());
        const std::string want = expected.arg(QString::fromStdString(dir.string())).toStdString();
        QVERIFY2(r.message().find(want) != std::string::npos, r.message().c_str());
        if (labelCount > 40)
            QVERIFY2(r.message().find("gzip bomb or a forged header") != std::string::npos,
                     r.message().c_str());
    }

    void idxShapeMustMatchSpec()
    {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        writeBytes(dir / "train-images-idx3-ubyte", idxImages(40, 1, 1));
        writeBytes(dir / "train-labels-idx1-ubyte", idxLabels(40));
        writeBytes(dir / "t10k-images-idx3-ubyte", idxImages(20, 1, 1));
        writeBytes(dir / "t10k-labels-idx1-ubyte", idxLabels(20));
        auto info = probeDataset(optionsFor("mnist", dir));
        QVERIFY(info.ok());
        auto r = checkInputShape(*info, 28, 28, false);
        QVERIFY(!r.ok());
        QCOMPARE(r.message(), (dir / "train-images-idx3-ubyte").string()
                                  + ": the images are 1 x 1 but the spec's input is 28 x 28 "
                                    "(input.height x input.width); set the input to the data's "
                                    "size, or resize explicitly in the recipe "
                                    "(augment.random_resized_crop or eval_resize)");
        QVERIFY(checkInputShape(*info, 1, 1, false).ok());
        QVERIFY(checkInputShape(*info, 28, 28, true).ok()); // the recipe resizes explicitly
        // Image folders are decoded at the input's side: any stored size is fine.
        const fs::path root = dir / "folder";
        writeFolder(root);
        auto folder = probeDataset(optionsFor("imagefolder", root));
        QVERIFY(folder.ok());
        QVERIFY(checkInputShape(*folder, 28, 28, false).ok());
    }

    void transformNormalizeAndChannels()
    {
        auto img = torch::arange(2 * 3 * 3, torch::kUInt8).view({2, 3, 3}) * 10;
        img = torch::cat({img, img.narrow(0, 0, 1)}, 0); // 3 channels
        data::TransformOptions t{3, 3, 3, false, {}, {0.5f, 0.25f, 0.0f}, {0.5f, 0.25f, 1.0f}};
        auto out = data::transformImage(img, t, 1, 0, 0);
        auto want = img.to(torch::kFloat) / 255;
        want[0] = (want[0] - 0.5) / 0.5;
        want[1] = (want[1] - 0.25) / 0.25;
        QVERIFY(torch::allclose(out, want, 1e-6, 1e-6));
        // Gray into a 3-channel input: replicated.
        auto gray = img.narrow(0, 0, 1).contiguous();
        data::TransformOptions t3{3, 3, 3, false, {}, {}, {}};
        out = data::transformImage(gray, t3, 1, 0, 0);
        QVERIFY(torch::equal(out[0], out[2]) && torch::equal(out[0], out[1]));
        QVERIFY(torch::allclose(out[0], gray[0].to(torch::kFloat) / 255));
        // Eval resize 3 -> centre crop 3 on a 3x3 image is the identity; a 2x upscale of a flat
        // image stays flat.
        t3.augment.evalResize = 3;
        QVERIFY(torch::allclose(data::transformImage(img, t3, 1, 0, 0),
                                want.mul(0).add(img.to(torch::kFloat) / 255), 1e-5, 1e-5));
        auto flat = torch::full({3, 5, 7}, 100, torch::kUInt8);
        data::TransformOptions big{3, 10, 14, false, {}, {}, {}};
        QVERIFY(torch::allclose(data::transformImage(flat, big, 1, 0, 0),
                                torch::full({3, 10, 14}, 100.0f / 255), 1e-5, 1e-5));
    }

    void augmentationReproducible()
    {
        // A 3 x 32 x 32 image with distinct pixels.
        auto img = ((torch::arange(3 * 32 * 32) * 7) % 251).to(torch::kUInt8).view({3, 32, 32});
        data::TransformOptions t{3, 32, 32, true, {}, {}, {}};
        t.augment.padding = 4;
        t.augment.flip = true;
        const auto plain = img.to(torch::kFloat) / 255;
        int changed = 0, flipped = 0;
        for (int index = 0; index < 40; ++index) {
            auto a = data::transformImage(img, t, 42, 3, index);
            QVERIFY(torch::equal(a, data::transformImage(img, t, 42, 3, index)));
            if (!torch::allclose(a, plain, 1e-6, 1e-6))
                ++changed;
            // Each output is the padded image shifted by (dy, dx) in [-4, 4], maybe mirrored.
            bool explained = false;
            for (int f = 0; f < 2 && !explained; ++f) {
                auto src = f ? plain.flip({2}) : plain;
                auto padded = torch::constant_pad_nd(src, {4, 4, 4, 4}, 0);
                for (int dy = 0; dy <= 8 && !explained; ++dy)
                    for (int dx = 0; dx <= 8 && !explained; ++dx)
                        if (torch::allclose(padded.narrow(1, dy, 32).narrow(2, dx, 32), a, 1e-6,
                                            1e-6)) {
                            explained = true;
                            flipped += f;
                        }
            }
            QVERIFY2(explained, qPrintable(QString("sample %1").arg(index)));
        }
        QVERIFY(changed >= 30);
        QVERIFY(flipped > 5 && flipped < 35);
        // Another epoch or seed gives other crops.
        int differ = 0;
        for (int index = 0; index < 10; ++index)
            differ += !torch::equal(data::transformImage(img, t, 42, 3, index),
                                    data::transformImage(img, t, 42, 4, index));
        QVERIFY(differ >= 7);
        // RandomResizedCrop to 24 and eval resize 36 + centre crop 24: shapes, reproducibility.
        data::TransformOptions rrc{3, 24, 24, true, {}, {}, {}};
        rrc.augment.randomResizedCrop = true;
        rrc.augment.evalResize = 36;
        auto r1 = data::transformImage(img, rrc, 5, 0, 1);
        QCOMPARE(r1.sizes().vec(), (std::vector<std::int64_t>{3, 24, 24}));
        QVERIFY(torch::equal(r1, data::transformImage(img, rrc, 5, 0, 1)));
        QVERIFY(!torch::equal(r1, data::transformImage(img, rrc, 5, 0, 2)));
        QVERIFY(r1.min().item<float>() >= 0 && r1.max().item<float>() <= 1.0f);
        rrc.train = false;
        auto e1 = data::transformImage(img, rrc, 5, 0, 1);
        QVERIFY(torch::equal(e1, data::transformImage(img, rrc, 6, 9, 2))); // no randomness
        // Centre crop of a resize 32 -> 36: the middle pixel maps to the middle.
        QVERIFY(std::abs(e1[0][12][12].item<float>() - plain[0][16][16].item<float>()) < 0.2);
    }

    void epochPermutationIsPermutation()
    {
        auto p = data::epochPermutation(1000, 7, 2);
        auto sorted = p;
        std::sort(sorted.begin(), sorted.end());
        for (int i = 0; i < 1000; ++i)
            QCOMPARE(sorted[std::size_t(i)], std::int64_t(i));
        QCOMPARE(p, data::epochPermutation(1000, 7, 2));
        QVERIFY(p != data::epochPermutation(1000, 7, 3));
        QVERIFY(p != data::epochPermutation(1000, 8, 2));
    }

    void loaderEverySampleOnce_data()
    {
        QTest::addColumn<bool>("shuffle");
        QTest::addColumn<bool>("dropLast");
        QTest::addColumn<int>("threads");
        QTest::addColumn<bool>("augment");
        for (bool shuffle : {false, true})
            for (bool dropLast : {false, true})
                for (int threads : {0, 1, 3})
                    QTest::addRow("shuffle=%d dropLast=%d threads=%d", shuffle, dropLast, threads)
                        << shuffle << dropLast << threads << (threads == 3);
    }

    void loaderEverySampleOnce()
    {
        QFETCH(bool, shuffle);
        QFETCH(bool, dropLast);
        QFETCH(int, threads);
        QFETCH(bool, augment);
        DatasetOptions o = optionsFor("synthetic", "");
        o.syntheticTrain = 103;
        o.imageSide = 12;
        auto ds = openOk(o);
        QVERIFY(ds);
        data::LoaderOptions lo;
        lo.batchSize = 10;
        lo.shuffle = shuffle;
        lo.dropLast = dropLast;
        lo.threads = threads;
        lo.prefetch = 2;
        lo.seed = 11;
        lo.transform = {3, 12, 12, true, {}, {0.5f}, {0.25f}};
        lo.transform.augment.enabled = augment;
        data::Loader loader(ds->train(), lo);
        QCOMPARE(loader.batchesPerEpoch(), std::int64_t(dropLast ? 10 : 11));
        std::vector<std::int64_t> firstOrder;
        for (int epoch = 0; epoch < 2; ++epoch) {
            loader.startEpoch(epoch);
            std::vector<std::int64_t> order;
            data::Batch b;
            int batches = 0;
            while (loader.next(b)) {
                ++batches;
                QCOMPARE(b.images.dim(), std::int64_t(4));
                QCOMPARE(b.images.size(1), std::int64_t(3));
                QCOMPARE(b.images.scalar_type(), torch::kFloat32);
                for (int i = 0; i < b.indices.size(0); ++i) {
                    const auto idx = b.indices[i].item<std::int64_t>();
                    order.push_back(idx);
                    QCOMPARE(b.labels[i].item<std::int64_t>(), ds->train()->label(idx));
                }
                // The batch holds exactly what transformImage gives for these samples.
                const auto idx0 = b.indices[0].item<std::int64_t>();
                const auto want = data::transformImage(imageOf(*ds->train(), idx0), lo.transform,
                                                       lo.seed, epoch, idx0);
                QVERIFY(torch::allclose(b.images[0], want, 1e-6, 1e-6));
            }
            QCOMPARE(batches, dropLast ? 10 : 11);
            QCOMPARE(int(order.size()), dropLast ? 100 : 103);
            std::set<std::int64_t> unique(order.begin(), order.end());
            QCOMPARE(unique.size(), order.size());
            if (!shuffle)
                for (std::size_t i = 0; i < order.size(); ++i)
                    QCOMPARE(order[i], std::int64_t(i));
            else {
                const auto perm = data::epochPermutation(103, 11, epoch);
                QVERIFY(std::equal(order.begin(), order.end(), perm.begin()));
            }
            if (epoch == 0)
                firstOrder = order;
            else
                QCOMPARE(order != firstOrder, shuffle);
        }
        // Past the end: stays false.
        data::Batch b;
        QVERIFY(!loader.next(b));
    }

    void loaderDeterministicAcrossThreadsAndChannelsLast()
    {
        DatasetOptions o = optionsFor("synthetic", "");
        o.syntheticTrain = 64;
        auto ds = openOk(o);
        QVERIFY(ds);
        bool layoutOk = true;
        auto run = [&](int threads, bool channelsLast) -> torch::Tensor {
            data::LoaderOptions lo;
            lo.batchSize = 16;
            lo.threads = threads;
            lo.channelsLast = channelsLast;
            lo.seed = 3;
            lo.transform = {3, 28, 28, true, {}, {}, {}}; // resize 32 -> 28 + crop + flip
            data::Loader loader(ds->train(), lo);
            loader.startEpoch(5);
            std::vector<torch::Tensor> out;
            data::Batch b;
            while (loader.next(b)) {
                if (channelsLast)
                    layoutOk
                        = layoutOk && b.images.is_contiguous(torch::MemoryFormat::ChannelsLast);
                out.push_back(b.images.contiguous());
            }
            return torch::cat(out);
        };
        const auto a = run(1, false);
        QCOMPARE(a.sizes().vec(), (std::vector<std::int64_t>{64, 3, 28, 28}));
        QVERIFY(torch::equal(a, run(4, false)));
        QVERIFY(torch::equal(a, run(2, true)));
        QVERIFY(layoutOk);
    }

    void loaderRestartMidEpoch()
    {
        DatasetOptions o = optionsFor("synthetic", "");
        o.syntheticTrain = 200;
        auto ds = openOk(o);
        data::LoaderOptions lo;
        lo.batchSize = 8;
        lo.threads = 3;
        lo.prefetch = 6;
        lo.transform = {3, 32, 32, true, {}, {}, {}};
        data::Loader loader(ds->train(), lo);
        loader.startEpoch(0);
        data::Batch b;
        QVERIFY(loader.next(b));
        QVERIFY(loader.next(b));
        loader.startEpoch(1); // abandons epoch 0 with batches in flight
        std::multiset<std::int64_t> seen;
        while (loader.next(b))
            for (int i = 0; i < b.indices.size(0); ++i)
                seen.insert(b.indices[i].item<std::int64_t>());
        QCOMPARE(int(seen.size()), 200);
        QCOMPARE(int(std::set<std::int64_t>(seen.begin(), seen.end()).size()), 200);
        // Destroying a loader in the middle of an epoch joins its threads.
        {
            data::Loader early(ds->train(), lo);
            QVERIFY(early.next(b));
        }
    }

    void balancedLimits()
    {
        DatasetOptions o = optionsFor("synthetic", "");
        o.syntheticTrain = 1000;
        o.trainLimit = 95;
        o.testLimit = 40;
        o.seed = 4;
        auto ds = openOk(o);
        QVERIFY(ds);
        QCOMPARE(ds->info().trainSize, std::int64_t(95));
        QCOMPARE(ds->info().testSize, std::int64_t(40));
        std::map<std::int64_t, int> perClass;
        for (int i = 0; i < 95; ++i)
            ++perClass[ds->train()->label(i)];
        QCOMPARE(int(perClass.size()), 10);
        for (auto [k, n] : perClass)
            QVERIFY2(n == 9 || n == 10, qPrintable(QString("class %1: %2").arg(k).arg(n)));
        auto same = openOk(o);
        QVERIFY(torch::equal(same->train()->allImages(), ds->train()->allImages()));
        QCOMPARE(same->info().fingerprint, ds->info().fingerprint);
        o.seed = 5;
        auto other = openOk(o);
        QVERIFY(!torch::equal(other->train()->allImages(), ds->train()->allImages()));
        // Limits on files (IDX): 40 images, 4 per class -> limit 20 gives 2 per class.
        QTemporaryDir tmp;
        writeIdxSet(tmp.path().toStdString(), false);
        DatasetOptions io = optionsFor("kmnist", tmp.path().toStdString());
        io.trainLimit = 20;
        auto idx = openOk(io);
        QVERIFY(idx);
        std::map<std::int64_t, int> idxClasses;
        for (int i = 0; i < 20; ++i)
            ++idxClasses[idx->train()->label(i)];
        for (auto [k, n] : idxClasses)
            QCOMPARE(n, 2);
        QCOMPARE(idx->test()->size(), std::int64_t(20));
    }

    void channelStatsFromData()
    {
        QTemporaryDir tmp;
        writeIdxSet(tmp.path().toStdString(), false);
        auto ds = openOk(optionsFor("mnist", tmp.path().toStdString()));
        QVERIFY(ds);
        auto [mean, sd] = data::channelStats(*ds->train());
        const auto all = ds->train()->allImages().to(torch::kDouble) / 255;
        QCOMPARE(int(mean.size()), 1);
        QVERIFY(std::abs(mean[0] - all.mean().item<double>()) < 1e-5);
        QVERIFY(std::abs(sd[0] - all.std(false).item<double>()) < 1e-5);
    }

    void syntheticIsLearnable()
    {
        // Nearest class mean on raw pixels already separates the classes well.
        DatasetOptions o = optionsFor("synthetic", "");
        auto ds = openOk(o);
        QVERIFY(ds);
        const auto train = ds->train()->allImages().to(torch::kFloat).flatten(1);
        std::vector<std::int64_t> lbl;
        for (int i = 0; i < ds->train()->size(); ++i)
            lbl.push_back(ds->train()->label(i));
        const auto labels = torch::tensor(lbl);
        std::vector<torch::Tensor> means;
        for (int k = 0; k < 10; ++k)
            means.push_back(train.index({labels == k}).mean(0));
        const auto centers = torch::stack(means);
        const auto test = ds->test()->allImages().to(torch::kFloat).flatten(1);
        const auto pred = torch::cdist(test, centers).argmin(1);
        int correct = 0;
        for (int i = 0; i < ds->test()->size(); ++i)
            correct += pred[i].item<std::int64_t>() == ds->test()->label(i);
        QVERIFY2(correct > 0.9 * ds->test()->size(), qPrintable(QString::number(correct)));
    }

    void realFashionMnist()
    {
        const fs::path dir = defaultFashionMnistPath();
        if (!fs::exists(dir / "train-images-idx3-ubyte.gz")
            && !fs::exists(dir / "train-images-idx3-ubyte"))
            QSKIP("Fashion-MNIST is not installed at /usr/share/datasets/fashion-mnist (Debian "
                  "package dataset-fashion-mnist)");
        DatasetOptions o; // default name and path: found without any flag
        auto ds = openOk(o);
        QVERIFY(ds);
        QCOMPARE(ds->info().root, dir.string());
        QCOMPARE(ds->train()->size(), std::int64_t(60000));
        QCOMPARE(ds->test()->size(), std::int64_t(10000));
        QCOMPARE(ds->train()->allImages().sizes().vec(),
                 (std::vector<std::int64_t>{60000, 1, 28, 28}));
        std::vector<int> perClass(10, 0);
        for (int i = 0; i < 10000; ++i)
            ++perClass[std::size_t(ds->test()->label(i))];
        for (int k = 0; k < 10; ++k)
            QCOMPARE(perClass[std::size_t(k)], 1000);
    }
};

QTEST_GUILESS_MAIN(TestData)
#include "tst_data.moc"
