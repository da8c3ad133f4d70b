// Export of trained networks (core/export): the TorchScript archive (in C++ and in Python), the
// state dict through the generated model.py, and the ONNX model in OpenCV's dnn each give
// Layerwise's logits on the same batch; the stages each mode can export; `train --init-from`
// round trips and its refusals of malformed files (exit 2, nothing written).
#include "core/export/export_p.h"
#include "core/run/runservice.h"
#include "core/store/runstore.h"
#include "core/util/format.h"
#include "tests/support/seed_p.h"
#include "tests/support/support.h"

#include <torch/script.h>

#include <nlohmann/json.hpp>

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QTest>

using namespace lw;

namespace {

constexpr double kTolerance = 1e-4; // relative: max |difference| / max |Layerwise's value|

/// Settings that train a preset a few steps on small synthetic data of its shapes; the same as
/// the CLI flags below.
void makeSmall(Spec &spec)
{
    spec.recipe.dataset.name = "synthetic";
    spec.recipe.dataset.trainLimit = 64;
    spec.recipe.dataset.testLimit = 40;
    spec.recipe.epochsPerStage = 1;
    spec.recipe.e2e.epochs = 1;
    spec.recipe.batchSize = 32;
    spec.recipe.augment.enabled = false;
    dropMilestonesPastEnd(spec); // one epoch: the presets' LR milestones cannot apply
}

QStringList smallFlags()
{
    return {"--dataset",          "synthetic", "--train-limit", "64", "--test-limit", "40",
            "--epochs-per-stage", "1",         "--batch",       "32", "--augment",    "off",
            "--device",           "cpu"};
}

double relativeDifference(const torch::Tensor &got, const torch::Tensor &expected)
{
    const auto e = expected.to(torch::kFloat64);
    return (got.to(torch::kFloat64) - e).abs().max().item<double>()
           / std::max(e.abs().max().item<double>(), 1e-30);
}

void writeFloats(const QString &path, const torch::Tensor &t)
{
    const auto c = t.to(torch::kFloat32).contiguous();
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(reinterpret_cast<const char *>(c.data_ptr<float>()), qint64(c.numel()) * 4);
}

/// The outputs of a TorchScript module's forward as a list: [logits] or [heads..., ensemble].
std::vector<torch::Tensor> scriptOutputs(const torch::IValue &result)
{
    if (result.isTensor())
        return {result.toTensor()};
    const auto tuple = result.toTuple();
    std::vector<torch::Tensor> out;
    for (const auto &t : tuple->elements()[0].toTensorVector())
        out.push_back(t);
    out.push_back(tuple->elements()[1].toTensor());
    return out;
}

} // namespace

class TestExport : public QObject
{
    Q_OBJECT

private:
    test::TempStore m_store;
    QTemporaryDir m_dir;
    std::int64_t m_fmnistRun = -1; // fmnist-k1, greedy: the --init-from round trip's source

    /// Trains `spec` in `mode` in the store; -1 (with a test warning) when it fails.
    std::int64_t train(const Spec &spec, TrainMode mode)
    {
        NewRunRequest request;
        request.spec = spec;
        request.mode = mode;
        request.exec.device = "cpu";
        auto job = RunService(*m_store).create(request);
        if (!job) {
            qWarning("%s", job.message().c_str());
            return -1;
        }
        auto summary = (*job)->execute();
        if (!summary || summary->status != RunStatus::Finished) {
            qWarning("run failed: %s",
                     summary ? summary->message.c_str() : summary.message().c_str());
            return -1;
        }
        return (*job)->runId();
    }

    /// Exports run `id` and checks the TorchScript archive in C++ against Layerwise's outputs.
    void exportAndCompare(std::int64_t id, int stage, ExportHeads heads, const QString &stem)
    {
        seedAll(11);
        auto trained = exporting::loadTrainedNetwork(*m_store, id, stage, heads);
        QVERIFY2(trained, trained ? "" : trained.message().c_str());
        const auto &in = trained->spec.input;
        const auto x = torch::randn({3, in.channels, in.height, in.width});
        const auto expected = exporting::layerwiseOutputs(*trained, x, heads);
        ExportOptions o;
        o.heads = heads;
        o.stage = stage;
        o.out = m_dir.filePath(stem + ".pt").toStdString();
        auto written = exportNetwork(*m_store, id, o);
        QVERIFY2(written, written ? "" : written.message().c_str());
        QCOMPARE(written->stage, trained->stage);
        auto module = torch::jit::load(o.out);
        module.eval();
        torch::NoGradGuard guard;
        const auto got = scriptOutputs(module.forward({x}));
        QCOMPARE(got.size(), expected.size());
        for (std::size_t k = 0; k < got.size(); ++k)
            QVERIFY2(relativeDifference(got[k], expected[k]) <= kTolerance,
                     qPrintable(QStringLiteral("%1 output %2: relative difference %3")
                                    .arg(stem)
                                    .arg(k)
                                    .arg(relativeDifference(got[k], expected[k]))));
    }

    static void seedAll(std::uint64_t seed) { test::seedAll(seed); }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_store.ok());
        QVERIFY(m_dir.isValid());
        torch::set_num_threads(2);
    }

    // Each export of a paper preset, read outside Layerwise (Debian's Python: torch.jit.load,
    // model.py + torch.load, onnx.checker + OpenCV's dnn), gives Layerwise's logits.
    void exportsMatchLayerwise_data()
    {
        QTest::addColumn<QString>("preset");
        QTest::newRow("fmnist-k1") << "fmnist-k1";   // input psi, adaptive pooling at 7x7
        QTest::newRow("cifar10-k2") << "cifar10-k2"; // psi stage, k = 2 heads, fixed pooling
    }
    void exportsMatchLayerwise()
    {
        QFETCH(QString, preset);
        auto spec = loadPreset(preset.toStdString());
        QVERIFY2(spec, spec ? "" : spec.message().c_str());
        makeSmall(*spec);
        const auto id = train(*spec, TrainMode::Greedy);
        QVERIFY(id > 0);
        if (preset == "fmnist-k1")
            m_fmnistRun = id;

        const QString dir = m_dir.filePath(preset);
        QVERIFY(QDir().mkpath(dir));
        seedAll(5);
        const auto &in = spec->input;
        const auto x = torch::randn({4, in.channels, in.height, in.width});
        writeFloats(dir + "/input.bin", x);
        nlohmann::json manifest = {{"name", preset.toStdString()},
                                   {"input", (dir + "/input.bin").toStdString()},
                                   {"input_shape", x.sizes().vec()},
                                   {"opset", exporting::kOnnxOpset},
                                   {"cases", nlohmann::json::array()}};
        for (auto heads : {ExportHeads::Last, ExportHeads::All}) {
            auto trained = exporting::loadTrainedNetwork(*m_store, id, -1, heads);
            QVERIFY2(trained, trained ? "" : trained.message().c_str());
            QCOMPARE(trained->stage, int(spec->stages.size()) - 1);
            const auto expected = exporting::layerwiseOutputs(*trained, x, heads);
            QCOMPARE(expected.size(), heads == ExportHeads::All ? spec->stages.size() + 1 : 1u);
            std::vector<std::string> expectedFiles;
            for (std::size_t k = 0; k < expected.size(); ++k) {
                const QString f
                    = dir + QStringLiteral("/expected-%1-%2.bin").arg(toString(heads)).arg(k);
                writeFloats(f, expected[k]);
                expectedFiles.push_back(f.toStdString());
            }
            for (auto format :
                 {ExportFormat::TorchScript, ExportFormat::Onnx, ExportFormat::PyTorch}) {
                ExportOptions o;
                o.format = format;
                o.heads = heads;
                const QString name = QStringLiteral("%1-%2").arg(toString(format), toString(heads));
                o.out = (dir + "/" + name
                         + (format == ExportFormat::Onnx          ? ".onnx"
                            : format == ExportFormat::TorchScript ? ".pt"
                                                                  : ""))
                            .toStdString();
                auto written = exportNetwork(*m_store, id, o);
                QVERIFY2(written, written ? "" : written.message().c_str());
                manifest["cases"].push_back({{"format", toString(format)},
                                             {"heads", toString(heads)},
                                             {"path", o.out},
                                             {"expected", expectedFiles},
                                             {"output_shape", expected[0].sizes().vec()}});
                if (format != ExportFormat::TorchScript)
                    continue;
                // LibTorch opens the archive too.
                auto module = torch::jit::load(o.out);
                torch::NoGradGuard guard;
                const auto got = scriptOutputs(module.forward({x}));
                QCOMPARE(got.size(), expected.size());
                for (std::size_t k = 0; k < got.size(); ++k)
                    QVERIFY(relativeDifference(got[k], expected[k]) <= kTolerance);
            }
        }
        const QString manifestPath = dir + "/manifest.json";
        {
            QFile f(manifestPath);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(QByteArray::fromStdString(manifest.dump(2)));
        }
        QProcess python;
        python.setProcessChannelMode(QProcess::MergedChannels);
        python.start(QStringLiteral(LW_PYTHON), {QStringLiteral(LW_EXPORT_CHECK), manifestPath});
        QVERIFY2(python.waitForFinished(300000), "the Python check did not finish in 5 minutes");
        const QString output = QString::fromUtf8(python.readAll());
        qInfo().noquote() << output.trimmed();
        QVERIFY2(python.exitStatus() == QProcess::NormalExit && python.exitCode() == 0,
                 qPrintable("check_export.py failed (Debian's python3-torch, python3-onnx and "
                            "python3-opencv: packaging/install-deps.sh):\n"
                            + output));
        // 3 formats x (1 + stages + 1) outputs, all compared.
        QCOMPARE(output.count(QStringLiteral("max relative difference")),
                 3 * (1 + int(spec->stages.size()) + 1));
    }

    // Greedy runs export any finished stage; decoupled runs any stage once finished; end-to-end
    // runs only their last stage with its head.
    void stagesOfEachMode()
    {
        const Spec spec = test::tinySpec(1);
        const auto greedy = train(spec, TrainMode::Greedy);
        const auto e2e = train(spec, TrainMode::EndToEnd);
        const auto dgl = train(spec, TrainMode::Decoupled);
        QVERIFY(greedy > 0 && e2e > 0 && dgl > 0);

        auto g = exportChoices(*m_store, greedy);
        QVERIFY(g);
        QCOMPARE(g->finished, (std::vector<int>{0, 1, 2}));
        QVERIFY(g->allHeadsAllowed);
        exportAndCompare(greedy, 0, ExportHeads::Last, "greedy-stage1");
        exportAndCompare(greedy, 1, ExportHeads::All, "greedy-stage2-all");
        exportAndCompare(dgl, 2, ExportHeads::All, "dgl-all");
        exportAndCompare(dgl, 1, ExportHeads::Last, "dgl-stage2");
        exportAndCompare(e2e, -1, ExportHeads::Last, "e2e");

        auto e = exportChoices(*m_store, e2e);
        QVERIFY(e);
        QCOMPARE(e->finished, (std::vector<int>{2}));
        QVERIFY(!e->allHeadsAllowed);
        ExportOptions o;
        o.out = m_dir.filePath("refused.pt").toStdString();
        o.stage = 0;
        auto early = exportNetwork(*m_store, e2e, o);
        QVERIFY(!early);
        QVERIFY2(early.message().find("cannot export stage 1") != std::string::npos
                     && early.message().find("end-to-end") != std::string::npos,
                 early.message().c_str());
        o.stage = -1;
        o.heads = ExportHeads::All;
        auto all = exportNetwork(*m_store, e2e, o);
        QVERIFY(!all);
        QVERIFY2(all.message().find("only its last head") != std::string::npos,
                 all.message().c_str());
        QVERIFY(!QFile::exists(m_dir.filePath("refused.pt")));

        // The CLI counts stages from 1 and refuses a stage the run cannot give (exit 2).
        m_store.close();
        const QString db = QString::fromStdString(m_store.path());
        auto ok = test::runCli({"export", QString::number(greedy), "--format", "onnx", "--stage",
                                "2", "--out", m_dir.filePath("cli.onnx"), "--db", db});
        QVERIFY2(ok.exitCode == 0, qPrintable(ok.err));
        QVERIFY(ok.out.contains(QStringLiteral("stage 2")));
        QVERIFY(QFile::exists(m_dir.filePath("cli.onnx")));
        auto bad = test::runCli({"export", QString::number(greedy), "--format", "onnx", "--stage",
                                 "4", "--out", m_dir.filePath("cli4.onnx"), "--db", db});
        QCOMPARE(bad.exitCode, 2);
        QVERIFY2(bad.err.contains(QStringLiteral("stages 1 to 3")), qPrintable(bad.err));
        QVERIFY(m_store.reopen());
    }

    // export --format pytorch -> train --init-from: before training, the imported network
    // scores what the run it came from scored (its last stage's head and the ensemble).
    void initFromRoundTrip()
    {
        QVERIFY(m_fmnistRun > 0);
        ExportOptions o;
        o.format = ExportFormat::PyTorch;
        o.out = m_dir.filePath("roundtrip").toStdString();
        QVERIFY(exportNetwork(*m_store, m_fmnistRun, o));
        auto source = m_store->getRun(m_fmnistRun);
        QVERIFY(source);
        const auto &last = source->stages.back();
        QVERIFY(last.testAcc && last.ensembleAcc);
        m_store.close();
        auto r = test::runCli(QStringList{"train", "--preset", "fmnist-k1", "--init-from",
                                          m_dir.filePath("roundtrip/weights.pt"), "--db",
                                          QString::fromStdString(m_store.path())}
                              + smallFlags());
        QVERIFY(m_store.reopen());
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const QString expected = QStringLiteral("stage 3's head scores %1 on the test split, the "
                                                "ensemble %2")
                                     .arg(QString::fromStdString(formatPercent(*last.testAcc)),
                                          QString::fromStdString(formatPercent(*last.ensembleAcc)));
        QVERIFY2(r.err.contains(QStringLiteral("stages 1..3 loaded")), qPrintable(r.err));
        QVERIFY2(r.err.contains(expected), qPrintable(expected + "\n" + r.err));
    }

    // Malformed --init-from files: a clear error naming the file (and the first tensor that does
    // not match), exit 2, and nothing written: no run row, no run folder.
    void initFromRefusesMalformed_data()
    {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("message");
        QTest::newRow("truncated") << "truncated"
                                   << "is not a valid checkpoint";
        QTest::newRow("wrong shapes")
            << "shapes"
            << "tensor 'block0.conv.weight' has shape [8, 1, 3, 3], this spec needs "
               "[64, 4, 3, 3]";
        QTest::newRow("missing stage tensor") << "incomplete"
                                              << "has no 'head1.classifier.0.bias'";
        QTest::newRow("TorchScript archive") << "torchscript"
                                             << "is not a valid checkpoint";
        QTest::newRow("text") << "text"
                              << "no zip archive";
    }
    void initFromRefusesMalformed()
    {
        QFETCH(QString, kind);
        QFETCH(QString, message);
        QVERIFY(m_fmnistRun > 0);
        const QString file = m_dir.filePath("bad-" + kind);
        QFile::remove(file);
        if (kind == "truncated" || kind == "incomplete") {
            ExportOptions o;
            o.format = ExportFormat::PyTorch;
            o.out = m_dir.filePath("good").toStdString();
            QVERIFY(exportNetwork(*m_store, m_fmnistRun, o));
            if (kind == "truncated") {
                QFile good(m_dir.filePath("good/weights.pt"));
                QVERIFY(good.open(QIODevice::ReadOnly));
                const QByteArray bytes = good.readAll();
                QFile out(file);
                QVERIFY(out.open(QIODevice::WriteOnly));
                out.write(bytes.left(bytes.size() / 2));
            } else {
                // Stages 1 and 2 with one tensor of stage 2 left out.
                QFile good(m_dir.filePath("good/weights.pt"));
                QVERIFY(good.open(QIODevice::ReadOnly));
                const QByteArray b = good.readAll();
                auto dict = torch::pickle_load(std::vector<char>(b.begin(), b.end()));
                c10::Dict<std::string, torch::Tensor> partial;
                for (const auto &item : dict.toGenericDict()) {
                    const auto &name = item.key().toStringRef();
                    if (name.rfind("block2", 0) != 0 && name.rfind("head2", 0) != 0
                        && name != "head1.classifier.0.bias")
                        partial.insert(name, item.value().toTensor());
                }
                const auto bytes = torch::pickle_save(partial);
                QFile out(file);
                QVERIFY(out.open(QIODevice::WriteOnly));
                out.write(bytes.data(), qint64(bytes.size()));
            }
        } else if (kind == "shapes") {
            const auto tiny = train(test::tinySpec(1), TrainMode::Greedy);
            QVERIFY(tiny > 0);
            ExportOptions o;
            o.format = ExportFormat::PyTorch;
            o.out = m_dir.filePath("tiny").toStdString();
            QVERIFY(exportNetwork(*m_store, tiny, o));
            QVERIFY(QFile::copy(m_dir.filePath("tiny/weights.pt"), file));
        } else if (kind == "torchscript") {
            ExportOptions o;
            o.out = file.toStdString();
            QVERIFY(exportNetwork(*m_store, m_fmnistRun, o));
        } else {
            QFile out(file);
            QVERIFY(out.open(QIODevice::WriteOnly));
            out.write("block0.conv.weight = [1, 2, 3]\n");
        }

        auto runs = m_store->countRuns();
        QVERIFY(runs);
        const QDir runsDir(QString::fromStdString(m_store->runsRoot()));
        const auto folders = runsDir.entryList(QDir::Dirs | QDir::NoDotAndDotDot);
        m_store.close();
        auto r = test::runCli(QStringList{"train", "--preset", "fmnist-k1", "--init-from", file,
                                          "--db", QString::fromStdString(m_store.path())}
                              + smallFlags());
        QVERIFY(m_store.reopen());
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains(message) && r.err.contains(file), qPrintable(r.err));
        QCOMPARE(*m_store->countRuns(), *runs);
        QCOMPARE(runsDir.entryList(QDir::Dirs | QDir::NoDotAndDotDot), folders);
    }
};

QTEST_GUILESS_MAIN(TestExport)
#include "tst_export.moc"
