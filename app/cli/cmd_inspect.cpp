// layerwise-cli inspect: a stored run's pictures (confusions, projection, filters, feature maps,
// hard errors) as PNG, CSV and JSON files. Pictures missing from the store (a run recorded before
// Layerwise drew them) are computed from the run's checkpoint through core's RunService first.
// With --image N: test image N through every stage (its feature maps and each head's prediction),
// computed from the checkpoint.

#include "app/cli/commands.h"
#include "app/cli/flags.h"
#include "app/cli/table.h"

#include "core/inspect/report.h"
#include "core/run/runfolder.h"
#include "core/run/runservice.h"
#include "core/store/runstore.h"
#include "core/util/format.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

namespace lw::cli {

namespace {

struct InspectArgs
{
    std::int64_t id = 0;
    int stage = 0;           ///< 1-based; 0: every stage
    std::int64_t image = -1; ///< a test image to show through the stages; -1: none
    std::string out, db, device = "auto";
    int threads = 0;
    bool compute = false;
    bool jsonOut = false;
};

int report(const std::string &message, int code = ExitBadInput)
{
    std::fprintf(stderr, "layerwise-cli: %s\n", printable(message, /*multiline=*/true).c_str());
    return code;
}

/// --image N: test image N through the run's trained stages (all, or --stage).
int inspectImage(RunStore &store, const InspectArgs &a)
{
    const std::string run = "run " + std::to_string(a.id);
    if (auto detail = store.getRun(a.id); !detail)
        return report(detail.message());
    if (RunFolder folder(store.runDir(a.id)); !folder.hasState())
        return report(run + " has no checkpoint to show test images with (" + folder.statePath()
                      + ")");
    ExecOptions exec;
    exec.device = a.device;
    exec.threads = a.threads;
    auto images = RunService(store).images(a.id, exec);
    if (!images)
        return report(images.message(), ExitFailure);
    const auto n = (*images)->testImages();
    if (a.image >= n)
        return report("--image " + std::to_string(a.image) + ": " + run + "'s test set has "
                      + std::to_string(n) + " images, numbered 0.." + std::to_string(n - 1));
    const int stages = (*images)->stages();
    if (a.stage > stages)
        return report("--stage " + std::to_string(a.stage) + ": " + run + " has trained stages 1.."
                      + std::to_string(stages));
    auto img = (*images)->image(a.image);
    if (!img)
        return report(run + ": " + img.message(), ExitFailure);
    if (a.stage > 0) {
        auto one = img->stages[std::size_t(a.stage - 1)];
        img->stages = {one};
    }
    auto written = writeImageThroughStages(*img, a.out);
    if (!written)
        return report(written.message(), ExitFailure);
    if (a.jsonOut) {
        nlohmann::json out{
            {"run", a.id}, {"image", nlohmann::json::parse(imageJson(*img))}, {"files", *written}};
        std::printf("%s\n", out.dump(2).c_str());
        return ExitOk;
    }
    std::printf("test image %lld, true class %s\n", static_cast<long long>(img->sample),
                printable(className(img->classNames, img->trueClass)).c_str());
    Table table({"stage", "predicted", "confidence", "channels shown"});
    table.alignRight(2);
    table.alignRight(3);
    for (const auto &st : img->stages)
        table.addRow({std::to_string(st.stage + 1),
                      st.predicted >= 0 ? printable(className(img->classNames, st.predicted))
                                        : std::string("- (no trained head)"),
                      st.predicted >= 0 ? formatPercent(st.confidence) : std::string("-"),
                      std::to_string(st.channels.size())});
    std::printf("%s%zu files written to %s\n", table.render().c_str(), written->size(),
                printable(a.out).c_str());
    return ExitOk;
}

int inspect(const InspectArgs &a)
{
    auto store = RunStore::open(RunStore::resolvePath(a.db));
    if (!store)
        return report(store.message());
    if (a.image >= 0)
        return inspectImage(**store, a);
    auto stages = (*store)->pictureStages(a.id);
    if (!stages)
        return report(stages.message());
    if (stages->empty() || a.compute) {
        std::fprintf(stderr, "run %lld: computing its pictures from its checkpoint\n",
                     static_cast<long long>(a.id));
        ExecOptions exec;
        exec.device = a.device;
        exec.threads = a.threads;
        auto job = RunService(**store).pictures(a.id, exec);
        if (!job)
            return report(job.message());
        if (auto done = (*job)->execute(); !done)
            return report(done.message(), ExitFailure);
        stages = (*store)->pictureStages(a.id);
        if (!stages)
            return report(stages.message(), ExitFailure);
    }
    std::vector<int> chosen = *stages;
    if (a.stage > 0) {
        if (std::find(stages->begin(), stages->end(), a.stage - 1) == stages->end())
            return report("--stage " + std::to_string(a.stage) + ": run " + std::to_string(a.id)
                          + " has pictures of stages 1.." + std::to_string(stages->size()));
        chosen = {a.stage - 1};
    }
    Table table(
        {"stage", "head acc", "ensemble acc", "PC1+PC2 var", "probe acc", "hard errors", "files"});
    for (int c = 1; c < 7; ++c)
        table.alignRight(c);
    nlohmann::json files = nlohmann::json::array();
    for (int s : chosen) {
        auto pics = (*store)->pictures(a.id, s);
        if (!pics)
            return report(pics.message(), ExitFailure);
        auto written = writePictures(*pics, a.out);
        if (!written)
            return report(written.message(), ExitFailure);
        const auto &p = *pics;
        auto acc = [](const ConfusionMatrix &m) {
            return m.empty() ? std::string("-") : formatPercent(m.accuracy());
        };
        table.addRow(
            {std::to_string(s + 1), acc(p.head), acc(p.ensemble),
             formatPercent(p.projection.explainedVariance[0] + p.projection.explainedVariance[1]),
             formatPercent(p.projection.probeAccuracy), std::to_string(p.hardErrors.errors.size()),
             std::to_string(written->size())});
        for (const auto &f : *written)
            files.push_back({{"stage", s}, {"path", f}});
    }
    if (a.jsonOut)
        std::printf("%s\n", nlohmann::json{{"run", a.id}, {"files", files}}.dump(2).c_str());
    else
        std::printf("%swritten to %s\n", table.render().c_str(), printable(a.out).c_str());
    return ExitOk;
}

} // namespace

void registerInspect(CLI::App &app, Context &ctx)
{
    auto args = std::make_shared<InspectArgs>();
    auto *cmd = app.add_subcommand(
        "inspect",
        "What each stage of a stored run learned, in pictures: confusion matrices, a "
        "PCA of its features, filters, feature maps and hardest errors as PNG, CSV and "
        "JSON (computed from the checkpoint when the store has none); with --image N, test "
        "image N's feature maps at every stage");
    cmd->add_option("id", args->id, "Run id")->required()->check(integerIn(1));
    cmd->add_option("--stage", args->stage, "Only this stage (1..N; default: every stage)")
        ->check(integerIn(1, SpecLimits::maxStages));
    cmd->add_option("--image", args->image,
                    "Test image N (0-based index in the run's test set, as the hard errors name "
                    "them) through every stage: its feature maps and each head's prediction, "
                    "computed from the checkpoint")
        ->check(integerIn(0));
    cmd->add_option("--out", args->out, "Folder the files go to (created)")->required();
    cmd->add_flag("--compute", args->compute,
                  "Compute the pictures again from the run's checkpoint and store them");
    cmd->add_option("--device", args->device, "Where to compute: auto | cpu | cuda | cuda:N")
        ->capture_default_str();
    cmd->add_option("--threads", args->threads, "CPU threads (default: all cores)")
        ->check(threadCount());
    cmd->add_option("--db", args->db,
                    "Run store (default: $LAYERWISE_DB or ~/.local/share/layerwise/runs.sqlite)");
    cmd->add_flag("--json", args->jsonOut, "Print the files written as JSON");
    cmd->callback([args, &ctx] { ctx.exitCode = inspect(*args); });
}

} // namespace lw::cli
