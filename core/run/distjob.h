#pragma once

// The ranks of a multi-process run (core/dist) other than 0 train without a store: rank 0
// prepares the run with RunService as any run (rows, folder, checks) and, as its job starts,
// publishes what to train; the others wait for it here and train their shards, writing nothing.

#include "core/events/observer.h"
#include "core/train/trainer.h"
#include "core/util/result.h"

#include <string>

namespace lw {

class DistGroup;

/// Rank 0: tells the other ranks what to train (`resuming`: continue options.runDir).
Result<void> publishDistJob(DistGroup &group, const TrainOptions &options, bool resuming);
/// Rank 0: tells the other ranks there is nothing to train, and why (they end with it).
Result<void> publishDistAbort(DistGroup &group, const std::string &message);

/// Ranks 1..N-1: waits for rank 0's job and trains it with `exec` (this process's device,
/// threads and group; the cache choice and the placement are rank 0's). Writes nothing: no store,
/// no checkpoints. `observer` may be null.
Result<RunSummary> runDistWorker(const ExecOptions &exec, TrainObserver *observer);

} // namespace lw
