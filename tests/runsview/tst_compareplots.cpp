// The comparison's plots as a researcher reads them: one colour per run, stored with the run and
// used by every plot, its legend and its exports; CSV exports of numbers; the x axis choices;
// smoothing off for short curves; seed bands (min-max, standard deviation); stage labels drawn
// once; and the run table's SQL sorts, ID column and mode filter. Stores are filled through
// RunStore's API (tests/runsview/fakeruns.h).
#include "tests/runsview/fakeruns.h"
#include "tests/support/support.h"
#include "ui/common/plotexport.h"
#include "ui/runs/compareview.h"
#include "ui/runs/runstablemodel.h"
#include "ui/runs/runsview.h"

#include <qcustomplot.h>

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>

using namespace lw;

namespace {

QString readText(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? QString::fromUtf8(f.readAll()) : QString();
}

/// The CSV's lines split into cells (no quoted commas in these tests' names).
QList<QStringList> csvRows(const QString &csv)
{
    QList<QStringList> rows;
    for (const QString &line : csv.split(QLatin1Char('\n'), Qt::SkipEmptyParts))
        rows << line.split(QLatin1Char(','));
    return rows;
}

/// Names of the curves plot's legend entries tagged with a run, and their pen colours.
QHash<qint64, QPair<QString, QColor>> legendRuns(QCustomPlot *plot)
{
    QHash<qint64, QPair<QString, QColor>> out;
    for (int i = 0; i < plot->graphCount(); ++i) {
        QCPGraph *g = plot->graph(i);
        const qint64 id = g->property("legendRunId").toLongLong();
        if (id != 0 && plot->legend->hasItemWithPlottable(g))
            out.insert(id, {g->name(), g->pen().color()});
    }
    return out;
}

} // namespace

class TestComparePlots : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    int m_stores = 0;
    std::string m_spec, m_recipe;

    QString newDbPath()
    {
        const QString path = m_dir.filePath(QStringLiteral("s%1/runs.sqlite").arg(++m_stores));
        QDir().mkpath(QFileInfo(path).path());
        return path;
    }

    /// A new store holding `runs`; their ids in order.
    QList<qint64> storeWith(const QList<fake::FakeRun> &runs, QString &path)
    {
        path = newDbPath();
        auto store = test::openStore(path.toStdString());
        QList<qint64> ids;
        for (const auto &r : runs)
            ids << (store ? fake::writeRun(*store, r) : -1);
        return ids;
    }

    fake::FakeRun greedyRun(const std::string &name, std::int64_t seed = 0)
    {
        fake::FakeRun r;
        r.name = name;
        r.seed = seed;
        r.specJson = m_spec;
        r.recipeJson = m_recipe;
        return r;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        QStandardPaths::setTestModeEnabled(true); // splitter sizes away from the user's settings
        fake::loadPreset(LW_SOURCE_DIR, m_spec, m_recipe);
    }

    /// Two greedy runs (same mode) get two colours, stored with the runs: every plot and the
    /// curves' legend use them, the legend names the runs, an SVG export carries names and
    /// colours, and a new window (a restart) shows the same colours.
    void oneColourPerRunInCompareAndExport()
    {
        QString path;
        const auto ids
            = storeWith({greedyRun("greedy lr 0.1"), greedyRun("greedy lr 0.05", 1)}, path);
        const qint64 a = ids[0], b = ids[1];
        QVERIFY(a > 0 && b > 0);
        QColor colourA, colourB;
        {
            RunsView view;
            view.setPollInterval(0);
            view.resize(1400, 900);
            QVERIFY(view.setStore(path));
            view.selectRuns({a, b});
            auto *cmp = view.compareView();
            cmp->finishLoading();
            colourA = cmp->runColor(a);
            colourB = cmp->runColor(b);
            QVERIFY(colourA != colourB);
            // Stored with the runs.
            QCOMPARE(QString::fromStdString(view.store()->getRun(a)->run.colour), colourA.name());
            QCOMPARE(QString::fromStdString(view.store()->getRun(b)->run.colour), colourB.name());
            // Every curve and depth line of a run in its colour.
            for (QCustomPlot *plot : {cmp->curvesPlot(), cmp->depthPlot()}) {
                int drawn = 0;
                for (int i = 0; i < plot->graphCount(); ++i) {
                    const qint64 id = plot->graph(i)->property("runId").toLongLong();
                    if (id == 0)
                        continue;
                    ++drawn;
                    QCOMPARE(plot->graph(i)->pen().color().rgb(),
                             (id == a ? colourA : colourB).rgb());
                }
                QVERIFY(drawn >= 4);
            }
            // The legend names the runs in their colours.
            const auto legend = legendRuns(cmp->curvesPlot());
            QCOMPARE(legend.size(), 2);
            QCOMPARE(legend.value(a).first, QStringLiteral("greedy lr 0.1"));
            QCOMPARE(legend.value(a).second.rgb(), colourA.rgb());
            QCOMPARE(legend.value(b).second.rgb(), colourB.rgb());
            // The exported drawing holds the legend: both names and both colours.
            const QString svg = m_dir.filePath(QStringLiteral("colours.svg"));
            QVERIFY2(cmp->exportChart(cmp->curvesPlot(), svg), qPrintable(cmp->errorString()));
            const QString text = readText(svg);
            QVERIFY(text.contains(QStringLiteral("greedy lr 0.1")));
            QVERIFY(text.contains(QStringLiteral("greedy lr 0.05")));
            QVERIFY(text.contains(colourA.name(), Qt::CaseInsensitive));
            QVERIFY(text.contains(colourB.name(), Qt::CaseInsensitive));
            const QString png = m_dir.filePath(QStringLiteral("colours.png"));
            QVERIFY(cmp->exportChart(cmp->curvesPlot(), png));
            QVERIFY(QFileInfo(png).size() > 1000);
        }
        {
            // A restart: the same colours, whatever the order of selection.
            RunsView view;
            view.setPollInterval(0);
            QVERIFY(view.setStore(path));
            view.selectRuns({b});
            view.compareView()->finishLoading();
            QCOMPARE(view.compareView()->runColor(b), colourB);
            view.selectRuns({a, b});
            QCOMPARE(view.compareView()->runColor(a), colourA);
            // Changed from the Runs view: stored, and the plots follow.
            QVERIFY(view.setRunColour(a, QColor(Qt::magenta)));
            QCOMPARE(view.store()->getRun(a)->run.colour, std::string("#ff00ff"));
            QCOMPARE(legendRuns(view.compareView()->curvesPlot()).value(a).second,
                     QColor(Qt::magenta));
            // The table shows the colour beside the name.
            const int row = view.model()->rowOfRun(a);
            QVERIFY(row >= 0);
            QVERIFY(!view.model()
                         ->data(view.model()->index(row, RunsTableModel::Name), Qt::DecorationRole)
                         .isNull());
        }
    }

    /// Every plot exports CSV, and its cells are numbers: accuracies as fractions, images,
    /// steps and seconds as plain numbers, never "70.40 %", "672 k" or "9 m 27 s".
    void plotCsvExportIsNumeric()
    {
        QString path;
        const qint64 id = storeWith({greedyRun("numbers")}, path).first();
        QVERIFY(id > 0);
        RunsView view;
        view.setPollInterval(0);
        QVERIFY(view.setStore(path));
        view.selectRuns({id});
        auto *cmp = view.compareView();
        cmp->finishLoading();

        const QString curves = m_dir.filePath(QStringLiteral("curves.csv"));
        QVERIFY2(cmp->exportChart(cmp->curvesPlot(), curves), qPrintable(cmp->errorString()));
        const auto rows = csvRows(readText(curves));
        QCOMPARE(rows.first(),
                 QStringList({"run_id", "run", "series", "stage", "epoch", "step",
                              "optimizer_steps", "images_seen", "wall_seconds", "value"}));
        QCOMPARE(rows.size(), 1 + 2 * 15); // test and ensemble, 15 epochs
        const auto epochs = view.store()->history(id)->epochs;
        double seconds = 0;
        for (int i = 1; i <= 15; ++i) {
            const QStringList &r = rows[i];
            QCOMPARE(r[2], QStringLiteral("test"));
            bool ok = false;
            QCOMPARE(r[9].toDouble(&ok), epochs[std::size_t(i - 1)].testAcc); // a fraction
            QVERIFY(ok);
            QCOMPARE(r[7], QString::number(60000 * i)); // images seen, in full
            QCOMPARE(r[6], QString::number(469 * i));   // optimizer steps
            seconds += 25.0 + 4 * ((i - 1) / 5); // fakeruns: 25 s per epoch, 4 s more per stage
            QCOMPARE(r[8], QString::number(seconds));     // wall-clock seconds so far
            QCOMPARE(r[3], QString::number((i - 1) / 5)); // stage, 0-based as in the store
        }
        const QString all = readText(curves);
        QVERIFY(!all.contains(QLatin1Char('%')));
        QVERIFY(!all.contains(QStringLiteral(" k")));

        const QString depth = m_dir.filePath(QStringLiteral("depth.csv"));
        QVERIFY(cmp->exportChart(cmp->depthPlot(), depth));
        const auto depthRows = csvRows(readText(depth));
        QCOMPARE(depthRows.first(), QStringList({"run_id", "run", "layer", "kind", "test_acc"}));
        QCOMPARE(depthRows.size(), 1 + 3 * 3); // head, ensemble, probe for 3 layers
        for (const auto &r : depthRows.mid(1)) {
            bool ok = false;
            const double v = r[4].toDouble(&ok);
            QVERIFY(ok && v > 0.5 && v < 1.0);
        }

        const auto summary = csvRows(cmp->summaryCsv());
        QCOMPARE(summary[0].mid(0, 6),
                 QStringList({"run_id", "run", "mode", "status", "runs", "test_acc"}));
        const RunRow row = view.store()->getRun(id)->run;
        QCOMPARE(summary[1][0], QString::number(id));
        QCOMPARE(summary[1][5].toDouble(), *row.finalTestAcc);
        const int params = int(summary[0].indexOf(QStringLiteral("params")));
        QCOMPARE(summary[1][params], QString::number(row.params));
        const int wall = int(summary[0].indexOf(QStringLiteral("wall_seconds")));
        QCOMPARE(summary[1][wall].toDouble(), row.wallSeconds);

        // The file dialog offers CSV beside the pictures.
        QVERIFY(plotExportFilter().contains(QStringLiteral("*.csv")));
        QVERIFY(!cmp->exportChart(cmp->curvesPlot(), m_dir.filePath(QStringLiteral("c.bmpx"))));
        QVERIFY(cmp->errorString().contains(QStringLiteral(".csv")));
    }

    /// The x axis: epochs, optimizer steps, images seen and wall-clock seconds, from the
    /// stored history; stage boundaries follow the axis and a shared label is drawn once.
    void axisChoicesAndStageLabels()
    {
        QString path;
        const auto ids = storeWith({greedyRun("first"), greedyRun("second", 1)}, path);
        const qint64 a = ids[0], b = ids[1];
        QVERIFY(a > 0 && b > 0);
        RunsView view;
        view.setPollInterval(0);
        QVERIFY(view.setStore(path));
        view.selectRuns({a, b});
        auto *cmp = view.compareView();
        cmp->finishLoading();
        auto keysOf = [&](qint64 id) {
            for (int i = 0; i < cmp->curvesPlot()->graphCount(); ++i) {
                QCPGraph *g = cmp->curvesPlot()->graph(i);
                if (g->property("runId").toLongLong() == id && g->visible()) {
                    QVector<double> keys;
                    for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it)
                        keys << it->key;
                    return keys;
                }
            }
            return QVector<double>();
        };
        QCOMPARE(keysOf(a).first(), 1.0);
        QCOMPARE(keysOf(a).last(), 15.0);
        cmp->setAxis(RunCompareView::Axis::Images);
        QCOMPARE(keysOf(a).first(), 60000.0);
        QCOMPARE(keysOf(a).last(), 15 * 60000.0);
        cmp->setAxis(RunCompareView::Axis::Steps);
        QCOMPARE(keysOf(a).last(), 15 * 469.0);
        cmp->setAxis(RunCompareView::Axis::Seconds);
        // Stage 1's epochs take 25 s, stage 2's 29 s, stage 3's 33 s.
        QCOMPARE(keysOf(a).last(), 5 * 25.0 + 5 * 29.0 + 5 * 33.0);

        // Two runs with the same stage boundaries: a line each, each label once.
        cmp->setAxis(RunCompareView::Axis::Epochs);
        QStringList labels;
        for (int i = 0; i < cmp->curvesPlot()->itemCount(); ++i)
            if (auto *t = qobject_cast<QCPItemText *>(cmp->curvesPlot()->item(i)))
                labels << t->text();
        labels.sort();
        QCOMPARE(labels, QStringList({"S2", "S3"}));
    }

    /// Smoothing is off by default; when on, curves shorter than kMinSmoothPoints stay raw,
    /// and the recorded values stay the bold line under the thin trend. Seed bands: min-max or
    /// one standard deviation around the mean.
    void smoothingAndSeedBands()
    {
        auto shortOne = greedyRun("short");
        shortOne.epochsPerStage = 2; // 6 points
        shortOne.specJson = "{}";    // another config: not in the seed group
        QString path;
        const auto ids = storeWith({greedyRun("long"), greedyRun("long", 1), shortOne}, path);
        const qint64 longRun = ids[0], seed1 = ids[1], shortRun = ids[2];
        QVERIFY(longRun > 0 && seed1 > 0 && shortRun > 0);
        RunsView view;
        view.setPollInterval(0);
        QVERIFY(view.setStore(path));
        view.selectRuns({longRun, shortRun});
        auto *cmp = view.compareView();
        cmp->finishLoading();
        QCOMPARE(cmp->smoothing(), 0.0);
        auto visibleUntagged = [&] {
            // The smoothed overlays are the graphs with data and no run tag.
            int n = 0;
            for (int i = 0; i < cmp->curvesPlot()->graphCount(); ++i) {
                QCPGraph *g = cmp->curvesPlot()->graph(i);
                n += g->visible() && g->dataCount() > 0 && !g->property("runId").isValid();
            }
            return n;
        };
        QCOMPARE(visibleUntagged(), 0);
        cmp->setSmoothing(0.6);
        QCOMPARE(visibleUntagged(), 2); // the long run's test and ensemble; not the short run's
        for (int i = 0; i < cmp->curvesPlot()->graphCount(); ++i) {
            QCPGraph *g = cmp->curvesPlot()->graph(i);
            if (g->property("runId").toLongLong() == longRun)
                QCOMPARE(g->pen().widthF(), 2.0); // the recorded values, bold
            else if (g->visible() && g->dataCount() > 0 && !g->property("runId").isValid())
                QVERIFY(g->pen().widthF() < 2.0); // the trend, thin
        }
        cmp->setSmoothing(0);

        view.selectRuns({longRun, seed1});
        cmp->finishLoading();
        cmp->setCurves(RunCompareView::Curves::Test);
        cmp->setGroupSeeds(true);
        auto bandAt = [&](int step) {
            for (int i = 0; i < cmp->curvesPlot()->graphCount(); ++i) {
                QCPGraph *high = cmp->curvesPlot()->graph(i);
                if (QCPGraph *low = high->channelFillGraph())
                    return qMakePair(low->data()->at(step)->value, high->data()->at(step)->value);
            }
            return qMakePair(0.0, 0.0);
        };
        const double x = 100 * fake::greedyAcc(0, 1, 5, 0, 0);
        const double y = 100 * fake::greedyAcc(0, 1, 5, 0, 1);
        QCOMPARE(bandAt(0).first, std::min(x, y));
        QCOMPARE(bandAt(0).second, std::max(x, y));
        cmp->setBandStdDev(true);
        const double mean = (x + y) / 2, sd = std::abs(x - y) / 2; // population sd of two
        QVERIFY(qAbs(bandAt(0).first - (mean - sd)) < 1e-9);
        QVERIFY(qAbs(bandAt(0).second - (mean + sd)) < 1e-9);
    }
};

QTEST_MAIN(TestComparePlots)
#include "tst_compareplots.moc"
