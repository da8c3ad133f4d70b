// `--nproc N` and torchrun on the command line: the flags, the worker ranks' console, and the
// report of rank 0's wait for them. The processes themselves are core's (core/run/distsession).
#include "app/cli/distlaunch.h"

#include "app/cli/commands.h"
#include "app/cli/flags.h"
#include "core/dist/dist.h"

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>

namespace lw::cli {

namespace {

/// A worker rank's console: its warnings and errors, prefixed with its rank.
class WorkerConsole : public TrainObserver
{
public:
    explicit WorkerConsole(int rank)
        : m_rank(rank)
    {}
    void log(LogLevel level, const std::string &text) override
    {
        if (level == LogLevel::Warning || level == LogLevel::Error)
            std::fprintf(stderr, "rank %d: %s\n", m_rank, text.c_str());
    }

private:
    int m_rank;
};

} // namespace

void addDistOptions(CLI::App *cmd, DistArgs &a)
{
    cmd->add_option("--nproc", a.nproc,
                    "Processes on this machine, one run on c10d: data parallel (each trains "
                    "batch / N of every batch), or with --placement pipeline one stage each; "
                    "threads per process default to cores / N")
        ->check(integerIn(1, 256));
    cmd->add_option("--dist-timeout", a.timeoutSeconds,
                    "Seconds a multi-process run waits for a rank that died or hangs (default 120)")
        ->check(integerIn(1, 86400));
    cmd->add_option("--backend", a.backend,
                    "c10d backend of a multi-process run: gloo | nccl (default: nccl on CUDA "
                    "when available, else gloo)")
        ->check(CLI::IsMember({"gloo", "nccl"}));
}

DistLaunch distLaunch(const DistArgs &args)
{
    DistLaunch launch;
    launch.nproc = args.nproc;
    launch.timeoutSeconds = args.timeoutSeconds;
    launch.backend = args.backend;
    return launch;
}

int workerMain(DistSession &session, const ExecOptions &exec)
{
    // Ctrl+C reaches every process of the terminal: rank 0 cancels the run, the others follow.
    std::signal(SIGINT, SIG_IGN);
    const int rank = session.group()->rank();
    WorkerConsole console(rank);
    auto result = session.runWorker(exec, &console);
    if (!result) {
        std::fprintf(stderr, "rank %d: %s\n", rank, result.message().c_str());
        return ExitFailure;
    }
    if (result->status != RunStatus::Finished) {
        if (!result->message.empty())
            std::fprintf(stderr, "rank %d: %s: %s\n", rank, toString(result->status),
                         result->message.c_str());
        return ExitFailure;
    }
    return ExitOk;
}

int finishDist(DistSession &session, int code, bool runFinished)
{
    const std::string failed = session.finish(runFinished);
    if (failed.empty())
        return code;
    if (runFinished) {
        std::fprintf(stderr, "layerwise-cli: %s\n", failed.c_str());
        return ExitFailure;
    }
    std::fprintf(stderr, "workers: %s\n", failed.c_str());
    return code;
}

} // namespace lw::cli
