#pragma once

// `layerwise-cli train --nproc N` on one machine: the launching process becomes rank 0 and
// starts ranks 1..N-1 as copies of itself, with the environment torchrun would give them.

#include "core/util/result.h"

#include <string>
#include <sys/types.h>
#include <vector>

namespace lw {

/// A TCP port on 127.0.0.1 that was free a moment ago (for the rendezvous store).
Result<int> freeTcpPort();

/// The worker processes of one machine. Their ends are watched; the destructor stops (SIGTERM,
/// then SIGKILL after 5 s) and reaps any still running.
class WorkerProcesses
{
public:
    WorkerProcesses() = default;
    ~WorkerProcesses();
    WorkerProcesses(const WorkerProcesses &) = delete;
    WorkerProcesses &operator=(const WorkerProcesses &) = delete;

    /// Starts rank `rank` of `world` as `argv` (argv[0]: the executable) with RANK, LOCAL_RANK,
    /// WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT set (and `extraEnv`, "K=V").
    Result<void> start(const std::vector<std::string> &argv, int rank, int world,
                       const std::string &masterAddr, int masterPort,
                       const std::vector<std::string> &extraEnv = {});
    /// Waits up to `seconds` for every worker to end; returns how the ones that failed ended
    /// ("rank 2 (pid 123) was killed by signal 9"), empty when all exited with 0. Workers still
    /// running then are stopped and reported.
    std::string waitAll(double seconds);
    /// Sends `signal` to every worker still running.
    void signalAll(int signal);

private:
    struct Worker
    {
        int rank = 0;
        pid_t pid = -1;
        bool done = false;
        int status = 0;
    };
    std::vector<Worker> m_workers;
};

} // namespace lw
