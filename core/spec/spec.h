#pragma once

#include "core/util/result.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lw {

/// Downsampling applied before a stage's convolution (or to the input image).
/// Psi is the invertible space-to-depth of METHOD.md: C x H x W -> 4C x H/2 x W/2.
enum class Downsample { None, Psi, MaxPool, AvgPool, Stride };

/// Auxiliary head family. Conv: (k-1) x [conv-BN-ReLU] -> pool -> BN -> Linear (the paper's).
/// Mlp: pool -> (k-1) x [Linear-ReLU-Dropout] -> Linear (VGG's classifier as the last head).
enum class HeadKind { Conv, Mlp };

/// Head pooling. Fixed: the reference's AvgPool with kernel = stride = side / pooled, which drops
/// the last row and column at odd sides. Adaptive: adaptive average pooling to pooled x pooled.
enum class HeadPool { Fixed, Adaptive };

/// How the heads' predictions are averaged into the ensemble (weights 2^i / sum 2^i).
enum class EnsembleMode { Logits, Softmax };

struct InputSpec
{
    int channels = 1;
    int height = 28;
    int width = 28;
    int classes = 10;
    Downsample downsample = Downsample::None; ///< None or Psi (the ImageNet models)
    bool operator==(const InputSpec &) const = default;
};

struct HeadSpec
{
    HeadKind kind = HeadKind::Conv;
    int k = 1;       ///< hidden layers of the auxiliary problem, counting the block: 1..3
    int width = 128; ///< M~: hidden conv width (Conv, k > 1) or hidden units (Mlp, k > 1)
    int pooled = 2;  ///< side after pooling (2 -> 2x2; VGG's classifier: 7)
    HeadPool pool = HeadPool::Fixed;
    int padding = 1;           ///< padding of the hidden 3x3 convs (VGG variant: 0)
    bool bn = true;            ///< BN in the hidden convs and before the linear layer (Conv)
    double dropout = 0.0;      ///< Mlp only
    bool maxpoolFirst = false; ///< a 2x2 max-pool before the head (VGG's last pool)
    bool operator==(const HeadSpec &) const = default;
};

struct StageSpec
{
    int width = 64;                           ///< output channels of the block's convolution
    int kernel = 3;                           ///< odd; padding = kernel / 2 keeps the side
    Downsample downsample = Downsample::None; ///< applied before the conv
    bool bn = true;
    bool bias = false; ///< conv bias; when absent from JSON: !bn
    HeadSpec head;
    bool operator==(const StageSpec &) const = default;
};

struct DatasetSpec
{
    std::string name
        = "fashion-mnist";       ///< fashion-mnist|mnist|cifar10|cifar100|imagefolder|synthetic
    std::string path;            ///< empty: the dataset's default place
    std::int64_t trainLimit = 0; ///< 0: all; else a seeded, class-balanced subset
    std::int64_t testLimit = 0;
    bool operator==(const DatasetSpec &) const = default;
};

struct OptimizerSpec
{
    double momentum = 0.9;
    double weightDecay = 5e-4;
    bool nesterov = false;
    bool operator==(const OptimizerSpec &) const = default;
};

/// LR divided by `factor` every `every` epochs (when every > 0) or at each listed epoch
/// (milestones, 0-based epoch index within the stage at which the new LR starts).
struct LrSchedule
{
    double initial = 0.1;
    double factor = 5.0;
    int every = 15;
    std::vector<int> milestones;
    bool resetOptimizer = true; ///< rebuild SGD (momentum reset) at each decay, as the reference
    bool operator==(const LrSchedule &) const = default;
};

struct AugmentSpec
{
    bool enabled = true;
    int padding = 4;                ///< random crop with this zero padding (0: no crop)
    bool flip = true;               ///< random horizontal flip
    bool randomResizedCrop = false; ///< ImageNet recipe: RandomResizedCrop(input side) + flip
    int evalResize = 0;             ///< ImageNet recipe: resize shorter side (256), center crop
    bool operator==(const AugmentSpec &) const = default;
};

struct NormalizeSpec
{
    std::vector<double> mean; ///< per channel; empty: none (or fromData)
    std::vector<double> std;
    bool fromData = false; ///< compute mean/std from the training split
    bool operator==(const NormalizeSpec &) const = default;
};

/// The end-to-end twin's schedule (same trunk, last head as classifier).
struct EndToEndSpec
{
    int epochs = 0; ///< 0: epochsPerStage x number of stages
    LrSchedule lr;  ///< `every`/`milestones` in e2e epochs
    bool operator==(const EndToEndSpec &) const = default;
};

struct RecipeSpec
{
    DatasetSpec dataset;
    int epochsPerStage = 50;
    int batchSize = 128;
    int testBatchSize = 256;
    OptimizerSpec optimizer;
    LrSchedule lr;
    AugmentSpec augment;
    NormalizeSpec normalize;
    EnsembleMode ensemble = EnsembleMode::Logits;
    EndToEndSpec e2e;
    std::string precision = "fp32"; ///< fp32 | bf16 (autocast: CUDA, CPU) | fp16 (CUDA)
    std::uint64_t seed = 0;
    /// A data-parallel run over several processes normalizes with the statistics of the whole
    /// global batch (SyncBatchNorm) instead of each process's share; no effect in one process.
    bool syncBn = false;
    bool operator==(const RecipeSpec &) const = default;
};

/// A layerwise network and how to train it: the versioned JSON document the GUI and CLI share.
struct Spec
{
    static constexpr int kFormatVersion = 1;
    std::string name;
    std::string description;
    InputSpec input;
    std::vector<StageSpec> stages;
    RecipeSpec recipe;
    bool operator==(const Spec &) const = default;
};

/// One problem with a spec: the JSON path (e.g. "stages[3].head.k") and what was expected.
struct SpecIssue
{
    std::string path;
    std::string message;
    int stage = -1; ///< index of the stage concerned, -1 when not a stage
    std::string toString() const { return path.empty() ? message : path + ": " + message; }
};

/// Parses a spec document. Unknown keys, wrong types and invalid values are all reported (not
/// just the first), each naming its JSON path; the Error's message holds one issue per line.
/// Missing optional keys take the defaults above. Never throws.
Result<Spec> parseSpec(std::string_view json);

/// Like parseSpec, returning every issue separately (empty when valid); `spec` is filled as far
/// as it could be read.
std::vector<SpecIssue> parseSpecDetailed(std::string_view json, Spec &spec);

/// Reads and parses a spec file; errors start with the file name.
Result<Spec> loadSpecFile(const std::string &path);

/// The largest values a spec may hold: far beyond the paper's models (ImageNet: 8 stages, widths
/// up to 4096, 1000 classes, LR 0.1) and small enough that no shape or cost overflows.
struct SpecLimits
{
    static constexpr int maxStages = 256;
    static constexpr int maxChannels = 4096; ///< input channels
    static constexpr int maxSide = 16384;
    static constexpr int maxClasses = 100000; ///< ImageNet-21k has 21,841
    static constexpr int maxWidth = 16384;    ///< stage and head widths
    static constexpr int maxKernel = 11;      ///< odd kernel sides 1..11
    static constexpr int maxHeadK = 3;        ///< head.k: 1..3
    static constexpr int maxAugmentPadding = 1024;
    static constexpr int maxEpochs = 100000;
    static constexpr int maxBatch = 1 << 20;
    static constexpr double maxLr = 10.0;
    static constexpr double maxLrFactor = 1e6;
    static constexpr double maxWeightDecay = 1.0;
    static constexpr double maxNormalize = 1e6; ///< |mean| and std
};

/// Checks a spec built in memory (the designer): ranges, downsampling below 1 pixel, psi on odd
/// sides, a head pooled larger than its input, costs too large to count. Empty when valid.
std::vector<SpecIssue> validateSpec(const Spec &spec);

/// The epochs an end-to-end run of `spec` trains: recipe.e2e.epochs, or (0) epochs_per_stage
/// x the number of stages.
int endToEndEpochs(const Spec &spec);

/// For front-ends that change a spec's epochs (the CLI's --epochs-per-stage and --epochs, the
/// Train view's epoch fields): removes the LR milestones at or past the new last epoch (the
/// validator rejects them: they would never decay the LR) and returns a sentence naming them
/// and the field they came from, or an empty string when none were removed.
std::string dropMilestonesPastEnd(Spec &spec);

/// Pretty-printed JSON; parseSpec(serializeSpec(s)) == s.
std::string serializeSpec(const Spec &spec);

/// Only the recipe, as JSON (stored with each run).
std::string serializeRecipe(const RecipeSpec &recipe);

struct Shape
{
    int c = 0, h = 0, w = 0;
    bool operator==(const Shape &) const = default;
};

/// Shapes and costs of one stage. MACs are multiply-accumulates per image of the forward pass
/// (convolutions and linear layers); params count conv/linear weights and biases + BN affine.
struct StageCost
{
    Shape in;  ///< what the stage receives (after the input's psi for stage 0)
    Shape out; ///< block output
    std::int64_t blockParams = 0;
    std::int64_t headParams = 0;
    std::int64_t blockMacs = 0;
    std::int64_t headMacs = 0;
    std::int64_t activationBytes = 0; ///< fp32 bytes per sample of the block's output
};

struct SpecSummary
{
    std::vector<StageCost> stages;
    std::int64_t trunkParams = 0;
    std::int64_t totalParams = 0; ///< trunk + the last stage's head
    std::int64_t trunkMacs = 0;
    std::int64_t totalMacs = 0; ///< trunk + the last stage's head
};

/// Shape inference and costs; fails with the validator's issues when the spec is invalid.
Result<SpecSummary> summarizeSpec(const Spec &spec);

/// Memory that training a spec needs at least, on the device that holds the network: its fp32
/// parameters (trunk and last head, without gradients or optimizer state) and one training batch
/// of the largest block output (without the rest of the forward pass or its gradients).
struct MemoryEstimate
{
    std::int64_t parameterBytes = 0;
    std::int64_t activationBytes = 0;
    int largestStage = 0; ///< 0-based index of the stage with the largest output
    std::int64_t totalBytes() const;
};
MemoryEstimate estimateTrainingMemory(const Spec &spec, const SpecSummary &summary);

/// Physical memory of this machine in bytes (sysconf); 0 when unknown.
std::int64_t physicalMemoryBytes();

/// Refuses, before anything is allocated, a spec whose training cannot fit `availableBytes`
/// (0: this machine's physical memory), naming the bytes needed and available. `device` names
/// the memory in the message when it is a GPU's ("cuda:0"); empty: this machine's RAM. Specs
/// that are invalid are refused with their issues. `arch summary` does not call this: any valid
/// spec can be summarized.
Result<void> checkTrainingFits(const Spec &spec, std::int64_t availableBytes = 0,
                               const std::string &device = {});

/// Disk a run's checkpoints take at their peak, at least: `stageFiles` whole-network files (one
/// per stage a greedy run finishes, kept for branching and probes) and the rolling checkpoint
/// twice (the new one is written beside the old before the old is removed); fp32 parameters of
/// the trunk and every head, without buffers or optimizer state.
struct CheckpointEstimate
{
    std::int64_t networkBytes = 0; ///< one checkpoint of the whole network
    int stageFiles = 0;
    std::int64_t peakBytes = 0;
};
CheckpointEstimate estimateCheckpointDisk(const SpecSummary &summary, int stageFiles);

/// Refuses a run whose checkpoints cannot fit `freeBytes` (< 0: unknown, accepted) on the file
/// system of `folder`, of which `alreadyThere` bytes (a resumed run's files) are counted as
/// written; names the bytes needed and free.
Result<void> checkCheckpointsFit(const Spec &spec, int stageFiles, std::int64_t freeBytes,
                                 const std::string &folder, std::int64_t alreadyThere = 0);

/// Names used in JSON ("none", "psi", "maxpool", "avgpool", "stride"; "conv", "mlp";
/// "fixed", "adaptive"; "logits", "softmax").
const char *toString(Downsample d);
const char *toString(HeadKind k);
const char *toString(HeadPool p);
const char *toString(EnsembleMode m);

/// Presets shipped with Layerwise (resources/presets/*.json, embedded at build time).
struct PresetInfo
{
    std::string name;
    std::string description;
};
std::vector<PresetInfo> listPresets();
Result<Spec> loadPreset(const std::string &name);

} // namespace lw
