// What each stage learned, in pictures: computed live after every stage and on demand for a
// stored run (core/train/pictures.cpp through RunService), stored (RunStore::recordPictures),
// drawn as PNG and written as CSV/JSON (core/inspect, layerwise-cli inspect).
#include "core/inspect/render.h"
#include "core/inspect/report.h"
#include "core/run/runservice.h"
#include "core/store/runstore.h"
#include "tests/inspect/inspectruns.h"
#include "tests/support/support.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <png.h>

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>

using namespace lw;

namespace {

using test::downgradeToBeforePictures;
using test::trainTiny;

Result<void> computePictures(RunStore &store, std::int64_t id)
{
    ExecOptions exec;
    exec.device = "cpu";
    exec.threads = 2;
    auto job = RunService(store).pictures(id, exec);
    if (!job)
        return job.error();
    auto r = (*job)->execute();
    if (!r)
        return r.error();
    return {};
}

/// Width and height of a PNG file decoded with libpng; (-1, -1) when it does not decode.
std::pair<int, int> pngSize(const QString &path)
{
    png_image image{};
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&image, path.toLocal8Bit().constData()))
        return {-1, -1};
    image.format = PNG_FORMAT_RGB;
    std::vector<png_byte> buffer(PNG_IMAGE_SIZE(image));
    const bool ok = png_image_finish_read(&image, nullptr, buffer.data(), 0, nullptr) != 0;
    png_image_free(&image);
    if (!ok)
        return {-1, -1};
    return {int(image.width), int(image.height)};
}

} // namespace

class TestInspect : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void confusionMatchesStoredAccuracy();
    void endToEndHasLastHeadOnly();
    void projectionDeterministicForSeed();
    void pngsDecodeWithExpectedSizes();
    void oldStoreOpensWithoutPicturesAndComputesThem();
    void damagedPicturesAreAnError();
    void imageThroughStagesMatchesTheHeads();
    void cliWritesAPickedImage();
};

void TestInspect::confusionMatchesStoredAccuracy()
{
    test::TempStore store;
    QVERIFY(store.ok());
    test::EventLog log;
    const auto id = trainTiny(*store, TrainMode::Greedy, &log);
    QVERIFY(id > 0);
    auto stages = store->pictureStages(id);
    QVERIFY2(stages, stages ? "" : stages.message().c_str());
    QCOMPARE(*stages, (std::vector<int>{0, 1, 2}));
    auto detail = store->getRun(id);
    QVERIFY(detail);
    for (int s = 0; s < 3; ++s) {
        auto p = store->pictures(id, s);
        QVERIFY2(p, p ? "" : p.message().c_str());
        QCOMPARE(p->stage, s);
        QCOMPARE(p->classNames.size(), std::size_t(4));
        // Every test image counted once; the diagonal is the stored test accuracy.
        QCOMPARE(p->head.classes, 4);
        QCOMPARE(p->head.total(), std::int64_t(256));
        QCOMPARE(p->ensemble.total(), std::int64_t(256));
        const auto &row = detail->stages[std::size_t(s)];
        QVERIFY(row.testAcc && row.ensembleAcc);
        QCOMPARE(p->head.accuracy(), *row.testAcc);
        QCOMPARE(p->ensemble.accuracy(), *row.ensembleAcc);
        // Hard errors: wrong, most confident first, fixes point at later stages.
        const auto &errors = p->hardErrors.errors;
        QCOMPARE(std::size_t(p->hardErrors.thumbnails.count), errors.size());
        QCOMPARE(std::int64_t(errors.size()),
                 std::min<std::int64_t>(16, p->head.total() - p->head.correct()));
        for (std::size_t i = 0; i < errors.size(); ++i) {
            QVERIFY(errors[i].predicted != errors[i].trueClass);
            QVERIFY(errors[i].confidence > 0 && errors[i].confidence <= 1);
            if (i > 0)
                QVERIFY(errors[i].confidence <= errors[i - 1].confidence);
            QVERIFY(errors[i].fixedAtStage == -1 || errors[i].fixedAtStage > s);
        }
        // A projection of the seeded subset (all 256 test images here), one feature map row
        // per class, the filters with stage 1 only.
        QCOMPARE(p->projection.size(), std::size_t(256));
        QVERIFY(p->projection.explainedVariance[0] >= p->projection.explainedVariance[1]);
        QVERIFY(p->projection.explainedVariance[0] + p->projection.explainedVariance[1]
                <= 1.0 + 1e-9);
        QCOMPARE(p->maps.samples.size(), std::size_t(4));
        QCOMPARE(p->maps.maps.count, 4 * p->maps.perSample);
        QCOMPARE(p->filters.empty(), s != 0);
    }
    auto first = store->pictures(id, 0);
    QCOMPARE(first->filters.count, 8); // stage 1 has 8 filters of 1 x 3 x 3
    QCOMPARE(first->filters.height, 3);
    QCOMPARE(int(log.stages.size()), 3);
}

void TestInspect::endToEndHasLastHeadOnly()
{
    test::TempStore store;
    QVERIFY(store.ok());
    const auto id = trainTiny(*store, TrainMode::EndToEnd);
    QVERIFY(id > 0);
    auto stages = store->pictureStages(id);
    QVERIFY(stages);
    QCOMPARE(*stages, (std::vector<int>{0, 1, 2}));
    auto inner = store->pictures(id, 0);
    QVERIFY(inner);
    QVERIFY(inner->head.empty()); // its head was never trained
    QCOMPARE(inner->projection.size(), std::size_t(256));
    auto last = store->pictures(id, 2);
    QVERIFY(last);
    auto detail = store->getRun(id);
    QCOMPARE(last->head.accuracy(), *detail->stages.back().testAcc);
}

void TestInspect::projectionDeterministicForSeed()
{
    test::TempStore store;
    QVERIFY(store.ok());
    const auto id = trainTiny(*store, TrainMode::Greedy);
    QVERIFY(id > 0);
    auto live = store->pictures(id, 1);
    QVERIFY(live);
    QVERIFY(computePictures(*store, id));
    auto again = store->pictures(id, 1);
    QVERIFY(computePictures(*store, id));
    auto third = store->pictures(id, 1);
    QVERIFY(again && third);
    // The same seed picks the same images and gives the same points, bit for bit on demand,
    // and within float rounding of what the run computed live.
    QCOMPARE(again->projection.samples, third->projection.samples);
    QCOMPARE(again->projection.x, third->projection.x);
    QCOMPARE(again->projection.y, third->projection.y);
    QCOMPARE(live->projection.samples, again->projection.samples);
    for (std::size_t i = 0; i < live->projection.size(); ++i) {
        QVERIFY(std::abs(live->projection.x[i] - again->projection.x[i]) < 1e-3f);
        QVERIFY(std::abs(live->projection.y[i] - again->projection.y[i]) < 1e-3f);
    }
    QCOMPARE(live->head.counts, again->head.counts);
}

void TestInspect::pngsDecodeWithExpectedSizes()
{
    test::TempStore store;
    QVERIFY(store.ok());
    const auto id = trainTiny(*store, TrainMode::Greedy);
    QVERIFY(id > 0);
    QTemporaryDir out;
    auto p = store->pictures(id, 0);
    QVERIFY(p);
    auto files = writePictures(*p, out.path().toStdString());
    QVERIFY2(files, files ? "" : files.message().c_str());
    const int m = 2 * kPictureMargin;
    const QDir dir(out.path());
    QCOMPARE(pngSize(dir.filePath("stage0-confusion-head.png")),
             std::make_pair(4 * kConfusionCell + m, 4 * kConfusionCell + m));
    QCOMPARE(pngSize(dir.filePath("stage0-confusion-ensemble.png")),
             std::make_pair(4 * kConfusionCell + m, 4 * kConfusionCell + m));
    QCOMPARE(pngSize(dir.filePath("stage0-projection.png")),
             std::make_pair(kProjectionSide + m, kProjectionSide + m));
    // 8 filters of 3x3 in 8 columns at scale 16, 2 pixels apart.
    QCOMPARE(pngSize(dir.filePath("filters.png")), std::make_pair(8 * 48 + 7 * 2 + m, 48 + m));
    const auto fm = renderFeatureMaps(p->maps, 8);
    QCOMPARE(pngSize(dir.filePath("stage0-feature-maps.png")), std::make_pair(fm.width, fm.height));
    QCOMPARE(fm.height, 4 * 64 + 3 * 2 + m); // 4 rows of 8x8 images at scale 8
    const auto he = renderHardErrors(p->hardErrors, 8);
    QCOMPARE(pngSize(dir.filePath("stage0-hard-errors.png")), std::make_pair(he.width, he.height));
    // The numbers: the CSV's counts add up to the test set.
    QFile csv(dir.filePath("stage0-confusion-head.csv"));
    QVERIFY(csv.open(QIODevice::ReadOnly));
    const auto lines = QString::fromUtf8(csv.readAll()).trimmed().split('\n');
    QCOMPARE(lines.size(), 5);
    QCOMPARE(lines[0], QStringLiteral("true,class 0,class 1,class 2,class 3"));
    std::int64_t sum = 0;
    for (int i = 1; i < lines.size(); ++i)
        for (const auto &cell : lines[i].split(',').mid(1))
            sum += cell.toLongLong();
    QCOMPARE(sum, std::int64_t(256));
    QVERIFY(QFile::exists(dir.filePath("stage0.json")));
    QVERIFY(QFile::exists(dir.filePath("stage0-projection.csv")));
}

void TestInspect::oldStoreOpensWithoutPicturesAndComputesThem()
{
    test::TempStore store;
    QVERIFY(store.ok());
    const auto id = trainTiny(*store, TrainMode::Greedy);
    QVERIFY(id > 0);
    store.close();
    downgradeToBeforePictures(store.path());
    QVERIFY(store.reopen());
    QCOMPARE(store->schemaVersion(), RunStore::kSchemaVersion);
    auto none = store->pictureStages(id);
    QVERIFY(none);
    QVERIFY(none->empty());
    auto missing = store->pictures(id, 0);
    QVERIFY(!missing);
    QVERIFY(missing.message().find("no pictures of stage 1") != std::string::npos);

    // The CLI computes what the store lacks, then writes the files.
    store.close();
    QTemporaryDir out;
    const auto cli
        = test::runCli({"inspect", QString::number(id), "--stage", "2", "--out", out.path(), "--db",
                        QString::fromStdString(store.path()), "--device", "cpu"});
    QVERIFY2(cli.exitCode == 0, qPrintable(cli.err));
    QVERIFY(cli.err.contains("computing its pictures"));
    QVERIFY(cli.out.contains("written to"));
    QVERIFY(QFile::exists(QDir(out.path()).filePath("stage1-confusion-head.png")));
    QVERIFY(!QFile::exists(QDir(out.path()).filePath("stage0-confusion-head.png")));
    QVERIFY(store.reopen());
    auto all = store->pictureStages(id);
    QVERIFY(all);
    QCOMPARE(*all, (std::vector<int>{0, 1, 2}));
    // A stage the run does not have is refused, naming the stages it has.
    store.close();
    const auto bad = test::runCli({"inspect", QString::number(id), "--stage", "9", "--out",
                                   out.path(), "--db", QString::fromStdString(store.path())});
    QCOMPARE(bad.exitCode, 2);
    QVERIFY(bad.err.contains("stages 1..3"));
}

void TestInspect::damagedPicturesAreAnError()
{
    test::TempStore store;
    QVERIFY(store.ok());
    const auto id = trainTiny(*store, TrainMode::Greedy);
    QVERIFY(id > 0);
    store.close();
    {
        SQLite::Database db(store.path(), SQLite::OPEN_READWRITE);
        db.exec("UPDATE pictures SET data = x'0102' WHERE kind = 'projection' AND stage = 1");
    }
    QVERIFY(store.reopen());
    auto p = store->pictures(id, 1);
    QVERIFY(!p);
    QVERIFY2(p.message().find("projection pictures of run") != std::string::npos
                 && p.message().find("stage 2") != std::string::npos,
             p.message().c_str());
    QVERIFY(store->pictures(id, 0)); // the other stages still read
}

void TestInspect::imageThroughStagesMatchesTheHeads()
{
    test::TempStore store;
    QVERIFY(store.ok());
    const auto id = trainTiny(*store, TrainMode::Greedy);
    QVERIFY(id > 0);
    ExecOptions exec;
    exec.device = "cpu";
    exec.threads = 2;
    auto images = RunService(*store).images(id, exec);
    QVERIFY2(images, images ? "" : images.message().c_str());
    QCOMPARE((*images)->testImages(), std::int64_t(256));
    QCOMPARE((*images)->stages(), 3);
    // A stage's hard error, seen through the stages from the checkpoint: the same prediction
    // and confidence as the evaluation gave, and the same fix.
    auto p = store->pictures(id, 0);
    QVERIFY(p && !p->hardErrors.errors.empty());
    const auto &e = p->hardErrors.errors.front();
    auto img = (*images)->image(e.sample);
    QVERIFY2(img, img ? "" : img.message().c_str());
    QCOMPARE(img->sample, e.sample);
    QCOMPARE(img->trueClass, e.trueClass);
    QCOMPARE(img->image.count, 1);
    QCOMPARE(img->image.height, 8);
    QCOMPARE(int(img->stages.size()), 3);
    QCOMPARE(img->stages[0].predicted, e.predicted);
    QVERIFY(std::abs(img->stages[0].confidence - e.confidence) < 1e-4);
    for (int s = 1; s < 3; ++s)
        if (e.fixedAtStage == s)
            QCOMPARE(img->stages[std::size_t(s)].predicted, e.trueClass);
    // Stage widths 8, 16, 32 at 8x8, 4x4, 2x2: up to 16 channels each, most active first.
    const int side[3] = {8, 4, 2}, count[3] = {8, 16, 16};
    for (int s = 0; s < 3; ++s) {
        const auto &st = img->stages[std::size_t(s)];
        QCOMPARE(st.stage, s);
        QCOMPARE(st.maps.count, count[s]);
        QCOMPARE(st.maps.height, side[s]);
        QCOMPARE(int(st.channels.size()), count[s]);
    }
    // Outside the test set: refused, naming the range.
    auto bad = (*images)->image(256);
    QVERIFY(!bad);
    QVERIFY2(bad.message().find("0..255") != std::string::npos, bad.message().c_str());
}

void TestInspect::cliWritesAPickedImage()
{
    test::TempStore store;
    QVERIFY(store.ok());
    const auto id = trainTiny(*store, TrainMode::Greedy);
    QVERIFY(id > 0);
    store.close();
    QTemporaryDir out;
    const QString db = QString::fromStdString(store.path());
    const auto cli = test::runCli({"inspect", QString::number(id), "--image", "5", "--out",
                                   out.path(), "--db", db, "--device", "cpu", "--threads", "2"});
    QVERIFY2(cli.exitCode == 0, qPrintable(cli.err));
    QVERIFY2(cli.out.contains("test image 5, true class"), qPrintable(cli.out));
    const QDir dir(out.path());
    const int m = 2 * kPictureMargin;
    // The 8x8 image at scale 8; each stage's maps in one row, scaled to about 64 pixels.
    QCOMPARE(pngSize(dir.filePath("image5.png")), std::make_pair(64 + m, 64 + m));
    QCOMPARE(pngSize(dir.filePath("image5-stage0.png")),
             std::make_pair(8 * 64 + 7 * 2 + m, 64 + m));
    QCOMPARE(pngSize(dir.filePath("image5-stage1.png")),
             std::make_pair(16 * 64 + 15 * 2 + m, 64 + m));
    QCOMPARE(pngSize(dir.filePath("image5-stage2.png")),
             std::make_pair(16 * 64 + 15 * 2 + m, 64 + m));
    // All stages: a row each, the image then its maps at the image's height.
    QCOMPARE(pngSize(dir.filePath("image5-stages.png")),
             std::make_pair(64 + 8 + 16 * (64 + 2) + m, 3 * 64 + 2 * 2 + m));
    QFile json(dir.filePath("image5.json"));
    QVERIFY(json.open(QIODevice::ReadOnly));
    const QByteArray text = json.readAll();
    QVERIFY(text.contains("\"sample\": 5"));
    QVERIFY(text.contains("\"predicted_class\""));

    // --stage: that stage only.
    QTemporaryDir one;
    const auto st = test::runCli({"inspect", QString::number(id), "--image", "5", "--stage", "2",
                                  "--out", one.path(), "--db", db, "--device", "cpu"});
    QVERIFY2(st.exitCode == 0, qPrintable(st.err));
    QVERIFY(QFile::exists(QDir(one.path()).filePath("image5-stage1.png")));
    QVERIFY(!QFile::exists(QDir(one.path()).filePath("image5-stage0.png")));

    // Outside the test set: exit 2, naming the range; nothing written.
    QTemporaryDir none;
    const auto bad = test::runCli({"inspect", QString::number(id), "--image", "256", "--out",
                                   none.path(), "--db", db, "--device", "cpu"});
    QCOMPARE(bad.exitCode, 2);
    QVERIFY2(bad.err.contains("--image 256") && bad.err.contains("256 images, numbered 0..255"),
             qPrintable(bad.err));
    QVERIFY(QDir(none.path()).isEmpty());
}

QTEST_GUILESS_MAIN(TestInspect)
#include "tst_inspect.moc"
