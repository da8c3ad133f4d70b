#pragma once

// Internal to core (includes torch): a stored run's trained network, loaded for export, and
// Layerwise's own outputs for it (what the exports must reproduce; tests compare them).

#include "core/export/export.h"
#include "core/export/netdesc.h"
#include "core/model/model_p.h"

#include <torch/torch.h>

#include <string>
#include <vector>

namespace lw::exporting {

struct TrainedNetwork
{
    Spec spec;
    TrainMode mode = TrainMode::Greedy;
    int stage = 0;               ///< 0-based stage whose head ends the exported network
    model::Network net{nullptr}; ///< on the CPU, in eval mode, stages 0..stage loaded
    std::string origin;          ///< "run 3 ('fmnist-k1 greedy')"
};

/// Run `id`'s network at `stage` (-1: the last finished) from its checkpoint, validated first.
Result<TrainedNetwork> loadTrainedNetwork(const RunStore &store, std::int64_t id, int stage,
                                          ExportHeads heads);

/// Layerwise's outputs on normalized images `x` (N x C x H x W): the stage's head's logits, or
/// every head's logits and then their ensemble (the engine's weights and order).
std::vector<torch::Tensor> layerwiseOutputs(TrainedNetwork &trained, const torch::Tensor &x,
                                            ExportHeads heads);

/// The network as plain values (stages 0..stage), for the ONNX and model.py writers.
NetDescription describe(const TrainedNetwork &trained, ExportHeads heads);

/// The PyTorch state dict of stages 0..stage: torch::pickle_save of a dict of tensors, which
/// Python's torch.load reads.
std::string stateDictBytes(const TrainedNetwork &trained);

/// The TorchScript archive (torchscript.cpp): parameters and buffers registered under the
/// state-dict names, forward written in TorchScript.
Result<std::string> torchScriptBytes(const TrainedNetwork &trained, ExportHeads heads);

} // namespace lw::exporting
