#pragma once

// One process's part in a multi-process run, for every front-end (the CLI's `train --nproc N`
// and torchrun ranks, the GUI's Processes field): one process (no group), the launcher (rank 0:
// it starts ranks 1..N-1 on this machine and hosts the rendezvous), or a rank someone else
// started (RANK in the environment). Front-ends parse, wire and call:
//
//     auto dist = DistSession::begin(launch, device);     // blocks while the ranks meet
//     if ((*dist)->worker()) return (*dist)->runWorker(exec, &console);
//     exec.dist = (*dist)->group();                         // rank 0 prepares the job as usual
//     ... RunService(store).create(request) -> execute() (or abort(why) if it cannot) ...
//     std::string failed = (*dist)->finish(summary.status == RunStatus::Finished);

#include "core/events/observer.h"
#include "core/train/trainer.h"
#include "core/util/result.h"

#include <memory>
#include <string>
#include <vector>

namespace lw {

class DistGroup;
class WorkerProcesses;

/// How this process joins a run.
struct DistLaunch
{
    /// Processes on this machine. > 1 without a launched rank's environment: this process is
    /// rank 0 and starts ranks 1..nproc-1 with a TCPStore on a free loopback port.
    int nproc = 1;
    int timeoutSeconds = 0; ///< 0: DistConfig's default (or LAYERWISE_DIST_TIMEOUT)
    std::string backend;    ///< gloo | nccl; empty: from the device
    /// Take RANK, WORLD_SIZE, MASTER_ADDR... from the environment when set (the CLI under
    /// torchrun, a started worker). The GUI is never a started rank: it sets this false.
    bool fromEnvironment = true;
    /// The command line of ranks 1..nproc-1 (argv[0]: the executable, absolute); empty: this
    /// process's own command line (the CLI starts copies of itself).
    std::vector<std::string> workerArgv;
};

class DistSession
{
public:
    /// Joins (and for nproc > 1 on its own first starts) the ranks; for a one-process run, a
    /// session without a group. Blocks until every rank has met (or the timeout). Fails with a
    /// message naming what is wrong (the environment, the executable, the rendezvous); the
    /// workers it started are then stopped.
    static Result<std::unique_ptr<DistSession>> begin(const DistLaunch &launch,
                                                      const std::string &device);
    /// Stops (SIGTERM, then SIGKILL after 5 s) and reaps the workers still running.
    ~DistSession();
    DistSession(const DistSession &) = delete;
    DistSession &operator=(const DistSession &) = delete;

    /// The group for ExecOptions::dist (null for one process).
    const std::shared_ptr<DistGroup> &group() const { return m_group; }
    /// Processes in the run (1 for one process).
    int world() const;
    /// A rank other than 0: it trains what rank 0 publishes and touches no store.
    bool worker() const;

    /// Ranks 1..N-1: waits for rank 0's job and trains it with `exec` (device, threads; the
    /// group is set here), writing nothing. `observer` may be null. Leaves the group after.
    Result<RunSummary> runWorker(ExecOptions exec, TrainObserver *observer);
    /// Rank 0 could not prepare the run: tells the other ranks, which end with `message`.
    void abort(const std::string &message);
    /// Rank 0 after its job (the job must have let go of the group: RunJob::execute does):
    /// leaves the group (the ranks still in a collective see the run end), waits for the workers
    /// it started (60 s after a finished run, 20 s otherwise, then stops them) and returns how
    /// the ones that failed ended ("rank 1 (pid 123) exited with status 1"), empty when all
    /// ended well or it started none. Call once.
    std::string finish(bool runFinished);

private:
    DistSession();
    std::shared_ptr<DistGroup> m_group;
    std::unique_ptr<WorkerProcesses> m_workers;
    bool m_aborted = false;
};

} // namespace lw
