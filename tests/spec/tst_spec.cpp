// Spec format: parsing, validation errors, round trips, shape inference and costs of the paper's
// models, presets, and the `layerwise-cli presets / arch` commands.

#include "core/spec/spec.h"
#include "core/util/format.h"
#include "tests/support/support.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <limits>

using namespace lw;

namespace {

const QStringList kPresetNames
    = {"cifar10-k1",  "cifar10-k2",  "cifar10-k3",  "fmnist-k1",   "fmnist-k2",
       "imagenet-k1", "imagenet-k2", "imagenet-k3", "vgg11-greedy"};

Spec preset(const QString &name)
{
    auto spec = loadPreset(name.toStdString());
    if (!spec)
        qFatal("preset %s: %s", qPrintable(name), spec.message().c_str());
    return *spec;
}

/// Sets (or with an undefined value removes) the value at a path such as "stages[1].head.k".
QJsonValue setAt(const QJsonValue &root, QStringList parts, const QJsonValue &value)
{
    if (parts.isEmpty())
        return value;
    const QString part = parts.takeFirst();
    if (part.startsWith('[')) {
        QJsonArray array = root.toArray();
        const int index = part.mid(1, part.size() - 2).toInt();
        if (index == array.size())
            array.append(setAt(QJsonValue(), parts, value));
        else
            array[index] = setAt(array[index], parts, value);
        return array;
    }
    QJsonObject object = root.toObject();
    if (parts.isEmpty() && value.isUndefined())
        object.remove(part);
    else
        object[part] = setAt(object.value(part), parts, value);
    return object;
}

QStringList splitPath(const QString &path)
{
    QStringList parts;
    for (const QString &dotted : path.split('.')) {
        const int bracket = dotted.indexOf('[');
        if (bracket < 0) {
            parts << dotted;
            continue;
        }
        if (bracket > 0)
            parts << dotted.left(bracket);
        for (const QString &index : dotted.mid(bracket).split('[', Qt::SkipEmptyParts))
            parts << '[' + index;
    }
    return parts;
}

/// fmnist-k1 (valid) with "path=json; path=json" edits applied; "path=-" removes the key.
QByteArray mutated(const QString &edits)
{
    QJsonValue root
        = QJsonDocument::fromJson(QByteArray::fromStdString(serializeSpec(preset("fmnist-k1"))))
              .object();
    for (const QString &edit : edits.split(';', Qt::SkipEmptyParts)) {
        const int eq = edit.indexOf('=');
        const QString path = edit.left(eq).trimmed();
        const QString text = edit.mid(eq + 1).trimmed();
        QJsonValue value(QJsonValue::Undefined);
        if (text != "-") {
            const auto doc = QJsonDocument::fromJson("[" + text.toUtf8() + "]");
            if (doc.isNull())
                qFatal("bad test edit %s", qPrintable(edit));
            value = doc.array().at(0);
        }
        root = setAt(root, splitPath(path), value);
    }
    return QJsonDocument(root.toObject()).toJson();
}

QString issuesText(const std::vector<SpecIssue> &issues)
{
    QStringList lines;
    for (const auto &i : issues)
        lines << QString::fromStdString(i.toString());
    return lines.join('\n');
}

} // namespace

class TestSpec : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void presetsListed();
    void unknownPreset();
    void presetRoundTrip_data();
    void presetRoundTrip();
    void presetFilesAreCanonical_data() { presetRoundTrip_data(); }
    void presetFilesAreCanonical();
    void handBuiltRoundTrip();
    void defaultsAndBias();
    void presetCosts_data();
    void presetCosts();
    void shapes();
    void headCosts();
    void downsamplingKinds();
    void malformed_data();
    void malformed();
    void everyIssueReported();
    void validateInMemory();
    void outOfRangeInMemory();
    void costsThatOverflow();
    void trainingMemory();
    void loadSpecFileErrors();
    void cliPresets();
    void cliSummaryJson();
    void cliSummaryText();
    void cliValidate();
    void milestonesPastTheEnd();
};

void TestSpec::presetsListed()
{
    const auto presets = listPresets();
    QStringList names;
    for (const auto &p : presets) {
        names << QString::fromStdString(p.name);
        QVERIFY2(!p.description.empty(), p.name.c_str());
        QVERIFY2(p.description.find('\n') == std::string::npos, p.name.c_str());
    }
    QCOMPARE(names, kPresetNames);
}

void TestSpec::unknownPreset()
{
    auto spec = loadPreset("cifar10-k9");
    QVERIFY(!spec);
    const QString msg = QString::fromStdString(spec.message());
    QVERIFY2(msg.contains("unknown preset \"cifar10-k9\""), qPrintable(msg));
    for (const QString &name : kPresetNames)
        QVERIFY2(msg.contains(name), qPrintable(msg));
}

void TestSpec::presetRoundTrip_data()
{
    QTest::addColumn<QString>("name");
    for (const QString &name : kPresetNames)
        QTest::newRow(qPrintable(name)) << name;
}

void TestSpec::presetRoundTrip()
{
    QFETCH(QString, name);
    const Spec spec = preset(name);
    QCOMPARE(QString::fromStdString(spec.name), name);
    QVERIFY2(validateSpec(spec).empty(), qPrintable(issuesText(validateSpec(spec))));
    const std::string text = serializeSpec(spec);
    auto again = parseSpec(text);
    QVERIFY2(again.ok(), again.ok() ? "" : again.message().c_str());
    QVERIFY(*again == spec);
    QCOMPARE(serializeSpec(*again), text);
}

void TestSpec::presetFilesAreCanonical()
{
    // The shipped JSON is exactly what serializeSpec writes, so saving a preset unchanged from
    // the designer gives a byte-identical file.
    QFETCH(QString, name);
    QFile file(QStringLiteral(LW_SOURCE_DIR) + "/resources/presets/" + name + ".json");
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(QString::fromStdString(serializeSpec(preset(name))),
             QString::fromUtf8(file.readAll()));
}

void TestSpec::handBuiltRoundTrip()
{
    Spec s;
    s.name = "hand \"built\" \xc3\xa9\xe2\x9c\x93";
    s.description = "line with\ttab and \\ backslash";
    s.input = InputSpec{3, 64, 48, 7, Downsample::Psi};
    StageSpec a;
    a.width = 48;
    a.kernel = 5;
    a.downsample = Downsample::None;
    a.bn = false;
    a.bias = false; // not the default (!bn): must survive the round trip
    a.head = HeadSpec{HeadKind::Conv, 3, 96, 3, HeadPool::Adaptive, 0, false, 0.0, false};
    StageSpec b;
    b.width = 80;
    b.kernel = 1;
    b.downsample = Downsample::Stride;
    b.head = HeadSpec{HeadKind::Mlp, 2, 300, 2, HeadPool::Fixed, 1, true, 0.25, true};
    StageSpec c;
    c.width = 16;
    c.kernel = 11;
    c.downsample = Downsample::AvgPool;
    c.bias = true;
    s.stages = {a, b, c};
    s.recipe.dataset = DatasetSpec{"imagefolder", "/data/imagenet \xe2\x9c\x93", 1000, 250};
    s.recipe.epochsPerStage = 7;
    s.recipe.batchSize = 33;
    s.recipe.testBatchSize = 1;
    s.recipe.optimizer = OptimizerSpec{0.95, 1.25e-5, true};
    s.recipe.lr = LrSchedule{0.0123456789012345678, 3.5, 0, {1, 5, 6}, false};
    s.recipe.augment = AugmentSpec{false, 3, false, true, 72};
    s.recipe.normalize = NormalizeSpec{{}, {}, true};
    s.recipe.ensemble = EnsembleMode::Softmax;
    s.recipe.e2e = EndToEndSpec{21, LrSchedule{0.2, 10.0, 7, {}, true}};
    s.recipe.precision = "bf16";
    s.recipe.seed = std::numeric_limits<std::uint64_t>::max();
    s.recipe.syncBn = true;
    QVERIFY2(validateSpec(s).empty(), qPrintable(issuesText(validateSpec(s))));

    auto again = parseSpec(serializeSpec(s));
    QVERIFY2(again.ok(), again.ok() ? "" : again.message().c_str());
    QVERIFY(*again == s);

    // The recipe alone is a JSON object holding the same fields.
    const auto recipe
        = QJsonDocument::fromJson(QByteArray::fromStdString(serializeRecipe(s.recipe)));
    QVERIFY(recipe.isObject());
    QCOMPARE(recipe.object().value("precision").toString(), QString("bf16"));
    QCOMPARE(recipe.object().value("sync_bn").toBool(), true);
    // Off (the default), sync_bn is not written: specs stored before it read back unchanged.
    s.recipe.syncBn = false;
    QVERIFY(!QJsonDocument::fromJson(QByteArray::fromStdString(serializeRecipe(s.recipe)))
                 .object()
                 .contains("sync_bn"));
    QCOMPARE(recipe.object().value("e2e").toObject().value("epochs").toInt(), 21);
    QCOMPARE(recipe.object().value("lr").toObject().value("milestones").toArray().size(), 3);
}

void TestSpec::defaultsAndBias()
{
    const char *json = R"({"format": "layerwise-spec", "version": 1,
        "input": {"channels": 1, "height": 28, "width": 28, "classes": 10},
        "stages": [{"width": 32}, {"width": 64, "bn": false, "downsample": "psi"},
                   {"width": 64, "bn": false, "bias": false, "kernel": 3.0}],
        "recipe": {"lr": {"milestones": [2, 3]}}})";
    auto spec = parseSpec(json);
    QVERIFY2(spec.ok(), spec.ok() ? "" : spec.message().c_str());
    QCOMPARE(spec->stages.size(), std::size_t(3));
    QCOMPARE(spec->stages[0].bias, false); // bn -> no bias
    QCOMPARE(spec->stages[1].bias, true);  // no bn -> bias
    QCOMPARE(spec->stages[2].bias, false); // explicit
    QCOMPARE(spec->stages[2].kernel, 3);   // integral float accepted
    QVERIFY(spec->stages[0].head == HeadSpec{});
    // Milestones without "every" select a milestone schedule.
    QCOMPARE(spec->recipe.lr.every, 0);
    QCOMPARE(spec->recipe.lr.milestones, (std::vector<int>{2, 3}));
    QCOMPARE(spec->recipe.e2e.lr.every, 15);
    QVERIFY(spec->recipe.dataset == DatasetSpec{});
    QCOMPARE(spec->name, std::string());
}

void TestSpec::presetCosts_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<qint64>("trunkParams");
    QTest::addColumn<qint64>("totalParams");
    QTest::addColumn<qint64>("trunkMacs");
    QTest::addColumn<qint64>("totalMacs");
    QTest::addColumn<double>("totalGMacs"); // the paper's rounded figure, 0 when none
    // Parameter counts from the reference code (METHOD.md); MACs computed by hand from the
    // shapes: e.g. CIFAR k=2 stages[2] = 16*16 px * 256 out * 512 in * 9.
    QTest::newRow("cifar10-k1") << "cifar10-k1" << qint64(33627136) << qint64(33668106)
                                << qint64(3630956544) << qint64(3630997504) << 3.63;
    QTest::newRow("cifar10-k2") << "cifar10-k2" << qint64(1921920) << qint64(2523018)
                                << qint64(607518720) << qint64(758523904) << 0.76;
    QTest::newRow("cifar10-k3") << "cifar10-k3" << qint64(1921920) << qint64(3113354)
                                << qint64(607518720) << qint64(909518848) << 0.91;
    QTest::newRow("imagenet-k1") << "imagenet-k1" << qint64(590441728) << qint64(606826728)
                                 << qint64(-1) << qint64(-1) << 0.0;
    QTest::newRow("imagenet-k2") << "imagenet-k2" << qint64(37327872) << qint64(91477992)
                                 << qint64(-1) << qint64(-1) << 0.0;
    QTest::newRow("imagenet-k3") << "imagenet-k3" << qint64(37327872) << qint64(242481128)
                                 << qint64(-1) << qint64(-1) << 0.0;
    // VGG-11: the 8 convs (7,485,456,384) + classifier 25088*4096 + 4096*4096 + 4096*1000.
    QTest::newRow("vgg11-greedy") << "vgg11-greedy" << qint64(9225984) << qint64(132868840)
                                  << qint64(7485456384) << qint64(7609090048) << 7.61;
}

void TestSpec::presetCosts()
{
    QFETCH(QString, name);
    QFETCH(qint64, trunkParams);
    QFETCH(qint64, totalParams);
    QFETCH(qint64, trunkMacs);
    QFETCH(qint64, totalMacs);
    QFETCH(double, totalGMacs);
    auto summary = summarizeSpec(preset(name));
    QVERIFY2(summary.ok(), summary.ok() ? "" : summary.message().c_str());
    QCOMPARE(qint64(summary->trunkParams), trunkParams);
    QCOMPARE(qint64(summary->totalParams), totalParams);
    if (trunkMacs >= 0) {
        QCOMPARE(qint64(summary->trunkMacs), trunkMacs);
        QCOMPARE(qint64(summary->totalMacs), totalMacs);
    }
    if (totalGMacs > 0)
        QCOMPARE(std::round(summary->totalMacs / 1e7) / 100.0, totalGMacs);
    std::int64_t blocks = 0, blockMacs = 0;
    for (const auto &st : summary->stages) {
        blocks += st.blockParams;
        blockMacs += st.blockMacs;
        QCOMPARE(st.activationBytes, std::int64_t(st.out.c) * st.out.h * st.out.w * 4);
    }
    QCOMPARE(blocks, summary->trunkParams);
    QCOMPARE(blockMacs, summary->trunkMacs);
    QCOMPARE(summary->totalParams, summary->trunkParams + summary->stages.back().headParams);
}

void TestSpec::shapes()
{
    auto outs = [](const QString &name) {
        QList<QList<int>> list;
        const auto summary = summarizeSpec(preset(name));
        for (const auto &st : summary->stages)
            list << QList<int>{st.out.c, st.out.h, st.out.w};
        return list;
    };
    using L = QList<QList<int>>;
    QCOMPARE(outs("cifar10-k1"),
             (L{{256, 32, 32}, {256, 32, 32}, {512, 16, 16}, {1024, 8, 8}, {1024, 8, 8}}));
    QCOMPARE(outs("cifar10-k2"), (L{{128, 32, 32}, {128, 32, 32}, {256, 16, 16}, {256, 16, 16}}));
    QCOMPARE(outs("imagenet-k1"), (L{{256, 112, 112},
                                     {256, 112, 112},
                                     {512, 56, 56},
                                     {1024, 28, 28},
                                     {2048, 14, 14},
                                     {2048, 14, 14},
                                     {4096, 7, 7},
                                     {4096, 7, 7}}));
    QCOMPARE(outs("imagenet-k3").last(), (QList<int>{1024, 14, 14}));
    QCOMPARE(outs("vgg11-greedy"), (L{{64, 224, 224},
                                      {128, 112, 112},
                                      {256, 56, 56},
                                      {256, 56, 56},
                                      {512, 28, 28},
                                      {512, 28, 28},
                                      {512, 14, 14},
                                      {512, 14, 14}}));
    QCOMPARE(outs("fmnist-k2"), (L{{64, 14, 14}, {128, 14, 14}, {128, 7, 7}}));
    // stages[0] of the ImageNet models receives the input after psi.
    const auto in0 = summarizeSpec(preset("imagenet-k2"))->stages[0].in;
    QCOMPARE((QList<int>{in0.c, in0.h, in0.w}), (QList<int>{12, 112, 112}));
}

void TestSpec::headCosts()
{
    // CIFAR k=2 last head: conv 256->256 (589,824) + BN (512), BN(256) = 512, linear 1024->10.
    const auto cifar = summarizeSpec(preset("cifar10-k2"));
    QCOMPARE(cifar->stages[3].headParams, std::int64_t(589824 + 512 + 512 + 10250));
    QCOMPARE(cifar->stages[0].headParams, std::int64_t(147456 + 256 + 256 + 5130));
    // CIFAR k=1 heads have no BN: linear only.
    QCOMPARE(summarizeSpec(preset("cifar10-k1"))->stages[2].headParams,
             std::int64_t(2048 * 10 + 10));
    // VGG's intermediate heads: two valid 3x3 convs with bias-free BN, adaptive 2x2 pooling.
    const auto vgg = summarizeSpec(preset("vgg11-greedy"));
    QCOMPARE(vgg->stages[6].headParams,
             std::int64_t(2 * (512 * 512 * 9 + 1024) + 1024 + 2048 * 1000 + 1000));
    QCOMPARE(vgg->stages[6].headMacs,
             std::int64_t(12 * 12 * 512 * 512 * 9 + 10 * 10 * 512 * 512 * 9 + 2048 * 1000));
    // fmnist-k1: adaptive 2x2 on 7x7, BN(128), linear 512 -> 10.
    QCOMPARE(summarizeSpec(preset("fmnist-k1"))->stages[2].headParams, std::int64_t(256 + 5130));
}

void TestSpec::downsamplingKinds()
{
    Spec s = preset("fmnist-k1");
    s.input = InputSpec{2, 9, 8, 10, Downsample::None};
    s.recipe.normalize = NormalizeSpec{};
    auto stage = [](Downsample d, int kernel) {
        StageSpec st;
        st.width = 8;
        st.kernel = kernel;
        st.downsample = d;
        st.head = HeadSpec{HeadKind::Conv, 1, 8, 1, HeadPool::Adaptive, 1, false, 0.0, false};
        return st;
    };
    // 9x8 -maxpool-> 4x4 -stride(k5)-> 2x2 -avgpool-> 1x1 -stride(k3)-> 1x1
    s.stages = {stage(Downsample::MaxPool, 3), stage(Downsample::Stride, 5),
                stage(Downsample::AvgPool, 1), stage(Downsample::Stride, 3)};
    auto summary = summarizeSpec(s);
    QVERIFY2(summary.ok(), summary.ok() ? "" : summary.message().c_str());
    QCOMPARE(summary->stages[0].out, (Shape{8, 4, 4}));
    QCOMPARE(summary->stages[1].out, (Shape{8, 2, 2}));
    QCOMPARE(summary->stages[2].out, (Shape{8, 1, 1}));
    QCOMPARE(summary->stages[3].out, (Shape{8, 1, 1}));
    // Strided conv: MACs at the output resolution.
    QCOMPARE(summary->stages[1].blockMacs, std::int64_t(2 * 2 * 8 * 8 * 25));
    QCOMPARE(summary->stages[0].blockParams, std::int64_t(2 * 8 * 9 + 16));
    // Psi multiplies the conv's input channels by 4 (fmnist-k1: psi on the input and at stages[2]).
    const auto p = summarizeSpec(preset("fmnist-k1"));
    QCOMPARE(p->stages[0].blockParams, std::int64_t(4 * 64 * 9 + 128));
    QCOMPARE(p->stages[2].blockParams, std::int64_t(512 * 128 * 9 + 256));
}

void TestSpec::malformed_data()
{
    QTest::addColumn<QString>("edits"); // mutations of fmnist-k1, or "RAW:" + the document
    QTest::addColumn<QString>("path");
    QTest::addColumn<QString>("message");
    QTest::addColumn<int>("stage");

    QTest::newRow("unknown key") << "stages[0].head.widht=5"
                                 << "stages[0].head.widht"
                                 << "unknown key (expected one of: kind, k" << 0;
    QTest::newRow("unknown top-level key") << "stage=[]"
                                           << "stage"
                                           << "unknown key" << -1;
    QTest::newRow("wrong type") << "input.channels=\"three\""
                                << "input.channels"
                                << "expected an integer, got string \"three\"" << -1;
    QTest::newRow("fractional integer") << "recipe.batch_size=12.5"
                                        << "recipe.batch_size"
                                        << "expected an integer, got number 12.5" << -1;
    QTest::newRow("object expected") << "recipe.optimizer=5"
                                     << "recipe.optimizer"
                                     << "expected an object, got number 5" << -1;
    QTest::newRow("bool expected") << "stages[1].bn=\"yes\""
                                   << "stages[1].bn"
                                   << "expected true or false, got string \"yes\"" << 1;
    QTest::newRow("k=7") << "stages[2].head.k=7"
                         << "stages[2].head.k"
                         << "must be 1, 2 or 3, got 7" << 2;
    QTest::newRow("width 0") << "stages[1].width=0"
                             << "stages[1].width"
                             << "must be > 0, got 0" << 1;
    QTest::newRow("even kernel") << "stages[0].kernel=4"
                                 << "stages[0].kernel"
                                 << "must be an odd number from 1 to 11, got 4" << 0;
    QTest::newRow("negative lr") << "recipe.lr.initial=-0.1"
                                 << "recipe.lr.initial"
                                 << "must be > 0 and at most 10.0, got -0.1" << -1;
    QTest::newRow("factor 1") << "recipe.lr.factor=1"
                              << "recipe.lr.factor"
                              << "must be > 1" << -1;
    QTest::newRow("milestones not increasing")
        << "recipe.lr.milestones=[4,3]"
        << "recipe.lr.milestones[1]"
        << "milestones must be increasing, got 3 after 4" << -1;
    // Regression (issue 19): milestones past the schedule's last epoch never decayed the LR.
    QTest::newRow("milestone past the stage's last epoch")
        << "recipe.lr.milestones=[3,6]"
        << "recipe.lr.milestones[1]"
        << "milestone 6 is past the last epoch (recipe.epochs_per_stage is 6" << -1;
    QTest::newRow("end-to-end milestone past the last epoch")
        << "recipe.e2e.epochs=6"
        << "recipe.e2e.lr.milestones[0]"
        << "milestone 9 is past the last epoch (recipe.e2e.epochs is 6" << -1;
    QTest::newRow("every and milestones") << "recipe.lr.every=3"
                                          << "recipe.lr"
                                          << "set either \"every\" or \"milestones\"" << -1;
    QTest::newRow("psi on odd side")
        << "input.height=30;input.width=30"
        << "stages[2].downsample"
        << "psi needs an even height and width, got 128x15x15 (the output of stage 2)" << 2;
    QTest::newRow("input psi on odd side")
        << "input.downsample=\"psi\";input.height=27"
        << "input.downsample"
        << "psi needs an even height and width, got the 1x27x28 input" << -1;
    QTest::newRow("downsampling below 1 px")
        << "input.height=4;input.width=4;stages[0].head.pooled=1;stages[1].downsample="
           "\"maxpool\";stages[1].head.pooled=1;stages[2].downsample=\"maxpool\""
        << "stages[2].downsample"
        << "maxpool (2x2, stride 2) would take 128x1x1 (the output of stage 2) below 1 pixel" << 2;
    QTest::newRow("head pooled larger than input")
        << "stages[2].head.pooled=8"
        << "stages[2].head.pooled"
        << "pooling to 8x8 is larger than the head's 7x7 input" << 2;
    QTest::newRow("fixed pooling impossible")
        << "stages[2].head.pool=\"fixed\";stages[2].head.pooled=4"
        << "stages[2].head.pool"
        << "fixed pooling cannot reduce 7x7 to 4x4 (kernel 1x1 gives 7x7); use \"adaptive\"" << 2;
    QTest::newRow("hidden convs below 1 px")
        << "input.height=4;input.width=4;stages[2].head.k=3;stages[2].head.padding=0;"
           "stages[0].head.pooled=1;stages[1].head.pooled=1;stages[2].head.pooled=1"
        << "stages[2].head.k"
        << "2 hidden 3x3 conv(s) with padding 0 would take the 1x1 input" << 2;
    QTest::newRow("bad enum string")
        << "stages[1].downsample=\"pis\""
        << "stages[1].downsample"
        << "expected one of \"none\", \"psi\", \"maxpool\", \"avgpool\", \"stride\"; got string "
           "\"pis\""
        << 1;
    QTest::newRow("bad ensemble") << "recipe.ensemble=\"mean\""
                                  << "recipe.ensemble"
                                  << "expected one of \"logits\", \"softmax\"" << -1;
    QTest::newRow("bad precision")
        << "recipe.precision=\"fp64\""
        << "recipe.precision"
        << "expected one of \"fp32\", \"bf16\", \"fp16\"; got \"fp64\"" << -1;
    QTest::newRow("sync_bn not a bool") << "recipe.sync_bn=1"
                                        << "recipe.sync_bn"
                                        << "expected true or false, got number 1" << -1;
    QTest::newRow("bad dataset") << "recipe.dataset.name=\"svhn\""
                                 << "recipe.dataset.name"
                                 << "got \"svhn\"" << -1;
    QTest::newRow("input maxpool") << "input.downsample=\"maxpool\""
                                   << "input.downsample"
                                   << "must be \"none\" or \"psi\", got \"maxpool\"" << -1;
    QTest::newRow("not JSON")
        << "RAW:{\n  \"format\": \"layerwise-spec\",\n  \"version\": 1,\n  oops\n}"
        << ""
        << "not valid JSON at line 4, column 3: " << -1;
    QTest::newRow("empty document") << "RAW:"
                                    << ""
                                    << "not valid JSON at line 1, column 1" << -1;
    QTest::newRow("nested too deep") << "RAW:" + QString(100000, '[') + QString(100000, ']') << ""
                                     << "not a layerwise spec: nested more than 64 levels" << -1;
    QTest::newRow("number overflow") << "RAW:{\"format\": \"layerwise-spec\", \"version\": 1e400}"
                                     << ""
                                     << "not valid JSON: number overflow parsing '1e400'" << -1;
    QTest::newRow("top-level array")
        << "RAW:[1, 2]"
        << ""
        << "expected a JSON object (a layerwise spec), got an array" << -1;
    QTest::newRow("duplicate key")
        << "RAW:{\"format\": \"layerwise-spec\", \"version\": 1, \"input\": {\"channels\": 1, "
           "\"height\": 8, \"width\": 8, \"classes\": 2, \"classes\": 3}, \"stages\": [{\"width\": "
           "4, \"head\": {\"pool\": \"adaptive\"}}]}"
        << "input.classes"
        << "duplicate key" << -1;
    QTest::newRow("empty stages") << "stages=[]"
                                  << "stages"
                                  << "must have at least one stage" << -1;
    QTest::newRow("missing stages") << "stages=-"
                                    << "stages"
                                    << "missing (required)" << -1;
    QTest::newRow("missing stage width") << "stages[1].width=-"
                                         << "stages[1].width"
                                         << "missing (required)" << 1;
    QTest::newRow("wrong format") << "format=\"layerwise\""
                                  << "format"
                                  << "expected \"layerwise-spec\", got string \"layerwise\"" << -1;
    QTest::newRow("newer version") << "version=2"
                                   << "version"
                                   << "this Layerwise reads version 1, got 2" << -1;
    QTest::newRow("mean length mismatch")
        << "recipe.normalize.mean=[0.1,0.2]"
        << "recipe.normalize.mean"
        << "expected 1 value(s), one per input channel, got 2" << -1;
    QTest::newRow("std zero") << "recipe.normalize.std=[0]"
                              << "recipe.normalize.std[0]"
                              << "must be > 0 and at most 1000000.0, got 0.0" << -1;
    QTest::newRow("std not a number") << "recipe.normalize.std=[\"x\"]"
                                      << "recipe.normalize.std[0]"
                                      << "expected a number, got string \"x\"" << -1;
    QTest::newRow("mean and from_data") << "recipe.normalize.from_data=true"
                                        << "recipe.normalize.from_data"
                                        << "set either mean/std or from_data, not both" << -1;
    QTest::newRow("negative seed") << "recipe.seed=-1"
                                   << "recipe.seed"
                                   << "must be >= 0, got -1" << -1;
    QTest::newRow("dropout 1.5") << "stages[0].head.dropout=1.5"
                                 << "stages[0].head.dropout"
                                 << "must be in [0, 1), got 1.5" << 0;
    QTest::newRow("one class") << "input.classes=1"
                               << "input.classes"
                               << "must be >= 2, got 1" << -1;
    QTest::newRow("batch 0") << "recipe.batch_size=0"
                             << "recipe.batch_size"
                             << "must be > 0, got 0" << -1;
    QTest::newRow("eval resize below input")
        << "recipe.augment.eval_resize=20"
        << "recipe.augment.eval_resize"
        << "must be 0 (off) or at least the input side 28" << -1;
    QTest::newRow("nesterov without momentum")
        << "recipe.optimizer.nesterov=true;recipe.optimizer.momentum=0"
        << "recipe.optimizer.nesterov"
        << "Nesterov momentum needs momentum > 0" << -1;
    // Values no machine can train (issue 20): each names its field and the bound.
    QTest::newRow("width 65536") << "stages[0].width=65536"
                                 << "stages[0].width"
                                 << "must be at most 16384, got 65536" << 0;
    QTest::newRow("head width 65536") << "stages[1].head.width=65536"
                                      << "stages[1].head.width"
                                      << "must be at most 16384, got 65536" << 1;
    QTest::newRow("a million classes") << "input.classes=1000000"
                                       << "input.classes"
                                       << "must be at most 100000, got 1000000" << -1;
    QTest::newRow("lr 1e300") << "recipe.lr.initial=1e300"
                              << "recipe.lr.initial"
                              << "must be > 0 and at most 10.0, got 1e+300" << -1;
    QTest::newRow("e2e lr 1e300") << "recipe.e2e.lr.initial=1e300"
                                  << "recipe.e2e.lr.initial"
                                  << "must be > 0 and at most 10.0, got 1e+300" << -1;
    QTest::newRow("lr factor 1e300") << "recipe.lr.factor=1e300"
                                     << "recipe.lr.factor"
                                     << "and at most 1000000.0, got 1e+300" << -1;
    QTest::newRow("weight decay 1e300") << "recipe.optimizer.weight_decay=1e300"
                                        << "recipe.optimizer.weight_decay"
                                        << "must be in [0, 1.0], got 1e+300" << -1;
    QTest::newRow("mean 1e300") << "recipe.normalize.mean=[1e300]"
                                << "recipe.normalize.mean[0]"
                                << "must be a number from -1000000.0 to 1000000.0, got 1e+300"
                                << -1;
    QTest::newRow("std 1e300") << "recipe.normalize.std=[1e300]"
                               << "recipe.normalize.std[0]"
                               << "must be > 0 and at most 1000000.0, got 1e+300" << -1;
    QTest::newRow("trailing garbage") << "RAW:" + QString::fromUtf8(mutated("")) + "\n}garbage"
                                      << ""
                                      << "trailing data after the JSON document at byte offset "
                                             + QString::number(mutated("").size() + 1) + " (line "
                                      << -1;
    QTest::newRow("NUL then garbage")
        << "RAW:" + QString::fromUtf8(mutated("")) + QChar(0) + "garbage"
        << ""
        << "trailing data after the JSON document at byte offset "
               + QString::number(mutated("").size()) + " (a NUL byte)"
        << -1;
    QTest::newRow("NUL inside") << "RAW:{\"format\": \"layerwise-spec\"" + QString(QChar(0)) + "}"
                                << ""
                                << "a NUL byte at byte offset 27, which JSON text cannot hold"
                                << -1;
    QTest::newRow("huge integer") << "stages[0].width=1e12"
                                  << "stages[0].width"
                                  << "out of range, got 1000000000000" << 0;
}

void TestSpec::malformed()
{
    QFETCH(QString, edits);
    QFETCH(QString, path);
    QFETCH(QString, message);
    QFETCH(int, stage);
    const QByteArray json = edits.startsWith("RAW:") ? edits.mid(4).toUtf8() : mutated(edits);

    Spec spec;
    const auto issues = parseSpecDetailed(json.toStdString(), spec);
    const QString all = issuesText(issues);
    bool found = false;
    for (const auto &i : issues) {
        if (QString::fromStdString(i.path) == path
            && QString::fromStdString(i.message).contains(message)) {
            found = true;
            QCOMPARE(i.stage, stage);
        }
    }
    QVERIFY2(found, qPrintable("expected " + path + ": " + message + "\ngot:\n" + all));

    auto parsed = parseSpec(json.toStdString());
    QVERIFY(!parsed);
    QCOMPARE(QString::fromStdString(parsed.message()), all);
    QVERIFY(all.contains(path.isEmpty() ? message : path + ": "));
    // A value that cannot be read is reported once (not again as out of range).
    QCOMPARE(all.count(path.isEmpty() ? message : path + ": "), 1);
}

void TestSpec::everyIssueReported()
{
    const QByteArray json = mutated("stages[0].head.k=0;stages[1].width=-3;recipe.lr.factor=0.5;"
                                    "recipe.bogus=1;recipe.precision=\"fp8\"");
    Spec spec;
    const auto issues = parseSpecDetailed(json.toStdString(), spec);
    QStringList paths;
    for (const auto &i : issues)
        paths << QString::fromStdString(i.path);
    QCOMPARE(paths, (QStringList{"recipe.bogus", "stages[0].head.k", "stages[1].width",
                                 "recipe.lr.factor", "recipe.precision"}));
    // The spec is filled as far as it could be read.
    QCOMPARE(spec.stages[1].width, -3);
    QCOMPARE(spec.recipe.lr.factor, 0.5);
}

void TestSpec::validateInMemory()
{
    Spec s = preset("cifar10-k2");
    QVERIFY(validateSpec(s).empty());
    s.stages[1].downsample = Downsample::Psi; // 32 -> 16, stages[2]'s psi -> 8
    for (int i = 0; i < 3; ++i) {             // stages[4..6] at 4, 2 and 1 pixels
        s.stages.push_back(s.stages[3]);
        s.stages.back().downsample = Downsample::Psi;
    }
    QVERIFY2(validateSpec(s).empty() == false, "stages[6]'s 2x2 pooling on 1x1");
    s.stages[3].head.k = 4;
    s.stages[5].width = 0;
    const auto issues = validateSpec(s);
    QCOMPARE(issues.size(), std::size_t(2));
    QCOMPARE(issues[0].path, std::string("stages[3].head.k"));
    QCOMPARE(issues[0].stage, 3);
    QCOMPARE(issues[1].path, std::string("stages[5].width"));
    QCOMPARE(issues[1].stage, 5);

    // Shape problems come once the ranges are right.
    s.stages[3].head.k = 2;
    s.stages[5].width = 256;
    const auto shapes = validateSpec(s);
    QCOMPARE(shapes.size(), std::size_t(1));
    QCOMPARE(QString::fromStdString(shapes[0].toString()),
             QString("stages[6].head.pooled: pooling to 2x2 is larger than the head's 1x1 input"));
    QCOMPARE(shapes[0].stage, 6);
    auto summary = summarizeSpec(s);
    QVERIFY(!summary);
    QCOMPARE(summary.message(), shapes[0].toString());
}

void TestSpec::outOfRangeInMemory()
{
    // Values JSON cannot hold but a spec built in memory can: NaN and infinities.
    Spec s = preset("fmnist-k1");
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    s.recipe.lr.initial = nan;
    s.recipe.e2e.lr.factor = inf;
    s.recipe.optimizer.momentum = nan;
    s.recipe.optimizer.weightDecay = -inf;
    s.recipe.normalize.mean = {inf};
    s.recipe.normalize.std = {nan};
    s.stages[0].head.dropout = nan;
    QCOMPARE(issuesText(validateSpec(s)),
             QString("stages[0].head.dropout: must be in [0, 1), got nan\n"
                     "recipe.optimizer.momentum: must be in [0, 1), got nan\n"
                     "recipe.optimizer.weight_decay: must be in [0, 1.0], got -inf\n"
                     "recipe.lr.initial: must be > 0 and at most 10.0, got nan\n"
                     "recipe.normalize.mean[0]: must be a number from -1000000.0 to 1000000.0, "
                     "got inf\n"
                     "recipe.normalize.std[0]: must be > 0 and at most 1000000.0, got nan\n"
                     "recipe.e2e.lr.factor: must be > 1 (the LR is divided by it) and at most "
                     "1000000.0, got inf"));

    // 10,000 stages: refused once, at "stages", in memory and from JSON.
    Spec many = preset("fmnist-k1");
    many.stages.assign(10000, many.stages[2]);
    for (auto &st : many.stages)
        st.downsample = Downsample::None;
    const auto issues = validateSpec(many);
    QCOMPARE(issuesText(issues), QString("stages: at most 256 stages, got 10000"));
    Spec parsed;
    const auto fromJson = parseSpecDetailed(serializeSpec(many), parsed);
    QCOMPARE(issuesText(fromJson), QString("stages: at most 256 stages, got 10000"));
    many.stages.resize(256);
    QVERIFY2(validateSpec(many).empty(), qPrintable(issuesText(validateSpec(many))));
}

void TestSpec::costsThatOverflow()
{
    // Each stage's MACs fit in 64 bits (stage 2: 16384^2 pixels x 16384 x 16384 x 11^2 =
    // 8.7e18), their sum does not: refused rather than saturated or wrapped.
    Spec s = preset("fmnist-k1");
    s.input
        = {SpecLimits::maxChannels, SpecLimits::maxSide, SpecLimits::maxSide, 10, Downsample::None};
    s.recipe.normalize = {};
    StageSpec st;
    st.width = SpecLimits::maxWidth;
    st.kernel = 11;
    st.head.pool = HeadPool::Adaptive;
    s.stages = {st, st};
    const auto issues = validateSpec(s);
    QCOMPARE(issues.size(), std::size_t(1));
    QCOMPARE(QString::fromStdString(issues[0].toString()),
             QString("stages[1]: the parameter or multiply-accumulate count of stages 1..2 "
                     "overflows a 64-bit integer: the network is far too large"));
    QCOMPARE(issues[0].stage, 1);
    auto summary = summarizeSpec(s);
    QVERIFY(!summary);
    QCOMPARE(summary.message(), issues[0].toString());

    // One such stage still counts exactly.
    s.stages.resize(1);
    auto one = summarizeSpec(s);
    QVERIFY2(one.ok(), one.ok() ? "" : one.message().c_str());
    QCOMPARE(one->stages[0].blockMacs, std::int64_t(16384) * 16384 * 16384 * 4096 * 121);
}

void TestSpec::trainingMemory()
{
    // fmnist-k1: 1x28x28 -> psi 4x14x14; stages 1 and 2 (widths 64, 128) keep 14x14, stage 3's
    // psi halves it: stage 2 outputs the largest activations.
    const Spec s = preset("fmnist-k1");
    auto summary = summarizeSpec(s);
    QVERIFY(summary.ok());
    const MemoryEstimate m = estimateTrainingMemory(s, *summary);
    QCOMPARE(m.parameterBytes, summary->totalParams * 4);
    QCOMPARE(m.largestStage, 1);
    QCOMPARE(m.activationBytes, std::int64_t(128) * 14 * 14 * 4 * s.recipe.batchSize);
    QCOMPARE(m.totalBytes(), m.parameterBytes + m.activationBytes);

    QVERIFY(checkTrainingFits(s, m.totalBytes()).ok());
    auto refused = checkTrainingFits(s, m.totalBytes() - 1);
    QVERIFY(!refused);
    const QString text = QString::fromStdString(refused.message());
    QVERIFY2(text.contains(QString::fromStdString(formatGrouped(summary->totalParams))
                           + " fp32 parameters"),
             qPrintable(text));
    QVERIFY2(text.contains("for one batch of 128 at the output of stage 2"), qPrintable(text));
    QVERIFY2(text.contains("needs at least " + QString::fromStdString(formatBytes(m.totalBytes()))),
             qPrintable(text));
    QVERIFY2(text.contains("this machine has "
                           + QString::fromStdString(formatBytes(m.totalBytes() - 1)) + " of RAM"),
             qPrintable(text));

    // A valid spec far beyond any machine: 8 stages of 16384 channels with 11x11 kernels hold
    // 2.3e11 parameters (910 GB). The paper's ImageNet models fit a workstation.
    QVERIFY(physicalMemoryBytes() > (std::int64_t(1) << 28));
    Spec huge = preset("fmnist-k1");
    huge.input.downsample = Downsample::None;
    huge.stages.assign(8, StageSpec{});
    for (auto &st : huge.stages) {
        st.width = SpecLimits::maxWidth;
        st.kernel = 11;
        st.head.pool = HeadPool::Adaptive;
    }
    QVERIFY2(validateSpec(huge).empty(), qPrintable(issuesText(validateSpec(huge))));
    auto tooBig = checkTrainingFits(huge);
    QVERIFY(!tooBig);
    QVERIFY2(QString::fromStdString(tooBig.message()).contains("cannot be trained on this machine"),
             tooBig.message().c_str());
    QVERIFY(summarizeSpec(huge).ok()); // `arch summary` still describes it
    for (const char *name : {"imagenet-k3", "vgg11-greedy"}) {
        const Spec paper = preset(name);
        auto costs = summarizeSpec(paper);
        QVERIFY(costs.ok());
        QVERIFY(estimateTrainingMemory(paper, *costs).totalBytes() < (std::int64_t(16) << 30));
    }
}

void TestSpec::loadSpecFileErrors()
{
    QTemporaryDir dir;
    const QString bad = dir.filePath("bad.json");
    QFile f(bad);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(mutated("stages[2].head.k=7;stages[0].width=0"));
    f.close();
    auto spec = loadSpecFile(bad.toStdString());
    QVERIFY(!spec);
    const QStringList lines = QString::fromStdString(spec.message()).split('\n');
    QCOMPARE(lines.size(), 2);
    QCOMPARE(lines[0], bad + ": stages[0].width: must be > 0, got 0");
    QCOMPARE(lines[1], bad + ": stages[2].head.k: must be 1, 2 or 3, got 7");

    auto missing = loadSpecFile(dir.filePath("nope.json").toStdString());
    QVERIFY(!missing);
    QVERIFY(QString::fromStdString(missing.message()).contains("nope.json"));

    const QString good = dir.filePath("good.json");
    QFile g(good);
    QVERIFY(g.open(QIODevice::WriteOnly));
    g.write(QByteArray::fromStdString(serializeSpec(preset("imagenet-k2"))));
    g.close();
    auto loaded = loadSpecFile(good.toStdString());
    QVERIFY(loaded.ok());
    QVERIFY(*loaded == preset("imagenet-k2"));
}

void TestSpec::cliPresets()
{
    const auto r = test::runCli({"presets"});
    QCOMPARE(r.exitCode, 0);
    for (const QString &name : kPresetNames) {
        bool found = false;
        for (const QString &line : r.out.split('\n'))
            found = found || line.startsWith(name + ' ');
        QVERIFY2(found, qPrintable(name + " missing from:\n" + r.out));
    }
    QVERIFY2(r.out.contains("33.668M"), qPrintable(r.out)); // cifar10-k1 total params
}

void TestSpec::cliSummaryJson()
{
    const auto r = test::runCli({"arch", "summary", "--preset", "cifar10-k2", "--json"});
    QCOMPARE(r.exitCode, 0);
    QJsonParseError error;
    const auto doc = QJsonDocument::fromJson(r.out.toUtf8(), &error);
    QVERIFY2(error.error == QJsonParseError::NoError, qPrintable(r.out));
    const QJsonObject o = doc.object();
    QCOMPARE(o.value("trunk_params").toInteger(), qint64(1921920));
    QCOMPARE(o.value("total_params").toInteger(), qint64(2523018));
    QCOMPARE(o.value("trunk_macs").toInteger(), qint64(607518720));
    QCOMPARE(o.value("total_macs").toInteger(), qint64(758523904));
    const QJsonArray stages = o.value("stages").toArray();
    QCOMPARE(stages.size(), 4);
    const auto summary = summarizeSpec(preset("cifar10-k2"));
    for (int i = 0; i < 4; ++i) {
        const QJsonObject st = stages[i].toObject();
        const auto &c = summary->stages[i];
        QCOMPARE(st.value("out_shape").toArray(), (QJsonArray{c.out.c, c.out.h, c.out.w}));
        QCOMPARE(st.value("block_params").toInteger(), qint64(c.blockParams));
        QCOMPARE(st.value("head_params").toInteger(), qint64(c.headParams));
        QCOMPARE(st.value("block_macs").toInteger(), qint64(c.blockMacs));
        QCOMPARE(st.value("head_macs").toInteger(), qint64(c.headMacs));
    }
    QCOMPARE(stages[2].toObject().value("out_shape").toArray(), (QJsonArray{256, 16, 16}));

    const auto unknown = test::runCli({"arch", "summary", "--preset", "nope", "--json"});
    QCOMPARE(unknown.exitCode, 2);
    QVERIFY2(unknown.err.contains("unknown preset \"nope\""), qPrintable(unknown.err));
    QVERIFY(unknown.out.isEmpty());

    const auto neither = test::runCli({"arch", "summary"});
    QCOMPARE(neither.exitCode, 2);
    QVERIFY2(neither.err.contains("--preset NAME or --spec FILE"), qPrintable(neither.err));
}

void TestSpec::cliSummaryText()
{
    QTemporaryDir dir;
    const QString file = dir.filePath("vgg.json");
    QFile f(file);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(QByteArray::fromStdString(serializeSpec(preset("vgg11-greedy"))));
    f.close();
    const auto r = test::runCli({"arch", "summary", "--spec", file});
    QCOMPARE(r.exitCode, 0);
    QVERIFY2(r.out.contains("9,225,984"), qPrintable(r.out));
    QVERIFY2(r.out.contains("132,868,840"), qPrintable(r.out));
    QVERIFY2(r.out.contains("512x14x14"), qPrintable(r.out));
    QVERIFY2(r.out.contains("maxpool"), qPrintable(r.out));
}

void TestSpec::milestonesPastTheEnd()
{
    // The end-to-end twin shortened to 6 epochs keeps the recipe's milestones 9 and 12: the
    // validator names both; the CLI refuses the file.
    Spec s = preset("fmnist-k1");
    s.recipe.e2e.epochs = 6;
    const QString all = issuesText(validateSpec(s));
    QVERIFY2(all.contains("recipe.e2e.lr.milestones[0]: milestone 9 is past the last epoch"),
             qPrintable(all));
    QVERIFY(all.contains("recipe.e2e.lr.milestones[1]: milestone 12"));
    QTemporaryDir dir;
    const QString file = dir.filePath("late.json");
    {
        QFile f(file);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(QByteArray::fromStdString(serializeSpec(s)));
    }
    const auto r = test::runCli({"arch", "validate", file});
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.contains("recipe.e2e.lr.milestones[0]"), qPrintable(r.err));
    // Changing the epochs from a front-end (CLI flags, the Train view) drops what cannot apply,
    // and says which.
    Spec shorter = preset("fmnist-k1");
    shorter.recipe.epochsPerStage = 4;
    shorter.recipe.e2e.epochs = 10;
    const std::string said = dropMilestonesPastEnd(shorter);
    QCOMPARE(shorter.recipe.lr.milestones, (std::vector<int>{3}));
    QCOMPARE(shorter.recipe.e2e.lr.milestones, (std::vector<int>{9}));
    QVERIFY2(QString::fromStdString(said).contains("LR milestones 5 dropped: past the last of 4"),
             said.c_str());
    QVERIFY(QString::fromStdString(said).contains("end-to-end LR milestones 12 dropped"));
    QVERIFY(validateSpec(shorter).empty());
    Spec same = preset("fmnist-k1");
    QCOMPARE(dropMilestonesPastEnd(same), std::string());
    // Every preset's schedule fits its epochs.
    for (const auto &p : listPresets())
        QVERIFY2(validateSpec(preset(QString::fromStdString(p.name))).empty(), p.name.c_str());
}

void TestSpec::cliValidate()
{
    QTemporaryDir dir;
    const QString good = dir.filePath("good.json");
    QFile g(good);
    QVERIFY(g.open(QIODevice::WriteOnly));
    g.write(QByteArray::fromStdString(serializeSpec(preset("cifar10-k3"))));
    g.close();
    const auto ok = test::runCli({"arch", "validate", good});
    QCOMPARE(ok.exitCode, 0);
    QVERIFY2(ok.out.contains(good + ": valid"), qPrintable(ok.out));

    const QString bad = dir.filePath("bad.json");
    QFile b(bad);
    QVERIFY(b.open(QIODevice::WriteOnly));
    b.write(mutated("stages[2].head.k=7;recipe.lr.initial=-1;stages[0].hed={}"));
    b.close();
    const auto r = test::runCli({"arch", "validate", bad});
    QCOMPARE(r.exitCode, 2);
    const QStringList lines = r.err.trimmed().split('\n');
    QCOMPARE(lines,
             (QStringList{bad
                              + ": stages[0].hed: unknown key (expected one of: width, "
                                "kernel, downsample, bn, bias, head)",
                          bad + ": stages[2].head.k: must be 1, 2 or 3, got 7",
                          bad + ": recipe.lr.initial: must be > 0 and at most 10.0, got -1.0"}));
    QVERIFY(r.out.isEmpty());

    const auto summary = test::runCli({"arch", "summary", "--spec", bad});
    QCOMPARE(summary.exitCode, 2);
    QVERIFY(summary.err.contains("stages[2].head.k: must be 1, 2 or 3, got 7"));

    const auto missing = test::runCli({"arch", "validate", dir.filePath("missing.json")});
    QCOMPARE(missing.exitCode, 2);
    QVERIFY2(missing.err.contains("missing.json"), qPrintable(missing.err));
}

QTEST_GUILESS_MAIN(TestSpec)
#include "tst_spec.moc"
