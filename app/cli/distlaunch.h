#pragma once

// The CLI's face of a multi-process run (core/run/distsession.h): the flags of `train` /
// `resume` (--nproc, --dist-timeout, --backend), the worker ranks' console and exit code, and
// rank 0's report of the workers it started.

#include "core/run/distsession.h"

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

/// The CLI's launch: from the environment (torchrun, a started rank) or --nproc copies of this
/// process.
DistLaunch distLaunch(const DistArgs &args);

/// Ranks 1..N-1: trains rank 0's job, printing warnings and errors only (prefixed with the
/// rank); Ctrl+C is left to rank 0. Returns the exit code.
int workerMain(DistSession &session, const ExecOptions &exec);

/// Rank 0 after its job: DistSession::finish, printing the workers that failed. Returns the
/// exit code (a finished run whose workers failed: ExitFailure).
int finishDist(DistSession &session, int code, bool runFinished);

} // namespace lw::cli
