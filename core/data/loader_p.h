#pragma once

// Internal to core (includes torch): datasets as tensors, transforms and the prefetching loader.

#include "core/data/dataset.h"
#include "core/spec/spec.h"

#include <torch/torch.h>

#include <memory>

namespace lw::data {

/// One split of an opened dataset. Thread-safe for concurrent reads.
class Split
{
public:
    virtual ~Split() = default;
    virtual std::int64_t size() const = 0;
    virtual int classes() const = 0;
    /// Label of sample i, 0 <= i < size().
    virtual std::int64_t label(std::int64_t i) const = 0;
    /// Sample i as uint8 C x H x W at its native size (image folders: decoded at reduced size
    /// when the target is much smaller). Fails for an image that cannot be decoded.
    virtual Result<torch::Tensor> image(std::int64_t i, int targetSide) const = 0;
    /// The whole split as uint8 N x C x H x W when it is held in RAM (IDX, CIFAR, synthetic);
    /// undefined tensor for streamed sets.
    virtual torch::Tensor allImages() const { return {}; }
};

class Dataset
{
public:
    /// Opens both splits, checking every file; errors name file, offset and expectation.
    static Result<std::shared_ptr<Dataset>> open(const DatasetOptions &options);
    virtual ~Dataset() = default;
    virtual const DatasetInfo &info() const = 0;
    virtual std::shared_ptr<Split> train() const = 0;
    virtual std::shared_ptr<Split> test() const = 0;
};

/// How samples become network input. Seeded per (seed, epoch, sample index), so the same seed
/// gives the same pixels whatever the thread scheduling.
struct TransformOptions
{
    int channels = 1; ///< output C x H x W (the spec's input)
    int height = 28;
    int width = 28;
    bool train = true; ///< training split: augmentation applies when enabled
    AugmentSpec augment;
    std::vector<float> mean; ///< per channel, on [0, 1] pixels; empty: no normalization
    std::vector<float> std;
};

/// Applies the transform to one uint8 C x H x W image, producing float32 C x H x W.
torch::Tensor transformImage(const torch::Tensor &image, const TransformOptions &options,
                             std::uint64_t seed, int epoch, std::int64_t index);

/// Per-channel mean and std of a split on [0, 1] pixels (the "statistics from the data" option).
std::pair<std::vector<float>, std::vector<float>> channelStats(const Split &split,
                                                               std::int64_t maxSamples = 20000);

/// The sample order of an epoch: a permutation of 0..n-1 fixed by (seed, epoch).
std::vector<std::int64_t> epochPermutation(std::int64_t n, std::uint64_t seed, int epoch);

/// Rank `rank`'s share of `order` among `count` ranks, as PyTorch's DistributedSampler takes it:
/// `order` padded with its own first elements to a multiple of `count` when `pad` (equal shards,
/// for training), then every count-th element from position `rank`.
std::vector<std::int64_t> shardOf(const std::vector<std::int64_t> &order, int rank, int count,
                                  bool pad);
/// The length of that share for `n` samples.
std::int64_t shardSize(std::int64_t n, int rank, int count, bool pad);

struct LoaderOptions
{
    int batchSize = 128;
    bool shuffle = true;
    bool dropLast = false; ///< drop the last partial batch
    int threads = 2;       ///< decode/augment workers
    int prefetch = 4;      ///< batches queued ahead
    bool channelsLast = false;
    bool pinMemory = false; ///< CUDA: page-locked host batches
    std::uint64_t seed = 0;
    TransformOptions transform;
    /// Multi-process runs: this process reads shardOf(epoch order, shardRank, shardCount,
    /// padShards) of every epoch.
    int shardRank = 0;
    int shardCount = 1;
    bool padShards = true;
};

struct Batch
{
    torch::Tensor images;  ///< float32 N x C x H x W (channels-last when asked)
    torch::Tensor labels;  ///< int64 N
    torch::Tensor indices; ///< int64 N: sample indices within the split
};

/// Produces batches from a pool of background threads into a bounded queue.
class Loader
{
public:
    Loader(std::shared_ptr<Split> split, LoaderOptions options);
    ~Loader();
    Loader(const Loader &) = delete;
    Loader &operator=(const Loader &) = delete;

    /// Starts epoch `epoch` (order from epochPermutation when shuffling); stops any epoch
    /// in progress.
    void startEpoch(int epoch);
    /// Next batch of the epoch; false at its end. Undecodable images are skipped with a warning
    /// through the dataset's log (and counted in skipped()).
    bool next(Batch &batch);
    std::int64_t batchesPerEpoch() const;
    std::int64_t skipped() const;

private:
    struct Impl;
    std::unique_ptr<Impl> d;
};

} // namespace lw::data
