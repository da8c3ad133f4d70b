#pragma once

// Internal to the checkpoint validator (torch-free): the TorchScript code of a checkpoint.
// LibTorch compiles every code/*.py record of an archive with its TorchScript front end, which
// trusts what it reads (an altered class body crashes it). A Layerwise checkpoint's code only
// declares module classes: one `class Module(Module):` per file with its parameter and buffer
// lists and typed attributes, no methods, no constants. This reader accepts exactly that, line
// by line, and ties the classes to the objects data.pkl creates, so LibTorch compiles only what
// its own writer produces for a module tree.

#include "core/train/picklescan.h"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace lw::ckpt::detail {

/// One declared attribute: `name : Type` or `__annotations__["name"] = Type`.
struct ClassAttribute
{
    std::string name, type; // type: Tensor, int, float, bool, str, List[...] or a class name
};

/// One module class of the archive's code.
struct ClassDecl
{
    std::string where; // "file: archive/code/__torch__.py", for messages
    std::vector<std::string> parameters, buffers;
    std::vector<ClassAttribute> attributes;
};

/// The qualified class a code record declares ("archive/code/__torch__/x.py" with prefix
/// "archive/": "__torch__.x.Module"); empty when the record's path is not one LibTorch writes.
std::string codeClassName(const std::string &record, const std::string &prefix);

/// Parses one code record (`where` names it in messages).
Result<ClassDecl> parseCodeFile(std::string_view text, const std::string &where);

/// Checks the classes among themselves (every type they name exists, no cycles, shallow) and
/// against data.pkl's objects (each of a declared class, with exactly its attributes, each of the
/// declared type). `name` is the file named in messages.
Result<void> checkClasses(const std::map<std::string, ClassDecl> &classes, const PickleScan &data,
                          const std::string &name);

} // namespace lw::ckpt::detail
