// Shows the Runs view on a temporary store holding fmnist-k1-like runs, a greedy and an
// end-to-end run selected for comparison: runsview_demo [store.sqlite]
// With a store path, shows that store instead, comparing the runs whose ids follow:
// runsview_demo store.sqlite [ID ...]
#include "tests/runsview/fakeruns.h"
#include "ui/runs/runsview.h"

#include <QApplication>
#include <QTemporaryDir>

#include <cstdio>

int main(int argc, char **argv)
{
    QApplication app(argc, argv);
    lw::RunsView view;
    view.setWindowTitle(QStringLiteral("Layerwise — Runs"));
    view.resize(1600, 1000);
    QTemporaryDir dir;
    QList<qint64> compare;
    if (argc > 1) {
        if (!view.setStore(QString::fromLocal8Bit(argv[1]))) {
            std::fprintf(stderr, "runsview_demo: %s\n", qPrintable(view.errorString()));
            return 1;
        }
        for (int i = 2; i < argc; ++i)
            compare.append(QString::fromLocal8Bit(argv[i]).toLongLong());
    } else {
        const QString path = dir.filePath(QStringLiteral("runs.sqlite"));
        {
            auto store = lw::RunStore::open(path.toStdString());
            if (!store) {
                std::fprintf(stderr, "runsview_demo: %s\n", store.message().c_str());
                return 1;
            }
            std::string spec, recipe;
            lw::fake::loadPreset(LW_SOURCE_DIR, spec, recipe);
            auto add = [&](lw::fake::FakeRun r) {
                r.specJson = spec;
                r.recipeJson = recipe;
                return lw::fake::writeRun(**store, r);
            };
            lw::fake::FakeRun r;
            r.name = "cifar k2 first try";
            r.specName = "cifar10-k2";
            r.dataset = "CIFAR-10 (50000 train / 10000 test)";
            r.status = lw::RunStatus::Failed;
            r.stages = 4;
            r.level = -0.08;
            r.epochsToRecord = 7;
            add(r);
            r = {};
            r.name = "fmnist-k1 greedy, lr 0.05";
            r.level = -0.006;
            r.tags = {"lr-sweep"};
            add(r);
            r = {};
            r.name = "fmnist-k1 greedy, seed 1";
            r.seed = 1;
            r.tags = {"paper", "seeds"};
            add(r);
            r = {};
            r.name = "fmnist-k2 greedy";
            r.specName = "fmnist-k2";
            r.status = lw::RunStatus::Interrupted;
            r.epochsToRecord = 8;
            r.level = 0.004;
            add(r);
            r = {};
            r.name = "fmnist-k1 greedy";
            r.tags = {"paper"};
            r.notes = "Baseline: 3 stages x 5 epochs, k=1 heads";
            compare << add(r);
            r = {};
            r.name = "fmnist-k1 end-to-end";
            r.mode = lw::TrainMode::EndToEnd;
            r.tags = {"paper"};
            r.notes = "Same network trained end to end, 15 epochs";
            compare << add(r);
        }
        view.setStore(path);
    }
    view.show();
    view.selectRuns(compare);
    return app.exec();
}
