#pragma once

// Initial weights of a new run from a state dict (`train --init-from FILE`): the PyTorch format
// `layerwise-cli export --format pytorch` writes. Torch-free.

#include "core/spec/spec.h"
#include "core/util/result.h"

#include <string>

namespace lw {

/// Checks that state dict `path` can initialize the network of `spec` (an untrusted file: the
/// checkpoint validator reads it before LibTorch does): a dictionary of tensors named as the
/// network's state_dict() ("block0.conv.weight", ...) with the spec's shapes, holding whole
/// stages 1..K. Returns K. The error names the file and the first tensor that does not match.
Result<int> checkInitWeights(const std::string &path, const Spec &spec);

} // namespace lw
