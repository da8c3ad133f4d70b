#pragma once

#include "core/events/events.h"
#include "core/spec/spec.h"
#include "core/util/log.h"

#include <QElapsedTimer>
#include <QWidget>

#include <cstdint>
#include <functional>
#include <vector>

class QAction;
class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QSplitter;

namespace lw {

class ArchDiagram;
class DepthPlot;
class LastFolders;
class TimelinePlot;
class TrainSession;
struct RunHistory;
struct StageRow;

/// The Train view's dashboard of the run shown: its title and state, the architecture with the
/// stage in training, epoch and run progress with speed and ETA, the stage timeline, accuracy
/// by depth and the log. It draws the session's events and a stored run's typed history.
class TrainDashboard : public QWidget
{
    Q_OBJECT

public:
    /// `session` tells whether a run trains, is paused or stopping (the progress line).
    TrainDashboard(const TrainSession *session, LastFolders *folders, QAction *exportPlotAction,
                   QAction *exportCsvAction, QWidget *parent = nullptr);

    /// Clears plots and progress for a run of `spec` in `mode`; a branch (`lockedStages` > 0)
    /// trains only the stages after its locked ones.
    void prepare(const Spec &spec, TrainMode mode, int lockedStages);
    /// Draws run `runId`'s recorded epochs, stage results and probes that come before the
    /// point (0-based `resumeStage`, `resumeEpoch`) where the run continues.
    void showHistory(std::int64_t runId, const RunHistory &history, int resumeStage,
                     int resumeEpoch);
    /// A branch's locked stages: their results (the parent's) in the accuracy-by-depth plot.
    void showLockedStages(const std::vector<StageRow> &stages, int lockedStages);

    void setRunTitle(const QString &title) { m_runTitle = title; }
    QString runTitle() const { return m_runTitle; }
    /// "<run title> — <state>" above the architecture.
    void showState(const QString &state);
    /// Starts the clock behind elapsed time and the ETA.
    void startClock();
    /// The run was paused or continued: paused time is not active time.
    void setPaused(bool paused);
    /// The run's active time so far (pauses excluded, earlier sessions included), as the engine
    /// counts it and the store keeps it (wall_seconds); synchronised at every epoch.
    double elapsedSeconds() const;

    void runStarted(const RunStarted &e);
    void stageStarted(const StageStarted &e);
    void batchProgress(const BatchProgress &e);
    void epochFinished(const EpochMetrics &e);
    void stageFinished(const StageFinished &e);
    void probeFinished(const ProbeResult &e);
    void runEnded(const RunEnded &e);
    /// The job is over: `what` it came to; a failure's `message` stays under the bars.
    void runFinished(RunStatus status, const QString &what, const QString &message);
    void updateProgressText();

    void appendLog(LogLevel level, const QString &text);
    void clearLog();
    /// Errors shown in the log (red) since the dashboard was made.
    int errorCount() const { return m_errors; }

    void exportPlot();
    void exportCsv();

    TimelinePlot *timeline() const { return m_timeline; }
    DepthPlot *depthPlot() const { return m_depth; }
    ArchDiagram *archDiagram() const { return m_arch; }
    QPlainTextEdit *logView() const { return m_log; }
    QProgressBar *epochProgress() const { return m_epochBar; }
    QProgressBar *runProgress() const { return m_runBar; }
    QLabel *progressLabel() const { return m_progressLabel; }
    QLabel *runLabel() const { return m_runLabel; }
    QSplitter *splitter() const { return m_dashSplitter; }

private:
    /// Asks where to save (starting in the last export folder), remembers the folder and calls
    /// `write`; a failure is shown in a message box.
    void exportTo(const QString &title, const QString &filter,
                  const std::function<bool(const QString &path, QString *error)> &write);

    const TrainSession *m_session;
    LastFolders *m_folders;

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
    QElapsedTimer m_runClock;    ///< since the engine's last elapsed time (m_elapsedBase)
    QElapsedTimer m_pauseClock;  ///< valid while paused
    qint64 m_pausedMs = 0;       ///< paused time since m_runClock started
    double m_elapsedBase = 0;    ///< the engine's active seconds at the last sync
    double m_elapsedAtStart = 0; ///< active seconds of earlier sessions (a resumed run)
    double m_doneAtStart = 0;    ///< fraction of the run already done when this session began
    int m_shownStage = -1;       ///< greedy: the last stage whose start is marked in the timeline
    QString m_runTitle;
    QString m_runningState; ///< "<mode> on <device>" while it trains
    int m_errors = 0;
    bool m_endedReported = false;

    ArchDiagram *m_arch = nullptr;
    QLabel *m_runLabel = nullptr;
    QLabel *m_progressLabel = nullptr;
    QProgressBar *m_epochBar = nullptr;
    QProgressBar *m_runBar = nullptr;
    TimelinePlot *m_timeline = nullptr;
    DepthPlot *m_depth = nullptr;
    QPlainTextEdit *m_log = nullptr;
    QSplitter *m_dashSplitter = nullptr;
};

} // namespace lw
