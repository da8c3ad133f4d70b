#pragma once

// Internal to core/export (torch-free): a trained network as plain values, what the ONNX and
// model.py writers read. The torch side (trained.cpp) fills it from a run's checkpoint.

#include "core/spec/spec.h"
#include "core/util/result.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lw::exporting {

/// One parameter or buffer: float32 values, or int64 (BatchNorm's num_batches_tracked).
struct NetTensor
{
    std::vector<std::int64_t> shape;
    std::vector<float> values;
    std::vector<std::int64_t> ints; ///< int64 tensors only
    bool isInt = false;
};

struct NetDescription
{
    Spec spec;
    int stages = 0;        ///< the network of stages 1..stages (blocks and heads 0..stages-1)
    bool allHeads = false; ///< outputs: every head's logits and the ensemble; else the last head's
    std::vector<double> ensembleWeights;      ///< of heads 0..stages-1 (the engine's 2^i / sum 2^k)
    double bnEps = 1e-5;                      ///< BatchNorm epsilon (LibTorch's default)
    std::map<std::string, NetTensor> tensors; ///< by state-dict name: "block0.conv.weight"
    std::string origin;                       ///< "run 3 ('fmnist-k1 greedy')", for comments
};

/// The ONNX opset the exported models declare (ONNX 1.12 as Debian 12 ships it).
constexpr int kOnnxOpset = 13;

/// A readable PyTorch module (model.py) with the same structure and parameter names.
std::string pythonModel(const NetDescription &net);

/// Builds the ONNX model, checks it with onnx::checker and writes it to `path` (atomically).
Result<void> writeOnnx(const NetDescription &net, const std::string &path);

/// Shape a head's layers see: after its max-pool and hidden convolutions.
Shape headPooledInput(const HeadSpec &head, Shape in);

} // namespace lw::exporting
