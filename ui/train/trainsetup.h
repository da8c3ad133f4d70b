#pragma once

#include "core/events/events.h"
#include "core/run/runservice.h"
#include "core/spec/spec.h"
#include "core/util/log.h"

#include <QScrollArea>

#include <cstdint>

class QAction;
class QCheckBox;
class QComboBox;
class QGroupBox;
class QLabel;
class QLineEdit;
class QSpinBox;
class QToolButton;

namespace lw {

class DataCheck;
class LastFolders;
class RunStore;

/// The Train view's actions the setup panel shows as buttons.
struct TrainSetupActions
{
    QAction *start = nullptr;
    QAction *pause = nullptr;
    QAction *stop = nullptr;
    QAction *resumeRun = nullptr;
    QAction *openSpec = nullptr;
};

/// The Train view's setup panel: the spec (preset, file or Design view, and a branch of a
/// stored run), the data (checked off the GUI thread as it is typed), the recipe, the machine
/// and the run's name, each field validated as it changes; the start/pause/stop buttons.
class TrainSetup : public QScrollArea
{
    Q_OBJECT

public:
    /// `store` may be null (Start then explains why it is disabled); it must outlive the panel.
    TrainSetup(RunStore *store, LastFolders *folders, const TrainSetupActions &actions,
               QWidget *parent = nullptr);
    ~TrainSetup() override;

    void setStore(RunStore *store, const QString &storeError);

    /// Takes `spec` and fills the form from its recipe; `name` names it (preset or file name).
    void setSpec(const Spec &spec, const QString &name);
    /// Takes `spec` as Train This does: a data or recipe field the user changed in this form
    /// keeps the user's value unless `spec` changes that field itself (compared with the spec
    /// the form holds): the subset, the folder, the epochs survive a new architecture.
    void takeSpec(const Spec &spec, const QString &name);
    /// Shows the settings stored run `runId` was made with (its spec, mode, probes, branch and
    /// name), read-only beside its dashboard, until newRunFromShown() (the panel's "New run from
    /// these settings") makes them editable for a new run, or another spec is taken.
    void showRunSettings(std::int64_t runId, const QString &runName, const QString &specName,
                         const Spec &spec, TrainMode mode, bool probes, std::int64_t parentRun,
                         int lockedStages);
    /// Makes the shown run's settings editable for a new run (the run's name is cleared).
    void newRunFromShown();
    /// The stored run whose settings are shown read-only, -1 when the form is editable.
    std::int64_t shownRun() const { return m_shownRun; }
    bool loadPreset(const QString &name);
    bool openSpecFile(const QString &path);
    /// Asks for a spec file and opens it (a failure is shown in a message box).
    void browseSpec();
    void setDataset(const QString &name, const QString &path);
    /// See TrainView::setBranch.
    bool setBranch(std::int64_t parentRun, int lockedStages);
    void clearBranch();
    std::int64_t branchParent() const { return m_branchParent; }
    int branchStage() const { return m_branchStage; }

    /// The loaded spec, and the spec as it will be trained (the form's recipe applied).
    const Spec &spec() const { return m_spec; }
    Spec effectiveSpec() const;
    QString specName() const { return m_specName; }
    TrainMode mode() const;
    /// Device, threads, feature cache, placement and replay buffer as chosen.
    ExecOptions execOptions() const;
    /// The placement a new or resumed run gets: the Placement field's for a DGL run over N > 1
    /// processes, data otherwise.
    Placement placement() const;
    /// The replay buffer it gets: the field's with the pipeline placement, 0 otherwise.
    int replayBuffer() const;
    /// A new run of the form's settings (spec, mode, name, probes, machine, branch).
    NewRunRequest newRunRequest() const;
    QString errorString() const { return m_error; }

    /// Re-checks every field (and schedules a data check when the data fields changed).
    void revalidate();
    /// Why Start is disabled by the form (empty when it is not).
    QString startProblem() const { return m_startProblem; }
    bool checkingData() const;
    /// While a run trains the form is read-only and the start hint is hidden.
    void setRunning(bool running);

    QComboBox *specCombo() const { return m_specCombo; }
    QComboBox *datasetCombo() const { return m_datasetCombo; }
    QLineEdit *dataPathEdit() const { return m_dataPath; }
    QComboBox *modeCombo() const { return m_modeCombo; }
    QSpinBox *epochsSpin() const { return m_epochs; }
    /// End-to-end mode's epochs (shown instead of epochs per stage in that mode).
    QSpinBox *e2eEpochsSpin() const { return m_e2eEpochs; }
    QSpinBox *trainLimitSpin() const { return m_trainLimit; }
    /// The learning-rate schedule of the chosen mode, as it will train.
    QLabel *scheduleLabel() const { return m_schedule; }
    QToolButton *newRunFromShownButton() const { return m_newFromShown; }
    QLabel *shownRunLabel() const { return m_shownLabel; }
    QSpinBox *batchSpin() const { return m_batch; }
    QLineEdit *lrEdit() const { return m_lr; }
    QCheckBox *augmentCheck() const { return m_augment; }
    QComboBox *cacheCombo() const { return m_cache; }
    QComboBox *precisionCombo() const { return m_precision; }
    QCheckBox *probesCheck() const { return m_probes; }
    QComboBox *deviceCombo() const { return m_device; }
    QSpinBox *threadsSpin() const { return m_threads; }
    /// Processes on this machine that train a new or resumed run (1..cores; processesfield.h).
    QSpinBox *processesSpin() const { return m_processes; }
    /// A DGL run's placement over N > 1 processes (shown in DGL mode, enabled for N > 1).
    QComboBox *placementCombo() const { return m_placement; }
    /// The pipeline's replay buffer (shown in DGL mode, enabled with the pipeline placement).
    QSpinBox *replayBufferSpin() const { return m_replayBuffer; }
    QCheckBox *syncBnCheck() const { return m_syncBn; }
    QSpinBox *seedSpin() const { return m_seed; }
    QLineEdit *nameEdit() const { return m_name; }
    QLabel *lrError() const { return m_lrError; }
    QLabel *dataStatus() const { return m_dataStatus; }
    QLabel *branchLabel() const { return m_branchLabel; }
    QToolButton *clearBranchButton() const { return m_clearBranch; }
    QLabel *startHint() const { return m_startHint; }
    QToolButton *startButton() const { return m_startButton; }
    QToolButton *pauseButton() const { return m_pauseButton; }
    QToolButton *stopButton() const { return m_stopButton; }

Q_SIGNALS:
    /// The form was re-checked: startProblem() may have changed.
    void changed();
    /// A new spec was taken (setSpec, a preset or a file).
    void specChanged(const lw::Spec &spec);
    void logMessage(lw::LogLevel level, const QString &text);
    void statusMessage(const QString &text);

private:
    static constexpr int kMaxSpin = 1 << 30; ///< the largest subset and seed the fields take
    static QLabel *makeErrorLabel(QWidget *parent);
    /// The recipe's and the machine's group boxes (trainsetuprecipe.cpp).
    QGroupBox *buildRecipeBox(QWidget *parent);
    QGroupBox *buildMachineBox(QWidget *parent);
    void fillForm(const Spec &spec);
    /// The spec as it will be trained; `note` gets what was adjusted to the form's epochs.
    Spec effectiveSpec(QString *note) const;
    void updateEditable();
    void updateEpochRows(TrainMode mode, const Spec &effective, const QString &note);
    /// Shows the placement rows in DGL mode, enables them as the processes and placement allow
    /// and offers one process per stage with the pipeline placement (trainsetuprecipe.cpp).
    void updatePlacementRows(TrainMode mode, const Spec &effective);
    void scheduleDataCheck();
    void updateDataPlaceholder();
    void onDataChecked();
    void setFieldError(QLabel *label, const QString &text);
    void browseData();
    void onSpecComboChanged(int index);
    void updateBranchUi();

    RunStore *m_store = nullptr;
    LastFolders *m_folders = nullptr;
    QString m_storeError;
    Spec m_spec;
    QString m_specName;
    QString m_error;
    QString m_startProblem;
    std::int64_t m_branchParent = -1;
    int m_branchStage = 0;
    std::int64_t m_shownRun = -1;
    bool m_running = false;

    DataCheck *m_check = nullptr;
    QString m_dataError; ///< the check's error, or why the data does not fit the spec

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
    QLabel *m_e2eEpochsLabel = nullptr;
    QSpinBox *m_e2eEpochs = nullptr;
    QLabel *m_epochsHint = nullptr;
    QLabel *m_schedule = nullptr;
    QWidget *m_shownBox = nullptr;
    QLabel *m_shownLabel = nullptr;
    QToolButton *m_newFromShown = nullptr;
    QSpinBox *m_batch = nullptr;
    QLineEdit *m_lr = nullptr;
    QLabel *m_lrError = nullptr;
    QCheckBox *m_augment = nullptr;
    QComboBox *m_cache = nullptr;
    QComboBox *m_precision = nullptr;
    QCheckBox *m_probes = nullptr;
    QComboBox *m_device = nullptr;
    QSpinBox *m_threads = nullptr;
    QSpinBox *m_processes = nullptr;
    QComboBox *m_placement = nullptr;
    QSpinBox *m_replayBuffer = nullptr;
    QCheckBox *m_syncBn = nullptr;
    QSpinBox *m_seed = nullptr;
    QLineEdit *m_name = nullptr;
    QLabel *m_startHint = nullptr;
    QToolButton *m_startButton = nullptr;
    QToolButton *m_pauseButton = nullptr;
    QToolButton *m_stopButton = nullptr;
};

} // namespace lw
