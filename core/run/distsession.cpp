// A process's part in a multi-process run: the launcher of ranks 1..N-1 on this machine, the
// rendezvous, the worker ranks' job, and rank 0's wait for the workers it started.
#include "core/run/distsession.h"

#include "core/dist/dist.h"
#include "core/dist/launch.h"
#include "core/run/distjob.h"
#include "core/runtime/runtime.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <unistd.h>

namespace lw {

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

} // namespace

DistSession::DistSession() = default;

DistSession::~DistSession() = default;

Result<std::unique_ptr<DistSession>> DistSession::begin(const DistLaunch &launch,
                                                        const std::string &device)
{
    std::unique_ptr<DistSession> s(new DistSession);
    std::optional<DistConfig> cfg;
    if (launch.fromEnvironment) {
        auto env = distConfigFromEnv();
        if (!env)
            return env.error();
        cfg = *env;
    }
    if (!cfg && launch.nproc > 1) {
        // The launcher: rank 0 of a fresh rendezvous on a free loopback port.
        const std::vector<std::string> argv
            = launch.workerArgv.empty() ? ownArgv() : launch.workerArgv;
        if (argv.empty() || ::access(argv[0].c_str(), X_OK) != 0)
            return fail("cannot start the worker processes: "
                        + (argv.empty() ? std::string("no command line")
                                        : "'" + argv[0] + "' is not an executable file"));
        auto port = freeTcpPort();
        if (!port)
            return port.error();
        cfg = DistConfig{};
        cfg->world = cfg->localWorld = launch.nproc;
        cfg->masterAddr = "127.0.0.1";
        cfg->masterPort = *port;
        if (const char *t = std::getenv("LAYERWISE_DIST_TIMEOUT"))
            cfg->timeoutSeconds = std::max(1, std::atoi(t));
        s->m_workers = std::make_unique<WorkerProcesses>();
        for (int r = 1; r < launch.nproc; ++r)
            if (auto st
                = s->m_workers->start(argv, r, launch.nproc, cfg->masterAddr, cfg->masterPort);
                !st)
                return st.error();
    } else if (cfg && launch.nproc > 1 && launch.nproc != cfg->localWorld) {
        return fail("--nproc " + std::to_string(launch.nproc)
                    + " conflicts with the environment of a launched rank (LOCAL_WORLD_SIZE="
                    + std::to_string(cfg->localWorld) + "); torchrun starts the processes");
    }
    if (!cfg || cfg->world <= 1)
        return s;
    if (launch.timeoutSeconds > 0)
        cfg->timeoutSeconds = launch.timeoutSeconds;
    if (!launch.backend.empty())
        cfg->backend = launch.backend;
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

int DistSession::world() const
{
    return m_group ? m_group->world() : 1;
}

bool DistSession::worker() const
{
    return m_group && m_group->rank() != 0;
}

Result<RunSummary> DistSession::runWorker(ExecOptions exec, TrainObserver *observer)
{
    exec.dist = m_group;
    auto result = runDistWorker(exec, observer);
    exec.dist.reset();
    m_group.reset();
    return result;
}

void DistSession::abort(const std::string &message)
{
    if (m_group && m_group->rank() == 0) {
        (void)publishDistAbort(*m_group, message);
        m_aborted = true;
    }
}

std::string DistSession::finish(bool runFinished)
{
    // After an abort the workers still read it from the store rank 0 hosts: wait for them first.
    if (m_aborted && m_workers)
        (void)m_workers->waitAll(30);
    m_group.reset();
    if (!m_workers)
        return {};
    std::string failed = m_workers->waitAll(runFinished ? 60 : 20);
    m_workers.reset();
    return failed;
}

} // namespace lw
