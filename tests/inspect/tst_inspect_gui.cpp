// The pictures in the GUI (ui/inspect): a run recorded before pictures existed opens without them
// and offers to compute them; computed pictures draw and export; two runs compare side by side
// with the difference of their confusions; the Train view shows them live.
#include "core/run/runservice.h"
#include "core/store/runstore.h"
#include "tests/inspect/inspectruns.h"
#include "tests/support/support.h"
#include "ui/inspect/pictureplots.h"
#include "ui/inspect/picturescompare.h"
#include "ui/inspect/picturespanel.h"
#include "ui/train/trainsession.h"

#include <qcustomplot.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <QComboBox>
#include <QFileInfo>
#include <QLabel>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStackedWidget>
#include <QTemporaryDir>
#include <QTest>

using namespace lw;

namespace {

using test::trainTiny;

bool hasColorMap(QCustomPlot *plot)
{
    for (int i = 0; i < plot->plottableCount(); ++i)
        if (qobject_cast<QCPColorMap *>(plot->plottable(i)))
            return true;
    return false;
}

} // namespace

class TestInspectGui : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void oldRunOffersToComputePictures();
    void twoRunsSideBySide();
    void liveInTheTrainSession();
    void picksATestImage();
};

void TestInspectGui::oldRunOffersToComputePictures()
{
    test::TempStore store;
    QVERIFY(store.ok());
    const auto id = trainTiny(*store, TrainMode::Greedy);
    QVERIFY(id > 0);
    store.close();
    test::downgradeToBeforePictures(store.path()); // what Layerwise wrote before pictures existed
    QVERIFY(store.reopen());

    PicturesPanel panel(store.get());
    panel.resize(900, 600);
    panel.show();
    panel.showRun(id);
    QVERIFY(panel.stages().isEmpty());
    QVERIFY(panel.computeButton()->isVisibleTo(&panel));
    QVERIFY(panel.computeButton()->isEnabled());
    QVERIFY(panel.messageLabel()->text().contains("no pictures"));

    QSignalSpy done(&panel, &PicturesPanel::computeFinished);
    QTest::mouseClick(panel.computeButton(), Qt::LeftButton);
    QVERIFY(panel.isComputing() || done.count() == 1);
    QVERIFY(done.wait(120000) || done.count() == 1);
    QCOMPARE(done.first().at(1).toString(), QString());
    QCOMPARE(panel.stages(), (QList<int>{0, 1, 2}));
    QVERIFY(!panel.computeButton()->isVisibleTo(&panel));
    QCOMPARE(panel.stage(), 2); // the last stage first
    QVERIFY(hasColorMap(panel.plots()->confusionPlot()));
    // Drawn in its own gradient and range, shares of a row from 0 to 1 (regression: the colour
    // scale, attached last, replaced them with its default blues and range).
    auto *map = qobject_cast<QCPColorMap *>(panel.plots()->confusionPlot()->plottable(0));
    QVERIFY(map && map->colorScale());
    QCOMPARE(map->dataRange().lower, 0.0);
    QCOMPARE(map->dataRange().upper, 1.0);
    QCOMPARE(map->colorScale()->dataRange().upper, 1.0);
    QCOMPARE(map->gradient().color(0.0, QCPRange(0, 1)), QColor(68, 1, 84).rgb()); // viridis
    QCOMPARE(panel.plots()->projectionPlot()->graphCount(), 4); // one graph per class
    QCOMPARE(panel.plots()->projectionPlot()->graph(0)->name(), QStringLiteral("class 0"));

    // Every picture exports as PNG, SVG and PDF, its numbers as CSV.
    QTemporaryDir out;
    QString error;
    for (int tab = 0; tab < panel.plots()->count(); ++tab) {
        panel.plots()->setCurrentIndex(tab);
        for (const char *suffix : {"png", "svg", "pdf"}) {
            const QString path = out.filePath(QStringLiteral("p%1.%2").arg(tab).arg(suffix));
            QVERIFY2(panel.exportPicture(path, &error), qPrintable(error));
            QVERIFY(QFileInfo(path).size() > 0);
        }
        const QString csv = out.filePath(QStringLiteral("p%1.csv").arg(tab));
        QVERIFY2(panel.exportCsv(csv, &error), qPrintable(error));
        QVERIFY(QFileInfo(csv).size() > 0);
    }
    panel.plots()->setCurrentIndex(0);
    QVERIFY(panel.plots()->currentCsv().startsWith("true,class 0,class 1"));
}

void TestInspectGui::twoRunsSideBySide()
{
    test::TempStore store;
    QVERIFY(store.ok());
    const auto greedy = trainTiny(*store, TrainMode::Greedy);
    const auto e2e = trainTiny(*store, TrainMode::EndToEnd);
    QVERIFY(greedy > 0 && e2e > 0);

    RunPicturesView view;
    view.resize(1400, 700);
    view.setStore(std::shared_ptr<RunStore>(store.get(), [](RunStore *) {}));
    view.show();
    view.setRuns({greedy});
    QCOMPARE(view.stack()->currentWidget(), static_cast<QWidget *>(view.panel()));
    QCOMPARE(view.panel()->stages(), (QList<int>{0, 1, 2}));
    view.setRuns({greedy, e2e});
    QCOMPARE(view.stack()->currentWidget(), static_cast<QWidget *>(view.compare()));
    auto *cmp = view.compare();
    QCOMPARE(cmp->stageCombo()->count(), 3);
    cmp->setStage(2);
    QVERIFY(hasColorMap(cmp->leftPlots()->confusionPlot()));
    QVERIFY(hasColorMap(cmp->rightPlots()->confusionPlot()));
    QVERIFY(hasColorMap(cmp->differencePlot()));
    // The end-to-end run has no trained head at stage 1: no difference there, and it says so.
    cmp->setStage(0);
    QVERIFY(!hasColorMap(cmp->differencePlot()));
    QVERIFY(cmp->messageLabel()->text().contains("no trained head"));
    QCOMPARE(cmp->rightPlots()->projectionPlot()->graphCount(), 4);
    // The same picture on both sides.
    cmp->leftPlots()->setCurrentIndex(1);
    QCOMPARE(cmp->rightPlots()->currentIndex(), 1);
    view.setRuns({});
    QCOMPARE(view.stack()->currentIndex(), 0);
}

void TestInspectGui::liveInTheTrainSession()
{
    test::TempStore store;
    QVERIFY(store.ok());
    TrainSession session(store.get());
    PicturesPanel panel(store.get());
    panel.followSession(&session);
    QSignalSpy finished(&session, &TrainSession::finished);
    QSignalSpy pictures(&session, &TrainSession::picturesReady);
    NewRunRequest request;
    request.spec = test::tinySpec(1);
    request.exec.device = "cpu";
    request.exec.threads = 2;
    QVERIFY2(session.start(request), qPrintable(session.errorString()));
    QVERIFY(finished.wait(120000));
    QCOMPARE(pictures.count(), 3);
    QCOMPARE(panel.runId(), qint64(session.runId()));
    QCOMPARE(panel.stages(), (QList<int>{0, 1, 2}));
    QCOMPARE(panel.stage(), 2);
    QVERIFY(hasColorMap(panel.plots()->confusionPlot()));
}

void TestInspectGui::picksATestImage()
{
    test::TempStore store;
    QVERIFY(store.ok());
    const auto id = trainTiny(*store, TrainMode::Greedy);
    QVERIFY(id > 0);
    PicturesPanel panel(store.get());
    panel.resize(1000, 650);
    panel.show();
    panel.showRun(id);
    auto *plots = panel.plots();
    QVERIFY(!plots->imageMaps());
    QVERIFY(panel.imageSpin()->isEnabled());
    QVERIFY(panel.imageSpin()->maximum() >= 200); // the test images the pictures name

    // By number: the spin box and its button; computed off the GUI thread.
    QSignalSpy shown(&panel, &PicturesPanel::imageShown);
    panel.imageSpin()->setValue(3);
    QTest::mouseClick(panel.imageButton(), Qt::LeftButton);
    QVERIFY(shown.count() == 1 || shown.wait(120000));
    QCOMPARE(shown.last().at(0).toLongLong(), qint64(3));
    QCOMPARE(shown.last().at(1).toString(), QString());
    QVERIFY(plots->imageMaps());
    QCOMPARE(plots->imageMaps()->sample, qint64(3));
    QCOMPARE(int(plots->imageMaps()->stages.size()), 3);
    QCOMPARE(plots->mapsPlot()->itemCount(), 1); // the picture of the image through the stages
    QVERIFY(!panel.imageThumb()->pixmap().isNull());
    QCOMPARE(panel.imageSpin()->maximum(), 255); // the run's test set, once its network loaded
    plots->setCurrentWidget(plots->mapsTab());
    QCOMPARE(plots->currentPlot(), plots->mapsPlot());
    QVERIFY(plots->currentCsv().contains("\"sample\": 3"));

    // By clicking the first hard error of the stage shown.
    plots->setCurrentWidget(plots->errorsPlot());
    QApplication::processEvents();
    plots->errorsPlot()->replot();
    const auto &errors = plots->pictures().hardErrors.errors;
    QVERIFY(!errors.empty());
    const QPoint first = plots->errorsPlot()->axisRect()->rect().topLeft() + QPoint(5, 5);
    QTest::mouseClick(plots->errorsPlot(), Qt::LeftButton, {}, first);
    QVERIFY(shown.count() == 2 || shown.wait(120000));
    QCOMPARE(shown.last().at(0).toLongLong(), errors.front().sample);
    QCOMPARE(plots->imageMaps()->sample, errors.front().sample);
    QCOMPARE(plots->currentWidget(), plots->mapsTab());

    // Back to one image per class; and a number outside the test set says so.
    panel.showImagesPerClass();
    QVERIFY(!plots->imageMaps());
    QVERIFY(panel.showImage(100000));
    QVERIFY(shown.count() == 3 || shown.wait(120000));
    QVERIFY2(shown.last().at(1).toString().contains("0..255"),
             qPrintable(shown.last().at(1).toString()));
    QVERIFY(!plots->imageMaps());
}

QTEST_MAIN(TestInspectGui)
#include "tst_inspect_gui.moc"
