// Transforms (plain C++ on uint8 pixels, seeded per sample), epoch permutations, channel
// statistics and the prefetching loader.
//
// Per-image work never calls into ATen: loader threads would otherwise start OpenMP teams of
// their own and compete with training for the cores.

#include "core/data/internal_p.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <thread>

namespace lw::data {

namespace {

using detail::Rng;
using detail::Stream;

/// A uint8 C x H x W image anywhere in memory (strides in elements).
struct Source
{
    const std::uint8_t *data = nullptr;
    int c = 0, h = 0, w = 0;
    std::int64_t sc = 0, sy = 0, sx = 0;
};

/// The image at `data` whose channel, row and column dimensions are those of `t` from `cdim` on
/// (0 for one image, 1 for an image of a batch).
Source sourceAt(const std::uint8_t *data, const torch::Tensor &t, int cdim)
{
    Source s;
    s.data = data;
    s.c = int(t.size(cdim));
    s.h = int(t.size(cdim + 1));
    s.w = int(t.size(cdim + 2));
    s.sc = t.stride(cdim);
    s.sy = t.stride(cdim + 1);
    s.sx = t.stride(cdim + 2);
    return s;
}

Source sourceOf(const torch::Tensor &image)
{
    TORCH_CHECK(image.defined() && image.dim() == 3 && image.scalar_type() == torch::kUInt8,
                "transformImage: expected a uint8 C x H x W tensor");
    TORCH_CHECK(image.device().is_cpu(), "transformImage: expected a CPU tensor");
    return sourceAt(image.data_ptr<std::uint8_t>(), image, 0);
}

/// Destination of one float image: pointer and strides (NCHW or channels-last slot of a batch).
struct Dest
{
    float *data = nullptr;
    std::int64_t sc = 0, sy = 0, sx = 0;
};

/// Sampling taps along one axis: output o reads idx[start[o] .. start[o] + count[o]) with
/// weights w; count 0 yields 0 (zero padding).
struct Taps
{
    std::vector<std::int32_t> start, count, idx;
    std::vector<float> w;

    void clear()
    {
        start.clear();
        count.clear();
        idx.clear();
        w.clear();
    }
    void addEmpty()
    {
        start.push_back(std::int32_t(idx.size()));
        count.push_back(0);
    }
};

/// Resamples the source interval [a, a + len) onto n outputs with a triangle (bilinear) filter
/// widened when shrinking (antialiasing, as PIL's bilinear resize).
void resampleTaps(Taps &t, double a, double len, int n, int sourceSize)
{
    t.clear();
    const double scale = len / n;
    const double support = std::max(scale, 1.0);
    for (int o = 0; o < n; ++o) {
        const double center = a + (o + 0.5) * scale;
        t.start.push_back(std::int32_t(t.idx.size()));
        if (center < 0 || center > sourceSize) {
            t.count.push_back(0);
            continue;
        }
        const int lo = std::max(0, int(std::floor(center - support + 0.5)));
        const int hi = std::min(sourceSize, int(std::floor(center + support + 0.5)));
        double total = 0;
        const std::size_t first = t.idx.size();
        for (int j = lo; j < hi; ++j) {
            const double wt = 1.0 - std::abs((j + 0.5 - center) / support);
            if (wt > 0) {
                t.idx.push_back(j);
                t.w.push_back(float(wt));
                total += wt;
            }
        }
        if (total <= 0) {
            t.idx.resize(first);
            t.w.resize(first);
            t.idx.push_back(std::clamp(int(center), 0, sourceSize - 1));
            t.w.push_back(1.0f);
            total = 1;
        }
        for (std::size_t k = first; k < t.w.size(); ++k)
            t.w[k] = float(t.w[k] / total);
        t.count.push_back(std::int32_t(t.idx.size() - first));
    }
}

/// Output o of `out` = o + offset of `in` (zero outside), mirrored when `flip`.
void shiftFlip(const Taps &in, Taps &out, int offset, bool flip)
{
    out.clear();
    out.idx = in.idx;
    out.w = in.w;
    const int n = int(in.count.size());
    for (int o = 0; o < n; ++o) {
        const int src = (flip ? n - 1 - o : o) + offset;
        if (src < 0 || src >= n) {
            out.addEmpty();
            continue;
        }
        out.start.push_back(in.start[std::size_t(src)]);
        out.count.push_back(in.count[std::size_t(src)]);
    }
}

struct Plan
{
    Taps y, x;
};

struct Work
{
    Taps ty, tx, tmpTaps;
    std::vector<float> rows, planes;
    Plan plan;
};

/// torchvision's RandomResizedCrop.get_params (scale 0.08..1, ratio 3/4..4/3, ten tries, then
/// the central crop clamped to the ratio range).
void randomResizedCrop(Rng &rng, int height, int width, int &top, int &left, int &h, int &w)
{
    const double area = double(height) * width;
    const double logLo = std::log(3.0 / 4.0), logHi = std::log(4.0 / 3.0);
    for (int attempt = 0; attempt < 10; ++attempt) {
        const double target = area * rng.uniform(0.08, 1.0);
        const double aspect = std::exp(rng.uniform(logLo, logHi));
        const int cw = int(std::lround(std::sqrt(target * aspect)));
        const int ch = int(std::lround(std::sqrt(target / aspect)));
        if (cw > 0 && cw <= width && ch > 0 && ch <= height) {
            top = int(rng.below(height - ch + 1));
            left = int(rng.below(width - cw + 1));
            h = ch;
            w = cw;
            return;
        }
    }
    const double ratio = double(width) / height;
    if (ratio < 3.0 / 4.0) {
        w = width;
        h = int(std::lround(w / (3.0 / 4.0)));
    } else if (ratio > 4.0 / 3.0) {
        h = height;
        w = int(std::lround(h * (4.0 / 3.0)));
    } else {
        w = width;
        h = height;
    }
    top = (height - h) / 2;
    left = (width - w) / 2;
}

bool augments(const TransformOptions &o)
{
    return o.train && o.augment.enabled
           && (o.augment.randomResizedCrop || o.augment.padding > 0 || o.augment.flip);
}

/// The sampling plan of one sample (all random draws happen here, in a fixed order).
void makePlan(Work &wk, int srcH, int srcW, const TransformOptions &o, std::uint64_t seed,
              int epoch, std::int64_t index)
{
    const int oh = o.height, ow = o.width;
    Rng rng(seed, Stream::Transform, std::uint64_t(std::int64_t(epoch)), std::uint64_t(index));
    const bool aug = augments(o);
    int offY = 0, offX = 0;
    if (aug && o.augment.randomResizedCrop) {
        int top, left, h, w;
        randomResizedCrop(rng, srcH, srcW, top, left, h, w);
        resampleTaps(wk.ty, top, h, oh, srcH);
        resampleTaps(wk.tx, left, w, ow, srcW);
    } else if (!aug && o.augment.evalResize > 0) {
        // Resize the shorter side to evalResize (torchvision's int truncation of the longer),
        // then take the centre oh x ow: done in one resampling step from the source.
        const int r = o.augment.evalResize;
        const int rh = srcH <= srcW ? r : int(std::int64_t(r) * srcH / srcW);
        const int rw = srcH <= srcW ? int(std::int64_t(r) * srcW / srcH) : r;
        const double sy = double(srcH) / rh, sx = double(srcW) / rw;
        const int top = int(std::lround((rh - oh) / 2.0));
        const int left = int(std::lround((rw - ow) / 2.0));
        resampleTaps(wk.ty, top * sy, oh * sy, oh, srcH);
        resampleTaps(wk.tx, left * sx, ow * sx, ow, srcW);
    } else {
        resampleTaps(wk.ty, 0, srcH, oh, srcH);
        resampleTaps(wk.tx, 0, srcW, ow, srcW);
        if (aug && o.augment.padding > 0) {
            const int p = o.augment.padding;
            offY = int(rng.below(2 * p + 1)) - p;
            offX = int(rng.below(2 * p + 1)) - p;
        }
    }
    const bool flip = aug && o.augment.flip && rng.uniform() < 0.5;
    shiftFlip(wk.ty, wk.plan.y, offY, false);
    shiftFlip(wk.tx, wk.plan.x, offX, flip);
}

/// Per output channel: scale and bias taking a [0, 255] value to the normalized one.
struct Norm
{
    std::vector<float> scale, bias;
};

Norm makeNorm(const TransformOptions &o)
{
    Norm n;
    for (int c = 0; c < o.channels; ++c) {
        float mean = 0, sd = 1;
        if (!o.mean.empty())
            mean = o.mean[std::size_t(c) % o.mean.size()];
        if (!o.std.empty())
            sd = o.std[std::size_t(c) % o.std.size()];
        if (!(sd > 0))
            sd = 1;
        n.scale.push_back(1.0f / (255.0f * sd));
        n.bias.push_back(-mean / sd);
    }
    return n;
}

/// Runs the plan: separable resampling of every source channel, then the channel mapping
/// (same count: identity; 1 -> C: replicate; C >= 3 -> 1: ITU-R 601 luma; otherwise c mod Cin)
/// and normalization into `dst`.
void execute(Work &wk, const Source &src, int outC, const Norm &norm, const Dest &dst)
{
    const Taps &ty = wk.plan.y, &tx = wk.plan.x;
    const int oh = int(ty.count.size()), ow = int(tx.count.size());
    int rmin = src.h, rmax = -1;
    for (std::size_t k = 0; k < ty.idx.size(); ++k) {
        rmin = std::min(rmin, ty.idx[k]);
        rmax = std::max(rmax, ty.idx[k]);
    }
    const int nrows = rmax >= rmin ? rmax - rmin + 1 : 0;
    wk.rows.assign(std::size_t(src.c) * nrows * ow, 0.0f);
    wk.planes.assign(std::size_t(src.c) * oh * ow, 0.0f);
    for (int c = 0; c < src.c; ++c) {
        for (int r = 0; r < nrows; ++r) {
            const std::uint8_t *row = src.data + c * src.sc + (r + rmin) * src.sy;
            float *out = wk.rows.data() + (std::size_t(c) * nrows + r) * ow;
            for (int x = 0; x < ow; ++x) {
                float v = 0;
                const int b = tx.start[std::size_t(x)], e = b + tx.count[std::size_t(x)];
                for (int k = b; k < e; ++k)
                    v += tx.w[std::size_t(k)] * row[tx.idx[std::size_t(k)] * src.sx];
                out[x] = v;
            }
        }
        for (int y = 0; y < oh; ++y) {
            float *out = wk.planes.data() + (std::size_t(c) * oh + y) * ow;
            const int b = ty.start[std::size_t(y)], e = b + ty.count[std::size_t(y)];
            for (int k = b; k < e; ++k) {
                const float wt = ty.w[std::size_t(k)];
                const float *in = wk.rows.data()
                                  + (std::size_t(c) * nrows + (ty.idx[std::size_t(k)] - rmin)) * ow;
                for (int x = 0; x < ow; ++x)
                    out[x] += wt * in[x];
            }
        }
    }
    const std::size_t plane = std::size_t(oh) * ow;
    for (int c = 0; c < outC; ++c) {
        const float s = norm.scale[std::size_t(c)], bias = norm.bias[std::size_t(c)];
        const bool luma = outC == 1 && src.c >= 3;
        const float *in = wk.planes.data() + plane * std::size_t(src.c == outC ? c : c % src.c);
        for (int y = 0; y < oh; ++y) {
            float *out = dst.data + c * dst.sc + y * dst.sy;
            for (int x = 0; x < ow; ++x) {
                const std::size_t p = std::size_t(y) * ow + x;
                const float v = luma ? 0.299f * wk.planes[p] + 0.587f * wk.planes[plane + p]
                                           + 0.114f * wk.planes[2 * plane + p]
                                     : in[p];
                out[x * dst.sx] = v * s + bias;
            }
        }
    }
}

/// The identity geometry with identity/replicated channels: a strided copy with normalization.
void copyNormalized(const Source &src, int outC, const Norm &norm, const Dest &dst)
{
    for (int c = 0; c < outC; ++c) {
        const std::uint8_t *in = src.data + (c % src.c) * src.sc;
        const float s = norm.scale[std::size_t(c)], bias = norm.bias[std::size_t(c)];
        for (int y = 0; y < src.h; ++y) {
            const std::uint8_t *row = in + y * src.sy;
            float *out = dst.data + c * dst.sc + y * dst.sy;
            if (src.sx == 1 && dst.sx == 1) {
                for (int x = 0; x < src.w; ++x)
                    out[x] = float(row[x]) * s + bias;
            } else {
                for (int x = 0; x < src.w; ++x)
                    out[x * dst.sx] = float(row[x * src.sx]) * s + bias;
            }
        }
    }
}

bool trivialGeometry(const TransformOptions &o, int srcC, int srcH, int srcW)
{
    return !augments(o) && o.augment.evalResize <= 0 && srcH == o.height && srcW == o.width
           && (srcC == o.channels || srcC == 1);
}

void transformInto(Work &wk, const Source &src, const TransformOptions &o, const Norm &norm,
                   std::uint64_t seed, int epoch, std::int64_t index, const Dest &dst)
{
    if (trivialGeometry(o, src.c, src.h, src.w)) {
        copyNormalized(src, o.channels, norm, dst);
        return;
    }
    makePlan(wk, src.h, src.w, o, seed, epoch, index);
    execute(wk, src, o.channels, norm, dst);
}

/// The decode side asked of streamed splits: enough for the output (evaluation: the resize
/// side), twice the output side for RandomResizedCrop so small crops keep detail.
int targetSideFor(const TransformOptions &o)
{
    const int side = std::max(o.height, o.width);
    if (augments(o) && o.augment.randomResizedCrop)
        return 2 * side;
    if (!augments(o) && o.augment.evalResize > 0)
        return o.augment.evalResize;
    return side;
}

} // namespace

torch::Tensor transformImage(const torch::Tensor &image, const TransformOptions &options,
                             std::uint64_t seed, int epoch, std::int64_t index)
{
    TORCH_CHECK(options.channels > 0 && options.height > 0 && options.width > 0,
                "transformImage: output size must be positive");
    const Source src = sourceOf(image);
    torch::Tensor out
        = torch::empty({options.channels, options.height, options.width}, torch::kFloat32);
    Dest dst{out.data_ptr<float>(), out.stride(0), out.stride(1), out.stride(2)};
    Work wk;
    transformInto(wk, src, options, makeNorm(options), seed, epoch, index, dst);
    return out;
}

std::pair<std::vector<float>, std::vector<float>> channelStats(const Split &split,
                                                               std::int64_t maxSamples)
{
    const std::int64_t n = split.size();
    const std::int64_t count = maxSamples > 0 ? std::min(n, maxSamples) : n;
    const torch::Tensor all = split.allImages();
    std::vector<double> sum, sumSq;
    double pixels = 0;
    for (std::int64_t k = 0; k < count; ++k) {
        const std::int64_t i = count == n ? k : k * n / count;
        torch::Tensor img;
        if (all.defined())
            img = all[i];
        else {
            auto r = split.image(i, 64); // statistics barely depend on the decode size
            if (!r)
                continue;
            img = r.value();
        }
        const Source s = sourceOf(img);
        if (sum.empty()) {
            sum.assign(std::size_t(s.c), 0.0);
            sumSq.assign(std::size_t(s.c), 0.0);
        }
        if (std::size_t(s.c) != sum.size())
            continue;
        for (int c = 0; c < s.c; ++c) {
            std::uint64_t a = 0, b = 0;
            for (int y = 0; y < s.h; ++y)
                for (int x = 0; x < s.w; ++x) {
                    const std::uint64_t v = s.data[c * s.sc + y * s.sy + x * s.sx];
                    a += v;
                    b += v * v;
                }
            sum[std::size_t(c)] += double(a) / 255.0;
            sumSq[std::size_t(c)] += double(b) / (255.0 * 255.0);
        }
        pixels += double(s.h) * s.w;
    }
    std::vector<float> mean, sd;
    for (std::size_t c = 0; c < sum.size(); ++c) {
        const double m = sum[c] / pixels;
        mean.push_back(float(m));
        sd.push_back(float(std::sqrt(std::max(0.0, sumSq[c] / pixels - m * m))));
    }
    return {mean, sd};
}

std::vector<std::int64_t> epochPermutation(std::int64_t n, std::uint64_t seed, int epoch)
{
    std::vector<std::int64_t> order(std::size_t(std::max<std::int64_t>(n, 0)));
    std::iota(order.begin(), order.end(), 0);
    Rng rng(seed, Stream::Permutation, std::uint64_t(std::int64_t(epoch)));
    for (std::int64_t i = n - 1; i > 0; --i)
        std::swap(order[std::size_t(i)], order[std::size_t(rng.below(i + 1))]);
    return order;
}

std::vector<std::int64_t> shardOf(const std::vector<std::int64_t> &order, int rank, int count,
                                  bool pad)
{
    const auto n = std::int64_t(order.size());
    const std::int64_t total = pad && n > 0 ? (n + count - 1) / count * count : n;
    std::vector<std::int64_t> out;
    out.reserve(std::size_t(shardSize(n, rank, count, pad)));
    for (std::int64_t p = rank; p < total; p += count)
        out.push_back(order[std::size_t(p % n)]);
    return out;
}

std::int64_t shardSize(std::int64_t n, int rank, int count, bool pad)
{
    if (count <= 1)
        return n;
    if (pad)
        return n > 0 ? (n + count - 1) / count : 0;
    return n > rank ? (n - rank + count - 1) / count : 0;
}

// ---- Loader ------------------------------------------------------------------------------------

struct Loader::Impl
{
    std::shared_ptr<Split> split;
    LoaderOptions opt;
    const detail::SplitBase *base = nullptr;
    torch::Tensor all;
    Norm norm;
    int targetSide = 0;
    torch::TensorOptions batchOptions;
    std::int64_t n = 0;
    std::int64_t batches = 0;

    std::mutex mutex;
    std::condition_variable workCv, readyCv;
    bool stop = false;
    bool started = false;
    std::uint64_t generation = 0;
    int epoch = 0;
    std::vector<std::int64_t> order;
    std::int64_t nextClaim = 0, nextDeliver = 0;
    std::map<std::int64_t, std::optional<Batch>> ready; // nullopt: every image skipped
    std::atomic<std::int64_t> skipped{0};
    std::vector<std::thread> workers;

    void log(LogLevel level, const std::string &message) const
    {
        if (base)
            base->log(level, message);
    }

    void startLocked(int e)
    {
        ++generation;
        epoch = e;
        ready.clear();
        const std::int64_t total = split->size();
        if (opt.shuffle)
            order = epochPermutation(total, opt.seed, e);
        else {
            order.resize(std::size_t(total));
            std::iota(order.begin(), order.end(), 0);
        }
        if (opt.shardCount > 1)
            order = shardOf(order, opt.shardRank, opt.shardCount, opt.padShards);
        nextClaim = nextDeliver = 0;
        started = true;
    }

    bool canClaim() const
    {
        return started && nextClaim < batches && nextClaim < nextDeliver + opt.prefetch;
    }

    std::optional<Batch> makeBatch(const std::vector<std::int64_t> &indices, int ep)
    {
        const auto &t = opt.transform;
        const std::int64_t count = std::int64_t(indices.size());
        torch::Tensor images = torch::empty({count, t.channels, t.height, t.width}, batchOptions);
        float *base = images.data_ptr<float>();
        const std::int64_t sn = images.stride(0);
        Dest dst{nullptr, images.stride(1), images.stride(2), images.stride(3)};
        std::vector<std::int64_t> labels, idx;
        labels.reserve(indices.size());
        idx.reserve(indices.size());
        Work wk;
        for (std::int64_t i : indices) {
            dst.data = base + std::int64_t(labels.size()) * sn;
            if (all.defined()) {
                const Source s = sourceAt(all.data_ptr<std::uint8_t>() + i * all.stride(0), all, 1);
                transformInto(wk, s, t, norm, opt.seed, ep, i, dst);
            } else {
                auto img = split->image(i, targetSide);
                if (!img) {
                    skipped.fetch_add(1);
                    continue;
                }
                transformInto(wk, sourceOf(img.value()), t, norm, opt.seed, ep, i, dst);
            }
            labels.push_back(split->label(i));
            idx.push_back(i);
        }
        if (labels.empty())
            return std::nullopt;
        Batch b;
        const std::int64_t filled = std::int64_t(labels.size());
        b.images = filled < count ? images.narrow(0, 0, filled) : images;
        b.labels = torch::from_blob(labels.data(), {filled}, torch::kInt64).clone();
        b.indices = torch::from_blob(idx.data(), {filled}, torch::kInt64).clone();
        if (opt.pinMemory && batchOptions.pinned_memory()) {
            b.labels = b.labels.pin_memory();
            b.indices = b.indices.pin_memory();
        }
        return b;
    }

    /// Produces the batch claimed as `k` of generation `gen` (called without the lock).
    std::optional<Batch> produce(std::int64_t k, const std::vector<std::int64_t> &indices, int ep)
    {
        try {
            return makeBatch(indices, ep);
        } catch (const std::exception &e) {
            skipped.fetch_add(std::int64_t(indices.size()));
            log(LogLevel::Error, "data loader: batch " + std::to_string(k) + " of epoch "
                                     + std::to_string(ep) + " failed and was skipped: " + e.what());
            return std::nullopt;
        }
    }

    std::vector<std::int64_t> claimLocked(std::int64_t k) const
    {
        const std::int64_t b = k * opt.batchSize;
        const std::int64_t e = std::min(n, b + opt.batchSize);
        return std::vector<std::int64_t>(order.begin() + b, order.begin() + e);
    }

    void workerLoop()
    {
        std::unique_lock lock(mutex);
        for (;;) {
            workCv.wait(lock, [&] { return stop || canClaim(); });
            if (stop)
                return;
            const std::int64_t k = nextClaim++;
            const std::uint64_t gen = generation;
            const int ep = epoch;
            const auto indices = claimLocked(k);
            lock.unlock();
            auto batch = produce(k, indices, ep);
            lock.lock();
            if (gen != generation)
                continue; // the epoch was restarted meanwhile
            ready.emplace(k, std::move(batch));
            readyCv.notify_all();
        }
    }
};

Loader::Loader(std::shared_ptr<Split> split, LoaderOptions options)
    : d(std::make_unique<Impl>())
{
    d->split = std::move(split);
    d->opt = std::move(options);
    auto &o = d->opt;
    o.batchSize = std::max(o.batchSize, 1);
    o.prefetch = std::max(o.prefetch, 1);
    o.transform.channels = std::max(o.transform.channels, 1);
    o.transform.height = std::max(o.transform.height, 1);
    o.transform.width = std::max(o.transform.width, 1);
    d->base = dynamic_cast<const detail::SplitBase *>(d->split.get());
    d->all = d->split->allImages();
    if (d->all.defined()
        && (d->all.dim() != 4 || d->all.scalar_type() != torch::kUInt8
            || !d->all.device().is_cpu()))
        d->all = torch::Tensor();
    d->norm = makeNorm(o.transform);
    d->targetSide = targetSideFor(o.transform);
    o.shardCount = std::max(o.shardCount, 1);
    o.shardRank = std::clamp(o.shardRank, 0, o.shardCount - 1);
    d->n = shardSize(d->split->size(), o.shardRank, o.shardCount, o.padShards);
    d->batches = o.dropLast ? d->n / o.batchSize : (d->n + o.batchSize - 1) / o.batchSize;
    d->batchOptions = torch::TensorOptions().dtype(torch::kFloat32);
    if (o.channelsLast)
        d->batchOptions = d->batchOptions.memory_format(torch::MemoryFormat::ChannelsLast);
    if (o.pinMemory && torch::cuda::is_available())
        d->batchOptions = d->batchOptions.pinned_memory(true);
    for (int t = 0; t < o.threads; ++t)
        d->workers.emplace_back([this] { d->workerLoop(); });
}

Loader::~Loader()
{
    {
        std::lock_guard lock(d->mutex);
        d->stop = true;
    }
    d->workCv.notify_all();
    for (auto &t : d->workers)
        t.join();
}

void Loader::startEpoch(int epoch)
{
    {
        std::lock_guard lock(d->mutex);
        d->startLocked(epoch);
    }
    d->workCv.notify_all();
}

bool Loader::next(Batch &batch)
{
    std::unique_lock lock(d->mutex);
    if (!d->started) {
        d->startLocked(0);
        d->workCv.notify_all();
    }
    for (;;) {
        if (d->nextDeliver >= d->batches)
            return false;
        if (d->workers.empty() && !d->ready.count(d->nextDeliver)) {
            // No worker threads: produce in the caller.
            const std::int64_t k = d->nextClaim++;
            const auto indices = d->claimLocked(k);
            const int ep = d->epoch;
            lock.unlock();
            auto b = d->produce(k, indices, ep);
            lock.lock();
            d->ready.emplace(k, std::move(b));
        }
        d->readyCv.wait(lock, [&] { return d->ready.count(d->nextDeliver) > 0; });
        auto node = d->ready.extract(d->nextDeliver);
        ++d->nextDeliver;
        d->workCv.notify_all();
        if (node.mapped()) {
            batch = std::move(*node.mapped());
            return true;
        }
    }
}

std::int64_t Loader::batchesPerEpoch() const
{
    return d->batches;
}

std::int64_t Loader::skipped() const
{
    return d->skipped.load();
}

} // namespace lw::data
