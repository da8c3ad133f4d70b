// `--nproc N` and torchrun: the launcher, the worker ranks' console, and rank 0's wait for them.
#include "app/cli/distlaunch.h"

#include "app/cli/commands.h"
#include "app/cli/flags.h"
#include "core/run/distjob.h"
#include "core/runtime/runtime.h"

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <unistd.h>

namespace lw::cli {

namespace {

/// The command line of this process, to start the other ranks with (/proc/self/cmdline).
std::vector<std::string> ownArgv()
{
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> argv;
    std::string cur;
    for (char c : all) {
        if (c == '\0') {
            argv.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    char exe[4096] = {};
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (!argv.empty() && n > 0)
        argv[0] = std::string(exe, std::size_t(n));
    return argv;
}

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
                    "Processes on this machine, one run (data-parallel on c10d: each trains "
                    "batch / N of every batch; threads per process default to cores / N)")
        ->check(integerIn(1, 256));
    cmd->add_option("--dist-timeout", a.timeoutSeconds,
                    "Seconds a multi-process run waits for a rank that died or hangs (default 120)")
        ->check(integerIn(1, 86400));
    cmd->add_option("--backend", a.backend,
                    "c10d backend of a multi-process run: gloo | nccl (default: nccl on CUDA "
                    "when available, else gloo)")
        ->check(CLI::IsMember({"gloo", "nccl"}));
}

Result<std::unique_ptr<DistSession>> DistSession::begin(const DistArgs &args,
                                                        const std::string &device)
{
    std::unique_ptr<DistSession> s(new DistSession);
    auto env = distConfigFromEnv();
    if (!env)
        return env.error();
    std::optional<DistConfig> cfg = *env;
    if (!cfg && args.nproc > 1) {
        // The launcher: rank 0 of a fresh rendezvous on a free loopback port.
        auto port = freeTcpPort();
        if (!port)
            return port.error();
        cfg = DistConfig{};
        cfg->world = cfg->localWorld = args.nproc;
        cfg->masterAddr = "127.0.0.1";
        cfg->masterPort = *port;
        if (const char *t = std::getenv("LAYERWISE_DIST_TIMEOUT"))
            cfg->timeoutSeconds = std::max(1, std::atoi(t));
        s->m_workers = std::make_unique<WorkerProcesses>();
        const auto argv = ownArgv();
        for (int r = 1; r < args.nproc; ++r)
            if (auto st
                = s->m_workers->start(argv, r, args.nproc, cfg->masterAddr, cfg->masterPort);
                !st)
                return st.error();
    } else if (cfg && args.nproc > 1 && args.nproc != cfg->localWorld) {
        return fail("--nproc " + std::to_string(args.nproc)
                    + " conflicts with the environment of a launched rank (LOCAL_WORLD_SIZE="
                    + std::to_string(cfg->localWorld) + "); torchrun starts the processes");
    }
    if (!cfg || cfg->world <= 1)
        return s;
    if (args.timeoutSeconds > 0)
        cfg->timeoutSeconds = args.timeoutSeconds;
    if (!args.backend.empty())
        cfg->backend = args.backend;
    std::string dev = device;
    if (dev == "auto" || dev == "cuda") // one GPU per local rank
        dev = resolveDevice(device, nullptr);
    if (dev.rfind("cuda", 0) == 0 && dev.find(':') == std::string::npos)
        dev += ":" + std::to_string(cfg->localRank);
    auto group = DistGroup::join(*cfg, dev);
    if (!group)
        return group.error();
    s->m_group = *group;
    return s;
}

DistSession::~DistSession() = default;

int DistSession::runWorker(ExecOptions exec)
{
    // Ctrl+C reaches every process of the terminal: rank 0 cancels the run, the others follow.
    std::signal(SIGINT, SIG_IGN);
    const int rank = m_group->rank();
    exec.dist = m_group;
    WorkerConsole console(rank);
    auto result = runDistWorker(exec, &console);
    m_group.reset();
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

void DistSession::abort(const std::string &message)
{
    if (m_group && m_group->rank() == 0) {
        (void)publishDistAbort(*m_group, message);
        m_aborted = true;
    }
}

int DistSession::finish(int code, bool runFinished)
{
    // After an abort the workers still read it from the store rank 0 hosts: wait for them first.
    if (m_aborted && m_workers)
        (void)m_workers->waitAll(30);
    m_group.reset();
    if (!m_workers)
        return code;
    const std::string failed = m_workers->waitAll(runFinished ? 60 : 20);
    if (!failed.empty() && runFinished) {
        std::fprintf(stderr, "layerwise-cli: %s\n", failed.c_str());
        return ExitFailure;
    }
    if (!failed.empty())
        std::fprintf(stderr, "workers: %s\n", failed.c_str());
    return code;
}

} // namespace lw::cli
