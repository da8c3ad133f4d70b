#pragma once

// Public, torch-free view of the datasets (what the GUI and CLI need to check and describe data).
// The tensors and the loader live in data/loader.h, which is internal to core.

#include "core/util/log.h"
#include "core/util/result.h"

#include <cstdint>
#include <string>
#include <vector>

namespace lw {

struct Spec;

/// Dataset kinds by name: "fashion-mnist", "mnist", "kmnist" (IDX), "cifar10", "cifar100",
/// "imagefolder", "synthetic".
std::vector<std::string> datasetNames();

struct DatasetOptions
{
    std::string name = "fashion-mnist";
    std::string path;            ///< folder holding the files or its parent; empty: default
    std::int64_t trainLimit = 0; ///< 0: all; else a fixed, seeded, class-balanced subset
    std::int64_t testLimit = 0;
    std::uint64_t seed = 0;
    bool cifar100Coarse = false; ///< CIFAR-100: the 20 coarse labels instead of the 100 fine
    /// Image folders and synthetic sets: the side images are produced at (0: 224 / 32).
    int imageSide = 0;
    int channels = 0;                ///< synthetic only (0: 3)
    int classes = 0;                 ///< synthetic only (0: 10)
    std::int64_t syntheticTrain = 0; ///< synthetic only (0: 2048)
    std::int64_t syntheticTest = 0;  ///< synthetic only (0: 512)
    LogFn log;                       ///< what was found, skipped images (may be empty)
};

/// The dataset a run of `spec` trains on: its recipe's dataset, limits and seed at the input's
/// side; a synthetic set takes the input's channels and classes and the limits as its sizes.
DatasetOptions datasetOptionsFor(const Spec &spec);

struct DatasetInfo
{
    std::string name;        ///< kind, as in datasetNames()
    std::string root;        ///< resolved folder
    std::string description; ///< e.g. "Fashion-MNIST (IDX, gzip) at /usr/share/..."
    int channels = 0;
    int height = 0; ///< native size; image folders: the decode side
    int width = 0;
    int classes = 0;
    std::vector<std::string> classNames;
    std::int64_t trainSize = 0; ///< after limits
    std::int64_t testSize = 0;
    /// Image folders: images left out because they cannot be decoded (counted before limits).
    std::int64_t trainSkipped = 0;
    std::int64_t testSkipped = 0;
    /// IDX and CIFAR: the file holding the training images (named by shape errors).
    std::string trainFile;
    std::string fingerprint; ///< stable hash of the files' sizes, headers and the limits
};

/// Finds and checks a dataset without decoding it all (headers, counts, folder listing).
/// Errors name the file and, where relevant, the byte offset and what was expected.
Result<DatasetInfo> probeDataset(const DatasetOptions &options);

/// Whether the images of `info` may feed a network input of height x width. Image folders and
/// synthetic sets are made at the input's side, and a recipe that resizes (`resizes`: random
/// resized crops, an evaluation resize) resamples any image; otherwise (IDX, CIFAR) the stored
/// size must be the input's, since silently stretching 1x1 images to 28x28 trains on nothing.
/// The error names the file, the size found and the input's.
Result<void> checkInputShape(const DatasetInfo &info, int height, int width, bool resizes);

/// The folder the embedded default (Debian's dataset-fashion-mnist) lives in.
std::string defaultFashionMnistPath();

} // namespace lw
