// Network weights read from files: the run's checkpoints and state dicts (`train --init-from`),
// both validated by the checkpoint validator before LibTorch reads them. See weights_p.h.
#include "core/train/weights_p.h"

#include "core/train/initweights.h"

#include <cctype>
#include <map>
#include <unordered_map>
#include <unordered_set>

namespace lw::detail {

std::uint64_t checkpointLimit(torch::nn::Module &net)
{
    std::uint64_t bytes = 0;
    for (const auto &p : net.parameters())
        bytes += p.numel() * p.element_size();
    for (const auto &b : net.buffers())
        bytes += b.numel() * b.element_size();
    return 4 * bytes + (64ull << 20);
}

namespace {

/// Parameters and buffers of `net` by their state-dict names, in registration order.
std::vector<std::pair<std::string, torch::Tensor>> namedTensors(torch::nn::Module &net)
{
    std::vector<std::pair<std::string, torch::Tensor>> all;
    for (const auto &item : net.named_parameters())
        all.emplace_back(item.key(), item.value());
    for (const auto &item : net.named_buffers())
        all.emplace_back(item.key(), item.value());
    return all;
}

/// The stage a state-dict name belongs to ("block3.conv.weight" -> 3), -1 when none.
int stageOf(const std::string &name)
{
    for (const char *part : {"block", "head"}) {
        const std::size_t n = std::char_traits<char>::length(part);
        if (name.compare(0, n, part) != 0)
            continue;
        std::size_t end = n;
        while (end < name.size() && end - n < 6
               && std::isdigit(static_cast<unsigned char>(name[end])))
            ++end;
        if (end > n && end < name.size() && name[end] == '.')
            return std::stoi(name.substr(n, end - n));
    }
    return -1;
}

} // namespace

Result<std::string> readCheckpoint(const std::string &path, torch::nn::Module &net,
                                   ckpt::ArchiveInfo *info)
{
    auto bytes = ckpt::readCheckpointFile(path, checkpointLimit(net));
    if (!bytes)
        return bytes.error();
    auto archive = ckpt::checkArchive(*bytes, path);
    if (!archive)
        return archive.error();
    ckpt::hideDebugRecords(*bytes, *archive);
    if (info)
        *info = std::move(*archive);
    return bytes;
}

Result<void> checkNetworkTensors(const ckpt::ArchiveInfo &archive, const std::string &path,
                                 torch::nn::Module &net, int stages)
{
    auto wanted = [stages](const std::string &name) {
        for (int j = 0; j < stages; ++j)
            for (const char *part : {"block", "head"})
                if (name.rfind(part + std::to_string(j) + ".", 0) == 0)
                    return true;
        return stages < 0;
    };
    const auto expected = namedTensors(net);
    std::unordered_map<std::string_view, const ckpt::TensorInfo *> held;
    for (const auto &t : archive.tensors)
        held.emplace(t.name, &t);
    for (const auto &[name, tensor] : expected) {
        if (!wanted(name))
            continue;
        auto it = held.find(name);
        const ckpt::TensorInfo *t = it == held.end() ? nullptr : it->second;
        if (!t)
            return fail("checkpoint '" + path + "' has no " + name
                        + " (it was written for another spec)");
        const std::vector<std::int64_t> sizes = tensor.sizes().vec();
        if (t->sizes != sizes)
            return fail("checkpoint '" + path + "': " + name + " has shape "
                        + ckpt::formatShape(t->sizes) + ", this spec needs "
                        + ckpt::formatShape(sizes)
                        + " (the stages taken from it must be the same)");
        if (t->dtype != c10::toString(tensor.scalar_type()))
            return fail("checkpoint '" + path + "': " + name + " holds " + t->dtype
                        + " elements, this network needs " + c10::toString(tensor.scalar_type()));
    }
    std::unordered_set<std::string_view> names;
    for (const auto &e : expected)
        names.insert(e.first);
    if (stages < 0)
        for (const auto &t : archive.tensors)
            if (t.name.rfind("optimizer", 0) != 0 && !names.count(t.name))
                return fail("checkpoint '" + path + "' holds " + t.name
                            + ", which this spec does not have (it was written for another spec)");
    return {};
}

Result<void> loadCheckpointFile(const std::string &path, model::NetworkImpl &net, int stagesToLoad,
                                torch::Device device)
{
    try {
        ckpt::ArchiveInfo contents;
        auto bytes = readCheckpoint(path, net, &contents);
        if (!bytes)
            return bytes.error();
        if (auto r = checkNetworkTensors(contents, path, net, stagesToLoad); !r)
            return r;
        torch::serialize::InputArchive archive;
        archive.load_from(bytes->data(), bytes->size(), device);
        if (stagesToLoad < 0) {
            net.load(archive);
        } else {
            for (int j = 0; j < stagesToLoad; ++j) {
                torch::serialize::InputArchive block, head;
                archive.read("block" + std::to_string(j), block);
                archive.read("head" + std::to_string(j), head);
                net.blocks[j]->load(block);
                net.heads[j]->load(head);
            }
        }
    } catch (const std::exception &e) {
        return fail("checkpoint '" + path
                    + "' cannot be loaded into this network: " + errorText(e));
    }
    return {};
}

Result<int> loadStateDictFile(const std::string &path, model::NetworkImpl &net)
{
    ckpt::ArchiveInfo contents;
    auto bytes = readCheckpoint(path, net, &contents);
    if (!bytes)
        return bytes.error();
    if (contents.tensors.empty())
        return fail("'" + path + "' holds no tensors: it is not a state dict");
    // Names and shapes first, in the file's order: the first mismatch is the one reported.
    std::map<std::string, torch::Tensor> expected;
    for (auto &[name, tensor] : namedTensors(net))
        expected.emplace(name, tensor);
    std::unordered_set<std::string> seen;
    int stages = 0;
    for (const auto &t : contents.tensors) {
        auto it = expected.find(t.name);
        if (it == expected.end())
            return fail("'" + path + "': tensor '" + t.name
                        + "' is not one of this network's (its state dict names them "
                          "block<j>.… and head<j>.…, e.g. block0.conv.weight, for stages 1 to "
                        + std::to_string(net.stages()) + ")");
        const auto sizes = it->second.sizes().vec();
        if (t.sizes != sizes)
            return fail("'" + path + "': tensor '" + t.name + "' has shape "
                        + ckpt::formatShape(t.sizes) + ", this spec needs "
                        + ckpt::formatShape(sizes));
        if (t.dtype != c10::toString(it->second.scalar_type()))
            return fail("'" + path + "': tensor '" + t.name + "' holds " + t.dtype
                        + " elements, this network needs "
                        + c10::toString(it->second.scalar_type()));
        if (!seen.insert(t.name).second)
            return fail("'" + path + "': tensor '" + t.name + "' appears twice");
        stages = std::max(stages, stageOf(t.name) + 1);
    }
    for (const auto &[name, tensor] : expected) {
        const int j = stageOf(name);
        if (j >= 0 && j < stages && !seen.count(name))
            return fail("'" + path + "' has no '" + name + "': stage " + std::to_string(j + 1)
                        + " is incomplete (a state dict holds whole stages 1 to K; this one "
                          "holds tensors of stage "
                        + std::to_string(stages) + ")");
    }
    // The validator found the file sound: LibTorch reads it now, from these bytes only.
    torch::IValue value;
    try {
        value = torch::pickle_load(std::vector<char>(bytes->begin(), bytes->end()));
    } catch (const std::exception &e) {
        return fail("'" + path + "' cannot be read as a state dict: " + errorText(e));
    }
    if (!value.isGenericDict())
        return fail("'" + path + "' is not a state dict (a dictionary of tensors): it holds a "
                    + std::string(value.tagKind()));
    torch::NoGradGuard guard;
    std::size_t copied = 0;
    for (const auto &item : value.toGenericDict()) {
        if (!item.key().isString() || !item.value().isTensor())
            return fail("'" + path + "' is not a state dict: it maps a "
                        + std::string(item.key().tagKind()) + " to a "
                        + std::string(item.value().tagKind()) + ", expected names to tensors");
        const auto it = expected.find(item.key().toStringRef());
        const auto &tensor = item.value().toTensor();
        if (it == expected.end() || !tensor.sizes().equals(it->second.sizes()))
            return fail("'" + path + "': tensor '" + item.key().toStringRef()
                        + "' does not match the file's own index");
        it->second.copy_(tensor);
        ++copied;
    }
    if (copied != seen.size())
        return fail("'" + path + "' is not a state dict: it holds " + std::to_string(copied)
                    + " tensors at its top level and " + std::to_string(seen.size()) + " in all");
    return stages;
}

std::string errorText(const std::exception &e)
{
    const auto *c10 = dynamic_cast<const c10::Error *>(&e);
    return c10 ? c10->what_without_backtrace() : e.what();
}

} // namespace lw::detail

namespace lw {

Result<int> checkInitWeights(const std::string &path, const Spec &spec)
{
    try {
        torch::NoGradGuard guard;
        model::Network net(spec);
        return detail::loadStateDictFile(path, *net);
    } catch (const std::exception &e) {
        return fail("cannot check the initial weights '" + path + "': " + detail::errorText(e));
    }
}

} // namespace lw
