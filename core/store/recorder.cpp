#include "core/store/recorder.h"

namespace lw {

RunRecorder::RunRecorder(RunStore &store, std::int64_t runId, RecorderOptions options)
    : m_store(store)
    , m_runId(runId)
    , m_options(options)
    , m_lastFlush(std::chrono::steady_clock::now())
{}

RunRecorder::~RunRecorder()
{
    if (!m_pending.empty())
        note(flush());
}

void RunRecorder::note(const Result<void> &result)
{
    if (!result)
        m_lastError = result.error();
}

Result<void> RunRecorder::flush()
{
    m_lastFlush = std::chrono::steady_clock::now();
    if (m_pending.empty())
        return {};
    // All pending epochs in one transaction; on failure they stay pending for the next try.
    auto r = m_store.recordEpochs(m_runId, m_pending);
    if (r)
        m_pending.clear();
    return r;
}

void RunRecorder::runStarted(const RunStarted &event)
{
    if (event.resumed)
        note(m_store.beginResume(m_runId, event.resumeStage, event.resumeEpoch,
                                 event.resumeStageDone));
    note(m_store.updateRunInfo(m_runId, event));
}

void RunRecorder::stageStarted(const StageStarted &event)
{
    note(flush());
    note(m_store.beginStage(m_runId, event));
}

void RunRecorder::epochFinished(const EpochMetrics &event)
{
    m_pending.push_back(event);
    const double since
        = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_lastFlush).count();
    if (since >= m_options.flushIntervalSeconds)
        note(flush());
}

void RunRecorder::stageFinished(const StageFinished &event)
{
    note(flush());
    note(m_store.finishStage(m_runId, event));
}

void RunRecorder::probeFinished(const ProbeResult &event)
{
    note(flush());
    note(m_store.recordProbe(m_runId, event));
}

void RunRecorder::picturesReady(const StagePictures &event)
{
    note(m_store.recordPictures(m_runId, event));
}

void RunRecorder::checkpointSaved(const CheckpointSaved &event)
{
    // The epochs a checkpoint contains are in the store before the checkpoint is.
    note(flush());
    auto r = m_store.addArtifact(m_runId, event.stage, event.epoch,
                                 event.stageEnd ? "stage-checkpoint" : "checkpoint", event.path);
    if (!r)
        m_lastError = r.error();
}

void RunRecorder::runEnded(const RunEnded &event)
{
    auto flushed = flush();
    note(flushed);
    RunEnded ended = event;
    if (!flushed && ended.status == RunStatus::Finished) {
        // The store misses epochs: do not claim a complete run.
        ended.status = RunStatus::Failed;
        ended.message = "recording failed: " + flushed.message();
    }
    note(m_store.finishRun(m_runId, ended));
}

} // namespace lw
