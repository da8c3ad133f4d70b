// The Runs view (ui/runs): sorting, filtering, lazy fetching, tags, delete, the comparison of a
// greedy and an end-to-end run (curves, depth, config diff, summary, seed groups, export), the
// widget-free compare model's numbers (seed bands, accuracy by depth, summary, a resumed run)
// and live refresh from a second process, on stores filled through RunStore's API.
#include "tests/runsview/fakeruns.h"
#include "tests/support/support.h"
#include "ui/runs/comparemodel.h"
#include "ui/runs/compareview.h"
#include "ui/runs/configdiff.h"
#include "ui/runs/runstablemodel.h"
#include "ui/runs/runsview.h"

#include <qcustomplot.h>

#include <QAbstractButton>
#include <QAction>
#include <QApplication>
#include <QDir>
#include <QFileInfo>
#include <QMessageBox>
#include <QProcess>
#include <QTableView>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>

#include <cstring>
#include <iostream>
#include <limits>
#include <thread>

using namespace lw;

namespace {

QStringList namesInOrder(const RunsTableModel &model)
{
    QStringList names;
    for (int r = 0; r < model.rowCount(); ++r)
        names << QString::fromStdString(model.runAt(r).name);
    return names;
}

/// The child process: writes a run with two epochs, prints its id, waits for a line on stdin,
/// records the rest and finishes. Exit code 0 on success.
int childWriteRun(const char *dbPath)
{
    auto store = RunStore::open(dbPath);
    if (!store)
        return 2;
    fake::FakeRun run;
    run.name = "from-child";
    run.stages = 2;
    run.epochsPerStage = 3;
    run.epochsToRecord = 2;
    run.status = RunStatus::Running;
    std::string error;
    const auto id = fake::writeRun(**store, run, &error);
    if (id < 0) {
        std::cerr << error << std::endl;
        return 3;
    }
    std::cout << id << std::endl;
    std::string line;
    std::getline(std::cin, line); // the test says "go"
    std::vector<EpochMetrics> rest;
    rest.push_back(fake::makeEpoch(0, 3, 3, 0.88, 0.88));
    if (!(*store)->recordEpochs(id, rest))
        return 4;
    StageFinished sf;
    sf.stage = 0;
    sf.epochs = 3;
    sf.testAcc = 0.88;
    sf.ensembleAcc = 0.88;
    if (!(*store)->finishStage(id, sf))
        return 5;
    std::vector<EpochMetrics> second;
    for (int e = 1; e <= 3; ++e)
        second.push_back(fake::makeEpoch(1, e, 3 + e, 0.89 + 0.005 * e, 0.895 + 0.005 * e));
    if (!(*store)->recordEpochs(id, second))
        return 6;
    RunEnded end;
    end.finalTestAcc = 0.905;
    end.seconds = 12;
    return (*store)->finishRun(id, end) ? 0 : 7;
}

} // namespace

class TestRunsView : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    int m_stores = 0;
    std::string m_spec, m_recipe;

    QString newDbPath()
    {
        return m_dir.filePath(QStringLiteral("s%1/runs.sqlite").arg(++m_stores));
    }

    /// 12 runs with distinct names, statuses, modes, accuracies and tags.
    QString makeMixedStore()
    {
        const QString path = newDbPath();
        QDir().mkpath(QFileInfo(path).path());
        auto store = test::openStore(path.toStdString());
        struct R
        {
            const char *name;
            TrainMode mode;
            RunStatus status;
            const char *spec;
            double level;
            std::vector<std::string> tags;
        };
        const R runs[] = {
            {"alpha-greedy", TrainMode::Greedy, RunStatus::Finished, "fmnist-k1", 0.00, {"paper"}},
            {"alpha-e2e", TrainMode::EndToEnd, RunStatus::Finished, "fmnist-k1", 0.01, {"paper"}},
            {"beta-greedy", TrainMode::Greedy, RunStatus::Failed, "cifar10-k2", -0.05, {}},
            {"beta-e2e", TrainMode::EndToEnd, RunStatus::Cancelled, "cifar10-k2", -0.02, {}},
            {"gamma", TrainMode::Decoupled, RunStatus::Finished, "cifar10-k1", 0.02, {"dgl"}},
            {"delta", TrainMode::Greedy, RunStatus::Finished, "fmnist-k2", 0.005, {"paper", "k2"}},
            {"epsilon", TrainMode::Greedy, RunStatus::Interrupted, "fmnist-k2", -0.01, {}},
            {"zeta", TrainMode::EndToEnd, RunStatus::Finished, "imagenet-k1", -0.03, {}},
            {"eta", TrainMode::Greedy, RunStatus::Finished, "fmnist-k1", 0.015, {"k1"}},
            {"theta", TrainMode::Greedy, RunStatus::Finished, "vgg11-greedy", -0.015, {}},
            {"iota", TrainMode::EndToEnd, RunStatus::Failed, "fmnist-k1", -0.04, {"k1"}},
            {"kappa", TrainMode::Greedy, RunStatus::Finished, "cifar10-k3", 0.035, {}},
        };
        for (const auto &r : runs) {
            fake::FakeRun f;
            f.name = r.name;
            f.mode = r.mode;
            f.status = r.status;
            f.specName = r.spec;
            f.level = r.level;
            f.tags = r.tags;
            f.probes = false;
            std::string error;
            if (fake::writeRun(*store, f, &error) < 0)
                qFatal("writing %s: %s", r.name, error.c_str());
        }
        return path;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        fake::loadPreset(LW_SOURCE_DIR, m_spec, m_recipe);
        QVERIFY(m_spec.size() > 100);
        QVERIFY(m_recipe.find("\"lr\"") != std::string::npos);
    }

    void sortingInTheStore()
    {
        RunsView view;
        view.setPollInterval(0);
        QVERIFY(view.setStore(makeMixedStore()));
        auto *model = view.model();
        QCOMPARE(model->rowCount(), 12);
        QCOMPARE(model->totalCount(), 12);

        // SQL order (ORDER BY final_test_acc): ascending accuracy.
        view.table()->sortByColumn(RunsTableModel::FinalAcc, Qt::AscendingOrder);
        double last = -1;
        for (int r = 0; r < model->rowCount(); ++r) {
            const auto acc = model->runAt(r).finalTestAcc;
            QVERIFY(acc.has_value());
            QVERIFY2(*acc >= last, qPrintable(QStringLiteral("row %1").arg(r)));
            last = *acc;
        }
        // The best final accuracy is kappa's (level +0.025), the worst beta-greedy's (-0.05).
        QCOMPARE(QString::fromStdString(model->runAt(11).name), QStringLiteral("kappa"));
        QCOMPARE(QString::fromStdString(model->runAt(0).name), QStringLiteral("beta-greedy"));

        view.table()->sortByColumn(RunsTableModel::Name, Qt::AscendingOrder);
        QCOMPARE(namesInOrder(*model),
                 QStringList({"alpha-e2e", "alpha-greedy", "beta-e2e", "beta-greedy", "delta",
                              "epsilon", "eta", "gamma", "iota", "kappa", "theta", "zeta"}));

        // Every column sorts in SQL (one page read), the spec name too.
        view.table()->sortByColumn(RunsTableModel::Spec, Qt::DescendingOrder);
        QStringList specs;
        for (int r = 0; r < model->rowCount(); ++r)
            specs << model->data(model->index(r, RunsTableModel::Spec)).toString();
        QCOMPARE(specs, QStringList({"vgg11-greedy", "imagenet-k1", "fmnist-k2", "fmnist-k2",
                                     "fmnist-k1", "fmnist-k1", "fmnist-k1", "fmnist-k1",
                                     "cifar10-k3", "cifar10-k2", "cifar10-k2", "cifar10-k1"}));
        // Ensemble accuracy (kept on the run by the store, no read per run): descending, all
        // present, and the latest stage's value.
        view.table()->sortByColumn(RunsTableModel::EnsembleAcc, Qt::DescendingOrder);
        const auto top = view.store()->getRun(model->runAt(0).id);
        QVERIFY(top);
        QCOMPARE(*model->runAt(0).ensembleAcc, *top->stages.back().ensembleAcc);
        last = 2;
        for (int r = 0; r < model->rowCount(); ++r) {
            const double e = model
                                 ->data(model->index(r, RunsTableModel::EnsembleAcc),
                                        RunsTableModel::RawValueRole)
                                 .toDouble();
            QVERIFY(e <= last && e > 0.5);
            last = e;
        }
        QCOMPARE(model->data(model->index(0, RunsTableModel::Stages)).toString(),
                 QStringLiteral("3/3"));
    }

    void filtering()
    {
        RunsView view;
        view.setPollInterval(0);
        QVERIFY(view.setStore(makeMixedStore()));
        view.table()->sortByColumn(RunsTableModel::Name, Qt::AscendingOrder);
        auto *model = view.model();

        view.setFilterText(QStringLiteral("alpha"));
        QCOMPARE(namesInOrder(*model), QStringList({"alpha-e2e", "alpha-greedy"}));
        view.setFilterText(QStringLiteral("fmnist-k2")); // spec name
        QCOMPARE(namesInOrder(*model), QStringList({"delta", "epsilon"}));
        // The mode by its stored name or its label: every end-to-end run, also those whose
        // name says nothing about it (iota, zeta).
        view.setFilterText(QStringLiteral("e2e"));
        QCOMPARE(namesInOrder(*model), QStringList({"alpha-e2e", "beta-e2e", "iota", "zeta"}));
        view.setFilterText(QStringLiteral("end-to-end"));
        QCOMPARE(namesInOrder(*model), QStringList({"alpha-e2e", "beta-e2e", "iota", "zeta"}));
        view.setFilterText({});
        // The ID column is shown.
        QVERIFY(!view.table()->isColumnHidden(RunsTableModel::Id));

        view.setStatusFilter(RunStatus::Failed);
        QCOMPARE(namesInOrder(*model), QStringList({"beta-greedy", "iota"}));
        view.setStatusFilter(std::nullopt);

        view.setModeFilter(TrainMode::EndToEnd);
        QCOMPARE(namesInOrder(*model), QStringList({"alpha-e2e", "beta-e2e", "iota", "zeta"}));
        view.setStatusFilter(RunStatus::Finished);
        QCOMPARE(namesInOrder(*model), QStringList({"alpha-e2e", "zeta"}));
        view.setModeFilter(std::nullopt);
        view.setStatusFilter(std::nullopt);

        view.setTagFilter(QStringLiteral("paper"));
        QCOMPARE(namesInOrder(*model), QStringList({"alpha-e2e", "alpha-greedy", "delta"}));
        QCOMPARE(model->totalCount(), 3);
        view.setTagFilter({});
        QCOMPARE(model->rowCount(), 12);
    }

    void selectionSurvivesSortAndFilter()
    {
        RunsView view;
        view.setPollInterval(0);
        QVERIFY(view.setStore(makeMixedStore()));
        view.table()->sortByColumn(RunsTableModel::Name, Qt::AscendingOrder);
        auto *model = view.model();
        const qint64 delta = model->runAt(model->rowOfRun(model->runAt(4).id)).id;
        QCOMPARE(QString::fromStdString(model->runAt(4).name), QStringLiteral("delta"));
        view.selectRuns({delta});
        view.table()->sortByColumn(RunsTableModel::FinalAcc, Qt::DescendingOrder);
        QCOMPARE(view.selectedRunIds(), QList<qint64>{delta});
        view.setTagFilter(QStringLiteral("paper"));
        QCOMPARE(view.selectedRunIds(), QList<qint64>{delta});
        QCOMPARE(view.compareView()->runs(), QList<qint64>{delta});
    }

    void lazyFetchInPages()
    {
        const QString path = newDbPath();
        QDir().mkpath(QFileInfo(path).path());
        {
            auto store = test::openStore(path.toStdString());
            for (int i = 0; i < 450; ++i) {
                NewRun nr;
                nr.name = "bulk-" + std::to_string(i);
                auto id = store->createRun(nr);
                QVERIFY(id.ok());
                RunEnded end;
                end.finalTestAcc = 0.5 + i / 1000.0;
                QVERIFY(store->finishRun(id.value(), end).ok());
            }
        }
        RunsView view;
        view.setPollInterval(0);
        QVERIFY(view.setStore(path));
        auto *model = view.model();
        QCOMPARE(model->totalCount(), 450);
        QCOMPARE(model->rowCount(), RunsTableModel::kPageSize);
        QVERIFY(model->canFetchMore({}));
        model->fetchMore({});
        QCOMPARE(model->rowCount(), 2 * RunsTableModel::kPageSize);
        model->fetchMore({});
        QCOMPARE(model->rowCount(), 450);
        QVERIFY(!model->canFetchMore({}));
        // Rows are distinct runs.
        QSet<qint64> ids;
        for (int r = 0; r < model->rowCount(); ++r)
            ids.insert(model->runAt(r).id);
        QCOMPARE(ids.size(), 450);
    }

    void taggingSeveralRuns()
    {
        RunsView view;
        view.setPollInterval(0);
        QVERIFY(view.setStore(makeMixedStore()));
        view.table()->sortByColumn(RunsTableModel::Name, Qt::AscendingOrder);
        auto *model = view.model();
        QList<qint64> ids;
        for (const char *name : {"gamma", "theta", "zeta"})
            for (int r = 0; r < model->rowCount(); ++r)
                if (model->runAt(r).name == name)
                    ids << model->runAt(r).id;
        QCOMPARE(ids.size(), 3);
        view.selectRuns(ids);
        QCOMPARE(view.selectedRunIds().size(), 3);
        QVERIFY2(view.addTags(view.selectedRunIds(),
                              {QStringLiteral("sweep-7"), QStringLiteral(" batch ")}),
                 qPrintable(view.errorString()));
        for (qint64 id : ids) {
            const auto &row = model->runAt(model->rowOfRun(id));
            QVERIFY(std::find(row.tags.begin(), row.tags.end(), "sweep-7") != row.tags.end());
            QVERIFY(std::find(row.tags.begin(), row.tags.end(), "batch") != row.tags.end());
        }
        QCOMPARE(view.selectedRunIds().size(), 3); // refresh kept the selection
        QVERIFY(model->data(model->index(model->rowOfRun(ids[0]), RunsTableModel::Tags))
                    .toString()
                    .contains(QStringLiteral("sweep-7")));
        view.setTagFilter(QStringLiteral("sweep-7"));
        QCOMPARE(namesInOrder(*model), QStringList({"gamma", "theta", "zeta"}));
        QVERIFY(view.removeTags({ids[1]}, {QStringLiteral("sweep-7")}));
        QCOMPARE(namesInOrder(*model), QStringList({"gamma", "zeta"}));
        QVERIFY(view.renameRun(ids[0], QStringLiteral("gamma-renamed")));
        QCOMPARE(namesInOrder(*model), QStringList({"gamma-renamed", "zeta"}));
        QVERIFY(view.setNotes(ids[0], QStringLiteral("first line\nsecond")));
        QCOMPARE(model->data(model->index(0, RunsTableModel::Notes)).toString(),
                 QStringLiteral("first line …"));
    }

    void deleteAsksAndRemovesRowAndFolder()
    {
        RunsView view;
        view.setPollInterval(0);
        const QString path = makeMixedStore();
        QVERIFY(view.setStore(path));
        view.table()->sortByColumn(RunsTableModel::Name, Qt::AscendingOrder);
        auto *model = view.model();
        const qint64 id = model->runAt(0).id; // alpha-e2e
        const QString dir = QString::fromStdString(view.store()->runDir(id));
        QVERIFY(QFileInfo(dir).isDir());
        QFile ckpt(dir + QStringLiteral("/stage-0.pt"));
        QVERIFY(ckpt.open(QIODevice::WriteOnly));
        ckpt.write("checkpoint bytes");
        ckpt.close();
        QVERIFY(view.store()->addArtifact(id, 0, 5, "stage-checkpoint", "stage-0.pt").ok());
        view.selectRuns({id});

        // Cancel first: nothing happens.
        auto answer = [](bool confirm) {
            QTimer::singleShot(50, [confirm] {
                auto *box = qobject_cast<QMessageBox *>(QApplication::activeModalWidget());
                QVERIFY(box);
                QVERIFY(box->informativeText().contains(QStringLiteral("checkpoint")));
                for (auto *b : box->buttons())
                    if ((box->buttonRole(b) == QMessageBox::DestructiveRole) == confirm
                        && box->buttonRole(b) != QMessageBox::InvalidRole) {
                        b->click();
                        return;
                    }
            });
        };
        QAction *deleteAction = nullptr;
        for (auto *a : view.actions())
            if (a->text().startsWith(QStringLiteral("Delete")))
                deleteAction = a;
        QVERIFY(deleteAction && deleteAction->isEnabled());
        answer(false);
        deleteAction->trigger();
        QCOMPARE(model->rowCount(), 12);
        QVERIFY(QFileInfo(dir).isDir());

        answer(true);
        deleteAction->trigger();
        QCOMPARE(model->rowCount(), 11);
        QCOMPARE(model->rowOfRun(id), -1);
        QVERIFY(!QFileInfo::exists(dir));
        QCOMPARE(view.store()->exists(id).value(), false);
        QCOMPARE(QString::fromStdString(model->runAt(0).name), QStringLiteral("alpha-greedy"));
        QVERIFY(view.selectedRunIds().isEmpty());
        QVERIFY(view.compareView()->runs().isEmpty());
    }

    void compareGreedyAndEndToEnd()
    {
        const QString path = newDbPath();
        QDir().mkpath(QFileInfo(path).path());
        qint64 greedy = 0, e2e = 0, greedy2 = 0;
        {
            auto store = test::openStore(path.toStdString());
            fake::FakeRun g;
            g.name = "fmnist-k1 greedy";
            g.specJson = m_spec;
            g.recipeJson = m_recipe;
            greedy = fake::writeRun(*store, g);
            fake::FakeRun e = g;
            e.name = "fmnist-k1 end-to-end";
            e.mode = TrainMode::EndToEnd;
            // One recipe field really differs.
            const auto at = e.recipeJson.find("\"initial\": 0.1");
            QVERIFY(at != std::string::npos);
            e.recipeJson.replace(at, std::strlen("\"initial\": 0.1"), "\"initial\": 0.05");
            e2e = fake::writeRun(*store, e);
            fake::FakeRun g2 = g;
            g2.name = "fmnist-k1 greedy seed 1";
            g2.seed = 1;
            greedy2 = fake::writeRun(*store, g2);
            QVERIFY(greedy > 0 && e2e > 0 && greedy2 > 0);
        }
        RunsView view;
        view.setPollInterval(0);
        view.resize(1400, 900);
        QVERIFY(view.setStore(path));
        view.selectRuns({greedy, e2e});
        auto *cmp = view.compareView();
        cmp->finishLoading(); // small runs load at once anyway; this makes it certain
        QVERIFY(!cmp->isLoading());
        QCOMPARE(cmp->runs().size(), 2);

        // Both curves: 15 steps each, test accuracy as recorded.
        using S = RunCompareView::Series;
        QCOMPARE(cmp->seriesSteps(greedy, S::TestAcc).size(), 15);
        QCOMPARE(cmp->seriesSteps(e2e, S::TestAcc).size(), 15);
        QCOMPARE(cmp->seriesSteps(e2e, S::TestAcc).last(), 15.0);
        QCOMPARE(cmp->seriesValues(greedy, S::TestAcc).first(), fake::greedyAcc(0, 1, 5, 0.0, 0));
        int shownGreedy = 0, shownE2e = 0;
        for (int i = 0; i < cmp->curvesPlot()->graphCount(); ++i) {
            auto *g = cmp->curvesPlot()->graph(i);
            if (!g->visible() || g->dataCount() != 15)
                continue;
            const qint64 id = g->property("runId").toLongLong();
            shownGreedy += id == greedy;
            shownE2e += id == e2e;
        }
        QCOMPARE(shownGreedy, 2); // test + ensemble
        QCOMPARE(shownE2e, 2);
        QVERIFY(cmp->runColor(greedy) != cmp->runColor(e2e));
        // Stage boundaries: the greedy run's two (a line and a label each), none for e2e.
        int boundaryItems = 0;
        for (int i = 0; i < cmp->curvesPlot()->itemCount(); ++i)
            boundaryItems += cmp->curvesPlot()->item(i)->property("runId").toLongLong() == greedy;
        QCOMPARE(boundaryItems, 4);
        for (int i = 0; i < cmp->curvesPlot()->itemCount(); ++i)
            QVERIFY(cmp->curvesPlot()->item(i)->property("runId").toLongLong() != e2e);

        // Config diff: exactly mode and the learning rate.
        QCOMPARE(cmp->differingFields(),
                 QStringList({QStringLiteral("mode"), QStringLiteral("recipe.lr.initial")}));
        QCOMPARE(cmp->diffTable()->rowCount(), 2);
        // Columns follow the table's order (newest first): find the greedy run's.
        const int gc = cmp->diffTable()->horizontalHeaderItem(1)->text().contains("greedy") ? 1 : 2;
        const int ec = 3 - gc;
        QCOMPARE(cmp->diffTable()->item(0, 0)->text(), QStringLiteral("mode"));
        QCOMPARE(cmp->diffTable()->item(0, gc)->text(), QStringLiteral("greedy layerwise"));
        QCOMPARE(cmp->diffTable()->item(0, ec)->text(), QStringLiteral("end-to-end"));
        QCOMPARE(cmp->diffTable()->item(1, gc)->text(), QStringLiteral("0.1"));
        QCOMPARE(cmp->diffTable()->item(1, ec)->text(), QStringLiteral("0.05"));
        cmp->setShowEqualFields(true);
        QVERIFY(cmp->diffTable()->rowCount() > 40);
        cmp->setShowEqualFields(false);

        // Accuracy by depth: head + ensemble + probe for greedy (3 layers), and for e2e.
        int depthGreedy = 0;
        for (int i = 0; i < cmp->depthPlot()->graphCount(); ++i)
            if (cmp->depthPlot()->graph(i)->property("runId").toLongLong() == greedy) {
                ++depthGreedy;
                QCOMPARE(cmp->depthPlot()->graph(i)->dataCount(), 3);
            }
        QCOMPARE(depthGreedy, 3);

        // Summary: two rows, final accuracies as recorded.
        QCOMPARE(cmp->summaryTable()->rowCount(), 2);
        const QString csv = cmp->summaryCsv();
        QVERIFY(csv.startsWith(QStringLiteral("run_id,run,mode,status,runs,test_acc")));
        QVERIFY(csv.contains(QStringLiteral("%1,fmnist-k1 end-to-end,e2e,finished,1,").arg(e2e)));

        // Exports.
        for (const char *ext : {"png", "svg", "pdf"}) {
            const QString file = m_dir.filePath(QStringLiteral("curves.") + ext);
            QVERIFY2(cmp->exportChart(cmp->curvesPlot(), file), qPrintable(cmp->errorString()));
            QVERIFY(QFileInfo(file).size() > 1000);
        }
        QVERIFY(!cmp->exportChart(cmp->curvesPlot(), m_dir.filePath(QStringLiteral("c.bmpx"))));
        QVERIFY(cmp->exportSummaryCsv(m_dir.filePath(QStringLiteral("summary.csv"))));
        QVERIFY(view.exportRuns({greedy, e2e}, m_dir.filePath(QStringLiteral("runs.csv"))));
        QFile runsCsv(m_dir.filePath(QStringLiteral("runs.csv")));
        QVERIFY(runsCsv.open(QIODevice::ReadOnly));
        QVERIFY(runsCsv.readLine().startsWith("run,stage,epoch,split,metric,value"));
        QVERIFY(view.exportRuns({greedy}, m_dir.filePath(QStringLiteral("runs.json"))));

        // Changing a colour sticks, and a run keeps its colour when the selection changes.
        cmp->setRunColor(e2e, QColor(Qt::magenta));
        const QColor greedyColor = cmp->runColor(greedy);
        view.selectRuns({greedy, e2e, greedy2});
        QCOMPARE(cmp->runColor(e2e), QColor(Qt::magenta));
        QCOMPARE(cmp->runColor(greedy), greedyColor);

        // Seeds: the two greedy runs differ only by seed and form one group.
        const auto groups = cmp->seedGroups();
        QCOMPARE(groups.size(), 2);
        const auto &pair = groups[0].contains(greedy) ? groups[0] : groups[1];
        QCOMPARE(pair.size(), 2);
        QVERIFY(pair.contains(greedy2));
        QVERIFY(!pair.contains(e2e));
        cmp->setGroupSeeds(true);
        QCOMPARE(cmp->summaryTable()->rowCount(), 2);
        QVERIFY(cmp->summaryTable()
                    ->item(groups[0].size() == 2 ? 0 : 1, 0)
                    ->text()
                    .contains(QStringLiteral("2 seeds")));
        int bands = 0;
        for (int i = 0; i < cmp->curvesPlot()->graphCount(); ++i)
            bands += cmp->curvesPlot()->graph(i)->channelFillGraph() != nullptr;
        QCOMPARE(bands, 2); // test and ensemble
        cmp->setGroupSeeds(false);
        QCOMPARE(cmp->summaryTable()->rowCount(), 3);
    }

    /// Two runs that differ only by seed, with known accuracies: the model's seed band, depth
    /// and summary numbers, new epochs by refresh() and a resumed run read again.
    void compareModelNumbers()
    {
        const QString path = newDbPath();
        QDir().mkpath(QFileInfo(path).path());
        std::shared_ptr<RunStore> store = test::openStore(path.toStdString());
        QVERIFY(store);
        struct Planned
        {
            std::int64_t seed;
            double acc[4]; ///< test accuracy of steps 1..4 (stage 0: 1-2, stage 1: 3-4)
            double ens[4];
            double ips;
            std::vector<std::pair<int, double>> probes[2]; ///< after stage k: (layer, acc)
        };
        const Planned planned[] = {
            {0,
             {0.80, 0.84, 0.86, 0.88},
             {0.80, 0.84, 0.87, 0.89},
             1000,
             {{{0, 0.75}}, {{0, 0.78}, {1, 0.82}}}},
            {1, {0.70, 0.76, 0.90, 0.92}, {0.70, 0.76, 0.91, 0.93}, 3000, {{}, {}}},
        };
        qint64 ids[2] = {};
        for (int r = 0; r < 2; ++r) {
            const Planned &p = planned[r];
            NewRun nr;
            nr.name = r == 0 ? "seed 0" : "seed 1";
            nr.seed = p.seed;
            nr.stages = 3; // planned: the depth plot spans 3 layers
            nr.params = 1000 * (r + 1);
            auto id = store->createRun(nr);
            if (!id)
                QFAIL(id.message().c_str());
            ids[r] = id.value();
            for (int stage = 0; stage < 2; ++stage) {
                StageStarted ss;
                ss.stage = stage;
                ss.epochs = 2;
                QVERIFY(store->beginStage(ids[r], ss));
                std::vector<EpochMetrics> epochs;
                for (int e = 1; e <= 2; ++e) {
                    const int step = 2 * stage + e;
                    EpochMetrics m
                        = fake::makeEpoch(stage, e, step, p.acc[step - 1], p.ens[step - 1]);
                    m.imagesPerSecond = p.ips * (r == 0 ? stage + 1 : 1);
                    epochs.push_back(m);
                }
                QVERIFY(store->recordEpochs(ids[r], epochs));
                StageFinished sf;
                sf.stage = stage;
                sf.epochs = 2;
                sf.testAcc = p.acc[2 * stage + 1];
                sf.ensembleAcc = p.ens[2 * stage + 1];
                QVERIFY(store->finishStage(ids[r], sf));
                for (const auto &[layer, acc] : p.probes[stage]) {
                    ProbeResult pr;
                    pr.afterStage = stage;
                    pr.layer = layer;
                    pr.testAcc = acc;
                    QVERIFY(store->recordProbe(ids[r], pr));
                }
            }
            RunEnded end;
            end.finalTestAcc = p.acc[3];
            end.seconds = 100.0 * (r + 1);
            QVERIFY(store->finishRun(ids[r], end));
        }

        CompareModel model;
        model.setStore(store);
        model.setRuns({ids[0], ids[1], 99999}); // an unknown id is skipped
        QCOMPARE(model.runIds(), QList<qint64>({ids[0], ids[1]}));
        QVERIFY(model.isLoading());
        QCOMPARE(model.loadPending(std::numeric_limits<int>::max()),
                 QList<qint64>({ids[0], ids[1]}));
        QVERIFY(!model.isLoading());

        // Raw series from the typed history: fractions, one point per epoch, 0-based stages.
        const SeriesData a = model.find(ids[0])->series(CompareSeries::TestAcc);
        QCOMPARE(a.steps, QVector<double>({1, 2, 3, 4}));
        QCOMPARE(a.values, QVector<double>({0.80, 0.84, 0.86, 0.88}));
        QCOMPARE(a.stages, QVector<int>({0, 0, 1, 1}));

        // One seed group; its band: per step mean, min and max in percent.
        const auto groups = model.seedGroups();
        QCOMPARE(groups.size(), 1);
        QCOMPARE(groups[0], QList<qint64>({ids[0], ids[1]}));
        QVERIFY(model.inSeedGroup(ids[0]));
        const SeriesBand band = model.band(groups[0], CompareSeries::TestAcc, 0.0);
        QCOMPARE(band.steps, QVector<double>({1, 2, 3, 4}));
        QCOMPARE(band.mean, QVector<double>({75, 80, 88, 90}));
        QCOMPARE(band.min, QVector<double>({70, 76, 86, 88}));
        QCOMPARE(band.max, QVector<double>({80, 84, 90, 92}));
        // Smoothed (w = 0.5, debiased, restarted at each stage): run 0 gives 80, 82.667, 86,
        // 87.333; run 1 gives 70, 74, 90, 91.333.
        const SeriesBand smooth = model.band(groups[0], CompareSeries::TestAcc, 0.5);
        QCOMPARE(smooth.mean.size(), 4);
        QVERIFY(qAbs(smooth.mean[0] - 75.0) < 1e-9);
        QVERIFY(qAbs(smooth.mean[1] - (248.0 / 3 + 74.0) / 2) < 1e-9);
        QVERIFY(qAbs(smooth.mean[2] - 88.0) < 1e-9);
        QVERIFY(qAbs(smooth.max[3] - 274.0 / 3) < 1e-9);

        // Accuracy by depth: 1-based layers, percent; the latest probe of each layer.
        const RunDepth d = model.depth(ids[0]);
        QCOMPARE(d.headLayers, QVector<double>({1, 2}));
        QCOMPARE(d.head, QVector<double>({84, 88}));
        QCOMPARE(d.ensembleLayers, QVector<double>({1, 2}));
        QCOMPARE(d.ensemble, QVector<double>({84, 89}));
        QCOMPARE(d.probeLayers, QVector<double>({1, 2}));
        QCOMPARE(d.probe, QVector<double>({78, 82}));
        QVERIFY(model.depth(ids[1]).probeLayers.isEmpty());
        QCOMPARE(model.depthLayers(), 3);

        // Summary: one row per run, or the group's mean [min, max].
        const auto perRun = model.summary(false);
        QCOMPARE(perRun.size(), 2);
        QCOMPARE(perRun[0].testAcc.count, 1);
        QCOMPARE(perRun[0].testAcc.mean, 0.88);
        QCOMPARE(perRun[0].imagesPerSecond.mean, 1500.0); // 1000, 1000, 2000, 2000
        const auto grouped = model.summary(true);
        QCOMPARE(grouped.size(), 1);
        const SummaryRow &g = grouped[0];
        QCOMPARE(g.ids, QList<qint64>({ids[0], ids[1]}));
        QCOMPARE(g.testAcc.count, 2);
        QCOMPARE(g.testAcc.mean, 0.90);
        QCOMPARE(g.testAcc.min, 0.88);
        QCOMPARE(g.testAcc.max, 0.92);
        QCOMPARE(g.bestAcc.mean, 0.90);
        QCOMPARE(g.ensembleAcc.mean, 0.91);
        QCOMPARE(g.imagesPerSecond.mean, 2250.0);
        QCOMPARE(g.imagesPerSecond.min, 1500.0);
        QCOMPARE(g.imagesPerSecond.max, 3000.0);
        QCOMPARE(g.params.mean, 1500.0);
        QCOMPARE(g.params.min, 1000.0);
        QCOMPARE(g.wallSeconds.max, 200.0);

        // Nothing new: refresh() reports nothing.
        auto changes = model.refresh();
        QVERIFY(changes.data.isEmpty());
        QVERIFY(!changes.detail);

        // Resume run 0 after stage 1 epoch 1: epoch (1, 2) is recorded again with 0.95; the
        // model notices the step going back and reads the run again.
        QVERIFY(store->beginResume(ids[0], 1, 1));
        QVERIFY(store->recordEpochs(ids[0], {fake::makeEpoch(1, 2, 4, 0.95, 0.96)}));
        changes = model.refresh();
        QCOMPARE(changes.data, QList<qint64>{ids[0]});
        QVERIFY(changes.detail);
        QCOMPARE(model.find(ids[0])->series(CompareSeries::TestAcc).values,
                 QVector<double>({0.80, 0.84, 0.86, 0.95}));
        // Then stage 2 goes on: only the new epoch is read and appended.
        QVERIFY(store->recordEpochs(ids[0], {fake::makeEpoch(2, 1, 5, 0.96, 0.97)}));
        changes = model.refresh();
        QCOMPARE(changes.data, QList<qint64>{ids[0]});
        const SeriesData grown = model.find(ids[0])->series(CompareSeries::EnsembleAcc);
        QCOMPARE(grown.steps, QVector<double>({1, 2, 3, 4, 5}));
        QCOMPARE(grown.values.last(), 0.97);
        QCOMPARE(grown.stages.last(), 2);
        QCOMPARE(model.find(ids[0])->stageSteps().size(), std::size_t(3));
    }

    void liveRunFromSecondProcess()
    {
        const QString path = makeMixedStore();
        RunsView view;
        view.setPollInterval(50);
        QVERIFY(view.setStore(path));
        auto *model = view.model();
        const qint64 kept = model->runAt(3).id;
        view.selectRuns({kept});

        QProcess child;
        child.start(QCoreApplication::applicationFilePath(), {QStringLiteral("--write-run"), path});
        QVERIFY(child.waitForStarted());
        QVERIFY(child.waitForReadyRead(30000));
        const qint64 id = child.readLine().trimmed().toLongLong();
        QVERIFY(id > 0);
        // Appears at the top (newest first) without a manual refresh; the selection stays.
        QTRY_COMPARE_WITH_TIMEOUT(model->rowOfRun(id), 0, 10000);
        QCOMPARE(QString::fromStdString(model->runAt(0).name), QStringLiteral("from-child"));
        QCOMPARE(model->runAt(0).status, RunStatus::Running);
        QCOMPARE(view.selectedRunIds(), QList<qint64>{kept});
        QCOMPARE(model->rowCount(), 13);

        // Watch it: its curves grow as the child records.
        view.selectRuns({kept, id});
        view.compareView()->finishLoading();
        using S = RunCompareView::Series;
        QCOMPARE(view.compareView()->seriesSteps(id, S::TestAcc).size(), 2);
        child.write("go\n");
        QVERIFY(child.waitForFinished(30000));
        QCOMPARE(child.exitCode(), 0);
        QTRY_COMPARE_WITH_TIMEOUT(model->runAt(model->rowOfRun(id)).status, RunStatus::Finished,
                                  10000);
        QTRY_COMPARE_WITH_TIMEOUT(view.compareView()->seriesSteps(id, S::TestAcc).size(), 6, 10000);
        QCOMPARE(view.compareView()->seriesSteps(id, S::TestAcc).last(), 6.0);
        QCOMPARE(
            model->data(model->index(model->rowOfRun(id), RunsTableModel::FinalAcc)).toString(),
            QStringLiteral("90.50 %"));
        QCOMPARE(view.selectedRunIds().size(), 2);
        QVERIFY(view.selectedRunIds().contains(kept));
    }

    void badStoreFileIsAClearError()
    {
        const QString path = m_dir.filePath(QStringLiteral("not-a-store.sqlite"));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("this is not an SQLite database, just text that is long enough to be read");
        f.close();
        RunsView view;
        QVERIFY(!view.setStore(path));
        QVERIFY(view.errorString().contains(QStringLiteral("not-a-store.sqlite")));
        QCOMPARE(view.model()->rowCount(), 0);
    }

    void configDiffFlattening()
    {
        QMap<QString, QString> a, b;
        flattenJson(R"({"x": 1, "y": [1, 2.5, {"z": true}], "s": "t", "e": {}})", "p", a);
        QCOMPARE(a.value("p.x"), QStringLiteral("1"));
        QCOMPARE(a.value("p.y[1]"), QStringLiteral("2.5"));
        QCOMPARE(a.value("p.y[2].z"), QStringLiteral("true"));
        QCOMPARE(a.value("p.e"), QStringLiteral("{}"));
        flattenJson(R"({"x": 1, "y": [1, 2.5]})", "p", b);
        b.insert("mode", "greedy");
        a.insert("mode", "e2e");
        const auto fields = diffConfigs({a, b});
        QCOMPARE(fields.first().path, QStringLiteral("mode"));
        QStringList differing;
        for (const auto &f : fields)
            if (f.differs)
                differing << f.path;
        QCOMPARE(differing, QStringList({"mode", "p.e", "p.s", "p.y[2].z"}));
        QMap<QString, QString> bad;
        flattenJson("{not json", "spec", bad); // kept whole, no crash
        QCOMPARE(bad.value("spec"), QStringLiteral("{not json"));
    }
};

int main(int argc, char **argv)
{
    if (argc > 2 && std::strcmp(argv[1], "--write-run") == 0)
        return childWriteRun(argv[2]);
    QApplication app(argc, argv);
    TestRunsView test;
    QTEST_SET_MAIN_SOURCE_PATH
    return QTest::qExec(&test, argc, argv);
}

#include "tst_runsview.moc"
