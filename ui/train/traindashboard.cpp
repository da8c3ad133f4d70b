#include "ui/train/traindashboard.h"

#include "core/store/runstore.h"
#include "ui/common/format.h"
#include "ui/train/archdiagram.h"
#include "ui/train/lastfolders.h"
#include "ui/train/plots.h"
#include "ui/train/trainsession.h"

#include <QAction>
#include <QCheckBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFontDatabase>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QSplitter>
#include <QTime>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace lw {

namespace {

QString q(const std::string &s)
{
    return QString::fromStdString(s);
}

} // namespace

TrainDashboard::TrainDashboard(const TrainSession *session, LastFolders *folders,
                               QAction *exportPlotAction, QAction *exportCsvAction, QWidget *parent)
    : QWidget(parent)
    , m_session(session)
    , m_folders(folders)
{
    QWidget *dash = this;
    auto *layout = new QVBoxLayout(dash);
    layout->setContentsMargins(4, 6, 6, 4);

    // Progress: the run, the architecture with the current stage, two bars, speed and ETA.
    m_runLabel
        = new QLabel(tr("No run yet: choose the settings on the left and press Start."), dash);
    m_runLabel->setObjectName(QStringLiteral("runLabel"));
    QFont big = m_runLabel->font();
    big.setBold(true);
    m_runLabel->setFont(big);
    m_runLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_runLabel->setWordWrap(true); // a long run name wraps instead of widening the window
    layout->addWidget(m_runLabel);
    m_arch = new ArchDiagram(dash);
    layout->addWidget(m_arch);
    auto *bars = new QGridLayout;
    m_epochBar = new QProgressBar(dash);
    m_epochBar->setObjectName(QStringLiteral("epochProgress"));
    m_epochBar->setRange(0, 1000);
    m_epochBar->setValue(0);
    m_epochBar->setFormat(tr("epoch %p%"));
    m_runBar = new QProgressBar(dash);
    m_runBar->setObjectName(QStringLiteral("runProgress"));
    m_runBar->setRange(0, 1000);
    m_runBar->setValue(0);
    m_runBar->setFormat(tr("run %p%"));
    bars->addWidget(new QLabel(tr("Epoch"), dash), 0, 0);
    bars->addWidget(m_epochBar, 0, 1);
    bars->addWidget(new QLabel(tr("Run"), dash), 1, 0);
    bars->addWidget(m_runBar, 1, 1);
    layout->addLayout(bars);
    m_progressLabel = new QLabel(dash);
    m_progressLabel->setObjectName(QStringLiteral("progressLabel"));
    m_progressLabel->setWordWrap(true);
    layout->addWidget(m_progressLabel);

    // Plot tools.
    auto *tools = new QHBoxLayout;
    auto *smooth = new QCheckBox(tr("Smooth"), dash);
    smooth->setObjectName(QStringLiteral("smoothCheck"));
    smooth->setToolTip(tr("Debiased exponential smoothing (0.6, as TensorBoard), drawn thin over "
                          "the recorded values"));
    auto *resetView = new QToolButton(dash);
    resetView->setText(tr("Whole Run"));
    resetView->setToolTip(tr("Reset zoom and pan (or double-click the plot)"));
    auto *exportPlotButton = new QToolButton(dash);
    exportPlotButton->setDefaultAction(exportPlotAction);
    auto *exportCsvButton = new QToolButton(dash);
    exportCsvButton->setDefaultAction(exportCsvAction);
    exportCsvButton->setText(tr("Export CSV\u2026"));
    // Short, so that the row fits a narrow window (at a scale factor of 2); the plot's tooltip
    // says how to pan and zoom.
    auto *timelineTitle = new QLabel(tr("<b>Stage timeline</b>"), dash);
    timelineTitle->setToolTip(tr("Drag to pan, wheel to zoom, double-click to see the whole run"));
    tools->addWidget(timelineTitle);
    tools->addStretch(1);
    tools->addWidget(smooth);
    tools->addWidget(resetView);
    tools->addWidget(exportPlotButton);
    tools->addWidget(exportCsvButton);
    layout->addLayout(tools);

    m_timeline = new TimelinePlot(dash);
    // Explicit minimum widths: the plots' own hints would be their legends' widths in one row.
    m_timeline->setMinimumSize(220, 180);
    m_depth = new DepthPlot(dash);
    m_depth->setMinimumSize(160, 180);
    connect(smooth, &QCheckBox::toggled, m_timeline, &TimelinePlot::setSmoothing);
    connect(resetView, &QToolButton::clicked, m_timeline, &TimelinePlot::resetView);

    // Each plot exports itself from its context menu.
    auto addPlotMenu = [this](QCustomPlot *plot, const QString &what, auto csv) {
        plot->setContextMenuPolicy(Qt::ActionsContextMenu);
        auto *png = new QAction(tr("Export %1\u2026").arg(what), plot);
        connect(png, &QAction::triggered, this, [this, plot, what, csv] {
            exportTo(tr("Export %1").arg(what), plotExportFilter(),
                     [plot, csv](const QString &path, QString *error) {
                         return lw::exportPlot(plot, path, error, csv);
                     });
        });
        auto *data = new QAction(tr("Export %1 Data (CSV)\u2026").arg(what), plot);
        connect(data, &QAction::triggered, this, [this, what, csv] {
            exportTo(tr("Export %1 data").arg(what), tr("CSV (*.csv)"),
                     [csv](const QString &path, QString *error) {
                         return writeTextFile(path, csv(), error);
                     });
        });
        plot->addActions({png, data});
    };
    addPlotMenu(m_timeline, tr("Stage Timeline"), [this] { return m_timeline->toCsv(); });
    addPlotMenu(m_depth, tr("Accuracy by Depth"), [this] { return m_depth->toCsv(); });

    auto *depthBox = new QWidget(dash);
    auto *depthLayout = new QVBoxLayout(depthBox);
    depthLayout->setContentsMargins(0, 0, 0, 0);
    depthLayout->addWidget(new QLabel(tr("<b>Accuracy by depth</b>"), depthBox));
    depthLayout->addWidget(m_depth, 1);
    auto *plots = new QSplitter(Qt::Horizontal, dash);
    plots->addWidget(m_timeline);
    plots->addWidget(depthBox);
    plots->setStretchFactor(0, 3);
    plots->setStretchFactor(1, 2);
    plots->setSizes({600, 400});

    m_log = new QPlainTextEdit(dash);
    m_log->setObjectName(QStringLiteral("logView"));
    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(5000);
    m_log->setPlaceholderText(tr("The engine's messages appear here."));
    QFont mono = QFontDatabase::systemFont(QFontDatabase::FixedFont);
    m_log->setFont(mono);

    m_dashSplitter = new QSplitter(Qt::Vertical, dash);
    m_dashSplitter->setObjectName(QStringLiteral("dashboardSplitter"));
    m_dashSplitter->addWidget(plots);
    m_dashSplitter->addWidget(m_log);
    m_dashSplitter->setStretchFactor(0, 4);
    m_dashSplitter->setStretchFactor(1, 1);
    m_dashSplitter->setSizes({500, 140});
    layout->addWidget(m_dashSplitter, 1);
}

void TrainDashboard::prepare(const Spec &spec, TrainMode mode, int lockedStages)
{
    m_runMode = mode;
    m_runStages = static_cast<int>(spec.stages.size());
    const int eps = spec.recipe.epochsPerStage;
    switch (mode) {
    case TrainMode::Greedy:
        // A branch trains only the stages after the locked ones.
        m_plannedEpochs = eps * std::max(1, m_runStages - lockedStages);
        break;
    case TrainMode::EndToEnd:
        m_plannedEpochs = spec.recipe.e2e.epochs > 0 ? spec.recipe.e2e.epochs : eps * m_runStages;
        break;
    case TrainMode::Decoupled: m_plannedEpochs = eps; break;
    }
    m_stageEpochs = mode == TrainMode::Greedy ? eps : m_plannedEpochs;
    m_currentStage = -1;
    m_currentEpoch = 0;
    m_stagesDone = 0;
    m_lastStep = 0;
    m_epochFraction = 0;
    m_imagesPerSecond = 0;
    m_doneAtStart = 0;
    m_elapsedBase = 0;
    m_elapsedAtStart = 0;
    m_pausedMs = 0;
    m_pauseClock.invalidate();
    m_shownStage = -1;
    m_endedReported = false;
    m_arch->setProgress(-1, 0);
    m_arch->setSpec(spec);
    m_timeline->reset(m_plannedEpochs);
    m_depth->reset(m_runStages);
    m_epochBar->setValue(0);
    m_runBar->setValue(0);
    m_progressLabel->clear();
}

void TrainDashboard::stageStarted(const StageStarted &e)
{
    if (m_runMode == TrainMode::Greedy) {
        m_currentStage = e.stage;
        m_stageEpochs = e.epochs;
        // A stage resumed in its middle is marked already (its earlier epochs were loaded).
        m_timeline->stageStarted(e.stage, double(m_lastStep), e.stage != m_shownStage);
        m_shownStage = e.stage;
        m_arch->setProgress(e.stage, m_stagesDone);
        appendLog(LogLevel::Info,
                  tr("stage %1: block %2 params, head %3 params%4")
                      .arg(e.stage + 1)
                      .arg(compactText(double(e.blockParams)), compactText(double(e.headParams)),
                           e.cachedInput ? tr(", input from the feature cache") : QString()));
    } else {
        // End-to-end and DGL train every stage at once: the whole trunk is current.
        m_currentStage = m_runStages - 1;
        m_stageEpochs = e.epochs;
        m_plannedEpochs = e.epochs;
        m_timeline->stageStarted(e.stage, double(m_lastStep), false);
        m_arch->setProgress(m_runStages - 1, m_runStages - 1);
    }
    m_currentEpoch = 0;
    m_epochFraction = 0;
    updateProgressText();
}

void TrainDashboard::batchProgress(const BatchProgress &e)
{
    m_currentEpoch = e.epoch;
    m_epochFraction = e.batches > 0 ? double(e.batch) / e.batches : 0;
    m_imagesPerSecond = e.imagesPerSecond;
    m_timeline->addBatch(e, double(m_lastStep) + m_epochFraction);
    updateProgressText();
}

void TrainDashboard::epochFinished(const EpochMetrics &e)
{
    if (e.elapsed > 0) {
        // The engine's count is the run's: the store's wall time says the same.
        m_elapsedBase = e.elapsed;
        m_runClock.restart();
        m_pausedMs = 0;
        if (m_pauseClock.isValid())
            m_pauseClock.restart();
    }
    m_timeline->addEpoch(e);
    m_lastStep = std::max(m_lastStep, e.step);
    m_currentEpoch = e.epoch;
    m_epochFraction = 0;
    if (e.imagesPerSecond > 0)
        m_imagesPerSecond = e.imagesPerSecond;
    updateProgressText();
}

void TrainDashboard::stageFinished(const StageFinished &e)
{
    m_depth->setStage(e);
    m_stagesDone = std::max(m_stagesDone, e.stage + 1);
    if (m_runMode == TrainMode::Greedy) {
        m_arch->setProgress(-1, m_stagesDone);
        appendLog(LogLevel::Info, tr("stage %1 done: test %2%, ensemble %3%, %4")
                                      .arg(e.stage + 1)
                                      .arg(e.testAcc * 100, 0, 'f', 2)
                                      .arg(e.ensembleAcc * 100, 0, 'f', 2)
                                      .arg(durationText(e.seconds)));
    }
}

void TrainDashboard::probeFinished(const ProbeResult &e)
{
    m_depth->setProbe(e);
    appendLog(LogLevel::Info, tr("probe of layer %1 (after stage %2): train %3%, test %4%")
                                  .arg(e.layer + 1)
                                  .arg(e.afterStage + 1)
                                  .arg(e.trainAcc * 100, 0, 'f', 2)
                                  .arg(e.testAcc * 100, 0, 'f', 2));
}

void TrainDashboard::runEnded(const RunEnded &e)
{
    m_endedReported = true;
    if (e.seconds > 0) {
        m_elapsedBase = e.seconds;
        m_runClock.invalidate();
        m_pauseClock.invalidate();
    }
    m_timeline->flush();
    if (e.status == RunStatus::Finished) {
        m_arch->setProgress(-1, m_runStages);
        m_epochBar->setValue(m_epochBar->maximum());
        m_runBar->setValue(m_runBar->maximum());
        appendLog(LogLevel::Info, tr("finished in %1: final test accuracy %2%")
                                      .arg(durationText(e.seconds))
                                      .arg(e.finalTestAcc * 100, 0, 'f', 2));
    } else if (e.status == RunStatus::Cancelled) {
        appendLog(LogLevel::Warning, tr("stopped: %1").arg(q(e.message)));
    }
    // Failures were logged in red by the engine itself.
}

void TrainDashboard::updateProgressText()
{
    if (!m_session->isRunning())
        return;
    const double epochsDone = double(m_lastStep) + m_epochFraction;
    const double runFrac = m_plannedEpochs > 0 ? std::min(1.0, epochsDone / m_plannedEpochs) : 0;
    m_epochBar->setValue(static_cast<int>(m_epochFraction * 1000));
    m_runBar->setValue(static_cast<int>(runFrac * 1000));
    QString eta = QStringLiteral("\u2013");
    const double elapsed = elapsedSeconds();
    const double thisSession = elapsed - m_elapsedAtStart;
    const double doneNow = runFrac - m_doneAtStart;
    if (doneNow > 0.005 && thisSession > 1)
        eta = durationText(thisSession / doneNow * (1 - runFrac));
    QString where;
    if (m_runMode == TrainMode::Greedy && m_currentStage >= 0)
        where = tr("stage %1/%2 \u00b7 epoch %3/%4")
                    .arg(m_currentStage + 1)
                    .arg(m_runStages)
                    .arg(std::max(1, m_currentEpoch))
                    .arg(m_stageEpochs);
    else
        where = tr("epoch %1/%2").arg(std::max(1, m_currentEpoch)).arg(m_plannedEpochs);
    QString state;
    if (m_session->isStopping())
        state = tr(" \u00b7 stopping\u2026");
    else if (m_session->isPaused())
        state = tr(" \u00b7 paused");
    m_progressLabel->setText(tr("%1 \u00b7 %2 img/s \u00b7 elapsed %3 \u00b7 ETA %4%5")
                                 .arg(where, groupedText(std::llround(m_imagesPerSecond)),
                                      durationText(elapsed), eta, state));
}

void TrainDashboard::startClock()
{
    m_runClock.start();
    m_pausedMs = 0;
    m_pauseClock.invalidate();
}

void TrainDashboard::setPaused(bool paused)
{
    if (paused && !m_pauseClock.isValid()) {
        m_pauseClock.start();
    } else if (!paused && m_pauseClock.isValid()) {
        m_pausedMs += m_pauseClock.elapsed();
        m_pauseClock.invalidate();
    }
    if (m_session->isRunning() && !m_session->isStopping())
        showState(paused ? tr("paused") : m_runningState);
}

double TrainDashboard::elapsedSeconds() const
{
    if (!m_runClock.isValid())
        return m_elapsedBase;
    const qint64 paused = m_pausedMs + (m_pauseClock.isValid() ? m_pauseClock.elapsed() : 0);
    return m_elapsedBase + std::max<qint64>(0, m_runClock.elapsed() - paused) / 1000.0;
}

void TrainDashboard::appendLog(LogLevel level, const QString &text)
{
    const QString time = QTime::currentTime().toString(QStringLiteral("hh:mm:ss"));
    QString body = text.toHtmlEscaped();
    body.replace(QLatin1Char('\n'), QStringLiteral("<br>&nbsp;&nbsp;"));
    QString html;
    switch (level) {
    case LogLevel::Error:
        ++m_errors;
        html = QStringLiteral("<span style=\"color:#c62828;font-weight:bold\">%1 error: %2</span>")
                   .arg(time, body);
        break;
    case LogLevel::Warning:
        html
            = QStringLiteral("<span style=\"color:#b26a00\">%1 warning: %2</span>").arg(time, body);
        break;
    case LogLevel::Info: html = QStringLiteral("<span>%1 %2</span>").arg(time, body); break;
    }
    m_log->appendHtml(html);
}

void TrainDashboard::exportTo(const QString &title, const QString &filter,
                              const std::function<bool(const QString &, QString *)> &write)
{
    const QString path = QFileDialog::getSaveFileName(
        this, title, m_folders->folder(QStringLiteral("export")), filter);
    if (path.isEmpty())
        return;
    m_folders->setFolder(QStringLiteral("export"), QFileInfo(path).absolutePath());
    QString error;
    if (!write(path, &error))
        QMessageBox::warning(this, tr("Export"), error);
}

void TrainDashboard::exportPlot()
{
    exportTo(tr("Export Stage Timeline"), plotExportFilter(),
             [this](const QString &path, QString *error) {
                 return lw::exportPlot(m_timeline, path, error,
                                       [this] { return m_timeline->toCsv(); });
             });
}

void TrainDashboard::exportCsv()
{
    exportTo(tr("Export Plot Data"), tr("CSV (*.csv)"),
             [this](const QString &path, QString *error) {
                 return writeTextFile(path, m_timeline->toCsv(), error);
             });
}
void TrainDashboard::showHistory(std::int64_t runId, const RunHistory &history, int resumeStage,
                                 int resumeEpoch)
{
    int shownStage = -1;
    for (const EpochMetrics &e : history.epochs) {
        if (e.stage > resumeStage || (e.stage == resumeStage && e.epoch > resumeEpoch))
            continue;
        if (m_runMode == TrainMode::Greedy && e.stage != shownStage) {
            m_timeline->stageStarted(e.stage, double(e.step - e.epoch), true);
            shownStage = e.stage;
            m_shownStage = e.stage;
        }
        m_timeline->addEpoch(e);
        m_lastStep = std::max(m_lastStep, e.step);
    }
    // The store holds what the run continues from (a resume trimmed the rest): every finished
    // stage up to the resume point, and the probes taken after them.
    for (const StageRow &s : history.stages) {
        if (!s.finished || !s.testAcc || s.stage > resumeStage)
            continue;
        StageFinished f;
        f.stage = s.stage;
        f.epochs = s.epochsDone;
        f.testAcc = *s.testAcc;
        f.ensembleAcc = s.ensembleAcc.value_or(0);
        f.trainAcc = s.trainAcc.value_or(0);
        m_depth->setStage(f);
        m_stagesDone = std::max(m_stagesDone, s.stage + 1);
    }
    for (const ProbeRow &p : history.probes)
        if (p.afterStage <= resumeStage)
            m_depth->setProbe({p.afterStage, p.layer, p.trainAcc, p.testAcc, p.seconds});
    if (m_runMode == TrainMode::Greedy)
        m_arch->setProgress(-1, m_stagesDone);
    updateProgressText();
    if (!history.epochs.empty())
        appendLog(LogLevel::Info,
                  tr("loaded the curves of run %1 so far (%2 epochs)").arg(runId).arg(m_lastStep));
}

void TrainDashboard::showLockedStages(const std::vector<StageRow> &stages, int lockedStages)
{
    for (const StageRow &row : stages) {
        if (row.stage >= lockedStages || !row.finished)
            continue;
        m_depth->setStage(stageFinishedOf(row));
    }
    m_stagesDone = lockedStages;
    m_arch->setProgress(-1, lockedStages);
}

void TrainDashboard::showState(const QString &state)
{
    m_runLabel->setText(tr("%1 \u2014 %2").arg(m_runTitle, state));
}

void TrainDashboard::runStarted(const RunStarted &e)
{
    if (e.resumed && m_plannedEpochs > 0)
        m_doneAtStart = double(m_lastStep) / m_plannedEpochs;
    m_elapsedBase = e.elapsed;
    m_elapsedAtStart = e.elapsed;
    startClock();
    // A multi-process run: "cpu, 2 × gloo" (each process with its share of the threads).
    const QString where
        = e.worldSize > 1
              ? tr("%1, %2 \u00d7 %3").arg(q(e.device)).arg(e.worldSize).arg(q(e.backend))
              : q(e.device);
    m_runningState = tr("%1 on %2").arg(modeText(e.mode), where);
    showState(m_runningState);
    appendLog(LogLevel::Info,
              tr("%1 on %2 (%3 threads%4): %5, %6 train / %7 test images")
                  .arg(modeText(e.mode), where)
                  .arg(e.threads)
                  .arg(e.worldSize > 1 ? tr(" per process") : QString())
                  .arg(q(e.dataset), groupedText(e.trainSize), groupedText(e.testSize)));
}

void TrainDashboard::runFinished(RunStatus status, const QString &what, const QString &message)
{
    m_timeline->flush();
    if (status == RunStatus::Failed && !m_endedReported && !message.isEmpty()
        && !m_log->toPlainText().contains(message))
        appendLog(LogLevel::Error, message);
    showState(what);
    // The run is over: no stage card stays highlighted as training.
    m_arch->setProgress(-1, status == RunStatus::Finished ? m_runStages : m_stagesDone);
    m_runClock.invalidate();
    m_pauseClock.invalidate();
    m_progressLabel->setText(status == RunStatus::Failed
                                 ? message
                                 : tr("%1 \u00b7 elapsed %2 (active time, pauses excluded)")
                                       .arg(what, durationText(m_elapsedBase)));
}

void TrainDashboard::clearLog()
{
    m_log->clear();
}

} // namespace lw
