#pragma once

// Public, torch-free face of a multi-process run on PyTorch's c10d: where this process stands in
// the run (rank, world size, rendezvous) and its membership of the process group. The engine
// reaches the process group through core/dist/dist_p.h; front-ends only join and hand the group
// to the trainer (ExecOptions::dist).
//
//     auto cfg = distConfigFromEnv();            // torchrun / `train --nproc` set the variables
//     auto group = DistGroup::join(**cfg, "cpu"); // rendezvous on MASTER_ADDR:MASTER_PORT
//     exec.dist = *group;

#include "core/util/result.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace lw {

/// One process of a multi-process run, as torchrun describes it in the environment.
struct DistConfig
{
    int rank = 0;  ///< RANK: 0 records the run and writes the checkpoints
    int world = 1; ///< WORLD_SIZE
    int localRank = 0;
    int localWorld = 1; ///< LOCAL_WORLD_SIZE: processes on this machine
    std::string masterAddr = "127.0.0.1";
    int masterPort = 29500;
    /// gloo | nccl | empty: from the device (NCCL for CUDA when compiled in, else Gloo).
    std::string backend;
    /// A collective that waits longer than this for a rank that died or hangs fails.
    int timeoutSeconds = 120;
    /// The rendezvous store is torchrun's agent store (TORCHELASTIC_USE_AGENT_STORE): rank 0
    /// connects to it instead of hosting one.
    bool agentStore = false;
    std::string storePrefix = "layerwise"; ///< keys of this run in a shared store
};

/// The configuration from RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
/// MASTER_PORT (and LAYERWISE_DIST_TIMEOUT, LAYERWISE_DIST_BACKEND); nullopt when RANK and
/// WORLD_SIZE are not set. An Error names the variable that is malformed.
Result<std::optional<DistConfig>> distConfigFromEnv();

/// Whether this LibTorch was built with NCCL (USE_C10D_NCCL).
bool ncclAvailable();

/// This process's membership of a multi-process run: the rendezvous store and the process group.
/// Its collectives are called by the engine (dist_p.h). Thread-safe for heartbeat and key access.
class DistGroup
{
public:
    /// Rendezvous with the other ranks (rank 0 hosts the TCP store unless torchrun's agent does)
    /// and creates the process group for `device` ("cpu", "cuda:N"). Fails with a message naming
    /// the address, the backend and the timeout.
    static Result<std::shared_ptr<DistGroup>> join(const DistConfig &config,
                                                   const std::string &device);
    ~DistGroup();
    DistGroup(const DistGroup &) = delete;
    DistGroup &operator=(const DistGroup &) = delete;

    int rank() const;
    int world() const;
    const DistConfig &config() const;
    const std::string &backend() const; ///< gloo | nccl
    /// The host names of the ranks, in rank order, without repeats ("node1,node2").
    const std::string &hosts() const;

    /// Key-value exchange through the rendezvous store (rank 0 publishes the job to the others).
    Result<void> publish(const std::string &key, const std::string &value);
    /// Waits up to the configured timeout for `key`.
    Result<std::string> await(const std::string &key);

    /// Which ranks stopped responding (died or hang), as "rank 1" / "ranks 1, 3"; empty when all
    /// still answer. Takes a few seconds (it watches the other ranks' heartbeats).
    std::string silentRanks();

    /// Seconds this process has spent waiting for collectives and point-to-point operations to
    /// complete (transfer plus waiting for slower ranks); for the share of a run spent
    /// communicating.
    double commSeconds() const;

    struct Impl;
    Impl &impl() { return *d; }

private:
    explicit DistGroup(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> d;
};

} // namespace lw
