// The GUI launches and watches a multi-process run (issue 16, item 5): the Train view's
// Processes field starts ranks 2..N as layerwise-cli workers, the run is one run in the store
// (world size 2, gloo) that the Runs view shows and sorts, and Stop ends every rank: no worker
// is left running. Gloo on loopback, 2 processes x 1 thread, a few seconds of training. A DGL
// run's Placement and Replay buffer fields (shown in DGL mode) reach the engine's ExecOptions,
// and a DGL pipeline (stage j on process j) trains from the GUI.

#include "core/run/runservice.h"
#include "core/runtime/runtime.h"
#include "core/store/runstore.h"
#include "core/train/trainer.h"
#include "tests/support/support.h"
#include "ui/mainwindow.h"
#include "ui/runs/runstablemodel.h"
#include "ui/runs/runsview.h"
#include "ui/train/processesfield.h"
#include "ui/train/trainsession.h"
#include "ui/train/trainview.h"

#include <QAction>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QPlainTextEdit>
#include <QScrollArea>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTableView>
#include <QTemporaryDir>
#include <QToolButton>
#include <QtTest>

#include <cerrno>
#include <csignal>
#include <fstream>
#include <memory>
#include <unistd.h>

using namespace lw;

namespace {

/// The child processes of this process, whichever of its threads started them (Linux /proc).
QList<pid_t> ourChildren()
{
    QList<pid_t> out;
    const QString self = QStringLiteral("/proc/%1/task").arg(::getpid());
    for (const QString &tid : QDir(self).entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
        std::ifstream in(
            (self + QLatin1Char('/') + tid + QStringLiteral("/children")).toStdString());
        pid_t c = 0;
        while (in >> c)
            out << c;
    }
    return out;
}

bool alive(pid_t pid)
{
    return ::kill(pid, 0) == 0 || errno != ESRCH;
}

} // namespace

class TestGuiDist : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::unique_ptr<MainWindow> m_window;
    TrainView *m_view = nullptr;

    /// The tiny spec with `trainImages` images in the Train view, greedy, 1 thread per process,
    /// `processes` processes; Start enabled.
    void prepare(int epochs, int trainImages, int processes)
    {
        Spec spec = test::tinySpec(epochs);
        spec.recipe.dataset.trainLimit = trainImages;
        m_view->setSpec(spec, QStringLiteral("tiny"));
        m_view->modeCombo()->setCurrentIndex(m_view->modeCombo()->findData("greedy"));
        m_view->threadsSpin()->setValue(1);
        m_view->processesSpin()->setValue(processes);
        m_view->session()->setWorkerProgram(QStringLiteral(LW_CLI_PATH));
        QTRY_VERIFY_WITH_TIMEOUT(m_view->startButton()->isEnabled(), 20000);
    }

    /// `spec` in the Train view in DGL mode, 1 thread per process, `processes` processes.
    void prepareDgl(const Spec &spec, int processes)
    {
        m_view->setSpec(spec, QStringLiteral("tiny"));
        m_view->modeCombo()->setCurrentIndex(m_view->modeCombo()->findData("dgl"));
        m_view->threadsSpin()->setValue(1);
        m_view->processesSpin()->setValue(processes);
        m_view->session()->setWorkerProgram(QStringLiteral(LW_CLI_PATH));
    }

    /// Chooses `placement` in the Placement field as a person does (the field's `activated`).
    void choosePlacement(Placement placement)
    {
        QComboBox *combo = m_view->placementCombo();
        const int i = combo->findData(QString::fromLatin1(toString(placement)));
        QVERIFY(i >= 0);
        combo->setCurrentIndex(i);
        emit combo->activated(i);
    }

    /// The tiny spec with its first `stages` stages.
    static Spec tinyStages(int stages, int epochs = 1)
    {
        Spec spec = test::tinySpec(epochs);
        spec.stages.resize(std::size_t(stages));
        return spec;
    }

    /// Run `id`'s row in the Runs view, -1 when it is not there.
    int runsViewRow(qint64 id)
    {
        RunsView *runs = m_window->runsView();
        runs->refreshNow();
        return runs->model()->rowOfRun(id);
    }

    /// The window at 1280x720 under the build folder's screenshots/ (for people to look at).
    void shoot(const QString &name)
    {
        const QString dir = QStringLiteral(LW_TEST_BUILD_DIR "/screenshots");
        QDir().mkpath(dir);
        const QSize was = m_window->size();
        m_window->resize(1280, 720);
        QTest::qWait(50);
        QCoreApplication::processEvents();
        QVERIFY(m_window->grab().save(QStringLiteral("%1/%2-1280x720.png").arg(dir, name)));
        m_window->resize(was);
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("LayerwiseTest"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_guidist"));
        // A rank that fails is noticed within 30 s (the default is 120 s).
        qputenv("LAYERWISE_DIST_TIMEOUT", "30");
    }

    void init()
    {
        MainWindowOptions options;
        options.db = m_dir.filePath(QStringLiteral("%1%2.sqlite")
                                        .arg(QLatin1String(QTest::currentTestFunction()),
                                             QLatin1String(QTest::currentDataTag())));
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
        QVERIFY2(ourChildren().isEmpty(), "a worker process outlived its run");
    }

    void processesFieldOffersTheCores()
    {
        QSpinBox *spin = m_view->processesSpin();
        QCOMPARE(spin->value(), 1);
        QCOMPARE(spin->minimum(), 1);
        QVERIFY(spin->maximum() >= 1);
        QVERIFY(spin->toolTip().contains(QStringLiteral("batch / N")));
        QVERIFY(spin->toolTip().contains(QStringLiteral("cores / N")));
    }

    void placementFieldsFollowModeAndProcesses()
    {
        QComboBox *placement = m_view->placementCombo();
        QSpinBox *replay = m_view->replayBufferSpin();
        QSpinBox *processes = m_view->processesSpin();
        QCOMPARE(placement->objectName(), QStringLiteral("placementCombo"));
        QCOMPARE(replay->objectName(), QStringLiteral("replayBufferSpin"));
        QVERIFY(placement->toolTip().contains(QStringLiteral("stage j trains on process j")));
        QVERIFY(placement->toolTip().contains(QStringLiteral("as many processes as the spec has "
                                                             "stages")));
        QVERIFY(replay->toolTip().contains(QStringLiteral("input activations")));
        QCOMPARE(replay->minimum(), 0);
        QCOMPARE(replay->maximum(), kMaxReplayBuffer);
        QCOMPARE(replay->text(), QStringLiteral("off (synchronous)"));

        // Greedy and end-to-end: no placement rows (every process trains every stage).
        prepare(1, 256, 2);
        QVERIFY(placement->isHidden());
        QVERIFY(replay->isHidden());
        m_view->modeCombo()->setCurrentIndex(m_view->modeCombo()->findData("e2e"));
        QVERIFY(placement->isHidden());
        QCOMPARE(int(m_view->execOptions().placement), int(Placement::Data));

        // DGL: shown; the placement enabled with N > 1 processes, the replay buffer with the
        // pipeline.
        const Spec three = test::tinySpec(1);
        prepareDgl(three, 1);
        QVERIFY(!placement->isHidden());
        QVERIFY(!replay->isHidden());
        QVERIFY(!placement->isEnabled());
        QVERIFY(!replay->isEnabled());
        processes->setValue(2);
        QVERIFY(placement->isEnabled());
        QCOMPARE(int(placementOf(placement)), int(Placement::Data));
        QVERIFY(!replay->isEnabled());
        QCOMPARE(processes->maximum(), std::max(1, runtimeInfo().cores));

        // The pipeline with a process count other than the stages: checkPlacement's words.
        placement->setCurrentIndex(placement->findData(QStringLiteral("pipeline")));
        QVERIFY(replay->isEnabled());
        const QString expected = QString::fromStdString(
            checkPlacement(three, TrainMode::Decoupled, Placement::Pipeline, 2).message());
        QVERIFY(!expected.isEmpty());
        QVERIFY2(m_view->startProblem().contains(expected), qPrintable(m_view->startProblem()));
        QVERIFY(!m_view->startButton()->isEnabled());
        QVERIFY(!m_view->startTraining());
        QVERIFY(m_view->errorString().contains(expected));

        // Choosing the pipeline sets one process per stage, beyond the cores if need be.
        placement->setCurrentIndex(0);
        choosePlacement(Placement::Pipeline);
        QCOMPARE(processes->value(), 3);
        QVERIFY(processes->maximum() >= 3);
        QTRY_VERIFY_WITH_TIMEOUT(m_view->startButton()->isEnabled(), 20000);
        QVERIFY2(m_view->startProblem().isEmpty(), qPrintable(m_view->startProblem()));
        // The pipeline trains the whole batch on each stage's process: no batch / N rule.
        m_view->batchSpin()->setValue(65);
        QVERIFY2(m_view->startProblem().isEmpty(), qPrintable(m_view->startProblem()));
        m_view->batchSpin()->setValue(64);
        replay->setValue(4);
        ExecOptions exec = m_view->execOptions();
        QCOMPARE(int(exec.placement), int(Placement::Pipeline));
        QCOMPARE(exec.replayBuffer, 4);
        QCOMPARE(replay->text(), QStringLiteral("4 batches"));

        // Back to data parallel: the processes go back within the cores, no replay buffer.
        choosePlacement(Placement::Data);
        QCOMPARE(processes->maximum(), std::max(1, runtimeInfo().cores));
        QVERIFY(processes->value() <= processes->maximum());
        QVERIFY(!replay->isEnabled());
        exec = m_view->execOptions();
        QCOMPARE(int(exec.placement), int(Placement::Data));
        QCOMPARE(exec.replayBuffer, 0);

        // A 2-stage spec on 2 processes: the pipeline fits; greedy drops it again.
        prepareDgl(tinyStages(2), 2);
        choosePlacement(Placement::Pipeline);
        QCOMPARE(processes->value(), 2);
        QTRY_VERIFY_WITH_TIMEOUT(m_view->startButton()->isEnabled(), 20000);
        exec = m_view->execOptions();
        QCOMPARE(int(exec.placement), int(Placement::Pipeline));
        QCOMPARE(exec.replayBuffer, 4);
        m_view->modeCombo()->setCurrentIndex(m_view->modeCombo()->findData("greedy"));
        QVERIFY(placement->isHidden());
        exec = m_view->execOptions();
        QCOMPARE(int(exec.placement), int(Placement::Data));
        QCOMPARE(exec.replayBuffer, 0);
        // sync_bn acts in data parallel over N > 1 processes: the check is enabled there and
        // sets the recipe the run starts with.
        QCheckBox *syncBn = m_view->syncBnCheck();
        QCOMPARE(syncBn->objectName(), QStringLiteral("syncBnCheck"));
        QVERIFY(syncBn->isEnabled()); // greedy, 2 processes
        QVERIFY(!m_view->effectiveSpec().recipe.syncBn);
        syncBn->setChecked(true);
        QVERIFY(m_view->effectiveSpec().recipe.syncBn);
        // One process: no placement either, and nothing to synchronize.
        m_view->modeCombo()->setCurrentIndex(m_view->modeCombo()->findData("dgl"));
        processes->setValue(1);
        QVERIFY(!placement->isEnabled());
        QVERIFY(!syncBn->isEnabled());
        QCOMPARE(int(m_view->execOptions().placement), int(Placement::Data));
        syncBn->setChecked(false);

        // DGL with 3 processes, pipeline chosen: the view at 1280x720.
        prepareDgl(three, 2);
        choosePlacement(Placement::Pipeline);
        replay->setValue(0);
        auto *panel = m_view->findChild<QScrollArea *>(QStringLiteral("setupPanel"));
        QVERIFY(panel);
        m_window->resize(1280, 720);
        QTest::qWait(50);
        panel->ensureWidgetVisible(replay);
        shoot(QStringLiteral("guidist-placement"));
    }

    void resumeChecksThePlacementAgainstTheStoredRun()
    {
        // A greedy run in the store (created, not trained): the pipeline does not fit it, and
        // Resume says so before it starts a process or claims the run.
        NewRunRequest request;
        request.spec = tinyStages(2);
        request.mode = TrainMode::Greedy;
        request.name = "greedy two";
        auto job = RunService(*m_window->store()).create(request);
        QVERIFY2(job, job ? "" : job.message().c_str());
        const std::int64_t id = (*job)->runId();
        job->reset();
        prepareDgl(tinyStages(2), 2);
        choosePlacement(Placement::Pipeline);
        QCOMPARE(int(m_view->execOptions().placement), int(Placement::Pipeline));
        QVERIFY(!m_view->resumeStoredRun(id));
        QVERIFY2(m_view->errorString().contains(QStringLiteral("needs a decoupled run")),
                 qPrintable(m_view->errorString()));
        QVERIFY(!m_view->isRunning());
        QVERIFY(ourChildren().isEmpty());
    }

    void dglPipelineRunFromTheGui_data()
    {
        QTest::addColumn<int>("stages");
        QTest::newRow("2stages") << 2;
        QTest::newRow("3stages") << 3; // 3 processes, beyond the 2 cores of the build machine
    }

    void dglPipelineRunFromTheGui()
    {
        // Stage j on process j, synchronous (replay buffer 0): choosing the pipeline with 2
        // processes sets one per stage.
        QFETCH(int, stages);
        prepareDgl(tinyStages(stages), 2);
        choosePlacement(Placement::Pipeline);
        QCOMPARE(m_view->processesSpin()->value(), stages);
        QCOMPARE(m_view->replayBufferSpin()->value(), 0);
        QTRY_VERIFY_WITH_TIMEOUT(m_view->startButton()->isEnabled(), 20000);
        QSignalSpy finished(m_view, &TrainView::runFinished);
        QTest::mouseClick(m_view->startButton(), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(m_view->isRunning(), 5000);
        QCOMPARE(m_view->session()->processes(), stages);
        QVERIFY(finished.wait(180000));
        const qint64 id = finished.first().at(0).toLongLong();
        QVERIFY2(int(finished.first().at(1).value<RunStatus>()) == int(RunStatus::Finished),
                 qPrintable(m_view->logView()->toPlainText().right(2000)));
        auto d = m_window->store()->getRun(id);
        QVERIFY2(d, d ? "" : d.message().c_str());
        QCOMPARE(int(d->run.mode), int(TrainMode::Decoupled));
        QCOMPARE(d->run.worldSize, stages);
        QCOMPARE(d->run.stagesDone, stages);
        QCOMPARE(int(d->stages.size()), stages);
        for (const StageRow &stage : d->stages) { // every stage trained its epoch and was tested
            QCOMPARE(stage.epochsDone, 1);
            QVERIFY(stage.finished);
            QVERIFY(stage.testAcc && *stage.testAcc >= 0 && *stage.testAcc <= 1);
        }
        const QString log = m_view->logView()->toPlainText();
        QVERIFY2(log.contains(QStringLiteral("placement pipeline")), qPrintable(log.right(2000)));
        QCOMPARE(int(m_window->store()->listRuns({})->size()), 1);
        QVERIFY(ourChildren().isEmpty());
    }

    void workerOutsideARunIsAClearError()
    {
        // `layerwise-cli worker` is what the GUI starts; alone it says what it needs.
        const auto r = test::runCli(
            {QStringLiteral("worker"), QStringLiteral("--threads"), QStringLiteral("1")}, {},
            60000);
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains(QStringLiteral("RANK")), qPrintable(r.err));
    }

    void missingWorkerProgramIsAClearError()
    {
        prepare(1, 256, 2);
        m_view->session()->setWorkerProgram(QString());
        QVERIFY(!m_view->startTraining());
        QVERIFY2(m_view->errorString().contains(QStringLiteral("layerwise-cli")),
                 qPrintable(m_view->errorString()));
        auto runs = m_window->store()->listRuns({});
        QVERIFY(runs);
        QVERIFY(runs->empty()); // nothing was recorded
    }

    void twoProcessRunIsOneRunInTheStore()
    {
        prepare(1, 1024, 2);
        QSignalSpy finished(m_view, &TrainView::runFinished);
        QTest::mouseClick(m_view->startButton(), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(m_view->isRunning(), 5000);
        QCOMPARE(m_view->session()->processes(), 2);
        // A multi-process run cannot pause (the other rank would time out in its all-reduce).
        QVERIFY(!m_view->pauseAction()->isEnabled());
        QVERIFY(finished.wait(180000));
        const qint64 id = finished.first().at(0).toLongLong();
        QCOMPARE(int(finished.first().at(1).value<RunStatus>()), int(RunStatus::Finished));
        auto d = m_window->store()->getRun(id);
        QVERIFY2(d, d ? "" : d.message().c_str());
        QCOMPARE(d->run.worldSize, 2);
        QCOMPARE(d->run.backend, std::string("gloo"));
        QVERIFY(!d->run.hosts.empty());
        QCOMPARE(d->run.stagesDone, 3);
        auto all = m_window->store()->listRuns({});
        QCOMPARE(int(all->size()), 1); // the worker recorded nothing
        // The setup panel scrolled to the Processes field.
        auto *panel = m_view->findChild<QScrollArea *>(QStringLiteral("setupPanel"));
        QVERIFY(panel);
        m_window->resize(1280, 720);
        QTest::qWait(50);
        panel->ensureWidgetVisible(m_view->processesSpin());
        shoot(QStringLiteral("guidist-train"));
        QVERIFY(ourChildren().isEmpty());

        // The Runs view: "2" under Procs, "gloo" under Backend, the hosts in the tooltip.
        const int row = runsViewRow(id);
        QVERIFY(row >= 0);
        RunsTableModel *model = m_window->runsView()->model();
        QCOMPARE(model->index(row, RunsTableModel::Processes).data().toString(),
                 QStringLiteral("2"));
        QCOMPARE(model->index(row, RunsTableModel::Backend).data().toString(),
                 QStringLiteral("gloo"));
        QVERIFY(
            model->index(row, RunsTableModel::Processes)
                .data(Qt::ToolTipRole)
                .toString()
                .contains(QString::fromStdString(d->run.hosts.substr(0, d->run.hosts.find(',')))));
        // Sorted in SQL like every column: a one-process run sorts below it, descending.
        prepare(1, 256, 1);
        QSignalSpy finished1(m_view, &TrainView::runFinished);
        QTest::mouseClick(m_view->startButton(), Qt::LeftButton);
        QVERIFY(finished1.wait(120000));
        const qint64 single = finished1.first().at(0).toLongLong();
        QTableView *table = m_window->runsView()->table();
        table->sortByColumn(RunsTableModel::Processes, Qt::DescendingOrder);
        QCOMPARE(model->runAt(0).id, id);
        table->sortByColumn(RunsTableModel::Processes, Qt::AscendingOrder);
        QCOMPARE(model->runAt(0).id, single);
        QCOMPARE(model->index(0, RunsTableModel::Processes).data().toString(), QStringLiteral("1"));
        m_window->showPlace(MainWindow::Place::Runs);
        table->scrollTo(model->index(0, RunsTableModel::Backend));
        shoot(QStringLiteral("guidist-runs"));
    }

    void stopWhileTheRanksMeet()
    {
        // Stop before the worker has joined: the cancel waits for the job and ends it at its
        // first batch; the worker, which met rank 0, ends with it.
        prepare(4, 4096, 2);
        QSignalSpy finished(m_view, &TrainView::runFinished);
        QTest::mouseClick(m_view->startButton(), Qt::LeftButton);
        QVERIFY(m_view->stopButton()->isEnabled());
        QTest::mouseClick(m_view->stopButton(), Qt::LeftButton);
        QVERIFY(finished.wait(60000));
        QCOMPARE(int(finished.first().at(1).value<RunStatus>()), int(RunStatus::Cancelled));
        auto d = m_window->store()->getRun(finished.first().at(0).toLongLong());
        QVERIFY(d);
        QCOMPARE(int(d->run.status), int(RunStatus::Cancelled));
        QCOMPARE(d->run.stagesDone, 0);
        QVERIFY(ourChildren().isEmpty());
    }

    void stopEndsEveryRank()
    {
        prepare(4, 4096, 2);
        QSignalSpy finished(m_view, &TrainView::runFinished);
        QSignalSpy batches(m_view->session(), &TrainSession::batchProgress);
        QTest::mouseClick(m_view->startButton(), Qt::LeftButton);
        QVERIFY(batches.wait(120000)); // the ranks met and train
        const QList<pid_t> workers = ourChildren();
        QCOMPARE(workers.size(), 1);
        QVERIFY(m_view->stopButton()->isEnabled());
        QTest::mouseClick(m_view->stopButton(), Qt::LeftButton);
        QVERIFY(finished.wait(60000));
        const qint64 id = finished.first().at(0).toLongLong();
        QCOMPARE(int(finished.first().at(1).value<RunStatus>()), int(RunStatus::Cancelled));
        auto d = m_window->store()->getRun(id);
        QVERIFY(d);
        QCOMPARE(int(d->run.status), int(RunStatus::Cancelled)); // stopped, resumable
        QCOMPARE(d->run.worldSize, 2);
        QVERIFY(d->run.stagesDone < 3);
        // No worker is left: none of our children, and the one that ran is gone.
        QVERIFY(ourChildren().isEmpty());
        QVERIFY2(!alive(workers.first()), "the worker rank still runs after Stop");
    }
};

QTEST_MAIN(TestGuiDist)

#include "tst_guidist.moc"
