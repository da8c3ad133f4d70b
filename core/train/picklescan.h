#pragma once

// Internal to the checkpoint validator (torch-free): a scanner for the pickles of a TorchScript
// archive. It runs the pickle machine over plain values without calling anything, accepts only
// the opcodes and globals LibTorch's pickler writes for a module tree, and bounds nesting, length
// and memo ids, so a hostile pickle ends in an error instead of deep recursion or huge allocations.

#include "core/train/archivecheck.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lw::ckpt::detail {

/// A storage a pickle refers to (its persistent id): data/<key> of `numel` elements.
struct StorageRef
{
    std::string key, dtype;
    int elementSize = 0;
    std::int64_t numel = 0;
};

/// The kind of a pickled value, as far as the checks need it.
enum class ValueKind { None, Bool, Int, Float, Str, Tuple, List, Dict, Object, Tensor, Other };

/// One attribute of a pickled TorchScript object (a key of the dictionary BUILD gave it).
struct AttributeValue
{
    std::string name;
    ValueKind kind = ValueKind::Other;
    std::string objectClass; // kind Object: its class, "__torch__.___torch_mangle_1.Module"
    std::vector<ValueKind> itemKinds; // kind List: its items' kinds
};

/// A TorchScript object (a module) the pickle creates, with the attributes it is given.
struct PickledObject
{
    std::string cls; // qualified class name, "__torch__.Module"
    bool hasState = false;
    bool plainKeys = true; // every key of its state is a string
    std::vector<AttributeValue> attributes;
};

struct PickleScan
{
    std::vector<TensorInfo> tensors;    // storageOffset, sizes and strides still unchecked
    std::vector<StorageRef> storages;   // one per persistent id, in order
    std::vector<std::size_t> storageOf; // per tensor: its index in `storages`
    std::vector<PickledObject> objects; // every TorchScript object it reaches, root first
    ValueKind rootKind = ValueKind::Other;
    std::string rootClass;     // the root's class when it is an object
    std::size_t rootItems = 0; // the root's items when it is a tuple or list
};

/// Scans `bytes` (`where` names the record in messages: "file: archive/data.pkl"). Tensors and
/// persistent ids are refused unless `tensors` is true.
Result<PickleScan> scanPickle(std::string_view bytes, const std::string &where, bool tensors);

/// Bytes per element of a LibTorch storage class ("FloatStorage" -> 4, dtype "Float"); 0 when
/// it is not one.
int storageElementSize(std::string_view storageClass, std::string *dtype);

} // namespace lw::ckpt::detail
