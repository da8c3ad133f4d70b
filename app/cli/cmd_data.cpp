// layerwise-cli data info: finds and checks a dataset (what probeDataset reports).

#include "app/cli/commands.h"
#include "app/cli/flags.h"
#include "app/cli/table.h"
#include "core/util/format.h"

#include "core/data/dataset.h"
#include "core/spec/spec.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <memory>

namespace lw::cli {

namespace {

struct DataInfoOptions
{
    DatasetOptions dataset;
    bool json = false;
};

std::string classList(const std::vector<std::string> &names, std::size_t shown = 10)
{
    std::string s;
    for (std::size_t i = 0; i < names.size() && i < shown; ++i)
        s += (i ? ", " : "") + names[i];
    if (names.size() > shown)
        s += ", ... (" + std::to_string(names.size() - shown) + " more)";
    return s;
}

void runInfo(const DataInfoOptions &opt, Context &ctx)
{
    DatasetOptions o = opt.dataset;
    o.log = [](LogLevel level, const std::string &message) {
        std::fprintf(stderr, "%s: %s\n", logLevelName(level),
                     printable(message, /*multiline=*/true).c_str());
    };
    auto info = probeDataset(o);
    if (!info) {
        std::fprintf(stderr, "layerwise-cli: %s\n",
                     printable(info.message(), /*multiline=*/true).c_str());
        ctx.exitCode = ExitBadInput;
        return;
    }
    const DatasetInfo &d = info.value();
    if (opt.json) {
        nlohmann::json j = {{"name", d.name},
                            {"root", d.root},
                            {"description", d.description},
                            {"channels", d.channels},
                            {"height", d.height},
                            {"width", d.width},
                            {"classes", d.classes},
                            {"classNames", d.classNames},
                            {"trainSize", d.trainSize},
                            {"testSize", d.testSize},
                            {"trainLimit", o.trainLimit},
                            {"testLimit", o.testLimit},
                            {"seed", o.seed},
                            {"fingerprint", d.fingerprint}};
        std::cout << j.dump(2) << "\n";
    } else {
        Table t({"field", "value"});
        t.addRow({"dataset", d.name});
        t.addRow({"description", d.description});
        if (!d.root.empty())
            t.addRow({"root", d.root});
        t.addRow({"input", std::to_string(d.channels) + " x " + std::to_string(d.height) + " x "
                               + std::to_string(d.width)});
        t.addRow({"classes", std::to_string(d.classes) + ": " + classList(d.classNames)});
        std::string limits;
        if (o.trainLimit > 0 || o.testLimit > 0)
            limits = " (class-balanced limits, seed " + std::to_string(o.seed) + ")";
        t.addRow({"train", formatGrouped(d.trainSize) + " images" + limits});
        t.addRow({"test", formatGrouped(d.testSize) + " images" + limits});
        t.addRow({"fingerprint", d.fingerprint});
        std::cout << t.render();
    }
    ctx.exitCode = ExitOk;
}

} // namespace

void registerData(CLI::App &app, Context &ctx)
{
    auto *data = app.add_subcommand("data", "Inspect datasets");
    data->require_subcommand(1);
    auto opt = std::make_shared<DataInfoOptions>();
    std::string names;
    for (const auto &n : datasetNames())
        names += (names.empty() ? "" : " | ") + n;
    auto *info = data->add_subcommand(
        "info", "Find and check a dataset: where it is, its size, shape and classes. Exits 2 "
                "with the reason when the data is missing or malformed.");
    info->add_option("--dataset", opt->dataset.name, "Dataset: " + names)->capture_default_str();
    info->add_option("--data", opt->dataset.path,
                     "Folder holding the files or its parent (default: the dataset's usual "
                     "place; Fashion-MNIST: "
                         + defaultFashionMnistPath() + ")");
    info->add_option("--train-limit", opt->dataset.trainLimit,
                     "Fixed, seeded, class-balanced subset of the training split (0: all)")
        ->check(integerIn(0));
    info->add_option("--test-limit", opt->dataset.testLimit,
                     "Fixed, seeded, class-balanced subset of the test split (0: all)")
        ->check(integerIn(0));
    info->add_option("--seed", opt->dataset.seed, "Seed of the limited subsets")
        ->capture_default_str();
    info->add_flag("--coarse", opt->dataset.cifar100Coarse,
                   "CIFAR-100: the 20 coarse labels instead of the 100 fine ones");
    info->add_option("--image-side", opt->dataset.imageSide,
                     "Image folders and synthetic sets: the side images are produced at "
                     "(0: 224 / 32)")
        ->check(integerIn(0, SpecLimits::maxSide));
    info->add_flag("--json", opt->json, "Print JSON instead of a table");
    info->callback([opt, &ctx] { runInfo(*opt, ctx); });
}

} // namespace lw::cli
