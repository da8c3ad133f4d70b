#include "core/train/engine_p.h"

#include <ATen/autocast_mode.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/mman.h>
#include <unistd.h>

namespace lw::detail {

int decaysBefore(const LrSchedule &schedule, int epoch)
{
    if (epoch <= 0)
        return 0;
    if (!schedule.milestones.empty()) {
        int n = 0;
        for (int m : schedule.milestones)
            if (m > 0 && m <= epoch)
                ++n;
        return n;
    }
    if (schedule.every > 0)
        return epoch / schedule.every;
    return 0;
}

double lrForEpoch(const LrSchedule &schedule, int epoch)
{
    return schedule.initial / std::pow(schedule.factor, decaysBefore(schedule, epoch));
}

bool decaysAt(const LrSchedule &schedule, int epoch)
{
    return epoch > 0 && decaysBefore(schedule, epoch) != decaysBefore(schedule, epoch - 1);
}

std::vector<double> ensembleWeights(int n)
{
    std::vector<double> w(static_cast<std::size_t>(std::max(n, 0)));
    double sum = 0;
    for (int i = 0; i < n; ++i) {
        w[i] = std::ldexp(1.0, i);
        sum += w[i];
    }
    for (double &x : w)
        x /= sum;
    return w;
}

StageOptimizer::StageOptimizer(std::vector<torch::Tensor> params, const OptimizerSpec &opt,
                               const LrSchedule &schedule)
    : m_params(std::move(params))
    , m_opt(opt)
    , m_schedule(schedule)
{
    rebuild(schedule.initial);
}

void StageOptimizer::rebuild(double lr)
{
    m_lr = lr;
    m_sgd = std::make_unique<torch::optim::SGD>(m_params, torch::optim::SGDOptions(lr)
                                                              .momentum(m_opt.momentum)
                                                              .weight_decay(m_opt.weightDecay)
                                                              .nesterov(m_opt.nesterov));
}

bool StageOptimizer::startEpoch(int epoch)
{
    const double lr = lrForEpoch(m_schedule, epoch);
    if (lr == m_lr)
        return false;
    if (m_schedule.resetOptimizer) {
        rebuild(lr);
        return true;
    }
    m_lr = lr;
    for (auto &group : m_sgd->param_groups())
        static_cast<torch::optim::SGDOptions &>(group.options()).lr(lr);
    return false;
}

int StageOptimizer::momentumBuffers() const
{
    int n = 0;
    for (const auto &entry : m_sgd->state()) {
        const auto &state = static_cast<const torch::optim::SGDParamState &>(*entry.second);
        if (state.momentum_buffer().defined())
            ++n;
    }
    return n;
}

void StageOptimizer::save(torch::serialize::OutputArchive &archive) const
{
    archive.write("lr", c10::IValue(m_lr));
    torch::serialize::OutputArchive sgd;
    m_sgd->save(sgd);
    archive.write("sgd", sgd);
}

void StageOptimizer::load(torch::serialize::InputArchive &archive)
{
    c10::IValue lr;
    archive.read("lr", lr);
    rebuild(lr.toDouble());
    torch::serialize::InputArchive sgd;
    archive.read("sgd", sgd);
    m_sgd->load(sgd);
}

Result<std::unique_ptr<FeatureCache>>
FeatureCache::create(std::int64_t n, std::vector<std::int64_t> shape, std::int64_t budgetBytes,
                     const std::string &spillDir, torch::ScalarType dtype)
{
    std::unique_ptr<FeatureCache> cache(new FeatureCache);
    std::vector<std::int64_t> sizes{n};
    std::int64_t perSample = 1;
    for (auto s : shape) {
        sizes.push_back(s);
        perSample *= s;
    }
    cache->m_bytes = n * perSample * static_cast<std::int64_t>(c10::elementSize(dtype));
    if (cache->m_bytes <= budgetBytes) {
        // Anonymous pages of its own rather than the allocator's: when the cache moves on to the
        // next stage the old one goes back to the kernel at once (tcmalloc would keep gigabytes
        // of freed pages resident). If the kernel refuses, spill to a file as over budget.
        void *map = ::mmap(nullptr, static_cast<std::size_t>(cache->m_bytes),
                           PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map != MAP_FAILED) {
            cache->m_map = map;
            cache->m_tensor = torch::from_blob(map, sizes, dtype);
            return cache;
        }
    }
    std::error_code ec;
    std::filesystem::create_directories(spillDir, ec);
    std::string path = spillDir + "/.feature-cache-XXXXXX";
    int fd = ::mkstemp(path.data());
    if (fd < 0)
        return fail("feature cache: cannot create a file in '" + spillDir
                    + "': " + std::strerror(errno));
    ::unlink(path.c_str()); // the mapping keeps it alive; nothing is left behind after a crash
    if (::posix_fallocate(fd, 0, cache->m_bytes) != 0) {
        ::close(fd);
        return fail("feature cache: cannot reserve " + std::to_string(cache->m_bytes >> 20)
                    + " MiB in '" + spillDir + "' (disk full?); turn the feature cache off");
    }
    void *map = ::mmap(nullptr, static_cast<std::size_t>(cache->m_bytes), PROT_READ | PROT_WRITE,
                       MAP_SHARED, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED)
        return fail(std::string("feature cache: mmap failed: ") + std::strerror(errno));
    cache->m_map = map;
    cache->m_mapped = true;
    cache->m_tensor = torch::from_blob(map, sizes, dtype);
    return cache;
}

FeatureCache::~FeatureCache()
{
    m_tensor = torch::Tensor();
    if (m_map)
        ::munmap(m_map, static_cast<std::size_t>(m_bytes));
}

AutocastScope::AutocastScope(bool enabled, at::ScalarType dtype, bool cuda)
    : m_enabled(enabled)
    , m_cuda(cuda)
{
    if (!m_enabled)
        return;
    m_wasOn = isOn();
    m_oldType = type();
    set(true, dtype);
}

AutocastScope::~AutocastScope()
{
    if (!m_enabled)
        return;
    set(m_wasOn, m_oldType);
    if (!m_wasOn)
        at::autocast::clear_cache(); // the casts of the weights cached inside the scope
}

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool AutocastScope::isOn() const
{
    return at::autocast::is_autocast_enabled(m_cuda ? at::kCUDA : at::kCPU);
}
at::ScalarType AutocastScope::type() const
{
    return at::autocast::get_autocast_dtype(m_cuda ? at::kCUDA : at::kCPU);
}
void AutocastScope::set(bool on, at::ScalarType dtype) const
{
    at::autocast::set_autocast_dtype(m_cuda ? at::kCUDA : at::kCPU, dtype);
    at::autocast::set_autocast_enabled(m_cuda ? at::kCUDA : at::kCPU, on);
}
#else
bool AutocastScope::isOn() const
{
    return m_cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
at::ScalarType AutocastScope::type() const
{
    return m_cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
void AutocastScope::set(bool on, at::ScalarType dtype) const
{
    if (m_cuda) {
        at::autocast::set_autocast_gpu_dtype(dtype);
        at::autocast::set_enabled(on);
    } else {
        at::autocast::set_autocast_cpu_dtype(dtype);
        at::autocast::set_cpu_enabled(on);
    }
}
#endif

std::string divergenceMessage(int stage, int epoch, int batch, double loss)
{
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "stage %d, epoch %d, batch %d: the loss is %s; training diverged. Try a lower "
                  "learning rate (recipe.lr.initial) or check the data's normalization.",
                  stage + 1, epoch, batch, std::isnan(loss) ? "NaN" : "infinite");
    return buf;
}

} // namespace lw::detail
