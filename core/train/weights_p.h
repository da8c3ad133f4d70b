#pragma once

// Internal to core (includes torch): network weights read from files, always through the
// checkpoint validator (archivecheck.h) before LibTorch sees a byte. The run's own checkpoints
// (module archives) and state dicts (a dictionary of tensors: what `export --format pytorch`
// writes, torch::pickle_save, Python's torch.save of a dict), for `train --init-from`.

#include "core/model/model_p.h"
#include "core/train/archivecheck.h"

#include <torch/torch.h>

#include <cstdint>
#include <exception>
#include <string>

namespace lw::detail {

/// The most bytes a checkpoint of `net` can hold: its tensors, up to three optimizer states per
/// parameter and room for the archive's code and pickles.
std::uint64_t checkpointLimit(torch::nn::Module &net);

/// The checkpoint's bytes once the validator has found them sound: LibTorch loads only these,
/// never the path again. `info` (may be null) gets its tensors.
Result<std::string> readCheckpoint(const std::string &path, torch::nn::Module &net,
                                   ckpt::ArchiveInfo *info);

/// Network tensors a checkpoint must hold with this network's shapes and types before LibTorch
/// takes them (it would silently take another shape); with `stages` < 0 it may hold no others.
Result<void> checkNetworkTensors(const ckpt::ArchiveInfo &archive, const std::string &path,
                                 torch::nn::Module &net, int stages);

/// Loads checkpoint `path` (validated) into `net`: everything (`stagesToLoad` < 0) or blocks and
/// heads 0..stagesToLoad-1 only. The error names the file and what does not match.
Result<void> loadCheckpointFile(const std::string &path, model::NetworkImpl &net, int stagesToLoad,
                                torch::Device device);

/// Loads state dict `path` into `net`: every tensor it holds must be one of the network's (named
/// as in state_dict(), "block0.conv.weight") with its shape and type, and it must hold whole
/// stages 1..K (K >= 1); blocks and heads after K keep their values. Returns K. The error names
/// the file and the first tensor whose name or shape does not match.
Result<int> loadStateDictFile(const std::string &path, model::NetworkImpl &net);

/// A LibTorch error without its C++ backtrace.
std::string errorText(const std::exception &e);

} // namespace lw::detail
