#pragma once

// This process's part in a multi-process run of `train` / `resume`: one process (no RANK in the
// environment and --nproc 1), the launcher of `--nproc N` (rank 0, it starts ranks 1..N-1 as
// copies of itself), or a rank started by torchrun or by such a launcher (RANK set).

#include "core/dist/dist.h"
#include "core/dist/launch.h"
#include "core/train/trainer.h"

#include <memory>
#include <string>

namespace CLI {
class App;
}

namespace lw::cli {

struct DistArgs
{
    int nproc = 1;
    int timeoutSeconds = 0; ///< 0: DistConfig's default (or LAYERWISE_DIST_TIMEOUT)
    std::string backend;    ///< empty: from the device
};

void addDistOptions(CLI::App *cmd, DistArgs &a);

class DistSession
{
public:
    /// Joins (and for --nproc first starts) the ranks; a session with no group for a one-process
    /// run. Fails with a message naming what is wrong (the environment, the rendezvous).
    static Result<std::unique_ptr<DistSession>> begin(const DistArgs &args,
                                                      const std::string &device);
    ~DistSession();

    /// The group for ExecOptions::dist (null for one process).
    const std::shared_ptr<DistGroup> &group() const { return m_group; }
    /// A rank other than 0: it trains what rank 0 publishes and touches no store.
    bool worker() const { return m_group && m_group->rank() != 0; }

    /// Ranks 1..N-1: trains rank 0's job, printing warnings and errors only. Returns the exit code.
    int runWorker(ExecOptions exec);
    /// Rank 0 could not prepare the run: tells the other ranks, which end with `message`.
    void abort(const std::string &message);
    /// Rank 0 after its job: leaves the group (the ranks still in a collective see it end), waits
    /// for the workers it started and reports the ones that failed. Returns the exit code.
    int finish(int code, bool runFinished);

private:
    DistSession() = default;
    std::shared_ptr<DistGroup> m_group;
    std::unique_ptr<WorkerProcesses> m_workers;
    bool m_aborted = false;
};

} // namespace lw::cli
