// What the GUI shows is the truth about the run (issue 19, items 1-5): a stopped and resumed run
// goes on as it was made (probes kept and continued, progress and stage cards right), a run's
// state and elapsed time read the same in the Train view, the Runs view and the CLI, the
// end-to-end twin shows the epochs and schedule it trains, Train This keeps the user's data
// choices while a stored run's own settings show read-only, and actions act on the view that
// shows.

#include "core/store/runstore.h"
#include "tests/support/support.h"
#include "ui/designer/designview.h"
#include "ui/mainwindow.h"
#include "ui/runs/runstablemodel.h"
#include "ui/runs/runsview.h"
#include "ui/train/archdiagram.h"
#include "ui/train/plots.h"
#include "ui/train/trainsession.h"
#include "ui/train/trainview.h"

#include <QAction>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QToolButton>
#include <QtTest>

#include <cmath>
#include <memory>

using namespace lw;

class TestRunState : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::unique_ptr<MainWindow> m_window;
    TrainView *m_view = nullptr;

    /// The tiny spec in the Train view, greedy, one thread; Start enabled.
    void prepare(const Spec &spec)
    {
        m_view->setSpec(spec, QStringLiteral("tiny"));
        m_view->modeCombo()->setCurrentIndex(m_view->modeCombo()->findData("greedy"));
        m_view->threadsSpin()->setValue(1);
        QTRY_VERIFY_WITH_TIMEOUT(m_view->startButton()->isEnabled(), 20000);
    }

    RunDetail stored(qint64 id)
    {
        auto d = m_window->store()->getRun(id);
        if (!d)
            qWarning("%s", d.message().c_str());
        return d ? *d : RunDetail{};
    }

    /// The window as it is, at 1280x720 and at 1920x1080, under the build folder's screenshots/.
    void shoot(const QString &name)
    {
        const QString dir = QStringLiteral(LW_TEST_BUILD_DIR "/screenshots");
        QDir().mkpath(dir);
        const QSize was = m_window->size();
        for (const QSize size : {QSize(1280, 720), QSize(1920, 1080)}) {
            m_window->resize(size);
            QTest::qWait(50);
            QCoreApplication::processEvents();
            QVERIFY(m_window->grab().save(QStringLiteral("%1/%2-%3x%4.png")
                                              .arg(dir, name)
                                              .arg(size.width())
                                              .arg(size.height())));
        }
        m_window->resize(was);
    }

    /// The Runs view's status text of run `id`.
    QString runsViewStatus(qint64 id)
    {
        RunsView *runs = m_window->runsView();
        runs->refreshNow();
        RunsTableModel *model = runs->model();
        for (int row = 0; row < model->rowCount(); ++row)
            if (model->runAt(row).id == id)
                return model->index(row, RunsTableModel::Status).data().toString();
        return {};
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("LayerwiseTest"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_runstate"));
    }

    void init()
    {
        MainWindowOptions options;
        options.db = m_dir.filePath(QStringLiteral("%1.sqlite").arg(QTest::currentTestFunction()));
        m_window = std::make_unique<MainWindow>(options);
        m_window->resize(1400, 880);
        m_window->show();
        QVERIFY(QTest::qWaitForWindowExposed(m_window.get()));
        QVERIFY2(m_window->store(), qPrintable(m_window->storeError()));
        m_view = m_window->trainView();
    }

    void cleanup()
    {
        if (m_view && m_view->isRunning()) {
            m_view->stopTraining();
            QTRY_VERIFY_WITH_TIMEOUT(!m_view->isRunning(), 60000);
        }
        m_window.reset();
        m_view = nullptr;
    }

    void stopThenResumeKeepsProbesAndState()
    {
        // Item 1: a greedy run probing every layer, stopped once layer 2's probe is stored.
        Spec spec = test::tinySpec(2);
        spec.recipe.dataset.trainLimit = 2048;
        spec.recipe.batchSize = 32;
        prepare(spec);
        QTest::mouseClick(m_view->probesCheck(), Qt::LeftButton);
        QVERIFY(m_view->probesCheck()->isChecked());
        TrainSession *session = m_view->session();
        connect(session, &TrainSession::probeFinished, this, [this](const ProbeResult &p) {
            if (p.layer == 1 && m_view->stopButton()->isEnabled())
                QTest::mouseClick(m_view->stopButton(), Qt::LeftButton);
        });
        QSignalSpy finished(m_view, &TrainView::runFinished);
        QTest::mouseClick(m_view->startButton(), Qt::LeftButton);
        QVERIFY(finished.wait(120000));
        session->disconnect(this);
        const qint64 id = finished.first().at(0).toLongLong();
        QCOMPARE(int(finished.first().at(1).value<RunStatus>()), int(RunStatus::Cancelled));
        RunDetail d = stored(id);
        QCOMPARE(int(d.probes.size()), 2);
        QVERIFY(d.run.probes);
        // After Stop no stage card is highlighted as training; the state reads "stopped".
        QCOMPARE(m_view->archDiagram()->currentStage(), -1);
        QVERIFY2(m_view->runLabel()->text().contains(QStringLiteral("stopped")),
                 qPrintable(m_view->runLabel()->text()));
        QCOMPARE(runsViewStatus(id), QStringLiteral("stopped"));
        // The resume dialog names its state as people read it.
        QList<std::int64_t> ids;
        const QStringList choices = m_view->resumeChoices(*m_window->store()->listRuns(), &ids);
        QCOMPARE(ids, QList<std::int64_t>{id});
        QVERIFY2(choices.first().contains(QStringLiteral("stopped")), qPrintable(choices.first()));
        QVERIFY(!choices.first().contains(QStringLiteral("cancelled")));
        // The stored active time is what the Train view said.
        QVERIFY2(std::abs(d.run.wallSeconds - m_view->elapsedSeconds()) < 0.05,
                 qPrintable(QStringLiteral("store %1 s, Train view %2 s")
                                .arg(d.run.wallSeconds)
                                .arg(m_view->elapsedSeconds())));
        const double atStop = d.run.wallSeconds;

        // Resume with the probes box cleared: the run goes on as it was made.
        m_view->probesCheck()->setChecked(false);
        QSignalSpy started(session, &TrainSession::runStarted);
        QSignalSpy finished2(m_view, &TrainView::runFinished);
        QVERIFY2(m_view->resumeStoredRun(id), qPrintable(m_view->errorString()));
        // Its own settings, read-only, with a way to start a new run from them.
        QCOMPARE(m_view->shownRun(), id);
        QVERIFY(m_view->probesCheck()->isChecked());
        QVERIFY(!m_view->probesCheck()->isEnabled());
        QVERIFY(m_view->newRunFromShownButton()->isVisibleTo(m_view));
        // The session emits runStarted on its worker thread, and the spy counts it at once: on a
        // slow machine (ASan) that happens before the wait begins.
        QVERIFY(started.count() > 0 || started.wait(60000));
        QCoreApplication::processEvents();
        // Active time goes on from the stop (the stop came while layer 2 was probed, after the
        // last checkpoint): it never goes backwards.
        QVERIFY2(m_view->elapsedSeconds() >= atStop - 1e-6,
                 qPrintable(QStringLiteral("resumed at %1 s, stopped at %2 s")
                                .arg(m_view->elapsedSeconds())
                                .arg(atStop)));
        // The stored probes stay on the depth plot and the run bar starts where the run stood.
        QCOMPARE(m_view->depthPlot()->probeCount(), 2);
        QVERIFY2(m_view->runProgress()->value() >= m_view->runProgress()->maximum() / 2,
                 qPrintable(QString::number(m_view->runProgress()->value())));
        QVERIFY(finished2.wait(120000));
        QCOMPARE(int(finished2.first().at(1).value<RunStatus>()), int(RunStatus::Finished));
        d = stored(id);
        QCOMPARE(int(d.run.status), int(RunStatus::Finished));
        // Every layer probed, the earlier ones kept: layers 1, 2, 3 after their stages.
        QCOMPARE(int(d.probes.size()), 3);
        for (int j = 0; j < 3; ++j) {
            QCOMPARE(d.probes[std::size_t(j)].layer, j);
            QCOMPARE(d.probes[std::size_t(j)].afterStage, j);
        }
        QCOMPARE(m_view->depthPlot()->probeCount(), 3);
        QCOMPARE(m_view->runProgress()->value(), m_view->runProgress()->maximum());
        // One start marker per stage (none drawn twice by the resume).
        m_view->timeline()->flush();
        const QStringList markers = m_view->timeline()->markerLabels();
        for (int s = 1; s <= 3; ++s)
            QCOMPARE(markers.count(QStringLiteral("stage %1").arg(s)), 1);
        QVERIFY(std::abs(d.run.wallSeconds - m_view->elapsedSeconds()) < 0.05);
        QVERIFY(d.run.wallSeconds > atStop);
        QVERIFY(m_view->progressLabel()->text().contains(QStringLiteral("elapsed")));
    }

    void pausedRunReadsPausedEverywhere()
    {
        // Item 2: one definition of each state and of elapsed (active) time.
        Spec spec = test::tinySpec(3);
        spec.recipe.dataset.trainLimit = 8192;
        spec.recipe.batchSize = 32;
        prepare(spec);
        QSignalSpy epochs(m_view->session(), &TrainSession::epochFinished);
        QTest::mouseClick(m_view->startButton(), Qt::LeftButton);
        QVERIFY(m_view->isRunning());
        QVERIFY(epochs.wait(60000));
        const qint64 id = m_view->session()->runId();
        QTest::mouseClick(m_view->pauseButton(), Qt::LeftButton);
        QVERIFY(m_view->isPaused());
        QTest::qWait(300); // the batch in progress ends
        QCOMPARE(runsViewStatus(id), QStringLiteral("paused"));
        QVERIFY(stored(id).run.paused);
        const auto cli = test::runCli({"runs", "list", "--db", m_window->storePath()});
        QVERIFY2(cli.out.contains(QStringLiteral("paused")), qPrintable(cli.out));
        QVERIFY(m_view->runLabel()->text().contains(QStringLiteral("paused")));
        // Paused time is not active time.
        const double atPause = m_view->elapsedSeconds();
        QTest::qWait(1500);
        QVERIFY2(m_view->elapsedSeconds() - atPause < 0.2,
                 qPrintable(QStringLiteral("%1 -> %2").arg(atPause).arg(m_view->elapsedSeconds())));
        QTest::mouseClick(m_view->pauseButton(), Qt::LeftButton);
        QVERIFY(!m_view->isPaused());
        QCOMPARE(runsViewStatus(id), QStringLiteral("running"));
        QVERIFY(epochs.wait(60000));
        QSignalSpy finished(m_view, &TrainView::runFinished);
        QTest::mouseClick(m_view->stopButton(), Qt::LeftButton);
        QVERIFY(finished.wait(60000));
        const RunDetail d = stored(id);
        QVERIFY(!d.run.paused);
        QCOMPARE(runsViewStatus(id), QStringLiteral("stopped"));
        // The Runs view's wall time and the Train view's elapsed are one number, without the
        // 1.5 s pause.
        QVERIFY2(std::abs(d.run.wallSeconds - m_view->elapsedSeconds()) < 0.05,
                 qPrintable(QStringLiteral("store %1 s, Train view %2 s")
                                .arg(d.run.wallSeconds)
                                .arg(m_view->elapsedSeconds())));
        double epochSum = 0;
        const auto history = m_window->store()->history(id); // outlives the loop
        QVERIFY(history);
        for (const EpochMetrics &e : history->epochs)
            epochSum += e.seconds;
        QVERIFY(d.run.wallSeconds >= epochSum);
        QCOMPARE(m_view->archDiagram()->currentStage(), -1);
    }

    void endToEndShowsWhatTrains()
    {
        // Item 3: the end-to-end twin's epochs and schedule are the ones shown.
        Spec spec = test::tinySpec(2);
        spec.recipe.e2e.epochs = 3;
        spec.recipe.e2e.lr.milestones = {2};
        prepare(spec);
        m_view->modeCombo()->setCurrentIndex(m_view->modeCombo()->findData("e2e"));
        QVERIFY(!m_view->epochsSpin()->isVisibleTo(m_view));
        QVERIFY(m_view->e2eEpochsSpin()->isVisibleTo(m_view));
        QCOMPARE(m_view->e2eEpochsSpin()->value(), 3);
        QVERIFY2(m_view->scheduleLabel()->text().contains(QStringLiteral("after epoch 2 (of 3)")),
                 qPrintable(m_view->scheduleLabel()->text()));
        shoot(QStringLiteral("train-e2e"));
        // Fewer epochs than the milestone: it is dropped, and the view says so.
        m_view->e2eEpochsSpin()->setValue(2);
        QCOMPARE(m_view->effectiveSpec().recipe.e2e.epochs, 2);
        QVERIFY(m_view->effectiveSpec().recipe.e2e.lr.milestones.empty());
        QVERIFY2(m_view->scheduleLabel()->text().contains(QStringLiteral("constant")),
                 qPrintable(m_view->scheduleLabel()->text()));
        QTRY_VERIFY_WITH_TIMEOUT(m_view->startButton()->isEnabled(), 20000);
        QSignalSpy epochs(m_view->session(), &TrainSession::epochFinished);
        QSignalSpy finished(m_view, &TrainView::runFinished);
        QTest::mouseClick(m_view->startButton(), Qt::LeftButton);
        QVERIFY(finished.wait(120000));
        QCOMPARE(epochs.count(), 2); // what was shown is what trained
        const RunDetail d = stored(finished.first().at(0).toLongLong());
        QCOMPARE(parseSpec(d.specJson)->recipe.e2e.epochs, 2);
        // Back in greedy mode the per-stage field returns.
        m_view->modeCombo()->setCurrentIndex(m_view->modeCombo()->findData("greedy"));
        QVERIFY(m_view->epochsSpin()->isVisibleTo(m_view));
        QVERIFY(!m_view->e2eEpochsSpin()->isVisibleTo(m_view));

        // The Design view's recipe: a milestone past the last epoch is an error, named there.
        DesignView *design = m_window->designView();
        Spec bad = test::tinySpec(2);
        bad.recipe.e2e.epochs = 6;
        bad.recipe.e2e.lr.milestones = {9, 12};
        design->setSpec(bad, QStringLiteral("late milestones"));
        QVERIFY(!design->isValid());
        QVERIFY(!design->trainAction()->isEnabled());
        auto *issues = design->findChild<QLabel *>(QStringLiteral("recipeIssues"));
        QVERIFY(issues);
        QVERIFY2(issues->text().contains(QStringLiteral("recipe.e2e.lr.milestones[0]")),
                 qPrintable(issues->text()));
        QVERIFY(issues->text().contains(QStringLiteral("past the last epoch")));
        auto *edit = design->findChild<QLineEdit *>(QStringLiteral("e2eLrMilestones"));
        QVERIFY(edit);
        QVERIFY(edit->toolTip().contains(QStringLiteral("past the last epoch")));
        m_window->showPlace(MainWindow::Place::Design);
        if (auto *tabs = design->findChild<QTabWidget *>())
            if (auto *recipe = design->findChild<QWidget *>(QStringLiteral("recipePanel")))
                tabs->setCurrentWidget(recipe);
        shoot(QStringLiteral("design-late-milestones"));
    }

    void trainThisKeepsTheDataChoices()
    {
        // Item 4: Train This takes the architecture, not the user's subset and epochs.
        prepare(test::tinySpec(2));
        m_view->trainLimitSpin()->setValue(300);
        m_view->epochsSpin()->setValue(5);
        DesignView *design = m_window->designView();
        Spec wider = test::tinySpec(2);
        wider.stages[2].width = 48;
        design->setSpec(wider, QStringLiteral("wider"));
        design->trainAction()->trigger();
        QCOMPARE(m_window->place(), MainWindow::Place::Train);
        QCOMPARE(m_view->effectiveSpec().stages[2].width, 48);
        QCOMPARE(m_view->trainLimitSpin()->value(), 300);
        QCOMPARE(m_view->epochsSpin()->value(), 5);
        QCOMPARE(m_view->effectiveSpec().recipe.dataset.trainLimit, std::int64_t(300));
        // A field the design itself changes takes the design's value.
        Spec longer = wider;
        longer.recipe.epochsPerStage = 7;
        design->setSpec(longer, QStringLiteral("longer"));
        design->trainAction()->trigger();
        QCOMPARE(m_view->epochsSpin()->value(), 7);
        QCOMPARE(m_view->trainLimitSpin()->value(), 300);

        // A stored run shown (Run probes): its own settings, read-only; then a new run from them.
        m_view->epochsSpin()->setValue(1);
        m_view->trainLimitSpin()->setValue(256);
        QTRY_VERIFY_WITH_TIMEOUT(m_view->startButton()->isEnabled(), 20000);
        QSignalSpy finished(m_view, &TrainView::runFinished);
        QTest::mouseClick(m_view->startButton(), Qt::LeftButton);
        QVERIFY(finished.wait(120000));
        const qint64 id = finished.first().at(0).toLongLong();
        m_view->trainLimitSpin()->setValue(100); // the user moves on...
        QSignalSpy probed(m_view, &TrainView::probesFinished);
        QVERIFY2(m_view->probeStoredRun(id), qPrintable(m_view->errorString()));
        QCOMPARE(m_view->shownRun(), id); // ...the run shown brings its own settings
        QCOMPARE(m_view->trainLimitSpin()->value(), 256);
        QCOMPARE(m_view->epochsSpin()->value(), 1);
        QVERIFY(!m_view->epochsSpin()->isEnabled());
        QVERIFY(m_view->shownRunLabel()->text().contains(QStringLiteral("Run %1").arg(id)));
        QVERIFY(probed.wait(120000));
        shoot(QStringLiteral("train-shown-run"));
        QVERIFY(!m_view->startButton()->isEnabled());
        QVERIFY2(m_view->startProblem().contains(QStringLiteral("New Run from These Settings")),
                 qPrintable(m_view->startProblem()));
        QTest::mouseClick(m_view->newRunFromShownButton(), Qt::LeftButton);
        QCOMPARE(m_view->shownRun(), qint64(-1));
        QVERIFY(m_view->epochsSpin()->isEnabled());
        QVERIFY(m_view->nameEdit()->text().isEmpty());
        QTRY_VERIFY_WITH_TIMEOUT(m_view->startButton()->isEnabled(), 20000);
        QCOMPARE(m_view->trainLimitSpin()->value(), 256);

        // GUI words: a dataset without its folder names no command-line flag.
        m_view->setDataset(QStringLiteral("cifar10"), m_dir.filePath(QStringLiteral("nothing")));
        QTRY_VERIFY_WITH_TIMEOUT(!m_view->checkingData(), 20000);
        QVERIFY(!m_view->dataStatus()->text().contains(QStringLiteral("--")));
    }

    void actionsFollowTheView()
    {
        // Item 5: Edit acts on the design only while it shows; keys mean one thing per view.
        DesignView *design = m_window->designView();
        m_window->showPlace(MainWindow::Place::Design);
        Spec edited = design->spec();
        edited.recipe.seed += 1;
        design->editSpec(edited, QStringLiteral("seed"));
        QVERIFY(design->undoAction()->isEnabled());
        const Spec afterEdit = design->spec();

        m_window->showPlace(MainWindow::Place::Runs);
        QVERIFY(!design->undoAction()->isEnabled());
        QVERIFY(!design->redoAction()->isEnabled());
        QVERIFY(!design->deleteAction()->isEnabled());
        QVERIFY(!design->addStageAction()->isEnabled());
        QTest::keyClick(m_window.get(), Qt::Key_Z, Qt::ControlModifier);
        QVERIFY(design->spec() == afterEdit);
        QVERIFY(design->openAction()->shortcut().isEmpty());
        QVERIFY(m_view->openSpecAction()->shortcut().isEmpty());

        m_window->showPlace(MainWindow::Place::Train);
        QVERIFY(!design->undoAction()->isEnabled());
        QCOMPARE(m_view->openSpecAction()->shortcut(), QKeySequence(QKeySequence::Open));
        QVERIFY(design->openAction()->shortcut().isEmpty());

        m_window->showPlace(MainWindow::Place::Design);
        QVERIFY(design->undoAction()->isEnabled());
        QCOMPARE(design->openAction()->shortcut(), QKeySequence(QKeySequence::Open));
        QVERIFY(m_view->openSpecAction()->shortcut().isEmpty());
        design->undoAction()->trigger();
        QVERIFY(!(design->spec() == afterEdit));

        // In every view, a key belongs to at most one enabled action.
        for (auto place :
             {MainWindow::Place::Design, MainWindow::Place::Train, MainWindow::Place::Runs}) {
            m_window->showPlace(place);
            QMultiHash<QKeySequence, QString> owners;
            for (QAction *a : m_window->findChildren<QAction *>())
                for (const QKeySequence &key : a->shortcuts())
                    if (a->isEnabled() && a->shortcutContext() == Qt::WindowShortcut)
                        owners.insert(key, a->text());
            for (const QKeySequence &key : owners.uniqueKeys())
                QVERIFY2(owners.count(key) == 1,
                         qPrintable(key.toString() + ": " + owners.values(key).join(", ")));
        }
        // F5 is the Runs view's Refresh, not Start; Ctrl+Return starts in the Train view.
        QVERIFY(!m_view->startAction()->shortcuts().contains(QKeySequence(Qt::Key_F5)));
        m_window->showPlace(MainWindow::Place::Train);
        QCOMPARE(m_view->startAction()->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_Return));
        QVERIFY(design->trainAction()->shortcut().isEmpty());
        // Quit and Save As are the platform's standard keys.
        auto *quit = m_window->findChild<QAction *>(QStringLiteral("quitAction"));
        QVERIFY(quit);
        QCOMPARE(quit->shortcut(), QKeySequence(QKeySequence::Quit));
        QCOMPARE(design->saveAsAction()->shortcut(), QKeySequence(QKeySequence::SaveAs));

        // With no run yet, the Runs view says how to make one.
        m_window->showPlace(MainWindow::Place::Runs);
        auto *empty
            = m_window->runsView()->findChild<QLabel *>(QStringLiteral("compareEmptyLabel"));
        QVERIFY(empty);
        QVERIFY2(empty->text().contains(QStringLiteral("Start Training")),
                 qPrintable(empty->text()));
        shoot(QStringLiteral("runs-empty"));
    }
};

QTEST_MAIN(TestRunState)
#include "tst_runstate.moc"
