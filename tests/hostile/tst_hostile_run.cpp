// Hostile conditions during a run (issue 20, items 2 and 6): Ctrl+C while a checkpoint is being
// written ends the run cancelled and resumable with the last good checkpoint; a run whose
// checkpoints cannot fit the disk is refused before it starts; a validation image that stops
// decoding during a run without the feature cache is left out of the evaluation, its label
// with it, and counted.

#include "core/data/codec.h"
#include "core/spec/spec.h"
#include "core/train/trainer.h"
#include "core/util/fsutil.h"
#include "tests/support/support.h"

#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace lw;
namespace fs = std::filesystem;

namespace {

std::string readAll(const fs::path &path)
{
    std::ifstream f(path, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

/// Cancels its trainer as soon as a stage's checkpoint is saved: the rolling checkpoint written
/// right after it is the write that must give way.
struct CancelAfterStageFile : test::EventLog
{
    Trainer *trainer = nullptr;
    void checkpointSaved(const CheckpointSaved &c) override
    {
        test::EventLog::checkpointSaved(c);
        if (c.stageEnd && trainer)
            trainer->cancel();
    }
};

/// Breaks one validation image once the run has opened (listed and checked) its image folder.
struct BreakImageAtStart : test::EventLog
{
    fs::path image;
    bool broken = false;
    std::vector<StagePictures> pictures;
    void picturesReady(const StagePictures &p) override { pictures.push_back(p); }
    void stageStarted(const StageStarted &e) override
    {
        test::EventLog::stageStarted(e);
        if (!broken)
            std::ofstream(image, std::ios::binary) << "not a PNG";
        broken = true;
    }
};

/// An image folder of 8x8 RGB PNGs: 4 classes, 6 training and 3 validation images each.
void writeFolder(const fs::path &root)
{
    for (int c = 0; c < 4; ++c)
        for (int i = 0; i < 9; ++i) {
            data::RawImage img;
            img.width = img.height = 8;
            img.channels = 3;
            for (int p = 0; p < 8 * 8 * 3; ++p)
                img.pixels.push_back(std::uint8_t((c * 60 + i * 7 + p * 13) % 256));
            // Built by appending: GCC 12 warns falsely (-Wrestrict) on "c" + std::string&&.
            std::string cls = "c";
            cls += std::to_string(c);
            const fs::path file
                = root / (i < 6 ? "train" : "val") / cls / (std::to_string(i) + ".png");
            fs::create_directories(file.parent_path());
            std::ofstream(file, std::ios::binary) << data::encodePng(img).value();
        }
}

} // namespace

class TestHostileRun : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void cancelledWriteLeavesTheOldFile()
    {
        QTemporaryDir dir;
        const fs::path file = fs::path(dir.path().toStdString()) / "ckpt.pt";
        QVERIFY(writeFileAtomic(file.string(), "old").ok());
        const std::string big(24u << 20, 'x'); // three chunks
        int asked = 0;
        auto r = writeFileAtomic(file.string(), big, [&] { return ++asked == 2; });
        QVERIFY(!r.ok());
        QVERIFY2(r.message().find("was cancelled") != std::string::npos, r.message().c_str());
        QCOMPARE(asked, 2); // asked before each chunk, stopped before the second
        QCOMPARE(readAll(file), std::string("old"));
        QCOMPARE(int(std::distance(fs::directory_iterator(file.parent_path()), {})), 1); // no temp
        // Not cancelled: written whole.
        QVERIFY(writeFileAtomic(file.string(), big, [] { return false; }).ok());
        QCOMPARE(readAll(file).size(), big.size());
    }

    void cancelDuringCheckpointWriteEndsResumable()
    {
        QTemporaryDir dir;
        TrainOptions o;
        o.spec = test::tinySpec(1);
        // Stage 1's checkpoint above one 8 MiB chunk (a 512-wide head with two hidden 3x3
        // convolutions: 2.4 M weights and their momentum): a write large enough to give way to a
        // stop; smaller ones are written whole.
        o.spec.stages[0].head.k = 3;
        o.spec.stages[0].head.width = 512;
        o.spec.recipe.dataset.trainLimit = 128;
        o.threads = 1;
        o.runDir = dir.path().toStdString();
        CancelAfterStageFile log;
        Trainer t(o, &log);
        log.trainer = &t;
        auto r = t.run();
        QVERIFY2(r.ok(), r.ok() ? "" : r.message().c_str());
        QCOMPARE(int(r->status), int(RunStatus::Cancelled));
        QVERIFY2(r->message.find("while writing a checkpoint") != std::string::npos,
                 r->message.c_str());
        // Stage 1's file was written, its end-of-stage rolling checkpoint was abandoned: the
        // run state still names the checkpoint of its last epoch, which is there.
        const fs::path run = o.runDir;
        QVERIFY(fs::exists(run / "stage0.pt"));
        QVERIFY(!fs::exists(run / "ckpt-s0-e1-end.pt"));
        QVERIFY(fs::exists(run / "ckpt-s0-e1.pt"));
        QVERIFY(readAll(run / "state.json").find("\"ckpt-s0-e1.pt\"") != std::string::npos);
        for (const auto &e : fs::directory_iterator(run))
            QVERIFY2(e.path().filename().string().find(".tmp") == std::string::npos,
                     e.path().c_str());
        // And it resumes to the end.
        test::EventLog more;
        Trainer again(o, &more);
        auto resumed = again.resume();
        QVERIFY2(resumed.ok(), resumed.ok() ? "" : resumed.message().c_str());
        QCOMPARE(int(resumed->status), int(RunStatus::Finished));
        QCOMPARE(int(resumed->stages.size()), 3);
    }

    void checkpointsThatCannotFitAreRefused()
    {
        const Spec spec = test::tinySpec(1);
        const auto summary = summarizeSpec(spec);
        QVERIFY(summary.ok());
        std::int64_t params = summary->trunkParams;
        for (const auto &st : summary->stages)
            params += st.headParams;
        const auto e = estimateCheckpointDisk(*summary, 3);
        QCOMPARE(e.networkBytes, 4 * params);
        QCOMPARE(e.peakBytes, 5 * 4 * params); // 3 stage files and two rolling checkpoints
        QVERIFY(checkCheckpointsFit(spec, 3, e.peakBytes, "/runs").ok());
        auto r = checkCheckpointsFit(spec, 3, e.peakBytes - 1, "/runs");
        QVERIFY(!r.ok());
        QVERIFY2(r.message().find("would not fit on the disk") != std::string::npos
                     && r.message().find("'/runs' has") != std::string::npos
                     && r.message().find("3 stage checkpoints") != std::string::npos,
                 r.message().c_str());
        // A resumed run's files already there count as written.
        QVERIFY(checkCheckpointsFit(spec, 3, e.peakBytes / 2, "/runs", e.peakBytes / 2 + 1).ok());
        QVERIFY(checkCheckpointsFit(spec, 3, -1, "/runs").ok()); // free space unknown

        // Through the CLI: 256 stages of 1024 channels keep 256 stage checkpoints of 9.7 GB.
        Spec huge = spec;
        huge.stages.assign(SpecLimits::maxStages, spec.stages[0]);
        for (auto &st : huge.stages)
            st.width = 1024;
        QVERIFY(validateSpec(huge).empty());
        QTemporaryDir dir;
        const QString file = dir.filePath("huge.json");
        std::ofstream(file.toStdString()) << serializeSpec(huge);
        const auto cli = test::runCli(
            {"train", "--spec", file, "--db", dir.filePath("runs.sqlite"), "--threads", "1"}, {},
            60000);
        if (cli.err.contains("cannot be trained on this machine"))
            QSKIP("this machine's RAM is refused first");
        const auto free = fs::space(dir.path().toStdString()).available;
        if (double(free) > 2.0e12)
            QSKIP("this file system has room for 2.5 TB of checkpoints");
        QCOMPARE(cli.exitCode, 2);
        QVERIFY2(cli.err.contains("this run's checkpoints would not fit on the disk")
                     && cli.err.contains("256 stage checkpoints"),
                 qPrintable(cli.err));
        QVERIFY(!fs::exists(dir.filePath("runs").toStdString())); // nothing recorded
    }

    void valImageBreakingDuringARunIsLeftOut()
    {
        QTemporaryDir dir;
        const fs::path root = dir.path().toStdString();
        writeFolder(root);
        TrainOptions o;
        o.spec = test::tinySpec(2);
        o.spec.input.channels = 3;
        o.spec.recipe.normalize.mean = {0.5, 0.5, 0.5};
        o.spec.recipe.normalize.std = {0.25, 0.25, 0.25};
        o.spec.recipe.dataset = {"imagefolder", root.string(), 0, 0};
        o.spec.recipe.batchSize = 8;
        o.cache = FeatureCache::Off;
        o.threads = 1;
        BreakImageAtStart log;
        log.image = root / "val" / "c2" / "7.png";
        Trainer t(o, &log);
        auto r = t.run();
        QVERIFY2(r.ok(), r.ok() ? "" : r.message().c_str());
        QVERIFY2(r->status == RunStatus::Finished, r->message.c_str());
        QVERIFY(log.broken);
        // Every evaluation is over the 11 images that decode, with their own labels.
        QVERIFY(!log.epochs.empty());
        for (const auto &m : log.epochs) {
            const double correct = m.testAcc * 11;
            QVERIFY2(std::fabs(correct - std::round(correct)) < 1e-9,
                     qPrintable(QString::number(m.testAcc)));
            const double ens = m.ensembleAcc * 11;
            QVERIFY(std::fabs(ens - std::round(ens)) < 1e-9);
        }
        int counted = 0;
        for (const auto &line : log.logs)
            counted
                += line.find("1 of 12 test images could not be decoded now") != std::string::npos;
        QCOMPARE(counted, 1); // said once, not once per evaluation
        // Its pictures leave it out too (regression: its NaN row was counted by argmax in the
        // confusions): they sum to the 11 images evaluated, their diagonal is the stage's
        // accuracy, and it is neither a hard error nor a point of the projection.
        QCOMPARE(int(log.pictures.size()), 3);
        for (const auto &p : log.pictures) {
            const auto &stage = log.stages[std::size_t(p.stage)];
            QCOMPARE(p.head.total(), std::int64_t(11));
            QCOMPARE(p.ensemble.total(), std::int64_t(11));
            QCOMPARE(p.head.accuracy(), stage.testAcc);
            QCOMPARE(p.ensemble.accuracy(), stage.ensembleAcc);
            // val/c2/7.png is test image 7 (classes, then files, in name order).
            QCOMPARE(p.projection.size(), std::size_t(11));
            QVERIFY(std::find(p.projection.samples.begin(), p.projection.samples.end(), 7)
                    == p.projection.samples.end());
            for (const auto &e : p.hardErrors.errors)
                QVERIFY(e.sample != 7);
        }
    }
};

QTEST_GUILESS_MAIN(TestHostileRun)
#include "tst_hostile_run.moc"
