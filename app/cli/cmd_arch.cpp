// layerwise-cli presets | arch summary | arch validate: inspecting architecture specs.

#include "app/cli/commands.h"
#include "app/cli/table.h"
#include "core/util/format.h"

#include "core/spec/spec.h"
#include "core/util/fsutil.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>
#include <string>

namespace lw::cli {

namespace {

constexpr std::uint64_t kMaxSpecBytes = 16ull << 20;

std::string shapeText(const Shape &s)
{
    return std::to_string(s.c) + "x" + std::to_string(s.h) + "x" + std::to_string(s.w);
}

void printErr(const std::string &text)
{
    // Issues quote keys and file names from the file as they are.
    std::fprintf(stderr, "%s\n", printable(text, /*multiline=*/true).c_str());
}

/// Every issue of `text` on stderr, one per line, prefixed with `file`. True when valid.
bool parseWithIssues(const std::string &file, const std::string &text, Spec &spec)
{
    const auto issues = parseSpecDetailed(text, spec);
    for (const auto &issue : issues)
        printErr(file + ": " + issue.toString());
    return issues.empty();
}

void printSummaryText(const Spec &spec, const SpecSummary &summary)
{
    const InputSpec &in = spec.input;
    std::printf("%s: %zu stages, input %dx%dx%d%s, %d classes\n",
                spec.name.empty() ? "(unnamed)" : printable(spec.name).c_str(), spec.stages.size(),
                in.channels, in.height, in.width, in.downsample == Downsample::Psi ? " (psi)" : "",
                in.classes);
    Table table({"stage", "downsample", "output", "block params", "head params", "block MACs",
                 "head MACs"});
    for (int col = 3; col <= 6; ++col)
        table.alignRight(col);
    for (std::size_t i = 0; i < summary.stages.size(); ++i) {
        const StageCost &st = summary.stages[i];
        table.addRow({std::to_string(i + 1), toString(spec.stages[i].downsample), shapeText(st.out),
                      formatGrouped(st.blockParams), formatGrouped(st.headParams),
                      humanCount(static_cast<double>(st.blockMacs)),
                      humanCount(static_cast<double>(st.headMacs))});
    }
    std::printf("%s", table.render().c_str());
    auto total = [](const char *label, std::int64_t n, const char *note) {
        std::printf("%-13s %s (%s)%s\n", label, formatGrouped(n).c_str(),
                    humanCount(static_cast<double>(n)).c_str(), note);
    };
    total("trunk params", summary.trunkParams, "");
    total("total params", summary.totalParams, ", with the last stage's head");
    total("trunk MACs", summary.trunkMacs, " per image");
    total("total MACs", summary.totalMacs, " per image, with the last stage's head");
}

void printSummaryJson(const Spec &spec, const SpecSummary &summary)
{
    using Json = nlohmann::ordered_json;
    Json j;
    j["name"] = spec.name;
    j["input"] = {spec.input.channels, spec.input.height, spec.input.width};
    Json stages = Json::array();
    for (std::size_t i = 0; i < summary.stages.size(); ++i) {
        const StageCost &st = summary.stages[i];
        stages.push_back(Json{{"stage", i},
                              {"downsample", toString(spec.stages[i].downsample)},
                              {"in_shape", {st.in.c, st.in.h, st.in.w}},
                              {"out_shape", {st.out.c, st.out.h, st.out.w}},
                              {"block_params", st.blockParams},
                              {"head_params", st.headParams},
                              {"block_macs", st.blockMacs},
                              {"head_macs", st.headMacs},
                              {"activation_bytes", st.activationBytes}});
    }
    j["stages"] = std::move(stages);
    j["trunk_params"] = summary.trunkParams;
    j["total_params"] = summary.totalParams;
    j["trunk_macs"] = summary.trunkMacs;
    j["total_macs"] = summary.totalMacs;
    std::printf("%s\n", j.dump(2, ' ', false, Json::error_handler_t::replace).c_str());
}

int runPresets()
{
    Table table({"name", "stages", "params", "description"});
    table.alignRight(1);
    table.alignRight(2);
    for (const auto &info : listPresets()) {
        auto spec = loadPreset(info.name);
        if (!spec) {
            printErr("layerwise-cli: " + spec.message());
            return ExitFailure;
        }
        auto summary = summarizeSpec(*spec);
        const std::string params
            = summary ? humanCount(static_cast<double>(summary->totalParams)) : std::string("?");
        table.addRow({info.name, std::to_string(spec->stages.size()), params, info.description});
    }
    std::printf("%s", table.render().c_str());
    return ExitOk;
}

struct SummaryOptions
{
    std::string preset;
    std::string specFile;
    bool json = false;
};

int runSummary(const SummaryOptions &opt)
{
    Spec spec;
    if (!opt.preset.empty()) {
        auto loaded = loadPreset(opt.preset);
        if (!loaded) {
            printErr("layerwise-cli: " + loaded.message());
            return ExitBadInput;
        }
        spec = std::move(*loaded);
    } else if (!opt.specFile.empty()) {
        auto text = readFile(opt.specFile, kMaxSpecBytes);
        if (!text) {
            printErr("layerwise-cli: " + text.message());
            return ExitBadInput;
        }
        if (!parseWithIssues(opt.specFile, *text, spec))
            return ExitBadInput;
    } else {
        printErr("layerwise-cli arch summary: give --preset NAME or --spec FILE "
                 "(`layerwise-cli presets` lists the presets)");
        return ExitBadInput;
    }
    auto summary = summarizeSpec(spec);
    if (!summary) {
        printErr("layerwise-cli: " + summary.message());
        return ExitBadInput;
    }
    if (opt.json)
        printSummaryJson(spec, *summary);
    else
        printSummaryText(spec, *summary);
    return ExitOk;
}

int runValidate(const std::string &file)
{
    auto text = readFile(file, kMaxSpecBytes);
    if (!text) {
        printErr("layerwise-cli: " + text.message());
        return ExitBadInput;
    }
    Spec spec;
    if (!parseWithIssues(file, *text, spec))
        return ExitBadInput;
    auto summary = summarizeSpec(spec);
    std::string params;
    if (summary)
        params = ", " + humanCount(static_cast<double>(summary->totalParams)) + " params";
    std::printf("%s: valid (%s, %zu stages%s)\n", printable(file).c_str(),
                spec.name.empty() ? "unnamed" : printable(spec.name).c_str(), spec.stages.size(),
                params.c_str());
    return ExitOk;
}

} // namespace

void registerArch(CLI::App &app, Context &ctx)
{
    auto *presets = app.add_subcommand("presets", "List the architecture presets shipped with "
                                                  "Layerwise (name, stages, params, description)");
    presets->callback([&ctx] { ctx.exitCode = runPresets(); });

    auto *arch = app.add_subcommand("arch", "Inspect and check architecture specs");
    arch->require_subcommand(1);

    auto summaryOpt = std::make_shared<SummaryOptions>();
    auto *summary = arch->add_subcommand(
        "summary", "Per-stage output shapes, parameters and multiply-accumulates of a spec");
    auto *preset = summary->add_option("--preset", summaryOpt->preset,
                                       "A preset name (see `layerwise-cli presets`)");
    auto *specFile = summary->add_option("--spec", summaryOpt->specFile, "A spec JSON file");
    preset->excludes(specFile);
    specFile->excludes(preset);
    summary->add_flag("--json", summaryOpt->json,
                      "Print one JSON object (stages[].out_shape, block_params, head_params, "
                      "block_macs, head_macs; trunk/total params and MACs)");
    summary->callback([&ctx, summaryOpt] { ctx.exitCode = runSummary(*summaryOpt); });

    auto validateFile = std::make_shared<std::string>();
    auto *validate = arch->add_subcommand(
        "validate", "Check a spec file: exit 0 when valid, 2 with every problem on stderr");
    validate->add_option("FILE", *validateFile, "The spec JSON file")->required();
    validate->callback([&ctx, validateFile] { ctx.exitCode = runValidate(*validateFile); });
}

} // namespace lw::cli
