// The single-machine launcher of `train --nproc N`: a free port for the rendezvous, the worker
// processes (fork + exec of the same executable with torchrun's environment), their ends.
#include "core/dist/launch.h"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char **environ;

namespace lw {

Result<int> freeTcpPort()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return fail(std::string("cannot open a socket to find a free port: ")
                    + std::strerror(errno));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0
        || ::getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) != 0) {
        const std::string why = std::strerror(errno);
        ::close(fd);
        return fail("cannot find a free TCP port on 127.0.0.1: " + why);
    }
    ::close(fd);
    return int(ntohs(a.sin_port));
}

WorkerProcesses::~WorkerProcesses()
{
    (void)waitAll(0);
}

Result<void> WorkerProcesses::start(const std::vector<std::string> &argv, int rank, int world,
                                    const std::string &masterAddr, int masterPort,
                                    const std::vector<std::string> &extraEnv)
{
    std::vector<std::string> env;
    const char *own[] = {
        "RANK=", "LOCAL_RANK=", "WORLD_SIZE=", "LOCAL_WORLD_SIZE=", "MASTER_ADDR=", "MASTER_PORT="};
    for (char **e = environ; *e; ++e) {
        bool skip = false;
        for (const char *o : own)
            skip = skip || std::strncmp(*e, o, std::strlen(o)) == 0;
        if (!skip)
            env.emplace_back(*e);
    }
    env.push_back("RANK=" + std::to_string(rank));
    env.push_back("LOCAL_RANK=" + std::to_string(rank));
    env.push_back("WORLD_SIZE=" + std::to_string(world));
    env.push_back("LOCAL_WORLD_SIZE=" + std::to_string(world));
    env.push_back("MASTER_ADDR=" + masterAddr);
    env.push_back("MASTER_PORT=" + std::to_string(masterPort));
    env.insert(env.end(), extraEnv.begin(), extraEnv.end());
    std::vector<char *> args, envp;
    for (const auto &a : argv)
        args.push_back(const_cast<char *>(a.c_str()));
    args.push_back(nullptr);
    for (const auto &e : env)
        envp.push_back(const_cast<char *>(e.c_str()));
    envp.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0)
        return fail("cannot start rank " + std::to_string(rank) + ": " + std::strerror(errno));
    if (pid == 0) {
        ::execve(args[0], args.data(), envp.data());
        std::fprintf(stderr, "rank %d: cannot run %s: %s\n", rank, args[0], std::strerror(errno));
        ::_exit(127);
    }
    m_workers.push_back({rank, pid, false, 0});
    return {};
}

void WorkerProcesses::signalAll(int signal)
{
    for (auto &w : m_workers)
        if (!w.done)
            ::kill(w.pid, signal);
}

std::string WorkerProcesses::waitAll(double seconds)
{
    using Clock = std::chrono::steady_clock;
    auto reap = [&](bool block) {
        bool all = true;
        for (auto &w : m_workers) {
            if (w.done)
                continue;
            if (::waitpid(w.pid, &w.status, block ? 0 : WNOHANG) == w.pid)
                w.done = true;
            else
                all = false;
        }
        return all;
    };
    const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
    bool stopped = false;
    while (!reap(false)) {
        if (Clock::now() >= deadline) {
            stopped = true;
            signalAll(SIGTERM);
            const auto hard = Clock::now() + std::chrono::seconds(5);
            while (!reap(false) && Clock::now() < hard)
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            signalAll(SIGKILL);
            reap(true);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::string out;
    for (const auto &w : m_workers) {
        std::string how;
        if (WIFEXITED(w.status) && WEXITSTATUS(w.status) != 0)
            how = "exited with status " + std::to_string(WEXITSTATUS(w.status));
        else if (WIFSIGNALED(w.status))
            how = std::string("was killed by signal ") + std::to_string(WTERMSIG(w.status)) + " ("
                  + strsignal(WTERMSIG(w.status)) + ")";
        if (!how.empty())
            out += (out.empty() ? "" : "; ")
                   + ("rank " + std::to_string(w.rank) + " (pid " + std::to_string(w.pid) + ") "
                      + how);
    }
    if (stopped && !out.empty())
        out += " (stopped after the " + std::to_string(int(seconds)) + " s wait)";
    m_workers.clear();
    return out;
}

} // namespace lw
