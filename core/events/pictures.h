#pragma once

// What a stage learned, in pictures: plain values the engine computes on the test set after a
// stage finishes (core/train/pictures.cpp), the store keeps (RunStore::recordPictures) and the
// front-ends draw (core/inspect/ as PNG, ui/inspect/ as plots). Stages and classes are 0-based;
// sample numbers index the test split.

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace lw {

/// Counts of (true class, predicted class) over the test set; row-major, `classes` x `classes`.
/// Empty (classes == 0) when there is no trained head to count (an end-to-end run's inner stages).
struct ConfusionMatrix
{
    int classes = 0;
    std::vector<std::int64_t> counts;

    bool empty() const { return classes == 0; }
    std::int64_t at(int trueClass, int predicted) const
    {
        return counts[std::size_t(trueClass) * std::size_t(classes) + std::size_t(predicted)];
    }
    std::int64_t total() const;
    std::int64_t correct() const;
    /// correct() / total(); 0 when empty.
    double accuracy() const;
    /// Per true class: the diagonal over its row (NaN for a class with no test image).
    std::vector<double> perClassAccuracy() const;
};

/// A 2-D projection of a stage's pooled features (2x2 average pooling, the probes' features) of
/// a seeded subset of the test images.
struct Projection
{
    std::string method = "pca";
    std::vector<float> x, y;
    std::vector<int> labels;           ///< true class per point
    std::vector<std::int64_t> samples; ///< test-set index per point
    /// Fraction of the features' variance along each axis.
    double explainedVariance[2] = {0, 0};
    /// The stage's linear-probe test accuracy when the run has one (else NaN).
    double probeAccuracy = std::numeric_limits<double>::quiet_NaN();
    std::uint64_t seed = 0;

    std::size_t size() const { return x.size(); }
};

/// Small images, `count` tiles of height x width x channels (1: grey, 3: RGB), uint8, each tile
/// row-major with interleaved channels.
struct ImageTiles
{
    int count = 0;
    int channels = 1;
    int height = 0;
    int width = 0;
    std::vector<std::uint8_t> pixels;

    bool empty() const { return count == 0; }
    std::size_t tileBytes() const
    {
        return std::size_t(channels) * std::size_t(height) * std::size_t(width);
    }
    const std::uint8_t *tile(int i) const { return pixels.data() + std::size_t(i) * tileBytes(); }
};

/// The first layer's filters (stage 1's convolution, space-to-depth undone), each scaled to its
/// own range. Only stage 0's pictures carry them.
using FilterGrid = ImageTiles;

/// A stage's output channels for a few test images (one per class): `inputs` holds the images,
/// `maps` `perSample` tiles per image (its most active channels, each scaled to its own range).
struct FeatureMaps
{
    std::vector<std::int64_t> samples;
    std::vector<int> labels;
    int perSample = 0;
    std::vector<std::vector<int>> channels; ///< per image: the channels shown
    ImageTiles inputs;
    ImageTiles maps;
};

/// A test image a stage's head gets wrong with high confidence.
struct HardError
{
    std::int64_t sample = 0;
    int trueClass = 0;
    int predicted = 0;
    double confidence = 0; ///< softmax probability of `predicted`
    int fixedAtStage = -1; ///< first later stage whose head gets it right; -1: none (yet)
};

/// The most confident errors of a stage's head, most confident first, with their images.
struct HardErrors
{
    std::vector<HardError> errors;
    ImageTiles thumbnails; ///< one per error, in order
};

/// A later stage fixes a hard error of an earlier one (reported when the later stage finishes).
struct HardErrorFix
{
    int stage = 0; ///< the stage whose error it was
    std::int64_t sample = 0;
    int fixedAtStage = 0;
};

/// Everything drawn for one stage of one run.
struct StagePictures
{
    int stage = 0;
    std::vector<std::string> classNames;
    ConfusionMatrix head;     ///< the stage's own head
    ConfusionMatrix ensemble; ///< the 2^i-weighted heads 0..stage (the head alone at stage 0)
    Projection projection;
    FilterGrid filters; ///< stage 0 only
    FeatureMaps maps;
    HardErrors hardErrors;
    std::vector<HardErrorFix> fixes; ///< earlier stages' errors this stage fixes (live runs)
    double seconds = 0;              ///< time the computation took
};

/// One test image the user picked, through every trained stage of a stored run: the image, and
/// per stage the most active channels of its block's output and what the stage's head predicts.
struct ImageThroughStages
{
    /// One stage's view of the image.
    struct Stage
    {
        int stage = 0;
        std::vector<int> channels; ///< the channels shown, most active first
        ImageTiles maps;           ///< one tile per channel, each scaled to its own range
        int predicted = -1;        ///< the stage head's class; -1: no trained head (end-to-end)
        double confidence = std::numeric_limits<double>::quiet_NaN(); ///< softmax of `predicted`
    };

    std::int64_t sample = 0;     ///< index in the run's test split
    std::int64_t testImages = 0; ///< size of the run's test split
    int trueClass = 0;
    std::vector<std::string> classNames;
    ImageTiles image; ///< the test image, one tile
    std::vector<Stage> stages;
};

/// Name of class `c` ("class 3" when the names are unknown).
std::string className(const std::vector<std::string> &names, int c);

} // namespace lw
