// exportNetwork: which stage of a stored run can be exported, the network loaded from the run's
// checkpoint, and the three formats written. See export.h.
#include "core/export/export_p.h"

#include "core/run/runfolder.h"
#include "core/store/runstore.h"
#include "core/train/engine_p.h"
#include "core/train/weights_p.h"
#include "core/util/fsutil.h"

#include <nlohmann/json.hpp>

#include <filesystem>

namespace lw {

namespace {

std::string runName(std::int64_t id)
{
    return "run " + std::to_string(id);
}

/// Where a run's training stands, from its run state.
struct RunPoint
{
    int stage = 0;
    bool stageDone = false;
    std::string checkpoint;
};

Result<RunPoint> readRunPoint(const RunFolder &folder, std::int64_t id)
{
    if (!folder.hasState())
        return fail(runName(id) + " has no checkpoint to export (" + folder.statePath()
                    + " is missing)");
    auto text = readFile(folder.statePath(), 256ull << 20);
    if (!text)
        return text.error();
    try {
        const auto state = nlohmann::json::parse(*text);
        RunPoint p;
        p.stage = state.at("stage").get<int>();
        p.stageDone = state.at("stage_done").get<bool>();
        p.checkpoint = state.at("checkpoint").get<std::string>();
        return p;
    } catch (const std::exception &e) {
        return fail(folder.statePath() + " is damaged: " + e.what());
    }
}

ExportChoices choicesOf(TrainMode mode, int stages, const RunPoint &at)
{
    ExportChoices c;
    c.mode = mode;
    c.stages = stages;
    c.allHeadsAllowed = mode != TrainMode::EndToEnd;
    int done = 0;
    switch (mode) {
    case TrainMode::Greedy: done = at.stageDone ? at.stage + 1 : at.stage; break;
    case TrainMode::Decoupled: done = at.stageDone ? stages : 0; break;
    case TrainMode::EndToEnd:
        if (at.stageDone)
            c.finished.push_back(stages - 1);
        return c;
    }
    for (int j = 0; j < std::min(done, stages); ++j)
        c.finished.push_back(j);
    return c;
}

} // namespace

const char *toString(ExportFormat format)
{
    switch (format) {
    case ExportFormat::TorchScript: return "torchscript";
    case ExportFormat::Onnx: return "onnx";
    case ExportFormat::PyTorch: return "pytorch";
    }
    return "torchscript";
}

const char *toString(ExportHeads heads)
{
    return heads == ExportHeads::All ? "all" : "last";
}

std::optional<ExportFormat> parseExportFormat(std::string_view name)
{
    for (auto f : {ExportFormat::TorchScript, ExportFormat::Onnx, ExportFormat::PyTorch})
        if (name == toString(f))
            return f;
    return std::nullopt;
}

std::optional<ExportHeads> parseExportHeads(std::string_view name)
{
    for (auto h : {ExportHeads::Last, ExportHeads::All})
        if (name == toString(h))
            return h;
    return std::nullopt;
}

namespace {

/// A stored run as export reads it: its row, its spec and the point its run folder is at.
struct StoredRun
{
    RunDetail detail;
    Spec spec;
    RunPoint at;
};

Result<StoredRun> readStoredRun(const RunStore &store, std::int64_t id, const RunFolder &folder)
{
    auto detail = store.getRun(id);
    if (!detail)
        return detail.error();
    auto spec = parseSpec(detail->specJson);
    if (!spec)
        return fail(runName(id) + ": its stored spec is invalid: " + spec.message());
    auto at = readRunPoint(folder, id);
    if (!at)
        return at.error();
    return StoredRun{std::move(*detail), std::move(*spec), std::move(*at)};
}

} // namespace

Result<ExportChoices> exportChoices(const RunStore &store, std::int64_t id)
{
    auto run = readStoredRun(store, id, RunFolder(store.runDir(id)));
    if (!run)
        return run.error();
    return choicesOf(run->detail.run.mode, int(run->spec.stages.size()), run->at);
}

namespace exporting {

Result<TrainedNetwork> loadTrainedNetwork(const RunStore &store, std::int64_t id, int stage,
                                          ExportHeads heads)
{
    const RunFolder folder(store.runDir(id));
    auto run = readStoredRun(store, id, folder);
    if (!run)
        return run.error();
    const RunDetail *detail = &run->detail;
    const Spec *spec = &run->spec;
    const RunPoint *at = &run->at;
    const TrainMode mode = detail->run.mode;
    const int stages = int(spec->stages.size());
    const auto choices = choicesOf(mode, stages, *at);
    if (choices.finished.empty())
        return fail(runName(id) + " has no finished stage to export yet"
                    + (mode == TrainMode::Greedy ? std::string()
                                                 : std::string(" (a ") + modeLabel(mode)
                                                       + " run finishes its stages together)"));
    if (stage < 0)
        stage = choices.finished.back();
    if (std::find(choices.finished.begin(), choices.finished.end(), stage)
        == choices.finished.end()) {
        std::string which
            = mode == TrainMode::EndToEnd
                  ? "an end-to-end run trains only its last head: stage " + std::to_string(stages)
                  : "stages 1 to " + std::to_string(choices.finished.back() + 1);
        return fail("cannot export stage " + std::to_string(stage + 1) + " of " + runName(id)
                    + ": it can export " + which);
    }
    if (heads == ExportHeads::All && !choices.allHeadsAllowed)
        return fail("--heads all: " + runName(id)
                    + " is an end-to-end run; only its last head was trained");
    auto path = folder.resolve(at->checkpoint);
    if (!path)
        return path.error();

    TrainedNetwork t;
    t.spec = *spec;
    t.mode = mode;
    t.stage = stage;
    t.origin = runName(id) + " ('" + detail->run.name + "')";
    try {
        torch::manual_seed(spec->recipe.seed);
        t.net = model::Network(*spec);
        // Greedy: blocks and heads 0..stage froze when their stage finished, so the latest
        // checkpoint holds them as they were then. Other modes: the finished run's checkpoint.
        if (auto r = detail::loadCheckpointFile(*path, *t.net, stage + 1, torch::kCPU); !r)
            return fail(runName(id) + ": " + r.message());
        t.net->eval();
    } catch (const std::exception &e) {
        return fail(runName(id) + ": cannot build its network: " + detail::errorText(e));
    }
    return t;
}

std::vector<torch::Tensor> layerwiseOutputs(TrainedNetwork &trained, const torch::Tensor &x,
                                            ExportHeads heads)
{
    torch::NoGradGuard guard;
    auto &net = *trained.net;
    net.eval();
    const bool all = heads == ExportHeads::All;
    std::vector<torch::Tensor> out;
    auto y = net.stem->forward(x);
    for (int j = 0; j <= trained.stage; ++j) {
        y = net.blocks[std::size_t(j)]->forward(y);
        if (all || j == trained.stage)
            out.push_back(net.heads[std::size_t(j)]->forward(y));
    }
    if (!all)
        return out;
    // As the engine's evaluation ensembles (evaluation.cpp): the last head's term first.
    const auto w = detail::ensembleWeights(trained.stage + 1);
    const bool softmax = trained.spec.recipe.ensemble == EnsembleMode::Softmax;
    auto term = [&](int j) {
        const auto &h = out[std::size_t(j)];
        return (softmax ? torch::softmax(h, 1) : h) * w[std::size_t(j)];
    };
    auto ens = term(trained.stage);
    for (int j = 0; j < trained.stage; ++j)
        ens = ens + term(j);
    out.push_back(ens);
    return out;
}

namespace {

/// Parameters and buffers of stages 0..stage by state-dict name.
std::vector<std::pair<std::string, torch::Tensor>> stateTensors(const TrainedNetwork &t)
{
    std::vector<std::pair<std::string, torch::Tensor>> all;
    for (int j = 0; j <= t.stage; ++j)
        for (const auto &[part, module] :
             {std::pair<std::string, std::shared_ptr<torch::nn::Module>>{
                  "block", t.net->blocks[std::size_t(j)].ptr()},
              {"head", t.net->heads[std::size_t(j)].ptr()}}) {
            const std::string prefix = part + std::to_string(j) + ".";
            for (const auto &p : module->named_parameters())
                all.emplace_back(prefix + p.key(), p.value().detach().contiguous());
            for (const auto &b : module->named_buffers())
                all.emplace_back(prefix + b.key(), b.value().detach().contiguous());
        }
    return all;
}

} // namespace

NetDescription describe(const TrainedNetwork &trained, ExportHeads heads)
{
    NetDescription d;
    d.spec = trained.spec;
    d.stages = trained.stage + 1;
    d.allHeads = heads == ExportHeads::All;
    d.ensembleWeights = detail::ensembleWeights(d.stages);
    d.origin = trained.origin;
    for (const auto &[name, tensor] : stateTensors(trained)) {
        NetTensor n;
        n.shape = tensor.sizes().vec();
        if (tensor.scalar_type() == torch::kLong) {
            n.isInt = true;
            const auto *p = tensor.data_ptr<std::int64_t>();
            n.ints.assign(p, p + tensor.numel());
        } else {
            const auto f = tensor.to(torch::kFloat32).contiguous();
            const auto *p = f.data_ptr<float>();
            n.values.assign(p, p + f.numel());
        }
        d.tensors.emplace(name, std::move(n));
    }
    return d;
}

std::string stateDictBytes(const TrainedNetwork &trained)
{
    c10::Dict<std::string, torch::Tensor> dict;
    for (const auto &[name, tensor] : stateTensors(trained))
        dict.insert(name, tensor.clone());
    const auto bytes = torch::pickle_save(dict);
    return std::string(bytes.begin(), bytes.end());
}

} // namespace exporting

Result<ExportResult> exportNetwork(const RunStore &store, std::int64_t id,
                                   const ExportOptions &options)
{
    if (options.out.empty())
        return fail("no output path given");
    auto trained = exporting::loadTrainedNetwork(store, id, options.stage, options.heads);
    if (!trained)
        return trained.error();
    ExportResult result;
    result.stage = trained->stage;
    try {
        switch (options.format) {
        case ExportFormat::TorchScript: {
            auto bytes = exporting::torchScriptBytes(*trained, options.heads);
            if (!bytes)
                return bytes.error();
            if (auto r = writeFileAtomic(options.out, *bytes); !r)
                return r.error();
            result.files.push_back(options.out);
            break;
        }
        case ExportFormat::Onnx:
            if (auto r
                = exporting::writeOnnx(exporting::describe(*trained, options.heads), options.out);
                !r)
                return r.error();
            result.files.push_back(options.out);
            break;
        case ExportFormat::PyTorch: {
            namespace fs = std::filesystem;
            std::error_code ec;
            fs::create_directories(options.out, ec);
            if (ec || !fs::is_directory(options.out))
                return fail("cannot create the folder '" + options.out + "'"
                            + (ec ? ": " + ec.message() : std::string(": a file is in the way")));
            const std::string weights = (fs::path(options.out) / "weights.pt").string();
            const std::string model = (fs::path(options.out) / "model.py").string();
            if (auto r = writeFileAtomic(weights, exporting::stateDictBytes(*trained)); !r)
                return r.error();
            if (auto r = writeFileAtomic(
                    model, exporting::pythonModel(exporting::describe(*trained, options.heads)));
                !r)
                return r.error();
            result.files = {weights, model};
            break;
        }
        }
    } catch (const std::exception &e) {
        return fail("cannot export " + runName(id) + ": " + detail::errorText(e));
    }
    return result;
}

} // namespace lw
