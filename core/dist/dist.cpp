// DistGroup: the rendezvous (TCPStore, or torchrun's agent store), the process group (Gloo, or
// NCCL when this LibTorch has it), the heartbeats that name a rank that stopped responding, and
// the collectives the engine calls.
#include "core/dist/dist_p.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <torch/version.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace lw {

namespace {

// LibTorch 2.x splits the process group into a front and per-backend Backends; the Gloo and
// NCCL classes are Backends there and ProcessGroups in 1.13. Their collectives are the same.
#if TORCH_VERSION_MAJOR >= 2
using Comm = c10d::Backend;
#else
using Comm = c10d::ProcessGroup;
#endif

Result<int> envInt(const char *name, int fallback, int low, int high)
{
    const char *v = std::getenv(name);
    if (!v || !*v)
        return fallback;
    char *end = nullptr;
    const long x = std::strtol(v, &end, 10);
    if (*end != '\0' || x < low || x > high)
        return fail(std::string("environment variable ") + name + "='" + v
                    + "': expected an integer in " + std::to_string(low) + ".."
                    + std::to_string(high));
    return static_cast<int>(x);
}

std::string hostName()
{
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0)
        return "localhost";
    return buf;
}

std::string toString(const std::vector<std::uint8_t> &v)
{
    return std::string(v.begin(), v.end());
}

} // namespace

Result<std::optional<DistConfig>> distConfigFromEnv()
{
    if (!std::getenv("RANK") || !std::getenv("WORLD_SIZE"))
        return std::optional<DistConfig>();
    DistConfig c;
    auto world = envInt("WORLD_SIZE", 1, 1, 65536);
    if (!world)
        return world.error();
    c.world = *world;
    auto rank = envInt("RANK", 0, 0, c.world - 1);
    if (!rank)
        return rank.error();
    c.rank = *rank;
    auto localWorld = envInt("LOCAL_WORLD_SIZE", c.world, 1, c.world);
    if (!localWorld)
        return localWorld.error();
    c.localWorld = *localWorld;
    auto localRank = envInt("LOCAL_RANK", c.rank % c.localWorld, 0, c.localWorld - 1);
    if (!localRank)
        return localRank.error();
    c.localRank = *localRank;
    if (const char *a = std::getenv("MASTER_ADDR"); a && *a)
        c.masterAddr = a;
    auto port = envInt("MASTER_PORT", 29500, 1, 65535);
    if (!port)
        return port.error();
    c.masterPort = *port;
    auto timeout = envInt("LAYERWISE_DIST_TIMEOUT", c.timeoutSeconds, 1, 86400);
    if (!timeout)
        return timeout.error();
    c.timeoutSeconds = *timeout;
    if (const char *b = std::getenv("LAYERWISE_DIST_BACKEND"); b && *b) {
        c.backend = b;
        if (c.backend != "gloo" && c.backend != "nccl")
            return fail(std::string("environment variable LAYERWISE_DIST_BACKEND='") + b
                        + "': expected gloo or nccl");
    }
    if (const char *s = std::getenv("TORCHELASTIC_USE_AGENT_STORE"))
        c.agentStore = std::string(s) == "True" || std::string(s) == "1";
    if (const char *r = std::getenv("TORCHELASTIC_RESTART_COUNT"); r && *r)
        c.storePrefix += std::string("/restart") + r;
    return std::optional<DistConfig>(c);
}

bool ncclAvailable()
{
#ifdef USE_C10D_NCCL
    return true;
#else
    return false;
#endif
}

struct DistGroup::Impl
{
    DistConfig config;
    std::string backend, hosts;
    c10::intrusive_ptr<c10d::Store> store;     // this rank's client (or rank 0's server)
    c10::intrusive_ptr<c10d::Store> beatStore; // a second connection for the heartbeat thread
    c10::intrusive_ptr<Comm> comm;
    std::mutex beatMutex;
    std::condition_variable beatCv;
    bool stopBeat = false;
    std::thread beat;
    std::atomic<std::int64_t> commNanos{0}; // time spent in wait()

    ~Impl()
    {
        {
            std::lock_guard lock(beatMutex);
            stopBeat = true;
        }
        beatCv.notify_all();
        if (beat.joinable())
            beat.join();
    }

    c10::intrusive_ptr<c10d::Store> connect(bool server) const
    {
        c10d::TCPStoreOptions o;
        o.port = static_cast<std::uint16_t>(config.masterPort);
        o.isServer = server;
        o.waitWorkers = false;
        o.timeout = std::chrono::seconds(config.timeoutSeconds);
        auto tcp = c10::make_intrusive<c10d::TCPStore>(config.masterAddr, o);
        return c10::make_intrusive<c10d::PrefixStore>(config.storePrefix, tcp);
    }

    std::string beatKey(int r) const { return "heartbeat/" + std::to_string(r); }

    void heartbeat()
    {
        std::unique_lock lock(beatMutex);
        while (!stopBeat) {
            lock.unlock();
            try {
                beatStore->add(beatKey(config.rank), 1);
            } catch (const std::exception &) {
                // the store is gone (rank 0 ended): nothing left to tell
            }
            lock.lock();
            beatCv.wait_for(lock, std::chrono::milliseconds(300), [&] { return stopBeat; });
        }
    }

    /// Waits for `work` (false: it was aborted); with `counted`, the wait adds to commSeconds.
    bool wait(const c10::intrusive_ptr<c10d::Work> &work, DistGroup &group, const char *what,
              bool counted = true)
    {
        const auto start = std::chrono::steady_clock::now();
        struct Count
        {
            std::atomic<std::int64_t> &total;
            std::chrono::steady_clock::time_point start;
            bool counted;
            ~Count()
            {
                if (counted)
                    total += std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 std::chrono::steady_clock::now() - start)
                                 .count();
            }
        } count{commNanos, start, counted};
        try {
            return work->wait();
        } catch (const std::exception &e) {
            std::string silent = group.silentRanks();
            throw detail::DistFailure(
                (silent.empty() ? std::string("a rank failed") : silent + " stopped responding")
                + " (" + what + " on rank " + std::to_string(config.rank)
                + "; died, hung or unreachable past the " + std::to_string(config.timeoutSeconds)
                + " s timeout); the run stops here and resumes from its last checkpoint: "
                + e.what());
        }
    }
};

DistGroup::DistGroup(std::unique_ptr<Impl> impl)
    : d(std::move(impl))
{}

DistGroup::~DistGroup() = default;

Result<std::shared_ptr<DistGroup>> DistGroup::join(const DistConfig &config,
                                                   const std::string &device)
{
    auto impl = std::make_unique<Impl>();
    impl->config = config;
    const bool cuda = device.rfind("cuda", 0) == 0;
    impl->backend
        = config.backend.empty() ? (cuda && ncclAvailable() ? "nccl" : "gloo") : config.backend;
    if (impl->backend == "nccl" && !ncclAvailable())
        return fail("backend nccl: this LibTorch was built without NCCL; use gloo");
    if (impl->backend == "nccl" && !cuda)
        return fail("backend nccl needs a CUDA device (--device cuda); CPU runs use gloo");
    const std::string where = config.masterAddr + ":" + std::to_string(config.masterPort);
    try {
        impl->store = impl->connect(config.rank == 0 && !config.agentStore);
        impl->beatStore = impl->connect(false);
        const auto timeout = std::chrono::milliseconds(std::int64_t(config.timeoutSeconds) * 1000);
        if (impl->backend == "gloo") {
            auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
            if (const char *ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
                opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
            else if (config.masterAddr == "127.0.0.1" || config.masterAddr == "localhost")
                opts->devices.push_back(
                    c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
            else
                opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
            opts->threads = 2;
            impl->comm = c10::make_intrusive<c10d::ProcessGroupGloo>(
                c10::make_intrusive<c10d::PrefixStore>("gloo", impl->store), config.rank,
                config.world, opts);
        } else {
#ifdef USE_C10D_NCCL
            auto opts = c10d::ProcessGroupNCCL::Options::create();
            opts->timeout = timeout;
            impl->comm = c10::make_intrusive<c10d::ProcessGroupNCCL>(
                c10::make_intrusive<c10d::PrefixStore>("nccl", impl->store), config.rank,
                config.world, opts);
#endif
        }
        const std::string me = hostName();
        impl->store->set("host/" + std::to_string(config.rank),
                         std::vector<std::uint8_t>(me.begin(), me.end()));
        std::vector<std::string> seen;
        for (int r = 0; r < config.world; ++r) {
            auto h = toString(impl->store->get("host/" + std::to_string(r)));
            if (std::find(seen.begin(), seen.end(), h) == seen.end())
                seen.push_back(h);
        }
        for (const auto &h : seen)
            impl->hosts += (impl->hosts.empty() ? "" : ",") + h;
    } catch (const std::exception &e) {
        return fail("rank " + std::to_string(config.rank) + " of " + std::to_string(config.world)
                    + ": cannot join the run at " + where + " (backend " + impl->backend
                    + ", timeout " + std::to_string(config.timeoutSeconds) + " s): " + e.what());
    }
    impl->beat = std::thread([p = impl.get()] { p->heartbeat(); });
    return std::shared_ptr<DistGroup>(new DistGroup(std::move(impl)));
}

int DistGroup::rank() const
{
    return d->config.rank;
}

int DistGroup::world() const
{
    return d->config.world;
}

const DistConfig &DistGroup::config() const
{
    return d->config;
}

const std::string &DistGroup::backend() const
{
    return d->backend;
}

const std::string &DistGroup::hosts() const
{
    return d->hosts;
}

Result<void> DistGroup::publish(const std::string &key, const std::string &value)
{
    try {
        d->store->set("job/" + key, std::vector<std::uint8_t>(value.begin(), value.end()));
        return {};
    } catch (const std::exception &e) {
        return fail("cannot publish '" + key + "' to the other ranks: " + e.what());
    }
}

Result<std::string> DistGroup::await(const std::string &key)
{
    try {
        return toString(d->store->get("job/" + key));
    } catch (const std::exception &e) {
        return fail("rank " + std::to_string(d->config.rank) + ": no '" + key
                    + "' from rank 0 within " + std::to_string(d->config.timeoutSeconds)
                    + " s: " + e.what());
    }
}

double DistGroup::commSeconds() const
{
    return double(d->commNanos.load()) * 1e-9;
}

std::string DistGroup::silentRanks()
{
    // Heartbeats advance every 0.3 s; a rank whose count stands still for 2 s is gone or hangs.
    std::vector<std::int64_t> before(std::size_t(world()), 0);
    try {
        for (int r = 0; r < world(); ++r)
            before[std::size_t(r)] = d->store->add(d->beatKey(r), 0);
        std::this_thread::sleep_for(std::chrono::seconds(2));
        std::string out;
        int n = 0;
        for (int r = 0; r < world(); ++r)
            if (r != rank() && d->store->add(d->beatKey(r), 0) == before[std::size_t(r)]) {
                out += (out.empty() ? "" : ", ") + std::to_string(r);
                ++n;
            }
        return out.empty() ? out : (n == 1 ? "rank " : "ranks ") + out;
    } catch (const std::exception &) {
        return "rank 0 (which hosts the rendezvous store)";
    }
}

namespace detail {

void allreduceSum(DistGroup &group, torch::Tensor &t)
{
    std::vector<torch::Tensor> v{t};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    group.impl().wait(group.impl().comm->allreduce(v, o), group, "all-reduce");
}

void broadcast(DistGroup &group, torch::Tensor &t, int root)
{
    std::vector<torch::Tensor> v{t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    group.impl().wait(group.impl().comm->broadcast(v, o), group, "broadcast");
}

void averageGradients(DistGroup &group, const std::vector<torch::Tensor> &params,
                      std::vector<double> &extra)
{
    torch::NoGradGuard guard;
    constexpr std::int64_t bucketBytes = 25 << 20;
    const double scale = 1.0 / group.world();
    std::size_t i = 0;
    while (i < params.size() || i == 0) {
        // One bucket: consecutive parameters of one dtype/device up to bucketBytes.
        std::vector<torch::Tensor> grads;
        std::int64_t bytes = 0;
        while (i < params.size() && (grads.empty() || bytes < bucketBytes)) {
            const auto &p = params[i++];
            auto g = p.grad().defined() ? p.grad() : torch::zeros_like(p);
            if (!grads.empty() && g.scalar_type() != grads.front().scalar_type())
                break;
            grads.push_back(g);
            bytes += g.numel() * g.element_size();
        }
        const bool last = i >= params.size();
        std::vector<torch::Tensor> flat;
        for (const auto &g : grads)
            flat.push_back(g.reshape(-1).to(torch::kFloat32));
        auto opts = torch::TensorOptions()
                        .dtype(torch::kFloat32)
                        .device(grads.empty() ? torch::kCPU : grads.front().device());
        if (last)
            flat.push_back(torch::tensor(std::vector<float>(extra.begin(), extra.end()), opts)
                               .to(opts.device()));
        auto buf = flat.empty() ? torch::zeros({0}, opts) : torch::cat(flat);
        allreduceSum(group, buf);
        std::int64_t off = 0;
        for (auto &g : grads) {
            const auto n = g.numel();
            g.copy_(buf.slice(0, off, off + n).view(g.sizes()).mul(scale));
            off += n;
        }
        for (std::size_t k = 0; k < grads.size(); ++k) {
            // zeros_like stand-ins: give them to the parameter so the optimizer sees them
            auto &p = params[i - grads.size() + k];
            if (!p.grad().defined())
                const_cast<torch::Tensor &>(p).mutable_grad() = grads[k];
        }
        if (last) {
            auto e = buf.slice(0, off).to(torch::kCPU).to(torch::kFloat64);
            for (std::size_t k = 0; k < extra.size(); ++k)
                extra[k] = e[std::int64_t(k)].item<double>();
            break;
        }
    }
}

void broadcastModule(DistGroup &group, torch::nn::Module &module, bool buffersOnly)
{
    torch::NoGradGuard guard;
    std::vector<torch::Tensor> ts;
    if (!buffersOnly)
        for (auto &p : module.parameters())
            ts.push_back(p);
    for (auto &b : module.buffers())
        ts.push_back(b);
    for (auto &t : ts) {
        auto c = t.contiguous();
        broadcast(group, c, 0);
        if (!c.is_same(t))
            t.copy_(c);
    }
}

void send(DistGroup &group, torch::Tensor &t, int dst, int tag)
{
    std::vector<torch::Tensor> v{t};
    group.impl().wait(group.impl().comm->send(v, dst, tag), group, "send");
}

void recv(DistGroup &group, torch::Tensor &t, int src, int tag)
{
    std::vector<torch::Tensor> v{t};
    group.impl().wait(group.impl().comm->recv(v, src, tag), group, "receive");
}

void RecvAbort::abort()
{
    std::function<void()> current;
    {
        std::lock_guard lock(m_mutex);
        m_aborted = true;
        current = m_current;
    }
    if (current)
        current();
}

bool recv(DistGroup &group, torch::Tensor &t, int src, int tag, RecvAbort &abort)
{
    std::vector<torch::Tensor> v{t};
    auto work = group.impl().comm->recv(v, src, tag);
    {
        std::lock_guard lock(abort.m_mutex);
        if (abort.m_aborted) {
            work->abort();
            return false;
        }
        abort.m_current = [work] {
            work->abort();
        };
    }
    bool received = false;
    try {
        received = group.impl().wait(work, group, "receive", /*counted=*/false);
    } catch (...) {
        std::lock_guard lock(abort.m_mutex);
        abort.m_current = nullptr;
        if (abort.m_aborted)
            return false; // an abort that Gloo reports as a failure
        throw;
    }
    std::lock_guard lock(abort.m_mutex);
    abort.m_current = nullptr;
    return received && !abort.m_aborted;
}

void PendingSend::wait()
{
    if (auto w = std::move(m_wait)) {
        m_wait = nullptr;
        w();
    }
}

PendingSend sendAsync(DistGroup &group, torch::Tensor t, int dst, int tag)
{
    std::vector<torch::Tensor> v{t.contiguous()};
    auto work = group.impl().comm->send(v, dst, tag);
    PendingSend p;
    p.m_wait = [&group, work, keep = v.front()] {
        group.impl().wait(work, group, "send");
    };
    return p;
}

} // namespace detail

} // namespace lw
