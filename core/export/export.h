#pragma once

// Export of a stored run's trained network (`layerwise-cli export`, the Runs view's Export
// Network): TorchScript, ONNX, or a PyTorch state dict with a generated model.py. Torch-free.
// The exported network takes the run's normalized images and gives the same outputs as
// Layerwise (docs/export.md). Not exported: optimizer state, the feature cache.

#include "core/events/events.h"
#include "core/util/result.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lw {

class RunStore;

enum class ExportFormat { TorchScript, Onnx, PyTorch };

/// What the exported network returns: the chosen stage's head's logits, or every head's logits
/// up to it and their 2^i-weighted ensemble.
enum class ExportHeads { Last, All };

/// "torchscript", "onnx", "pytorch"; "last", "all".
const char *toString(ExportFormat format);
const char *toString(ExportHeads heads);
std::optional<ExportFormat> parseExportFormat(std::string_view name);
std::optional<ExportHeads> parseExportHeads(std::string_view name);

struct ExportOptions
{
    ExportFormat format = ExportFormat::TorchScript;
    ExportHeads heads = ExportHeads::Last;
    int stage = -1; ///< 0-based stage whose head ends the network; -1: the last finished one
    /// TorchScript and ONNX: the file written. PyTorch: a folder, created if needed, that gets
    /// weights.pt (the state dict) and model.py.
    std::string out;
};

/// The stages of a stored run that can be exported.
struct ExportChoices
{
    TrainMode mode = TrainMode::Greedy;
    int stages = 0;               ///< of its spec
    std::vector<int> finished;    ///< 0-based stages that can end the network, ascending
    bool allHeadsAllowed = false; ///< false for end-to-end runs (their earlier heads never train)
};

/// Which stages of run `id` can be exported: greedy runs every finished stage, decoupled runs
/// every stage once they finished, end-to-end runs their last stage once finished. Fails when
/// the run is missing or has no checkpoint.
Result<ExportChoices> exportChoices(const RunStore &store, std::int64_t id);

struct ExportResult
{
    int stage = 0;                  ///< 0-based stage exported
    std::vector<std::string> files; ///< what was written
};

/// Builds run `id`'s trained network at `options.stage` from its checkpoint (validated like
/// every checkpoint Layerwise reads) and writes it. Errors name the run, the stage (1..N) or the
/// file; nothing is left half-written.
Result<ExportResult> exportNetwork(const RunStore &store, std::int64_t id,
                                   const ExportOptions &options);

} // namespace lw
