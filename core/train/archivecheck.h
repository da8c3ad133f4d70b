#pragma once

// Validation of a checkpoint archive before LibTorch's reader sees it. A checkpoint is a
// TorchScript zip (torch::serialize::OutputArchive): <prefix>/data.pkl pickles the module tree,
// <prefix>/data/<key> holds each storage's raw bytes, plus code/, constants.pkl and version.
// LibTorch trusts the pickled sizes, strides and offsets and reads out of bounds when they lie;
// this reader of plain bytes (no torch, so a fuzz target can drive it) refuses every archive it
// cannot prove in bounds, naming the file, the record or tensor, and what is wrong.

#include "core/util/result.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lw::ckpt {

/// One tensor the archive's data.pkl rebuilds.
struct TensorInfo
{
    std::string name;  // attribute path in the module tree: "block0.conv.weight", "optimizer0..."
    std::string dtype; // LibTorch's scalar type name: "Float", "Long", ...
    std::string key;   // storage record: data/<key>
    std::int64_t storageOffset = 0;
    std::vector<std::int64_t> sizes, strides;
};

/// What a valid archive holds.
struct ArchiveInfo
{
    std::vector<TensorInfo> tensors;
    /// Byte offsets of the last character of each debug record's name (".debug_pkl"), in its
    /// local header and its directory entry: hideDebugRecords renames them there.
    std::vector<std::uint64_t> debugNameEnds;
};

/// Bounds the pickle scanner keeps (LibTorch's unpickler recurses and allocates on trust).
constexpr int kMaxPickleDepth = 64;
constexpr std::int64_t kMaxPickleOps = 20'000'000;

/// Reads the checkpoint at `path`: a regular file (a link, FIFO or device is refused without
/// opening it for reading, so nothing blocks) of at most `maxBytes`.
Result<std::string> readCheckpointFile(const std::string &path, std::uint64_t maxBytes);

/// Checks the archive's bytes (`name` is the file named in messages): the zip's directory and
/// records (stored, in bounds, unique, CRC, only the records LibTorch writes for a module tree),
/// every pickle (known opcodes and globals only, bounded depth and length), the code (module
/// class declarations only, codecheck.h) against data.pkl's objects, and every tensor of
/// data.pkl against its storage record.
Result<ArchiveInfo> checkArchive(std::string_view bytes, const std::string &name);

/// Renames the archive's debug records (source ranges of the code, which LibTorch unpickles
/// only to print a compile error, with a reader that trusts them) so that LibTorch does not find
/// them: the names change in place, sizes and CRCs stay valid. `info` is checkArchive's answer
/// for these bytes.
void hideDebugRecords(std::string &bytes, const ArchiveInfo &info);

/// "[8, 1, 3, 3]", as LibTorch prints sizes.
std::string formatShape(const std::vector<std::int64_t> &sizes);

} // namespace lw::ckpt
