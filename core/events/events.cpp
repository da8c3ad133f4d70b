// Names of the run's mode and status (declared in core/events/events.h).
#include "core/events/events.h"

namespace lw {

const char *toString(TrainMode mode)
{
    switch (mode) {
    case TrainMode::Greedy: return "greedy";
    case TrainMode::EndToEnd: return "e2e";
    case TrainMode::Decoupled: return "dgl";
    }
    return "greedy";
}

const char *modeLabel(TrainMode mode)
{
    switch (mode) {
    case TrainMode::Greedy: return "greedy layerwise";
    case TrainMode::EndToEnd: return "end-to-end";
    case TrainMode::Decoupled: return "decoupled (DGL)";
    }
    return "greedy layerwise";
}

const char *toString(RunStatus status)
{
    switch (status) {
    case RunStatus::Running: return "running";
    case RunStatus::Finished: return "finished";
    case RunStatus::Failed: return "failed";
    case RunStatus::Cancelled: return "cancelled";
    case RunStatus::Interrupted: return "interrupted";
    }
    return "running";
}

const char *statusLabel(RunStatus status, bool paused)
{
    switch (status) {
    case RunStatus::Running: return paused ? "paused" : "running";
    case RunStatus::Finished: return "finished";
    case RunStatus::Failed: return "failed";
    case RunStatus::Cancelled: return "stopped";
    case RunStatus::Interrupted: return "interrupted";
    }
    return "running";
}

std::optional<TrainMode> parseTrainMode(std::string_view text)
{
    if (text == "greedy")
        return TrainMode::Greedy;
    if (text == "e2e" || text == "end-to-end" || text == "endtoend")
        return TrainMode::EndToEnd;
    if (text == "dgl" || text == "decoupled")
        return TrainMode::Decoupled;
    return std::nullopt;
}

std::optional<RunStatus> parseRunStatus(std::string_view text)
{
    if (text == "running")
        return RunStatus::Running;
    if (text == "finished")
        return RunStatus::Finished;
    if (text == "failed")
        return RunStatus::Failed;
    if (text == "cancelled" || text == "canceled" || text == "stopped")
        return RunStatus::Cancelled;
    if (text == "interrupted")
        return RunStatus::Interrupted;
    return std::nullopt;
}

} // namespace lw
