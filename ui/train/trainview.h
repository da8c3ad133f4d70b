#pragma once

#include "core/events/events.h"
#include "core/spec/spec.h"
#include "core/store/runstore.h"
#include "ui/train/traindashboard.h"
#include "ui/train/trainsetup.h"

#include <QList>
#include <QStringList>
#include <QWidget>

#include <cstdint>

// The widget and part types the accessors below hand out come with trainsetup.h and
// traindashboard.h.

namespace lw {

class PicturesPanel;

/// The Train view: a run's setup (TrainSetup: spec, data, recipe, device, checked as they are
/// typed) beside the live dashboard of the run shown (TrainDashboard). Runs, resumed runs and
/// probes execute through TrainSession (core's RunService on a worker thread); every run is
/// recorded in the run store. The main window puts actions() in its menus and toolbar.
class TrainView : public QWidget
{
    Q_OBJECT

public:
    /// `store` may be null (Start then explains why it is disabled); it must outlive the view.
    explicit TrainView(RunStore *store, QWidget *parent = nullptr);
    ~TrainView() override;

    void setStore(RunStore *store, const QString &storeError = {});

    // --- Setup --------------------------------------------------------------------------------
    /// Takes `spec` and fills the form from its recipe; `name` names it (preset or file name).
    void setSpec(const Spec &spec, const QString &name) { m_setup->setSpec(spec, name); }
    /// Train This: takes `spec` keeping the data and recipe choices made in this view (see
    /// TrainSetup::takeSpec).
    void takeSpec(const Spec &spec, const QString &name) { m_setup->takeSpec(spec, name); }
    /// The stored run whose settings the form shows read-only, -1 when it is editable.
    std::int64_t shownRun() const { return m_setup->shownRun(); }
    /// "New Run from These Settings": the shown run's settings become editable.
    void newRunFromShown() { m_setup->newRunFromShown(); }
    bool loadPreset(const QString &name);
    bool openSpecFile(const QString &path);
    /// Dataset kind (datasetNames()) and folder (empty: the dataset's default place).
    void setDataset(const QString &name, const QString &path) { m_setup->setDataset(name, path); }
    /// "Branch from stage k" of stored run `parentRun` (call after setSpec: a new spec clears
    /// it): Start then trains stages k+1.. (1-based) greedily on top of the parent's first
    /// `lockedStages` stages. The setup panel says so and offers to train from scratch instead;
    /// only greedy mode can be chosen. False (errorString()) when no store is open, the run is
    /// unknown or `lockedStages` is not 1 .. stages-1.
    bool setBranch(std::int64_t parentRun, int lockedStages);
    /// Back to a run from scratch (what the panel's "Train from scratch" does).
    void clearBranch() { m_setup->clearBranch(); }
    /// The run Start branches from, -1 when it trains from scratch.
    std::int64_t branchParent() const { return m_setup->branchParent(); }
    int branchStage() const { return m_setup->branchStage(); }
    /// The spec as it will be trained: the loaded one with the form's recipe applied.
    Spec effectiveSpec() const { return m_setup->effectiveSpec(); }
    QString specName() const { return m_setup->specName(); }
    QString errorString() const { return m_error; }

    /// True when every field is valid, the data was found readable and nothing is training.
    bool canStart() const;
    /// Why Start is disabled (empty when it is not).
    QString startProblem() const { return m_setup->startProblem(); }

    // --- Running ------------------------------------------------------------------------------
    /// Starts a run with the form's settings (what the Start button does). False (and
    /// errorString(), also in the log) when it cannot start.
    bool startTraining();
    void togglePause();
    void stopTraining();
    /// Continues stored run `runId` from its last checkpoint, loading its curves so far.
    bool resumeStoredRun(std::int64_t runId);
    /// Linear-separability probes of every layer of stored run `runId` (off the GUI thread),
    /// recorded in the store and shown, with the run's curves, in the dashboard. False
    /// (errorString()) when something trains or the run cannot be probed.
    bool probeStoredRun(std::int64_t runId);
    /// The entries of Run > Resume a Stored Run… for `runs` (those that can resume, each with
    /// its state as people read it: stopped, interrupted, failed), and their ids.
    QStringList resumeChoices(const std::vector<RunRow> &runs, QList<std::int64_t> *ids) const;
    bool isProbing() const;
    bool isRunning() const;
    bool isPaused() const;
    TrainSession *session() const { return m_session; }
    /// Title for the window: the run's name while one is shown, else the spec's name.
    QString title() const;

    // --- Parts for the main window and tests --------------------------------------------------
    QAction *startAction() const { return m_actions.start; }
    QAction *pauseAction() const { return m_actions.pause; }
    QAction *stopAction() const { return m_actions.stop; }
    QAction *resumeRunAction() const { return m_actions.resumeRun; }
    QAction *openSpecAction() const { return m_actions.openSpec; }
    QAction *exportPlotAction() const { return m_exportPlotAction; }
    QAction *exportCsvAction() const { return m_exportCsvAction; }
    QToolButton *startButton() const { return m_setup->startButton(); }
    QToolButton *pauseButton() const { return m_setup->pauseButton(); }
    QToolButton *stopButton() const { return m_setup->stopButton(); }
    QComboBox *specCombo() const { return m_setup->specCombo(); }
    QComboBox *datasetCombo() const { return m_setup->datasetCombo(); }
    QLineEdit *dataPathEdit() const { return m_setup->dataPathEdit(); }
    QComboBox *modeCombo() const { return m_setup->modeCombo(); }
    QSpinBox *epochsSpin() const { return m_setup->epochsSpin(); }
    QSpinBox *e2eEpochsSpin() const { return m_setup->e2eEpochsSpin(); }
    QSpinBox *trainLimitSpin() const { return m_setup->trainLimitSpin(); }
    QLabel *scheduleLabel() const { return m_setup->scheduleLabel(); }
    QToolButton *newRunFromShownButton() const { return m_setup->newRunFromShownButton(); }
    QLabel *shownRunLabel() const { return m_setup->shownRunLabel(); }
    /// Elapsed active time of the run shown (the dashboard's "elapsed").
    double elapsedSeconds() const { return m_dashboard->elapsedSeconds(); }
    QLabel *progressLabel() const { return m_dashboard->progressLabel(); }
    QLabel *runLabel() const { return m_dashboard->runLabel(); }
    QSpinBox *batchSpin() const { return m_setup->batchSpin(); }
    QLineEdit *lrEdit() const { return m_setup->lrEdit(); }
    QCheckBox *augmentCheck() const { return m_setup->augmentCheck(); }
    QComboBox *cacheCombo() const { return m_setup->cacheCombo(); }
    QComboBox *precisionCombo() const { return m_setup->precisionCombo(); }
    QCheckBox *probesCheck() const { return m_setup->probesCheck(); }
    QComboBox *deviceCombo() const { return m_setup->deviceCombo(); }
    QSpinBox *threadsSpin() const { return m_setup->threadsSpin(); }
    QSpinBox *processesSpin() const { return m_setup->processesSpin(); }
    QComboBox *placementCombo() const { return m_setup->placementCombo(); }
    QSpinBox *replayBufferSpin() const { return m_setup->replayBufferSpin(); }
    QCheckBox *syncBnCheck() const { return m_setup->syncBnCheck(); }
    /// The device, threads, placement and replay buffer Start and Resume would run with.
    ExecOptions execOptions() const { return m_setup->execOptions(); }
    QSpinBox *seedSpin() const { return m_setup->seedSpin(); }
    QLineEdit *nameEdit() const { return m_setup->nameEdit(); }
    QLabel *lrError() const { return m_setup->lrError(); }
    QLabel *dataStatus() const { return m_setup->dataStatus(); }
    /// The setup panel's "Branch of run P from stage k" line (hidden without a branch).
    QLabel *branchLabel() const { return m_setup->branchLabel(); }
    QToolButton *clearBranchButton() const { return m_setup->clearBranchButton(); }
    /// Why Start is disabled, shown under the buttons.
    QLabel *startHint() const { return m_setup->startHint(); }
    TimelinePlot *timeline() const { return m_dashboard->timeline(); }
    DepthPlot *depthPlot() const { return m_dashboard->depthPlot(); }
    ArchDiagram *archDiagram() const { return m_dashboard->archDiagram(); }
    PicturesPanel *picturesPanel() const { return m_pictures; }
    QPlainTextEdit *logView() const { return m_dashboard->logView(); }
    QProgressBar *epochProgress() const { return m_dashboard->epochProgress(); }
    QProgressBar *runProgress() const { return m_dashboard->runProgress(); }
    QSplitter *mainSplitter() const { return m_splitter; }
    QSplitter *dashboardSplitter() const { return m_dashboard->splitter(); }
    /// Errors shown in the log (red) since the view was made.
    int errorCount() const { return m_dashboard->errorCount(); }
    /// Whether the dataset check (run off the GUI thread) is still going.
    bool checkingData() const { return m_setup->checkingData(); }

    /// Last folders used by the file dialogs (the main window keeps them in QSettings).
    QString lastFolder(const QString &kind) const;
    void setLastFolder(const QString &kind, const QString &folder);

Q_SIGNALS:
    void titleChanged(const QString &title);
    void runningChanged(bool running);
    /// A run was created (or resumed) in the store.
    void runRecorded(qint64 runId);
    void runFinished(qint64 runId, lw::RunStatus status, const QString &message);
    /// Probing a stored run ended; `error` is empty when it succeeded.
    void probesFinished(qint64 runId, const QString &error);
    void statusMessage(const QString &text);
    void lastFolderChanged(const QString &kind, const QString &folder);

private:
    void createActions();
    void updateActions();
    void loadHistory(std::int64_t runId, int resumeStage, int resumeEpoch);
    /// The form shows the session's stored run's own settings, read-only.
    void showStoredSettings(std::int64_t runId);
    void chooseRunToResume();
    void onSpecChanged(const Spec &spec);
    void onRunCreated(qint64 runId, bool resumed);
    void onRunStarted(const RunStarted &e);
    void onFinished(qint64 runId, RunStatus status, const QString &message);
    void onProbesFinished(qint64 runId, RunStatus status, const QString &message);

    RunStore *m_store = nullptr;
    TrainSession *m_session = nullptr;
    LastFolders *m_folders = nullptr;
    TrainSetup *m_setup = nullptr;
    TrainDashboard *m_dashboard = nullptr;
    PicturesPanel *m_pictures = nullptr; ///< what each stage learned, live
    QSplitter *m_splitter = nullptr;
    QString m_error;

    TrainSetupActions m_actions; ///< also the setup panel's buttons
    QAction *m_exportPlotAction = nullptr;
    QAction *m_exportCsvAction = nullptr;
};

} // namespace lw
