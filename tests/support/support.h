#pragma once
// What the tests share: a tiny trainable spec, temporary run stores, an observer that keeps every
// engine event, and the CLI as a child process. Torch-free; torch tests add seed_p.h.
#include "core/events/observer.h"
#include "core/spec/spec.h"
#include "core/store/runstore.h"

#include <QString>
#include <QStringList>
#include <QTemporaryDir>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace lw::test {

/// Three stages (width 8, 16, 32; a psi before stage 3; a k = 2 head on stage 2) on 1x8x8
/// synthetic images of 4 classes: 512 training and 256 test images, batch 64, no augmentation,
/// seed 3. A few seconds per run on 2 cores.
Spec tinySpec(int epochsPerStage = 2);

/// Opens (creating) the store at `path`; nullptr with the reason as a test warning.
std::unique_ptr<RunStore> openStore(const std::string &path);

/// A run store in its own temporary folder, removed with it.
class TempStore
{
public:
    TempStore();
    bool ok() const { return m_store != nullptr; }
    RunStore &operator*() const { return *m_store; }
    RunStore *operator->() const { return m_store.get(); }
    RunStore *get() const { return m_store.get(); }
    /// The database file.
    const std::string &path() const { return m_path; }
    /// The temporary folder holding the database and its runs/.
    QString dir() const { return m_dir.path(); }
    /// Closes the store (e.g. before a child process or reopening it).
    void close() { m_store.reset(); }
    /// Opens it again.
    bool reopen();

private:
    QTemporaryDir m_dir;
    std::string m_path;
    std::unique_ptr<RunStore> m_store;
};

/// Keeps every event the engine reports, in order.
struct EventLog : TrainObserver
{
    std::vector<RunStarted> starts;
    std::vector<StageStarted> stageStarts;
    std::vector<EpochMetrics> epochs;
    std::vector<StageFinished> stages;
    std::vector<ProbeResult> probes;
    std::vector<CheckpointSaved> checkpoints;
    std::vector<RunEnded> ends;
    std::vector<std::string> logs;
    std::function<void(const EpochMetrics &)> onEpoch;
    std::function<void(const BatchProgress &)> onBatch;

    void runStarted(const RunStarted &e) override { starts.push_back(e); }
    void stageStarted(const StageStarted &e) override { stageStarts.push_back(e); }
    void batchProgress(const BatchProgress &b) override;
    void epochFinished(const EpochMetrics &m) override;
    void stageFinished(const StageFinished &s) override { stages.push_back(s); }
    void probeFinished(const ProbeResult &p) override { probes.push_back(p); }
    void checkpointSaved(const CheckpointSaved &c) override { checkpoints.push_back(c); }
    void runEnded(const RunEnded &e) override { ends.push_back(e); }
    void log(LogLevel, const std::string &text) override { logs.push_back(text); }
};

/// What `layerwise-cli` printed and returned.
struct CliResult
{
    int exitCode = -1;
    QString out, err;
};

/// Runs the build's layerwise-cli with `args` (and `extraEnv` entries "NAME=value"), waiting up to
/// `timeoutMs`.
CliResult runCli(const QStringList &args, const QStringList &extraEnv = {}, int timeoutMs = 600000);

} // namespace lw::test
