#pragma once

#include "core/util/result.h"

#include <string>

namespace lw {

/// The one place that knows what a run folder holds (the store's runs/<id>/): the run state
/// (state.json: where training stands, the last checkpoint, finished stages and probes), the
/// rolling checkpoint of the last epoch, and one checkpoint per finished greedy stage (for
/// branching and probes). Everything else asks this class for names and paths. File names keep
/// 0-based stage indices (machine fields); people read stages 1 to N.
class RunFolder
{
public:
    RunFolder() = default;
    /// `path` need not exist yet; empty means "no folder" (a run without checkpoints).
    explicit RunFolder(std::string path);

    const std::string &path() const { return m_path; }
    bool empty() const { return m_path.empty(); }

    /// "state.json".
    static std::string stateFileName();
    std::string statePath() const;
    /// True when the state file is there (the run has a checkpoint and can resume or be probed).
    bool hasState() const;

    /// "stage<j>.pt": the whole network as it was when stage j (0-based) finished.
    static std::string stageCheckpointName(int stage);
    std::string stageCheckpointPath(int stage) const;
    bool hasStageCheckpoint(int stage) const;

    /// "ckpt-s<j>-e<n>.pt" ("-end" appended at a stage's end): the rolling checkpoint with the
    /// network and the optimizers after epoch n of stage j.
    static std::string checkpointName(int stage, int epoch, bool stageEnd);

    /// The path of a file the state names: a plain file name inside this folder. Fails (naming
    /// the state file) for an empty name, a path with a separator or "..".
    Result<std::string> resolve(const std::string &fileName) const;
    /// path()/name, for names this class made.
    std::string file(const std::string &name) const;

    /// Creates the folder (and its parents); fails with the path and the reason.
    Result<void> create() const;

private:
    std::string m_path;
};

} // namespace lw
