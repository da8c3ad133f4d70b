#pragma once

#include "core/data/dataset.h"
#include "core/events/events.h"
#include "core/spec/spec.h"

#include <QElapsedTimer>
#include <QPointer>
#include <QWidget>

#include <cstdint>
#include <functional>
#include <optional>

class QAction;
class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QProgressBar;
class QSpinBox;
class QSplitter;
class QTimer;
class QToolButton;
template<typename T>
class QFutureWatcher;

namespace lw {

class ArchDiagram;
class DepthPlot;
class RunStore;
class TimelinePlot;
class TrainSession;

/// The Train view: a run's setup (spec, data, recipe, device) checked as it is typed, and the
/// live dashboard of the run in progress (stage timeline, accuracy by depth, progress with the
/// architecture, log). Training runs on a worker thread (TrainSession); every run is recorded in
/// the run store. The main window puts actions() in its menus and toolbar.
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
    void setSpec(const Spec &spec, const QString &name);
    /// Spec JSON from the Design view ("Train this"); false and errorString() when invalid.
    bool setSpecJson(const QString &json, const QString &name);
    bool loadPreset(const QString &name);
    bool openSpecFile(const QString &path);
    /// Dataset kind (datasetNames()) and folder (empty: the dataset's default place).
    void setDataset(const QString &name, const QString &path);
    /// "Branch from stage k" of stored run `parentRun` (call after setSpec: a new spec clears
    /// it): Start then trains stages k+1.. (1-based) greedily on top of the parent's first
    /// `lockedStages` stages. The setup panel says so and offers to train from scratch instead;
    /// only greedy mode can be chosen. False (errorString()) when no store is open, the run is
    /// unknown or `lockedStages` is not 1 .. stages-1.
    bool setBranch(std::int64_t parentRun, int lockedStages);
    /// Back to a run from scratch (what the panel's "Train from scratch" does).
    void clearBranch();
    /// The run Start branches from, -1 when it trains from scratch.
    std::int64_t branchParent() const { return m_branchParent; }
    int branchStage() const { return m_branchStage; }
    /// The spec as it will be trained: the loaded one with the form's recipe applied.
    Spec effectiveSpec() const;
    QString specName() const { return m_specName; }
    QString errorString() const { return m_error; }

    /// True when every field is valid, the data was found readable and nothing is training.
    bool canStart() const;
    /// Why Start is disabled (empty when it is not).
    QString startProblem() const { return m_startProblem; }

    // --- Running ------------------------------------------------------------------------------
    /// Starts a run with the form's settings (what the Start button does). False (and
    /// errorString(), also in the log) when it cannot start.
    bool startTraining();
    void togglePause();
    void stopTraining();
    /// Continues stored run `runId` from its last checkpoint, loading its curves so far.
    bool resumeStoredRun(std::int64_t runId);
    /// Linear-separability probes of every layer of stored run `runId` (off the GUI thread),
    /// recorded in the store and shown in the accuracy-by-depth plot. False (errorString())
    /// when something trains or the run cannot be read.
    bool probeStoredRun(std::int64_t runId);
    bool isProbing() const { return m_probing; }
    bool isRunning() const;
    bool isPaused() const;
    TrainSession *session() const { return m_session; }
    /// Title for the window: the run's name while one is shown, else the spec's name.
    QString title() const;

    // --- Parts for the main window and tests --------------------------------------------------
    QAction *startAction() const { return m_startAction; }
    QAction *pauseAction() const { return m_pauseAction; }
    QAction *stopAction() const { return m_stopAction; }
    QAction *resumeRunAction() const { return m_resumeRunAction; }
    QAction *openSpecAction() const { return m_openSpecAction; }
    QAction *exportPlotAction() const { return m_exportPlotAction; }
    QAction *exportCsvAction() const { return m_exportCsvAction; }
    QToolButton *startButton() const { return m_startButton; }
    QToolButton *pauseButton() const { return m_pauseButton; }
    QToolButton *stopButton() const { return m_stopButton; }
    QComboBox *specCombo() const { return m_specCombo; }
    QComboBox *datasetCombo() const { return m_datasetCombo; }
    QLineEdit *dataPathEdit() const { return m_dataPath; }
    QComboBox *modeCombo() const { return m_modeCombo; }
    QSpinBox *epochsSpin() const { return m_epochs; }
    QSpinBox *batchSpin() const { return m_batch; }
    QLineEdit *lrEdit() const { return m_lr; }
    QCheckBox *augmentCheck() const { return m_augment; }
    QComboBox *cacheCombo() const { return m_cache; }
    QComboBox *precisionCombo() const { return m_precision; }
    QCheckBox *probesCheck() const { return m_probes; }
    QComboBox *deviceCombo() const { return m_device; }
    QSpinBox *threadsSpin() const { return m_threads; }
    QSpinBox *seedSpin() const { return m_seed; }
    QLineEdit *nameEdit() const { return m_name; }
    QLabel *lrError() const { return m_lrError; }
    QLabel *dataStatus() const { return m_dataStatus; }
    /// The setup panel's "Branch of run P from stage k" line (hidden without a branch).
    QLabel *branchLabel() const { return m_branchLabel; }
    QToolButton *clearBranchButton() const { return m_clearBranch; }
    /// Why Start is disabled, shown under the buttons.
    QLabel *startHint() const { return m_startHint; }
    TimelinePlot *timeline() const { return m_timeline; }
    DepthPlot *depthPlot() const { return m_depth; }
    ArchDiagram *archDiagram() const { return m_arch; }
    QPlainTextEdit *logView() const { return m_log; }
    QProgressBar *epochProgress() const { return m_epochBar; }
    QProgressBar *runProgress() const { return m_runBar; }
    QSplitter *mainSplitter() const { return m_splitter; }
    QSplitter *dashboardSplitter() const { return m_dashSplitter; }
    /// Errors shown in the log (red) since the view was made.
    int errorCount() const { return m_errors; }
    /// Whether the dataset check (run off the GUI thread) is still going.
    bool checkingData() const;

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

private Q_SLOTS:
    void onProbeResult(const lw::ProbeResult &p);
    void onProbeLog(lw::LogLevel level, const QString &text);

private:
    QWidget *buildSetup();
    QWidget *buildDashboard();
    void createActions();
    void fillForm(const Spec &spec);
    void revalidate();
    static QString dataKey(const Spec &spec);
    void scheduleDataCheck();
    void updateDataPlaceholder();
    void runDataCheck();
    void onDataChecked();
    void updateActions();
    void appendLog(LogLevel level, const QString &text);
    void setFieldError(QLabel *label, const QString &text);
    void prepareDashboard(const Spec &spec, TrainMode mode);
    void loadHistory(std::int64_t runId, int resumeStage, int resumeEpoch);
    void chooseRunToResume();
    void exportPlot();
    void exportCsv();
    /// Asks where to save (starting in the last export folder), remembers the folder and calls
    /// `write`; a failure is shown in a message box.
    void exportTo(const QString &title, const QString &filter,
                  const std::function<bool(const QString &path, QString *error)> &write);
    void browseData();
    void browseSpec();
    void onSpecComboChanged(int index);
    void updateProgressText();
    void updateBranchUi();

    void onRunCreated(qint64 runId, bool resumed);
    void onRunStarted(const RunStarted &e);
    void onStageStarted(const StageStarted &e);
    void onBatch(const BatchProgress &e);
    void onEpoch(const EpochMetrics &e);
    void onStageFinished(const StageFinished &e);
    void onProbe(const ProbeResult &e);
    void onRunEnded(const RunEnded &e);
    void onFinished(qint64 runId, RunStatus status, const QString &message);

    RunStore *m_store = nullptr;
    QString m_storeError;
    TrainSession *m_session = nullptr;
    Spec m_spec;
    QString m_specName;
    QString m_error;
    QString m_startProblem;
    QString m_customLabel; ///< the combo's entry for a spec not from a preset
    std::int64_t m_branchParent = -1;
    int m_branchStage = 0;

    // Data check (probeDataset off the GUI thread).
    QFutureWatcher<Result<DatasetInfo>> *m_dataWatcher = nullptr;
    QTimer *m_dataTimer = nullptr;
    QString m_dataKey;    ///< what the last finished check was about
    QString m_pendingKey; ///< what the check in flight is about
    std::optional<DatasetInfo> m_dataInfo;
    QString m_dataError;

    // Live state.
    TrainMode m_runMode = TrainMode::Greedy;
    int m_runStages = 0;
    int m_plannedEpochs = 0;
    int m_stageEpochs = 0;
    int m_currentStage = -1;
    int m_currentEpoch = 0;
    int m_stagesDone = 0;
    std::int64_t m_lastStep = 0;
    double m_epochFraction = 0;
    double m_imagesPerSecond = 0;
    QElapsedTimer m_runClock;
    double m_doneAtStart = 0; ///< fraction of the run already done when this session began
    QString m_runTitle;
    int m_errors = 0;
    bool m_probing = false;
    bool m_endedReported = false;
    QString m_lastFolderSpec, m_lastFolderData, m_lastFolderExport;

    // Widgets.
    QSplitter *m_splitter = nullptr;
    QSplitter *m_dashSplitter = nullptr;
    QWidget *m_form = nullptr;
    QComboBox *m_specCombo = nullptr;
    QLabel *m_specInfo = nullptr;
    QLabel *m_specError = nullptr;
    QWidget *m_branchBox = nullptr;
    QLabel *m_branchLabel = nullptr;
    QToolButton *m_clearBranch = nullptr;
    QComboBox *m_datasetCombo = nullptr;
    QLineEdit *m_dataPath = nullptr;
    QLabel *m_dataStatus = nullptr;
    QSpinBox *m_trainLimit = nullptr;
    QSpinBox *m_testLimit = nullptr;
    QComboBox *m_modeCombo = nullptr;
    QLabel *m_epochsLabel = nullptr;
    QSpinBox *m_epochs = nullptr;
    QLabel *m_epochsHint = nullptr;
    QSpinBox *m_batch = nullptr;
    QLineEdit *m_lr = nullptr;
    QLabel *m_lrError = nullptr;
    QCheckBox *m_augment = nullptr;
    QComboBox *m_cache = nullptr;
    QComboBox *m_precision = nullptr;
    QCheckBox *m_probes = nullptr;
    QComboBox *m_device = nullptr;
    QSpinBox *m_threads = nullptr;
    QSpinBox *m_seed = nullptr;
    QLineEdit *m_name = nullptr;
    QLabel *m_startHint = nullptr;
    QToolButton *m_startButton = nullptr;
    QToolButton *m_pauseButton = nullptr;
    QToolButton *m_stopButton = nullptr;
    QToolButton *m_resumeButton = nullptr;

    ArchDiagram *m_arch = nullptr;
    QLabel *m_runLabel = nullptr;
    QLabel *m_progressLabel = nullptr;
    QProgressBar *m_epochBar = nullptr;
    QProgressBar *m_runBar = nullptr;
    TimelinePlot *m_timeline = nullptr;
    DepthPlot *m_depth = nullptr;
    QCheckBox *m_smooth = nullptr;
    QPlainTextEdit *m_log = nullptr;

    QAction *m_startAction = nullptr;
    QAction *m_pauseAction = nullptr;
    QAction *m_stopAction = nullptr;
    QAction *m_resumeRunAction = nullptr;
    QAction *m_openSpecAction = nullptr;
    QAction *m_exportPlotAction = nullptr;
    QAction *m_exportCsvAction = nullptr;
};

} // namespace lw
