// layerwise-cli export: a stored run's trained network as TorchScript, ONNX or PyTorch weights
// with a generated model.py (core/export). Parses, checks the run and stage, calls core.

#include "app/cli/commands.h"
#include "app/cli/flags.h"
#include "app/cli/table.h"

#include "core/export/export.h"
#include "core/spec/spec.h"
#include "core/store/runstore.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace lw::cli {

namespace {

struct ExportArgs
{
    std::int64_t id = 0;
    std::string format, out, heads = "last", db;
    int stage = 0; ///< 1-based; 0: the last finished stage
    bool jsonOut = false;
};

int report(const std::string &message, int code)
{
    std::fprintf(stderr, "layerwise-cli: %s\n", printable(message, /*multiline=*/true).c_str());
    return code;
}

int exportRun(const ExportArgs &a)
{
    const std::string path = RunStore::resolvePath(a.db);
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
        return report("run " + std::to_string(a.id) + " not found (no run store at '" + path + "')",
                      ExitBadInput);
    auto store = RunStore::open(path, OpenMode::ReadOnly);
    if (!store)
        return report(store.message(), ExitFailure);
    auto exists = (*store)->exists(a.id);
    if (!exists)
        return report(exists.message(), ExitFailure);
    if (!*exists)
        return report("run " + std::to_string(a.id) + " not found in '" + path + "'", ExitBadInput);
    // What the run can export is checked first: a stage it cannot give is bad input.
    auto choices = exportChoices(**store, a.id);
    if (!choices)
        return report(choices.message(), ExitBadInput);
    const std::string run = "run " + std::to_string(a.id);
    if (choices->finished.empty())
        return report(run + " has no finished stage to export yet", ExitBadInput);
    if (a.stage > 0
        && std::find(choices->finished.begin(), choices->finished.end(), a.stage - 1)
               == choices->finished.end())
        return report("--stage " + std::to_string(a.stage) + ": " + run + " can export "
                          + (choices->mode == TrainMode::EndToEnd
                                 ? "only its last stage, " + std::to_string(choices->stages)
                                       + " (an end-to-end run trains only its last head)"
                                 : "stages 1 to " + std::to_string(choices->finished.back() + 1)),
                      ExitBadInput);
    const auto heads = *parseExportHeads(a.heads); // CLI11 checked the choice
    if (heads == ExportHeads::All && !choices->allHeadsAllowed)
        return report("--heads all: " + run
                          + " is an end-to-end run; only its last head was trained",
                      ExitBadInput);

    ExportOptions options;
    options.format = *parseExportFormat(a.format);
    options.heads = heads;
    options.stage = a.stage - 1;
    options.out = std::filesystem::absolute(a.out).string();
    auto result = exportNetwork(**store, a.id, options);
    if (!result)
        return report(result.message(), ExitFailure);
    if (a.jsonOut) {
        nlohmann::json j = {{"run", a.id},
                            {"format", toString(options.format)},
                            {"heads", toString(heads)},
                            {"stage", result->stage},
                            {"files", result->files}};
        std::printf("%s\n", j.dump(2).c_str());
    } else {
        std::printf("%s, stage %d (%s): %s\n", run.c_str(), result->stage + 1,
                    heads == ExportHeads::All ? "every head and the ensemble" : "its head",
                    toString(options.format));
        for (const auto &f : result->files)
            std::printf("  %s\n", printable(f).c_str());
    }
    return ExitOk;
}

} // namespace

void registerExport(CLI::App &app, Context &ctx)
{
    auto args = std::make_shared<ExportArgs>();
    auto *cmd = app.add_subcommand(
        "export", "Export a stored run's trained network: TorchScript, ONNX, or a PyTorch state "
                  "dict with a generated model.py (docs/export.md)");
    cmd->add_option("id", args->id, "Run id")->required()->check(integerIn(1));
    cmd->add_option("--format", args->format, "torchscript | onnx | pytorch")
        ->required()
        ->check(CLI::IsMember({"torchscript", "onnx", "pytorch"}));
    cmd->add_option("--out", args->out,
                    "The file to write (torchscript, onnx), or the folder that gets weights.pt "
                    "and model.py (pytorch)")
        ->required();
    cmd->add_option("--heads", args->heads,
                    "last: the stage's head's logits; all: every head's logits up to the stage "
                    "and their ensemble")
        ->check(CLI::IsMember({"last", "all"}))
        ->capture_default_str();
    cmd->add_option("--stage", args->stage,
                    "The stage whose head ends the network, 1..N (default: the last finished)")
        ->check(integerIn(1, SpecLimits::maxStages));
    cmd->add_option("--db", args->db,
                    "Run store (default: $LAYERWISE_DB or ~/.local/share/layerwise/runs.sqlite)");
    cmd->add_flag("--json", args->jsonOut, "Print what was written as one JSON object");
    cmd->callback([args, &ctx] { ctx.exitCode = exportRun(*args); });
}

} // namespace lw::cli
