// Tests of core/model: psi's pinned channel order, the modules built from a spec against the
// torch-free shape/parameter inference of core/spec (summarizeSpec) and METHOD.md's parameter
// counts, forward shapes of every preset, and BN folding.

#include "core/model/model_p.h"
#include "core/runtime/runtime.h"
#include "tests/support/seed_p.h"

#include <QtTest>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

using namespace lw;
using namespace lw::model;

namespace {

/// METHOD.md's parameter counts: trunk (stem + blocks) and trunk + the last head.
struct PaperCount
{
    std::int64_t trunk;
    std::int64_t total;
};

const std::map<std::string, PaperCount> &paperCounts()
{
    static const std::map<std::string, PaperCount> counts = {
        {"cifar10-k1", {33'627'136, 33'668'106}},   {"cifar10-k2", {1'921'920, 2'523'018}},
        {"cifar10-k3", {1'921'920, 3'113'354}},     {"imagenet-k1", {590'441'728, 606'826'728}},
        {"imagenet-k2", {37'327'872, 91'477'992}},  {"imagenet-k3", {37'327'872, 242'481'128}},
        {"vgg11-greedy", {9'225'984, 132'868'840}},
    };
    return counts;
}

StageSpec stage(int width, Downsample down, bool bn, bool bias, HeadSpec head)
{
    StageSpec s;
    s.width = width;
    s.downsample = down;
    s.bn = bn;
    s.bias = bias;
    s.head = head;
    return s;
}

/// A head of `kind` with k hidden layers of `width`; the other fields keep their defaults.
HeadSpec headOf(HeadKind kind, int k, int width)
{
    HeadSpec h;
    h.kind = kind;
    h.k = k;
    h.width = width;
    return h;
}

HeadSpec convHead(int k, int width, bool bn, int padding = 1)
{
    HeadSpec h = headOf(HeadKind::Conv, k, width);
    h.bn = bn;
    h.padding = padding;
    return h;
}

/// An MLP head: pooling to pooled x pooled, then k linear layers of `width` with dropout.
HeadSpec mlpHead(int k, int width, int pooled, double dropout)
{
    HeadSpec h = headOf(HeadKind::Mlp, k, width);
    h.pooled = pooled;
    h.dropout = dropout;
    return h;
}

constexpr Downsample N = Downsample::None;
constexpr Downsample P = Downsample::Psi;
constexpr Downsample M = Downsample::MaxPool;

/// The paper's models written out in code, independent of the JSON presets: used when a preset
/// of that name is not shipped, so that METHOD.md's numbers are always checked.
Spec paperSpec(const std::string &name)
{
    Spec spec;
    spec.name = name;
    if (name.rfind("cifar10-", 0) == 0) {
        spec.input = {3, 32, 32, 10, N};
        if (name == "cifar10-k1") {
            const int widths[] = {256, 256, 512, 1024, 1024};
            const Downsample downs[] = {N, N, P, P, N};
            for (int j = 0; j < 5; ++j)
                spec.stages.push_back(
                    stage(widths[j], downs[j], false, j == 0, convHead(1, 128, false)));
        } else {
            const int k = name == "cifar10-k2" ? 2 : 3;
            const int widths[] = {128, 128, 256, 256};
            const Downsample downs[] = {N, N, P, N};
            for (int j = 0; j < 4; ++j)
                spec.stages.push_back(
                    stage(widths[j], downs[j], true, false, convHead(k, widths[j], true)));
        }
    } else if (name.rfind("imagenet-", 0) == 0) {
        spec.input = {3, 224, 224, 1000, P};
        if (name == "imagenet-k1") {
            const int widths[] = {256, 256, 512, 1024, 2048, 2048, 4096, 4096};
            const Downsample downs[] = {N, N, P, P, P, N, P, N};
            for (int j = 0; j < 8; ++j)
                spec.stages.push_back(
                    stage(widths[j], downs[j], false, j == 0, convHead(1, 512, false)));
        } else {
            const int k = name == "imagenet-k2" ? 2 : 3;
            const int widths[] = {128, 128, 256, 256, 512, 512, 1024, 1024};
            const Downsample downs[] = {N, N, P, N, P, N, P, N};
            for (int j = 0; j < 8; ++j)
                spec.stages.push_back(
                    stage(widths[j], downs[j], true, false, convHead(k, 4 * widths[j], true)));
        }
    } else if (name == "vgg11-greedy") {
        spec.input = {3, 224, 224, 1000, N};
        const int widths[] = {64, 128, 256, 256, 512, 512, 512, 512};
        const Downsample downs[] = {N, M, M, N, M, N, M, N};
        for (int j = 0; j < 8; ++j)
            spec.stages.push_back(
                stage(widths[j], downs[j], true, true, convHead(3, widths[j], true, 0)));
        HeadSpec &last = spec.stages.back().head;
        last = mlpHead(3, 4096, 7, 0.5);
        last.pool = HeadPool::Adaptive;
        last.maxpoolFirst = true;
    }
    return spec;
}

/// A small spec using every option: each downsampling, kernels 1/3/5, odd sides with fixed and
/// adaptive pooling, heads with and without BN, padding 0, an MLP head without the max-pool.
Spec zooSpec()
{
    Spec spec;
    spec.name = "zoo";
    spec.input = {3, 30, 30, 7, N};
    auto fixed = convHead(2, 16, true);
    auto adaptive = convHead(3, 8, false, 0);
    adaptive.pool = HeadPool::Adaptive;
    adaptive.pooled = 3;
    spec.stages.push_back(stage(8, N, true, false, fixed));                     // 8@30
    spec.stages.push_back(stage(8, Downsample::Stride, true, false, adaptive)); // 8@15
    StageSpec odd = stage(12, N, false, true, convHead(1, 8, false));           // 12@15, pool 2
    odd.kernel = 5;
    spec.stages.push_back(odd);
    spec.stages.push_back(stage(16, Downsample::AvgPool, true, true, fixed)); // 16@7 (fixed, odd)
    StageSpec pointwise = stage(16, N, true, false, adaptive);                // 16@7
    pointwise.kernel = 1;
    spec.stages.push_back(pointwise);
    auto single = fixed;
    single.pooled = 1;
    spec.stages.push_back(stage(24, M, false, true, single)); // 24@3 -> 1x1
    HeadSpec mlp = mlpHead(2, 32, 2, 0.25);
    mlp.pool = HeadPool::Adaptive;
    spec.stages.push_back(stage(20, N, true, false, mlp)); // 20@3
    return spec;
}

bool hasBatchNorm(const torch::nn::Module &module)
{
    for (const auto &child : module.modules(/*include_self=*/true))
        if (dynamic_cast<const model::SyncBatchNorm2dImpl *>(child.get()))
            return true;
    return false;
}

QString shapeText(const torch::Tensor &t)
{
    QStringList parts;
    for (auto s : t.sizes())
        parts << QString::number(s);
    return "[" + parts.join(", ") + "]";
}

/// Builds the spec's network, checks its parameters against summarizeSpec (and METHOD.md where
/// `paper` is set) and runs one image through every block and head.
void checkNetwork(const Spec &spec, const PaperCount *paper)
{
    auto summary = summarizeSpec(spec);
    QVERIFY2(summary.ok(), summary.ok() ? "" : summary.message().c_str());
    QCOMPARE(int(summary->stages.size()), int(spec.stages.size()));

    test::seedAll(0);
    Network net(spec);
    QCOMPARE(net->stages(), int(spec.stages.size()));
    QCOMPARE(countParameters(*net->stem), std::int64_t(0));

    std::int64_t trunk = 0;
    for (int j = 0; j < net->stages(); ++j) {
        const auto &cost = summary->stages[j];
        const auto blockParams = countParameters(*net->blocks[j]);
        const auto headParams = countParameters(*net->heads[j]);
        if (blockParams != cost.blockParams || headParams != cost.headParams)
            qWarning(
                "%s stage %d: block %lld / head %lld parameters, summarizeSpec says %lld / %lld",
                spec.name.c_str(), j, (long long)blockParams, (long long)headParams,
                (long long)cost.blockParams, (long long)cost.headParams);
        QCOMPARE(blockParams, cost.blockParams);
        QCOMPARE(headParams, cost.headParams);
        // A block without BN has no BN module at all (and the folded twin never has one).
        QCOMPARE(hasBatchNorm(*net->blocks[j]), spec.stages[j].bn);
        QCOMPARE(bool(net->blocks[j]->conv->bias.defined()), spec.stages[j].bias);
        trunk += blockParams;
    }
    const auto total = trunk + countParameters(*net->heads.back());
    QCOMPARE(trunk, summary->trunkParams);
    QCOMPARE(total, summary->totalParams);
    QCOMPARE(
        countParameters(*net), trunk + [&] {
            std::int64_t heads = 0;
            for (const auto &h : net->heads)
                heads += countParameters(*h);
            return heads;
        }());
    if (paper) {
        QCOMPARE(trunk, paper->trunk);
        QCOMPARE(total, paper->total);
    }

    // One image through every block (computed once) and every head, in eval mode.
    torch::NoGradGuard noGrad;
    net->eval();
    const auto x = torch::randn({1, spec.input.channels, spec.input.height, spec.input.width});
    auto y = net->stem->forward(x);
    for (int j = 0; j < net->stages(); ++j) {
        y = net->blocks[j]->forward(y);
        const auto &in = summary->stages[j].out;
        const auto expected = std::vector<std::int64_t>{1, in.c, in.h, in.w};
        QVERIFY2(y.sizes().vec() == expected,
                 qPrintable(QString("%1 block %2: output %3, summarizeSpec says [1, %4, %5, %6]")
                                .arg(spec.name.c_str())
                                .arg(j)
                                .arg(shapeText(y))
                                .arg(in.c)
                                .arg(in.h)
                                .arg(in.w)));
        const auto logits = net->heads[j]->forward(y);
        QVERIFY2(logits.sizes().vec() == (std::vector<std::int64_t>{1, spec.input.classes}),
                 qPrintable(QString("%1 head %2: logits %3")
                                .arg(spec.name.c_str())
                                .arg(j)
                                .arg(shapeText(logits))));
        QVERIFY(torch::isfinite(logits).all().item<bool>());
        if (j == 0) {
            // The network's own entry points agree with the manual walk.
            QVERIFY(torch::equal(net->features(x, 0), y));
            QVERIFY(torch::allclose(net->forward(x, 0), logits));
        }
    }
}

} // namespace

class TestModel : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { configureRuntime(); }

    void psiChannelOrder()
    {
        const int n = 2, c = 3, h = 4, w = 6;
        const auto x = torch::arange(n * c * h * w, torch::kFloat32).reshape({n, c, h, w});
        const auto y = psi(x);
        QCOMPARE(y.sizes().vec(), (std::vector<std::int64_t>{n, 4 * c, h / 2, w / 2}));
        QVERIFY(y.is_contiguous());
        auto xa = x.accessor<float, 4>();
        auto ya = y.accessor<float, 4>();
        for (int b = 0; b < n; ++b)
            for (int ch = 0; ch < c; ++ch)
                for (int dy = 0; dy < 2; ++dy)
                    for (int dx = 0; dx < 2; ++dx)
                        for (int i = 0; i < h / 2; ++i)
                            for (int j = 0; j < w / 2; ++j)
                                QCOMPARE(ya[b][(dy * 2 + dx) * c + ch][i][j],
                                         xa[b][ch][2 * i + dy][2 * j + dx]);
        // Spot values: x[0, 1, 3, 0] = 1*24 + 3*6 + 0 = 42 lands at channel (1*2+0)*3+1 = 7, (1,
        // 0).
        QCOMPARE(ya[0][7][1][0], 42.0f);
        QCOMPARE(ya[1][0][0][0], float(c * h * w));
        // x[0, 2, 1, 5] = 48 + 6 + 5 = 59: dy = 1, dx = 1 -> channel 3*3+2 = 11 at (0, 2).
        QCOMPARE(ya[0][11][0][2], 59.0f);
    }

    void psiIsABijection()
    {
        test::seedAll(1);
        const auto x = torch::randn({3, 5, 8, 10});
        QVERIFY(torch::equal(psiInverse(psi(x)), x));
        const auto z = torch::randn({2, 12, 3, 4});
        QVERIFY(torch::equal(psi(psiInverse(z)), z));
        // A permutation: same multiset of values.
        QVERIFY(
            torch::equal(std::get<0>(psi(x).flatten().sort()), std::get<0>(x.flatten().sort())));
        // Unbatched tensors and the module wrapper.
        const auto single = torch::randn({5, 8, 10});
        QVERIFY(torch::equal(psi(single), psi(single.unsqueeze(0)).squeeze(0)));
        Psi module;
        QVERIFY(torch::equal(module->forward(x), psi(x)));
        QCOMPARE(countParameters(*module), std::int64_t(0));
    }

    void psiDiffersFromPixelUnshuffle()
    {
        const int c = 3;
        const auto x = torch::arange(2 * c * 4 * 4, torch::kFloat32).reshape({2, c, 4, 4});
        const auto ours = psi(x);
        const auto theirs = torch::pixel_unshuffle(x, 2); // channel c * 4 + dy * 2 + dx
        QCOMPARE(ours.sizes(), theirs.sizes());
        QVERIFY(!torch::equal(ours, theirs));
        // Same values, channels permuted: ours[(k * C + c)] == theirs[c * 4 + k].
        const auto regrouped
            = theirs.reshape({2, c, 4, 2, 2}).transpose(1, 2).reshape({2, 12, 2, 2});
        QVERIFY(torch::equal(ours, regrouped));
    }

    void psiRejectsOddSides()
    {
        QVERIFY_THROWS_EXCEPTION(c10::Error, psi(torch::zeros({1, 2, 5, 4})));
        QVERIFY_THROWS_EXCEPTION(c10::Error, psi(torch::zeros({2, 4})));
        QVERIFY_THROWS_EXCEPTION(c10::Error, psiInverse(torch::zeros({1, 6, 2, 2})));
    }

    void psiGradientFlows()
    {
        const auto x = torch::randn({2, 3, 4, 4}, torch::requires_grad());
        const auto weights = torch::arange(48, torch::kFloat32).reshape({1, 12, 2, 2});
        (psi(x) * weights).sum().backward();
        // d/dx of sum(psi(x) * w) is psiInverse(w).
        QVERIFY(torch::equal(x.grad(), psiInverse(weights).expand({2, 3, 4, 4})));
    }

    void stageBlockStructure()
    {
        StageSpec s = stage(16, Downsample::Psi, true, false, convHead(1, 8, true));
        StageBlock block(s, Shape{3, 8, 8});
        QCOMPARE(block->conv->weight.sizes().vec(), (std::vector<std::int64_t>{16, 12, 3, 3}));
        QVERIFY(!block->conv->bias.defined());
        QVERIFY(!block.is_empty() && block->bn);
        // PyTorch's defaults: BN weight 1, bias 0, running mean 0, var 1.
        QVERIFY(torch::equal(block->bn->weight, torch::ones({16})));
        QVERIFY(torch::equal(block->bn->bias, torch::zeros({16})));
        auto names = block->named_parameters().keys();
        QCOMPARE(int(names.size()), 3);
        QCOMPARE(QString::fromStdString(names[0]), QString("conv.weight"));

        s.bn = false;
        s.bias = true;
        s.downsample = Downsample::Stride;
        StageBlock plain(s, Shape{3, 9, 9});
        QVERIFY(!plain->bn);
        QVERIFY(!hasBatchNorm(*plain));
        QVERIFY(plain->conv->bias.defined());
        torch::NoGradGuard noGrad;
        QCOMPARE(plain->forward(torch::randn({2, 3, 9, 9})).sizes().vec(),
                 (std::vector<std::int64_t>{2, 16, 5, 5}));
        // Output is a ReLU.
        QVERIFY(plain->forward(torch::randn({2, 3, 9, 9})).min().item<float>() >= 0);
    }

    void headFixedVersusAdaptivePooling()
    {
        // 7x7: the reference's fixed pool (kernel 3, stride 3) drops the last row and column,
        // adaptive pooling does not; on 8x8 they agree.
        HeadSpec fixed = convHead(1, 8, false);
        HeadSpec adaptive = fixed;
        adaptive.pool = HeadPool::Adaptive;
        test::seedAll(3);
        AuxHead a(fixed, Shape{4, 7, 7}, 5);
        AuxHead b(adaptive, Shape{4, 7, 7}, 5);
        torch::NoGradGuard noGrad;
        for (size_t i = 0; i < a->parameters().size(); ++i)
            b->parameters()[i].copy_(a->parameters()[i]);
        auto x = torch::randn({2, 4, 7, 7});
        const auto la = a->forward(x);
        QVERIFY(!torch::allclose(la, b->forward(x)));
        // Changing the dropped row / column does not change the fixed head's output.
        auto x2 = x.clone();
        x2.select(2, 6).fill_(100);
        x2.select(3, 6).fill_(-100);
        QVERIFY(torch::allclose(a->forward(x2), la));
        const auto even = torch::randn({2, 4, 8, 8});
        QVERIFY(torch::allclose(a->forward(even), b->forward(even), 1e-5, 1e-6));
        // A fixed pool that cannot land on the pooled side is refused.
        HeadSpec bad = fixed;
        bad.pooled = 4;
        QVERIFY_THROWS_EXCEPTION(c10::Error, AuxHead(bad, Shape{4, 6, 6}, 5));
        bad.pool = HeadPool::Adaptive;
        QCOMPARE(AuxHead(bad, Shape{4, 6, 6}, 5)->forward(torch::randn({1, 4, 6, 6})).size(1),
                 std::int64_t(5));
    }

    void headParameterCounts()
    {
        // k = 3, M~ 256 on 256@16 (the CIFAR k=3 model's last head):
        // 2 x (3x3x256x256 + BN 512) + BN 512 + Linear(1024 -> 10).
        AuxHead head(convHead(3, 256, true), Shape{256, 16, 16}, 10);
        QCOMPARE(countParameters(*head), std::int64_t(2 * (589'824 + 512) + 512 + 10'250));
        // VGG's classifier on 512@14 with the last max-pool: 25088 -> 4096 -> 4096 -> 1000.
        HeadSpec mlp = mlpHead(3, 4096, 7, 0.5);
        mlp.maxpoolFirst = true;
        AuxHead vgg(mlp, Shape{512, 14, 14}, 1000);
        QCOMPARE(countParameters(*vgg), std::int64_t(123'642'856));
        QVERIFY(!hasBatchNorm(*vgg));
        vgg->eval();
        torch::NoGradGuard noGrad;
        QCOMPARE(vgg->forward(torch::randn({2, 512, 14, 14})).sizes().vec(),
                 (std::vector<std::int64_t>{2, 1000}));
    }

    void networkModuleNames()
    {
        Spec spec = paperSpec("cifar10-k2");
        Network net(spec);
        QStringList names;
        for (const auto &item : net->named_children())
            names << QString::fromStdString(item.key());
        QCOMPARE(names, (QStringList{"stem", "block0", "head0", "block1", "head1", "block2",
                                     "head2", "block3", "head3"}));
        QVERIFY(net->named_parameters().contains("block2.conv.weight"));
        QVERIFY(net->named_buffers().contains("block0.bn.running_mean"));
        QVERIFY_THROWS_EXCEPTION(c10::Error, net->features(torch::zeros({1, 3, 32, 32}), 4));
        QVERIFY_THROWS_EXCEPTION(c10::Error, net->forward(torch::zeros({1, 3, 32, 32}), -1));
    }

    void networkRejectsInvalidSpec()
    {
        Spec spec = paperSpec("cifar10-k2");
        spec.input.height = spec.input.width = 30; // psi at stage 2 would see 15x15
        for (auto &s : spec.stages)
            s.downsample = Downsample::Psi;
        QVERIFY(!validateSpec(spec).empty());
        QVERIFY_THROWS_EXCEPTION(c10::Error, Network{spec});
    }

    void trainStepChangesOnlyTheStage()
    {
        // Greedy use: gradients of head j's loss reach block j and head j only when the prefix
        // is computed without gradient.
        Spec spec = zooSpec();
        test::seedAll(4);
        Network net(spec);
        net->train();
        const auto x = torch::randn({4, 3, 30, 30});
        const auto labels = torch::tensor({0, 1, 2, 3}, torch::kLong);
        torch::Tensor prefix;
        {
            torch::NoGradGuard noGrad;
            prefix = net->features(x, 1);
        }
        auto logits = net->heads[2]->forward(net->blocks[2]->forward(prefix));
        torch::nn::functional::cross_entropy(logits, labels).backward();
        QVERIFY(net->blocks[2]->conv->weight.grad().defined());
        QVERIFY(net->blocks[2]->conv->weight.grad().abs().sum().item<double>() > 0);
        QVERIFY(!net->blocks[1]->conv->weight.grad().defined());
        QVERIFY(!net->heads[1]->parameters()[0].grad().defined());
    }

    void foldBatchNormMatches()
    {
        test::seedAll(5);
        for (bool bias : {false, true}) {
            for (Downsample down : {Downsample::None, Downsample::Psi, Downsample::Stride}) {
                StageSpec s = stage(24, down, true, bias, convHead(1, 8, true));
                const Shape in{6, 10, 10};
                StageBlock block(s, in);
                {
                    torch::NoGradGuard noGrad;
                    block->bn->weight.uniform_(0.5, 2.0);
                    block->bn->bias.normal_(0, 0.5);
                    block->bn->running_mean.normal_(0, 0.3);
                    block->bn->running_var.uniform_(0.2, 3.0);
                    if (bias)
                        block->conv->bias.normal_(0, 0.2);
                }
                block->eval();
                StageBlock folded = foldBatchNorm(block, s, in);
                QVERIFY(!folded->bn);
                QVERIFY(!hasBatchNorm(*folded));
                QVERIFY(folded->conv->bias.defined());
                QVERIFY(!folded->is_training());
                torch::NoGradGuard noGrad;
                const auto x = torch::randn({3, 6, 10, 10});
                const auto expected = block->forward(x);
                const auto actual = folded->forward(x);
                QCOMPARE(actual.sizes(), expected.sizes());
                const double err
                    = ((actual - expected).abs().max() / expected.abs().max()).item<double>();
                QVERIFY2(err < 1e-4, qPrintable(QString("relative error %1").arg(err)));
            }
        }
        // Without BN folding is a copy.
        StageSpec plain = stage(8, Downsample::None, false, true, convHead(1, 8, false));
        StageBlock block(plain, Shape{3, 6, 6});
        StageBlock folded = foldBatchNorm(block, plain, Shape{3, 6, 6});
        torch::NoGradGuard noGrad;
        const auto x = torch::randn({1, 3, 6, 6});
        QVERIFY(torch::allclose(folded->forward(x), block->forward(x)));
    }

    void zooAgreesWithSummary() { checkNetwork(zooSpec(), nullptr); }

    void presets_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<bool>("shipped");
        std::vector<std::string> shipped;
        for (const auto &p : listPresets())
            shipped.push_back(p.name);
        for (const auto &name : shipped)
            QTest::newRow(name.c_str()) << QString::fromStdString(name) << true;
        // The paper's models are checked even before (or if) their presets are shipped.
        for (const auto &[name, count] : paperCounts()) {
            if (std::find(shipped.begin(), shipped.end(), name) == shipped.end()) {
                if (!shipped.empty())
                    qWarning("paper preset '%s' is not shipped; checking the in-code spec",
                             name.c_str());
                QTest::newRow((name + " (in code)").c_str())
                    << QString::fromStdString(name) << false;
            }
        }
    }

    void presets()
    {
        QFETCH(QString, name);
        QFETCH(bool, shipped);
        const std::string key = name.toStdString();
        Spec spec;
        if (shipped) {
            auto loaded = loadPreset(key);
            QVERIFY2(loaded.ok(), loaded.ok() ? "" : loaded.message().c_str());
            spec = *loaded;
        } else {
            spec = paperSpec(key);
        }
        const auto issues = validateSpec(spec);
        QVERIFY2(issues.empty(), issues.empty() ? "" : issues.front().toString().c_str());
        const auto it = paperCounts().find(key);
        checkNetwork(spec, it == paperCounts().end() ? nullptr : &it->second);
    }
};

QTEST_GUILESS_MAIN(TestModel)
#include "tst_model.moc"
